r"""Rate fitting with confidence intervals over trajectories.

Every fit here is a least-squares line through the logarithm of a *mean over
trajectories*, and every confidence interval comes from a bootstrap over
*trajectories*, never over recorded points:

- power laws err ≈ C·N^(−α) against the step t of one run (``fit_power_law``),
  or against T, b, bT, ... of separate runs (``fit_power_law_runs``);
- the linear-speedup test log err = log C − α_b log b − α_T log T
  (``linear_speedup``);
- the per-step contraction factor q of a linearly converging run,
  mean err_t ≈ c·q^t (``fit_linear_rate``), compared with a theorem's factor;
- the plateau (neighbourhood) a constant-step run settles in (``plateau``) and
  its power-law dependence P ≈ C·γ^a·ρ^c on the step size and radius
  (``fit_plateau_scaling``).

Data model
----------
A *sample* is one number per trajectory: a (trajectories,) array, e.g. the
final loss gap of a run (``final_values``) or its average over the last records
(``tail_means``). A series of separate runs (one per N) is a list of samples.
A single run recorded at many steps is a ``Trajectories`` object; its records
of one trajectory are correlated, so the bootstrap resamples whole trajectories
(all their records together).

Estimation
----------
With m_k the mean over trajectories of sample k and x_k its regressors
(log N, or t for linear rates), the point estimate is the ordinary
least-squares fit of log m_k = β_0 + β·x_k. A bootstrap replicate draws, in each
run, as many trajectories as it has, with replacement (the same draw for every
record of one run; independent draws for independent runs; one shared draw
when runs are paired by seed and trajectory index), recomputes every m_k and
refits. Replicates are vectorised: a replicate is a row of resampling counts
W (n_boot, trajectories), the means are W·values/n, and the refit is one
product with the pseudo-inverse of the design matrix. The interval is the
percentile interval of the replicates, their standard deviation the standard
error. Trajectories with a NaN or inf value (diverged runs) are excluded and
counted, never averaged.
"""
from dataclasses import dataclass
import math

import numpy as np
from scipy import stats

from . import _validate
from .results import Trajectories

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


@dataclass(frozen=True)
class PowerLawFit(_Bootstrapped):
    r"""err ≈ C·N^(−α), fitted on the mean over trajectories.

    Attributes
    ----------
    alpha : Estimate
        The decay exponent α (positive for a decreasing error).
    prefactor : Estimate
        C.
    variable : str
        What N is ("t" for recorded steps, or a name such as "T", "b", "bT").
    N : tuple of float
        The N values fitted.
    means : tuple of float
        The mean over trajectories at each N.
    residual_rms : float
        Root mean square of the log residuals log m_k − (log C − α log N_k) of the
        point fit (0 for an exact power law).
    n_boot, n_used, n_excluded : int
        Bootstrap replicates; trajectories used and excluded as diverged (NaN/inf),
        summed over runs for separate runs.
    """
    alpha: Estimate
    prefactor: Estimate
    variable: str
    N: tuple
    means: tuple
    residual_rms: float

    def __str__(self):
        return (f"err ≈ C·{self.variable}^(−α) over {self.variable} in [{self.N[0]:g}, {self.N[-1]:g}] "
                f"({len(self.N)} points): α = {self.alpha}, C = {self.prefactor} "
                f"(log-residual rms {self.residual_rms:.3g}); {self._sampling_words(self.alpha)}")


