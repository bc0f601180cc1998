"""Throughput of the Numba engine against NumPy vectorised across trajectories.

Workload (issue #2): least squares n=256, d=64, b=8 with replacement, SAM
(γ = 0.1, ρ = 0.05), 1024 trajectories x 2000 steps, FP64, loss recorded every
10 steps. Prints trajectory-steps per second of both and their ratio, and the
compile times: a fresh process with an empty cache, and one that loads the
on-disk cache.

    python experiments/benchmark_core.py            # full size
    python experiments/benchmark_core.py --quick    # 256 x 500, a smoke run
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

import samtheory as st

STARTUP = ("import time; t = time.perf_counter(); import samtheory as st; "
           "p = st.problems.random_least_squares(16, 4); "
           "st.simulate(p, st.SAM(0.1, 0.05), st.WithReplacement(2), steps=2, trajectories=2); "
           "print(time.perf_counter() - t)")


def numpy_sam(problem, lr, rho, b, steps, trajectories, record_every, seed):
    """SAM with uniform with-replacement minibatches, vectorised over trajectories.

    Returns the (records, trajectories) loss gaps ½(x − x*)ᵀH(x − x*)."""
    rng = np.random.default_rng(seed)
    A, y, H, x_star, n = problem.A, problem.y, problem.hessian, problem.x_star, problem.n
    X = np.repeat(problem.x0[None, :], trajectories, axis=0)
    records = []
    for t in range(steps + 1):
        if t % record_every == 0 or t == steps:
            Z = X - x_star
            records.append(0.5 * np.einsum("rd,rd->r", Z @ H, Z))
        if t == steps:
            break
        idx = rng.integers(0, n, size=(trajectories, b))
        Ab, yb = A[idx], y[idx]                                   # (R, b, d), (R, b)
        g = np.einsum("rb,rbd->rd", np.einsum("rbd,rd->rb", Ab, X) - yb, Ab) / b
        scale = rho / (np.linalg.norm(g, axis=1, keepdims=True) + 1e-12)
        Xp = X + scale * g
        h = np.einsum("rb,rbd->rd", np.einsum("rbd,rd->rb", Ab, Xp) - yb, Ab) / b
        X = X - lr * h
    return np.array(records)


def core_workload():
    """The issue-#2 workload: (problem, rule, sampler, (γ, ρ, b), record_every)."""
    lr, rho, b, every = 0.1, 0.05, 8, 10
    problem = st.problems.random_least_squares(256, 64, condition=10, seed=0)
    return problem, st.SAM(lr=lr, rho=rho), st.WithReplacement(b), (lr, rho, b), every


def startup_seconds(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c", STARTUP], env=env, check=True, capture_output=True,
                         text=True)
    return float(out.stdout.strip())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 trajectories x 500 steps")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (best is reported)")
    args = parser.parse_args()
    trajectories, steps = (256, 500) if args.quick else (1024, 2000)
    problem, rule, sampler, (lr, rho, b), every = core_workload()
    work = trajectories * steps

    cache = tempfile.mkdtemp(prefix="samtheory-numba-cache-")
    try:
        cold, warm = startup_seconds(cache), startup_seconds(cache)
    finally:
        shutil.rmtree(cache, ignore_errors=True)

    st.simulate(problem, rule, sampler, steps=2, trajectories=2)   # compiled or loaded
    numba_times = []
    for rep in range(args.repeats):
        t0 = time.perf_counter()
        out = st.simulate(problem, rule, sampler, steps=steps, trajectories=trajectories, seed=rep,
                          record_every=every)
        numba_times.append(time.perf_counter() - t0)
    numpy_times = []
    for rep in range(args.repeats):
        t0 = time.perf_counter()
        ref = numpy_sam(problem, lr, rho, b, steps, trajectories, every, seed=rep)
        numpy_times.append(time.perf_counter() - t0)

    numba_rate, numpy_rate = work / min(numba_times), work / min(numpy_times)
    # Same algorithm, different random streams: the mean final losses agree statistically.
    final_numba = out.metrics["loss_gap"][:, -1]
    final_numpy = ref[-1]
    se = np.hypot(final_numba.std() / np.sqrt(trajectories), final_numpy.std() / np.sqrt(trajectories))
    print(f"workload: SAM, least squares n=256 d=64, b=8 with replacement, {trajectories} trajectories "
          f"x {steps} steps, loss every {every} steps, {os.cpu_count()} CPUs, "
          f"NUMBA_NUM_THREADS={os.environ.get('NUMBA_NUM_THREADS', 'default')}")
    print(f"numba engine      : {numba_rate:12.4g} trajectory-steps/s  (best of {args.repeats}: "
          f"{min(numba_times):.3f} s)")
    print(f"numpy vectorised  : {numpy_rate:12.4g} trajectory-steps/s  (best of {args.repeats}: "
          f"{min(numpy_times):.3f} s)")
    print(f"ratio numba/numpy : {numba_rate / numpy_rate:.2f}x")
    print(f"startup + first simulate, empty cache : {cold:.2f} s (compilation)")
    print(f"startup + first simulate, warm cache  : {warm:.2f} s")
    print(f"mean final loss gap: numba {final_numba.mean():.5g}, numpy {final_numpy.mean():.5g} "
          f"(difference {abs(final_numba.mean() - final_numpy.mean()) / se:.1f} standard errors)")


if __name__ == "__main__":
    main()
