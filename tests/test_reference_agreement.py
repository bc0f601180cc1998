"""The Numba kernel agrees with the plain NumPy reference engine, and runs are reproducible.

Promises:
- every preset of ``rules.PRESETS`` (and the option combinations it does not
  name: λ schedules, Stable SAM variants, RST with every schedule class, G-RST
  modes, independent ascent batches) gives the same metrics and final iterates
  in ``backend="numba"`` and ``backend="reference"`` to relative 1e-10, on
  every problem kind;
- so does every sampler;
- a diverging run gives the same ``diverged_at``, the same NaN pattern and the
  same frozen evaluation counts in both backends;
- the running iterate metrics (``track_iterates=True``) agree;
- results do not depend on the number of Numba threads, are identical for the
  same seed and differ for different seeds.
"""
import functools
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from samtheory import problems, rules, schedules, simulate
from samtheory.rules import (SGD, HeavyBall, SAM, USAM, UnifiedSAM, AdaSAM, AMSGrad, Adam,
                             StableSAM, RST, GRST, MSAM)
from samtheory.sampling import WithReplacement, Importance, TauNice, Independent, Stratified

RTOL = 1e-10
ATOL_FACTOR = 1e-12      # absolute tolerance, relative to the magnitudes seen so far (see below)
REPO_ROOT = Path(__file__).resolve().parents[1]


# -- helpers -----------------------------------------------------------------

def run_both(problem, rule, sampler, backends=("numba", "reference"), **options):
    """Run two backends with the same arguments; return their Trajectories (default:
    (numba, reference); ``tests/test_array_backend.py`` compares (array, numba))."""
    fast = simulate(problem, rule, sampler, backend=backends[0], **options)
    ref = simulate(problem, rule, sampler, backend=backends[1], **options)
    return fast, ref


def assert_close(name, fast, ref, scale):
    """Same shape, same NaN positions, |fast − ref| ≤ 1e-10 |ref| + 1e-12 scale elementwise.

    The absolute term only matters for values near 0 (a loss gap or gradient that
    has converged), whose rounding error is set by the magnitudes they were computed
    from, not by their own size: ``scale`` says how large those were.
    """
    fast, ref = np.asarray(fast), np.asarray(ref)
    assert fast.shape == ref.shape, f"{name}: shapes {fast.shape} != {ref.shape}"
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(ref), err_msg=f"{name}: NaN pattern")
    np.testing.assert_array_equal(np.isinf(fast), np.isinf(ref), err_msg=f"{name}: inf pattern")
    np.testing.assert_array_equal(fast[np.isinf(ref)], ref[np.isinf(ref)], err_msg=f"{name}: inf sign")
    finite = np.isfinite(ref)
    error = np.abs(fast[finite] - ref[finite])
    allowed = RTOL * np.abs(ref[finite]) + ATOL_FACTOR * np.broadcast_to(scale, ref.shape)[finite]
    worst = np.argmax(error - allowed) if error.size else None
    assert error.size == 0 or np.all(error <= allowed), (
        f"{name}: {np.sum(error > allowed)} of {error.size} values differ beyond rtol {RTOL:g}; "
        f"worst: {fast[finite][worst]!r} vs {ref[finite][worst]!r} (expected)")


def running_magnitude(values):
    """max_{s ≤ j} |values[r, s]| over the finite records of each row (0 elsewhere)."""
    size = np.where(np.isfinite(values), np.abs(values), 0.0)
    return np.maximum.accumulate(size, axis=1)


