"""What a study returns: claims with verdicts, and figures; how a study runs its points.

A study is a module of ``samtheory.studies`` with ``NAME`` (short, used by ``--only``),
``TITLE``, ``TASKS`` (task name -> module-level function of plain values returning a
mapping of numbers, strings, 1-d arrays or Trajectories), ``units(size)`` (its number of
points) and ``run(size="quick" | "full", outdir=Path, seed=0, progress=None, store=None,
executor=None) -> StudyResult``. ``run`` lists its expensive units of work as points
(``{"task": name, **parameters}``), computes them all through ``samtheory.sweep``
(``Points``: one sweep, in ``store``, on ``executor``) and builds its claims and figures
from what they returned. ``progress`` (optional) is called with no argument once per point.
"""
from dataclasses import dataclass, field
import math
from pathlib import Path
import tempfile
import types

import numpy as np

from .. import verdicts
from ..sweep import sweep
from ..sweep.store import Store

SIZES = ("quick", "full")
KINDS = ("upper", "lower", "equal", "info")   # ≤ bound; ≥ bound; ≈ expected; reported only


@dataclass(frozen=True)
class Claim:
    """One row of the verdict table.

    ``kind="upper"``: the claim is empirical ≤ bound; ``"lower"``: empirical ≥ bound;
    ``"equal"``: empirical equals ``bound`` (an exponent, a threshold) within a tolerance;
    ``"info"``: a measured value with no claim (verdict "info"). Verdicts come from
    ``verdicts.decide`` (build rows with ``decided_claim``, ``exact_claim`` or
    ``from_check``): "holds" means not rejected at ``level``, and ``p_value`` lets a table of
    claims control its family-wise error (``verdicts.holm``). ``should_hold``: a violated
    claim that should hold makes ``samtheory verify`` exit non-zero (claims expected to
    fail, e.g. a biased estimator, set it False). ``hypothesis``: an empirical claim of the
    papers, not a theorem, tested at the same level; its violation is a finding, reported
    as such, and does not fail ``verify``.
    """
    claim: str
    source: str
    configuration: str
    empirical: float
    ci_low: float
    ci_high: float
    bound: float
    verdict: str
    kind: str = "upper"
    should_hold: bool = True
    hypothesis: bool = False
    note: str = ""
    p_value: float = math.nan
    level: float = verdicts.LEVEL

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {list(KINDS)}, got {self.kind!r}")
        if self.verdict not in ("holds", "violated", "inconclusive", "info"):
            raise ValueError(f"verdict must be holds, violated, inconclusive or info, got {self.verdict!r}")

    @property
    def ratio(self):
        """bound / empirical (tightness of an upper bound; 1 for an exact prediction)."""
        if self.bound is None or not math.isfinite(self.bound) or self.empirical == 0:
            return math.nan
        return self.bound / self.empirical

    @property
    def failed(self):
        return self.should_hold and not self.hypothesis and self.verdict == "violated"

    @classmethod
    def from_check(cls, result, configuration, source, claim=None, should_hold=True):
        """A row from a ``theory.CheckResult``."""
        return cls(claim=claim or result.theorem, source=source, configuration=configuration,
                   empirical=result.empirical, ci_low=result.ci_low, ci_high=result.ci_high,
                   bound=result.bound, verdict=result.verdict, should_hold=should_hold,
                   kind="upper", note=result.note, p_value=result.p_value, level=result.level)


@dataclass
class StudyResult:
    name: str
    title: str
    claims: list = field(default_factory=list)
    figures: list = field(default_factory=list)     # Paths of PNG files (PDF beside each)
    seconds: float = 0.0

    @property
    def failed(self):
        return any(c.failed for c in self.claims)


def output_dir(outdir):
    path = Path(outdir)
    path.mkdir(parents=True, exist_ok=True)
    return path


