"""``simulate``: validate, draw nothing up front, allocate, run the compiled kernel."""
from importlib.metadata import PackageNotFoundError, version

import numpy as np

from .. import _validate
from ..problems.base import FiniteSum
from ..results import Trajectories
from ..rules import ASCENTS as _ASCENTS, BASES as _BASES, GRST_MODES as _GRST, Rule
from ..sampling import Sampler
from . import kernel

BACKENDS = ("numba", "reference")


def _package_version():
    try:
        return version("samtheory")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def record_steps(steps, record_every):
    """0, k, 2k, ... and always the last step."""
    out = np.arange(0, steps + 1, record_every, dtype=np.int64)
    return out if out[-1] == steps else np.append(out, steps)


def starting_points(problem, x0, trajectories):
    """(trajectories, d) starting points from None (problem.x0), (d,) or (trajectories, d)."""
    x0 = problem.x0 if x0 is None else x0
    x0 = _validate.finite_array("x0", x0)
    if x0.shape == (problem.d,):
        return np.repeat(x0[None, :], trajectories, axis=0)
    if x0.shape != (trajectories, problem.d):
        raise ValueError(f"x0 must have shape ({problem.d},) or ({trajectories}, {problem.d}), got {x0.shape}")
    return np.ascontiguousarray(x0)


def simulate(problem, rule, sampler, *, steps, trajectories, seed=0, record_every=None, x0=None,
             track_iterates=False, backend="numba"):
    r"""Run ``trajectories`` independent trajectories of ``rule`` on ``problem``.

    Parameters
    ----------
    problem : problems.FiniteSum
    rule : rules.Rule (a preset such as ``SAM(lr=0.1, rho=0.05)``)
    sampler : sampling.Sampler
    steps : int >= 1
        Iterations T per trajectory.
    trajectories : int >= 1
    seed : int in [0, 2**64)
        With the trajectory index, fixes every random draw (``engine.rng``).
    record_every : int >= 1, optional
        Record metrics at t = 0, k, 2k, ... and at T; default max(1, T // 100).
    x0 : (d,) or (trajectories, d) array, optional
        Starting point(s); default ``problem.x0``.
    track_iterates : bool
        Also evaluate ‖∇f(x_t)‖² at every step for the running average and
        minimum over all iterates (costs one full gradient per step).
    backend : "numba" | "reference"
        The compiled kernel, or the plain NumPy reference (slow; for checks).

    Returns
    -------
    results.Trajectories
    """
    _validate.instance("problem", problem, FiniteSum, "a problem (samtheory.problems.FiniteSum)")
    _validate.instance("rule", rule, Rule, "an update rule (e.g. samtheory.SAM(lr=0.1, rho=0.05))")
    _validate.instance("sampler", sampler, Sampler, "a sampler (e.g. samtheory.WithReplacement(8))")
    steps = _validate.positive_int("steps", steps)
    trajectories = _validate.positive_int("trajectories", trajectories)
    record_every = max(1, steps // 100) if record_every is None else _validate.positive_int(
        "record_every", record_every)
    seed = _validate.seed(seed)
    if not isinstance(track_iterates, (bool, np.bool_)):
        raise ValueError(f"track_iterates must be True or False, got {track_iterates!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
    bound = sampler.bind(problem)
    lr, rho, lam, prob = rule.arrays(steps)
    starts = starting_points(problem, x0, trajectories)
    rec = record_steps(steps, record_every)
    config = {"samtheory_version": _package_version(), "problem": problem.describe(),
              "rule": rule.describe(), "sampler": sampler.describe(), "seed": int(seed),
              "steps": steps, "trajectories": trajectories, "record_every": record_every,
              "track_iterates": bool(track_iterates), "backend": backend,
              "x0": "problem default" if x0 is None else "given"}
    schedules = {"lr": lr, "rho": rho, "lam": lam, "perturb_prob": prob}
    problem_data = {"A": problem.A, "y": problem.y, "signs": problem.signs,
                    "reg_center": problem.reg_center, "x0": starts}
    if backend == "reference":
        from .reference import simulate_reference
        metrics, final_x, diverged_at = simulate_reference(
            problem, rule, sampler, steps=steps, trajectories=trajectories, seed=seed,
            record_steps=rec, x0=starts, track_iterates=track_iterates)
    else:
        metrics, final_x, diverged_at = _run_numba(problem, rule, bound, schedules, starts, seed,
                                                   rec, track_iterates)
    return Trajectories(rec, metrics, final_x, diverged_at, schedules, config, problem_data)


def _run_numba(problem, rule, bound, schedules, starts, seed, rec, track):
    trajectories, d = starts.shape
    shape = (trajectories, rec.size)
    gap, grad, dist, evals, avg, mn = (np.empty(shape) for _ in range(6))
    final_x = np.empty((trajectories, d))
    diverged_at = np.empty(trajectories, dtype=np.int64)
    x_star = problem.x_star if problem.x_star is not None else np.zeros(d)
    def f64(array):   # C-contiguous, writable float64: Numba types read-only arrays apart
        array = np.ascontiguousarray(array, dtype=np.float64)
        return array if array.flags.writeable else array.copy()

    # Every argument is cast to one fixed type, so the kernel compiles exactly once.
    kernel.run(int(problem.loss_kind), int(problem.reg_kind), f64(problem.A), f64(problem.y),
               f64(problem.signs), float(problem.reg_strength), f64(problem.reg_center),
               f64(problem.hessian), f64(problem.linear), float(problem.constant), f64(x_star),
               problem.x_star is not None, bool(problem.exact_gap),
               float(problem.gap_offset if problem.exact_gap else problem.loss_reference),
               int(bound.kind), bool(bound.uniform_probabilities), int(bound.batch),
               int(bound.max_batch), int(bound.uniforms_per_step), f64(bound.table),
               np.ascontiguousarray(bound.offsets, dtype=np.int64), f64(bound.index_weights),
               schedules["lr"], schedules["rho"], schedules["lam"], schedules["perturb_prob"],
               _ASCENTS[rule.ascent], rule.ascent_batch == "independent", _GRST[rule.grst_mode],
               float(rule.grst_alpha), bool(rule.stable), bool(rule.stable_cap), _BASES[rule.base],
               float(rule.momentum), float(rule.beta2), float(rule.eps), float(rule.vhat_init),
               bool(rule.amsgrad), bool(rule.bias_correction),
               f64(starts), np.uint64(seed), np.ascontiguousarray(rec, dtype=np.int64), bool(track),
               gap, grad, dist, evals, avg, mn, final_x, diverged_at)
    metrics = {"loss_gap": gap, "grad_norm_sq": grad, "grad_evals": evals.astype(np.int64)}
    if problem.x_star is not None:
        metrics["dist_sq"] = dist
    if track:
        metrics["avg_grad_norm_sq"] = avg
        metrics["min_grad_norm_sq"] = mn
    return metrics, final_x, diverged_at