def assert_backends_agree(problem, rule, sampler, backends=("numba", "reference"), **options):
    fast, ref = run_both(problem, rule, sampler, backends, **options)
    np.testing.assert_array_equal(fast.steps, ref.steps)
    assert sorted(fast.metrics) == sorted(ref.metrics)
    np.testing.assert_array_equal(fast.diverged_at, ref.diverged_at, err_msg="diverged_at")
    np.testing.assert_array_equal(fast.metrics["grad_evals"], ref.metrics["grad_evals"],
                                  err_msg="grad_evals")
    # The record at a divergence step holds values computed at the edge of the float range,
    # where the order of operations alone decides between 1.2e308, inf and NaN: both backends
    # must flag it (loss_gap or grad_norm_sq non-finite); its values are not compared.
    edge = fast.steps[None, :] == fast.diverged_at[:, None]
    for traj in (fast, ref):
        flagged = ~(np.isfinite(traj.metrics["loss_gap"]) & np.isfinite(traj.metrics["grad_norm_sq"]))
        iterate_overflow = ~np.isfinite(traj.final_x).all(axis=1)[:, None]
        assert np.all(flagged[edge] | iterate_overflow[np.nonzero(edge)[0]]), "divergence record"
    for name in ref.metrics:
        if name != "grad_evals":
            a, b = fast.metrics[name].copy(), ref.metrics[name].copy()
            a[edge] = b[edge] = np.nan
            assert_close(name, a, b, running_magnitude(b))
    healthy = np.all(np.isfinite(ref.final_x), axis=1)
    scale = np.maximum(np.max(np.abs(ref.final_x[healthy]), axis=1, keepdims=True), 1.0)
    assert_close("final_x", fast.final_x[healthy], ref.final_x[healthy], scale)
    # A row whose iterate overflowed: the last update ran at the edge of the float range,
    # where the order of operations decides between ±1.5e308 and ±inf. Both backends must
    # have a non-finite iterate there, equal to rtol 1e-10 wherever both are finite.
    assert not np.all(np.isfinite(fast.final_x[~healthy]), axis=1).any(), "final_x overflow"
    both = np.isfinite(fast.final_x[~healthy]) & np.isfinite(ref.final_x[~healthy])
    np.testing.assert_allclose(fast.final_x[~healthy][both], ref.final_x[~healthy][both],
                               rtol=RTOL, err_msg="final_x (finite entries of overflowed rows)")
    return fast, ref


# -- problems ----------------------------------------------------------------

PROBLEMS = {
    "least_squares": lambda: problems.random_least_squares(16, 5, condition=10, seed=1),
    "least_squares_rank_deficient": lambda: problems.random_least_squares(16, 6, rank=3, seed=2),
    "sine_least_squares": lambda: problems.random_sine_least_squares(16, 4, seed=3),
    "logistic": lambda: problems.random_logistic(16, 4, seed=4),
    "saddle": lambda: problems.saddle(),
    "quadratic": lambda: problems.Quadratic([3.0, 1.0, 0.2]),
}


@functools.lru_cache(maxsize=None)
def get_problem(name):
    return PROBLEMS[name]()


# -- rules -------------------------------------------------------------------
# Each case maps (γ, ρ) — a step size and radius scaled to the problem — to a rule.

P_VALUES = np.linspace(0.9, 0.1, 24)    # an explicit probability array for 24-step runs