@dataclass(frozen=True)
class SpeedupFit(_Bootstrapped):
    r"""The linear-speedup test: does err depend on b and T only through bT?

    Attributes
    ----------
    alpha_b, alpha_T : Estimate
        Exponents of the joint fit log err = log C − α_b log b − α_T log T.
    deviation : Estimate
        α_b − α_T (0 when err depends on bT only), from the same replicates.
    alpha_bT : Estimate
        Exponent of the one-variable fit log err = log C' − α log(bT).
    residual_rms_joint, residual_rms_bT : float
        Root mean square log residual of the joint and of the bT-only fit.
        Compare with ``noise_rms``: a bT-only residual well above the noise is
        dependence that bT alone does not explain.
    noise_rms : float
        Root mean square over grid points of the bootstrap standard error of
        log(mean err): the residual spread expected from sampling noise alone.
    n_boot, n_used, n_excluded : int
    """
    alpha_b: Estimate
    alpha_T: Estimate
    deviation: Estimate
    alpha_bT: Estimate
    residual_rms_joint: float
    residual_rms_bT: float
    noise_rms: float

    def consistent_with(self, alpha=0.5):
        """True when the intervals of α_b and α_T both cover ``alpha`` and the
        interval of α_b − α_T covers 0 (each a marginal interval at the fit's
        confidence; no multiplicity correction)."""
        alpha = _validate.real("alpha", alpha)
        return self.alpha_b.covers(alpha) and self.alpha_T.covers(alpha) and self.deviation.covers(0.0)

    def verdict(self, alpha=0.5):
        """One line: consistent with err ∝ (bT)^(−alpha), or which interval excludes what."""
        alpha = _validate.real("alpha", alpha)
        if self.consistent_with(alpha):
            return f"consistent with err ∝ (bT)^(−{alpha:g}): {self}"
        misses = [f"{name} excludes {alpha:g}" for name, est in
                  (("α_b", self.alpha_b), ("α_T", self.alpha_T)) if not est.covers(alpha)]
        if not self.deviation.covers(0.0):
            misses.append(f"α_b − α_T = {self.deviation} excludes 0")
        return f"not consistent with err ∝ (bT)^(−{alpha:g}) ({'; '.join(misses)}): {self}"

    def __str__(self):
        return (f"α_b = {self.alpha_b}, α_T = {self.alpha_T}, α_b − α_T = {self.deviation}; "
                f"in bT alone α = {self.alpha_bT} (log-residual rms {self.residual_rms_bT:.3g} "
                f"vs joint {self.residual_rms_joint:.3g}, noise {self.noise_rms:.3g}); "
                f"{self._sampling_words(self.alpha_b)}")


@dataclass(frozen=True)
class RateComparison:
    r"""A measured per-step factor q against a theorem's factor q_th.

    Attributes
    ----------
    measured : Estimate
    theorem_factor : float
    verdict : str
        "holds" when the whole interval lies at or below q_th, "violated" when it
        lies above, "inconclusive" when it straddles q_th.
    rate_ratio : float
        log q / log q_th: how many times faster than the guaranteed rate the mean
        contracts (≥ 1 when the bound holds; inf when q_th = 1, i.e. the theorem
        guarantees no contraction).
    """
    measured: Estimate
    theorem_factor: float
    verdict: str
    rate_ratio: float

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
        verdict = "holds" if q.ci_high <= q_th else ("violated" if q.ci_low > q_th else "inconclusive")
        ratio = math.inf if q_th == 1.0 else math.log(q.estimate) / math.log(q_th)
        return RateComparison(q, q_th, verdict, ratio)

    def __str__(self):
        return (f"mean err ≈ c·q^t over t in [{self.window[0]}, {self.window[1]}] "
                f"({self.records_used} records): q = {self.factor}; {self._sampling_words(self.factor)}")


@dataclass(frozen=True)
class Plateau(_Counts):
    r"""The level a run settles at: mean over the last records, per trajectory first.

    Attributes
    ----------
    size : Estimate
        Mean over trajectories of the per-trajectory tail means, with a Student-t
        interval (those tail means are independent across trajectories).
    tail_steps : (int, int)
        First and last recorded step averaged.
    n_used, n_excluded : int
        Trajectories used and excluded as diverged.
    """
    size: Estimate
    tail_steps: tuple

    def __str__(self):
        return (f"plateau over t in [{self.tail_steps[0]}, {self.tail_steps[1]}]: {self.size} "
                f"({self.size.confidence:.0%} t-interval over trajectories); {self._counts_words()}")


