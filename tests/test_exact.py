"""The exact backend: expectations with no Monte Carlo error for affine rules on quadratics.

Promises:
- on tiny cases (n = 3, b ≤ 2, T = 4, or 3 with an independent ascent batch) every recorded expectation equals the brute-force
  average over every sample path (minibatch outcomes, independent ascent batches, RST coins,
  enumerated with their probabilities and stepped with plain NumPy from the rules module's
  step definition), to 1e-12 relative, for every sampler and every qualifying rule;
- it agrees with the numba engine's Monte Carlo within 4 standard errors for every qualifying
  rule × sampler on three problems, with enough trajectories for power (standard error below
  3 % of each value);
- the heavy-tail instance is decided: E f(x_T) = 1.125ᵀ f(x_0) exactly, and a bound of half
  of it is "violated" by ``theory.check`` (exact automatically), where Monte Carlo cannot see it;
- the sharp instance is an equality: SGD on 1-D inconsistent least squares with Importance(2)
  and γ = 1/L attains the SGD-PL bound for every T ≥ 1, to 1e-12;
- ``theory.stationary`` is the limit of a long exact run and of Monte Carlo, and its stability
  edge separates converging from diverging runs;
- every configuration outside the class is refused with a ValueError naming why.
"""
import math

import numpy as np
import pytest
import sympy as sp

import samtheory as st
from samtheory import problems, theory
from samtheory.sampling import (Importance, Independent, Stratified, TauNice, WithReplacement)
from samtheory.theory import enumerate_sampling
from test_verdict_trust import SHARP_A, SHARP_Y, heavy_tail_problem

MC_BACKEND = "numba"


def tiny_problem():
    rng = np.random.default_rng(4)
    return problems.LeastSquares(rng.standard_normal((3, 2)), rng.standard_normal(3),
                                 x0=np.array([1.5, -0.7]))


TINY_SAMPLERS = {
    "with_replacement_1": lambda: WithReplacement(1),
    "with_replacement_2": lambda: WithReplacement(2),
    "weighted_2": lambda: WithReplacement(2, p=np.array([0.5, 0.3, 0.2])),
    "importance_2": lambda: Importance(2),
    "tau_nice_2": lambda: TauNice(2),
    "independent": lambda: Independent(np.array([0.3, 0.6, 0.9])),
    "stratified": lambda: Stratified([np.array([0, 2]), np.array([1])]),
}
TINY_RULES = {
    "sgd": lambda: st.SGD(0.3),
    "sgd_schedule": lambda: st.SGD(st.schedules.Linear(0.4, 0.1)),
    "heavyball": lambda: st.HeavyBall(0.2, momentum=0.6),
    "usam": lambda: st.USAM(0.25, 0.3),
    "usam_independent": lambda: st.USAM(0.25, 0.3, ascent_batch="independent"),
    "usam_heavyball": lambda: st.Rule(lr=0.2, rho=0.3, lam=0.0, base="heavyball", momentum=0.5),
    "rst_usam": lambda: st.RST(0.25, st.schedules.Linear(0.4, 0.2), st.schedules.Linear(0.2, 1.0), lam=0.0),
    "grst_mix": lambda: st.GRST(0.25, 0.3, 0.6, alpha=0.8, mode="mix", lam=0.0),
    "grst_radius": lambda: st.GRST(0.25, 0.3, 0.6, alpha=0.8, mode="radius", lam=0.0),
    "msam": lambda: st.MSAM(0.2, 0.4, momentum=0.6, lam=0.0),
}


