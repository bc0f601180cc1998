"""Sampling constants (``samtheory.theory.constants``): closed forms against exact
enumeration, docs/theory.md §2's special cases, the inequalities at random points
(exact and Monte Carlo), where they are tight, and bad inputs.

Tolerances. Closed forms and enumeration agree to 1e-12 relative (both are exact
up to rounding). An inequality "holds exactly" when lhs ≤ rhs (1 + 1e-12) with the
lhs enumerated. Monte Carlo: every draw of ``sampling.draw`` is an independent
outcome, so the mean of N draws has standard error s.e. = std/√N estimated from
the same draws; we accept |MC mean − exact| ≤ 5 s.e. (+1e-12 relative for the
degenerate zero-variance cases) and lhs − 5 s.e. ≤ rhs (two-sided normal tail
5.7e-7 per assertion; the seeds are fixed, so a run is deterministic).
"""
import math

import numpy as np
import pytest

from samtheory.problems import (LeastSquares, random_least_squares, random_logistic,
                                random_sine_least_squares, saddle)
from samtheory.problems.nonconvex import LogisticNonconvex
from samtheory.sampling import Importance, Independent, Stratified, TauNice, WithReplacement
from samtheory.theory.constants import (DEFAULT_MAX_OUTCOMES, check_inequalities,
                                        component_lower_bounds, components_convex,
                                        count_outcomes, enumerate_sampling, exact_moments,
                                        exact_second_moment, sampling_constants)

RTOL = 1e-12
Z = 5.0

LS_CONSISTENT = random_least_squares(6, 3, condition=4.0, consistent=True, seed=11)
LS_NOISY = random_least_squares(7, 3, condition=5.0, seed=12)         # L_i differ
SINE = random_sine_least_squares(6, 2, seed=13)                       # non-convex, PL, x* known
LOGISTIC = random_logistic(6, 3, seed=14)                             # non-convex, no x*
LINE_C = np.array([0.0, 3.0, 1.0, 2.0, -1.0, 4.0])   # sums over the pairs {0,1},{2,3},{4,5}: 3, 3, 3
LINE = LeastSquares(1.5 * np.ones((6, 1)), 1.5 * LINE_C)   # f_i = ½ 1.5² (x − c_i)², equal L_i
LINE_UNEQUAL = LeastSquares(np.array([[0.5], [1.0], [1.5], [2.0], [0.7], [1.2]]),
                            np.array([0.5, -1.0, 3.0, 2.0, 0.7, 0.0]))

PROBLEMS = {"ls_consistent": LS_CONSISTENT, "ls_noisy": LS_NOISY, "sine": SINE,
            "logistic": LOGISTIC, "line": LINE}


def custom_p(n):
    return np.arange(1.0, n + 1) / np.sum(np.arange(1.0, n + 1))


SAMPLERS = {   # factories of n
    "wr_single": lambda n: WithReplacement(1),
    "wr_3": lambda n: WithReplacement(3),
    "wr_custom_p": lambda n: WithReplacement(2, p=custom_p(n)),
    "importance_1": lambda n: Importance(1),
    "importance_3": lambda n: Importance(3),
    "tau_1": lambda n: TauNice(1),
    "tau_3": lambda n: TauNice(3),
    "tau_n": lambda n: TauNice(n),
    "independent_scalar": lambda n: Independent(0.35),
    "independent_array": lambda n: Independent(np.linspace(0.2, 1.0, n)),   # includes p_i = 1
    "stratified_2": lambda n: Stratified(2),
    "stratified_uneven": lambda n: Stratified([[0, 3, 4], [1], list(range(5, n)) + [2]]),
    "stratified_1": lambda n: Stratified(1),
    "stratified_n": lambda n: Stratified(n),
}
EXACT_DECOMPOSITION = {name for name in SAMPLERS if name not in ("stratified_2", "stratified_uneven")}
CASES = [(p, s) for p in ("ls_noisy", "sine", "logistic") for s in SAMPLERS]


