"""The ``samtheory`` command.

    samtheory run [--rule SAM] [--lr 0.1] [--rho 0.05] [--problem least-squares]
                  [--sampler with-replacement] [--batch 8] [--steps 2000]
                  [--trajectories 1024] [--seed 0] [--save out.npz]

simulates one configuration and prints a short summary (loss gap and squared
gradient norm at the first and last record, divergences, throughput).
"""
import argparse
import os
import sys
import time

from . import problems, rules, sampling
from .engine.simulate import simulate

PROBLEMS = {
    "least-squares": lambda seed: problems.random_least_squares(256, 64, condition=10, seed=seed),
    "sine": lambda seed: problems.random_sine_least_squares(256, 16, seed=seed),
    "logistic": lambda seed: problems.random_logistic(256, 16, seed=seed),
}
SAMPLERS = {
    "with-replacement": lambda b: sampling.WithReplacement(b),
    "importance": lambda b: sampling.Importance(b),
    "tau-nice": lambda b: sampling.TauNice(b),
    "stratified": lambda b: sampling.Stratified(b),
}
RULES = ("SGD", "HeavyBall", "SAM", "USAM", "AdaSAM", "AMSGrad", "Adam", "StableSAM", "MSAM")
NO_RADIUS = ("SGD", "HeavyBall", "AMSGrad", "Adam")


def _rule(name, lr, rho):
    if name in NO_RADIUS:
        if rho is not None:
            raise ValueError(f"--rho applies only to perturbing rules; {name} has no radius")
        return rules.PRESETS[name](lr)
    return rules.PRESETS[name](lr, 0.05 if rho is None else rho)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="samtheory", description="SAM-family theory-verification simulator")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="simulate one configuration and print a summary")
    run.add_argument("--rule", choices=RULES, default="SAM")
    run.add_argument("--lr", type=float, default=0.1)
    run.add_argument("--rho", type=float, default=None, help="radius (default 0.05)")
    run.add_argument("--problem", choices=sorted(PROBLEMS), default="least-squares")
    run.add_argument("--problem-seed", type=int, default=0)
    run.add_argument("--sampler", choices=sorted(SAMPLERS), default="with-replacement")
    run.add_argument("--batch", type=int, default=8)
    run.add_argument("--steps", type=int, default=2000)
    run.add_argument("--trajectories", type=int, default=1024)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--record-every", type=int, default=None)
    run.add_argument("--save", metavar="PATH", help="write the trajectories (.npz)")
    args = parser.parse_args(argv)
    try:
        if args.save and not os.path.isdir(os.path.dirname(os.path.abspath(args.save))):
            raise ValueError(f"--save: the folder of {args.save!r} does not exist")
        problem = PROBLEMS[args.problem](args.problem_seed)
        rule = _rule(args.rule, args.lr, args.rho)
        sampler = SAMPLERS[args.sampler](args.batch)
        start = time.perf_counter()
        out = simulate(problem, rule, sampler, steps=args.steps, trajectories=args.trajectories,
                       seed=args.seed, record_every=args.record_every)
        seconds = time.perf_counter() - start
    except ValueError as exc:
        parser.exit(2, f"samtheory: error: {exc}\n")
    print(out.report("loss_gap"))
    grad = out.summary("grad_norm_sq")
    print(f"  grad_norm_sq at t={out.steps[-1]}: mean {grad['mean'][-1]:.6g} ± {grad['stderr'][-1]:.2g}")
    print(f"  {args.trajectories * args.steps / seconds:.3g} trajectory-steps/s "
          f"({seconds:.2f} s, compilation included on a first run)")
    if args.save:
        out.save(args.save)
        print(f"  saved to {args.save}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