RULES = {
    "SGD": lambda lr, rho: SGD(lr),
    "SGD_inverse_sqrt_lr": lambda lr, rho: SGD(schedules.InverseSqrt(lr)),
    "HeavyBall": lambda lr, rho: HeavyBall(0.5 * lr, momentum=0.9),
    "SAM": lambda lr, rho: SAM(lr, rho),
    "SAM_rho_switches_off": lambda lr, rho: SAM(lr, schedules.Piecewise(rho, 0.0, 0.5)),
    "SAM_heavyball": lambda lr, rho: SAM(lr, rho, base="heavyball", momentum=0.5),
    "USAM": lambda lr, rho: USAM(lr, rho),
    "UnifiedSAM_lam0.3": lambda lr, rho: UnifiedSAM(lr, rho, 0.3),
    "UnifiedSAM_lam_schedule": lambda lr, rho: UnifiedSAM(lr, rho, lambda t: 1.0 / (t + 1.0)),
    "UnifiedSAM_lam_linear": lambda lr, rho: UnifiedSAM(lr, rho, schedules.Linear(0.0, 1.0)),
    "AdaSAM": lambda lr, rho: AdaSAM(0.02, rho),
    "AMSGrad": lambda lr, rho: AMSGrad(0.02),
    "Adam": lambda lr, rho: Adam(0.02),
    "Adam_amsgrad": lambda lr, rho: Adam(0.02, amsgrad=True),
    "StableSAM_lam0": lambda lr, rho: StableSAM(lr, rho, lam=0.0),
    "StableSAM_lam1": lambda lr, rho: StableSAM(lr, rho, lam=1.0),
    "StableSAM_cap": lambda lr, rho: StableSAM(lr, rho, lam=1.0, cap=True),
    "StableSAM_lam0_cap": lambda lr, rho: StableSAM(lr, rho, lam=0.0, cap=True),
    "StableAdaSAM": lambda lr, rho: AdaSAM(0.02, rho).stabilised(),
    "StableAdaSAM_cap": lambda lr, rho: AdaSAM(0.02, rho).stabilised(cap=True),
    "RST_float": lambda lr, rho: RST(lr, rho, 0.5),
    "RST_Constant": lambda lr, rho: RST(lr, rho, schedules.Constant(0.4)),
    "RST_InverseSqrt": lambda lr, rho: RST(lr, rho, schedules.InverseSqrt(1.0)),
    "RST_Piecewise": lambda lr, rho: RST(lr, rho, schedules.Piecewise(0.2, 0.8, 0.5)),
    "RST_Linear": lambda lr, rho: RST(lr, rho, schedules.Linear(0.1, 0.9)),
    "RST_TrigIncreasing": lambda lr, rho: RST(lr, rho, schedules.TrigIncreasing(0.1, 0.9)),
    "RST_TrigDecreasing": lambda lr, rho: RST(lr, rho, schedules.TrigDecreasing()),
    "RST_Explicit_array": lambda lr, rho: RST(lr, rho, schedules.Explicit(P_VALUES)),
    "RST_Explicit_callable": lambda lr, rho: RST(lr, rho, schedules.Explicit(
        lambda t: 0.5 + 0.4 * np.sin(t))),
    "RST_DecreasingRadius": lambda lr, rho: RST(lr, rho, schedules.DecreasingRadius(0.8)),
    "RST_DecreasingStep": lambda lr, rho: RST(lr, rho, schedules.DecreasingStep(0.9, 2.0)),
    "UnifiedSAM_decreasing": lambda lr, rho: UnifiedSAM(schedules.DecreasingStep(lr, 1.0),
                                                        schedules.DecreasingRadius(rho), 0.5),
    "RST_USAM": lambda lr, rho: RST(lr, rho, 0.5, lam=0.0),
    "GRST_mix": lambda lr, rho: GRST(lr, rho, schedules.Linear(0.3, 0.9), alpha=0.7, mode="mix"),
    "GRST_radius": lambda lr, rho: GRST(lr, rho, schedules.Linear(0.3, 0.9), alpha=0.7,
                                        mode="radius"),
    "MSAM": lambda lr, rho: MSAM(0.5 * lr, rho, momentum=0.9),
    "MSAM_lam0.5": lambda lr, rho: MSAM(0.5 * lr, rho, momentum=0.5, lam=0.5),
    "MSAM_adam": lambda lr, rho: rules.Rule(lr=0.02, rho=rho, ascent="momentum", base="adam",
                                            momentum=0.9, eps=1e-8, bias_correction=True),
    "SAM_independent_ascent": lambda lr, rho: SAM(lr, rho, ascent_batch="independent"),
    "StableSAM_independent_ascent": lambda lr, rho: StableSAM(lr, rho, lam=1.0,
                                                              ascent_batch="independent"),
    "GRST_mix_independent_ascent": lambda lr, rho: GRST(lr, rho, 0.5, alpha=1.5, mode="mix",
                                                        ascent_batch="independent"),
}


def make_rule(case, problem):
    """The rule of ``case`` with γ = 0.3/L_max and ρ = 0.1/L for this problem."""
    return RULES[case](0.3 / problem.L_max, 0.1 / problem.L)


RUN = dict(steps=24, trajectories=3, seed=2024, record_every=1)


