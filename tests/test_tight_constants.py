r"""The tightest derived constants of the AdaSAM and RST bounds, and their published forms.

Promises:
- ``adasam_rate`` and ``rst_bound`` encode what their derivations give (module docstrings
  of ``theory.adasam`` and ``theory.rst``), rebuilt here in SymPy from the derivations'
  steps; ``adasam_rate_published`` and ``rst_bound_published`` encode the published forms
  of docs/theory.md §5;
- at random numbers admissible for a published form (whose condition implies the tight
  one's) every term of the tight bound is at most the published term, and the ratio of the
  two is its closed form;
- each tight bound holds on its own example and on the published form's example; the
  published form refuses the tight example (its step condition is stronger);
- tightness bound / measured ≥ 1 with the upper confidence limit of the measured mean,
  for both variants, and on the same run the tight ratio is the smaller one.
"""
import numpy as np
import pytest
import sympy as sp

from samtheory import theory
from samtheory.theory import adasam, rst

S = theory.symbols()
gamma, rho, L, L_max, L_batch = (S[k] for k in ("gamma", "rho", "L", "L_max", "L_batch"))
G, eps, sigma_sq, delta0, T, d, p_bar, beta1 = (S[k] for k in ("G", "eps", "sigma_sq", "delta0", "T", "d",
                                                                 "p_bar", "beta1"))
G_HAT = sp.Max(G, eps)
Gh = sp.Symbol("G_hat", positive=True)        # Ĝ as a plain symbol, for solving and simplifying

SEED = 7
TRAJECTORIES = 300
DRAWS = 2000
PAIRS = [(theory.adasam_rate, theory.adasam_rate_published),
         (theory.rst_bound, theory.rst_bound_published)]


# -- the encoded bounds are the derivations ------------------------------------------------------

def test_adasam_rate_is_its_derivation():
    a, c = sp.symbols("a c", nonnegative=True)
    # (i) a² − ac ≥ a²/2 − c²/2, the difference being (a − c)²/2
    assert sp.expand(a ** 2 - a * c - (a ** 2 / 2 - c ** 2 / 2) - (a - c) ** 2 / 2) == 0
    bias = gamma * (L_batch * rho / sp.sqrt(eps)) ** 2 / 2             # (i) with c = L_batch ρ/√ε
    adaptive = gamma * G ** 2 * d * (1 / eps - 1 / Gh) / T             # (ii) telescoped, per step
    noise = L * gamma ** 2 / 2 * 2 * (sigma_sq + L_batch ** 2 * rho ** 2) / eps ** 2      # (iii)
    (largest,) = sp.solve(sp.Eq(1 / (2 * Gh) - L * gamma / eps ** 2, 1 / (4 * Gh)), gamma)
    derived = (delta0 / T + bias + adaptive + noise) / (gamma / (4 * Gh))
    theorem = theory.adasam_rate()
    assert sp.simplify(theorem.bound.subs(G_HAT, Gh) - derived) == 0
    condition, momentum = theorem.conditions
    assert condition.lhs == gamma and sp.simplify(condition.rhs.subs(G_HAT, Gh) - largest) == 0
    assert sp.simplify(largest - eps ** 2 / (4 * L * Gh)) == 0
    assert momentum == sp.Eq(beta1, 0)


def test_adasam_rate_published_is_the_section_5_form():
    theorem = theory.adasam_rate_published()
    published = (4 * G_HAT * delta0 / (gamma * T) + 2 * G_HAT ** 2 * L_batch ** 2 * rho ** 2 / eps ** 2
              + (6 * L * G_HAT * gamma / eps ** 2) * (sigma_sq + L_batch ** 2 * rho ** 2)
              + 4 * G_HAT * G ** 2 * d / (eps * T))
    assert sp.simplify(theorem.bound - published) == 0
    assert sp.simplify(theorem.conditions[0].rhs - eps ** 2 / (6 * L * G_HAT)) == 0


