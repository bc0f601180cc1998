"""``simulate``: validate, draw nothing up front, allocate, dispatch to a backend.

Backends: ``numba`` (the compiled kernel), ``reference`` (plain NumPy, one
trajectory at a time), ``array`` (``engine.vectorised`` on NumPy), ``cupy``
(the same code on a GPU) and ``auto`` (cupy when a GPU is usable, else numba;
the choice and its reason go to ``config["backend_auto"]`` and the
``samtheory`` logger at INFO level).
"""
from importlib.metadata import PackageNotFoundError, version
import logging
import math
import os

import numpy as np

from .. import _validate
from ..problems.base import FiniteSum
from ..results import Trajectories
from ..rules import ASCENTS as _ASCENTS, BASES as _BASES, GRST_MODES as _GRST, Rule
from ..sampling import Sampler
from . import kernel, vectorised

BACKENDS = ("numba", "reference", "array", "cupy", "auto")
ARRAY_BACKENDS = ("array", "cupy")
HOST_FRACTION = 0.8   # of the available host memory the outputs (and a NumPy chunk) may take
log = logging.getLogger("samtheory")


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


def available_host_bytes():
    """Memory the system can give without swapping (Linux ``MemAvailable``), or None."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def choose_auto():
    """("cupy" or "numba", a sentence saying why) for ``backend="auto"``."""
    cupy, description = vectorised.probe_cupy()
    if cupy is not None:
        return "cupy", f"backend='auto' chose cupy: {description}"
    return "numba", f"backend='auto' chose numba (no usable GPU: {description})"


def memory_plan(problem, rule, sampler, *, steps, trajectories, record_every=None,
                track_iterates=False, backend="array", chunk_size=None, device=None):
    """The memory a run needs, and the chunk the array backends would use.

    Returns a dict of bytes (and counts): ``host_output_bytes`` (recorded
    metrics, starting and final iterates, divergence steps: every backend
    allocates these on the host), ``chunk_size`` and ``device_peak_bytes_estimate``
    (one chunk's working memory plus the problem data on the device;
    ``engine.vectorised.chunk_bytes_per_trajectory``), both None for numba and
    reference, ``records``, and ``available_host_bytes`` (None if unknown).
    """
    _validate.choice("backend", backend, ("numba", "reference") + ARRAY_BACKENDS)
    steps = _validate.positive_int("steps", steps)
    trajectories = _validate.positive_int("trajectories", trajectories)
    record_every = max(1, steps // 100) if record_every is None else _validate.positive_int(
        "record_every", record_every)
    records = record_steps(steps, record_every).size
    metrics = len(vectorised.metric_names(problem, track_iterates))
    # (trajectories, records) arrays held at once: the Numba kernel fills six and converts
    # the evaluation counts to integers; the reference converts them too.
    arrays = {"numba": 7, "reference": metrics + 1}.get(backend, metrics)
    plan = {"records": records, "host_output_bytes": 8 * trajectories * (
        records * arrays + 2 * problem.d + 1), "chunk_size": None,
        "device_peak_bytes_estimate": None, "available_host_bytes": available_host_bytes()}
    if backend in ARRAY_BACKENDS:
        bound = sampler.bind(problem)
        device = device or (vectorised.NUMPY if backend == "array" else vectorised.cupy_device())
        per_trajectory = vectorised.chunk_bytes_per_trajectory(problem, rule, bound)
        if chunk_size is None:
            chunk_size = max(1, device.budget // per_trajectory)
        plan["chunk_size"] = chunk = min(chunk_size, trajectories)
        plan["device_peak_bytes_estimate"] = (chunk * per_trajectory
                                              + vectorised.problem_bytes(problem, bound))
    return plan


def _check_host_memory(plan, backend, steps, trajectories):
    """Refuse up front a run whose outputs cannot fit in the host's memory."""
    need = plan["host_output_bytes"]
    if backend == "array":   # the NumPy "device" is host memory too
        need += plan["device_peak_bytes_estimate"]
    available = plan["available_host_bytes"]
    if available is None or need <= HOST_FRACTION * available:
        return
    per_record = need / plan["records"]   # a generous share: every byte counted per record
    records = max(1, int(HOST_FRACTION * available // per_record) - 1)
    raise ValueError(
        f"the outputs of this run need {need / 2 ** 30:.3g} GiB ({need} bytes: {trajectories} "
        f"trajectories x {plan['records']} records of every metric, plus the iterates) but the "
        f"host has {available / 2 ** 30:.3g} GiB available; record less often (record_every >= "
        f"{math.ceil(steps / records)}) or split the trajectories over several calls with "
        "different seeds")


def simulate(problem, rule, sampler, *, steps, trajectories, seed=0, record_every=None, x0=None,
             track_iterates=False, backend="numba", chunk_size=None):
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
    backend : "numba" | "reference" | "array" | "cupy" | "auto"
        The compiled kernel; the plain NumPy reference (slow; for checks); the
        array backend on NumPy or on a GPU through CuPy (``pip install -e
        '.[gpu]'``), all drawing the same random streams; or ``auto``: cupy when
        CuPy and a GPU are usable, else numba (the choice is logged and stored
        in ``config["backend_auto"]``). ``config["backend"]`` names the backend
        that ran.
    chunk_size : int >= 1, optional
        Array backends only: trajectories advanced together. Default: as many
        as fit the device's working-memory budget (``memory_plan``). Results do
        not depend on it; ``config`` records it and the estimated peak device
        memory (``peak_device_bytes_estimate``; with CuPy also the measured
        ``peak_device_bytes_measured``, the memory pool's high-water mark).

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
    if chunk_size is not None:
        if backend not in ARRAY_BACKENDS + ("auto",):
            raise ValueError(f"chunk_size applies only to backend 'array', 'cupy' or 'auto', "
                             f"not {backend!r}")
        chunk_size = _validate.positive_int("chunk_size", chunk_size)
    auto_note = None
    if backend == "auto":
        backend, auto_note = choose_auto()
        log.info(auto_note)
    device = vectorised.NUMPY if backend == "array" else None
    if backend == "cupy":
        device = vectorised.cupy_device()   # RuntimeError naming what is missing
    bound = sampler.bind(problem)
    lr, rho, lam, prob = rule.arrays(steps)
    plan = memory_plan(problem, rule, sampler, steps=steps, trajectories=trajectories,
                       record_every=record_every, track_iterates=track_iterates, backend=backend,
                       chunk_size=chunk_size, device=device)
    _check_host_memory(plan, backend, steps, trajectories)
    starts = starting_points(problem, x0, trajectories)
    rec = record_steps(steps, record_every)
    config = {"samtheory_version": _package_version(), "problem": problem.describe(),
              "rule": rule.describe(), "sampler": sampler.describe(), "seed": int(seed),
              "steps": steps, "trajectories": trajectories, "record_every": record_every,
              "track_iterates": bool(track_iterates), "backend": backend,
              "x0": "problem default" if x0 is None else "given"}
    if auto_note is not None:
        config["backend_auto"] = auto_note
    schedules = {"lr": lr, "rho": rho, "lam": lam, "perturb_prob": prob}
    problem_data = {"A": problem.A, "y": problem.y, "signs": problem.signs,
                    "reg_center": problem.reg_center, "x0": starts}
    if backend == "reference":
        from .reference import simulate_reference
        metrics, final_x, diverged_at = simulate_reference(
            problem, rule, sampler, steps=steps, trajectories=trajectories, seed=seed,
            record_steps=rec, x0=starts, track_iterates=track_iterates)
    elif backend in ARRAY_BACKENDS:
        metrics, final_x, diverged_at, pool_peak = vectorised.simulate_array(
            problem, rule, bound, schedules, starts, seed, rec, bool(track_iterates),
            device=device, chunk_size=plan["chunk_size"])
        config.update(device=device.name, chunk_size=plan["chunk_size"],
                      peak_device_bytes_estimate=plan["device_peak_bytes_estimate"],
                      peak_device_bytes_measured=pool_peak)
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