def brute_force(problem, rule, sampler, steps):
    """Per step t ≤ T: E[loss_gap], E‖∇f‖², E‖x − x*‖², E[grad_evals], and E[x_T], averaging
    over every sample path, each stepped as the rules module's docstring says."""
    A, y, s, n = problem.A, problem.y, problem.signs, problem.n
    probabilities, vectors = enumerate_sampling(problem, sampler)
    omega = vectors / n                                   # ∇f_S(x) = Σ_i ω_i ∇f_i(x)
    lr, rho, lam, prob = rule.arrays(steps)

    def minibatch_gradient(X, weights):
        return ((X @ A.T - y) * s * weights) @ A

    def moments(w, X):
        residual = X @ A.T - y
        gap = 0.5 * np.mean(s * residual ** 2, axis=1) - problem.loss_reference
        full = (residual * s) @ A / n
        return [w @ gap, w @ np.sum(full ** 2, axis=1), w @ np.sum((X - problem.x_star) ** 2, axis=1)]

    w, X, M, evals = np.ones(1), problem.x0[None, :], np.zeros((1, problem.d)), np.zeros(1)
    out = [moments(w, X) + [w @ evals]]
    for t in range(steps):
        parts = []
        for p_k, om in zip(probabilities, omega):
            g = minibatch_gradient(X, om)
            coin = [(1.0, False)] if rho[t] == 0 else [(prob[t], True), (1 - prob[t], False)]
            for p_c, perturb in coin:
                if not perturb:
                    parts.append((w * p_k * p_c, g, evals + 1))
                    continue
                radius = rho[t] * rule.grst_alpha / prob[t] if rule.grst_mode == "radius" else rho[t]
                if rule.ascent == "momentum":
                    ascents = [(1.0, -M)]
                elif rule.ascent_batch == "independent":
                    ascents = [(p_a, minibatch_gradient(X, om_a)) for p_a, om_a in zip(probabilities, omega)]
                else:
                    ascents = [(1.0, g)]
                # h, plus g where the ascent or G-RST mixing needs it, plus the ascent batch
                cost = (1 + (rule.ascent == "gradient" and rule.ascent_batch == "same"
                             or rule.grst_mode == "mix") + (rule.ascent_batch == "independent"))
                for p_a, direction in ascents:
                    norm = np.linalg.norm(direction, axis=1, keepdims=True)
                    scale = radius * (1 - lam[t] + lam[t] / (norm + 1e-12))
                    h = minibatch_gradient(X + scale * direction, om)
                    if rule.grst_mode == "mix":
                        h = g + rule.grst_alpha / prob[t] * (h - g)
                    parts.append((w * p_k * p_c * p_a, h, evals + cost))
        w = np.concatenate([part[0] for part in parts])
        h = np.concatenate([part[1] for part in parts])
        evals = np.concatenate([part[2] for part in parts])
        copies = len(parts)
        X, M = np.tile(X, (copies, 1)), np.tile(M, (copies, 1))
        if rule.base == "sgd":
            X = X - lr[t] * h
        else:
            M = rule.momentum * M + h
            X = X - lr[t] * M
        out.append(moments(w, X) + [w @ evals])
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    return np.array(out), w @ X


@pytest.mark.parametrize("sampler_name", list(TINY_SAMPLERS))
@pytest.mark.parametrize("rule_name", list(TINY_RULES))
def test_exact_is_the_average_over_every_sample_path(rule_name, sampler_name):
    problem, rule, sampler = tiny_problem(), TINY_RULES[rule_name](), TINY_SAMPLERS[sampler_name]()
    steps = 3 if rule.ascent_batch == "independent" else 4   # its ascent batch squares the paths
    expected, mean_x = brute_force(problem, rule, sampler, steps)
    out = st.simulate(problem, rule, sampler, steps=steps, trajectories=1, record_every=1,
                      track_iterates=True, backend="exact")
    for column, name in enumerate(("loss_gap", "grad_norm_sq", "dist_sq", "grad_evals")):
        np.testing.assert_allclose(out.metrics[name][0], expected[:, column], rtol=1e-12, atol=0,
                                   err_msg=name)
    np.testing.assert_allclose(out.final_x[0], mean_x, rtol=1e-12, atol=1e-15)
    running = np.r_[expected[0, 1], np.cumsum(expected[:-1, 1]) / np.arange(1, steps + 1)]
    np.testing.assert_allclose(out.metrics["avg_grad_norm_sq"][0], running, rtol=1e-12)
    assert np.isnan(out.metrics["min_grad_norm_sq"]).all()
    assert out.config["exact"] and out.config["backend"] == "exact" and out.diverged_at[0] == -1


# -- against the engine's Monte Carlo ----------------------------------------------------------

MC_PROBLEMS = (lambda: problems.random_least_squares(12, 3, condition=4, seed=5),
               lambda: problems.random_least_squares(12, 3, condition=4, consistent=True, seed=6),
               lambda: problems.Quadratic([3.0, 2.0, 1.0, 0.5], x0=[1.0, -1.0, 0.5, 2.0]))
