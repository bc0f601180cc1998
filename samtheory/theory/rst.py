r"""Randomised SAM (RST): the bound with its SAM-induced floor linear in p̄ [derived].

Its published form (docs/theory.md §5: the form in which it was first stated for samtheory)
is for a β-smooth objective with minibatch variance σ² (``rst_bound_published``, β = L_max,
which bounds both the smoothness L ≤ L̄ ≤ L_max of f and the smoothness L_batch ≤ L_max of a
uniform minibatch's f_S). The derivation keeps the two apart: L enters through the descent
lemma, L_batch through the perturbation.

One step, X_t ~ Bernoulli(p_t) independent of S_t: h = g on X_t = 0, h = g + r with
‖r‖ ≤ L_batch ρ on X_t = 1 (normalised ascent). Then E h = ∇f + p_t E r,
E‖h‖² ≤ (1 − p_t)E‖g‖² + 2p_t(E‖g‖² + L_batch²ρ²) = (1 + p_t)E‖g‖² + 2p_tL_batch²ρ²,
E‖g‖² ≤ ‖∇f‖² + σ², and −⟨∇f, E r⟩ ≤ ‖∇f‖²/4 + L_batch²ρ², so the descent lemma gives

    E f(x⁺) ≤ f(x) − η(1 − p_t/4 − Lη(1 + p_t)/2)‖∇f‖² + ηp_tL_batch²ρ²(1 + Lη) + Lη²(1 + p_t)σ²/2.

The coefficient decreases in p_t and in Lη, so Lη ≤ 1/4 makes it at least 1/2 for every
p_t ∈ [0, 1]; summing over t < T and dividing by ηT/2 gives ``rst_bound``. With β ≥ L,
L_batch the terms are 2δ_0/(ηT), βη(1 + p̄)σ² and 2β²ρ²(1 + βη)p̄, and the published form's
4δ_0/(ηT), 4βησ² and 2β²ρ²(1 + 2βη)p̄ are each at least as large under a condition
4βη ≤ 1 that implies 4Lη ≤ 1: its bound holds. The p̄-dependence of the tight bound,
(Lησ² + 2L_batch²ρ²(1 + Lη))p̄, includes the variance term: a SAM step weighs the noise twice.
Not encoded: the coefficient at the run's own p_t and η instead of its worst case 1/2.
"""
import sympy as sp

from .. import problems
from ..rules import RST
from ..schedules import Linear
from ..sampling import TauNice
from .core import Theorem, with_example
from .quantities import AverageGradNormSq
from .requirements import ANY, rule_is
from .symbols import gamma, rho, L, L_max, L_batch, sigma_sq, p_bar, delta0, T
from .adasam import NORMALISED, UNIFORM_BATCH

RST_STEP = rule_is("RST step (base sgd, same-batch gradient ascent, any probability schedule, "
                   "no G-RST, not stabilised)", perturb_prob=ANY)


# the bounds term by term, in the same order: δ₀, noise, SAM-induced floor
TIGHT_TERMS = (2 * delta0 / (gamma * T), L * gamma * (1 + p_bar) * sigma_sq,
               2 * L_batch ** 2 * rho ** 2 * (1 + L * gamma) * p_bar)
PUBLISHED_TERMS = (4 * delta0 / (gamma * T), 4 * L_max * gamma * sigma_sq,
                   2 * L_max ** 2 * rho ** 2 * (1 + 2 * L_max * gamma) * p_bar)


def _theorem(factory, name, source, terms, smoothness):
    """The RST theorem with bound Σ ``terms`` under 4 ``smoothness`` η ≤ 1, and its example
    (the largest admissible η)."""
    theorem = Theorem(
        name=name, source=source, statement=factory.__doc__, quantity=AverageGradNormSq(),
        bound=sp.Add(*terms), conditions=(4 * smoothness * gamma <= 1,),
        requirements=(RST_STEP, NORMALISED, UNIFORM_BATCH))
    return with_example(theorem, lambda: problems.random_logistic(64, 8, seed=3), TauNice(8), 300,
                        lambda value: RST(lr=value, rho=0.1, schedule=Linear(0.2, 0.8)))


def rst_bound():
    r"""RST with constant η ≤ 1/(4L), constant ρ, any probability schedule p_t [derived]:

        (1/T) Σ_{t<T} E‖∇f(x_t)‖² ≤ 2(f(x_0) − f*)/(ηT) + Lη(1 + p̄)σ² + 2L_batch²ρ²(1 + Lη) p̄,

    p̄ = (1/T) Σ_t p_t, L the smoothness of f, L_batch that of the minibatch functions. The
    last term is the SAM-induced floor (zero for SGD); the noise term grows with p̄ too, a
    SAM step weighing the noise twice. The tightest form of the derivation (module docstring).
    """
    return _theorem(rst_bound, "RST, floor linear in p̄", "derived (docs/theory.md §5.5)",
                    TIGHT_TERMS, L)


def rst_bound_published():
    r"""RST with constant η ≤ 1/(4β), constant ρ, any probability schedule p_t (β = L_max):
    the published form (docs/theory.md §5) [derived]:

        (1/T) Σ_{t<T} E‖∇f(x_t)‖² ≤ 4(f(x_0) − f*)/(ηT) + 4βησ² + 2β²ρ²(1 + 2βη) p̄.

    Implied by ``rst_bound``: its condition is stronger and each term is at least the
    tight one (module docstring).
    """
    return _theorem(rst_bound_published, "RST, floor linear in p̄, published form",
                    "derived, published form (docs/theory.md §5)", PUBLISHED_TERMS, L_max)
