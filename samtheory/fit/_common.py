"""What every fit shares: the result types, samples from ``Trajectories``, input checks and
the vectorised bootstrap over trajectories (the package docstring states the method)."""
from dataclasses import dataclass
import math

import numpy as np

from .. import _validate
from ..results import Trajectories


# Below this a float64 mean has lost relative precision (subnormal range); a linear
# rate is never fitted through such values.
SMALLEST_RELIABLE = np.finfo(np.float64).tiny / np.finfo(np.float64).eps
# Bootstrap counts are drawn in blocks of about this many entries (bounded memory).
_BLOCK_ENTRIES = 4_000_000


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Estimate:
    """A point estimate with a confidence interval.

    Attributes
    ----------
    estimate : float
    ci_low, ci_high : float
        Bounds of the ``confidence`` interval.
    confidence : float
        Nominal coverage in (0, 1).
    stderr : float
        Standard error (the bootstrap standard deviation, or s/√n for a t-interval).
    """
    estimate: float
    ci_low: float
    ci_high: float
    confidence: float
    stderr: float

    def covers(self, value):
        """True when ``value`` lies in [ci_low, ci_high]."""
        return bool(self.ci_low <= value <= self.ci_high)

    def __str__(self):
        return f"{self.estimate:.4g} [{self.ci_low:.4g}, {self.ci_high:.4g}]"


@dataclass(frozen=True, kw_only=True)
class _Counts:
    """Trajectories behind a result: ``n_used`` used, ``n_excluded`` excluded because they
    diverged (NaN/inf). For separate runs both are summed over runs (paired runs: an
    index excluded in one run counts once per run)."""
    n_used: int
    n_excluded: int

    def _counts_words(self):
        return f"{self.n_used} trajectories used, {self.n_excluded} diverged excluded"


@dataclass(frozen=True, kw_only=True)
class _Bootstrapped(_Counts):
    """A result whose intervals come from ``n_boot`` bootstrap replicates over trajectories."""
    n_boot: int

    def _sampling_words(self, estimate):
        return (f"{estimate.confidence:.0%} bootstrap CI over trajectories, {self.n_boot} "
                f"replicates; {self._counts_words()}")



# ---------------------------------------------------------------------------
# Samples from Trajectories
# ---------------------------------------------------------------------------

def _metric(out, metric):
    _validate.instance("out", out, Trajectories, "a samtheory.Trajectories (the result of simulate)")
    if metric not in out.metrics:
        raise ValueError(f"metric must be one of {sorted(out.metrics)}, got {metric!r}")
    values = np.array(out.metrics[metric], dtype=np.float64)
    values[out.diverged] = np.nan
    return values


def final_values(out, metric="loss_gap"):
    """(trajectories,) values of ``metric`` at the last recorded step; NaN for diverged runs."""
    return _metric(out, metric)[:, -1]


def _tail_records(steps, tail):
    tail = _validate.real("tail", tail, 0.0, 1.0, low_open=True)
    return max(1, math.ceil(tail * steps.size))


def tail_means(out, metric="loss_gap", tail=0.2):
    r"""(trajectories,) per-trajectory mean of ``metric`` over the last ⌈tail·records⌉ records.

    NaN for diverged runs. These are independent across trajectories, so they are
    the sample for ``plateau`` and ``fit_plateau_scaling``.
    """
    values = _metric(out, metric)
    return values[:, -_tail_records(out.steps, tail):].mean(axis=1)


# ---------------------------------------------------------------------------
# Validation and the bootstrap core
# ---------------------------------------------------------------------------

def _check_bootstrap(confidence, n_boot, seed):
    confidence = _validate.real("confidence", confidence, 0.0, 1.0, low_open=True, high_open=True)
    fewest = math.ceil(2.0 / (1.0 - confidence))
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < fewest:
        raise ValueError(f"n_boot must be an integer >= {fewest} for a {confidence:g} interval "
                         f"(at least one replicate beyond each bound), got {n_boot!r}")
    return confidence, int(n_boot), np.random.default_rng(_validate.seed(seed))


def _usable_rows(name, values):
    """Rows of ``values`` (trajectories, k) with every entry finite; require 2 of them and
    positive entries (a log fit). Returns (finite rows, number excluded)."""
    keep = np.all(np.isfinite(values), axis=1)
    used = values[keep]
    if used.shape[0] < 2:
        raise ValueError(f"{name} must hold at least 2 finite (non-diverged) trajectories for a "
                         f"confidence interval, got {used.shape[0]} of {values.shape[0]}")
    if np.any(used <= 0):
        raise ValueError(f"{name} must be positive (a log fit) at every used entry, got "
                         f"{float(used[used <= 0][0])!r}")
    return used, int(values.shape[0] - used.shape[0])


