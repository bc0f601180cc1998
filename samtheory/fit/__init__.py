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
from ._common import SMALLEST_RELIABLE, Estimate, final_values, tail_means
from .linear_rate import LinearRateFit, RateComparison, fit_linear_rate
from .plateau import Plateau, PlateauScalingFit, fit_plateau_scaling, plateau
from .power_law import PowerLawFit, SpeedupFit, fit_power_law, fit_power_law_runs, linear_speedup

__all__ = ["Estimate", "SMALLEST_RELIABLE", "final_values", "tail_means", "PowerLawFit", "SpeedupFit",
           "fit_power_law", "fit_power_law_runs", "linear_speedup", "RateComparison", "LinearRateFit",
           "fit_linear_rate", "Plateau", "PlateauScalingFit", "plateau", "fit_plateau_scaling"]
