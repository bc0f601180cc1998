"""Theorems as SymPy objects, held against simulations.

Promises:
- every theorem of ``theory.catalogue()`` holds on its example and on at least two
  problems × two samplers where its conditions are met (upper bounds: the upper 95 %
  confidence limit over trajectories is below the bound; closed forms: the measured
  value is within the theorem's tolerance of the prediction);
- a bound scaled below the measured value is reported violated, one scaled onto it is not
  rejected ("holds", p ≈ ½); a diverging configuration makes a bound on an expectation violated;
- a configuration outside a theorem's requirements or conditions is refused with the
  failing one named, with its numbers;
- ``Theorem.largest`` solves the conditions: for SGD on PL functions it is
  min{1/(2BL), μ/(2AL), 1/μ}, for AdaSAM ε²/(4LĜ) (ε²/(6LĜ) in the published form);
- a recursive bound with constant schedules unrolls to the closed form of the constant-step
  theorem; per-step conditions name the first failing step;
- users write a theorem in a few lines and check it the same way;
- (the promises about sample means, intervals and diverged trajectories pass ``exact=False``:
  ``check`` takes the exact expectation by default where the configuration qualifies);
- the configuration facts the bounds read are right: L_batch, G and σ².
"""
import math

import numpy as np
import pytest
import sympy as sp

import samtheory as st
from samtheory import problems, theory
from samtheory.problems import Quadratic
from samtheory.sampling import TauNice, Importance, WithReplacement, Independent, Stratified
from samtheory.theory import core

SEED = 7
TRAJECTORIES = 300


def least_squares():
    return problems.random_least_squares(64, 8, condition=4, seed=1)


def sine():
    return problems.random_sine_least_squares(64, 8, seed=2)


def logistic():
    return problems.random_logistic(64, 8, seed=3)


def logistic_wide():
    return problems.random_logistic(96, 12, reg_strength=0.5, seed=5)


def full(problem):
    return TauNice(problem.n)


def independent_full(problem):
    return Independent(np.ones(problem.n))


def singletons(problem):
    return Stratified(problem.n)


# theorem factory → (problems, sampler makers): two of each, all combinations are checked
MATRIX = {
    theory.sgd_pl: ((least_squares, sine), (lambda p: TauNice(8), lambda p: Importance(2))),
    theory.sgd_nonconvex: ((logistic, sine), (lambda p: TauNice(8), lambda p: WithReplacement(4))),
    theory.unified_sam_pl: ((least_squares, sine), (lambda p: TauNice(8), lambda p: Importance(4))),
    theory.unified_sam_pl_decreasing: ((least_squares, sine),
                                       (lambda p: TauNice(8), lambda p: WithReplacement(4))),
    theory.unified_sam_nonconvex: ((logistic, sine), (lambda p: Importance(4), lambda p: TauNice(8))),
    theory.adasam_rate: ((logistic, logistic_wide), (lambda p: TauNice(8), lambda p: WithReplacement(8))),
    theory.adasam_rate_published: ((logistic, logistic_wide),
                                   (lambda p: TauNice(8), lambda p: WithReplacement(8))),
    theory.rst_bound: ((logistic, logistic_wide), (lambda p: TauNice(8), lambda p: WithReplacement(8))),
    theory.rst_bound_published: ((logistic, logistic_wide),
                                 (lambda p: TauNice(8), lambda p: WithReplacement(8))),
    theory.gd_threshold: ((lambda: Quadratic([10.0, 3.0, 1.0]), lambda: Quadratic([4.0, 2.0])),
                          (full, independent_full)),
    theory.usam_threshold: ((lambda: Quadratic([10.0, 3.0, 1.0]), lambda: Quadratic([4.0, 2.0])),
                            (full, singletons)),
    theory.sam_threshold: ((lambda: Quadratic([10.0, 3.0, 1.0]), lambda: Quadratic([4.0, 2.0])),
                           (full, independent_full)),
    theory.stable_sam_threshold: ((lambda: Quadratic([10.0, 3.0, 1.0]), lambda: Quadratic([4.0, 2.0])),
                                  (full, singletons)),
    theory.sam_cycle: ((lambda: Quadratic([10.0, 1.0]), lambda: Quadratic([4.0, 1.0, 0.5])),
                       (full, independent_full)),
    theory.sam_edge: ((lambda: Quadratic([10.0, 1.0]), lambda: Quadratic([4.0, 1.0, 0.5])),
                      (full, singletons)),
    theory.msam_cycle: ((lambda: Quadratic([1.0]), lambda: Quadratic([2.0, 0.5])),
                        (full, independent_full)),
}
CASES = [(factory, make_problem, make_sampler)
         for factory, (makers, samplers) in MATRIX.items()
         for make_problem in makers for make_sampler in samplers]