def random_points(problem, count, seed, scale=1.0):
    centre = problem.x_star if problem.x_star is not None else np.zeros(problem.d)
    return centre + scale * np.random.default_rng(seed).standard_normal((count, problem.d))


# -- closed forms against enumeration ---------------------------------------------

@pytest.mark.parametrize("problem_name,sampler_name", CASES)
def test_second_moment_formula_equals_enumeration(problem_name, sampler_name):
    problem = PROBLEMS[problem_name]
    sampler = SAMPLERS[sampler_name](problem.n)
    probabilities, vectors = enumerate_sampling(problem, sampler)
    assert probabilities.size == count_outcomes(problem, sampler)
    assert abs(probabilities.sum() - 1.0) <= RTOL
    np.testing.assert_allclose(probabilities @ vectors, 1.0, rtol=0, atol=RTOL)   # E v = 𝟙
    moment = exact_second_moment(problem, sampler)
    constants = sampling_constants(problem, sampler)
    scale = np.abs(moment).max()
    assert np.abs(constants.second_moment() - moment).max() <= RTOL * scale
    # the D + c𝟙𝟙ᵀ decomposition: equal to Cov for all but 1 < K < n strata, else dominating it
    D, c = constants.covariance_diagonal, constants.covariance_shift
    gap = np.diag(D) + c - (moment - 1.0)
    assert np.linalg.eigvalsh(gap).min() >= -RTOL * scale
    assert constants.decomposition_exact == (sampler_name in EXACT_DECOMPOSITION)
    if constants.decomposition_exact:
        assert np.abs(gap).max() <= RTOL * scale
        off = (moment - 1.0)[~np.eye(problem.n, dtype=bool)]
        enumerated_c = off.mean() if off.size else 0.0
        enumerated_D = np.diag(moment) - 1.0 - enumerated_c
        assert np.abs(off - enumerated_c).max() <= RTOL * scale
        assert constants.A == pytest.approx(np.max(enumerated_D * problem.L_i) / problem.n,
                                            rel=RTOL, abs=RTOL * problem.L_max)
        assert constants.B == pytest.approx(1.0 + enumerated_c, rel=RTOL, abs=RTOL)
    else:
        assert np.abs(gap).max() > 0.1      # a true (Cauchy–Schwarz) relaxation


@pytest.mark.parametrize("problem_name", ["ls_noisy", "sine", "ls_consistent"])
@pytest.mark.parametrize("sampler_name", sorted(SAMPLERS))
def test_sigma_star_formula_equals_enumeration(problem_name, sampler_name):
    problem = PROBLEMS[problem_name]
    sampler = SAMPLERS[sampler_name](problem.n)
    constants = sampling_constants(problem, sampler)
    star = problem.sample_gradients(problem.x_star)
    scale = np.mean(np.sum(star ** 2, axis=1)) * max(1.0, constants.covariance_diagonal.max())
    enumerated = exact_moments(problem, sampler, problem.x_star)["star"]
    assert abs(constants.sigma_star_sq - enumerated) <= RTOL * scale
    if problem_name in ("ls_consistent", "sine"):   # interpolation: every ∇f_i(x*) = 0
        assert constants.sigma_star_sq <= 1e-24
    elif sampler_name in ("tau_n", "stratified_n"):   # deterministic full batch: ‖∇f(x*)‖² = 0
        assert constants.sigma_star_sq <= 1e-24
    else:
        assert constants.sigma_star_sq > 1e-3 * scale


# -- docs/theory.md §2 special cases ----------------------------------------------------

