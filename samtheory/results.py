"""The ``Trajectories`` object: recorded metrics of a batch of runs, summaries, save/load.

File format (``.npz``, written by ``Trajectories.save``): arrays ``steps``
(records,), ``metric/<name>`` (trajectories, records), ``final_x``
(trajectories, d), ``diverged_at`` (trajectories,; −1 = never),
``schedule/<lr|rho|lam|perturb_prob>`` (steps,), ``problem/<A|y|signs|reg_center>``
(the problem's data), ``problem/x0`` (trajectories, d) (the starting points used)
and ``config``, a 0-d string holding JSON:
{"format": 1, "samtheory_version", "problem" (class, name, constants, reg_strength),
"rule" (every field of ``rules.Rule``), "sampler", "seed", "steps",
"trajectories", "record_every", "track_iterates", "backend", "x0"}.
``Trajectories.load`` rebuilds the object from it.
"""
import json

import numpy as np

FORMAT_VERSION = 1


class Trajectories:
    """Recorded metrics of many independent runs.

    Attributes
    ----------
    steps : (records,) int array
        The iteration counts t at which metrics were recorded (x_t after t steps).
    metrics : dict of name -> (trajectories, records) array
        ``loss_gap`` f(x_t) − (f* or f_inf or 0), ``grad_norm_sq`` ‖∇f(x_t)‖²,
        ``dist_sq`` ‖x_t − x*‖² (where x* is known; for rank-deficient least squares
        x* is the minimum-norm minimiser A⁺y, not the nearest one, so this plateaus at
        the null-space part of x_0 − x*), ``grad_evals`` (int) stochastic gradient
        evaluations spent before x_t, and with ``track_iterates`` the
        running ``avg_grad_norm_sq`` (1/t) Σ_{s<t} ‖∇f(x_s)‖² and
        ``min_grad_norm_sq`` min_{s<t} ‖∇f(x_s)‖² (at t = 0: ‖∇f(x_0)‖²).
        Records after a divergence are NaN.
    final_x : (trajectories, d) array
    diverged_at : (trajectories,) int array
        The step at which the iterate or a metric became inf/NaN, −1 if never.
    schedules : dict of name -> (steps,) array
    config : dict
    problem_data : dict of name -> array
        The problem's data arrays and the starting points (see the file format).
    """

    def __init__(self, steps, metrics, final_x, diverged_at, schedules, config, problem_data=None):
        self.problem_data = dict(problem_data or {})
        self.steps = np.asarray(steps)
        self.metrics = dict(metrics)
        self.final_x = np.asarray(final_x)
        self.diverged_at = np.asarray(diverged_at)
        self.schedules = dict(schedules)
        self.config = dict(config)

    @property
    def diverged(self):
        """(trajectories,) bool: trajectories that hit inf/NaN (frozen from then on)."""
        return self.diverged_at >= 0

    @property
    def trajectories(self):
        return self.final_x.shape[0]

    def summary(self, metric="loss_gap", quantiles=(0.05, 0.5, 0.95)):
        """Per recorded step, over trajectories that did not diverge: mean, standard
        error of the mean, the given quantiles, and the count used.

        Diverged trajectories are excluded and counted in ``n_diverged``, never
        averaged in; all-diverged steps give NaN.
        """
        if metric not in self.metrics:
            raise ValueError(f"metric must be one of {sorted(self.metrics)}, got {metric!r}")
        values = self.metrics[metric][~self.diverged]
        count = values.shape[0]
        out = {"steps": self.steps, "n_valid": count, "n_diverged": int(self.diverged.sum())}
        if count == 0:
            nan = np.full(self.steps.shape, np.nan)
            out.update(mean=nan, stderr=nan, **{f"q{q:g}": nan for q in quantiles})
            return out
        out["mean"] = values.mean(axis=0)
        out["stderr"] = values.std(axis=0, ddof=1) / np.sqrt(count) if count > 1 else np.full(
            self.steps.shape, np.nan)
        for q, row in zip(quantiles, np.quantile(values, quantiles, axis=0)):
            out[f"q{q:g}"] = row
        return out

    def report(self, metric="loss_gap"):
        """A short text summary: first and last recorded values and divergences."""
        s = self.summary(metric)
        cfg = self.config
        lines = [f"{cfg['rule']['name']} on {cfg['problem']['name']} with {cfg['sampler']['sampler']}: "
                 f"{self.trajectories} trajectories x {cfg['steps']} steps (seed {cfg['seed']}, "
                 f"backend {cfg['backend']})",
                 f"  diverged: {s['n_diverged']} of {self.trajectories}"]
        for k in (0, -1):
            lines.append(f"  {metric} at t={self.steps[k]}: mean {s['mean'][k]:.6g} ± {s['stderr'][k]:.2g} "
                         f"(median {s['q0.5'][k]:.6g})")
        return "\n".join(lines)

    def __repr__(self):
        return (f"Trajectories(trajectories={self.trajectories}, records={self.steps.size}, "
                f"metrics={sorted(self.metrics)}, diverged={int(self.diverged.sum())})")

    # -- persistence -----------------------------------------------------
    def save(self, path):
        """Write the documented ``.npz`` format (see the module docstring); like
        ``numpy.savez``, a ``.npz`` suffix is added when missing."""
        arrays = {"steps": self.steps, "final_x": self.final_x, "diverged_at": self.diverged_at,
                  "config": np.array(json.dumps({"format": FORMAT_VERSION, **self.config}))}
        arrays.update({f"metric/{k}": v for k, v in self.metrics.items()})
        arrays.update({f"schedule/{k}": v for k, v in self.schedules.items()})
        arrays.update({f"problem/{k}": v for k, v in self.problem_data.items()})
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path):
        """Read a file written by ``save`` (the ``.npz`` suffix may be omitted, as in ``save``)."""
        path = str(path)
        if not path.endswith(".npz"):
            path += ".npz"
        with np.load(path, allow_pickle=False) as data:
            config = json.loads(str(data["config"]))
            if config.pop("format", None) != FORMAT_VERSION:
                raise ValueError(f"{path}: not a samtheory trajectories file of format {FORMAT_VERSION}")
            metrics = {k.split("/", 1)[1]: data[k] for k in data.files if k.startswith("metric/")}
            schedules = {k.split("/", 1)[1]: data[k] for k in data.files if k.startswith("schedule/")}
            problem = {k.split("/", 1)[1]: data[k] for k in data.files if k.startswith("problem/")}
            return cls(data["steps"], metrics, data["final_x"], data["diverged_at"], schedules,
                       config, problem)