def test_cases_cover_every_preset_and_schedule_class():
    probe = problems.Quadratic([1.0, 2.0])
    names = {make_rule(case, probe).name for case in RULES}
    assert set(rules.PRESETS) <= names, set(rules.PRESETS) - names
    assert "StableAdaSAM" in names
    schedule_classes = {cls.__name__ for cls in vars(schedules).values()
                        if isinstance(cls, type) and issubclass(cls, schedules.Schedule)
                        and cls is not schedules.Schedule}
    covered = {case.split("_", 1)[1] for case in RULES if case.startswith("RST_")}
    covered |= {"Explicit"} if {"Explicit_array", "Explicit_callable"} <= covered else set()
    assert schedule_classes <= covered, schedule_classes - covered


# -- every preset on every problem (one sampler) -------------------------------

@pytest.mark.parametrize("problem_name", list(PROBLEMS))
@pytest.mark.parametrize("case", list(RULES))
def test_presets_agree_on_every_problem(case, problem_name):
    problem = get_problem(problem_name)
    rule = make_rule(case, problem)
    fast, ref = assert_backends_agree(problem, rule, WithReplacement(2), **RUN)
    assert not fast.diverged.any()   # the comparison is about healthy runs here
    if rule.perturbs and case != "SAM_rho_switches_off":
        # the perturbed branch ran: more than one gradient per step somewhere (not MSAM)
        if rule.ascent == "gradient":
            assert ref.metrics["grad_evals"][:, -1].max() > RUN["steps"]


# -- every sampler (a few presets) ----------------------------------------------

def _custom_p(n):
    weights = np.arange(1.0, n + 1.0)
    return weights / weights.sum()


def _equal_blocks(n):
    """A shuffled partition into 4 blocks of equal size (n divisible by 4)."""
    return np.random.default_rng(5).permutation(n).reshape(4, -1).tolist()


def _uneven_blocks(n):
    """A shuffled partition into blocks of sizes 1, 3, 5 and n − 9 (a plain list)."""
    order = np.random.default_rng(5).permutation(n)
    return [order[:1], order[1:4], order[4:9], order[9:]]


SAMPLERS = {
    "WithReplacement_uniform": lambda n: WithReplacement(3),
    "WithReplacement_custom_p": lambda n: WithReplacement(3, p=_custom_p(n)),
    "WithReplacement_single": lambda n: WithReplacement(1),
    "Importance": lambda n: Importance(3),
    "TauNice": lambda n: TauNice(3),
    "TauNice_full_batch": lambda n: TauNice(n),
    "Independent_scalar": lambda n: Independent(0.3),
    "Independent_array": lambda n: Independent(np.linspace(0.1, 0.9, n)),
    "Stratified_int": lambda n: Stratified(4),
    "Stratified_equal_blocks": lambda n: Stratified(_equal_blocks(n)),
    "Stratified_uneven_blocks": lambda n: Stratified(_uneven_blocks(n)),
}

SAMPLER_RULES = ["SAM", "GRST_mix_independent_ascent", "StableAdaSAM", "MSAM"]
SAMPLER_RUN = dict(steps=20, trajectories=4, seed=77, record_every=3)


@pytest.mark.parametrize("problem_name", ["least_squares", "logistic"])
@pytest.mark.parametrize("case", SAMPLER_RULES)
@pytest.mark.parametrize("sampler_name", list(SAMPLERS))
def test_samplers_agree(sampler_name, case, problem_name):
    problem = get_problem(problem_name)
    sampler = SAMPLERS[sampler_name](problem.n)
    assert_backends_agree(problem, make_rule(case, problem), sampler, **SAMPLER_RUN)


def test_stratified_accepts_a_list_of_uneven_blocks():
    sampler = Stratified([[0], [1, 2, 3], [4, 5]])
    assert sampler.partition(problems.Quadratic([1.0] * 6))[1].tolist() == [1, 2, 3]


def test_per_trajectory_starting_points_agree():
    problem = get_problem("sine_least_squares")
    x0 = np.random.default_rng(3).standard_normal((5, problem.d))
    assert_backends_agree(problem, make_rule("RST_Linear", problem), Independent(0.4),
                          steps=30, trajectories=5, seed=9, record_every=4, x0=x0)


# -- divergence ---------------------------------------------------------------

