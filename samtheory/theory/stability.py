r"""Closed forms on quadratics as theorems: stability thresholds and orbit amplitudes [derived].

f(x) = ½ Σ_j λ_j x_j² (``problems.Quadratic``), full batch. The derivations are in
``docs/closed_forms.md`` and ``tests/test_closed_forms.py``; here they are theorems of kind
"equal" whose quantity is measured:

- the largest stable step size, by bisection on η (``StabilityThreshold``), against
  GD's 2/λ_max, USAM's 2/(λ_max(1 + ρλ_max)), normalised SAM's 2/λ_max (its perturbation
  is bounded, so the divergence threshold is GD's) and Stable SAM's 2/λ_max;
- SAM's 2-cycle amplitude c = ηρλ₁/(2 − ηλ₁) and the SAM edge ηλ₁(1 + ρλ₁/‖∇f‖) = 2 on it;
- MSAM's 2-cycle amplitude c = ηρλ₁/(2(1 + β) − ηλ₁).
"""
from dataclasses import dataclass, replace
import math

import numpy as np
import sympy as sp

from ..engine.simulate import simulate
from ..problems import Quadratic
from ..rules import SGD, USAM, SAM, StableSAM, MSAM
from ..sampling import TauNice
from .core import (Measurement, Quantity, Theorem, diagonal_quadratic, full_batch, no_perturbation,
                   rule_is, gamma, rho, lam, beta, lambda_max, T)
from .sgd import PLAIN_SGD

GROWTH = 16.0     # ‖∇f‖² growing 16-fold over the second half of the run counts as unstable


