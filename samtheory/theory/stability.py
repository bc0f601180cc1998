r"""Closed forms on quadratics as theorems: stability thresholds and orbit amplitudes [derived].

f(x) = ½ Σ_j λ_j x_j² (``problems.Quadratic``), full batch. The derivations are in
``docs/closed_forms.md`` and ``tests/test_closed_forms.py``; here they are theorems of kind
"equal" whose quantity is measured:

- the largest stable step size, by bisection on η (``StabilityThreshold``), against
  GD's 2/λ_max, USAM's 2/(λ_max(1 + ρλ_max)), normalised SAM's 2/λ_max (its perturbation
  is bounded, so the divergence threshold is GD's) and Stable SAM's 2/λ_max;
- SAM's 2-cycle amplitude c = ηρλ₁/(2 − ηλ₁) and the SAM edge ηλ₁(1 + ρλ₁/‖∇f‖) = 2 on it;
- MSAM's 2-cycle amplitude c = ηρλ₁/(2(1 + β) − ηλ₁).

The assumptions behind them (``docs/theory.md §4``; derivations in ``docs/closed_forms.md``):

- x₀ has a component along the top eigenspace (``ALONG_TOP``, every theorem here): every
  rule multiplies each eigen-direction by its own factor, so a direction absent from x₀
  stays absent and the run never sees λ₁. Whether a small component is seen within T steps
  is checked on the run: a threshold certifies that the top direction was visible at the
  largest stable η (``StabilityThreshold``), a cycle that nothing was lost to underflow and
  that the directions across v₁ have decayed (``unsettled``);
- λ₁ is simple for the cycle amplitudes (``SIMPLE_TOP``): |⟨x_T, v₁⟩| needs one top
  eigenvector. The thresholds and the SAM edge do not need it (see their docstrings);
- the cycles are limits: a condition on T makes the transient along v₁ decay below
  ``CYCLE_TOLERANCE``/``MARGIN`` (``sam_transient``, ``msam_transient``), and the run is
  inconclusive until the directions across v₁ have decayed and the value has settled.
"""
from dataclasses import dataclass, replace
import math

import numpy as np
import sympy as sp

from ..engine.args import GUARD
from ..engine.simulate import simulate
from ..problems import Quadratic
from ..rules import SGD, USAM, SAM, StableSAM, MSAM
from ..sampling import TauNice
from .core import ConditionError, Theorem
from .quantities import Measurement, Quantity
from .requirements import Requirement, diagonal_quadratic, full_batch, no_perturbation, rule_is
from .symbols import gamma, rho, lam, beta, lambda_max, T, dist0
from .sgd import PLAIN_SGD

GROWTH = 16.0     # ‖∇f‖² growing 16-fold over the second half of the run counts as unstable
OVERSHOOT = 2 / T            # certified relative overshoot of a measured threshold (StabilityThreshold)
RESOLUTION = 2 * OVERSHOOT   # relative tolerance of a measured threshold: 4/T
CYCLE_TOLERANCE = 1e-6       # relative tolerance of a cycle amplitude and of the SAM edge
MARGIN = 10                  # conditions on T and the settling checks aim at CYCLE_TOLERANCE/MARGIN
TRANSIENT = "enough steps: the transient along v₁ has decayed (condition on T)"


# -- the top eigenspace ---------------------------------------------------------------------

def _top(problem):
    """(mask of the top eigenspace {j : λ_j = λ_max}, λ_max) of a diagonal quadratic."""
    eigen = problem.eigenvalues
    top = float(np.max(eigen))
    return eigen == top, top


def _norm(v):
    """‖v‖ computed after scaling by max |v_j|, so that entries of 1e-300 do not underflow when squared."""
    scale = float(np.max(np.abs(v), initial=0.0))
    return scale * float(np.linalg.norm(v / scale)) if 0.0 < scale < math.inf else scale


def _along_and_across(problem, x):
    r"""(‖P₁∇f(x)‖, ‖P⊥∇f(x)‖) with ∇f(x) = Hx and P₁ the projection on the top eigenspace."""
    top, _ = _top(problem)
    g = problem.eigenvalues * np.asarray(x, dtype=float)
    return _norm(g[top]), _norm(g[~top])


def _simple_top(problem, rule, sampler):
    top, value = _top(problem)
    count = int(np.count_nonzero(top))
    if count > 1:
        return (f"λ₁ = {value:g} has multiplicity {count} ({problem.name}): the iterate cycles along x₀'s "
                f"component in the top eigenspace, so no single coordinate eigenvector v₁ carries the cycle")
    return None