@dataclass(frozen=True)
class PlateauScalingFit(_Bootstrapped):
    r"""P ≈ C·γ^a (·ρ^c): the plateau's power-law dependence on step size and radius.

    Attributes
    ----------
    gamma_exponent : Estimate
        a.
    rho_exponent : Estimate or None
        c (None when fitted in γ alone).
    prefactor : Estimate
        C.
    residual_rms : float
        Root mean square log residual of the point fit.
    n_boot, n_used, n_excluded : int
    """
    gamma_exponent: Estimate
    rho_exponent: object
    prefactor: Estimate
    residual_rms: float

    def __str__(self):
        rho = "" if self.rho_exponent is None else f", ρ exponent {self.rho_exponent}"
        return (f"plateau ≈ C·γ^a{'' if self.rho_exponent is None else '·ρ^c'}: γ exponent "
                f"{self.gamma_exponent}{rho}, C = {self.prefactor} (log-residual rms "
                f"{self.residual_rms:.3g}); {self._sampling_words(self.gamma_exponent)}")


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


def _power_law(regressor, means, boots, confidence, n_boot, n_used, n_excluded, variable, parameter):
    log_n = np.log(regressor)
    if np.unique(log_n).size < 2:
        raise ValueError(f"{parameter} must take at least 2 distinct values, got {np.unique(regressor)}")
    coef, boot_coef, residuals = _fit_log_means(log_n[:, None], means, boots, f"log {parameter}")
    return PowerLawFit(_estimate(-coef[1], -boot_coef[:, 1], confidence),
                       _estimate(np.exp(coef[0]), np.exp(boot_coef[:, 0]), confidence),
                       variable, tuple(float(v) for v in regressor), tuple(float(m) for m in means),
                       _rms(residuals), n_boot=n_boot, n_used=n_used, n_excluded=n_excluded)


# ---------------------------------------------------------------------------
# Power laws
# ---------------------------------------------------------------------------

def _window_columns(values, steps, metric, first_step, last_step):
    """Records with first_step <= t <= last_step of ``values`` (trajectories, records), as
    (steps, finite positive rows, number of rows excluded)."""
    in_window = (steps >= first_step) & (steps <= last_step)
    if in_window.sum() < 2:
        raise ValueError(f"the window [{first_step:g}, {last_step:g}] must contain at least 2 recorded "
                         f"steps (recorded: {steps[0]}..{steps[-1]}), got {int(in_window.sum())}")
    used, excluded = _usable_rows(f"metric {metric!r} in the window", values[:, in_window])
    return steps[in_window].astype(np.float64), used, excluded


def fit_power_law(out, metric="loss_gap", *, start=None, stop=None, confidence=0.95, n_boot=1000, seed=0):
    r"""Fit mean err_t ≈ C·t^(−α) over the recorded steps of one run.

    Parameters
    ----------
    out : Trajectories
    metric : str
        A key of ``out.metrics``; its values must be positive in the window.
    start, stop : int, optional
        First and last step fitted (inclusive); default the first recorded step
        t > 0 and the last one. t = 0 cannot enter a log fit.
    confidence : float in (0, 1)
    n_boot : int
        Bootstrap replicates; each resamples trajectories with all their records.
    seed : int
        Seeds the bootstrap.

    Returns
    -------
    PowerLawFit
        ``alpha`` = −slope of log(mean err) against log t. Diverged trajectories
        are excluded (``n_excluded``).
    """
    confidence, n_boot, rng = _check_bootstrap(confidence, n_boot, seed)
    values = _metric(out, metric)
    positive = out.steps[out.steps > 0]
    if positive.size == 0:
        raise ValueError("out must have recorded steps t > 0 for a power law in t")
    first = positive[0] if start is None else _validate.real("start", start, 1.0, np.inf)
    last = out.steps[-1] if stop is None else _validate.real("stop", stop, first, np.inf)
    t, used, excluded = _window_columns(values, out.steps, metric, first, last)
    return _power_law(t, used.mean(axis=0), _bootstrap_means(used, n_boot, rng), confidence, n_boot,
                      used.shape[0], excluded, "t", "the recorded steps in the window")