def _bootstrap_means(values, n_boot, rng):
    r"""(n_boot, k) means of ``values`` (n, k) over trajectories resampled with replacement.

    Replicate r uses counts W_r ~ Multinomial(n, 1/n each): the mean W_r·values/n equals
    the mean of n rows drawn with replacement, the same draw for all k columns."""
    n = values.shape[0]
    block = max(1, _BLOCK_ENTRIES // n)
    out = np.empty((n_boot, values.shape[1]))
    for first in range(0, n_boot, block):   # blocks bound memory; each is one matrix product
        rows = min(block, n_boot - first)
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=rows)
        out[first:first + rows] = counts @ values / n
    return out


def _run_samples(samples, runs, paired, rng, n_boot):
    """Means (K,), bootstrap means (n_boot, K), n_used, n_excluded of K runs' samples."""
    if isinstance(samples, np.ndarray) and samples.ndim == 2:
        samples = list(samples)
    if not isinstance(samples, (list, tuple)) or len(samples) != runs:
        got = f"length {len(samples)}" if isinstance(samples, (list, tuple)) else type(samples).__name__
        raise ValueError(f"samples must be a list of {runs} (trajectories,) arrays, one per run, got {got}")
    arrays = []
    for k, sample in enumerate(samples):
        try:
            arr = np.asarray(sample, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"samples[{k}] must be an array of real numbers ({exc})") from None
        if arr.ndim != 1:
            raise ValueError(f"samples[{k}] must be a (trajectories,) array, got shape {arr.shape}")
        arrays.append(arr)
    if paired:
        sizes = {a.size for a in arrays}
        if len(sizes) != 1:
            raise ValueError("paired samples must all have the same number of trajectories, "
                             f"got {sorted(sizes)}")
        used, excluded = _usable_rows("samples (paired)", np.column_stack(arrays))
        return used.mean(axis=0), _bootstrap_means(used, n_boot, rng), used.size, excluded * runs
    means, boots, n_used, n_excluded = [], [], 0, 0
    for k, arr in enumerate(arrays):
        used, excluded = _usable_rows(f"samples[{k}]", arr[:, None])
        means.append(used.mean())
        boots.append(_bootstrap_means(used, n_boot, rng)[:, 0])
        n_used += used.shape[0]
        n_excluded += excluded
    return np.array(means), np.column_stack(boots), n_used, n_excluded


def _fit_log_means(regressors, means, boot_means, regressor_names):
    r"""Least squares log m = β_0 + regressors·β, on the point means and on every replicate.

    Parameters
    ----------
    regressors : (K, p) array
    regressor_names : str
        What the regressors are, for the error when they are collinear.
    means : (K,) array
    boot_means : (n_boot, K) array

    Returns
    -------
    coef : (p + 1,) array
        (β_0, β).
    boot_coef : (n_boot, p + 1) array
    residuals : (K,) array
        log m − fitted values.
    """
    design = np.column_stack([np.ones(len(means)), regressors])
    if np.linalg.matrix_rank(design) < design.shape[1]:
        raise ValueError(f"{regressor_names} must vary independently over the runs (the design "
                         f"matrix [1, {regressor_names}] of shape {design.shape} is rank deficient)")
    pseudo_inverse = np.linalg.pinv(design)
    log_means = np.log(means)
    coef = pseudo_inverse @ log_means
    with np.errstate(divide="ignore"):   # a replicate mean can only be 0 if a value is 0: refused
        boot_coef = np.log(boot_means) @ pseudo_inverse.T
    return coef, boot_coef, log_means - design @ coef


def _estimate(point, replicates, confidence):
    """Percentile interval and standard deviation of bootstrap ``replicates``."""
    low, high = np.quantile(replicates, [(1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0])
    return Estimate(float(point), float(low), float(high), confidence, float(np.std(replicates, ddof=1)))


def _rms(residuals):
    return float(np.sqrt(np.mean(np.square(residuals))))


def _positive_grid(name, values, size=None):
    arr = _validate.finite_array(name, values, ndim=1)
    if size is not None and arr.size != size:
        raise ValueError(f"{name} must have one entry per run ({size}), got {arr.size}")
    _validate.array_in_range(name, arr, 0.0, np.inf, low_open=True)
    return arr


def _window_columns(values, steps, metric, first_step, last_step):
    """Records with first_step <= t <= last_step of ``values`` (trajectories, records), as
    (steps, finite positive rows, number of rows excluded)."""
    in_window = (steps >= first_step) & (steps <= last_step)
    if in_window.sum() < 2:
        raise ValueError(f"the window [{first_step:g}, {last_step:g}] must contain at least 2 recorded "
                         f"steps (recorded: {steps[0]}..{steps[-1]}), got {int(in_window.sum())}")
    used, excluded = _usable_rows(f"metric {metric!r} in the window", values[:, in_window])
    return steps[in_window].astype(np.float64), used, excluded

