"""Regenerate every figure of the study suite into ``paper_figs/<study>/`` (PNG and PDF).

    python paper_figs/make_figs.py [--quick] [--only NAME]... [--seed S] [--resume]
                                   [--workers N | --scheduler ADDRESS]

runs the studies of ``samtheory.studies.STUDIES`` at publication size (``--quick``: the
size of ``samtheory verify``) and writes their figures — log-log rate plots with CI bands
and fitted slopes, speedup-collapse plots, convergence and plateau plots, regime maps,
RST cost plots — beside ``paper_figs/report.md``, which embeds them with the verdict
table, and ``paper_figs/claims.csv`` / ``claims.parquet``; the studies' points stay in
``paper_figs/runs/`` (``--resume`` after an interruption; ``--workers`` / ``--scheduler`` as
for ``samtheory verify``). Exit status as ``samtheory verify``. Generated files are not
committed except those the README shows.
"""
import argparse
from pathlib import Path
import sys

from samtheory.cli import VERIFY_SEED_MAX, _integer_in, add_run_options, verify_command
from samtheory.studies import STUDIES

HERE = Path(__file__).resolve().parent


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="quick size instead of publication size")
    parser.add_argument("--only", metavar="NAME", action="append", choices=STUDIES,
                        help="regenerate only this study's figures (repeatable)")
    parser.add_argument("--seed", type=_integer_in(0, VERIFY_SEED_MAX), default=0,
                        help=f"seed of every study, in [0, {VERIFY_SEED_MAX}] (default 0)")
    add_run_options(parser)
    args = parser.parse_args(argv)
    args.full, args.out = not args.quick, str(HERE)
    words = ["python", "paper_figs/make_figs.py", *(sys.argv[1:] if argv is None else argv)]
    return verify_command(args.only or list(STUDIES), args, words)


if __name__ == "__main__":
    sys.exit(main())
