"""The Student-t interval of a mean over trajectories, shared by checks, fits, studies and plots."""
import numpy as np
from scipy import stats


def t_half_width(values, confidence, axis=0):
    r"""Half-width t_{n−1,(1+c)/2} · sd(values)/√n of the ``confidence`` interval of the mean
    of ``values`` along ``axis`` (n = its length, at least 2; the entries must be finite)."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[axis]
    return stats.t.ppf((1.0 + confidence) / 2.0, n - 1) * values.std(axis=axis, ddof=1) / np.sqrt(n)