MC_SAMPLERS = {"with_replacement": lambda p: WithReplacement(2),
               "weighted": lambda p: WithReplacement(2, p=np.arange(1, p.n + 1) / (p.n * (p.n + 1) / 2)),
               "importance": lambda p: Importance(2), "tau_nice": lambda p: TauNice(3),
               "independent": lambda p: Independent(0.5), "stratified": lambda p: Stratified(2)}
MC_RULES = {"sgd": lambda g: st.SGD(g), "heavyball": lambda g: st.HeavyBall(g / 2, momentum=0.5),
            "usam": lambda g: st.USAM(g, 0.5 * g), "usam_independent": lambda g: st.USAM(
                g, 0.5 * g, ascent_batch="independent"),
            "rst_usam": lambda g: st.RST(g, 0.5 * g, 0.5, lam=0.0),
            "grst_mix": lambda g: st.GRST(g, 0.5 * g, 0.5, alpha=0.5, lam=0.0),
            "msam": lambda g: st.MSAM(g / 2, 0.5 * g, momentum=0.5, lam=0.0)}
MC_TRAJECTORIES, MC_STEPS = 20_000, 15


@pytest.mark.parametrize("sampler_name", list(MC_SAMPLERS))
@pytest.mark.parametrize("rule_name", list(MC_RULES))
def test_exact_agrees_with_the_engine_within_four_standard_errors(rule_name, sampler_name):
    """20 000 trajectories: each standard error is below 3 % of its value (asserted), so a
    bias of 12 % or more in the exact value would be seen."""
    for make_problem in MC_PROBLEMS:
        problem = make_problem()
        sampler = MC_SAMPLERS[sampler_name](problem)
        rule = MC_RULES[rule_name](0.3 / problem.L_max)
        exact = st.simulate(problem, rule, sampler, steps=MC_STEPS, trajectories=1, backend="exact")
        mc = st.simulate(problem, rule, sampler, steps=MC_STEPS, trajectories=MC_TRAJECTORIES, seed=3,
                         backend=MC_BACKEND)
        for name in ("loss_gap", "grad_norm_sq", "dist_sq", "grad_evals"):
            if name not in exact.metrics:
                continue
            summary = mc.summary(name)
            value, mean, se = exact.metrics[name][0, -1], summary["mean"][-1], summary["stderr"][-1]
            assert se <= 0.03 * abs(value), (problem.name, name, value, se)
            assert abs(value - mean) <= 4 * se + 1e-12 * abs(value), (problem.name, name, value, mean, se)


# -- instances decided exactly ------------------------------------------------------------------

def test_heavy_tail_is_decided_exactly():
    """E f(x_T) = E(1 − a_i²)² ᵀ f(x_0) = 1.125ᵀ f(x_0), although almost every trajectory
    converges: a bound of half of it is "violated"; Monte Carlo's 10⁵ trajectories fall below it."""
    problem = heavy_tail_problem()
    steps = 30
    out = st.simulate(problem, st.SGD(1.0), WithReplacement(1), steps=steps, trajectories=1, record_every=1,
                      backend="exact")
    np.testing.assert_allclose(out.metrics["loss_gap"][0],
                               1.125 ** np.arange(steps + 1) * problem.loss_gap(problem.x0), rtol=1e-12)
    half = theory.Theorem(name="half the exact expectation", source="test", statement="",
                          quantity=theory.FinalMetric("loss_gap"),
                          bound=sp.Rational(1, 2) * sp.Rational(9, 8) ** theory.symbols()["T"]
                          * theory.symbols()["delta0"])
    config = dict(problem=problem, rule=st.SGD(1.0), sampler=WithReplacement(1), steps=steps)
    result = theory.check(half, **config)
    assert result.exact and result.verdict == "violated" and result.p_value == 0.0
    assert result.empirical == pytest.approx(2 * result.bound, rel=1e-12)
    assert "exact expectation" in str(result) and "CI" not in str(result)
    sampled = theory.check(half, **config, trajectories=100_000, exact=False)
    assert not sampled.exact and sampled.empirical < sampled.bound


