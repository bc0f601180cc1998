"""Running the studies, the verdict table, the Markdown report and a text progress bar.

``run_studies`` runs named studies (``samtheory.studies``), each writing its figures into
``outdir/<name>/`` and keeping its points in the sweep store ``outdir/runs/<name>-<size>-seed<S>/``
(``store_path``); ``format_table`` turns their claims into one plain-text table (claim,
source, configuration, empirical value with its confidence interval, bound, ratio,
verdict); ``write_report`` writes ``outdir/report.md`` with the same table, the figures,
the command, sizes, timings and versions, and ``write_claims`` the claims as
``outdir/claims.csv`` and ``outdir/claims.parquet``. ``verify`` rewrites both after every
study, so an interrupted run keeps the verdicts it reached. ``samtheory verify``, the
scripts in ``experiments/`` and ``paper_figs/make_figs.py`` are thin layers over these.
"""
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
import math
import numbers
import os
from pathlib import Path
import platform
import shutil
import sys
import textwrap
import time
import traceback

from . import verdicts
from .engine.simulate import _package_version
from .studies import load
from .sweep.executors import Processes
from .sweep.store import atomic_write

COLUMNS = ("claim", "source", "configuration", "empirical [98% CI]", "bound", "ratio", "verdict")
WIDTHS = (36, 24, 46, 30, 10, 10, 27)     # plain-text column widths; longer text wraps
RUNS = "runs"                             # outdir/RUNS/<study>-<size>-seed<S>: the studies' sweep stores
FIGURE_SUFFIXES = (".png", ".pdf")        # what a study writes into outdir/<study>/
# The columns of claims.csv / claims.parquet: the study, every Claim field, and the ratio.
CLAIM_COLUMNS = ("study", "claim", "source", "configuration", "empirical", "ci_low", "ci_high", "bound", "ratio",
                 "verdict", "kind", "should_hold", "hypothesis", "p_value", "level", "note")


# -- family-wise error ------------------------------------------------------------------------

def family_verdicts(results, level=verdicts.FAMILY_LEVEL):
    r"""``results`` with every tested claim re-decided by Holm's procedure over all of them.

    Each claim with a p-value (``Claim.p_value``, from ``verdicts.decide``) is "violated"
    exactly when ``verdicts.holm`` rejects it at family-wise level ``level`` among all the
    tested claims of all ``results``, else "holds" (not rejected): the probability that any
    true claim of the table is called violated is at most ``level``. A claim rejected at
    its own level but not by Holm says so in its note. Inconclusive and info rows are kept.
    """
    claims = [c for r in results for c in r.claims]
    rejected = iter(verdicts.holm([c.p_value for c in claims], level))
    out = []
    for result in results:
        adjusted = []
        for claim in result.claims:
            reject = next(rejected)
            if claim.verdict not in ("holds", "violated") or math.isnan(claim.p_value):
                adjusted.append(claim)
                continue
            verdict = "violated" if reject else "holds"
            note = claim.note
            if verdict != claim.verdict:
                note = "; ".join(t for t in (note, f"p = {claim.p_value:.3g}: {claim.verdict} at level "
                                             f"{claim.level:g} alone, {verdict} at family-wise level "
                                             f"{level:g} (Holm)") if t)
            adjusted.append(replace(claim, verdict=verdict, note=note))
        out.append(replace(result, claims=adjusted))
    return out


def family_footer(results, level=verdicts.FAMILY_LEVEL):
    """The line that states the error control of a table of ``results``."""
    tested = sum(1 for r in results for c in r.claims if c.verdict in ("holds", "violated")
                 and not math.isnan(c.p_value))
    return (f"Family-wise error controlled at {level:g} (Holm over {tested} tested claims): 'violated' = "
            f"rejected, 'holds' = not rejected; intervals are two-sided {1 - 2 * verdicts.LEVEL:.0%} "
            f"(per-claim level {verdicts.LEVEL:g}, one-sided).")


# -- verdict text --------------------------------------------------------------------------

def verdict_text(claim):
    """The verdict as the table shows it: a failure of a claim that should hold in capitals,
    a claim expected to fail and a hypothesis (``Claim.hypothesis``) marked so."""
    if claim.failed:
        return "VIOLATED"
    if claim.hypothesis and claim.verdict != "info":
        return f"{claim.verdict} (hypothesis)"
    if not claim.should_hold and claim.verdict != "info":
        return f"{claim.verdict} (expected to fail)"
    return claim.verdict


