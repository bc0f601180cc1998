"""Tightness of every catalogue theorem on its reference configuration.

    python experiments/theorem_tightness.py [--trajectories 2000] [--seed 0]

Runs ``theory.check`` on each theorem's ``example()`` and prints a Markdown table: the
measured quantity with its 95 % confidence interval, the bound, bound/empirical and the
verdict. ``docs/theorems.md`` quotes its output.
"""
import argparse
import time

from samtheory import theory


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print("| theorem | reference configuration | measured [95 % CI] | bound | bound / measured | verdict |")
    print("| --- | --- | --- | --- | --- | --- |")
    for theorem in theory.catalogue():
        config = theorem.example()
        start = time.perf_counter()
        result = theory.check(theorem, **config, trajectories=args.trajectories, seed=args.seed)
        rule = config["rule"]
        gamma = rule.arrays(1)[0][0]
        where = (f"{rule.name} γ₀={gamma:.4g} on {config['problem'].name}, "
                 f"{type(config['sampler']).__name__}, T={config['steps']}")
        print(f"| {theorem.name} | {where} | {result.empirical:.4g} [{result.ci_low:.4g}, "
              f"{result.ci_high:.4g}] | {result.bound:.4g} | {result.ratio:.3g} | {result.verdict} "
              f"({time.perf_counter() - start:.1f} s) |")


if __name__ == "__main__":
    main()
