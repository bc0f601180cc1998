"""Problem kinds: the generic (Custom) path against the built-in one, compile and warm start
of a new kind, and the cost of recording the sharpness.

1. The reference workload of ``benchmark_core.py`` (SAM, least squares n = 256, d = 64,
   b = 8 with replacement, 1024 trajectories × 2000 steps, loss every 10 steps) through the
   built-in ``LeastSquares`` and through a ``Custom`` problem of the same objective (the
   README's njit functions), once with the metrics from n calls of value and gradient per
   record and once with its own ``objective`` (f and ∇f from H = AᵀA/n, as the built-in
   path does): trajectory-steps/s of each, measured in this run, and the ratios.
2. A new problem kind in a fresh process: empty caches (compiles the kind's kernel), then
   the same command again (loads it from the disk cache): seconds from start to the end of
   the first ``simulate``.
3. ``track_sharpness``: extra seconds per recorded step and trajectory on each landscape
   family and on the workload's least squares (dense Hessian from d products and eigvalsh).

    python experiments/benchmark_kinds.py            # full size
    python experiments/benchmark_kinds.py --quick    # 256 x 500, a smoke run
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numba
import numpy as np

import samtheory as st
from samtheory.engine import kinds

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchmark_core import core_workload  # noqa: E402


@numba.njit
def value(x, i, data):
    A, y = data[0], data[1]
    r = -y[i]
    for j in range(x.shape[0]):
        r += A[i, j] * x[j]
    return 0.5 * r * r


@numba.njit
def gradient(x, i, data, out):
    A, y = data[0], data[1]
    r = -y[i]
    for j in range(x.shape[0]):
        r += A[i, j] * x[j]
    for j in range(x.shape[0]):
        out[j] = r * A[i, j]


@numba.njit
def hvp(x, i, data, v, out):
    A, y = data[0], data[1]
    s = 0.0
    for j in range(x.shape[0]):
        s += A[i, j] * v[j]
    for j in range(x.shape[0]):
        out[j] = s * A[i, j]


@numba.njit
def objective(x, data, grad):
    """f(x) = ½xᵀHx − bᵀx + c0 and ∇f(x) = Hx − b, from data = (A, y, H, b, [c0])."""
    H, b, c0 = data[2], data[3], data[4][0]
    f = 0.0
    for j in range(x.shape[0]):
        acc = 0.0
        for k in range(x.shape[0]):
            acc += H[j, k] * x[k]
        grad[j] = acc - b[j]
        f += x[j] * (0.5 * acc - b[j])
    return f + c0


NEW_KIND = '''
import time
t = time.perf_counter()
import numba, numpy as np, samtheory as st

@numba.njit
def value(x, i, data):
    return 0.5 * (data[0][i] @ x - data[1][i]) ** 2 + 0.1 * np.sum(np.cos(x))

@numba.njit
def gradient(x, i, data, out):
    r = data[0][i] @ x - data[1][i]
    for j in range(x.shape[0]):
        out[j] = r * data[0][i, j] - 0.1 * np.sin(x[j])

rng = np.random.default_rng(0)
problem = st.problems.Custom(value, gradient, (rng.standard_normal((32, 4)), rng.standard_normal(32)),
                             n=32, d=4, x0=np.zeros(4))
st.simulate(problem, st.SAM(0.1, 0.05), st.WithReplacement(2), steps=2, trajectories=2)
print(time.perf_counter() - t)
'''


def rate(problem, rule, sampler, steps, trajectories, every, repeats):
    st.simulate(problem, rule, sampler, steps=2, trajectories=2)   # compiled or loaded
    times = []
    for rep in range(repeats):
        t0 = time.perf_counter()
        st.simulate(problem, rule, sampler, steps=steps, trajectories=trajectories, seed=rep,
                    record_every=every)
        times.append(time.perf_counter() - t0)
    return steps * trajectories / min(times)


def new_kind_seconds(folder):
    script = os.path.join(folder, "new_kind.py")
    with open(script, "w") as handle:
        handle.write(NEW_KIND)
    env = dict(os.environ, NUMBA_CACHE_DIR=os.path.join(folder, "numba"),
               **{kinds.CACHE_ENV: os.path.join(folder, "kernels")})
    run = lambda: float(subprocess.run([sys.executable, script], env=env, check=True, capture_output=True,
                                       text=True).stdout.strip())
    return run(), run()


def sharpness_cost(problem, steps, trajectories, records, repeats):
    """Extra seconds per recorded step and trajectory of track_sharpness (SGD, batch 1)."""
    timed = {}
    for track in (False, True):
        st.simulate(problem, st.SGD(0.01), st.WithReplacement(1), steps=2, trajectories=2, track_sharpness=track)
        best = np.inf
        for rep in range(repeats):
            t0 = time.perf_counter()
            st.simulate(problem, st.SGD(0.01), st.WithReplacement(1), steps=steps, trajectories=trajectories,
                        record_every=steps // records, track_sharpness=track, seed=rep)
            best = min(best, time.perf_counter() - t0)
        timed[track] = best
    return (timed[True] - timed[False]) / ((records + 1) * trajectories), timed[False] / (steps * trajectories)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 trajectories x 500 steps")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (best is reported)")
    args = parser.parse_args()
    trajectories, steps = (256, 500) if args.quick else (1024, 2000)
    problem, rule, sampler, _, every = core_workload()
    data = (problem.A, problem.y, problem.hessian, problem.linear, np.array([problem.constant]))
    custom = st.problems.Custom(value, gradient, data, n=problem.n, d=problem.d, x0=problem.x0, hvp=hvp,
                                f_star=problem.f_star, x_star=problem.x_star)
    with_objective = st.problems.Custom(value, gradient, data, n=problem.n, d=problem.d, x0=problem.x0,
                                        hvp=hvp, objective=objective, f_star=problem.f_star,
                                        x_star=problem.x_star)
    built_in = rate(problem, rule, sampler, steps, trajectories, every, args.repeats)
    generic = rate(custom, rule, sampler, steps, trajectories, every, args.repeats)
    generic_objective = rate(with_objective, rule, sampler, steps, trajectories, every, args.repeats)
    print(f"workload: SAM, least squares n=256 d=64, b=8 with replacement, {trajectories} trajectories x "
          f"{steps} steps, loss every {every} steps, {os.cpu_count()} CPUs")
    print(f"built-in LeastSquares                       : {built_in:12.4g} trajectory-steps/s")
    print(f"Custom, metrics from n value/gradient calls : {generic:12.4g} trajectory-steps/s "
          f"(built-in / this = {built_in / generic:.2f}x)")
    print(f"Custom with objective=                      : {generic_objective:12.4g} trajectory-steps/s "
          f"(built-in / this = {built_in / generic_objective:.2f}x)")

    folder = tempfile.mkdtemp(prefix="samtheory-kind-")
    try:
        cold, warm = new_kind_seconds(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"new kind, fresh process, empty caches : {cold:.2f} s (compiles its kernel)")
    print(f"new kind, fresh process, warm caches  : {warm:.2f} s")

    families = {"least squares (d=64)": problem,
                "diagonal network (n=40, 2d=40)": st.problems.diagonal_network(40, 20, sparsity=3),
                "matrix sensing (n=40, d=5, width=3: 15)": st.problems.matrix_sensing(40, 5, rank=1, width=3),
                "two-layer tanh (n=40, d=4, width=6: 30)": st.problems.two_layer(40, 4, width=6, teacher_width=2)}
    print("track_sharpness, SGD batch 1: extra cost per recorded step and trajectory")
    for name, chosen in families.items():
        extra, step = sharpness_cost(chosen, 200 if args.quick else 1000, 64 if args.quick else 256, 20,
                                     args.repeats)
        print(f"  {name:42s}: {extra * 1e6:9.1f} µs per record = {extra / step:7.0f} steps")


if __name__ == "__main__":
    main()