def test_matrix_covers_the_catalogue():
    names = {t.name for t in theory.catalogue()}
    assert names == {factory().name for factory in MATRIX}
    assert len(names) == 16


@pytest.mark.parametrize("factory", list(MATRIX), ids=lambda f: f.__name__)
def test_theorem_holds_on_its_example(factory):
    theorem = factory()
    result = theory.check(theorem, **theorem.example(), trajectories=TRAJECTORIES, seed=SEED)
    assert result.verdict == "holds", str(result)
    assert result.n_diverged == 0
    if theorem.kind == "upper":
        assert result.ci_low <= result.empirical <= result.ci_high < result.bound
        assert result.ratio > 1


@pytest.mark.parametrize("factory, make_problem, make_sampler", CASES,
                         ids=[f"{f.__name__}-{i}" for i, (f, _, _) in enumerate(CASES)])
def test_theorem_holds_on_two_problems_and_two_samplers(factory, make_problem, make_sampler):
    theorem = factory()
    problem = make_problem()
    config = theorem.example(problem=problem, sampler=make_sampler(problem))
    result = theory.check(theorem, **config, trajectories=TRAJECTORIES, seed=SEED)
    assert result.verdict == "holds", str(result)


@pytest.mark.parametrize("factory", list(MATRIX), ids=lambda f: f.__name__)
def test_bound_scaled_below_the_truth_is_violated(factory):
    """Scaling the bound to half the measured value (×0.01 is not always below it: some
    bounds are loose by more than 100×) must give "violated"."""
    theorem = factory()
    config = theorem.example()
    honest = theory.check(theorem, **config, trajectories=TRAJECTORIES, seed=SEED)
    factor = 0.5 * honest.empirical / honest.bound
    scaled = theory.check(theorem.scaled(factor), **config, trajectories=TRAJECTORIES, seed=SEED)
    assert scaled.verdict == "violated", str(scaled)
    assert scaled.bound == pytest.approx(factor * honest.bound, rel=1e-12)
    assert scaled.empirical == honest.empirical       # same seed, same simulation


def test_bound_on_the_estimate_is_not_rejected():
    """A bound equal to the sample mean: the one-sided p-value is ½, "holds" (not rejected)."""
    theorem = theory.sgd_pl()
    config = theorem.example()
    honest = theory.check(theorem, **config, trajectories=TRAJECTORIES, seed=SEED, exact=False)
    onto = theory.check(theorem.scaled(honest.empirical / honest.bound), **config,
                        trajectories=TRAJECTORIES, seed=SEED, exact=False)
    assert onto.ci_low < onto.bound < onto.ci_high
    assert onto.verdict == "holds" and onto.p_value == pytest.approx(0.5, abs=1e-9)
    assert "not rejected at level 0.01" in str(onto)


def test_interval_is_the_student_t_interval_of_the_level():
    """level α: the reported interval is the two-sided (1 − 2α) Student-t interval."""
    theorem = theory.sgd_pl()
    config = theorem.example()
    result = theory.check(theorem, **config, trajectories=50, seed=SEED, level=0.05, exact=False)
    out = st.simulate(**config, trajectories=50, seed=SEED, record_every=config["steps"])
    gaps = out.metrics["loss_gap"][:, -1]
    half = 1.6765508919142629 * gaps.std(ddof=1) / math.sqrt(50)      # t_{0.95, 49}
    assert result.empirical == pytest.approx(gaps.mean(), rel=1e-14)
    assert result.ci_high - result.empirical == pytest.approx(half, rel=1e-9)
    assert result.confidence == pytest.approx(0.9) and result.level == 0.05


def test_divergence_makes_an_expectation_bound_violated():
    theorem = theory.Theorem(name="anything goes", source="test", statement="", bound=1e300,
                             quantity=theory.FinalMetric("loss_gap"))
    result = theory.check(theorem, problem=Quadratic([10.0, 1.0]), rule=st.SGD(lr=1.0),
                          sampler=TauNice(2), steps=2000, trajectories=3, exact=False)
    assert result.verdict == "violated"
    assert result.n_diverged == 3 and "diverged" in result.note


