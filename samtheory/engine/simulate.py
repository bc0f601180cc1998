"""``simulate``: validate, draw nothing up front, allocate, dispatch to a backend.

Backends: ``numba`` (the compiled kernel), ``reference`` (plain NumPy, one
trajectory at a time), ``array`` (``engine.vectorised`` on NumPy), ``cupy``
(the same code on a GPU), ``auto`` (cupy when a GPU is usable, else numba;
the choice and its reason go to ``config["backend_auto"]`` and the
``samtheory`` logger at INFO level) and ``exact`` (``engine.exact``: the exact
expectations of affine rules on quadratic finite sums, no Monte Carlo).
"""
from importlib.metadata import PackageNotFoundError, version
import logging
import math
import os
import time

import numpy as np

from .. import _validate
from ..problems.base import FiniteSum, Problem
from ..results import Trajectories
from ..rules import ASCENTS as _ASCENTS, BASES as _BASES, GRST_MODES as _GRST, Rule
from ..sampling import Sampler
from . import args, kinds, vectorised

BACKENDS = ("numba", "reference", "array", "cupy", "auto", "exact")
ARRAY_BACKENDS = ("array", "cupy")
HOST_FRACTION = 0.8   # of the available host memory the outputs (and a NumPy chunk) may take
SLICE_SECONDS = 0.25      # the Numba kernel runs in slices of about this long (``step_slices``)
FIRST_SLICE_WORK = 4096   # trajectory-steps in the first slice
SLICE_GROWTH = 8          # a slice is at most this many times longer than the one before
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


# Where ``host_memory_limit`` reads: the system's memory, this process's address space, and
# the cgroup (v2, then v1) memory limit and usage files of this container.
MEMINFO = "/proc/meminfo"
PROCESS_STATUS = "/proc/self/status"
CGROUP_MEMORY_FILES = (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                       ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                        "/sys/fs/cgroup/memory/memory.usage_in_bytes"))


def _read_int(path, key=None):
    """The integer in ``path`` (with ``key``: on the line starting with it, in kB as in
    /proc), or None when the file is missing or holds no number (cgroup v2's "max")."""
    try:
        with open(path) as lines:
            for line in lines:
                if key is None:
                    return int(line)
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def host_memory_limit():
    """(bytes, source): the memory this process can still allocate, and where the figure
    comes from; (None, reason) when nothing is known.

    The least of: the system's ``MemAvailable`` (/proc/meminfo; else the available
    pages from ``os.sysconf``); the container's cgroup limit less its usage
    (``CGROUP_MEMORY_FILES``); the address-space limit ``RLIMIT_AS`` (``ulimit -v``)
    less this process's address space (``VmSize`` in /proc/self/status).
    """
    found = []
    available = _read_int(MEMINFO, "MemAvailable:")
    if available is not None:
        found.append((available, "MemAvailable in /proc/meminfo"))
    else:
        try:
            found.append((os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"),
                          "available pages (os.sysconf)"))
        except (AttributeError, ValueError, OSError):
            pass
    for limit_path, usage_path in CGROUP_MEMORY_FILES:
        limit, usage = _read_int(limit_path), _read_int(usage_path)
        if limit is not None and usage is not None:
            found.append((max(0, limit - usage), f"cgroup limit {limit_path} = {limit} bytes, "
                                                 f"{usage} in use"))
            break
    try:
        import resource   # Unix only
        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        soft = None if soft == resource.RLIM_INFINITY else soft
    except (ImportError, OSError, ValueError):
        soft = None
    if soft is not None:
        used = _read_int(PROCESS_STATUS, "VmSize:") or 0
        found.append((max(0, soft - used), f"address-space limit RLIMIT_AS (ulimit -v) = {soft} "
                                           f"bytes, {used} in use"))
    return min(found) if found else (None, "unknown")


def available_host_bytes():
    """The memory this process can still allocate (``host_memory_limit``), or None."""
    return host_memory_limit()[0]


