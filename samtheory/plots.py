"""Figure helpers shared by the studies: a headless backend, PNG + PDF output, CI bands."""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")       # studies run in terminals and CI: never open a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ._stats import t_half_width  # noqa: E402


def save_figure(fig, path):
    """Write ``fig`` as ``path`` with suffix .png and .pdf; close it; return the PNG path."""
    path = Path(path).with_suffix("")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path.with_suffix(".png"), dpi=150, bbox_inches="tight")
    fig.savefig(path.with_suffix(".pdf"), bbox_inches="tight")
    plt.close(fig)
    return path.with_suffix(".png")


def band(ax, x, mean, low, high, label=None, **style):
    """A line with a shaded confidence band (log axes are the caller's choice)."""
    line, = ax.plot(x, mean, label=label, **style)
    ax.fill_between(x, np.asarray(low), np.asarray(high), color=line.get_color(), alpha=0.2, lw=0)
    return line


def mean_band(ax, x, values, label=None, confidence=0.95, log_floor=None, **style):
    r"""``band`` of the mean over trajectories of ``values`` (trajectories, records) with its
    Student-t interval m̂ ± t_{n−1,(1+c)/2}·sd/√n per record; rows with a NaN/inf (diverged
    trajectories) are left out. On a log axis pass ``log_floor`` (e.g. 1e-3): the lower
    end is clipped to ``log_floor`` × the mean so the band stays positive."""
    rows = np.asarray(values, dtype=np.float64)
    rows = rows[np.all(np.isfinite(rows), axis=1)]
    mean = rows.mean(axis=0)
    half = t_half_width(rows, confidence) if rows.shape[0] > 1 else 0.0 * mean
    low = mean - half
    if log_floor is not None:
        low = np.maximum(low, log_floor * mean)
    return band(ax, x, mean, low, mean + half, label=label, **style)