def test_single_element_uniform_and_importance():
    p = LS_NOISY
    uniform = sampling_constants(p, WithReplacement(1))
    # D_ii = 1/(1·(1/n)) carries one rounding of 1/n: equal to 1e-15
    assert (uniform.A, uniform.B, uniform.expected_smoothness) == pytest.approx((p.L_max, 0.0, p.L_max),
                                                                                rel=1e-15)
    importance = sampling_constants(p, Importance(1))
    assert importance.B == 0.0
    assert importance.A == pytest.approx(p.L_mean, rel=1e-15)
    assert importance.expected_smoothness == pytest.approx(p.L_mean, rel=1e-15)
    assert p.L_mean < p.L_max / 1.1                    # the example really separates them
    star = p.sample_gradients(p.x_star)
    for sampler, prob in ((WithReplacement(1), np.full(p.n, 1 / p.n)),
                          (Importance(1), p.L_i / p.L_i.sum())):
        expected = np.sum(np.sum(star ** 2, axis=1) / prob) / p.n ** 2
        assert sampling_constants(p, sampler).sigma_star_sq == pytest.approx(expected, rel=1e-13)
    # the single uniform element is the same sampling as τ-nice b = 1 and one stratum
    for same in (TauNice(1), Stratified(1)):
        other = sampling_constants(p, same)
        assert (other.A, other.B) == pytest.approx((uniform.A, uniform.B), rel=1e-15, abs=1e-15)


@pytest.mark.parametrize("b", range(1, 8))
def test_tau_nice_formulas(b):
    p = LS_NOISY
    n = p.n
    constants = sampling_constants(p, TauNice(b))
    # the Unified SAM code's ABC constants, and the expected smoothness of docs/theory.md §2
    A = (n - b) / (b * (n - 1)) * p.L_max
    B = n * (b - 1) / (b * (n - 1))
    assert constants.A == pytest.approx(A, rel=1e-14, abs=1e-15)
    assert constants.B == pytest.approx(B, rel=1e-14)
    assert constants.expected_smoothness == pytest.approx(B * p.L + A, rel=1e-14)
    assert constants.expected_residual == pytest.approx(A, rel=1e-14, abs=1e-15)
    # C = 2AΔ_inf, Δ_inf = f* − 0 for least squares
    assert constants.delta_inf == p.f_star
    assert constants.C == pytest.approx(2 * A * p.f_star, rel=1e-14, abs=1e-15)
    star = p.sample_gradients(p.x_star)
    sigma = (n - b) / (b * (n - 1)) * np.mean(np.sum(star ** 2, axis=1))
    assert constants.sigma_star_sq == pytest.approx(sigma, rel=1e-12, abs=1e-25)
    if b == n:
        assert (constants.A, constants.B) == (0.0, 1.0)
        full = sampling_constants(p, Stratified(n))
        assert (full.A, full.B, full.decomposition_exact) == (0.0, 1.0, True)


@pytest.mark.parametrize("b", [1, 2, 5])
def test_iid_draws_formula(b):
    p = LS_NOISY
    prob = custom_p(p.n)
    constants = sampling_constants(p, WithReplacement(b, p=prob))
    single = np.max(p.L_i / (p.n * prob))
    assert constants.expected_smoothness == pytest.approx((1 - 1 / b) * p.L + single / b, rel=1e-14)
    assert (constants.A, constants.B) == pytest.approx((single / b, 1 - 1 / b), rel=1e-14)
    assert constants.b == b


def test_independent_formula():
    p = LS_NOISY
    prob = np.linspace(0.2, 1.0, p.n)
    constants = sampling_constants(p, Independent(prob))
    extra = np.max((1 - prob) * p.L_i / (p.n * prob))
    assert constants.expected_smoothness == pytest.approx(p.L + extra, rel=1e-14)
    assert (constants.A, constants.B) == pytest.approx((extra, 1.0), rel=1e-14)
    assert constants.b == pytest.approx(prob.sum(), rel=1e-15)