# -- refusals -------------------------------------------------------------------------

def test_step_outside_the_conditions_is_refused_with_numbers():
    theorem = theory.sgd_pl()
    config = theorem.example()
    largest = theorem.largest("gamma", **{k: config[k] for k in ("problem", "rule", "sampler", "steps")})
    config["rule"] = st.SGD(lr=1.5 * largest)
    # τ-nice(8) on this problem: μ/(2AL) < 1/(2BL), so the A condition binds (μ = 0.25)
    with pytest.raises(theory.ConditionError, match=r"condition 2\*A\*L\*gamma <= mu: 0\.375 vs 0\.25 FAILS"):
        theory.check(theorem, **config)


def test_wrong_rule_is_refused_naming_the_requirement():
    theorem = theory.sgd_pl()
    config = theorem.example()
    config["rule"] = st.SAM(lr=0.01, rho=0.05)
    with pytest.raises(theory.ConditionError, match="ρ ≡ 0"):
        theory.check(theorem, **config)
    config["rule"] = st.HeavyBall(lr=0.01)
    with pytest.raises(theory.ConditionError, match="base='heavyball' \\(the theorem covers 'sgd'\\)"):
        theory.check(theorem, **config)


def test_missing_constant_is_refused_with_the_reason():
    theorem = theory.sgd_pl()
    with pytest.raises(theory.ConditionError, match="needs mu .*no PL constant"):
        theory.check(theorem, problem=logistic(), rule=st.SGD(lr=0.01), sampler=TauNice(8), steps=10)
    with pytest.raises(theory.ConditionError, match="needs .*G.*unbounded"):
        theory.check(theory.adasam_rate(), problem=least_squares(),
                     rule=st.AdaSAM(lr=1e-4, rho=0.01, beta1=0.0, eps=1.0), sampler=TauNice(8), steps=10)


def test_beta1_condition_is_named():
    theorem = theory.adasam_rate()
    config = theorem.example()
    config["rule"] = st.AdaSAM(lr=1e-4, rho=0.01, beta1=0.9, eps=1.0)
    with pytest.raises(theory.ConditionError, match=r"Eq\(beta1, 0\): 0\.9 vs 0 FAILS"):
        theory.check(theorem, **config)


def test_schedule_where_a_constant_is_needed_is_refused():
    theorem = theory.unified_sam_pl()
    rule = st.UnifiedSAM(lr=st.schedules.InverseSqrt(0.01), rho=0.01, lam=0.5)
    with pytest.raises(theory.ConditionError, match="gamma varies over the run"):
        theory.check(theorem, problem=least_squares(), rule=rule, sampler=TauNice(8), steps=50)


def test_recursive_condition_names_the_first_failing_step():
    theorem = theory.unified_sam_pl_decreasing()
    problem = least_squares()
    largest = theory.unified_sam_pl().largest("gamma", problem, st.UnifiedSAM(1.0, 0.02, 1.0),
                                              TauNice(8), 100)
    steps = np.full(100, 0.5 * largest)
    steps[37:] = 2.0 * largest                                  # too large from step 37 on
    rule = st.UnifiedSAM(lr=st.schedules.Explicit(steps), rho=0.02, lam=1.0)
    with pytest.raises(theory.ConditionError, match="FAILS at step k = 37"):
        theory.check(theorem, problem=problem, rule=rule, sampler=TauNice(8), steps=100)


def test_bad_arguments_are_refused():
    theorem = theory.sgd_pl()
    config = theorem.example()
    with pytest.raises(TypeError, match="theorem must be"):
        theory.check("SGD", **config)
    with pytest.raises(ValueError, match=r"level must lie in \(0, 0.5\)"):
        theory.check(theorem, **config, level=0.5)
    with pytest.raises(ValueError, match="trajectories must be an integer >= 1"):
        theory.check(theorem, **config, trajectories=0)
    with pytest.raises(ValueError, match="unknown symbols \\['kappa'\\]"):
        theory.Theorem(name="x", source="", statement="", quantity=theory.FinalMetric(),
                       bound=sp.Symbol("kappa"))
    with pytest.raises(ValueError, match="kind must be one of"):
        theory.Theorem(name="x", source="", statement="", quantity=theory.FinalMetric(), bound=1,
                       kind="lower")
    with pytest.raises(ValueError, match="name must be one of"):
        theorem.largest("eta", **config)


