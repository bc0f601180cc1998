"""The ``samtheory`` command.

    samtheory run [--rule SAM] [--lr 0.1] [--rho 0.05] [--problem least-squares]
                  [--sampler with-replacement] [--batch 8] [--steps 2000]
                  [--trajectories 1024] [--seed 0] [--save out.npz]

simulates one configuration and prints a short summary (loss gap and squared
gradient norm at the first and last record, divergences, throughput).

    samtheory verify [--full] [--only NAME]... [--out DIR] [--seed S]

runs the convergence studies (``samtheory.studies``; all of them, or those named by
``--only``) at quick size (``--full``: publication size) with a progress bar on stderr,
prints the verdict table on stdout and writes ``DIR/report.md`` with the figures
(default ``samtheory-report/``). Exit status: 0 when every claim that should hold does
not fail, 1 when one is violated or a study fails to run, 2 for usage errors.

    samtheory list

shows the problems, samplers, rules, theorems (with their sources) and studies.
"""
import argparse
import os
import shlex
import sys
import time

from . import problems, rules, sampling, theory
from .engine.simulate import simulate
from .studies import STUDIES, load

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


def _run_parser(sub):
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


def add_verify_options(parser, default_out="samtheory-report"):
    """The options of ``samtheory verify`` (shared with ``experiments/`` and ``paper_figs/``)."""
    parser.add_argument("--full", action="store_true", help="publication size (slow) instead of quick")
    parser.add_argument("--out", metavar="DIR", default=default_out,
                        help=f"folder for report.md and the figures (default {default_out})")
    parser.add_argument("--seed", type=int, default=0, help="seed of every study (default 0)")


def _verify_parser(sub):
    verify = sub.add_parser("verify", help="run the convergence studies, print verdicts, write a report")
    verify.add_argument("--only", metavar="NAME", action="append", choices=STUDIES,
                        help=f"run only this study (repeatable): {', '.join(STUDIES)}")
    add_verify_options(verify)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="samtheory", description="SAM-family theory-verification simulator")
    sub = parser.add_subparsers(dest="command", required=True)
    _run_parser(sub)
    _verify_parser(sub)
    sub.add_parser("list", help="show the problems, samplers, rules, theorems and studies")
    args = parser.parse_args(argv)
    if args.command == "verify":
        words = ["samtheory", *(sys.argv[1:] if argv is None else argv)]
        return verify_command(args.only or list(STUDIES), args, words)
    if args.command == "list":
        print(listing())
        return 0
    return _run_command(parser, args)


def verify_command(names, args, words, stdout=None):
    """Run ``names`` with the parsed verify options ``args`` (``add_verify_options``); print
    the table and where the report went; return the exit status (1 when a claim that
    should hold fails or a study fails to run). ``words``: the command line, for the report."""
    from .report import format_table, summary, verify

    stdout = sys.stdout if stdout is None else stdout
    size = "full" if args.full else "quick"
    command = " ".join(shlex.quote(str(w)) for w in words)
    suite, path = verify(list(dict.fromkeys(names)), size, args.out, seed=args.seed, command=command)
    if suite.results:
        print(format_table(suite.results), file=stdout)
    for line in summary(suite.results, suite.errors):
        print(line, file=stdout)
    print(f"report written to {path} ({suite.seconds:.1f} s)", file=stdout)
    return 1 if suite.failed else 0


def study_script(name, argv=None):
    """``main`` of ``experiments/study_<name>.py``: run one study alone with the verify
    options (--full, --out, --seed); returns the exit status."""
    parser = argparse.ArgumentParser(description=f"{load(name).TITLE} (samtheory study {name!r})")
    add_verify_options(parser, default_out=f"samtheory-report-{name}")
    words = ["python", *sys.argv] if argv is None else ["python", f"experiments/study_{name}.py", *argv]
    return verify_command([name], parser.parse_args(sys.argv[1:] if argv is None else argv), words)


def _first_line(obj):
    return (obj.__doc__ or "").strip().splitlines()[0] if obj.__doc__ else ""


def listing():
    """The text of ``samtheory list``."""
    lines = ["Problems (samtheory.problems; `samtheory run --problem`):"]
    lines += [f"  {name:<26} {PROBLEMS[name](0)!r}" for name in sorted(PROBLEMS)]
    lines += [f"  {name:<26} {_first_line(getattr(problems, name))}" for name in problems.__all__
              if name[0].islower() and name != "sine_pl_ratio"]
    lines += ["", "Samplers (samtheory.sampling; `samtheory run --sampler`):"]
    lines += [f"  {name:<26} {type(SAMPLERS[name](8)).__name__}: {_first_line(type(SAMPLERS[name](8)))}"
              for name in sorted(SAMPLERS)]
    lines += ["  Independent(p)             " + _first_line(sampling.Independent)]
    lines += ["", "Rules (samtheory.rules presets):"]
    lines += [f"  {name:<26} {_first_line(preset)}" for name, preset in rules.PRESETS.items()]
    lines += ["", "Theorems (samtheory.theory.catalogue()):"]
    lines += [f"  {theorem.name}  [{theorem.source}]" for theorem in theory.catalogue()]
    lines += ["", "Studies (samtheory verify --only NAME):"]
    for name in STUDIES:
        try:
            title = load(name).TITLE
        except ImportError as exc:
            title = f"(not available: {exc})"
        lines.append(f"  {name:<26} {title}")
    return "\n".join(lines)


def _run_command(parser, args):
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