def _along_top(problem, rule, sampler):
    top, value = _top(problem)
    if not np.any(problem.x0[top] != 0):
        return (f"x₀ ⟂ v₁ (its component in the eigenspace of λ₁ = {value:g} is 0): every rule here "
                f"multiplies each eigen-direction by its own factor, so the run never sees λ₁")
    return None


SIMPLE_TOP = Requirement("λ₁ simple (one top eigenvector v₁)", _simple_top)
ALONG_TOP = Requirement("x₀ has a component along v₁ (the top eigenspace)", _along_top)


@dataclass(frozen=True)
class StabilityThreshold(Quantity):
    r"""The largest stable constant step size η of the rule, by bisection, with a certificate
    that the run saw the top eigen-direction.

    A run of T steps (one trajectory) is unstable when it diverges or when ‖∇f(x_T)‖² exceeds
    16 ‖∇f(x_{T/2})‖² (T/2 means ⌊T/2⌋ throughout). Bisection runs to a relative width of
    1e-10; the reported interval is the final bracket [η_s, η_u] (η_s the largest step size
    found stable).

    **Why the bisection finds the top direction's onset η₀** (the theorem's bound). For
    η ≥ η₀ the top eigenspace's gradient P₁∇f is multiplied each step by a factor of modulus
    at least F(η) = 2η/η₀ − 1: exactly for GD (|1 − ηλ₁|, η₀ = 2/λ₁) and USAM
    (|1 − ηλ₁(1 + ρλ₁)|, η₀ = 2/(λ₁(1 + ρλ₁))); at least for SAM, whose factor
    1 − ηλ₁ − ηρλ₁²/‖∇f‖ lies below 1 − ηλ₁, and for Stable SAM, whose factor
    1 − ηsλ₁(1 + ρ'λ₁) has s = ‖∇f‖/(‖h‖ + 1e-12) with h = ∇f at the ascent point
    (h_j = (1 + ρ'λ_j)∇f_j, ρ' ≥ 0 its radius, every λ_j ≤ λ₁), so
    s(1 + ρ'λ₁) ≥ ‖h‖/(‖h‖ + 1e-12) ≥ ‖∇f‖/(‖∇f‖ + 1e-12): its bound is
    F = 2(η/η₀) min_t ‖∇f(x_t)‖/(‖∇f(x_t)‖ + 1e-12) − 1 over the second half, which the
    kernel's guard 1e-12 spoils once the run has shrunk to its scale. Let σ be P₁'s share of
    ‖∇f(x_{T/2})‖² in the run at η_s and δ = 2/T (``OVERSHOOT``). Were η_s > η₀(1 + δ), then
    with F at η₀(1 + δ) (1 + 2δ without the guard)

        ‖∇f(x_T)‖² ≥ ‖P₁∇f(x_T)‖² ≥ F^{2(T − T/2)} σ ‖∇f(x_{T/2})‖²,

    which exceeds 16 ‖∇f(x_{T/2})‖², so η_s would have been flagged, whenever
    σ ≥ 16/F^{2(T − T/2)} (≈ 16/e⁴ = 0.29 for large T). That share therefore certifies
    η_s ≤ η₀(1 + 2/T): the measurement (the bracket's midpoint, η_u ≤ η_s(1 + 1e-10))
    overshoots η₀ by at most half the tolerance 4/T (``RESOLUTION``). A smaller share (x₀'s
    component along v₁ too small to show within T steps, or a square of it below the normal
    floating-point range, which the flag cannot see) leaves the measurement inconclusive. No
    eigenvalue needs to be simple: every rule multiplies all of the top eigenspace by one
    factor.

    Below η₀ nothing is flagged for GD and USAM (every term λ_j²x_j² of ‖∇f‖² is
    non-increasing); for SAM a linear orbit approaching its 2-cycle grows at most 4-fold over
    the second half. In one dimension a factor −(1 + 2ε) is flagged once (1 + 2ε)^T > 16, so
    there the threshold is measured within [η₀, η₀(1 + 1.4/T)].
    """
    name = "stability threshold"
    symbol = "largest stable η"

    def measure(self, problem, rule, sampler, *, steps, trajectories, seed, confidence, numbers):
        if steps < 2:
            return Measurement(math.nan, math.nan, math.nan, 1, 0,
                               inconclusive="a threshold needs T ≥ 2 steps (a first and a second half)")
        half = steps // 2

        def unstable(eta):
            out = simulate(problem, replace(rule, lr=eta), sampler, steps=steps, trajectories=1,
                           seed=seed, record_every=half)
            grad = out.metrics["grad_norm_sq"][0]
            return bool(out.diverged[0]) or grad[-1] / GROWTH > grad[np.searchsorted(out.steps, half)]

        low, high = 0.0, float(rule.arrays(1)[0][0]) or 1.0
        for _ in range(200):
            if unstable(high):
                break
            low, high = high, 2.0 * high
        else:
            return Measurement(math.inf, math.inf, math.inf, 1, 0, "no unstable step size found",
                               inconclusive=self._unseen(problem, rule, sampler, steps, seed, low) or "")
        while high - low > 1e-10 * high:
            middle = 0.5 * (low + high)
            low, high = (low, middle) if unstable(middle) else (middle, high)
        return Measurement(0.5 * (low + high), low, high, 1, 0,
                           inconclusive=self._unseen(problem, rule, sampler, steps, seed, low) or "")

    @staticmethod
    def _unseen(problem, rule, sampler, steps, seed, stable):
        """None, or why the run at the largest stable η does not certify the measurement (see
        the class docstring): the top eigenspace's share of ‖∇f(x_{T/2})‖² is too small."""
        half = steps // 2
        overshoot = float(OVERSHOOT.subs(T, steps))
        stepped = replace(rule, lr=stable)
        growth = 1.0 + 2.0 * overshoot
        if rule.stable:
            run = simulate(problem, stepped, sampler, steps=steps, trajectories=1, seed=seed, record_every=1)
            smallest = math.sqrt(float(np.min(run.metrics["grad_norm_sq"][0, half:steps])))
            growth = 2.0 * (1.0 + overshoot) * smallest / (smallest + GUARD) - 1.0
        needed = GROWTH / growth ** (2 * (steps - half)) if growth > 1.0 else math.inf
        out = simulate(problem, stepped, sampler, steps=half, trajectories=1, seed=seed, record_every=half)
        with np.errstate(over="ignore", under="ignore"):
            along_sq, across_sq = (np.float64(v) ** 2 for v in _along_and_across(problem, out.final_x[0]))
        # as the engine computes it: a square below the normal range is not seen by the flag
        share = float(along_sq / (along_sq + across_sq)) if along_sq >= np.finfo(np.float64).tiny else 0.0
        if share >= needed:
            return None
        if growth <= 1.0 + overshoot:
            return (f"at the largest stable η = {stable:.6g} the run shrinks to ‖∇f‖ = {smallest:.3g}, "
                    f"where the {GUARD:g} guard in Stable SAM's scale ‖∇f‖/(‖h‖ + {GUARD:g}) stalls the top "
                    f"direction's growth: the bisection cannot see λ₁ (x₀'s component along v₁ is too small)")
        return (f"the top eigen-direction is not visible at the largest stable η = {stable:.6g}: its share "
                f"of ‖∇f(x_T/2)‖² is {share:.3g}, below the {min(needed, 1.0):.3g} that rules out an "
                f"overshoot of more than {overshoot:.3g} (relative) beyond its onset; x₀'s component along "
                f"v₁ is too small to show within T = {steps} steps")