def test_rst_bound_is_its_derivation():
    g2, p = sp.symbols("g2 p", nonnegative=True)        # ‖∇f(x_t)‖², p_t
    descent = -gamma * g2 + gamma * p * (g2 / 4 + L_batch ** 2 * rho ** 2)          # −η⟨∇f, E h⟩
    curvature = L * gamma ** 2 / 2 * ((1 + p) * (g2 + sigma_sq) + 2 * p * L_batch ** 2 * rho ** 2)
    step = sp.expand(descent + curvature)
    coefficient = sp.simplify(-step.coeff(g2) / gamma)
    assert sp.expand(coefficient - (1 - p / 4 - L * gamma * (1 + p) / 2)) == 0
    # decreasing in p and in η, so its minimum over p ≤ 1, 4Lη ≤ 1 is at the corner: ½
    assert sp.diff(coefficient, p).is_negative and sp.diff(coefficient, gamma).is_nonpositive
    assert coefficient.subs({p: 1, gamma: 1 / (4 * L)}) == sp.Rational(1, 2)
    derived = (delta0 + T * step.subs(g2, 0).subs(p, p_bar)) / (gamma * T / 2)
    theorem = theory.rst_bound()
    assert sp.simplify(theorem.bound - derived) == 0
    assert theorem.conditions == (4 * L * gamma <= 1,)


def test_rst_bound_published_is_the_section_5_form():
    theorem = theory.rst_bound_published()
    beta = L_max
    published = (4 * delta0 / (gamma * T) + 4 * beta * gamma * sigma_sq
              + 2 * beta ** 2 * rho ** 2 * (1 + 2 * beta * gamma) * p_bar)
    assert sp.simplify(theorem.bound - published) == 0
    assert theorem.conditions == (4 * L_max * gamma <= 1,)


# -- tight ≤ published, term by term -------------------------------------------------------------

def log_uniform(rng, low, high, size):
    return np.exp(rng.uniform(np.log(low), np.log(high), size))


def terms_at(terms, numbers):
    """Each term evaluated at arrays of numbers (name → array)."""
    symbols = [S[name] for name in numbers]
    return [np.broadcast_to(sp.lambdify(symbols, term, "numpy")(*numbers.values()), DRAWS) for term in terms]


def test_adasam_tight_terms_are_below_the_published_ones():
    assert theory.adasam_rate().bound == sp.Add(*adasam.TIGHT_TERMS)
    assert theory.adasam_rate_published().bound == sp.Add(*adasam.PUBLISHED_TERMS)
    rng = np.random.default_rng(0)
    n = dict(G=log_uniform(rng, 1e-2, 1e2, DRAWS), eps=log_uniform(rng, 1e-3, 1e2, DRAWS),
             L=log_uniform(rng, 1e-2, 1e2, DRAWS), L_batch=log_uniform(rng, 1e-2, 1e3, DRAWS),
             rho=log_uniform(rng, 1e-4, 1.0, DRAWS), sigma_sq=log_uniform(rng, 1e-4, 1e2, DRAWS),
             delta0=log_uniform(rng, 1e-3, 1e2, DRAWS), T=rng.integers(1, 10 ** 5, DRAWS).astype(float),
             d=rng.integers(1, 10 ** 3, DRAWS).astype(float))
    g_hat = np.maximum(n["G"], n["eps"])
    n["gamma"] = rng.uniform(0, 1, DRAWS) * n["eps"] ** 2 / (6 * n["L"] * g_hat)   # published condition
    assert np.all(n["gamma"] <= n["eps"] ** 2 / (4 * n["L"] * g_hat))               # implies the tight one
    tight, published = terms_at(adasam.TIGHT_TERMS, n), terms_at(adasam.PUBLISHED_TERMS, n)
    # closed-form ratios: δ₀ term equal, perturbation bias ε/Ĝ, noise 4/6, adaptive term (Ĝ − ε)/Ĝ
    expected = [np.ones(DRAWS), n["eps"] / g_hat, np.full(DRAWS, 2 / 3), (g_hat - n["eps"]) / g_hat]
    for t, s, ratio in zip(tight, published, expected):
        np.testing.assert_allclose(t, ratio * s, rtol=1e-12, atol=0)
        assert np.all(t <= s * (1 + 1e-12))
    assert np.any(n["G"] < n["eps"]) and np.any(n["G"] > n["eps"])      # both cases of Ĝ drawn


