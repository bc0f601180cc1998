"""The ``samtheory`` command.

    samtheory run [--rule SAM] [--lr 0.1] [--rho 0.05] [--lam L] [--perturb-prob P]
                  [--alpha A] [--problem least-squares] [--sampler with-replacement]
                  [--batch 8] [--steps 2000] [--trajectories 1024] [--seed 0]
                  [--backend numba] [--save out.npz]

simulates one configuration and prints a short summary (loss gap and squared
gradient norm at the first and last record, divergences, throughput); every rule and
sampler of ``samtheory list`` can be chosen (``samtheory run --help``). Exit status 1
when every trajectory diverged.

    samtheory verify [--full] [--only NAME]... [--out DIR] [--seed S] [--resume]
                     [--workers N | --scheduler ADDRESS]

runs the convergence studies (``samtheory.studies``; all of them, or those named by
``--only``) at quick size (``--full``: publication size) with a progress bar on stderr,
prints the verdict table on stdout and writes ``DIR/report.md`` with the figures and
``DIR/claims.csv`` / ``DIR/claims.parquet`` (default ``samtheory-report/``), rewritten after
every study (marked partial until the last). Each study keeps its points in the sweep
store ``DIR/runs/<study>-<size>-seed<S>/``: ``--resume`` reuses it after an interruption
(only missing points are computed), otherwise it starts empty. ``--workers N`` computes the
points in N local processes, ``--scheduler ADDRESS`` on a Dask cluster. Exit status: 0 when
every claim that should hold does not fail, 1 when one is violated or a study fails to
run, 2 for usage errors (checked before any work: an ``--out`` that cannot be written, a
``--seed`` out of range, a bad ``--workers``, a ``--scheduler`` that cannot be reached),
130 when interrupted (Ctrl-C).

    samtheory list

shows the problems, samplers, rules, theorems (with their sources) and studies.
"""
import argparse
import contextlib
import inspect
import os
import shlex
import sys
import tempfile
import time
from urllib.parse import urlparse

from . import __version__, problems, rules, sampling, theory
from .engine.simulate import BACKENDS, simulate
from .studies import STUDIES, load
from .studies.base import run_seed
from .sweep.executors import Processes

PROBLEMS = {
    "least-squares": lambda seed: problems.random_least_squares(256, 64, condition=10, seed=seed),
    "sine": lambda seed: problems.random_sine_least_squares(256, 16, seed=seed),
    "logistic": lambda seed: problems.random_logistic(256, 16, seed=seed),
    "diagonal-network": lambda seed: problems.diagonal_network(256, 32, sparsity=4, seed=seed),
    "scalar-factorisation": lambda seed: problems.scalar_factorisation(),
    "matrix-sensing": lambda seed: problems.matrix_sensing(256, 8, rank=2, width=4, seed=seed),
    "two-layer": lambda seed: problems.two_layer(256, 8, width=16, teacher_width=4, seed=seed),
}


class UsageParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr (exit status 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class DefaultsHelp(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` shows every default; options whose default is None say theirs in words."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def _independent(b, n):
    if not 1 <= b <= n:
        raise ValueError(f"--batch must lie in [1, n] = [1, {n}] for the independent sampler "
                         f"(each sample is drawn with probability batch/n), got {b}")
    return sampling.Independent(b / n)


# name -> sampler from (--batch b, the problem's n)
SAMPLERS = {
    "with-replacement": lambda b, n: sampling.WithReplacement(b),
    "importance": lambda b, n: sampling.Importance(b),
    "tau-nice": lambda b, n: sampling.TauNice(b),
    "stratified": lambda b, n: sampling.Stratified(b),
    "independent": _independent,
}
RULES = tuple(rules.PRESETS)
# Parameters of the presets that `run` sets, with their options; a preset takes those its
# signature names (a required one must be given, except the radius: DEFAULT_RHO).
RULE_OPTIONS = {"rho": "--rho", "lam": "--lam", "schedule": "--perturb-prob", "alpha": "--alpha"}
DEFAULT_RHO = 0.05
# `verify` derives each run's seed as studies.base.run_seed(seed, index), index < stride,
# and every one must be a valid simulate seed (< 2**64).
SEED_STRIDE = run_seed(1, 0) - run_seed(0, 0)
VERIFY_SEED_MAX = (2 ** 64 - SEED_STRIDE) // SEED_STRIDE
MAX_WORKERS = 1024
SCHEDULER_TIMEOUT = 10.0      # seconds `verify --scheduler` waits for the scheduler before giving up


def _rule(args):
    """The preset ``args.rule`` with ``--lr`` and the options of ``RULE_OPTIONS`` it takes."""
    preset = rules.PRESETS[args.rule]
    takes = inspect.signature(preset).parameters
    values = {}
    for name, option in RULE_OPTIONS.items():
        value = getattr(args, option[2:].replace("-", "_"))
        if name not in takes:
            if value is not None:
                users = [rule for rule, other in rules.PRESETS.items()
                         if name in inspect.signature(other).parameters]
                raise ValueError(f"{option} applies only to {', '.join(users)}; {args.rule} does "
                                 "not take it")
        elif value is not None:
            values[name] = value
        elif name == "rho":
            values[name] = DEFAULT_RHO
        elif takes[name].default is inspect.Parameter.empty:
            raise ValueError(f"{args.rule} needs {option}")
    return preset(args.lr, **values)


def _integer_in(low, high):
    """An argparse type: an integer in [low, high]."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be an integer in [{low}, {high}], got {text!r}")
        return value
    return parse


def _writable_folder(text):
    """An argparse type: a folder that exists and can be written, or can be created."""
    if not text:
        raise argparse.ArgumentTypeError("must name a folder, got an empty path")
    path = os.path.abspath(text)
    existing = path
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise argparse.ArgumentTypeError(
            f"{existing} is a file, not a folder" if existing == path else
            f"cannot create {text}: {existing} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot write in {existing} ({exc.strerror or exc})") from None
    return text


def _writable_file(text):
    """An argparse type: where ``Trajectories.save`` can write (``.npz`` added when missing)."""
    if not text:
        raise argparse.ArgumentTypeError("must name a file, got an empty path")
    path = text if text.endswith(".npz") else text + ".npz"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"the folder of {text!r} does not exist")
    if os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"{path} is a folder")
    _writable_folder(folder)
    return text


def _scheduler_address(text):
    """An argparse type: a Dask scheduler address, ``[protocol://]host:port``."""
    parsed = urlparse(text if "://" in text else f"tcp://{text}")
    try:
        port = parsed.port
    except ValueError:          # a port that is not a number in [0, 65535]
        port = None
    if not parsed.hostname or not port:
        raise argparse.ArgumentTypeError(f"must be a Dask scheduler address such as tcp://host:8786, got {text!r}")
    return text


def _run_parser(sub):
    run = sub.add_parser("run", help="simulate one configuration and print a summary",
                         formatter_class=DefaultsHelp)
    run.add_argument("--rule", choices=RULES, default="SAM", help="update rule (samtheory list)")
    run.add_argument("--lr", type=float, default=0.1, help="step size γ")
    run.add_argument("--rho", type=float, default=None,
                     help=f"radius ρ of the perturbing rules (default: {DEFAULT_RHO})")
    run.add_argument("--lam", type=float, default=None,
                     help="λ in [0, 1] of the rules that take it (UnifiedSAM needs it; default: "
                          "the rule's)")
    run.add_argument("--perturb-prob", type=float, default=None,
                     help="probability p of a SAM step (RST and GRST need it)")
    run.add_argument("--alpha", type=float, default=None, help="G-RST's α (GRST needs it)")
    run.add_argument("--problem", choices=sorted(PROBLEMS), default="least-squares",
                     help="problem (samtheory list)")
    run.add_argument("--problem-seed", type=_integer_in(0, 2 ** 64 - 1), default=0,
                     help="seed of the problem's random data")
    run.add_argument("--sampler", choices=sorted(SAMPLERS), default="with-replacement",
                     help="minibatch sampler (independent: each sample with probability batch/n)")
    run.add_argument("--batch", type=int, default=8, help="minibatch size b (stratified: blocks)")
    run.add_argument("--steps", type=int, default=2000, help="iterations T per trajectory")
    run.add_argument("--trajectories", type=int, default=1024, help="independent trajectories")
    run.add_argument("--seed", type=_integer_in(0, 2 ** 64 - 1), default=0,
                     help="seed of the random streams")
    run.add_argument("--record-every", type=int, default=None,
                     help="record every k steps (default: max(1, steps // 100))")
    run.add_argument("--backend", choices=BACKENDS, default="numba", help="simulation backend")
    run.add_argument("--track-sharpness", action="store_true",
                     help="also record λ_max and the trace of the Hessian (backends numba, reference)")
    run.add_argument("--save", metavar="PATH", type=_writable_file, default=None,
                     help="write the trajectories to PATH (.npz added when missing)")


def add_verify_options(parser, default_out="samtheory-report"):
    """The options of ``samtheory verify`` (shared with ``experiments/`` and ``paper_figs/``),
    checked at parse time: ``--out`` must be a folder that can be written (or created),
    ``--seed`` an integer in [0, ``VERIFY_SEED_MAX``]."""
    parser.add_argument("--full", action="store_true", help="publication size (slow) instead of quick")
    parser.add_argument("--out", metavar="DIR", default=default_out, type=_writable_folder,
                        help=f"folder for report.md, claims.csv/.parquet, the figures and the point stores "
                             f"(runs/) (default {default_out})")
    parser.add_argument("--seed", type=_integer_in(0, VERIFY_SEED_MAX), default=0,
                        help=f"seed of every study, in [0, {VERIFY_SEED_MAX}] (default 0)")
    add_run_options(parser)


def add_run_options(parser):
    """Where the studies' points are computed and kept: ``--resume``, and ``--workers N``
    (an integer in [1, ``MAX_WORKERS``]) or ``--scheduler ADDRESS`` (``[protocol://]host:port``),
    not both; ``verify_command`` reaches the scheduler before any work."""
    parser.add_argument("--resume", action="store_true",
                        help="reuse the points an earlier, interrupted run stored in DIR/runs/ (same size and "
                             "seed) and compute only the missing ones; without it each study's store starts empty")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", metavar="N", type=_integer_in(1, MAX_WORKERS), default=None,
                       help="compute the points in N local worker processes (default: in this process)")
    where.add_argument("--scheduler", metavar="ADDRESS", type=_scheduler_address, default=None,
                       help="compute the points on the Dask cluster of this scheduler (tcp://host:8786; needs "
                            "pip install 'samtheory[dask]', and samtheory installed on the workers)")


def _verify_parser(sub):
    verify = sub.add_parser("verify", help="run the convergence studies, print verdicts, write a report")
    verify.add_argument("--only", metavar="NAME", action="append", choices=STUDIES,
                        help=f"run only this study (repeatable): {', '.join(STUDIES)}")
    add_verify_options(verify)


def main(argv=None):
    """The ``samtheory`` command; returns the exit status. When stdout is closed early
    (``samtheory run | head``) it stops quietly with status 1."""
    try:
        return _dispatch(argv)
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it at /dev/null so that flush is silent
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _dispatch(argv):
    parser = UsageParser(prog="samtheory", description="SAM-family theory-verification simulator")
    parser.add_argument("--version", action="version", version=f"samtheory {__version__}")
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
    try:
        executor = _open_executor(args)
    except ValueError as exc:
        print(f"samtheory: error: {exc}", file=sys.stderr)
        return 2
    try:
        with contextlib.ExitStack() as stack:
            if isinstance(executor, Processes):
                stack.enter_context(executor)
            elif executor is not None:
                stack.callback(executor.close)
            suite, path = verify(list(dict.fromkeys(names)), size, args.out, seed=args.seed, command=command,
                                 executor=executor, resume=args.resume)
    except KeyboardInterrupt:
        print(f"samtheory: interrupted; {args.out}/report.md and the claims tables hold the studies finished "
              "so far, and the same command with --resume computes only the missing points", file=sys.stderr)
        return 130
    if suite.results:
        print(format_table(suite.results), file=stdout)
    for line in summary(suite.results, suite.errors):
        print(line, file=stdout)
    print(f"report written to {path} ({suite.seconds:.1f} s)", file=stdout)
    return 1 if suite.failed else 0


def _open_executor(args):
    """The executor of ``--workers`` (``Processes``, to open) or ``--scheduler`` (a connected
    ``distributed.Client``), or None; ValueError when Dask is missing or the scheduler cannot
    be reached within ``SCHEDULER_TIMEOUT`` seconds."""
    if args.workers is not None:
        return Processes(args.workers)
    if args.scheduler is None:
        return None
    try:
        import distributed
    except ImportError:
        raise ValueError("--scheduler needs dask.distributed: pip install 'samtheory[dask]'") from None
    try:
        return distributed.Client(args.scheduler, timeout=SCHEDULER_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise ValueError(f"--scheduler: cannot reach a Dask scheduler at {args.scheduler} within "
                         f"{SCHEDULER_TIMEOUT:g} s ({type(exc).__name__}: {exc})") from None


def study_script(name, argv=None):
    """``main`` of ``experiments/study_<name>.py``: run one study alone with the verify
    options (--full, --out, --seed, --resume, --workers, --scheduler); returns the exit status."""
    parser = UsageParser(description=f"{load(name).TITLE} (samtheory study {name!r})")
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
    samplers = {name: type(SAMPLERS[name](8, 256)) for name in sorted(SAMPLERS)}
    lines += [f"  {name:<26} {cls.__name__}: {_first_line(cls)}" for name, cls in samplers.items()]
    lines += ["", "Rules (samtheory.rules presets; `samtheory run --rule`):"]
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
        problem = PROBLEMS[args.problem](args.problem_seed)
        rule = _rule(args)
        sampler = SAMPLERS[args.sampler](args.batch, problem.n)
        start = time.perf_counter()
        out = simulate(problem, rule, sampler, steps=args.steps, trajectories=args.trajectories,
                       seed=args.seed, record_every=args.record_every, backend=args.backend,
                       track_sharpness=args.track_sharpness)
        seconds = time.perf_counter() - start
    except (ValueError, RuntimeError) as exc:   # RuntimeError: backend cupy without CuPy or GPU
        parser.exit(2, f"samtheory: error: {exc}\n")
    print(out.report("loss_gap"))
    if not out.diverged.all():
        grad = out.summary("grad_norm_sq")
        print(f"  grad_norm_sq at t={out.steps[-1]}: mean {grad['mean'][-1]:.6g} ± "
              f"{grad['stderr'][-1]:.2g}")
        if args.track_sharpness:
            sharp = out.summary("sharpness")
            print(f"  sharpness λ_max at t={out.steps[0]}: mean {sharp['mean'][0]:.6g}; at "
                  f"t={out.steps[-1]}: mean {sharp['mean'][-1]:.6g} ± {sharp['stderr'][-1]:.2g}")
        print(f"  {args.trajectories * args.steps / seconds:.3g} trajectory-steps/s "
              f"({seconds:.2f} s, compilation included on a first run)")
    if args.save:
        print(f"  saved to {out.save(args.save)}")
    if out.diverged.all():
        print(f"samtheory: every one of the {out.trajectories} trajectories diverged; try a "
              "smaller --lr or --rho", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
