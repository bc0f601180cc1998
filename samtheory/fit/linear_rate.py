"""The per-step contraction factor of a linearly converging run (see the package docstring)."""
from dataclasses import dataclass
import math

import numpy as np

from .. import _validate, verdicts
from ._common import (SMALLEST_RELIABLE, Estimate, _Bootstrapped, _bootstrap_means, _check_bootstrap,
                      _estimate, _fit_log_means, _metric, _tail_records, _window_columns)


@dataclass(frozen=True)
class RateComparison:
    r"""A measured per-step factor q against a theorem's factor q_th.

    Attributes
    ----------
    measured : Estimate
    theorem_factor : float
    verdict : str
        ``verdicts.decide`` on q ≤ q_th with the bootstrap standard error (normal):
        "violated" when rejected at ``verdicts.LEVEL``, "holds" (not rejected) otherwise.
    p_value : float
    rate_ratio : float
        log q / log q_th: how many times faster than the guaranteed rate the mean
        contracts (≥ 1 when the bound holds; inf when q_th = 1, i.e. the theorem
        guarantees no contraction).
    """
    measured: Estimate
    theorem_factor: float
    verdict: str
    rate_ratio: float
    p_value: float

    def __str__(self):
        return (f"measured q = {self.measured} vs theorem q_th = {self.theorem_factor:.6g}: "
                f"{self.verdict} (log q / log q_th = {self.rate_ratio:.3g})")


@dataclass(frozen=True)
class LinearRateFit(_Bootstrapped):
    r"""mean err_t ≈ c·q^t over a window of recorded steps.

    Attributes
    ----------
    factor : Estimate
        The per-step contraction factor q = exp(slope of log mean err in t).
    window : (int, int)
        First and last recorded step fitted.
    records_used : int
    threshold : float or None
        With the automatic window: the level ``plateau_multiple`` × plateau below
        which records were left out (None for a given window).
    n_boot, n_used, n_excluded : int
    """
    factor: Estimate
    window: tuple
    records_used: int
    threshold: object

    def compare(self, theorem_factor):
        """Compare q with a theorem's per-step factor q_th ∈ (0, 1] (see ``RateComparison``)."""
        q_th = _validate.real("theorem_factor", theorem_factor, 0.0, 1.0, low_open=True)
        q = self.factor
        decision = verdicts.decide(q.estimate, q.stderr, q_th, side="upper")
        ratio = math.inf if q_th == 1.0 else math.log(q.estimate) / math.log(q_th)
        return RateComparison(q, q_th, decision.verdict, ratio, decision.p_value)

    def __str__(self):
        return (f"mean err ≈ c·q^t over t in [{self.window[0]}, {self.window[1]}] "
                f"({self.records_used} records): q = {self.factor}; {self._sampling_words(self.factor)}")



def _automatic_window(values, steps, metric, plateau_multiple, tail):
    r"""(first step, last step, threshold): the second half of the steps before the mean
    first drops to ``plateau_multiple`` × plateau (or to ``SMALLEST_RELIABLE``)."""
    used = values[np.all(np.isfinite(values), axis=1)]
    if used.shape[0] == 0:
        raise ValueError(f"metric {metric!r} has no finite (non-diverged) trajectory")
    mean = used.mean(axis=0)
    level = used[:, -_tail_records(steps, tail):].mean()
    threshold = max(plateau_multiple * level, SMALLEST_RELIABLE)
    below = np.flatnonzero(mean <= threshold)
    end = below[0] if below.size else mean.size      # first record at or below the threshold
    if end < 2:
        raise ValueError(f"the mean of {metric!r} is at or below plateau_multiple × plateau "
                         f"({threshold:.3g}) from step {steps[min(end, mean.size - 1)]}: no decay "
                         "to fit; pass window=(first_step, last_step) or record more often")
    last = steps[end - 1]
    return steps[0] + (last - steps[0]) // 2, last, threshold


def fit_linear_rate(out, metric="loss_gap", *, window=None, plateau_multiple=10.0, tail=0.2,
                    confidence=0.95, n_boot=1000, seed=0):
    r"""Fit the per-step contraction factor q of the mean: mean err_t ≈ c·q^t.

    q = exp(β) with β the least-squares slope of log(mean over trajectories of
    err_t) against t over the window. A theorem of the form
    E err_t ≤ q_th^t err_0 + (neighbourhood) implies q ≤ q_th for the decay
    before the neighbourhood; ``LinearRateFit.compare(q_th)`` makes that check.

    Parameters
    ----------
    out : Trajectories
    metric : str
    window : (int, int), optional
        First and last recorded step to fit. Default (automatic): let t_end be
        the last recorded step before the mean first falls to
        ``plateau_multiple`` × plateau, where plateau is the mean over the last
        ``tail`` fraction of records (see ``plateau``), and never below
        ``SMALLEST_RELIABLE`` (≈ 1e-292); fit the second half [t_0 + (t_end − t_0)/2,
        t_end]. Dropping the first half lets faster modes die out (a mode
        contracting by q_1 < q weighs (q_1/q)^(t_end/2) relative to the slowest
        at the window start); stopping at 10× the plateau keeps its flattening
        of log(mean) below ~10 % of the slope at the window end (a plateau P
        lowers the local slope by the factor 1 − P/mean). If the run still
        contracts in its tail, the plateau estimate is just an upper bound on the
        true level and the rule stays valid.
    plateau_multiple : float > 1
    tail : float in (0, 1]
    confidence, n_boot, seed
        As in ``fit_power_law``; the bootstrap resamples trajectories with all
        their records.

    Returns
    -------
    LinearRateFit
    """
    confidence, n_boot, rng = _check_bootstrap(confidence, n_boot, seed)
    values = _metric(out, metric)
    if window is None:
        multiple = _validate.real("plateau_multiple", plateau_multiple, 1.0, np.inf, low_open=True)
        first, last, threshold = _automatic_window(values, out.steps, metric, multiple, tail)
    else:
        if np.ndim(window) != 1 or len(window) != 2:
            raise ValueError(f"window must be a pair (first_step, last_step), got {window!r}")
        first = _validate.real("window[0]", window[0], 0.0, np.inf)
        last = _validate.real("window[1]", window[1], first, np.inf, low_open=True)
        threshold = None
    t, used, excluded = _window_columns(values, out.steps, metric, first, last)
    coef, boot_coef, _ = _fit_log_means(t[:, None], used.mean(axis=0),
                                        _bootstrap_means(used, n_boot, rng), "the window's steps")
    factor = _estimate(np.exp(coef[1]), np.exp(boot_coef[:, 1]), confidence)
    return LinearRateFit(factor, (int(t[0]), int(t[-1])), int(t.size), threshold, n_boot=n_boot,
                         n_used=used.shape[0], n_excluded=excluded)