def cross_factor(problem, rule):
    r"""κ⊥: the largest modulus by which the directions j with λ_j < λ₁ are multiplied per step
    near the 2-cycle ±c v₁ (0 when there are none), with u = ηλ₁ and r_j = λ_j/λ₁ < 1.

    SAM (gradient ascent): on the cycle ‖∇f‖ = λ₁c = ηρλ₁²/(2 − u), so direction j is
    multiplied by 1 − ηλ_j(1 + ρλ_j/‖∇f‖) = 1 − r_j u − r_j²(2 − u), of modulus < 1
    (``docs/theory.md §4``).

    MSAM (momentum ascent, momentum β): on the cycle ‖m‖ = 2c/η, so the perturbation
    −ρ m/‖m‖ adds −(ηρλ_j/2c) m_j = −r_j(1 + β − u/2) m_j to direction j's buffer update, and
    (x_j, m_j) ↦ ((1 − ηλ_j)x_j − η d_j m_j, λ_j x_j + d_j m_j) with
    d_j = β − r_j(1 + β − u/2): determinant d_j, trace 1 − r_j u + d_j. Both roots lie inside
    the unit disc (|d_j| < 1 and |trace| < 1 + d_j reduce to 0 < r_j < 1 when u < 2(1 + β)).

    At r_j = 1 (a repeated λ₁) either map has a root −1: the direction neither decays nor grows.
    """
    top, lam1 = _top(problem)
    ratio = problem.eigenvalues[~top] / lam1
    if ratio.size == 0:
        return 0.0
    u = float(rule.arrays(1)[0][0]) * lam1
    if rule.ascent == "momentum":
        det = rule.momentum - ratio * (1.0 + rule.momentum - u / 2.0)
        trace = 1.0 - ratio * u + det
        root = np.sqrt(trace.astype(complex) ** 2 - 4.0 * det)
        return float(np.max(np.maximum(np.abs(trace + root), np.abs(trace - root))) / 2.0)
    return float(np.max(np.abs(1.0 - ratio * u - ratio ** 2 * (2.0 - u))))


