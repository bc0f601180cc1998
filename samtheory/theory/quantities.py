r"""What a theorem bounds: quantities measured on a configuration, with their requirements
on the problem and the round-off floor of their computed value."""
from dataclasses import dataclass
import math

import numpy as np

from .. import verdicts
from ..engine.simulate import simulate
from .requirements import full_batch
from .symbols import _subs

@dataclass(frozen=True)
class Measurement:
    """An estimate of a bounded quantity: the mean over trajectories with its interval.

    ``stderr`` is the standard error (0 for a deterministic value, NaN when unknown), ``df``
    the degrees of freedom of a Student-t estimate, ``inconclusive`` a reason the estimate
    cannot decide (a heavy tail, a transient that has not decayed), empty otherwise."""
    value: float
    ci_low: float
    ci_high: float
    n_valid: int
    n_diverged: int
    note: str = ""
    stderr: float = 0.0
    df: int = None
    inconclusive: str = ""


def deterministic(problem, rule, sampler):
    """True when every trajectory of the configuration is the same: full batch and no coin
    (the perturbation probability the constant 0 or 1). One trajectory is then exact."""
    coin_free = getattr(rule.perturb_prob, "value", None) in (0.0, 1.0)
    return coin_free and full_batch().failure(problem, rule, sampler) is None


EXACT = "exact expectation"


def _sampling_free(problem, rule, sampler, exact):
    """Why a measurement has no sampling error: ``EXACT`` (the exact backend's expectation),
    "deterministic configuration" (``deterministic``), or "" (a Monte Carlo mean)."""
    if exact:
        return EXACT
    return "deterministic configuration" if deterministic(problem, rule, sampler) else ""


def _simulate(problem, rule, sampler, exact, *, trajectories, **options):
    """``simulate`` over ``trajectories``, or with ``exact`` the exact backend's one row."""
    if exact:
        return simulate(problem, rule, sampler, trajectories=1, backend="exact", **options)
    return simulate(problem, rule, sampler, trajectories=trajectories, **options)


def _mean_measurement(samples, diverged, level, sampling_free=""):
    """The mean of the finite entries with its (1 − 2·level) Student-t interval, the count of
    diverged trajectories, and the heavy-tail diagnostic (``verdicts.heavy_tail``).
    ``sampling_free`` (``_sampling_free``) says why the value has no sampling error at all."""
    samples = np.asarray(samples, dtype=float)
    n_div = int(np.count_nonzero(diverged))
    if n_div:
        why = ("the exact moments diverged" if sampling_free == EXACT
               else f"{n_div} of {samples.size} trajectories diverged")
        return Measurement(math.inf, math.inf, math.inf, samples.size - n_div, n_div,
                           f"{why}: the expectation is infinite", stderr=math.inf)
    if sampling_free:
        value = float(samples.mean())
        return Measurement(value, value, value, samples.size, 0, sampling_free, stderr=0.0)
    estimate = verdicts.sample_mean(samples)
    low, high = estimate.interval(level)
    note = "one trajectory: no interval" if samples.size == 1 else ""
    return Measurement(estimate.mean, low, high, samples.size, 0, note, stderr=estimate.stderr,
                       df=estimate.df, inconclusive=verdicts.heavy_tail(samples) or "")


# Round-off: the relative precision u of float64 and the number of terms c = 4(n + d) that
# accumulate in a computed gradient or loss (sums over n samples of d-term dot products).
ROUNDOFF = float(np.finfo(np.float64).eps)


def _roundoff(problem):
    """(c·u, s): the relative precision of a computed gradient and the scale of the iterates."""
    scale = float(np.linalg.norm(problem.x0))
    if problem.x_star is not None:
        scale = max(scale, float(np.linalg.norm(problem.x_star)),
                    float(np.linalg.norm(problem.x0 - problem.x_star)))
    return 4.0 * (problem.n + problem.d) * ROUNDOFF, scale


class Quantity:
    r"""What a theorem bounds, how to measure it on a configuration, what it needs of the
    problem (``requirement``) and the precision of its computed value (``floor``).
    ``exact_capable``: ``measure`` also takes ``exact=True``, the expectation computed by the
    exact backend (``engine.exact``) where the configuration qualifies."""
    name = "quantity"
    symbol = ""
    exact_capable = False

    def measure(self, problem, rule, sampler, *, steps, trajectories, seed, confidence, numbers):
        raise NotImplementedError  # pragma: no cover - interface

    def requirement(self, problem):
        """None, or why the quantity is undefined on ``problem``."""
        return None

    def floor(self, problem):
        """The absolute precision of the computed quantity on ``problem`` (0: exact)."""
        return 0.0

    def __str__(self):
        return self.symbol