def fit_power_law_runs(N_values, samples, *, variable="N", paired=False, confidence=0.95,
                       n_boot=1000, seed=0):
    r"""Fit mean err ≈ C·N^(−α) across separate runs, one per value of N.

    Parameters
    ----------
    N_values : (K,) array of positive numbers, at least 2 distinct
        E.g. the horizons T or batch sizes b of a grid of runs.
    samples : list of K (trajectories,) arrays
        ``samples[k]``: the measured quantity (> 0) per trajectory of run k, e.g.
        ``final_values(out_k)``; NaN/inf entries (diverged) are excluded.
    variable : str
        Name of N in the report.
    paired : bool
        False: the runs are independent, each is resampled on its own. True: entry
        i of every sample comes from the same random stream (one seed, trajectory
        index i, as a grid over T run with one seed), so the bootstrap resamples
        trajectory indices jointly; a trajectory excluded in one run is excluded
        in all.
    confidence, n_boot, seed
        As in ``fit_power_law``.

    Returns
    -------
    PowerLawFit
    """
    confidence, n_boot, rng = _check_bootstrap(confidence, n_boot, seed)
    N = _positive_grid("N_values", N_values)
    means, boots, n_used, n_excluded = _run_samples(samples, N.size, paired, rng, n_boot)
    return _power_law(N, means, boots, confidence, n_boot, n_used, n_excluded, variable, "N_values")


def linear_speedup(b_values, T_values, samples, *, paired=False, confidence=0.95, n_boot=1000, seed=0):
    r"""Test whether err depends on b and T only through bT, and with which exponents.

    Fits log m = log C − α_b log b − α_T log T over a grid of K runs (needs b and
    T to vary independently: at least 3 runs, not all on one line in log space),
    and the one-variable fit log m = log C' − α log(bT). Linear speedup with
    rate (bT)^(−1/2) means α_b = α_T = 1/2; the measured deviation from
    "bT only" is α_b − α_T, with its interval from the same replicates.

    Parameters
    ----------
    b_values, T_values : (K,) arrays of positive numbers
        Batch size and horizon of each run.
    samples : list of K (trajectories,) arrays
        As in ``fit_power_law_runs``.
    paired, confidence, n_boot, seed
        As in ``fit_power_law_runs``.

    Returns
    -------
    SpeedupFit
        With ``consistent_with(alpha)`` and ``verdict(alpha)``.
    """
    confidence, n_boot, rng = _check_bootstrap(confidence, n_boot, seed)
    b = _positive_grid("b_values", b_values)
    T = _positive_grid("T_values", T_values, size=b.size)
    if b.size < 3:
        raise ValueError(f"b_values and T_values must describe at least 3 runs, got {b.size}")
    means, boots, n_used, n_excluded = _run_samples(samples, b.size, paired, rng, n_boot)
    coef, boot_coef, residuals = _fit_log_means(np.column_stack([np.log(b), np.log(T)]), means, boots,
                                                "log b_values and log T_values")
    bt = _power_law(b * T, means, boots, confidence, n_boot, n_used, n_excluded, "bT",
                    "b_values · T_values")
    with np.errstate(divide="ignore"):
        noise = _rms(np.std(np.log(boots), axis=0, ddof=1))
    return SpeedupFit(_estimate(-coef[1], -boot_coef[:, 1], confidence),
                      _estimate(-coef[2], -boot_coef[:, 2], confidence),
                      _estimate(coef[2] - coef[1], boot_coef[:, 2] - boot_coef[:, 1], confidence),
                      bt.alpha, _rms(residuals), bt.residual_rms, noise, n_boot=n_boot, n_used=n_used,
                      n_excluded=n_excluded)