def _decay_steps(across, along, slack, factor):
    """Steps for (``across``/``along``)² to shrink below ``slack`` at ``factor``² per step."""
    log_excess = 2.0 * (math.log(across) - math.log(along)) - math.log(slack) if across > 0 else -math.inf
    if log_excess <= 0.0 or factor == 0.0:
        return 0
    return math.inf if factor >= 1.0 else math.ceil(log_excess / (-2.0 * math.log(factor)))


def unsettled(problem, rule, x_end, value, later, steps, tolerance=CYCLE_TOLERANCE):
    r"""None, or why a value read off x_T (``value``; ``later`` is the same read off x_{2T})
    does not yet show the 2-cycle along v₁ to within ``tolerance``/``MARGIN`` (relative).

    - **v₁ lost**: x_T has no component left in the top eigenspace although x₀ had one: it
      underflowed (the run goes on without v₁; in exact arithmetic the v₁ component would
      grow back).
    - **Across v₁**: with r² = ‖P⊥∇f(x_T)‖²/‖P₁∇f(x_T)‖², SAM's push along v₁ is
      ηρλ₁/√(1 + r²) (MSAM's is ηρλ₁ times |⟨m, v₁⟩|/‖m‖, likewise) and
      ‖∇f‖ = ‖P₁∇f‖√(1 + r²), so the amplitude and the edge value are off by a relative
      ≈ r²/2; r² must be at most tolerance/MARGIN. It shrinks by κ⊥² per step
      (``cross_factor``), which gives the steps still needed.
    - **Settled**: the value must change by at most tolerance/MARGIN (relative) from T to 2T.
      The condition on T (``sam_transient``, ``msam_transient``) bounds the transient along
      v₁ only for a start within the cycle's sign pattern; this catches the rest (a v₁
      component that dipped and regrew, MSAM's buffer before it locks onto the pattern).
    """
    slack = tolerance / MARGIN
    top, _ = _top(problem)
    if not np.any(x_end[top] != 0):
        return (f"x₀'s component along v₁ (|⟨x₀, v₁⟩| = {_norm(problem.x0[top]):.3g}) underflowed to 0 "
                f"during the run, so the run no longer sees v₁: floating point cannot represent it")
    along, across = _along_and_across(problem, x_end)
    if across > math.sqrt(slack) * along:
        factor = cross_factor(problem, rule)
        ratio_sq = math.exp(min(2.0 * (math.log(across) - math.log(along)), 709.0))
        return (f"the transient across v₁ has not decayed: ‖P⊥∇f(x_T)‖²/‖P₁∇f(x_T)‖² = "
                f"{ratio_sq:.3g} > {slack:.3g}; it shrinks by κ⊥² = {factor ** 2:.6g} per step, "
                f"so about {_decay_steps(across, along, slack, factor)} more steps are needed")
    moved = abs(later - value) / abs(value) if value != 0 else math.inf
    if moved > slack:
        return (f"the run has not settled: the value moved by {moved:.3g} (relative) from T = {steps} "
                f"to 2T, more than {slack:.3g}")
    return None


