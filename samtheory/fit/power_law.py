"""Power laws err ≈ C·N^(−α) and the linear-speedup test (see the package docstring)."""
from dataclasses import dataclass

import numpy as np

from .. import _validate
from ._common import (Estimate, _Bootstrapped, _bootstrap_means, _check_bootstrap, _estimate,
                      _fit_log_means, _metric, _positive_grid, _rms, _run_samples, _window_columns)


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



def slope_text(alpha, digits=3):
    """The log-log slope −α of a decay exponent ``alpha`` (an ``Estimate``) with its
    interval, as text whose sign and interval agree: α = 0.497 [0.493, 0.501] gives
    "−0.497 [−0.501, −0.493]" (Unicode minus signs; ``digits`` decimals)."""
    number = lambda value: f"{value:.{digits}f}".replace("-", "−")
    return f"{number(-alpha.estimate)} [{number(-alpha.ci_high)}, {number(-alpha.ci_low)}]"


def _power_law(regressor, means, boots, confidence, n_boot, n_used, n_excluded, variable, parameter):
    log_n = np.log(regressor)
    if np.unique(log_n).size < 2:
        raise ValueError(f"{parameter} must take at least 2 distinct values, got {np.unique(regressor)}")
    coef, boot_coef, residuals = _fit_log_means(log_n[:, None], means, boots, f"log {parameter}")
    return PowerLawFit(_estimate(-coef[1], -boot_coef[:, 1], confidence),
                       _estimate(np.exp(coef[0]), np.exp(boot_coef[:, 0]), confidence),
                       variable, tuple(float(v) for v in regressor), tuple(float(m) for m in means),
                       _rms(residuals), n_boot=n_boot, n_used=n_used, n_excluded=n_excluded)


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