def test_rst_tight_terms_are_below_the_published_ones():
    assert theory.rst_bound().bound == sp.Add(*rst.TIGHT_TERMS)
    assert theory.rst_bound_published().bound == sp.Add(*rst.PUBLISHED_TERMS)
    rng = np.random.default_rng(1)
    L_max_values = log_uniform(rng, 1e-2, 1e2, DRAWS)
    # uniform samplers: L ≤ L_max and L_batch ≤ L_max (``core.batch_smoothness``)
    n = dict(L_max=L_max_values, L=rng.uniform(0, 1, DRAWS) * L_max_values,
             L_batch=rng.uniform(0, 1, DRAWS) * L_max_values,
             gamma=rng.uniform(0, 1, DRAWS) / (4 * L_max_values),                 # published condition
             rho=log_uniform(rng, 1e-4, 1.0, DRAWS), sigma_sq=log_uniform(rng, 1e-4, 1e2, DRAWS),
             delta0=log_uniform(rng, 1e-3, 1e2, DRAWS), T=rng.integers(1, 10 ** 5, DRAWS).astype(float),
             p_bar=rng.uniform(0, 1, DRAWS))
    assert np.all(4 * n["L"] * n["gamma"] <= 1)                                     # the tight condition
    tight, published = terms_at(rst.TIGHT_TERMS, n), terms_at(rst.PUBLISHED_TERMS, n)
    Lg, Bg = n["L"] * n["gamma"], n["L_max"] * n["gamma"]
    expected = [np.full(DRAWS, 0.5), n["L"] * (1 + n["p_bar"]) / (4 * n["L_max"]),
                (n["L_batch"] / n["L_max"]) ** 2 * (1 + Lg) / (1 + 2 * Bg)]
    for t, s, ratio in zip(tight, published, expected):
        np.testing.assert_allclose(t, ratio * s, rtol=1e-12, atol=0)
        assert np.all(t <= s * (1 + 1e-12))


# -- the bounds on their examples -----------------------------------------------------------------

@pytest.mark.parametrize("tight, published", PAIRS, ids=lambda f: f.__name__)
def test_tight_bound_holds_on_both_examples(tight, published):
    for example_of in (tight, published):
        result = theory.check(tight(), **example_of().example(), trajectories=TRAJECTORIES, seed=SEED)
        assert result.verdict == "holds", str(result)
        assert result.n_diverged == 0 and result.ci_high < result.bound


@pytest.mark.parametrize("tight, published", PAIRS, ids=lambda f: f.__name__)
def test_published_form_refuses_the_tight_example(tight, published):
    """The tight example takes the largest step the tight condition admits, beyond the
    published one's (ε²/(4LĜ) > ε²/(6LĜ); 1/(4L) > 1/(4L_max) on the example problem)."""
    with pytest.raises(theory.ConditionError, match="FAILS"):
        theory.check(published(), **tight().example(), trajectories=2, seed=SEED)


@pytest.mark.parametrize("tight, published", PAIRS, ids=lambda f: f.__name__)
def test_tightness_of_both_forms_on_the_same_run(tight, published):
    config = published().example()
    loose, sharp = (theory.check(factory(), **config, trajectories=TRAJECTORIES, seed=SEED)
                    for factory in (published, tight))
    assert sharp.empirical == loose.empirical and sharp.ci_high == loose.ci_high   # one simulation
    for result in (sharp, loose):
        assert result.bound / result.ci_high >= 1, str(result)     # tightness ≥ 1 with the CI
    assert sharp.ratio < loose.ratio