def _diverging_setup():
    """Least squares with targets y = 0, run by SGD with γ = 10: trajectory 0 starts at the
    minimiser x* = 0, where every ∇f_i vanishes exactly, so it never moves; the others blow up."""
    base = problems.random_least_squares(16, 5, seed=6)
    problem = problems.LeastSquares(base.A, np.zeros(base.n))
    x0 = np.random.default_rng(8).standard_normal((4, problem.d))
    x0[0] = 0.0
    return problem, x0


def assert_divergence_pattern(traj, r):
    """Records before ``diverged_at`` finite, after it NaN (grad_evals frozen instead);
    at a record step equal to ``diverged_at``, loss_gap or grad_norm_sq is non-finite."""
    t = traj.diverged_at[r]
    before, at, after = traj.steps < t, traj.steps == t, traj.steps > t
    for name, values in traj.metrics.items():
        assert np.all(np.isfinite(values[r, before])), name
        if name == "grad_evals":
            frozen = values[r, at | after]
            assert np.all(frozen == frozen[0]) and np.isfinite(frozen[0]), name
        else:
            assert np.all(np.isnan(values[r, after])), name
    if at.any():
        assert not (np.isfinite(traj.metrics["loss_gap"][r, at])
                    & np.isfinite(traj.metrics["grad_norm_sq"][r, at])).all()


@pytest.mark.parametrize("record_every", [1, 7, 1000])
def test_divergence_agrees(record_every):
    problem, x0 = _diverging_setup()
    fast, ref = assert_backends_agree(problem, SGD(10.0), WithReplacement(2), steps=400,
                                      trajectories=4, seed=1, record_every=record_every, x0=x0)
    assert ref.diverged_at[0] == -1 and np.all(ref.diverged_at[1:] > 0)
    np.testing.assert_array_equal(ref.final_x[0], 0.0)
    for traj in (fast, ref):
        for r in range(1, 4):
            assert_divergence_pattern(traj, r)
    if record_every == 1000:
        # records at 0 and 400 only: the iterate itself overflows between them
        assert not np.isin(ref.diverged_at[1:], ref.steps).any()
        assert not np.isfinite(ref.final_x[1:]).all(axis=1).any()
    else:
        # a recorded metric overflows (f ~ ‖x‖²) long before the iterate does
        assert np.isin(ref.diverged_at[1:], ref.steps).all()


DIVERGING_RULES = (USAM(2.0, 5.0), HeavyBall(8.0, momentum=0.9), StableSAM(10.0, 1.0, lam=0.0),
                   MSAM(8.0, 1.0, momentum=0.9))


def test_divergence_of_other_rules_agrees():
    problem, x0 = _diverging_setup()
    for rule in DIVERGING_RULES:
        fast, ref = assert_backends_agree(problem, rule, TauNice(3), steps=300, trajectories=4,
                                          seed=2, record_every=5, x0=x0)
        assert ref.diverged_at[0] == -1 and np.all(ref.diverged_at[1:] > 0), rule.name
        for r in range(1, 4):
            assert_divergence_pattern(fast, r)


@pytest.mark.parametrize("backends", [("numba", "reference"), ("array", "numba")])
def test_stable_sam_norm_overflow_is_divergence(backends):
    """Stable SAM beyond its threshold: once ‖h‖² overflows (|x| ~ 1e154) the scale
    ‖g‖/‖h‖ would be 0 and the iterate would stop at a huge finite value; instead the
    trajectory is flagged as diverged, at the same step in every backend."""
    problem = problems.Quadratic([10.0, 3.0, 1.0])
    fast, ref = run_both(problem, StableSAM(0.25, 0.05), TauNice(3), backends, steps=2000,
                         trajectories=1, record_every=100)
    assert ref.diverged[0] and fast.diverged_at[0] == ref.diverged_at[0]
    # the top factor is |1 − 2.5| = 1.5 per step: ‖h‖² ≈ (λ₁(1 + ρλ₁)|x|)² passes 1.8e308 at step 870
    assert ref.diverged_at[0] == 870
    assert np.isnan(ref.metrics["loss_gap"][0, -1])


# -- running iterate metrics ----------------------------------------------------

TRACK_PROBLEMS = ["least_squares", "sine_least_squares", "logistic", "saddle"]
TRACK_CASES = ["SGD", "SAM", "RST_TrigDecreasing", "AdaSAM"]
TRACK_RUN = dict(steps=30, trajectories=3, seed=4, record_every=4, track_iterates=True)


