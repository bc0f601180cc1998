"""Cost of running the Numba kernel in slices (so that Ctrl-C is honoured within about a second).

    python experiments/benchmark_slicing.py

The reference benchmark (SAM, least squares n = 256, d = 64, b = 8 with replacement, 1024
trajectories × 2000 steps, loss every 10 steps), best of 5, run as ``simulate`` runs it
(slices of about ``SLICE_SECONDS``) and as one kernel call, in the same process; prints both
rates and their ratio. The results are bit-identical (tests/test_robustness.py).
"""
import time

import samtheory as st
from samtheory.engine import simulate as engine

PROBLEM = st.problems.random_least_squares(256, 64, condition=10, seed=0)
RULE, SAMPLER = st.SAM(0.1, 0.05), st.WithReplacement(8)
RUN = dict(steps=2000, trajectories=1024, seed=1, record_every=10)


def best_seconds(repeats=5):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        st.simulate(PROBLEM, RULE, SAMPLER, **RUN)
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    st.simulate(PROBLEM, RULE, SAMPLER, **RUN)                 # compile / load the cache
    sliced = best_seconds()
    first = engine.FIRST_SLICE_WORK
    engine.FIRST_SLICE_WORK = RUN["steps"] * RUN["trajectories"]   # the first slice is the whole run
    try:
        whole = best_seconds()
    finally:
        engine.FIRST_SLICE_WORK = first
    work = RUN["steps"] * RUN["trajectories"]
    print(f"sliced:   {sliced:.3f} s, {work / sliced:.3g} trajectory-steps/s")
    print(f"one call: {whole:.3f} s, {work / whole:.3g} trajectory-steps/s")
    print(f"ratio sliced / one call (time): {sliced / whole:.3f}")


if __name__ == "__main__":
    main()
