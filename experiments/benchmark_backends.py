"""Throughput of the backends (numba, array on NumPy, cupy when a GPU answers), and memory.

Workloads (issue #5):
1. core: the issue-#2 workload of ``benchmark_core.py`` (SAM on least squares
   n=256, d=64, b=8 with replacement; 1024 trajectories x 2000 steps);
2. large: SAM (γ = 0.1, ρ = 0.05) on ``random_least_squares(8192, 1024)``, b=64
   with replacement, 10⁵ trajectories x 1000 steps; ``--trajectories`` and
   ``--steps`` shrink it for a CPU.
Loss, gradient norm and distance are recorded every 10 steps. Every backend
runs the same random streams, so the script also prints how far their final
loss gaps are apart (rounding only). Prints trajectory-steps/s, best of
``--repeats``, and the ratios measured in this run.

``--memory`` instead reports the memory of chunked runs: the estimate for the
issue's case (10⁶ trajectories x 10⁴ steps of the core workload) and a scaled
run measured in a fresh process (peak resident memory, ``ru_maxrss``).

    python experiments/benchmark_backends.py                                  # full size
    python experiments/benchmark_backends.py --trajectories 2000 --steps 100  # large, shrunk
    python experiments/benchmark_backends.py --memory
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import samtheory as st
from samtheory.engine import simulate as engine
from samtheory.engine import vectorised

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_core import core_workload  # noqa: E402

GiB = 2 ** 30


def large_workload():
    """The issue-#5 large problem: (problem, rule, sampler)."""
    problem = st.problems.random_least_squares(8192, 1024, condition=10, seed=0)
    return problem, st.SAM(lr=0.1, rho=0.05), st.WithReplacement(64)


def backends():
    cupy, description = vectorised.probe_cupy()
    found = ["numba", "array"] + (["cupy"] if cupy is not None else [])
    return found, description


def time_backend(backend, problem, rule, sampler, steps, trajectories, repeats, every):
    """(best seconds, Trajectories of the last repeat)."""
    st.simulate(problem, rule, sampler, steps=2, trajectories=2, backend=backend)   # compile, warm
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = st.simulate(problem, rule, sampler, steps=steps, trajectories=trajectories, seed=1,
                          record_every=every, backend=backend)
        if backend == "cupy":
            import cupy
            cupy.cuda.Device().synchronize()
        times.append(time.perf_counter() - start)
    return min(times), out


def compare(title, workload, steps, trajectories, repeats, every):
    problem, rule, sampler = workload
    found, description = backends()
    print(f"\n## {title}: {rule.name} on {problem.name}, "
          f"{type(sampler).__name__}(b={sampler.b}), {trajectories} trajectories x {steps} steps, "
          f"records every {every}, best of {repeats}")
    work = trajectories * steps
    rates, outs = {}, {}
    for backend in found:
        seconds, outs[backend] = time_backend(backend, problem, rule, sampler, steps, trajectories,
                                              repeats, every)
        rates[backend] = work / seconds
        extra = ""
        if backend != "numba":
            config = outs[backend].config
            extra = (f"  chunk {config['chunk_size']}, peak device memory estimated "
                     f"{config['peak_device_bytes_estimate'] / 2 ** 20:.0f} MiB")
            if config["peak_device_bytes_measured"] is not None:
                extra += f", measured {config['peak_device_bytes_measured'] / 2 ** 20:.0f} MiB"
        print(f"{backend:6s}: {rates[backend]:10.4g} trajectory-steps/s  ({seconds:.3f} s){extra}")
    for backend in found[1:]:
        print(f"ratio {backend}/numba: {rates[backend] / rates['numba']:.3g}x")
    if "cupy" in found:
        print(f"ratio cupy/array: {rates['cupy'] / rates['array']:.3g}x")
    else:
        print(f"cupy: not run ({description})")
    final = {b: out.metrics["loss_gap"][:, -1] for b, out in outs.items()}
    for backend in found[1:]:
        gap = np.max(np.abs(final[backend] - final["numba"]) / np.abs(final["numba"]))
        print(f"max relative difference of the final loss gaps, {backend} vs numba: {gap:.2g}")
    print(f"diverged (numba): {int(outs['numba'].diverged.sum())} of {trajectories}")
    return rates


