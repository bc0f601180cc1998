"""Time of the exact backend against the Monte Carlo engine on the issue-#12 target case.

Workload: USAM (γ = 0.1, ρ = 0.05) on ``random_least_squares(256, 64, condition=10, seed=0)``,
b = 8 with replacement, T = 2000 steps, metrics recorded every 10 steps. The exact backend
propagates E[x], E[xxᵀ] (one run gives every expectation with no sampling error); the numba
engine runs ``--trajectories`` trajectories, whose mean of the final loss gap is printed with
its standard error and its distance to the exact value in standard errors. Best of
``--repeats``; the numba kernel is compiled (or loaded from its cache) before timing.

    python experiments/benchmark_exact.py [--trajectories 1024] [--repeats 3]
"""
import argparse
import time

import samtheory as st

STEPS, EVERY = 2000, 10


def workload():
    problem = st.problems.random_least_squares(256, 64, condition=10, seed=0)
    return problem, st.USAM(lr=0.1, rho=0.05), st.WithReplacement(8)


def best_time(repeats, run):
    """(best seconds, result of the last run)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
    return min(times), out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    problem, rule, sampler = workload()
    st.simulate(problem, rule, sampler, steps=2, trajectories=2)      # compile or load the kernel
    exact_s, exact = best_time(args.repeats, lambda: st.simulate(
        problem, rule, sampler, steps=STEPS, trajectories=1, record_every=EVERY, backend="exact"))
    mc_s, mc = best_time(args.repeats, lambda: st.simulate(
        problem, rule, sampler, steps=STEPS, trajectories=args.trajectories, seed=1, record_every=EVERY))
    value = exact.metrics["loss_gap"][0, -1]
    summary = mc.summary("loss_gap")
    mean, se = summary["mean"][-1], summary["stderr"][-1]
    print(f"USAM on least squares n=256 d=64, with replacement b=8, T={STEPS}")
    print(f"exact backend: {exact_s:.2f} s, E[f(x_T) − f*] = {value:.6g} (exact)")
    print(f"numba, {args.trajectories} trajectories: {mc_s:.2f} s, mean {mean:.6g} ± {se:.2g} "
          f"(standard error {se / value:.2%} of the value; exact value at {(mean - value) / se:+.2f} SE)")


if __name__ == "__main__":
    main()