def mean_ci(sample, level=verdicts.LEVEL):
    r"""Mean of a (trajectories,) sample with its two-sided (1 − 2·level) Student-t interval,
    over finite entries (NaN/inf entries, diverged trajectories, left out).

    Returns (mean, low, high); a single finite entry gives a zero-width interval, none gives
    NaNs.
    """
    values = np.asarray(sample, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan, math.nan
    if values.size == 1:
        return float(values[0]), float(values[0]), float(values[0])
    low, high = verdicts.sample_mean(values).interval(level)
    return float(values.mean()), low, high


def decided_claim(claim, source, configuration, value, stderr, bound, *, kind="upper", df=None, floor=0.0,
                  diverged=0, inconclusive=None, should_hold=True, hypothesis=False, note="",
                  level=verdicts.LEVEL):
    r"""A row decided by ``verdicts.decide``: the estimate ``value`` ± ``stderr`` (Student t
    with ``df`` degrees of freedom, normal for a bootstrap estimate with df None) against
    ``bound`` on side ``kind`` ("upper", "lower", "equal") with slack ``floor``. The interval
    shown is the two-sided (1 − 2·level) one the test uses (the point itself when stderr is 0).
    """
    decision = verdicts.decide(value, stderr, bound, side=kind, df=df, floor=floor, level=level,
                               diverged=diverged, inconclusive=inconclusive)
    if stderr is not None and math.isfinite(stderr) and math.isfinite(value):
        quantile = verdicts.quantile(level, df)
        low, high = value - quantile * stderr, value + quantile * stderr
    else:
        low, high = -math.inf, math.inf
    tolerance = f"tolerance {floor:g}" if floor and kind == "equal" else ""
    words = "; ".join(text for text in (note, decision.note, tolerance) if text)
    return Claim(claim=claim, source=source, configuration=configuration, empirical=value, ci_low=low,
                 ci_high=high, bound=bound, verdict=decision.verdict, kind=kind, should_hold=should_hold,
                 hypothesis=hypothesis,
                 note=words, p_value=decision.p_value, level=level)


def run_seed(seed, index):
    """The seed of the ``index``-th independent run of a study seeded with ``seed``:
    distinct runs get distinct, reproducible streams (so their samples are independent)."""
    return int(seed) * 100_003 + int(index)


def exact_claim(claim, source, configuration, empirical, expected, tolerance=0.0, note=""):
    r"""A deterministic "equal" row: holds iff |empirical − expected| ≤ ``tolerance`` (absolute),
    decided by ``verdicts.decide`` with standard error 0 (a deterministic measurement has no
    sampling error); a NaN empirical value (nothing measured) is "violated"."""
    return decided_claim(claim, source, configuration, float(empirical), 0.0, float(expected), kind="equal",
                         floor=tolerance, note=note)


def full_batch(problem, rule, steps, *, x0=None, record_every=None, trajectories=1, seed=0):
    """``simulate`` at full batch (τ-nice with b = n: every step uses ∇f exactly)."""
    from ..engine.simulate import simulate
    from ..sampling import TauNice
    return simulate(problem, rule, TauNice(problem.n), steps=steps, trajectories=trajectories,
                    seed=seed, x0=x0, record_every=record_every)



def prepare(study, config, size, outdir, progress=None, store=None, executor=None):
    """The common start of a study's ``run``: (``config[size]``, the output folder, created,
    and the ``Points`` that computes the study's points). A size the study does not define
    raises ValueError naming the ones it does."""
    if size not in config:
        raise ValueError(f"size must be one of {sorted(config)}, got {size!r}")
    return config[size], output_dir(outdir), Points(study, store, executor, progress)


# -- points: a study's expensive units of work, through samtheory.sweep --------------------------

CHECK_FIELDS = ("theorem", "empirical", "ci_low", "ci_high", "bound", "verdict", "note", "p_value", "level")


def check_values(result):
    """The fields of a ``theory.CheckResult`` that ``Claim.from_check`` reads, as a point's values."""
    return {name: getattr(result, name) for name in CHECK_FIELDS}


def checked(values):
    """The ``check_values`` of a point as an object ``Claim.from_check`` takes."""
    return types.SimpleNamespace(**{name: values[name] for name in CHECK_FIELDS})


def task_point(study, task, **parameters):
    """The point function of every study's sweep: ``TASKS[task](**parameters)`` of the study
    module ``study`` (``samtheory.studies.load``)."""
    from . import load
    return load(study).TASKS[task](**parameters)


class Points:
    """Computes a study's points with ``samtheory.sweep.sweep`` (``task_point``).

    Parameters
    ----------
    study : str
        The study's ``NAME``.
    store : str or os.PathLike, optional
        The sweep store (kept: a rerun computes only the points it lacks); None: a
        temporary one, removed when the points are read.
    executor : optional
        ``sweep``'s executor (None: in this process).
    progress : function, optional
        Called with no argument once per point (stored or computed).
    """

    def __init__(self, study, store=None, executor=None, progress=None):
        self.study, self.store, self.executor, self.progress = study, store, executor, progress

    def __call__(self, *parts):
        """Compute every point of ``parts`` (lists of dicts with ``task`` and its parameters),
        all in one sweep, and return, per part, the list of what its points returned
        (``sweep.store.Store.values``: arrays as NumPy arrays, Trajectories loaded). A point
        that failed (it raised) stops the study with a RuntimeError naming it, its worker
        traceback attached as a note; the next run with the same store computes it again."""
        grid = [{"study": self.study, **point} for part in parts for point in part]
        if self.store is not None:
            values = self._compute(grid, self.store)
        else:
            with tempfile.TemporaryDirectory(prefix=f"samtheory-{self.study}-") as folder:
                values = self._compute(grid, folder)
        ends = np.cumsum([len(part) for part in parts])
        return [values[end - len(part):end] for part, end in zip(parts, ends)]

    def _compute(self, grid, store):
        table = sweep(grid, task_point, store, executor=self.executor, retry_failed=True,
                      progress=self.progress or False)
        failed = table.index[table["status"] == "error"]
        if len(failed):
            first = failed[0]
            error = RuntimeError(f"{len(failed)} of {len(table)} points failed; the first, {grid[first]}: "
                                 f"{table.at[first, 'error']}")
            error.add_note(f"traceback of the point:\n{table.at[first, 'traceback']}")
            raise error
        opened = Store(store)
        return [opened.values(opened.read(key)) for key in table["key"]]