# -- memory ----------------------------------------------------------------------

MEASURE = """
import json, resource, sys
sys.path.insert(0, sys.argv[1])
import samtheory as st
from benchmark_core import core_workload
backend, trajectories, steps, every = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
problem, rule, sampler, _, _ = core_workload()
st.simulate(problem, rule, sampler, steps=2, trajectories=2, backend=backend)   # imports, compiles
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
out = st.simulate(problem, rule, sampler, steps=steps, trajectories=trajectories,
                  record_every=every, backend=backend)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"before": before, "after": after, "chunk_size": out.config.get("chunk_size")}))
"""


def memory_report(trajectories, steps):
    problem, rule, sampler, _, _ = core_workload()
    case = dict(steps=10 ** 4, trajectories=10 ** 6)    # the case, default records (101)
    print("## Memory of the issue's case: core workload, 10^6 trajectories x 10^4 steps, "
          "record_every = 100 (101 records), estimated (not run)")
    hypothetical_gpu = vectorised.Device("24 GiB GPU", np, np.asarray, budget=24 * GiB // 4)
    for label, backend, device in (("numba", "numba", None), ("array (NumPy)", "array", None),
                                   ("cupy, 24 GiB GPU", "array", hypothetical_gpu)):
        plan = engine.memory_plan(problem, rule, sampler, backend=backend, device=device, **case)
        line = f"{label:18s}: host outputs {plan['host_output_bytes'] / GiB:.2f} GiB"
        if plan["chunk_size"] is not None:
            line += (f"; chunk {plan['chunk_size']} trajectories, working memory "
                     f"{plan['device_peak_bytes_estimate'] / GiB:.3f} GiB "
                     f"({-(-case['trajectories'] // plan['chunk_size'])} chunks)")
        print(line)
    every = max(1, steps // 100)
    print(f"\n## Measured: the same workload scaled to {trajectories} trajectories x {steps} steps, "
          f"record_every = {every}, fresh process each, peak resident memory (ru_maxrss)")
    here = str(Path(__file__).resolve().parent)
    for backend in ("numba", "array"):
        done = subprocess.run([sys.executable, "-c", MEASURE, here, backend, str(trajectories),
                               str(steps), str(every)], capture_output=True, text=True, check=True)
        got = json.loads(done.stdout.strip().splitlines()[-1])
        plan = engine.memory_plan(problem, rule, sampler, steps=steps, trajectories=trajectories,
                                  record_every=every, backend=backend)
        estimate = plan["host_output_bytes"] + (plan["device_peak_bytes_estimate"] or 0)
        print(f"{backend:6s}: peak RSS {got['after'] / GiB:.3f} GiB, of which the run added "
              f"{(got['after'] - got['before']) / GiB:.3f} GiB; estimate (outputs + chunk) "
              f"{estimate / GiB:.3f} GiB; chunk {got['chunk_size']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", type=int, default=10 ** 5, help="large problem")
    parser.add_argument("--steps", type=int, default=1000, help="large problem")
    parser.add_argument("--core-trajectories", type=int, default=1024)
    parser.add_argument("--core-steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (best is reported)")
    parser.add_argument("--large-repeats", type=int, default=1)
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--memory", action="store_true",
                        help="memory report instead (with --trajectories/--steps for the scaled run)")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, NUMBA_NUM_THREADS={os.environ.get('NUMBA_NUM_THREADS', 'default')}, "
          f"NumPy {np.__version__}; {backends()[1]}")
    if args.memory:
        memory_report(args.trajectories, args.steps)
        return
    problem, rule, sampler, _, every = core_workload()
    compare("core", (problem, rule, sampler), args.core_steps, args.core_trajectories,
            args.repeats, every)
    if not args.skip_large:
        compare("large", large_workload(), args.steps, args.trajectories, args.large_repeats, 10)


if __name__ == "__main__":
    main()