@dataclass(frozen=True)
class FinalMetric(Quantity):
    """E[metric at t = T]: ``loss_gap`` (f(x_T) − f*) or ``dist_sq`` (‖x_T − x*‖²)."""
    metric: str = "loss_gap"
    exact_capable = True

    @property
    def symbol(self):
        return {"loss_gap": "E[f(x_T) − f*]", "dist_sq": "E‖x_T − x*‖²"}[self.metric]

    @property
    def name(self):
        return f"final {self.metric}"

    def requirement(self, problem):
        if self.metric == "loss_gap" and problem.f_star is None:
            return ("E[f(x_T) − f*] needs f* (the problem knows only a lower bound f_inf, and "
                    "f − f_inf is not the quantity a PL statement bounds)")
        if self.metric == "dist_sq" and problem.x_star is None:
            return "E‖x_T − x*‖² needs the minimiser x* (the problem has none)"
        return None

    def floor(self, problem):
        r"""With c·u the relative precision of a computed gradient and s the iterates' scale
        (``_roundoff``), iterates stall where the gradient's rounding error e ≈ c·u·L·s is
        all that is left: at distance ‖e‖/μ from x*, where f − f* = ½ eᵀH⁻¹e ≤ (c·u·L·s)²/(2μ).
        A gap computed as f(x) − f* (not ``problem.exact_gap``) also loses c·u·(|f*| + L s²)
        to cancellation. ‖x − x*‖² stalls at (c·u·L·s/μ)² + (c·u·s)². Without μ, L stands in
        for it."""
        cu, s = _roundoff(problem)
        mu_value = problem.mu or problem.L
        if self.metric == "dist_sq":
            return (cu * problem.L * s / mu_value) ** 2 + (cu * s) ** 2
        cancellation = 0.0 if problem.exact_gap else cu * (abs(problem.f_star) + problem.L * s * s)
        return (cu * problem.L * s) ** 2 / (2 * mu_value) + cancellation

    def measure(self, problem, rule, sampler, *, steps, trajectories, seed, confidence, numbers,
                exact=False):
        out = _simulate(problem, rule, sampler, exact, steps=steps, trajectories=trajectories,
                        seed=seed, record_every=steps)
        return _mean_measurement(out.metrics[self.metric][:, -1], out.diverged, (1 - confidence) / 2,
                                 _sampling_free(problem, rule, sampler, exact))


@dataclass(frozen=True)
class AverageGradNormSq(Quantity):
    r"""Σ_{t<T} w_t E‖∇f(x_t)‖² / Σ_{t<T} w_t with w_t = q^{−(t+1)}; q = 1 is the plain
    average (1/T) Σ_{t<T} E‖∇f(x_t)‖². ``ratio`` is q as a SymPy expression; the weighted
    average is at least min_{t<T} E‖∇f(x_t)‖², so a bound on it bounds the minimum too."""
    ratio: object = 1

    @property
    def symbol(self):
        return ("(1/T) Σ_{t<T} E‖∇f(x_t)‖²" if self.ratio == 1
                else "Σ_t w_t E‖∇f(x_t)‖² / Σ_t w_t, w_t = q^{−(t+1)}")

    name = "average squared gradient norm"
    exact_capable = True

    def floor(self, problem):
        r"""‖∇f‖² computed near a stationary point: the gradient's rounding error (c·u·L·s)²
        plus c·u relative to the squared scale (L s)² (see ``FinalMetric.floor``)."""
        cu, s = _roundoff(problem)
        return (cu * problem.L * s) ** 2 + cu * (problem.L * s) ** 2

    def measure(self, problem, rule, sampler, *, steps, trajectories, seed, confidence, numbers,
                exact=False):
        q = float(_subs(self.ratio, numbers)) if self.ratio != 1 else 1.0
        sampling_free = _sampling_free(problem, rule, sampler, exact)
        if q == 1.0:
            out = _simulate(problem, rule, sampler, exact, steps=steps, trajectories=trajectories,
                            seed=seed, record_every=steps, track_iterates=True)
            return _mean_measurement(out.metrics["avg_grad_norm_sq"][:, -1], out.diverged,
                                     (1 - confidence) / 2, sampling_free)
        out = _simulate(problem, rule, sampler, exact, steps=steps, trajectories=trajectories,
                        seed=seed, record_every=1)
        # w_t ∝ q^{−t}, normalised in logs so a large q^T does not overflow
        log_w = -np.arange(steps) * math.log(q)
        w = np.exp(log_w - log_w.max())
        per_trajectory = out.metrics["grad_norm_sq"][:, :steps] @ (w / w.sum())
        return _mean_measurement(per_trajectory, out.diverged, (1 - confidence) / 2, sampling_free)