@pytest.mark.parametrize("problem_name", TRACK_PROBLEMS)
@pytest.mark.parametrize("case", TRACK_CASES)
def test_track_iterates_agrees(case, problem_name):
    problem = get_problem(problem_name)
    fast, ref = assert_backends_agree(problem, make_rule(case, problem), TauNice(2), **TRACK_RUN)
    assert {"avg_grad_norm_sq", "min_grad_norm_sq"} <= set(fast.metrics)
    first = ref.metrics["grad_norm_sq"][:, 0]
    np.testing.assert_array_equal(ref.metrics["avg_grad_norm_sq"][:, 0], first)
    np.testing.assert_array_equal(ref.metrics["min_grad_norm_sq"][:, 0], first)


def test_track_iterates_with_divergence_agrees():
    problem, x0 = _diverging_setup()
    assert_backends_agree(problem, SGD(10.0), WithReplacement(2), steps=300, trajectories=4,
                          seed=3, record_every=10, x0=x0, track_iterates=True)


# -- reproducibility ------------------------------------------------------------

REPRO_SCRIPT = textwrap.dedent("""
    import sys
    import numba
    import numpy as np
    import samtheory as st

    out_dir = sys.argv[1]
    problem = st.problems.random_logistic(32, 5, seed=7)
    rule = st.GRST(0.1, 0.05, st.schedules.Linear(0.2, 0.9), alpha=0.8, ascent_batch="independent")
    out = st.simulate(problem, rule, st.Independent(0.2), steps=60, trajectories=16, seed=11,
                      record_every=5, track_iterates=True)
    np.save(f"{out_dir}/final_x.npy", out.final_x)
    np.save(f"{out_dir}/diverged_at.npy", out.diverged_at)
    for name, values in out.metrics.items():
        np.save(f"{out_dir}/{name}.npy", values)
    print(numba.get_num_threads())
""")


def _run_in_subprocess(out_dir, threads):
    out_dir.mkdir()
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", REPRO_SCRIPT, str(out_dir)], env=env,
                          capture_output=True, text=True, timeout=600, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == str(threads)
    return {path.stem: np.load(path) for path in sorted(out_dir.glob("*.npy"))}


def test_results_do_not_depend_on_thread_count(tmp_path):
    one = _run_in_subprocess(tmp_path / "threads1", 1)
    two = _run_in_subprocess(tmp_path / "threads2", 2)
    assert sorted(one) == sorted(two)
    assert {"final_x", "loss_gap", "grad_norm_sq", "grad_evals", "avg_grad_norm_sq"} <= set(one)
    for name in one:
        assert np.array_equal(one[name], two[name]), name


def test_same_seed_is_identical_and_different_seeds_differ():
    problem = get_problem("least_squares")
    rule = make_rule("RST_Linear", problem)
    options = dict(steps=40, trajectories=6, record_every=5)
    a = simulate(problem, rule, TauNice(3), seed=123, **options)
    b = simulate(problem, rule, TauNice(3), seed=123, **options)
    c = simulate(problem, rule, TauNice(3), seed=124, **options)
    assert np.array_equal(a.final_x, b.final_x)
    for name in a.metrics:
        assert np.array_equal(a.metrics[name], b.metrics[name]), name
    assert not np.array_equal(a.final_x, c.final_x)
    assert not np.array_equal(a.metrics["loss_gap"], c.metrics["loss_gap"])
    # the trajectories of one run are distinct streams, not copies
    assert len({tuple(row) for row in a.final_x}) == a.trajectories


def test_reference_backend_is_reproducible():
    problem = get_problem("logistic")
    rule = make_rule("SAM_independent_ascent", problem)
    options = dict(steps=10, trajectories=2, record_every=2, backend="reference")
    a = simulate(problem, rule, Independent(0.3), seed=5, **options)
    b = simulate(problem, rule, Independent(0.3), seed=5, **options)
    assert np.array_equal(a.final_x, b.final_x)
    for name in a.metrics:
        assert np.array_equal(a.metrics[name], b.metrics[name]), name
