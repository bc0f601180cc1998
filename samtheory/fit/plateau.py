"""Plateaus (neighbourhoods) and their dependence on the step size and radius."""
from dataclasses import dataclass
import math

import numpy as np

from .. import _validate
from .._stats import t_half_width
from ._common import (Estimate, _Bootstrapped, _Counts, _check_bootstrap, _estimate, _fit_log_means,
                      _positive_grid, _rms, _run_samples, _tail_records, tail_means)


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
    half = float(t_half_width(used, confidence))
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