def test_stratified_formula():
    p = LS_NOISY                                     # n = 7; blocks of sizes 3, 1, 3
    blocks = [[0, 3, 4], [1], [5, 6, 2]]
    constants = sampling_constants(p, Stratified(blocks))
    sizes = np.array([3, 1, 3, 3, 3, 3, 3])
    assert constants.A == pytest.approx(np.max(sizes * p.L_i) / p.n, rel=1e-15)
    assert constants.B == pytest.approx(1 - 1 / 3, rel=1e-15)
    assert constants.expected_smoothness == pytest.approx(constants.B * p.L + constants.A, rel=1e-15)
    assert constants.b == 3


# -- inequalities at random points -----------------------------------------------

EXPECTED_CHECKS = {"ls_consistent": {"abc", "expected_smoothness", "expected_residual", "sigma_star_sq"},
                   "ls_noisy": {"abc", "expected_smoothness", "expected_residual", "sigma_star_sq"},
                   "line": {"abc", "expected_smoothness", "expected_residual", "sigma_star_sq"},
                   "sine": {"abc", "sigma_star_sq"},      # non-convex: no 𝓛, no ρ_ER
                   "logistic": {"abc"}}                   # no x*


@pytest.mark.parametrize("problem_name", sorted(PROBLEMS))
@pytest.mark.parametrize("sampler_name", sorted(SAMPLERS))
def test_inequalities_hold_exactly(problem_name, sampler_name):
    problem = PROBLEMS[problem_name]
    sampler = SAMPLERS[sampler_name](problem.n)
    points = np.vstack([random_points(problem, 10, seed=1), random_points(problem, 10, seed=2, scale=10.0)])
    checks = check_inequalities(problem, sampler, points)
    assert set(checks) == EXPECTED_CHECKS[problem_name]
    for check in checks.values():
        assert check.method == "exact"
        assert np.all(check.lhs_se == 0.0)
        assert np.all(check.holds(z=0.0, rtol=RTOL)), (check.name, check.ratio)
    sigma = checks.get("sigma_star_sq")
    if sigma is not None:                  # an identity: |lhs − σ*²| at rounding level
        assert abs(sigma.lhs[0] - sigma.rhs[0]) <= RTOL * (sigma.rhs[0] + sigma.scale[0])


MC_CASES = [("ls_noisy", "wr_3"), ("ls_noisy", "importance_3"), ("ls_noisy", "tau_3"),
            ("ls_noisy", "independent_array"), ("ls_noisy", "stratified_uneven"),
            ("sine", "wr_custom_p"), ("sine", "stratified_2"), ("logistic", "tau_1"),
            ("ls_noisy", "tau_n")]


@pytest.mark.parametrize("problem_name,sampler_name", MC_CASES)
def test_monte_carlo_agrees_with_enumeration(problem_name, sampler_name):
    """The engine's own draws (``sampling.draw``) reproduce the enumerated expectations."""
    problem = PROBLEMS[problem_name]
    sampler = SAMPLERS[sampler_name](problem.n)
    points = random_points(problem, 4, seed=5)
    exact = check_inequalities(problem, sampler, points, method="exact")
    mc = check_inequalities(problem, sampler, points, method="monte_carlo", samples=20_000, seed=7)
    assert set(mc) == set(exact)
    for name, check in mc.items():
        assert check.method == "monte_carlo"
        np.testing.assert_array_equal(check.rhs, exact[name].rhs)
        deviation = np.abs(check.lhs - exact[name].lhs)
        assert np.all(deviation <= Z * check.lhs_se + RTOL * exact[name].scale), name
        assert np.all(check.holds(z=Z)), name


LARGE = random_least_squares(40, 5, condition=8.0, seed=31)


@pytest.mark.parametrize("sampler", [WithReplacement(6), Importance(6), TauNice(5), Independent(0.2),
                                     Stratified(8)], ids=lambda s: type(s).__name__)