@dataclass(frozen=True)
class StabilityThreshold(Quantity):
    r"""The largest stable constant step size η of the rule, by bisection.

    A run of T steps (one trajectory) is unstable when it diverges, when ‖∇f(x_T)‖² exceeds
    16 ‖∇f(x_{T/2})‖². A factor −(1 + 2ε) per step is flagged once (1 + 2ε)^T > 16, so the
    measured threshold lies in [η*, η*(1 + 1.4/T)]; below η* a linear orbit approaching its
    2-cycle grows at most 4-fold over the second half, so it is never flagged. Bisection runs
    to a relative width of 1e-10; the reported interval is the final bracket.
    """
    name = "stability threshold"
    symbol = "largest stable η"

    def measure(self, problem, rule, sampler, *, steps, trajectories, seed, confidence, numbers):
        def unstable(eta):
            out = simulate(problem, replace(rule, lr=eta), sampler, steps=steps, trajectories=1,
                           seed=seed, record_every=max(1, steps // 2))
            grad = out.metrics["grad_norm_sq"][0]
            return bool(out.diverged[0]) or grad[-1] / GROWTH > grad[-2]

        low, high = 0.0, float(rule.arrays(1)[0][0]) or 1.0
        for _ in range(200):
            if unstable(high):
                break
            low, high = high, 2.0 * high
        else:
            return Measurement(math.inf, math.inf, math.inf, 1, 0, "no unstable step size found")
        while high - low > 1e-10 * high:
            middle = 0.5 * (low + high)
            low, high = (low, middle) if unstable(middle) else (middle, high)
        return Measurement(0.5 * (low + high), low, high, 1, 0)


class _Deterministic(Quantity):
    """A value read off the end of one full-batch run (``value(out, problem, rule)``)."""

    def measure(self, problem, rule, sampler, *, steps, trajectories, seed, confidence, numbers):
        out = simulate(problem, rule, sampler, steps=steps, trajectories=1, seed=seed, record_every=steps)
        value = self.value(out, problem, rule)
        return Measurement(value, value, value, 1, int(out.diverged[0]))


@dataclass(frozen=True)
class TopAmplitude(_Deterministic):
    """|x_T| along the top eigenvector: the amplitude of a 2-cycle there."""
    name = "cycle amplitude"
    symbol = "|⟨x_T, v₁⟩|"

    def value(self, out, problem, rule):
        return float(abs(out.final_x[0, int(np.argmax(problem.eigenvalues))]))


@dataclass(frozen=True)
class SamEdge(_Deterministic):
    """ηλ₁(1 + ρλ₁/‖∇f(x_T)‖) at the end of the run."""
    name = "SAM edge value"
    symbol = "ηλ₁(1 + ρλ₁/‖∇f(x_T)‖)"

    def value(self, out, problem, rule):
        eta, radius = (float(array[0]) for array in rule.arrays(1)[:2])
        top = float(np.max(problem.eigenvalues))
        return float(eta * top * (1 + radius * top / math.sqrt(out.metrics["grad_norm_sq"][0, -1])))


FULL = full_batch()
QUADRATIC = diagonal_quadratic()
GRADIENT_ASCENT = rule_is("gradient ascent, sgd base, every step perturbs, not stabilised, no G-RST")
RESOLUTION = 4 / T     # relative tolerance of a measured threshold (see StabilityThreshold)


def _fixed_example(default_problem, rule, default_steps):
    """An example with a fixed rule: full batch on the given (or default) quadratic."""
    def example(problem=None, sampler=None, steps=default_steps):
        problem = default_problem if problem is None else problem
        return dict(problem=problem, rule=rule, sampler=sampler or TauNice(problem.n), steps=steps)
    return example


def _threshold(name, statement, bound, make_rule, requirements, conditions=()):
    return Theorem(name=name, source="derived (closed form, docs/closed_forms.md)", statement=statement,
                   quantity=StabilityThreshold(), bound=bound, conditions=conditions,
                   requirements=(FULL, QUADRATIC) + requirements, kind="equal", tolerance=RESOLUTION,
                   example=_fixed_example(Quadratic([10.0, 3.0, 1.0]), make_rule(), 2000))


def gd_threshold():
    r"""GD on f = ½xᵀHx is stable iff η < 2/λ_max: x_{t+1} = (I − ηH)x_t."""
    return _threshold("GD stability threshold", gd_threshold.__doc__, 2 / lambda_max,
                      lambda: SGD(lr=0.1), (PLAIN_SGD, no_perturbation()))


def usam_threshold():
    r"""USAM (λ = 0) is stable iff ηλ_max(1 + ρλ_max) < 2: the factor per direction is
    1 − ηλ(1 + ρλ), so the largest stable η is 2/(λ_max(1 + ρλ_max))."""
    return _threshold("USAM stability threshold", usam_threshold.__doc__,
                      2 / (lambda_max * (1 + rho * lambda_max)), lambda: USAM(lr=0.1, rho=0.05),
                      (GRADIENT_ASCENT,), (sp.Eq(lam, 0),))


def sam_threshold():
    r"""Normalised SAM diverges iff η > 2/λ_max: along v₁, s' = (1 − ηλ₁)s − ηρλ₁ sign(s), a bounded
    forcing of GD's map, which grows when |1 − ηλ₁| > 1 and stays bounded (the 2-cycle) otherwise."""
    return _threshold("SAM divergence threshold", sam_threshold.__doc__, 2 / lambda_max,
                      lambda: SAM(lr=0.1, rho=0.05), (GRADIENT_ASCENT,), (sp.Eq(lam, 1),))


def stable_sam_threshold():
    r"""Stable SAM (descent gradient renormalised to ‖g‖) has GD's threshold 2/λ_max: along one
    eigen-direction h is g exactly, and the top direction dominates near the threshold."""
    return _threshold("Stable SAM stability threshold", stable_sam_threshold.__doc__, 2 / lambda_max,
                      lambda: StableSAM(lr=0.1, rho=0.05),
                      (rule_is("Stable SAM (stabilised without cap, sgd base, gradient ascent, "
                               "every step perturbs)", stable=True),))


def sam_cycle():
    r"""SAM with ηλ₁ < 2 ends in the 2-cycle ±c v₁, c = ηρλ₁/(2 − ηλ₁): on x = s v₁ the map is
    s' = (1 − ηλ₁)s − ηρλ₁ sign(s), whose 2-cycle s → −s has (1 − ηλ₁)c − ηρλ₁ = −c."""
    return Theorem(name="SAM 2-cycle amplitude", source="derived (Bartlett, Long & Bousquet 2022 "
                   "describe the bouncing)", statement=sam_cycle.__doc__, quantity=TopAmplitude(),
                   bound=gamma * rho * lambda_max / (2 - gamma * lambda_max),
                   conditions=(gamma * lambda_max < 2, sp.Eq(lam, 1), rho > 0),
                   requirements=(FULL, QUADRATIC, GRADIENT_ASCENT), kind="equal", tolerance=1e-6,
                   example=_fixed_example(Quadratic([10.0, 1.0]), SAM(lr=0.15, rho=0.05), 1500))


def sam_edge():
    r"""On SAM's 2-cycle ηλ₁(1 + ρλ₁/‖∇f(x)‖) = 2 exactly (Long & Bartlett 2023's SAM edge):
    ‖∇f‖ = λ₁c, so ηλ₁ + ηρλ₁/c = ηλ₁ + (2 − ηλ₁)."""
    return Theorem(name="SAM edge on the 2-cycle", source="derived (edge of Long & Bartlett 2023)",
                   statement=sam_edge.__doc__, quantity=SamEdge(), bound=2,
                   conditions=(gamma * lambda_max < 2, sp.Eq(lam, 1), rho > 0),
                   requirements=(FULL, QUADRATIC, GRADIENT_ASCENT), kind="equal", tolerance=1e-6,
                   example=_fixed_example(Quadratic([10.0, 1.0]), SAM(lr=0.1, rho=0.05), 1500))


def msam_cycle():
    r"""MSAM (momentum β) with ηλ₁ < 2(1 + β) ends in the 2-cycle ±c, c = ηρλ₁/(2(1 + β) − ηλ₁):
    on the cycle the buffer alternates ∓2c/η, the gradient point is ±(c + ρ), and
    2c/η = −2βc/η + λ₁(c + ρ)."""
    return Theorem(name="MSAM 2-cycle amplitude", source="derived (closed form, docs/closed_forms.md)",
                   statement=msam_cycle.__doc__, quantity=TopAmplitude(),
                   bound=gamma * rho * lambda_max / (2 * (1 + beta) - gamma * lambda_max),
                   conditions=(gamma * lambda_max < 2 * (1 + beta), sp.Eq(lam, 1), rho > 0),
                   requirements=(FULL, QUADRATIC, rule_is("MSAM (momentum ascent, heavy-ball base, every "
                                                          "step perturbs, not stabilised)",
                                                          ascent="momentum", base="heavyball")),
                   kind="equal", tolerance=1e-6,
                   example=_fixed_example(Quadratic([1.0]), MSAM(lr=0.1, rho=0.05, momentum=0.9), 1500))