# ---------------------------------------------------------------------------
# Linear rates and plateaus
# ---------------------------------------------------------------------------

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


def plateau(out, metric="loss_gap", *, tail=0.2, confidence=0.95):
    r"""The neighbourhood a run settles in: mean of ``metric`` over the last records.

    P̂ = (1/n) Σ_i m_i with m_i the mean of trajectory i over the last
    ⌈tail·records⌉ records (``tail_means``). Averaging each trajectory first makes
    the m_i independent, so the interval is the Student-t interval
    P̂ ± t_{n−1, (1+c)/2}·s/√n (s the standard deviation of the m_i); no
    bootstrap is needed and the result does not depend on a seed.

    Returns
    -------
    Plateau
    """
    confidence = _validate.real("confidence", confidence, 0.0, 1.0, low_open=True, high_open=True)
    means = tail_means(out, metric, tail)
    used = means[np.isfinite(means)]
    if used.size < 2:
        raise ValueError(f"out must hold at least 2 non-diverged trajectories for a plateau "
                         f"interval, got {used.size}")
    estimate = float(used.mean())
    stderr = float(used.std(ddof=1) / math.sqrt(used.size))
    half = float(stats.t.ppf((1.0 + confidence) / 2.0, used.size - 1)) * stderr
    steps = out.steps[-_tail_records(out.steps, tail):]
    return Plateau(Estimate(estimate, estimate - half, estimate + half, confidence, stderr),
                   (int(steps[0]), int(steps[-1])), n_used=int(used.size),
                   n_excluded=int(means.size - used.size))


def fit_plateau_scaling(gammas, samples, *, rhos=None, paired=False, confidence=0.95, n_boot=1000, seed=0):
    r"""Fit the plateau's dependence P ≈ C·γ^a (or C·γ^a·ρ^c) over runs.

    Least squares of log P_k = log C + a log γ_k (+ c log ρ_k), P_k the mean of
    ``samples[k]``, with the bootstrap over trajectories of each run.

    Parameters
    ----------
    gammas : (K,) positive step sizes
    samples : list of K (trajectories,) arrays
        Per-trajectory plateau levels of each run, e.g. ``tail_means(out_k)``.
    rhos : (K,) positive radii, optional
        Fit the ρ exponent too (γ and ρ must vary independently). Leave out for
        ρ = 0 (SGD) or a fixed ρ.
    paired, confidence, n_boot, seed
        As in ``fit_power_law_runs``.

    Returns
    -------
    PlateauScalingFit
    """
    confidence, n_boot, rng = _check_bootstrap(confidence, n_boot, seed)
    gamma = _positive_grid("gammas", gammas)
    regressors = [np.log(gamma)]
    if rhos is not None:
        regressors.append(np.log(_positive_grid("rhos", rhos, size=gamma.size)))
    if np.unique(gamma).size < 2:
        raise ValueError(f"gammas must take at least 2 distinct values, got {np.unique(gamma)}")
    means, boots, n_used, n_excluded = _run_samples(samples, gamma.size, paired, rng, n_boot)
    coef, boot_coef, residuals = _fit_log_means(np.column_stack(regressors), means, boots,
                                                "log gammas and log rhos")
    rho_exponent = None if rhos is None else _estimate(coef[2], boot_coef[:, 2], confidence)
    return PlateauScalingFit(_estimate(coef[1], boot_coef[:, 1], confidence), rho_exponent,
                             _estimate(np.exp(coef[0]), np.exp(boot_coef[:, 0]), confidence),
                             _rms(residuals), n_boot=n_boot, n_used=n_used, n_excluded=n_excluded)
