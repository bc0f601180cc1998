r"""The one decision rule: a measured quantity held against a claimed value.

Every verdict of samtheory (``theory.check``, the fits' comparisons, every claim of every
study) comes from :func:`decide`. The rule is a one-sided test of the claim:

- an upper claim "E ≤ bound" is the null hypothesis H₀: E ≤ bound + floor; it is
  **violated** when H₀ is rejected at level α, i.e. when the p-value
  p = P(Z ≥ (m̂ − bound − floor)/se) is at most α (Z Student t with the estimate's degrees
  of freedom, or normal for bootstrap estimates). Equivalently, the lower end of the
  two-sided (1 − 2α) interval lies above bound + floor;
- a lower claim "E ≥ bound" is the mirror image;
- an equality claim "E = value (within floor)" is two one-sided tests, p = 2 min(p₋, p₊);
- otherwise the claim **holds**, which means exactly *not rejected at level α*: a holding
  verdict says the sample gives no evidence against the claim, not that the claim is
  proven;
- it is **inconclusive** when the estimate cannot be trusted to test anything: the sample
  shows a tail too heavy for its mean's interval (:func:`heavy_tail`), an asymptotic
  claim's transient has not decayed, or there is no standard error (one random
  trajectory). The reason is given.

A trajectory that diverged makes an expectation infinite: an upper claim on it is violated
with p = 0.

**Error control.** Where the claim is true and sharp (the truth equals the bound), the
probability of "violated" is α (up to the accuracy of the t approximation); where the truth
lies strictly inside, it is smaller. The default per-claim level is ``LEVEL`` = 0.01.
``samtheory verify`` makes many claims at once and controls the family-wise error over all
of them with Holm's step-down procedure (:func:`holm`) at ``FAMILY_LEVEL`` = 0.05: the
probability that any true claim of the table is called violated is at most 0.05.

**Round-off floor.** A computed quantity has an absolute precision below which it cannot
follow a bound (a bound of 1e-67 against a loss gap stalled at the floating-point floor of
3e-31): the claim is tested against bound + floor, with the floor derived from machine
epsilon and the problem's scale by the quantity (``theory.quantities.Quantity.floor``).

**Heavy tails.** A sample mean's interval assumes the sample represents the tail of the
distribution. When the largest 1 % of a nonnegative sample carries more than half of its
sum (:func:`heavy_tail`), the mean is decided by a handful of trajectories and the
expectation may be carried by events no sample of this size contains; the verdict is then
inconclusive. No sample-based rule can see a tail the sample does not show.
"""
from dataclasses import dataclass
import math

import numpy as np
from scipy import stats

from . import _validate

LEVEL = 0.01            # per-claim level α: false-violation rate at a sharp true claim
FAMILY_LEVEL = 0.05     # family-wise level of a table of claims (Holm)
TAIL_FRACTION = 0.01    # the heavy-tail diagnostic looks at the largest 1 % of a sample ...
TAIL_SHARE = 0.5        # ... and fires when they carry more than half of the sum
SIDES = ("upper", "lower", "equal")
VERDICTS = ("holds", "violated", "inconclusive")


@dataclass(frozen=True)
class Decision:
    """A verdict with its p-value.

    Attributes
    ----------
    verdict : str
        "holds" (not rejected at ``level``), "violated" (rejected at ``level``) or
        "inconclusive" (``note`` says why).
    p_value : float
        P-value of the claim as null hypothesis (NaN when there is none to compute).
    level : float
        The level α the claim was tested at.
    note : str
    """
    verdict: str
    p_value: float
    level: float
    note: str = ""


@dataclass(frozen=True)
class MeanEstimate:
    """The mean of a sample with its standard error (Student t with ``df`` degrees of freedom)."""
    mean: float
    stderr: float
    df: int
    n: int

    def interval(self, level=LEVEL):
        """The two-sided (1 − 2 ``level``) interval: its ends are the one-sided (1 − level) limits."""
        if self.n < 2:
            return (-math.inf, math.inf) if self.stderr != 0 else (self.mean, self.mean)
        half = quantile(level, self.df) * self.stderr
        return self.mean - half, self.mean + half


def quantile(level, df=None):
    """The one-sided (1 − level) quantile of Student t with ``df`` degrees of freedom (normal
    when df is None): the half-width of the (1 − 2·level) interval in standard errors."""
    return float(stats.norm.isf(level) if df is None else stats.t.isf(level, df))