@dataclass(frozen=True)
class _OnTheCycle(Quantity):
    """A value read off x_T of one full-batch run that ends on a 2-cycle along v₁
    (``value(out, problem, rule)``), inconclusive while ``unsettled`` says the run has not
    reached the cycle."""
    tolerance: float = CYCLE_TOLERANCE

    def measure(self, problem, rule, sampler, *, steps, trajectories, seed, confidence, numbers):
        out = simulate(problem, rule, sampler, steps=steps, trajectories=1, seed=seed, record_every=steps)
        value = self.value(out, problem, rule)
        if out.diverged[0]:
            return Measurement(value, value, value, 1, 1)
        later = simulate(problem, rule, sampler, steps=2 * steps, trajectories=1, seed=seed,
                         record_every=2 * steps)
        why = unsettled(problem, rule, out.final_x[0], value, self.value(later, problem, rule), steps,
                        self.tolerance)
        return Measurement(value, value, value, 1, 0, inconclusive=why or "")


@dataclass(frozen=True)
class TopAmplitude(_OnTheCycle):
    """|x_T| along the top eigenvector: the amplitude of a 2-cycle there (needs λ₁ simple)."""
    name = "cycle amplitude"
    symbol = "|⟨x_T, v₁⟩|"

    def value(self, out, problem, rule):
        return float(abs(out.final_x[0, int(np.argmax(problem.eigenvalues))]))


@dataclass(frozen=True)
class SamEdge(_OnTheCycle):
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


def _fixed_example(default_problem, rule, default_steps):
    """An example with a fixed rule: full batch on the given (or default) quadratic."""
    def example(problem=None, sampler=None, steps=default_steps):
        problem = default_problem if problem is None else problem
        return dict(problem=problem, rule=rule, sampler=sampler or TauNice(problem.n), steps=steps)
    return example