# -- solving the conditions ------------------------------------------------------------

@pytest.mark.parametrize("sampler", [TauNice(8), TauNice(1), Importance(2), TauNice(64)])
def test_largest_step_of_sgd_pl_is_the_closed_form(sampler):
    problem = least_squares()
    numbers, _, _ = theory.values(problem, st.SGD(1.0), sampler, 100)
    A, B, L, mu = (numbers[s] for s in ("A", "B", "L", "mu"))
    expected = min(1 / (2 * B * L) if B else math.inf, mu / (2 * A * L) if A else math.inf, 1 / mu)
    largest = theory.sgd_pl().largest("gamma", problem, st.SGD(1.0), sampler, 100)
    assert largest == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("factory, constant",
                         [(theory.adasam_rate, 4), (theory.adasam_rate_published, 6)])
def test_largest_step_of_adasam_is_eps_squared_over_constant_LG(factory, constant):
    problem = logistic()
    rule = st.AdaSAM(lr=1.0, rho=0.01, beta1=0.0, eps=0.5)
    numbers, _, _ = theory.values(problem, rule, TauNice(8), 100)
    expected = 0.25 / (constant * numbers["L"] * max(numbers["G"], 0.5))
    assert factory().largest("gamma", problem, rule, TauNice(8), 100) == pytest.approx(expected, rel=1e-12)


def test_largest_radius_of_unified_sam_solves_the_quadratic_condition():
    """4B K ≤ 1 with K = 2L_b²ρ²(1 − λ)²(1 + Lγ) + Lγ, solved for ρ by hand."""
    problem, sampler, gamma_value, lam_value = least_squares(), TauNice(8), 0.01, 0.25
    rule = st.UnifiedSAM(lr=gamma_value, rho=1.0, lam=lam_value)
    numbers, _, _ = theory.values(problem, rule, sampler, 100)
    L, Lb, A, B, mu = (numbers[s] for s in ("L", "L_batch", "A", "B", "mu"))
    budget = min(1 / (4 * B), mu / (4 * A)) - L * gamma_value
    expected = math.sqrt(budget / (2 * Lb ** 2 * (1 - lam_value) ** 2 * (1 + L * gamma_value)))
    largest = theory.unified_sam_pl().largest("rho", problem, rule, sampler, 100)
    assert largest == pytest.approx(expected, rel=1e-12)


def test_recursion_with_constant_schedules_unrolls_to_the_geometric_sum():
    """δ_T = q^T δ_0 + (2N/μ)(1 − q^T), q = 1 − γμ/2: at most the constant-step closed form
    q^T δ_0 + 2N/μ, which drops the (1 − q^T)."""
    constant, recursive = theory.unified_sam_pl(), theory.unified_sam_pl_decreasing()
    problem, sampler, steps = least_squares(), TauNice(8), 250
    rule = st.UnifiedSAM(lr=0.004, rho=0.01, lam=0.3)
    numbers, _ = constant.numbers(problem, rule, sampler, steps)
    rec_numbers, schedules = recursive.numbers(problem, rule, sampler, steps)
    q = 1 - 0.004 * numbers["mu"] / 2
    closed = constant.bound_value(numbers)
    floor = closed - q ** steps * numbers["delta0"]                           # 2N/μ
    unrolled = recursive.bound_value(rec_numbers, schedules)
    assert unrolled == pytest.approx(q ** steps * numbers["delta0"] + floor * (1 - q ** steps), rel=1e-12)
    assert unrolled < closed


# -- user theorems ----------------------------------------------------------------------