def sample_mean(sample):
    r"""Mean, standard error s/√n and degrees of freedom n − 1 of a finite 1-D sample.

    A sample whose entries are all equal (a deterministic measurement repeated) has
    stderr 0; a single entry has stderr NaN (no estimate of the spread)."""
    values = np.asarray(sample, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("sample must contain at least one value")
    if not np.all(np.isfinite(values)):
        raise ValueError("sample must be finite (leave diverged trajectories out and count them)")
    n = values.size
    mean = float(values.mean())
    if n == 1:
        return MeanEstimate(mean, math.nan, 0, 1)
    return MeanEstimate(mean, float(values.std(ddof=1) / math.sqrt(n)), n - 1, n)


def tail_share(sample, fraction=TAIL_FRACTION):
    r"""Share of the sum of a nonnegative sample carried by its largest ⌈fraction·n⌉ entries.

    For an exponential-tailed sample of 1000 the largest 1 % carry about 5.6 %
    ((k/n)(1 + log(n/k))); for a log-normal with σ = 2.33 about half."""
    values = np.sort(np.asarray(sample, dtype=np.float64).ravel())
    total = values.sum()
    if values.size == 0 or total <= 0:
        return 0.0
    top = max(1, math.ceil(fraction * values.size))
    return float(values[-top:].sum() / total)


def heavy_tail(sample, fraction=TAIL_FRACTION, share=TAIL_SHARE):
    """None, or why the sample's mean cannot be trusted: its largest ``fraction`` carry
    more than ``share`` of the sum (nonnegative samples of at least 2 entries)."""
    values = np.asarray(sample, dtype=np.float64).ravel()
    if values.size < 2 or np.any(values < 0):
        return None
    carried = tail_share(values, fraction)
    if carried <= share:
        return None
    top = max(1, math.ceil(fraction * values.size))
    return (f"heavy tail: the largest {top} of {values.size} values carry {carried:.0%} of the sum, "
            f"so the mean rests on a few trajectories and its interval is not reliable")


def p_value(value, stderr, bound, side="upper", floor=0.0, df=None):
    r"""P-value of the claim (the null hypothesis) given an estimate ``value`` ± ``stderr``.

    side "upper": H₀ E ≤ bound + floor, p = P(Z ≥ (value − bound − floor)/stderr);
    "lower": H₀ E ≥ bound − floor, p = P(Z ≥ (bound − floor − value)/stderr);
    "equal": H₀ |E − bound| ≤ floor, p = 2 min of the two one-sided p-values (capped at 1).
    Z is Student t with ``df`` degrees of freedom, or standard normal when ``df`` is None.
    A zero ``stderr`` (a deterministic value) gives p = 0 beyond the floor and 1 within it.
    """
    _validate.choice("side", side, SIDES)
    if side == "equal":
        low = p_value(value, stderr, bound, "lower", floor, df)
        high = p_value(value, stderr, bound, "upper", floor, df)
        return min(1.0, 2.0 * min(low, high))
    excess = value - bound - floor if side == "upper" else bound - floor - value
    if stderr == 0:
        return 0.0 if excess > 0 else 1.0
    z = excess / stderr
    tail = stats.norm.sf(z) if df is None else stats.t.sf(z, df)
    return float(tail)


def decide(value, stderr, bound, *, side="upper", df=None, floor=0.0, level=LEVEL, diverged=0,
           inconclusive=None):
    r"""The verdict of a claim on an estimate (see the module docstring).

    Parameters
    ----------
    value : float
        The estimate (a mean over trajectories, a fitted exponent, a deterministic value).
    stderr : float
        Its standard error; 0 for a deterministic value; NaN when unknown (inconclusive).
    bound : float
        The claimed bound (``side`` "upper" or "lower") or value ("equal").
    side : "upper" | "lower" | "equal"
    df : int or None
        Degrees of freedom of a Student-t estimate; None for a normal (bootstrap) one.
    floor : float
        Absolute slack ≥ 0: the round-off floor of the quantity, or an equality's tolerance.
    level : float
        Per-claim level α in (0, 0.5).
    diverged : int
        Trajectories that diverged: an upper claim on an expectation is then violated.
    inconclusive : str or None
        A reason the estimate cannot decide (heavy tail, transient); the verdict is then
        "inconclusive" unless trajectories diverged.
    """
    _validate.choice("side", side, SIDES)
    level = _validate.real("level", level, 0.0, 0.5, low_open=True, high_open=True)
    floor = _validate.real("floor", floor, 0.0, math.inf)
    if diverged and side == "upper":
        return Decision("violated", 0.0, level, f"{diverged} trajectories diverged: the expectation is infinite")
    if diverged:
        inconclusive = inconclusive or f"{diverged} trajectories diverged"
    if inconclusive:
        return Decision("inconclusive", math.nan, level, inconclusive)
    if not math.isfinite(value):
        return Decision("violated", 0.0, level, "the measured value is not finite")
    if stderr is None or not math.isfinite(stderr):
        return Decision("inconclusive", math.nan, level, "no standard error (a single random trajectory?)")
    p = p_value(value, stderr, bound, side, floor, df)
    return Decision("violated" if p <= level else "holds", p, level)


def combine(decisions, level=LEVEL):
    r"""One decision for a claim made at several points at once ("the bound holds at every
    grid point"): Bonferroni, p = min(1, K · min_k p_k) over the K points. Violated when
    p ≤ ``level`` (or a point diverged, p = 0); otherwise inconclusive when a point was,
    else holds."""
    decisions = list(decisions)
    if not decisions:
        raise ValueError("decisions must not be empty")
    tested = [d.p_value for d in decisions if math.isfinite(d.p_value)]
    p = min(1.0, len(decisions) * min(tested)) if tested else math.nan
    if math.isfinite(p) and p <= level:
        return Decision("violated", p, level, f"Bonferroni over {len(decisions)} points")
    reasons = [d.note for d in decisions if d.verdict == "inconclusive"]
    if reasons:
        return Decision("inconclusive", p, level, f"{len(reasons)} of {len(decisions)} points: {reasons[0]}")
    return Decision("holds", p, level, f"Bonferroni over {len(decisions)} points")


def holm(p_values, level=FAMILY_LEVEL):
    r"""Holm's step-down rejections at family-wise level ``level``.

    Sort the m p-values, p₍₁₎ ≤ … ≤ p₍ₘ₎; reject H₍₁₎..H₍ₖ₎ for the largest k with
    p₍ⱼ₎ ≤ level/(m − j + 1) for every j ≤ k. NaN p-values (no test) are never rejected and
    do not count in m. Returns a boolean array in the input order.
    """
    level = _validate.real("level", level, 0.0, 1.0, low_open=True, high_open=True)
    p = np.asarray(p_values, dtype=np.float64)
    rejected = np.zeros(p.shape, dtype=bool)
    tested = np.flatnonzero(np.isfinite(p))
    m = tested.size
    for rank, index in enumerate(tested[np.argsort(p[tested], kind="stable")]):
        if p[index] > level / (m - rank):
            break
        rejected[index] = True
    return rejected