def test_monte_carlo_on_large_n(sampler):
    """n = 40: too many outcomes to enumerate; ``auto`` falls back to Monte Carlo, whose
    mean of ‖∇f_S(x)‖² matches the closed-form exact expectation (1)."""
    assert count_outcomes(LARGE, sampler) > DEFAULT_MAX_OUTCOMES
    with pytest.raises(ValueError, match="max_outcomes must be at least"):
        enumerate_sampling(LARGE, sampler)
    points = random_points(LARGE, 3, seed=9)
    checks = check_inequalities(LARGE, sampler, points, samples=20_000, seed=3)
    constants = sampling_constants(LARGE, sampler)
    assert set(checks) == {"abc", "expected_smoothness", "expected_residual", "sigma_star_sq"}
    for check in checks.values():
        assert check.method == "monte_carlo"
        assert np.all(check.holds(z=Z)), check.name
    exact = [constants.expected_square_norm(LARGE.sample_gradients(x)) for x in points]
    assert np.all(np.abs(checks["abc"].lhs - exact) <= Z * checks["abc"].lhs_se)
    sigma = checks["sigma_star_sq"]
    assert abs(sigma.lhs[0] - constants.sigma_star_sq) <= Z * sigma.lhs_se[0]


# -- tightness -----------------------------------------------------------------

LINE_TIGHT = ["wr_single", "wr_3", "importance_1", "importance_3", "tau_1", "tau_3", "tau_n",
              "independent_scalar", "stratified_2_equal_sums"]


def line_sampler(name):
    # contiguous pairs {0,1},{2,3},{4,5} have equal sums of c_i, so Cauchy–Schwarz is an equality
    return Stratified(3) if name == "stratified_2_equal_sums" else SAMPLERS[name](LINE.n)


@pytest.mark.parametrize("sampler_name", LINE_TIGHT)
def test_abc_and_expected_smoothness_tight_on_line(sampler_name):
    """f_i = ½a²(x − c_i)², equal a: ‖∇f_i‖² = 2L_i f_i, f_i^inf = 0 attained, D_ii L_i constant,
    ‖∇f(x) − ∇f(x*)‖² = 2L(f − f*) (d = 1): ABC and 𝓛 hold with equality at every x."""
    points = random_points(LINE, 12, seed=4, scale=3.0)
    checks = check_inequalities(LINE, line_sampler(sampler_name), points)
    for name in ("abc", "expected_smoothness"):
        np.testing.assert_allclose(checks[name].ratio, 1.0, rtol=0, atol=1e-12, err_msg=name)


def test_expected_residual_tight_only_without_negative_shift():
    """On the line every h_i is equal. Independent sampling (c = 0): the residual bound is an
    equality. τ-nice (c < 0, Σ v_i = n): the residual is 0, the bound 2A(f − f*) > 0."""
    points = random_points(LINE, 8, seed=6, scale=2.0)
    independent = check_inequalities(LINE, Independent(0.35), points)["expected_residual"]
    np.testing.assert_allclose(independent.ratio, 1.0, rtol=0, atol=1e-12)
    tau = check_inequalities(LINE, TauNice(3), points)["expected_residual"]
    assert np.all(tau.rhs > 0) and np.all(tau.ratio <= 1e-12)


def test_abc_is_an_identity_for_importance_sampling_on_least_squares():
    """Least squares (rows ≠ 0): ‖∇f_i‖² = 2L_i f_i and p_i ∝ L_i makes D_ii L_i constant,
    so ABC is an equality at every x (d = 3, unequal L_i), unlike uniform sampling."""
    points = random_points(LS_NOISY, 10, seed=8, scale=2.0)
    for b in (1, 3):
        ratio = check_inequalities(LS_NOISY, Importance(b), points)["abc"].ratio
        np.testing.assert_allclose(ratio, 1.0, rtol=0, atol=1e-12)
    uniform = check_inequalities(LS_NOISY, WithReplacement(1), points)["abc"].ratio
    assert np.all(uniform < 0.9)