def _threshold(name, statement, bound, make_rule, requirements, conditions=()):
    return Theorem(name=name, source="derived (closed form, docs/closed_forms.md)", statement=statement,
                   quantity=StabilityThreshold(), bound=bound, conditions=conditions,
                   requirements=(FULL, QUADRATIC, ALONG_TOP) + requirements, kind="equal",
                   tolerance=RESOLUTION,
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


SAM_AMPLITUDE = gamma * rho * lambda_max / (2 - gamma * lambda_max)
MSAM_AMPLITUDE = gamma * rho * lambda_max / (2 * (1 + beta) - gamma * lambda_max)


def sam_transient(tolerance=CYCLE_TOLERANCE):
    r"""The condition on T under which SAM's transient along v₁ has decayed to
    ``tolerance``/``MARGIN`` of the cycle amplitude c = ηρλ₁/(2 − ηλ₁):

        |1 − ηλ₁|^T (√dist0 + c) ≤ (tolerance/MARGIN) c,
        i.e. T ≥ log(MARGIN (√dist0 + c)/(tolerance · c)) / log(1/|1 − ηλ₁|),

    stated multiplied by |2 − ηλ₁| so that it stays a finite, failing number where the other
    conditions fail (ηλ₁ ≥ 2, ρ = 0).

    Derivation. With s = ⟨x, v₁⟩, q = 1 − ηλ₁ and E = ||s| − c|, the map along v₁ is
    s' = qs − ηρλ₁ sign(s) with ηρλ₁ = (1 + q)c. When the sign flips, |s'| − c = −q(|s| − c):
    E' = |q|E. When it does not (only for q > 0 and |s| > c(1 + 1/q)),
    |s'| − c = q(|s| − c) − 2c lies in [−c, q(|s| − c)) with q(|s| − c) > c: again E' ≤ |q|E.
    So E_T ≤ |q|^T E_0 ≤ |q|^T (√dist0 + c) (|s₀| ≤ ‖x₀‖ and x* = 0), which the condition makes
    at most (tolerance/MARGIN)c. The SAM edge value 2 + (2 − ηλ₁)(c/‖∇f‖·λ₁ − 1) moves by at
    most the same relative amount. The other directions shrink SAM's push along v₁ to
    ηρλ₁/√(1 + r²) (r = ‖P⊥∇f‖/‖P₁∇f‖): they are checked on the run (``unsettled``).
    Example: ηλ₁ = 1.999, ρ = 0.05, H = diag(10, 1), x₀ = (1, 1) needs T ≥ 16 125.
    """
    scale = gamma * rho * lambda_max                     # c |2 − ηλ₁|
    return (sp.Abs(1 - gamma * lambda_max) ** T * (sp.sqrt(dist0) * sp.Abs(2 - gamma * lambda_max) + scale)
            <= tolerance / MARGIN * scale)


def msam_transient(tolerance=CYCLE_TOLERANCE):
    r"""The condition on T under which MSAM's transient along v₁ has decayed to
    ``tolerance``/``MARGIN`` of the cycle amplitude c = ηρλ₁/(2(1 + β) − ηλ₁):

        T ϱ^(T−1) (2 + |1 − ηλ₁|)(√dist0 + c) ≤ (tolerance/MARGIN) c,

    ϱ the spectral radius of the heavy-ball recursion, the largest root modulus of
    w² − (1 + β − ηλ₁)w + β (√β when the roots are complex); stated multiplied by
    |2(1 + β) − ηλ₁|, as ``sam_transient``.

    Derivation. Within the cycle's sign pattern (x alternates, so the buffer's sign is that of
    x_{t−1}) the amplitude A_t = |⟨x_t, v₁⟩| obeys A_{t+1} = −bA_t − βA_{t−1} + ηρλ₁,
    b = 1 + β − ηλ₁, whose fixed point is c; e_t = A_t − c obeys e_{t+1} = −be_t − βe_{t−1}.
    With its roots w₁, w₂ (|w| ≤ ϱ, w₁w₂ = β) and D_t = Σ_{k<t} w₁^k w₂^(t−1−k),
    e_t = e₁D_t − βe₀D_(t−1), so |e_t| ≤ tϱ^(t−1)(|e₁| + ϱ|e₀|) (|D_t| ≤ tϱ^(t−1), β ≤ ϱ²).
    The first step is unperturbed (the buffer starts at 0): x₁ = (1 − ηλ₁)x₀, so
    |e₁| + ϱ|e₀| ≤ (2 + |1 − ηλ₁|)(√dist0 + c). Before the buffer locks onto the sign pattern
    the forcing differs, and the directions across v₁ act as for SAM; both are checked on the
    run (``unsettled``). Example: β = 0.99, η = 0.1, λ₁ = 1, ρ = 0.05, x₀ = 1 needs T ≥ 6 492.
    """
    b = 1 + beta - gamma * lambda_max
    root = sp.sqrt(b ** 2 - 4 * beta)
    radius = sp.Max(sp.Abs((b + root) / 2), sp.Abs((b - root) / 2))
    scale = gamma * rho * lambda_max                     # c |2(1 + β) − ηλ₁|
    return (T * radius ** (T - 1) * (2 + sp.Abs(1 - gamma * lambda_max))
            * (sp.sqrt(dist0) * sp.Abs(2 * (1 + beta) - gamma * lambda_max) + scale)
            <= tolerance / MARGIN * scale)


def steps_needed(theorem, problem, rule, sampler=None):
    r"""The number of steps T a check of ``theorem`` on this configuration needs: the smallest T
    meeting its conditions (for the cycles, the transient along v₁: ``sam_transient``,
    ``msam_transient``) and, for a value read on a 2-cycle, the steps the directions across
    v₁ need from x₀ at their rate κ⊥ (``cross_factor``):

        T⊥ = ⌈log(r₀² MARGIN/tolerance) / (2 log(1/κ⊥))⌉,   r₀ = ‖P⊥∇f(x₀)‖/‖P₁∇f(x₀)‖.

    T⊥ assumes the local rate from the start; a run that is slower (a v₁ component that first
    shrinks) is reported inconclusive by ``unsettled``, which also says how many steps more.
    Raises ConditionError when a requirement fails or a condition fails for every T. For
    theorems with constant-step conditions (not recursive ones).
    """
    sampler = TauNice(problem.n) if sampler is None else sampler
    numbers, _ = theorem.numbers(problem, rule, sampler, 1)      # the values; T is set per candidate

    def failing(steps):
        reports = theorem.condition_reports({**numbers, "T": float(steps)})
        return next((report for report in reports if not report.holds), None)

    low, high = 0, 1
    while failing(high) is not None:
        if high >= 2 ** 60:
            raise ConditionError(f"{theorem.name}: condition {failing(high)} for every T")
        low, high = high, 2 * high
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if failing(middle) is not None else (low, middle)
    if isinstance(theorem.quantity, _OnTheCycle):
        along, across = _along_and_across(problem, problem.x0)
        high = max(high, _decay_steps(across, along, theorem.quantity.tolerance / MARGIN,
                                      cross_factor(problem, rule)))
    return high


def sam_cycle():
    r"""SAM with ηλ₁ < 2 ends in the 2-cycle ±c v₁, c = ηρλ₁/(2 − ηλ₁): on x = s v₁ the map is
    s' = (1 − ηλ₁)s − ηρλ₁ sign(s), whose 2-cycle s → −s has (1 − ηλ₁)c − ηρλ₁ = −c.

    Assumes λ₁ simple (|⟨x_T, v₁⟩| needs one top eigenvector; with a repeated λ₁ the cycle lies
    along x₀'s component in the top eigenspace), x₀ with a component along v₁, and T past the
    transient along v₁ (``sam_transient``); the run is inconclusive until the other directions,
    each multiplied by 1 − ηλ_j − (λ_j/λ₁)²(2 − ηλ₁) per step near the cycle, have decayed."""
    return Theorem(name="SAM 2-cycle amplitude", source="derived (Bartlett, Long & Bousquet 2022 "
                   "describe the bouncing)", statement=sam_cycle.__doc__, quantity=TopAmplitude(),
                   bound=SAM_AMPLITUDE,
                   conditions=(gamma * lambda_max < 2, sp.Eq(lam, 1), rho > 0, sam_transient()),
                   requirements=(FULL, QUADRATIC, SIMPLE_TOP, ALONG_TOP, GRADIENT_ASCENT), kind="equal",
                   tolerance=CYCLE_TOLERANCE, condition_labels={sam_transient(): TRANSIENT},
                   example=_fixed_example(Quadratic([10.0, 1.0]), SAM(lr=0.15, rho=0.05), 1500))


def sam_edge():
    r"""On SAM's 2-cycle ηλ₁(1 + ρλ₁/‖∇f(x)‖) = 2 exactly (Long & Bartlett 2023's SAM edge):
    ‖∇f‖ = λ₁c, so ηλ₁ + ηρλ₁/c = ηλ₁ + (2 − ηλ₁).

    λ₁ need not be simple: SAM multiplies every coordinate of the top eigenspace by the same
    factor, so P₁x_t stays parallel to P₁x₀ and the cycle is ±c P₁x₀/‖P₁x₀‖, on which again
    ‖∇f‖ = λ₁c; the edge value reads only ‖∇f‖. Assumes x₀ with a component along the top
    eigenspace and T past the transient (``sam_transient``, as for ``sam_cycle``)."""
    return Theorem(name="SAM edge on the 2-cycle", source="derived (edge of Long & Bartlett 2023)",
                   statement=sam_edge.__doc__, quantity=SamEdge(), bound=2,
                   conditions=(gamma * lambda_max < 2, sp.Eq(lam, 1), rho > 0, sam_transient()),
                   requirements=(FULL, QUADRATIC, ALONG_TOP, GRADIENT_ASCENT), kind="equal",
                   tolerance=CYCLE_TOLERANCE, condition_labels={sam_transient(): TRANSIENT},
                   example=_fixed_example(Quadratic([10.0, 1.0]), SAM(lr=0.1, rho=0.05), 1500))


def msam_cycle():
    r"""MSAM (momentum β) with ηλ₁ < 2(1 + β) ends in the 2-cycle ±c, c = ηρλ₁/(2(1 + β) − ηλ₁):
    on the cycle the buffer alternates ∓2c/η, the gradient point is ±(c + ρ), and
    2c/η = −2βc/η + λ₁(c + ρ).

    Assumes λ₁ simple, x₀ with a component along v₁ and T past the transient along v₁
    (``msam_transient``); the run is inconclusive until the other directions have decayed
    (``cross_factor``: the cycle is stable across every λ_j < λ₁) and the buffer has locked
    onto the cycle's sign pattern."""
    return Theorem(name="MSAM 2-cycle amplitude", source="derived (closed form, docs/closed_forms.md)",
                   statement=msam_cycle.__doc__, quantity=TopAmplitude(),
                   bound=MSAM_AMPLITUDE,
                   conditions=(gamma * lambda_max < 2 * (1 + beta), sp.Eq(lam, 1), rho > 0, msam_transient()),
                   requirements=(FULL, QUADRATIC, SIMPLE_TOP, ALONG_TOP,
                                 rule_is("MSAM (momentum ascent, heavy-ball base, every "
                                         "step perturbs, not stabilised)",
                                         ascent="momentum", base="heavyball")),
                   kind="equal", tolerance=CYCLE_TOLERANCE, condition_labels={msam_transient(): TRANSIENT},
                   example=_fixed_example(Quadratic([1.0]), MSAM(lr=0.1, rho=0.05, momentum=0.9), 1500))