def _number(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.4g}"


def _cells(claim):
    empirical = f"{_number(claim.empirical)} [{_number(claim.ci_low)}, {_number(claim.ci_high)}]"
    ratio = _number(claim.ratio) if claim.kind != "info" else "—"     # no claim, no tightness
    return (claim.claim, claim.source, claim.configuration, empirical, _number(claim.bound), ratio,
            verdict_text(claim))


def format_table(results):
    """One plain-text table of every claim of ``results`` (a list of ``StudyResult``), a
    header line per study; long cells wrap within their column."""
    rule = "-+-".join("-" * w for w in WIDTHS)
    lines = [" | ".join(name.ljust(w) for name, w in zip(COLUMNS, WIDTHS)).rstrip(), rule]
    for result in results:
        lines.append(f"[{result.name}] {result.title} ({result.seconds:.1f} s)")
        for claim in result.claims:
            wrapped = [textwrap.wrap(cell, w) or [""] for cell, w in zip(_cells(claim), WIDTHS)]
            for row in range(max(len(cell) for cell in wrapped)):
                parts = [(cell[row] if row < len(cell) else "").ljust(w) for cell, w in zip(wrapped, WIDTHS)]
                lines.append(" | ".join(parts).rstrip())
        lines.append(rule)
    lines.append(family_footer(results))
    return "\n".join(lines)


def summary(results, errors=()):
    """Counts of verdicts and the failures, one line each."""
    claims = [c for r in results for c in r.claims]
    counts = {v: sum(c.verdict == v for c in claims) for v in ("holds", "violated", "inconclusive", "info")}
    expected = sum(1 for c in claims if not c.should_hold and not c.hypothesis and c.verdict == "violated")
    hypotheses = sum(1 for c in claims if c.hypothesis and c.verdict == "violated")
    lines = [f"{len(claims)} claims: {counts['holds']} hold, {counts['violated']} violated "
             f"({expected} of them expected to fail"
             + (f", {hypotheses} a hypothesis of the papers" if hypotheses else "")
             + f"), {counts['inconclusive']} inconclusive, {counts['info']} info"]
    lines += [f"FAILED: [{r.name}] {c.claim} — {c.configuration}" for r in results for c in r.claims if c.failed]
    lines += [f"ERROR: study {name}: {message}" for name, message in errors]
    return lines


# -- running ---------------------------------------------------------------------------------

@dataclass
class Suite:
    """What ``run_studies`` returns: results, errors (study name, message), total seconds."""
    results: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self):
        return bool(self.errors) or any(r.failed for r in self.results)


class ProgressBar:
    """A text progress bar on ``stream`` (stderr), driven by the studies' ``progress`` calls.

    A study module may define ``units(size)``, the number of ``progress`` calls it makes;
    the bar then fills per study, otherwise it counts calls. On a terminal the line is
    redrawn in place; elsewhere (logs, CI) one line is printed per finished study.
    """

    def __init__(self, total, stream=None, width=30):
        self.total, self.width = total, width
        self.stream = sys.stderr if stream is None else stream
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.index, self.name, self.done, self.units, self.started = 0, "", 0, None, time.perf_counter()

    def start(self, index, name, units=None):
        self.index, self.name, self.done, self.units = index, name, 0, units
        self._draw()

    def tick(self):
        self.done += 1
        self._draw()

    def finish(self, note):
        if self.live:
            self.stream.write("\r\033[K")
        self.stream.write(f"[{self.index + 1}/{self.total}] {self.name}: {note} "
                          f"({time.perf_counter() - self.started:.1f} s elapsed)\n")
        self.stream.flush()

    def _draw(self):
        if not self.live:
            return
        fraction = (self.index + (min(self.done / self.units, 1.0) if self.units else 0.0)) / self.total
        filled = int(round(fraction * self.width))
        units = f"{self.done}/{self.units}" if self.units else f"{self.done}"
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {fraction:4.0%} "
                          f"study {self.index + 1}/{self.total} {self.name}: {units} runs, "
                          f"{time.perf_counter() - self.started:.0f} s")
        self.stream.flush()


def store_path(outdir, name, size, seed):
    """The sweep store of study ``name`` at ``size`` and ``seed``: ``outdir/runs/<name>-<size>-seed<seed>``."""
    return Path(outdir) / RUNS / f"{name}-{size}-seed{seed}"