def test_expected_smoothness_tight_along_top_eigenvector():
    """Importance sampling on least squares: 𝓛 is attained iff ‖H z‖² = L zᵀHz, z = x − x*,
    i.e. along the top eigenvector of H; a generic direction is slack."""
    top = np.linalg.eigh(LS_NOISY.hessian)[1][:, -1]
    along = LS_NOISY.x_star + np.outer([0.5, -1.0, 3.0], top)
    check = check_inequalities(LS_NOISY, Importance(2), along)["expected_smoothness"]
    np.testing.assert_allclose(check.ratio, 1.0, rtol=0, atol=1e-12)
    generic = check_inequalities(LS_NOISY, Importance(2), random_points(LS_NOISY, 5, seed=3))
    assert np.all(generic["expected_smoothness"].ratio < 1 - 1e-3)


def test_d1_importance_attains_expected_smoothness_with_unequal_L():
    """d = 1 with unequal a_i: 𝓛 = L̄ (= L here) is attained by importance sampling, not by
    uniform sampling (𝓛 = L_max): there lhs = (1/n)Σ L_i² z², rhs = L_max L̄ z², so the
    ratio is mean(L_i²)/(L_max L̄) < 1 at every x."""
    p = LINE_UNEQUAL
    points = random_points(p, 6, seed=12)
    importance = check_inequalities(p, Importance(1), points)["expected_smoothness"]
    np.testing.assert_allclose(importance.ratio, 1.0, rtol=0, atol=1e-12)
    uniform = check_inequalities(p, WithReplacement(1), points)["expected_smoothness"]
    np.testing.assert_allclose(uniform.ratio, np.mean(p.L_i ** 2) / (p.L_max * p.L_mean), rtol=1e-12)
    assert uniform.ratio[0] < 0.65


def test_stratified_slack_is_the_cauchy_schwarz_gap():
    """Unequal block sums: rhs − lhs of ABC on the line equals exactly
    (1/n²)(Σ_j ‖Σ_{i∈B_j} ∇f_i‖² − (1/K)‖Σ_i ∇f_i‖²) > 0."""
    blocks = [[0, 2], [1, 3], [4, 5]]                 # sums of c: 1, 5, 3
    points = random_points(LINE, 5, seed=10, scale=2.0)
    check = check_inequalities(LINE, Stratified(blocks), points)["abc"]
    for x, lhs, rhs in zip(points, check.lhs, check.rhs):
        g = LINE.sample_gradients(x)
        gap = (sum(np.sum(g[b].sum(axis=0) ** 2) for b in blocks) - np.sum(g.sum(axis=0) ** 2) / 3) / 36
        assert gap > 0
        assert rhs - lhs == pytest.approx(gap, rel=1e-9)


# -- lower bounds, convexity, the dict ---------------------------------------------

def test_component_lower_bounds():
    bounds, exact = component_lower_bounds(LS_NOISY, return_exact=True)
    assert np.all(bounds == 0.0) and exact
    bounds, exact = component_lower_bounds(SINE, return_exact=True)   # attained at x*
    assert np.all(bounds == 0.0) and exact
    bounds, exact = component_lower_bounds(LOGISTIC, return_exact=True)
    assert np.all(bounds == 0.0) and not exact                         # regulariser > 0 at infinity
    zero_row = LeastSquares(np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 2.0]]), np.array([1.0, 3.0, -1.0]))
    np.testing.assert_array_equal(component_lower_bounds(zero_row), [0.0, 4.5, 0.0])
    plain_logistic = LogisticNonconvex(np.array([[1.0, 2.0], [0.0, 0.0]]), np.array([1.0, -1.0]), 0.0)
    np.testing.assert_array_equal(component_lower_bounds(plain_logistic, return_exact=True)[0],
                                  [0.0, math.log(2.0)])
    assert component_lower_bounds(saddle()) is None
    for problem in (LS_NOISY, SINE, LOGISTIC, zero_row, plain_logistic):   # they are lower bounds
        bounds = component_lower_bounds(problem)
        for x in random_points(problem, 20, seed=0, scale=5.0):
            assert np.all(problem.sample_losses(x) >= bounds)