def test_sharp_instance_attains_the_sgd_pl_bound_as_an_equality():
    problem = problems.LeastSquares(SHARP_A, SHARP_Y, x0=np.array([3.0]))
    theorem, rule, sampler = theory.sgd_pl(), st.SGD(1 / problem.L), Importance(2)
    out = st.simulate(problem, rule, sampler, steps=6, trajectories=1, record_every=1, backend="exact")
    bounds = [theorem.bound_value(theorem.numbers(problem, rule, sampler, steps)[0]) for steps in range(1, 7)]
    np.testing.assert_allclose(out.metrics["loss_gap"][0, 1:], bounds, rtol=1e-12)
    result = theory.check(theorem, problem=problem, rule=rule, sampler=sampler, steps=5)
    assert result.exact and result.verdict == "holds"
    assert result.empirical == pytest.approx(result.bound, rel=1e-12)
    assert result.ci_low == result.empirical == result.ci_high


def test_mean_square_divergence_is_reported_and_an_expectation_bound_violated(tmp_path):
    """SGD γ = 1 on diag(10, 1): the moments grow as 81ᵗ and overflow (as in the engine, the
    record at the step that overflows keeps its values); later records are NaN."""
    problem, rule, sampler = problems.Quadratic([10.0, 1.0]), st.SGD(1.0), TauNice(2)
    out = st.simulate(problem, rule, sampler, steps=400, trajectories=1, record_every=1, backend="exact")
    at = out.diverged_at[0]
    assert 100 < at < 200 and out.diverged[0]
    assert np.isfinite(out.metrics["loss_gap"][0, :at]).all() and np.isnan(out.metrics["loss_gap"][0, at + 1:]).all()
    assert (out.metrics["grad_evals"][0, at:] == at).all()
    anything = theory.Theorem(name="anything goes", source="test", statement="", bound=1e300,
                              quantity=theory.FinalMetric("loss_gap"))
    result = theory.check(anything, problem=problem, rule=rule, sampler=sampler, steps=400)
    assert result.exact and result.verdict == "violated" and "exact moments diverged" in result.note
    # a coin-free exact result (integer gradient counts) round-trips through save and load
    steady = st.simulate(problem, st.HeavyBall(0.05), sampler, steps=20, trajectories=1, backend="exact")
    loaded = st.Trajectories.load(steady.save(tmp_path / "exact"))
    assert loaded.config["exact"] and np.array_equal(loaded.metrics["loss_gap"], steady.metrics["loss_gap"])
    # with a coin the expected count is a float, and it round-trips too
    coin = st.simulate(problem, st.RST(0.05, 0.01, 0.5, lam=0.0), sampler, steps=20, trajectories=1,
                       backend="exact")
    assert coin.metrics["grad_evals"][0, -1] == pytest.approx(20 * 1.5)
    loaded = st.Trajectories.load(coin.save(tmp_path / "coin"))
    assert np.array_equal(loaded.metrics["grad_evals"], coin.metrics["grad_evals"])


# -- refusals ------------------------------------------------------------------------------------

def refused(problem, rule, sampler, match, **options):
    with pytest.raises(ValueError, match=match):
        st.simulate(problem, rule, sampler, steps=5, trajectories=options.pop("trajectories", 1),
                    backend="exact", **options)


def test_each_refusal_names_its_reason():
    ls = problems.random_least_squares(64, 4, seed=1)
    refused(ls, st.SAM(0.1, 0.05), TauNice(4), r"SAM with λ = 1 \(step 0\) normalises the ascent")
    refused(ls, st.UnifiedSAM(0.1, 0.05, st.schedules.Linear(0.0, 1.0)), TauNice(4), r"λ = 0.2 \(step 1\)")
    refused(ls, st.StableSAM(0.1, 0.05), TauNice(4), "Stable SAM rescales h")
    refused(ls, st.Adam(0.01), TauNice(4), "adam base divides by √v̂")
    refused(problems.random_logistic(32, 4, seed=0), st.SGD(0.1), TauNice(4), "logistic loss")
    refused(problems.random_sine_least_squares(32, 4, seed=0), st.SGD(0.1), TauNice(4), "sin² regulariser")
    refused(problems.scalar_factorisation(), st.SGD(0.1), TauNice(1), "not a finite sum")
    refused(ls, st.USAM(0.1, 0.05), Stratified(32), r"Stratified sampling with 32 blocks .* 4294967296 outcomes")
    refused(ls, st.SGD(0.1), TauNice(4), "trajectories must be 1", trajectories=100)
    refused(ls, st.SGD(0.1), TauNice(4), "track_sharpness", track_sharpness=True)
    # the second moments of the same sampler are closed form, and λ > 0 never used is no obstacle
    st.simulate(ls, st.SGD(0.1), Stratified(32), steps=5, trajectories=1, backend="exact")
    st.simulate(ls, st.RST(0.1, 0.05, 0.0), TauNice(4), steps=5, trajectories=1, backend="exact")
    with pytest.raises(theory.ConditionError, match="exact=True: SAM with λ = 0.5"):
        theory.check(theory.unified_sam_pl(), **theory.unified_sam_pl().example(), exact=True)


