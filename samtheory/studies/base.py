"""What a study returns: claims with verdicts, and figures.

A study is a module of ``samtheory.studies`` with ``NAME`` (short, used by ``--only``),
``TITLE``, and ``run(size="quick" | "full", outdir=Path, seed=0, progress=None) ->
StudyResult``. ``progress`` (optional) is called with no argument after each unit of work.
"""
from dataclasses import dataclass, field
import math
from pathlib import Path

import numpy as np

from .._stats import t_half_width

SIZES = ("quick", "full")
KINDS = ("upper", "equal", "info")   # empirical ≤ bound; empirical ≈ expected; reported only


@dataclass(frozen=True)
class Claim:
    """One row of the verdict table.

    ``kind="upper"``: the claim is empirical ≤ bound; ``"equal"``: empirical equals ``bound``
    (an exponent, a threshold) within the stated CI or tolerance; ``"info"``: a measured
    value with no claim (verdict "info"). ``should_hold``: a violated claim that should hold
    makes ``samtheory verify`` exit non-zero (claims expected to fail, e.g. a biased
    estimator, set it False).
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
    note: str = ""

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
        return self.should_hold and self.verdict == "violated"

    @classmethod
    def from_check(cls, result, configuration, source, claim=None, should_hold=True):
        """A row from a ``theory.CheckResult``."""
        return cls(claim=claim or result.theorem, source=source, configuration=configuration,
                   empirical=result.empirical, ci_low=result.ci_low, ci_high=result.ci_high,
                   bound=result.bound, verdict=result.verdict, should_hold=should_hold,
                   kind="upper", note=result.note)


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


def mean_ci(sample, confidence=0.95):
    r"""Mean of a (trajectories,) sample with its Student-t interval, over finite entries.

    m̂ = (1/n) Σ_i s_i and m̂ ± t_{n−1,(1+c)/2} · sd(s)/√n, with NaN/inf entries (diverged
    trajectories) left out. Returns (mean, low, high); a single finite entry gives a
    zero-width interval, none gives NaNs.
    """
    values = np.asarray(sample, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if values.size == 1:
        return mean, mean, mean
    half = float(t_half_width(values, confidence))
    return mean, mean - half, mean + half


def run_seed(seed, index):
    """The seed of the ``index``-th independent run of a study seeded with ``seed``:
    distinct runs get distinct, reproducible streams (so their samples are independent)."""
    return int(seed) * 100_003 + int(index)


def exact_claim(claim, source, configuration, empirical, expected, tolerance=0.0, note=""):
    r"""A deterministic "equal" row: holds iff |empirical − expected| ≤ ``tolerance`` (absolute).

    The interval is the point itself (a deterministic measurement has no sampling error);
    a NaN empirical value (nothing measured) is "violated"."""
    empirical, expected = float(empirical), float(expected)
    holds = math.isfinite(empirical) and abs(empirical - expected) <= tolerance
    return Claim(claim=claim, source=source, configuration=configuration, empirical=empirical,
                 ci_low=empirical, ci_high=empirical, bound=expected,
                 verdict="holds" if holds else "violated", kind="equal",
                 note=note + (f"; tolerance {tolerance:g}" if tolerance else ""))


def full_batch(problem, rule, steps, *, x0=None, record_every=None, trajectories=1, seed=0):
    """``simulate`` at full batch (τ-nice with b = n: every step uses ∇f exactly)."""
    from ..engine.simulate import simulate
    from ..sampling import TauNice
    return simulate(problem, rule, TauNice(problem.n), steps=steps, trajectories=trajectories,
                    seed=seed, x0=x0, record_every=record_every)



def prepare(config, size, outdir, progress=None):
    """The common start of a study's ``run``: (``config[size]``, the output folder, created,
    and a progress callback that is a no-op when ``progress`` is None). A size the study
    does not define raises ValueError naming the ones it does."""
    if size not in config:
        raise ValueError(f"size must be one of {sorted(config)}, got {size!r}")
    return config[size], output_dir(outdir), (progress or (lambda: None))