def test_convexity_and_unknown_constants():
    assert components_convex(LS_NOISY) and components_convex(LINE)
    assert not components_convex(SINE) and not components_convex(LOGISTIC)
    assert not components_convex(saddle())
    assert components_convex(LogisticNonconvex(np.eye(2), np.array([1.0, -1.0]), 0.0))
    constants = sampling_constants(saddle(), TauNice(1))
    assert constants.C is None and constants.delta_inf is None and constants.sigma_star_sq is None
    assert constants.expected_smoothness is None and constants.expected_residual is None
    assert constants.A == 2.0 and constants.B == 0.0          # L_i = d|λ_i| = 2 for a = c = 1
    assert check_inequalities(saddle(), TauNice(1), np.ones(2)) == {}
    sine = sampling_constants(SINE, TauNice(2))
    assert sine.expected_smoothness is None and sine.C == 0.0 and sine.sigma_star_sq is not None


def test_as_dict():
    constants = sampling_constants(LS_NOISY, TauNice(3))
    numbers = constants.as_dict()
    assert set(numbers) == {"A", "B", "C", "L", "L_max", "L_mean", "mu", "sigma_star_sq",
                            "expected_smoothness", "expected_residual", "delta_inf", "n", "b",
                            "f_star", "f_inf"}
    assert numbers["A"] == constants.A and numbers["n"] == 7 and numbers["b"] == 3
    assert numbers["L"] == LS_NOISY.L and numbers["mu"] == LS_NOISY.mu
    known = sampling_constants(LOGISTIC, TauNice(3)).as_dict(skip_unknown=True)
    assert "sigma_star_sq" not in known and "expected_smoothness" not in known and "A" in known


# -- bad inputs ------------------------------------------------------------------

@pytest.mark.parametrize("call,match", [
    (lambda: enumerate_sampling(LS_NOISY, TauNice(3), max_outcomes=10), "max_outcomes must be at least"),
    (lambda: enumerate_sampling(LS_NOISY, TauNice(3), max_outcomes=0), "max_outcomes must be an integer"),
    (lambda: check_inequalities(LS_NOISY, TauNice(3), np.zeros(3), method="exactly"), "method must be"),
    (lambda: check_inequalities(LS_NOISY, TauNice(3), np.zeros(3), samples=0), "samples must be"),
    (lambda: check_inequalities(LS_NOISY, TauNice(3), np.zeros(3), seed=-1), "seed must be"),
    (lambda: check_inequalities(LS_NOISY, TauNice(3), np.zeros(4)), r"points must have shape \(P, 3\)"),
    (lambda: check_inequalities(LS_NOISY, TauNice(3), np.zeros((2, 2, 3))), "points must have shape"),
    (lambda: check_inequalities(LS_NOISY, TauNice(3), [np.nan, 0, 0]), "points must contain only finite"),
    (lambda: exact_moments(LS_NOISY, TauNice(3), np.zeros(2)), r"x must have shape \(3,\)"),
    (lambda: sampling_constants(LS_NOISY, TauNice(8)), r"b must lie in \[1, n\] = \[1, 7\]"),
    (lambda: sampling_constants(LS_NOISY, WithReplacement(2, p=custom_p(5))), "p must have one probability"),
    (lambda: sampling_constants(LS_NOISY, Stratified([[0, 1], [2]])), "blocks must partition"),
    (lambda: sampling_constants(LS_NOISY, TauNice(2)).expected_square_norm(np.zeros((6, 2))),
     r"vectors must have one row per sample, shape \(7, d\)"),
])
def test_bad_inputs_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_wrong_types_raise():
    with pytest.raises(TypeError, match="sampler must be a Sampler"):
        sampling_constants(LS_NOISY, "uniform")
    with pytest.raises(TypeError, match="problem must be a FiniteSum"):
        enumerate_sampling("least squares", TauNice(1))