def _clear_for(figures, store, resume):
    """Before a study runs: remove the figures an earlier run left in its folder, and its
    sweep store unless ``resume``."""
    if figures.is_dir():
        for path in figures.iterdir():
            if path.suffix in FIGURE_SUFFIXES and path.is_file():
                path.unlink()
    if not resume and store.exists():
        shutil.rmtree(store)


def run_studies(names, size, outdir, seed=0, stream=None, executor=None, resume=False, after=None):
    """Run the studies ``names`` (each in ``STUDIES``) at ``size``, figures in ``outdir/<name>/``.

    Each study computes its points through ``samtheory.sweep`` in ``store_path(outdir,
    name, size, seed)`` on ``executor`` (None: in this process; else as ``sweep``'s). With
    ``resume`` the store of an earlier, interrupted run is reused and only the points it
    lacks are computed; without, it is deleted first. The PNG and PDF files an earlier run
    left in ``outdir/<name>/`` are deleted before the study runs, so the folder holds this
    run's figures only. A study that cannot be imported or raises is recorded in
    ``Suite.errors`` (with the last line of its traceback) and the others still run.
    ``after(suite, pending)``, when given, is called after each study (finished or failed)
    with the suite so far and the names still to run. Progress goes to ``stream`` (stderr
    by default).
    """
    outdir = Path(outdir)
    suite, start = Suite(), time.perf_counter()
    bar = ProgressBar(len(names), stream)
    for index, name in enumerate(names):
        bar.start(index, name)
        try:
            module = load(name)
            bar.start(index, name, module.units(size) if hasattr(module, "units") else None)
            store = store_path(outdir, name, size, seed)
            _clear_for(outdir / name, store, resume)
            result = module.run(size=size, outdir=outdir / name, seed=seed, progress=bar.tick, store=store,
                                executor=executor)
        except Exception as exc:    # noqa: BLE001 - one broken study must not hide the others
            message = f"{type(exc).__name__}: {exc}"
            suite.errors.append((name, message))
            bar.finish(f"ERROR {message}")
            traceback.print_exc(file=bar.stream)
        else:
            suite.results.append(result)
            failed = sum(c.failed for c in result.claims)
            bar.finish(f"{len(result.claims)} claims, {failed} failed, {result.seconds:.1f} s")
        suite.seconds = time.perf_counter() - start
        if after is not None:
            after(suite, names[index + 1:])
    suite.seconds = time.perf_counter() - start
    return suite


def executor_text(executor):
    """Where the points ran, in words, for the report."""
    if executor is None:
        return "in this process"
    if isinstance(executor, (Processes, numbers.Integral)):
        return f"in {getattr(executor, 'workers', executor)} local worker processes"
    address = executor if isinstance(executor, str) else executor.scheduler.address
    return f"on the Dask cluster of scheduler {address}"


# -- the machine-readable table of claims ----------------------------------------------------------

def claims_frame(results):
    """A pandas DataFrame of every claim of ``results``, one row each: ``CLAIM_COLUMNS``."""
    import pandas as pd
    rows = [{"study": result.name, **{name: getattr(claim, name) for name in CLAIM_COLUMNS[1:]}}
            for result in results for claim in result.claims]
    frame = pd.DataFrame(rows, columns=list(CLAIM_COLUMNS))
    return frame.astype({name: float for name in ("empirical", "ci_low", "ci_high", "bound", "ratio", "p_value",
                                                  "level")} | {"should_hold": bool, "hypothesis": bool})