# -- stationary limits and the stability edge ------------------------------------------------------

STATIONARY_RULES = {"sgd": st.SGD(0.2), "usam": st.USAM(0.2, 0.1), "heavyball": st.HeavyBall(0.1, 0.5),
                    "rst_usam": st.RST(0.2, 0.1, 0.5, lam=0.0), "msam": st.MSAM(0.1, 0.1, 0.5, lam=0.0)}


@pytest.mark.parametrize("rule_name", list(STATIONARY_RULES))
def test_stationary_is_the_limit_of_the_exact_recursion_and_of_monte_carlo(rule_name):
    problem, rule, sampler = MC_PROBLEMS[0](), STATIONARY_RULES[rule_name], WithReplacement(2)
    limit = theory.stationary(problem, rule, sampler)
    assert limit.stable and limit.spectral_radius < 0.99 and limit.lr == rule.lr.value
    assert "mean-square stable" in str(limit)
    long = st.simulate(problem, rule, sampler, steps=3000, trajectories=1, record_every=3000, backend="exact")
    for name in ("loss_gap", "dist_sq", "grad_norm_sq"):
        assert getattr(limit, name) == pytest.approx(long.metrics[name][0, -1], rel=1e-9), name
    np.testing.assert_allclose(limit.mean_x, long.final_x[0], rtol=1e-9, atol=1e-12)
    # Monte Carlo past the transient (ρ^600 < 1e-2): within 4 standard errors of 2 % of the value
    mc = st.simulate(problem, rule, sampler, steps=600, trajectories=20_000, seed=11, record_every=600,
                     backend=MC_BACKEND).summary("loss_gap")
    assert mc["stderr"][-1] < 0.02 * limit.loss_gap
    assert abs(mc["mean"][-1] - limit.loss_gap) < 4 * mc["stderr"][-1]


def test_stability_edge_separates_converging_from_diverging_runs():
    problem, sampler = MC_PROBLEMS[0](), WithReplacement(2)
    edge = theory.stationary(problem, st.USAM(0.2, 0.1), sampler).stability_edge
    assert theory.stationary(problem, st.USAM(1.0, 0.1), sampler).stability_edge == pytest.approx(edge, rel=1e-8)
    below, above = (theory.stationary(problem, st.USAM(f * edge, 0.1), sampler) for f in (0.98, 1.02))
    assert below.stable and not above.stable and "not mean-square stable" in str(above)
    runs = {f: st.simulate(problem, st.USAM(f * edge, 0.1), sampler, steps=4000, trajectories=1,
                           record_every=2000, backend="exact").metrics["loss_gap"][0] for f in (0.98, 1.02)}
    assert runs[0.98][-1] == pytest.approx(below.loss_gap, rel=1e-6)
    assert runs[1.02][-1] > 1e3 * runs[1.02][-2] > 1e3 * runs[0.98][-1]


def test_stationary_with_the_iterative_solvers():
    """629 unknowns (d = 34), beyond the dense formation: ARPACK and GMRES."""
    problem = problems.random_least_squares(48, 34, condition=3, seed=2)
    rule, sampler = st.HeavyBall(0.1, 0.5), TauNice(8)
    limit = theory.stationary(problem, rule, sampler)
    long = st.simulate(problem, rule, sampler, steps=3000, trajectories=1, record_every=3000, backend="exact")
    assert limit.stable and limit.loss_gap == pytest.approx(long.metrics["loss_gap"][0, -1], rel=1e-8)
    assert 0.1 < limit.stability_edge < math.inf


def test_stationary_refusals():
    problem = MC_PROBLEMS[0]()
    with pytest.raises(ValueError, match="constant schedules; lr is"):
        theory.stationary(problem, st.SGD(st.schedules.InverseSqrt(0.1)), WithReplacement(2))
    with pytest.raises(ValueError, match="normalises the ascent"):
        theory.stationary(problem, st.SAM(0.1, 0.1), WithReplacement(2))