def test_user_theorem_in_a_few_lines():
    """GD on a positive quadratic: ‖x_T − x*‖² ≤ (1 − γμ)^{2T} ‖x_0 − x*‖² for γ ≤ 1/L, with
    equality when x_0 lies along the eigenvector of μ."""
    s = theory.symbols()
    mine = theory.Theorem(
        name="GD contraction", source="folklore", statement="", quantity=theory.FinalMetric("dist_sq"),
        bound=(1 - s["gamma"] * s["mu"]) ** (2 * s["T"]) * s["dist0"],
        conditions=[s["gamma"] <= 1 / s["L"]], requirements=[theory.full_batch()])
    loose = theory.check(mine, problem=Quadratic([4.0, 1.0], x0=[1.0, 1.0]), rule=st.SGD(0.2),
                         sampler=TauNice(2), steps=50, trajectories=2)
    assert loose.verdict == "holds" and loose.ratio > 1.0
    tight = theory.check(mine, problem=Quadratic([4.0, 1.0], x0=[0.0, 1.0]), rule=st.SGD(0.2),
                         sampler=TauNice(2), steps=50, trajectories=2)
    assert tight.ratio == pytest.approx(1.0, abs=1e-10)
    assert tight.verdict == "holds"      # one value repeated: a zero-width interval on the bound
    with pytest.raises(theory.ConditionError, match="gamma <= 1/L: 0.3 vs 0.25 FAILS"):
        theory.check(mine, problem=Quadratic([4.0, 1.0]), rule=st.SGD(0.3), sampler=TauNice(2), steps=5)


# -- facts about configurations -----------------------------------------------------------

def test_batch_smoothness():
    problem = logistic()
    L_i = problem.L_i
    assert theory.batch_smoothness(problem, Importance(4)) == pytest.approx(L_i.mean(), rel=1e-12)
    assert theory.batch_smoothness(problem, TauNice(8)) == pytest.approx(np.sort(L_i)[-8:].mean(), rel=1e-12)
    assert theory.batch_smoothness(problem, TauNice(problem.n)) == pytest.approx(L_i.mean(), rel=1e-12)
    assert theory.batch_smoothness(problem, WithReplacement(3)) == pytest.approx(L_i.max(), rel=1e-12)
    p = np.full(problem.n, 0.5)
    assert theory.batch_smoothness(problem, Independent(p)) == pytest.approx(2 * L_i.mean(), rel=1e-12)
    blocks = Stratified(4)
    parts = np.array_split(np.arange(problem.n), 4)
    assert theory.batch_smoothness(problem, blocks) == pytest.approx(
        sum(part.size * L_i[part].max() for part in parts) / problem.n, rel=1e-12)
    # and it is a smoothness constant of f_S: ‖∇f_S(x) − ∇f_S(y)‖ ≤ L_batch ‖x − y‖ on random draws
    rng = np.random.default_rng(0)
    stream = st.draw(TauNice(8), problem, 200, 1, seed=1)
    bound = theory.batch_smoothness(problem, TauNice(8))
    for t in range(200):
        idx, w = stream.indices[0, t, :8], stream.weights[0, t, :8]
        x, y = rng.standard_normal((2, problem.d))
        diff = w @ (problem.sample_gradients(x, idx) - problem.sample_gradients(y, idx))
        assert np.linalg.norm(diff) <= bound * np.linalg.norm(x - y)


def test_gradient_and_variance_bounds_of_logistic_problems():
    problem = logistic()
    G, variance = theory.gradient_bounds(problem, TauNice(8))
    rng = np.random.default_rng(1)
    points = 3 * rng.standard_normal((200, problem.d))
    worst_inf, worst_spread = 0.0, 0.0
    for x in points:
        grads = problem.sample_gradients(x)
        worst_inf = max(worst_inf, np.abs(grads).max())
        worst_spread = max(worst_spread, np.mean(np.sum((grads - grads.mean(axis=0)) ** 2, axis=1)))
    assert worst_inf <= G
    n, b = problem.n, 8
    assert worst_spread * (n - b) / (b * (n - 1)) <= variance
    assert theory.gradient_bounds(problem, WithReplacement(8))[1] == pytest.approx(variance * (
        b * (n - 1)) / (n - b) / b, rel=1e-12)
    assert theory.gradient_bounds(problem, Importance(8)) == (G, None)
    assert theory.gradient_bounds(least_squares(), TauNice(8)) == (None, None)


def test_values_report_what_is_missing_and_why():
    found, schedules, missing = theory.values(logistic(), st.RST(0.1, 0.05, st.schedules.Linear(0.0, 1.0)),
                                              TauNice(8), 100)
    assert "mu" in missing and "PL" in missing["mu"]
    assert "p" in missing and found["p_bar"] == pytest.approx(0.495, rel=1e-12)
    assert found["T"] == 100 and found["b"] == 8
    np.testing.assert_allclose(schedules["p"], np.arange(100) / 100)