def write_claims(results, outdir):
    """Write every claim of ``results`` to ``outdir/claims.csv`` and ``outdir/claims.parquet``
    (``claims_frame``; each file replaced atomically). Returns their paths."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    frame = claims_frame(results)
    csv, parquet = outdir / "claims.csv", outdir / "claims.parquet"
    atomic_write(csv, lambda path: frame.to_csv(path, index=False))
    atomic_write(parquet, lambda path: frame.to_parquet(path, index=False))
    return csv, parquet


# -- the Markdown report ------------------------------------------------------------------------

def _md(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(results):
    """The verdict table in Markdown, one section per study."""
    lines = []
    for result in results:
        lines += [f"### {result.name}: {result.title}", "",
                  "| " + " | ".join(COLUMNS) + " | note |", "|" + "---|" * (len(COLUMNS) + 1)]
        lines += ["| " + " | ".join(_md(cell) for cell in (*_cells(c), c.note)) + " |" for c in result.claims]
        lines.append("")
    return lines


def write_report(results, outdir, *, command="", size="quick", seed=0, seconds=None, errors=(), pending=(),
                 executor=None):
    """Write ``outdir/report.md`` (atomically): the command, sizes, timings, versions, where
    the points ran and are stored, the summary, the verdict table and every study's figures
    (PNG embedded, PDF linked). ``pending``: the studies still to run; the report then says
    it is partial. Returns its path."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    total = sum(r.seconds for r in results) if seconds is None else seconds
    import numba
    import numpy
    done = len(results) + len(errors)
    if pending:
        status = (f"- status: **partial** — {done} of {done + len(pending)} studies done; still to run: "
                  f"{', '.join(pending)}. The verdicts are those reached so far: the family-wise (Holm) "
                  "adjustment below covers only the claims present; the final report adjusts over the "
                  "claims of all studies. An interrupted run is finished by the same command with `--resume`.")
    else:
        status = f"- status: complete, {done} of {done} studies run" + (f", {len(errors)} of them failed"
                                                                         if errors else "")
    lines = ["# samtheory verification report" + (" (partial)" if pending else ""), "",
             f"- command: `{command}`" if command else "- command: (library call)",
             status,
             f"- size: {size}; seed: {seed}",
             f"- samtheory {_package_version()}, Python {platform.python_version()}, NumPy {numpy.__version__}, "
             f"Numba {numba.__version__}; {os.cpu_count()} CPU cores",
             f"- points computed {executor_text(executor)}; stored in `{RUNS}/<study>-{size}-seed{seed}/` "
             "(`--resume` reuses them); claims also in `claims.csv` and `claims.parquet`",
             f"- written {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}; total {total:.1f} s",
             "", "## Timings", "", "| study | title | claims | seconds |", "|---|---|---|---|"]
    lines += [f"| {r.name} | {_md(r.title)} | {len(r.claims)} | {r.seconds:.1f} |" for r in results]
    lines += ["", "## Summary", ""] + [f"- {_md(line)}" for line in summary(results, errors)]
    lines += ["", "Verdicts (`samtheory.verdicts`): *violated* — the claim is rejected by a one-sided "
                  "test; *holds* — it is not rejected (no evidence against it, not a proof); "
                  "*inconclusive* — the estimate cannot decide (heavy tail, transient, no standard "
                  "error); *info* — measured, no claim. `ratio` is bound / empirical. A claim marked "
                  "*expected to fail* (e.g. a biased estimator) is shown for contrast.", "",
              family_footer(results), "",
              "## Verdicts", ""]
    lines += markdown_table(results)
    lines += ["## Figures", ""]
    for result in results:
        for png in result.figures:
            rel = Path(os.path.relpath(Path(png), outdir)).as_posix()
            lines += [f"### {result.name}: {Path(png).stem}", "",
                      f"![{Path(png).stem}]({rel})", "", f"[PDF]({Path(rel).with_suffix('.pdf').as_posix()})", ""]
    path = outdir / "report.md"
    atomic_write(path, lambda temporary: Path(temporary).write_text("\n".join(lines) + "\n", encoding="utf-8"))
    return path


def verify(names, size, outdir, seed=0, command="", stream=None, executor=None, resume=False):
    """Run ``names`` (``run_studies``), writing the report and the claims tables after each
    study (partial until the last: Holm over the claims present) and at the end (Holm over
    every claim); return (Suite with the adjusted results, path of report.md)."""
    def write(suite, pending):
        results = family_verdicts(suite.results)
        write_claims(results, outdir)
        return results, write_report(results, outdir, command=command, size=size, seed=seed,
                                     seconds=suite.seconds, errors=suite.errors, pending=pending,
                                     executor=executor)

    suite = run_studies(names, size, outdir, seed=seed, stream=stream, executor=executor, resume=resume,
                        after=lambda so_far, pending: write(so_far, pending) if pending else None)
    suite.results, path = write(suite, ())
    return suite, path


__all__ = ["family_verdicts", "family_footer", "format_table", "write_report", "write_claims", "claims_frame",
           "markdown_table", "summary", "run_studies", "store_path", "verify", "Suite", "ProgressBar",
           "verdict_text"]
