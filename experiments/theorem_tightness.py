"""Tightness of every catalogue theorem on its reference configuration.

    python experiments/theorem_tightness.py [--trajectories 2000] [--seed 0]

Runs ``theory.check`` on each theorem's ``example()`` by Monte Carlo (``exact=False``) and
prints a Markdown table: the measured quantity with its (1 − 2α) confidence interval
(``verdicts.LEVEL`` = α), the exact expectation where the example qualifies for the exact
backend (affine rules on quadratic finite sums, ``engine.exact``; "—" elsewhere), the bound,
bound/empirical and the verdict. A second table holds each tight theorem and its looser
published form against the same run, the published form's example (which both admit): the
ratio of the two tightness ratios is the gain of the constants alone. ``docs/theorems.md`` quotes
its output.
"""
import argparse
import time

from samtheory import theory, verdicts
from samtheory.engine import exact

# (tight theorem, its looser published form, docs/theory.md §5): the latter's example meets both
VARIANTS = ((theory.adasam_rate, theory.adasam_rate_published),
            (theory.rst_bound, theory.rst_bound_published))


def describe(config):
    """The configuration in one cell: rule, first step size, problem, sampler, steps."""
    rule = config["rule"]
    return (f"{rule.name} γ₀={rule.arrays(1)[0][0]:.4g} on {config['problem'].name}, "
            f"{type(config['sampler']).__name__}, T={config['steps']}")


def exact_cell(theorem, config):
    """The exact expectation of the theorem's quantity on ``config``, or "—" where the quantity
    or the configuration does not qualify for the exact backend."""
    if not theorem.quantity.exact_capable or exact.refusal(config["problem"], config["rule"],
                                                           config["sampler"], config["steps"]):
        return "—"
    return f"{theory.check(theorem, **config, exact=True).empirical:.4g}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    interval = f"{1 - 2 * verdicts.LEVEL:.0%} CI"
    print(f"| theorem | reference configuration | measured [{interval}] | exact | bound "
          f"| bound / measured | verdict |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for theorem in theory.catalogue():
        config = theorem.example()
        start = time.perf_counter()
        result = theory.check(theorem, **config, trajectories=args.trajectories, seed=args.seed,
                              exact=False)
        print(f"| {theorem.name} | {describe(config)} | {result.empirical:.4g} [{result.ci_low:.4g}, "
              f"{result.ci_high:.4g}] | {exact_cell(theorem, config)} | {result.bound:.4g} | "
              f"{result.ratio:.3g} | {result.verdict} ({time.perf_counter() - start:.1f} s) |")
    print()
    print(f"| tight theorem | published form's configuration | measured [{interval}] | tight bound "
          f"| tight bound / measured | published bound | published bound / measured |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for tight, published in VARIANTS:
        config = published().example()
        results = [theory.check(factory(), **config, trajectories=args.trajectories, seed=args.seed,
                                exact=False) for factory in (tight, published)]
        measured = results[0]
        print(f"| {measured.theorem} | {describe(config)} | {measured.empirical:.4g} "
              f"[{measured.ci_low:.4g}, {measured.ci_high:.4g}] | "
              + " | ".join(f"{r.bound:.4g} | {r.ratio:.3g}" for r in results) + " |")


if __name__ == "__main__":
    main()