def choose_auto():
    """("cupy" or "numba", a sentence saying why) for ``backend="auto"``."""
    cupy, description = vectorised.probe_cupy()
    if cupy is not None:
        return "cupy", f"backend='auto' chose cupy: {description}"
    return "numba", f"backend='auto' chose numba (no usable GPU: {description})"


def record_count(steps, record_every):
    """``record_steps(steps, record_every).size`` without building the array: ⌈T/k⌉ + 1."""
    return -(-steps // record_every) + 1


def memory_plan(problem, rule, sampler, *, steps, trajectories, record_every=None,
                track_iterates=False, backend="array", chunk_size=None, device=None,
                track_sharpness=False):
    """The memory a run needs, and the chunk the array backends would use.

    Returns a dict of bytes (and counts):

    - ``host_output_bytes``: recorded metrics, starting and final iterates,
      divergence steps (every backend allocates these on the host);
    - ``host_work_bytes``: the rest the host holds during the run: the four per-step
      schedules (lr, rho, lam, perturb_prob: 4 × 8 bytes a step, plus 3 × 8 a step
      while one is evaluated), the record steps, and the Numba kernel's state
      (momentum and Adam buffers, counters, running sums) or the reference's random
      draws (indices, weights and counts of two streams and the coins, drawn up front);
    - ``host_bytes``: all the host needs, their sum plus, for ``array``, the NumPy chunk;
    - ``chunk_size`` and ``device_peak_bytes_estimate`` (one chunk's working memory plus
      the problem data on the device; ``engine.vectorised.chunk_bytes_per_trajectory``),
      both None for numba and reference;
    - ``records``, ``per_record_bytes`` (what one more record costs on the host),
      ``schedule_bytes`` (the schedules' part of ``host_work_bytes``), and
      ``available_host_bytes`` with ``available_host_source`` (``host_memory_limit``).
    """
    _validate.choice("backend", backend, ("numba", "reference") + ARRAY_BACKENDS)
    steps = _validate.positive_int("steps", steps)
    trajectories = _validate.positive_int("trajectories", trajectories)
    record_every = max(1, steps // 100) if record_every is None else _validate.positive_int(
        "record_every", record_every)
    records = record_count(steps, record_every)
    metrics = len(vectorised.metric_names(problem, track_iterates))
    # (trajectories, records) arrays held at once: the Numba kernel fills six and converts
    # the evaluation counts to integers; the reference converts them too.
    arrays = {"numba": 7, "reference": metrics + 1}.get(backend, metrics) + 3 * bool(track_sharpness)
    per_record = 8 * trajectories * arrays + 16   # + the record step (built, then appended to)
    schedules = 8 * steps * (4 + 3)
    work = schedules + 16 * records
    bound = sampler.bind(problem)
    if backend == "numba":
        has_m, has_v = kernel_buffers(rule)
        work += 8 * trajectories * (problem.d * (has_m + 2 * has_v) + 4)
    elif backend == "reference":
        per_step = 2 * (16 * bound.max_batch + 8) + 8 + 40 * bound.uniforms_per_step
        work += trajectories * steps * per_step
    available, source = host_memory_limit()
    plan = {"records": records, "per_record_bytes": per_record, "schedule_bytes": schedules,
            "host_output_bytes": 8 * trajectories * (records * arrays + 2 * problem.d + 1),
            "host_work_bytes": work, "chunk_size": None, "device_peak_bytes_estimate": None,
            "available_host_bytes": available, "available_host_source": source}
    plan["host_bytes"] = plan["host_output_bytes"] + work
    if backend in ARRAY_BACKENDS:
        device = device or (vectorised.NUMPY if backend == "array" else vectorised.cupy_device())
        per_trajectory = vectorised.chunk_bytes_per_trajectory(problem, rule, bound)
        if chunk_size is None:
            chunk_size = max(1, device.budget // per_trajectory)
        plan["chunk_size"] = chunk = min(chunk_size, trajectories)
        plan["device_peak_bytes_estimate"] = (chunk * per_trajectory
                                              + vectorised.problem_bytes(problem, bound))
        if backend == "array":   # the NumPy "device" is host memory too
            plan["host_bytes"] += plan["device_peak_bytes_estimate"]
    return plan


def _check_host_memory(plan, steps, trajectories):
    """Refuse up front a run that cannot fit in the host's memory, with the figures and,
    where recording less often is enough, the smallest ``record_every`` that fits."""
    need, available = plan["host_bytes"], plan["available_host_bytes"]
    if available is None or need <= HOST_FRACTION * available:
        return
    recorded = plan["per_record_bytes"] * plan["records"]
    rest = need - recorded - plan["schedule_bytes"]
    budget = int(HOST_FRACTION * available)
    text = (f"this run needs {_size(need)} of host memory ({need} bytes: {_size(recorded)} for "
            f"{trajectories} trajectories x {plan['records']} records, "
            f"{_size(plan['schedule_bytes'])} for the per-step schedules of {steps} steps, "
            f"{_size(rest)} for the iterates and the working state) but only {HOST_FRACTION:g} x "
            f"{_size(available)} = {_size(budget)} may be used ({plan['available_host_source']}); ")
    fits = (budget - (need - recorded)) // plan["per_record_bytes"]   # records that fit
    if fits >= 2:   # t = 0 and t = T at least; ⌈T/k⌉ + 1 <= fits  <=>  k >= T / (fits − 1)
        text += (f"record less often (record_every >= {math.ceil(steps / (fits - 1))}) or split "
                 "the trajectories over several calls with different seeds")
    else:
        text += ("recording less often cannot make it fit: use fewer steps, or split the "
                 "trajectories over several calls with different seeds")
    raise ValueError(text)


def _size(count):
    """A byte count in the largest binary unit that keeps it >= 1 (at most TiB)."""
    for power, unit in ((40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")):
        if count >= 2 ** power:
            return f"{count / 2 ** power:.3g} {unit}"
    return f"{count} bytes"


def simulate(problem, rule, sampler, *, steps, trajectories, seed=0, record_every=None, x0=None,
             track_iterates=False, track_sharpness=False, backend="numba", chunk_size=None):
    r"""Run ``trajectories`` independent trajectories of ``rule`` on ``problem``.

    Parameters
    ----------
    problem : problems.Problem
        A ``FiniteSum``, a ``Custom`` problem or a built-in landscape (``problems.landscapes``).
    rule : rules.Rule (a preset such as ``SAM(lr=0.1, rho=0.05)``)
    sampler : sampling.Sampler
    steps : int >= 1
        Iterations T per trajectory.
    trajectories : int >= 1
    seed : int in [0, 2**64)
        With the trajectory index, fixes every random draw (``_core.rng``).
    record_every : int >= 1, optional
        Record metrics at t = 0, k, 2k, ... and at T; default max(1, T // 100).
    x0 : (d,) or (trajectories, d) array, optional
        Starting point(s); default ``problem.x0``.
    track_iterates : bool
        Also evaluate ‖∇f(x_t)‖² at every step for the running average and
        minimum over all iterates (costs one full gradient per step).
    track_sharpness : bool
        Also record, at every record step, ``sharpness`` λ_max(∇²f(x_t)) and
        ``hessian_trace`` tr ∇²f(x_t) (exact from d Hessian-vector products up to
        ``engine.kernel.DENSE_MAX`` dimensions, Lanczos and Hutchinson's estimate above;
        see ``engine.kernel.sharpness``) and the problem's ``balance`` where it has one.
        Backends numba and reference; a ``Custom`` problem needs ``hvp``.
    backend : "numba" | "reference" | "array" | "cupy" | "auto" | "exact"
        The compiled kernel; the plain NumPy reference (slow; for checks); the
        array backend on NumPy or on a GPU through CuPy (``pip install -e
        '.[gpu]'``), all drawing the same random streams; or ``auto``: cupy when
        CuPy and a GPU are usable, else numba (the choice is logged and stored
        in ``config["backend_auto"]``). ``config["backend"]`` names the backend
        that ran. ``exact`` (``engine.exact``, docs/exact.md) computes the
        expectation of every metric with no Monte Carlo error for rules affine in
        the state (SGD, heavy ball, USAM, MSAM with λ = 0, RST/G-RST on them) on
        quadratic finite sums, and refuses others with the reason; its result is
        one row holding the expectations, so ``trajectories`` must be 1.
    chunk_size : int >= 1, optional
        Array backends only: trajectories advanced together. Default: as many
        as fit the device's working-memory budget (``memory_plan``). Results do
        not depend on it; ``config`` records it and the estimated peak device
        memory (``peak_device_bytes_estimate``; with CuPy also the measured
        ``peak_device_bytes_measured``, the memory pool's high-water mark).

    Returns
    -------
    results.Trajectories

    Raises
    ------
    ValueError
        Also when the run cannot fit in the host's memory (``memory_plan``; checked
        before anything large is allocated, with the figures and, where recording
        less often is enough, the ``record_every`` that fits).
    KeyboardInterrupt
        On Ctrl-C: the numba backend runs the kernel in slices of about
        ``SLICE_SECONDS`` (``step_slices``; the results do not depend on them), so
        an interrupt stops it within about a second.
    """
    _validate.instance("problem", problem, Problem, "a problem (samtheory.problems.Problem: a "
                       "FiniteSum, a Custom problem or a landscape)")
    _validate.instance("rule", rule, Rule, "an update rule (e.g. samtheory.SAM(lr=0.1, rho=0.05))")
    _validate.instance("sampler", sampler, Sampler, "a sampler (e.g. samtheory.WithReplacement(8))")
    steps = _validate.positive_int("steps", steps)
    trajectories = _validate.positive_int("trajectories", trajectories)
    record_every = max(1, steps // 100) if record_every is None else _validate.positive_int(
        "record_every", record_every)
    seed = _validate.seed(seed)
    if not isinstance(track_iterates, (bool, np.bool_)):
        raise ValueError(f"track_iterates must be True or False, got {track_iterates!r}")
    if not isinstance(track_sharpness, (bool, np.bool_)):
        raise ValueError(f"track_sharpness must be True or False, got {track_sharpness!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
    if chunk_size is not None:
        if backend not in ARRAY_BACKENDS + ("auto",):
            raise ValueError(f"chunk_size applies only to backend 'array', 'cupy' or 'auto', "
                             f"not {backend!r}")
        chunk_size = _validate.positive_int("chunk_size", chunk_size)
    if backend == "exact":
        if track_sharpness:
            raise ValueError("track_sharpness applies to the trajectory backends, not 'exact'")
        from .exact import simulate_exact
        return simulate_exact(problem, rule, sampler, steps=steps, trajectories=trajectories,
                              seed=seed, record_every=record_every, x0=x0,
                              track_iterates=bool(track_iterates))
    auto_note = None
    if backend == "auto":
        backend, auto_note = choose_auto()
        log.info(auto_note)
    device = vectorised.NUMPY if backend == "array" else None
    if backend == "cupy":
        device = vectorised.cupy_device()   # RuntimeError naming what is missing
    if track_sharpness:
        _check_sharpness(problem, backend)
    bound = sampler.bind(problem)
    plan = memory_plan(problem, rule, sampler, steps=steps, trajectories=trajectories,
                       record_every=record_every, track_iterates=track_iterates, backend=backend,
                       chunk_size=chunk_size, device=device, track_sharpness=track_sharpness)
    _check_host_memory(plan, steps, trajectories)
    lr, rho, lam, prob = rule.arrays(steps)
    starts = starting_points(problem, x0, trajectories)
    rec = record_steps(steps, record_every)
    config = {"samtheory_version": _package_version(), "problem": problem.describe(),
              "rule": rule.describe(), "sampler": sampler.describe(), "seed": int(seed),
              "steps": steps, "trajectories": trajectories, "record_every": record_every,
              "track_iterates": bool(track_iterates), "track_sharpness": bool(track_sharpness),
              "backend": backend,
              "x0": "problem default" if x0 is None else "given"}
    if auto_note is not None:
        config["backend_auto"] = auto_note
    schedules = {"lr": lr, "rho": rho, "lam": lam, "perturb_prob": prob}
    if isinstance(problem, FiniteSum):
        problem_data = {"A": problem.A, "y": problem.y, "signs": problem.signs,
                        "reg_center": problem.reg_center, "x0": starts}
    else:
        problem_data = {**{f"data/{k}": a for k, a in enumerate(problem.data)}, "x0": starts}
    if backend == "reference":
        from .reference import simulate_reference
        metrics, final_x, diverged_at = simulate_reference(
            problem, rule, sampler, steps=steps, trajectories=trajectories, seed=seed,
            record_steps=rec, x0=starts, track_iterates=track_iterates,
            track_sharpness=track_sharpness)
    elif backend in ARRAY_BACKENDS:
        metrics, final_x, diverged_at, pool_peak = vectorised.simulate_array(
            problem, rule, bound, schedules, starts, seed, rec, bool(track_iterates),
            device=device, chunk_size=plan["chunk_size"])
        config.update(device=device.name, chunk_size=plan["chunk_size"],
                      peak_device_bytes_estimate=plan["device_peak_bytes_estimate"],
                      peak_device_bytes_measured=pool_peak)
    else:
        metrics, final_x, diverged_at = _run_numba(problem, rule, bound, schedules, starts, seed,
                                                   rec, track_iterates, track_sharpness)
    return Trajectories(rec, metrics, final_x, diverged_at, schedules, config, problem_data)


def _check_sharpness(problem, backend):
    """Refuse ``track_sharpness`` where it cannot be computed, saying why."""
    if backend in ARRAY_BACKENDS:
        raise ValueError(f"track_sharpness runs on backend 'numba' or 'reference', not {backend!r}")
    if getattr(problem, "hvp_function", True) is None:
        raise ValueError(f"track_sharpness needs Hessian-vector products: {problem.name} was "
                         "built without hvp= (problems.Custom)")


def problem_has_balance(problem):
    """Whether ``problem`` defines a conserved ``balance`` (recorded with track_sharpness)."""
    return getattr(problem, "balance_function", None) is not None


def kernel_buffers(rule):
    """(momentum, Adam's v and v̂): whether the rule's base optimiser keeps each buffer."""
    return rule.base != "sgd", rule.base == "adam"


def step_slices(steps, trajectories, seconds=SLICE_SECONDS, clock=time.perf_counter):
    """Consecutive ranges [t0, t1) of the kernel's loop iterations 0 .. ``steps``.

    The Numba kernel does not see Ctrl-C (SIGINT is handled when it returns), so
    ``simulate`` runs it one slice at a time. The first slice is ``FIRST_SLICE_WORK``
    trajectory-steps long (at least one step); each next one is resized from the time
    the previous one took (measured with ``clock`` between two ``next`` calls) to take
    about ``seconds``, growing at most ``SLICE_GROWTH``-fold at a time (the first slice
    may include compilation). An interrupt is thus honoured within about ``seconds``;
    the results do not depend on the slices.
    """
    total = steps + 1
    length = max(1, FIRST_SLICE_WORK // trajectories)
    t0 = 0
    while t0 < total:
        t1 = min(total, t0 + length)
        start = clock()
        yield t0, t1
        elapsed = clock() - start
        grown = SLICE_GROWTH * length
        length = max(1, grown if elapsed <= 0 else min(grown, int(length * seconds / elapsed)))
        t0 = t1


def _problem_args(problem):
    """The problem's data for its kernel: ``args.GLMData`` or ``args.custom_data``."""
    if isinstance(problem, FiniteSum):
        x_star = problem.x_star if problem.x_star is not None else np.zeros(problem.d)
        return args.GLMData(
            int(problem.loss_kind), int(problem.reg_kind), _f64(problem.A), _f64(problem.y),
            _f64(problem.signs), float(problem.reg_strength), _f64(problem.reg_center),
            _f64(problem.hessian), _f64(problem.linear), float(problem.constant), _f64(x_star),
            bool(problem.exact_gap),
            float(problem.gap_offset if problem.exact_gap else problem.loss_reference))
    return args.custom_data(problem.data, problem.n, problem.loss_reference)


def _f64(array):
    """C-contiguous, writable float64: Numba types read-only or strided arrays apart."""
    array = np.ascontiguousarray(array, dtype=np.float64)
    return array if array.flags.writeable else array.copy()


def _run_numba(problem, rule, bound, schedules, starts, seed, rec, track, sharp):
    trajectories, d = starts.shape
    shape = (trajectories, rec.size)
    gap, grad, dist, evals, avg, mn = (np.empty(shape) for _ in range(6))
    landscape = tuple(np.full(shape if sharp else (trajectories, 0), np.nan) for _ in range(3))
    has_m, has_v = kernel_buffers(rule)
    final_x = starts.copy()
    state = args.State(final_x, np.zeros((trajectories, d if has_m else 0)),
                       np.zeros((trajectories, d if has_v else 0)),
                       np.full((trajectories, d if has_v else 0), float(rule.vhat_init)),
                       np.zeros(trajectories, dtype=np.int64), np.zeros(trajectories, dtype=np.int64),
                       np.zeros(trajectories), np.full(trajectories, np.inf),
                       np.full(trajectories, -1, dtype=np.int64))
    x_star = problem.x_star if problem.x_star is not None else np.zeros(d)
    # Every field is cast to one fixed type, so each problem kind compiles exactly once.
    sampler = args.SamplerArgs(int(bound.kind), bool(bound.uniform_probabilities), int(bound.batch),
                               int(bound.max_batch), int(bound.uniforms_per_step), _f64(bound.table),
                               np.ascontiguousarray(bound.offsets, dtype=np.int64),
                               _f64(bound.index_weights))
    rule_args = args.RuleArgs(schedules["lr"], schedules["rho"], schedules["lam"],
                              schedules["perturb_prob"], _ASCENTS[rule.ascent],
                              rule.ascent_batch == "independent", _GRST[rule.grst_mode],
                              float(rule.grst_alpha), bool(rule.stable), bool(rule.stable_cap),
                              _BASES[rule.base], float(rule.momentum), float(rule.beta2),
                              float(rule.eps), bool(rule.amsgrad), bool(rule.bias_correction))
    outputs = args.Outputs(gap, grad, dist, evals, avg, mn, *landscape)
    problem_args = _problem_args(problem)
    run = kinds.kernel_for(problem)
    for t0, t1 in step_slices(schedules["lr"].size, trajectories):
        control = args.Control(np.uint64(seed), np.ascontiguousarray(rec, dtype=np.int64), bool(track),
                               _f64(x_star), problem.x_star is not None, bool(sharp), t0, t1)
        run(problem_args, sampler, rule_args, control, outputs, state)
        if (state.diverged_at >= 0).all():
            break   # every trajectory diverged: its records are already filled
    metrics = {"loss_gap": gap, "grad_norm_sq": grad, "grad_evals": evals.astype(np.int64)}
    if problem.x_star is not None:
        metrics["dist_sq"] = dist
    if track:
        metrics["avg_grad_norm_sq"] = avg
        metrics["min_grad_norm_sq"] = mn
    if sharp:
        metrics.update(sharpness=landscape[0], hessian_trace=landscape[1])
        if problem_has_balance(problem):
            metrics["balance"] = landscape[2]
    return metrics, final_x, state.diverged_at
