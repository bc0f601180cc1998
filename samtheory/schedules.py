r"""Step-size, radius, interpolation and probability schedules.

A schedule maps the step index t = 0, 1, ..., T-1 of a run of T steps to a
number. Schedules are evaluated once, before a run, into an array of length T
that the engine reads; τ = t/T is the fraction of the run elapsed.

Every update-rule parameter that may vary in time (γ_t, ρ_t, λ_t, p_t) accepts
a schedule, a plain number (constant), a 1-D array of length T, or a callable
``t -> value`` vectorised over a NumPy integer array.
"""
from dataclasses import dataclass
import math

import numpy as np

from . import _validate


class Schedule:
    """Base class: subclasses implement ``values(steps)`` returning shape (steps,)."""

    def values(self, steps):  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self):
        """JSON-friendly description used in saved configurations."""
        return {"schedule": type(self).__name__,
                **{k: float(v) for k, v in vars(self).items()}}


@dataclass(frozen=True)
class Constant(Schedule):
    """c for every t."""
    value: float

    def values(self, steps):
        return np.full(steps, float(self.value))


@dataclass(frozen=True)
class InverseSqrt(Schedule):
    """scale / sqrt(t + offset); the default gives η_t = c/√(t+1)."""
    scale: float
    offset: float = 1.0

    def values(self, steps):
        if self.offset <= 0:
            raise ValueError(f"offset must lie in (0, inf), got {self.offset!r}")
        return self.scale / np.sqrt(np.arange(steps) + self.offset)


@dataclass(frozen=True)
class Piecewise(Schedule):
    """``before`` for τ < ``switch``, else ``after`` (RST piecewise, τ = t/T)."""
    before: float
    after: float
    switch: float = 0.5

    def values(self, steps):
        tau = np.arange(steps) / steps
        return np.where(tau < self.switch, float(self.before), float(self.after))


@dataclass(frozen=True)
class Linear(Schedule):
    """start + (end - start) τ."""
    start: float
    end: float

    def values(self, steps):
        return self.start + (self.end - self.start) * (np.arange(steps) / steps)


@dataclass(frozen=True)
class TrigIncreasing(Schedule):
    """low + (high - low)(1 - cos πτ)/2."""
    low: float = 0.0
    high: float = 1.0

    def values(self, steps):
        tau = np.arange(steps) / steps
        return self.low + (self.high - self.low) * (1.0 - np.cos(np.pi * tau)) / 2.0


@dataclass(frozen=True)
class TrigDecreasing(Schedule):
    """low + (high - low)(1 + cos πτ)/2; the default is (1 + cos πτ)/2."""
    low: float = 0.0
    high: float = 1.0

    def values(self, steps):
        tau = np.arange(steps) / steps
        return self.low + (self.high - self.low) * (1.0 + np.cos(np.pi * tau)) / 2.0


@dataclass(frozen=True)
class DecreasingRadius(Schedule):
    """ρ_t = min(ρ, 1/(2t + 1)): Unified SAM's decreasing radius [code: Oikonomou & Loizou]."""
    rho: float

    def values(self, steps):
        return np.minimum(self.rho, 1.0 / (2.0 * np.arange(steps) + 1.0))


@dataclass(frozen=True)
class DecreasingStep(Schedule):
    """γ_t = min(γ, (2t + 1)/((t + 1)² μ)): Unified SAM's decreasing step for PL
    problems [code: Oikonomou & Loizou]."""
    lr: float
    mu: float

    def values(self, steps):
        if self.mu <= 0:
            raise ValueError(f"mu must lie in (0, inf), got {self.mu!r}")
        t = np.arange(steps, dtype=np.float64)
        return np.minimum(self.lr, (2.0 * t + 1.0) / ((t + 1.0) ** 2 * self.mu))


@dataclass(frozen=True, eq=False)
class Explicit(Schedule):
    """Values given as an array (length T) or a callable t -> value."""
    source: object

    def values(self, steps):
        if callable(self.source):
            out = np.asarray(self.source(np.arange(steps)), dtype=np.float64)
            if out.shape not in ((), (steps,)):
                raise ValueError(f"a schedule callable must return a scalar or shape ({steps},) "
                                 f"for a run of {steps} steps, got shape {out.shape}")
            return np.broadcast_to(out, (steps,)).copy()
        out = np.asarray(self.source, dtype=np.float64)
        if out.shape != (steps,):
            raise ValueError(f"an explicit schedule array must have shape ({steps},) "
                             f"for a run of {steps} steps, got {out.shape}")
        return out

    def describe(self):
        """The values themselves are saved beside the configuration (``schedule/<name>``)."""
        source = getattr(self.source, "__name__", "callable") if callable(self.source) else "array"
        return {"schedule": "Explicit", "source": source}


def power_law(scale, *, batch=1, horizon=1, batch_exponent=0.0, horizon_exponent=0.0):
    r"""Constant scale · b^batch_exponent · T^horizon_exponent.

    The theorem-prescribed constant steps: AdaSAM's γ = c√(b/T) is
    ``power_law(c, batch=b, horizon=T, batch_exponent=0.5, horizon_exponent=-0.5)``
    and ρ = r/√(bT) is ``power_law(r, batch=b, horizon=T, batch_exponent=-0.5,
    horizon_exponent=-0.5)``.
    """
    _validate.positive_int("batch", batch)
    _validate.positive_int("horizon", horizon)
    return Constant(float(scale) * batch ** batch_exponent * horizon ** horizon_exponent)


def adasam_lr(c, batch, horizon):
    """γ = c √(b/T) (AdaSAM's prescribed step size)."""
    return power_law(c, batch=batch, horizon=horizon, batch_exponent=0.5, horizon_exponent=-0.5)


def adasam_rho(r, batch, horizon):
    """ρ = r / √(bT) (AdaSAM's prescribed radius)."""
    return power_law(r, batch=batch, horizon=horizon, batch_exponent=-0.5, horizon_exponent=-0.5)


def as_schedule(value, name):
    """Coerce a number, array, callable or Schedule into a Schedule."""
    if isinstance(value, Schedule):
        return value
    if callable(value):
        return Explicit(value)
    if np.ndim(value) == 0:
        return Constant(_validate.real(name, value))
    return Explicit(_validate.finite_array(name, value, ndim=1))


def evaluate(schedule, steps, name, low=-math.inf, high=math.inf, low_open=False):
    """Values of ``schedule`` over ``steps`` steps, each checked to lie in the range."""
    try:
        vals = np.ascontiguousarray(schedule.values(steps), dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    if vals.shape != (steps,):
        raise ValueError(f"{name} schedule must give {steps} values, got shape {vals.shape}")
    if not np.all(np.isfinite(vals)):
        raise ValueError(f"{name} must be finite at every step (found NaN or inf)")
    return _validate.array_in_range(name, vals, low, high, low_open=low_open)
