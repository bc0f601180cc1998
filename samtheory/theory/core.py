r"""Theorems as data: a SymPy bound, its conditions, the quantity it bounds, and ``check``.

A :class:`Theorem` states

    under ``requirements`` (structural: which rule, which sampler, which constants exist)
    and ``conditions`` (SymPy relations in γ, ρ, λ, b, T, L, μ, A, B, C, ...),
    the ``quantity`` (e.g. E[f(x_T) − f*]) is at most ``bound`` (a SymPy expression).

The symbols a theorem may use are ``symbols.SYMBOLS``; :func:`values`
computes every one of them that a configuration (problem, rule, sampler, steps)
defines, and says why the others are missing. ``check`` verifies the
requirements (of the rule, the sampler, the problem, and the quantity itself: E[f(x_T) − f*]
needs f*) and conditions on the numbers (refusing with the failing one named), simulates,
estimates the quantity and decides with the one decision rule of ``samtheory.verdicts``:
"violated" when the claim is rejected at level α (one-sided, against the bound plus the
quantity's round-off floor), "holds" when it is not rejected at level α, "inconclusive"
when the estimate cannot decide (a heavy tail, a transient that has not decayed).

Theorems of kind ``"equal"`` (closed forms: a stability threshold, an orbit
amplitude) predict a deterministic value; the same rule decides them with the theorem's
relative ``tolerance`` as the floor: "holds" within it, else "violated".

Recursive bounds (``recursive=True``) state one step, δ_{k+1} ≤ bound(δ_k, γ_k,
ρ_k, λ_k, p_k, k): the bound on the quantity at T is that recursion unrolled
from δ_0 over the run's schedules, and the conditions must hold at every step.
"""
from dataclasses import dataclass, field, replace
import math
from typing import Callable

import numpy as np
import sympy as sp

from .. import _validate, verdicts
from .._core.codes import WITH_REPLACEMENT, TAU_NICE, INDEPENDENT, LOGISTIC, NONE, SINE, RATIONAL
from ..problems.base import FiniteSum
from ..engine.exact import refusal as exact_refusal
from ..rules import Rule
from ..sampling import Sampler
from .constants import sampling_constants
from .quantities import AverageGradNormSq, Quantity
from .symbols import _SYMBOL_OBJECTS, PER_STEP, _subs, delta, k

class ConditionError(ValueError):
    """A configuration outside a theorem's requirements or conditions."""


# -- facts about a configuration ---------------------------------------------

def batch_smoothness(problem, sampler):
    r"""L_batch = max over outcomes S of Σ_k w_k L_{i_k}: a smoothness constant of f_S.

    ∇f_S = Σ_k w_k ∇f_{i_k} with w_k ≥ 0, so ‖∇f_S(x) − ∇f_S(y)‖ ≤ (Σ_k w_k L_{i_k})‖x − y‖.
    With replacement the worst outcome repeats the index maximising w_i L_i b times;
    τ-nice takes the b largest w_i L_i; independent sampling may include every index;
    stratified takes each block's largest.
    """
    bound = sampler.bind(problem)
    scaled = bound.index_weights * problem.L_i
    if bound.kind == WITH_REPLACEMENT:
        return float(bound.batch * scaled.max())
    if bound.kind == TAU_NICE:
        return float(np.sort(scaled)[-bound.batch:].sum())
    if bound.kind == INDEPENDENT:
        return float(scaled.sum())
    blocks = bound.table.astype(np.int64)
    return float(sum(scaled[blocks[lo:hi]].max() for lo, hi in zip(bound.offsets[:-1], bound.offsets[1:])))


# sup_t |r'(t)| for the regularisers r: sin² t → |sin 2t| ≤ 1; t²/(1+t²) → 2t/(1+t²)² ≤ 9/(8√3).
_REG_SLOPE = {NONE: 0.0, SINE: 1.0, RATIONAL: 9.0 / (8.0 * math.sqrt(3.0))}


def gradient_bounds(problem, sampler):
    r"""(G, σ²) for problems whose per-sample gradients are bounded, else (None, None).

    Logistic loss: ∇f_i(x) = ℓ_i'(a_iᵀx) a_i + c ∇R(x) with |ℓ_i'| ≤ 1, so
    ‖∇f_i‖_∞ ≤ max_i ‖a_i‖_∞ + c sup|r'| =: G. The regulariser is shared by all
    samples, so ∇f_i − ∇f = ℓ_i' a_i − mean_j ℓ_j' a_j and the per-sample variance is
    at most s² = mean_i ‖a_i‖². The minibatch variance bound σ² is s²(n − b)/(b(n − 1))
    for τ-nice and s²/b for uniform sampling with replacement; other samplers get None.
    Squared losses have unbounded gradients: (None, None).
    """
    if problem.loss_kind != LOGISTIC:
        return None, None
    G_value = float(np.abs(problem.A).max() + problem.reg_strength * _REG_SLOPE[problem.reg_kind])
    spread = float(np.mean(np.sum(problem.A ** 2, axis=1)))
    bound = sampler.bind(problem)
    nn, bb = bound.n, bound.batch
    if bound.kind == TAU_NICE:
        factor = (nn - bb) / (bb * (nn - 1)) if nn > 1 else 0.0
    elif bound.kind == WITH_REPLACEMENT and bound.uniform_probabilities:
        factor = 1.0 / bb
    else:
        return G_value, None
    return G_value, spread * factor


def _constant(array):
    return float(array[0]) if np.all(array == array[0]) else None


def values(problem, rule, sampler, steps):
    """Every symbol of ``symbols.SYMBOLS`` this configuration defines.

    Returns
    -------
    (values, schedules, missing)
        ``values``: name → float; ``schedules``: per-step arrays for γ, ρ, λ, p;
        ``missing``: name → why the configuration does not define it.
    """
    _validate.instance("problem", problem, FiniteSum, "a problem (samtheory.problems.FiniteSum)")
    _validate.instance("rule", rule, Rule, "an update rule (e.g. samtheory.SAM(lr=0.1, rho=0.05))")
    _validate.instance("sampler", sampler, Sampler, "a sampler (e.g. samtheory.TauNice(8))")
    steps = _validate.positive_int("steps", steps)
    out, missing = {}, {}
    lr, radius, interp, prob = rule.arrays(steps)
    schedules = {"gamma": lr, "rho": radius, "lam": interp, "p": prob}
    for name, array in schedules.items():
        value = _constant(array)
        if value is None:
            missing[name] = f"{name} varies over the run (a schedule); this needs a constant"
        else:
            out[name] = value
    out["p_bar"] = float(prob.mean())
    out["T"] = float(steps)
    consts = sampling_constants(problem, sampler)
    bound = sampler.bind(problem)
    out.update(n=float(problem.n), d=float(problem.d), b=float(bound.batch), L=problem.L,
               L_max=problem.L_max, L_mean=problem.L_mean,
               L_batch=batch_smoothness(problem, sampler), A=consts.A, B=consts.B)
    eigen = getattr(problem, "eigenvalues", None)
    out["lambda_max"] = float(np.max(eigen)) if eigen is not None else problem.L
    for name, value, why in (
            ("C", consts.C, "C needs lower bounds of every f_i (none for this problem)"),
            ("mu", problem.mu, "the problem has no PL constant μ"),
            ("delta0", None if problem.f_inf is None else float(problem.loss(problem.x0) - problem.f_inf),
             "the problem has neither f* nor f_inf"),
            ("dist0", None if problem.x_star is None else float(np.sum((problem.x0 - problem.x_star) ** 2)),
             "the problem has no known minimiser x*")):
        if value is None:
            missing[name] = why
        else:
            out[name] = float(value)
    if problem.f_star is None and "delta0" in out:
        missing.setdefault("f_star", "f* is unknown; delta0 uses the lower bound f_inf")
    G_value, variance = gradient_bounds(problem, sampler)
    if G_value is None:
        missing["G"] = "per-sample gradients are unbounded for this loss (bounded only for logistic)"
    else:
        out["G"] = G_value
    if variance is None:
        missing["sigma_sq"] = ("a variance bound needs bounded gradients and a τ-nice or uniform "
                               "with-replacement sampler")
    else:
        out["sigma_sq"] = variance
    if rule.base in ("heavyball", "adam"):
        out["beta" if rule.base == "heavyball" else "beta1"] = float(rule.momentum)
    if rule.base == "adam":
        out["beta2"] = float(rule.beta2)
        if rule.amsgrad and not rule.bias_correction and rule.eps == 0 and rule.vhat_init > 0:
            out["eps"] = math.sqrt(rule.vhat_init)
    return out, schedules, missing


# -- theorems -----------------------------------------------------------------------

def _relation_text(relation):
    return str(relation).replace("**", "^")


@dataclass(frozen=True)
class ConditionReport:
    relation: object          # the SymPy relation
    holds: bool
    lhs: float
    rhs: float
    step: int = None          # first failing step of a recursive bound
    label: str = ""           # what the condition means, e.g. "enough steps for the transient"

    def __str__(self):
        where = f" at step k = {self.step}" if self.step is not None else ""
        verdict = "holds" if self.holds else "FAILS"
        name = f"'{self.label}' " if self.label else ""
        return f"{name}{_relation_text(self.relation)}: {self.lhs:.6g} vs {self.rhs:.6g} {verdict}{where}"


@dataclass(frozen=True)
class Theorem:
    r"""A theorem: ``quantity`` ≤ ``bound`` (or = ``bound`` for kind "equal") under
    ``requirements`` and ``conditions``.

    Parameters
    ----------
    name : str
    source : str
        "Paper, Theorem n", or "derived" (the derivation is in ``statement``).
    statement : str
        The statement in mathematics (Markdown), shown by ``describe`` and in docs.
    quantity : Quantity
    bound : SymPy expression in the symbols of ``symbols.SYMBOLS`` (or a number)
    conditions : sequence of SymPy relations (e.g. ``gamma <= 1/(2*B*L)``)
    requirements : sequence of ``requirements.Requirement``
    kind : "upper" | "equal"
    tolerance : float or SymPy expression
        Relative tolerance of an "equal" theorem.
    recursive : bool
        ``bound`` is one step δ_{k+1} ≤ bound(δ = δ_k, per-step symbols at k), unrolled
        from the value of the symbol named ``start`` (default δ_0 = f(x_0) − f*).
    factor : float
        The bound used is ``factor`` × the bound above (``scaled``; 1 for a real theorem).
    condition_labels : dict
        relation → what it means, shown when it fails (e.g. "enough steps for the transient").
    example : callable (problem=None, sampler=None, steps=None) -> dict(problem=, rule=, sampler=, steps=)
        A reference configuration meeting the conditions; given a problem, sampler or
        number of steps, the rule is tuned to those instead.
    """
    name: str
    source: str
    statement: str
    quantity: Quantity
    bound: object
    conditions: tuple = ()
    requirements: tuple = ()
    kind: str = "upper"
    tolerance: object = 0.0
    recursive: bool = False
    start: str = "delta0"
    factor: float = 1.0
    condition_labels: dict = field(default_factory=dict, repr=False, compare=False)
    example: Callable = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        _validate.choice("kind", self.kind, ("upper", "equal"))
        object.__setattr__(self, "bound", sp.sympify(self.bound))
        object.__setattr__(self, "conditions", tuple(sp.sympify(c) for c in self.conditions))
        labels = {sp.sympify(relation): str(text) for relation, text in self.condition_labels.items()}
        if set(labels) - set(self.conditions):
            raise ValueError(f"theorem {self.name!r}: condition_labels name relations that are not conditions")
        object.__setattr__(self, "condition_labels", labels)
        unknown = {s.name for s in self.free_symbols()} - set(_SYMBOL_OBJECTS)
        if unknown:
            raise ValueError(f"theorem {self.name!r} uses unknown symbols {sorted(unknown)}; "
                             f"allowed: {sorted(_SYMBOL_OBJECTS)}")

    def free_symbols(self):
        symbols = set(self.bound.free_symbols)
        for relation in self.conditions:
            symbols |= relation.free_symbols
        symbols |= sp.sympify(self.tolerance).free_symbols
        if isinstance(self.quantity, AverageGradNormSq):
            symbols |= sp.sympify(self.quantity.ratio).free_symbols
        return symbols

    def needs(self):
        """Names of the symbols the configuration must define (per-step ones excepted
        in recursive bounds, which read the schedules)."""
        names = {s.name for s in self.free_symbols()} - {"delta", "k"}
        return (names - set(PER_STEP)) | {self.start} if self.recursive else names

    def scaled(self, factor):
        """The same theorem with its bound (the unrolled one, for recursive bounds) multiplied
        by ``factor``: to test the verdicts."""
        return replace(self, name=f"{self.name} ×{factor:g}", factor=self.factor * factor)

    def describe(self):
        conditions = "; ".join(_relation_text(c) for c in self.conditions) or "none"
        relation = "≤" if self.kind == "upper" else "="
        claim = (f"{self.quantity.symbol} ≤ δ_T, δ_(k+1) = {_relation_text(self.bound)}, "
                 f"δ_0 = {self.start}" if self.recursive
                 else f"{self.quantity.symbol} {relation} {_relation_text(self.bound)}")
        scale = f" (bound scaled ×{self.factor:g})" if self.factor != 1 else ""
        return f"{self.name} [{self.source}]{scale}\n  {claim}\n  conditions: {conditions}"

    # -- evaluation ------------------------------------------------------------------
    def numbers(self, problem, rule, sampler, steps):
        """The symbol values this theorem needs on a configuration; ConditionError names
        the first requirement that fails or the first value the configuration lacks."""
        for requirement in self.requirements:
            why = requirement.failure(problem, rule, sampler)
            if why is not None:
                raise ConditionError(f"{self.name}: requirement '{requirement.label}' fails: {why}")
        found, schedules, missing = values(problem, rule, sampler, steps)
        lacking = sorted(self.needs() - set(found))
        if lacking:
            reasons = "; ".join(f"{name}: {missing.get(name, 'not defined')}" for name in lacking)
            raise ConditionError(f"{self.name}: needs {', '.join(lacking)} ({reasons})")
        why = self.quantity.requirement(problem)
        if why is not None:
            raise ConditionError(f"{self.name}: the quantity {self.quantity.symbol} is undefined: {why}")
        return {name: found[name] for name in self.needs()}, schedules

    def condition_reports(self, numbers, schedules=None):
        """Evaluate every condition: one ConditionReport each (first failing step for recursive bounds)."""
        reports = []
        for relation in self.conditions:
            lhs_expr, rhs_expr = relation.lhs, relation.rhs
            if self.recursive and schedules is not None:
                lhs, rhs = (self._per_step(expr, numbers, schedules) for expr in (lhs_expr, rhs_expr))
                ok = _compare(relation, lhs, rhs)
                bad = np.flatnonzero(~ok)
                at = int(bad[0]) if bad.size else 0
                reports.append(ConditionReport(relation, not bad.size, float(lhs[at]), float(rhs[at]),
                                               at if bad.size else None, self.condition_labels.get(relation, "")))
            else:
                lhs, rhs = float(_subs(lhs_expr, numbers)), float(_subs(rhs_expr, numbers))
                reports.append(ConditionReport(relation, bool(_compare(relation, lhs, rhs)), lhs, rhs,
                                               label=self.condition_labels.get(relation, "")))
        return reports

    def _per_step(self, expr, numbers, schedules):
        steps = schedules["gamma"].size
        names = list(PER_STEP) + ["k"]
        fn = sp.lambdify([_SYMBOL_OBJECTS[s] for s in names], _subs(expr, numbers), "numpy")
        args = [schedules[s] for s in PER_STEP] + [np.arange(steps, dtype=float)]
        return np.broadcast_to(np.asarray(fn(*args), dtype=float), (steps,))

    def bound_value(self, numbers, schedules=None):
        """The bound on this configuration (recursive bounds unrolled over the schedules)."""
        if not self.recursive:
            return self.factor * float(_subs(self.bound, numbers))
        step = sp.lambdify([delta] + [_SYMBOL_OBJECTS[s] for s in PER_STEP] + [k],
                           _subs(self.bound, numbers), "math")
        value = numbers[self.start]
        for t in range(schedules["gamma"].size):
            value = step(value, *(float(schedules[s][t]) for s in PER_STEP), float(t))
        return self.factor * float(value)

    def largest(self, name, problem, rule, sampler, steps):
        """sup of the admissible values of symbol ``name`` (e.g. "gamma" or "rho") with every
        other symbol at its value on this configuration: the conditions solved for it.
        Conditions SymPy cannot solve for it in closed form (the cycles' conditions on T,
        transcendental in γ) are left out of the supremum; ``check`` still enforces them."""
        if name not in _SYMBOL_OBJECTS:
            raise ValueError(f"name must be one of {sorted(_SYMBOL_OBJECTS)}, got {name!r}")
        x = _SYMBOL_OBJECTS[name]
        found, _, _ = values(problem, rule, sampler, steps)
        numbers = {s: v for s, v in found.items() if s != name and s in _SYMBOL_OBJECTS}
        admissible = sp.Interval(0, sp.oo)
        for relation in self.conditions:
            relation = _subs(relation, numbers)
            if relation in (sp.true, sp.false):
                if relation == sp.false:
                    return 0.0
                continue
            try:
                solved = sp.solveset(relation, x, domain=sp.S.Reals)
            except NotImplementedError:
                continue
            if isinstance(solved, sp.ConditionSet):
                continue
            admissible = admissible.intersect(solved)
        if admissible.is_empty:
            return 0.0
        return float(admissible.sup)


def _compare(relation, lhs, rhs):
    slack = 1e-12 * (np.abs(lhs) + np.abs(rhs))     # rounding in the substitution, not in the math
    if isinstance(relation, sp.StrictLessThan):         # strict: 0 < 0 stays false
        return lhs < rhs + slack
    if isinstance(relation, sp.StrictGreaterThan):
        return lhs > rhs - slack
    if isinstance(relation, sp.LessThan):
        return lhs <= rhs + slack
    if isinstance(relation, sp.GreaterThan):
        return lhs >= rhs - slack
    if isinstance(relation, sp.Eq):
        return np.abs(lhs - rhs) <= slack
    raise ValueError(f"condition {relation} must be a relation (<=, <, >=, >, Eq)")


# -- checks ---------------------------------------------------------------------------

VERDICTS = verdicts.VERDICTS


@dataclass(frozen=True)
class CheckResult:
    """The outcome of ``check``: the estimate with its (1 − 2·level) interval, the bound, the
    ratio, the verdict with its p-value and level, and the round-off floor added to the bound.

    "holds" means *not rejected at level α* (``level``): the sample gives no evidence against
    the bound; "violated" means rejected at level α; "inconclusive" says why it cannot decide.
    ``exact``: the value is the exact expectation (``engine.exact``), with no sampling error.
    """
    theorem: str
    quantity: str
    verdict: str
    empirical: float
    ci_low: float
    ci_high: float
    bound: float
    confidence: float
    trajectories: int
    n_diverged: int
    conditions: tuple
    numbers: dict = field(repr=False)
    note: str = ""
    level: float = verdicts.LEVEL
    p_value: float = math.nan
    floor: float = 0.0
    exact: bool = False

    @property
    def ratio(self):
        """Tightness: bound / empirical (1 = tight; inf when the empirical value is 0)."""
        if self.empirical == 0:
            return math.inf
        return self.bound / self.empirical

    def __str__(self):
        spread = ("" if self.exact else f" [{self.ci_low:.6g}, {self.ci_high:.6g}] "
                  f"({self.confidence:.0%} CI, {self.trajectories} trajectories)")
        return (f"{self.theorem}: {self.quantity} = {self.empirical:.6g}{spread}, bound "
                f"{self.bound:.6g}, ratio {self.ratio:.3g}: {self.verdict_words}"
                + (f" ({self.note})" if self.note else ""))

    @property
    def verdict_words(self):
        """The verdict as a sentence fragment that says what it means."""
        if self.verdict == "holds":
            return f"holds (not rejected at level {self.level:g}, p = {self.p_value:.3g})"
        if self.verdict == "violated":
            return f"violated (rejected at level {self.level:g}, p = {self.p_value:.3g})"
        return self.verdict


def _exact_run(quantity, problem, rule, sampler, steps, exact):
    """Whether ``check`` measures the exact expectation: ``exact`` True (else ConditionError
    naming why not), False, or "auto": wherever the quantity and the configuration qualify."""
    if exact not in (True, False, "auto"):
        raise ValueError(f"exact must be True, False or 'auto', got {exact!r}")
    if exact is False:
        return False
    why = (exact_refusal(problem, rule, sampler, steps) if quantity.exact_capable
           else f"the quantity {quantity.symbol} has no exact expectation")
    if why is not None and exact is True:
        raise ConditionError(f"exact=True: {why}")
    return why is None


def check(theorem, *, problem, rule, sampler, steps, trajectories=1000, seed=0, level=verdicts.LEVEL,
          exact="auto"):
    """Hold a simulation of this configuration against ``theorem``.

    Verifies the requirements and conditions first (ConditionError names the first
    failing one with its numbers), then simulates ``trajectories`` runs of ``steps``
    steps, estimates the bounded quantity (mean over trajectories, Student t) and decides
    with ``verdicts.decide`` at ``level`` against the bound plus the quantity's round-off
    floor: "violated" when the claim is rejected at ``level``, "holds" when it is not
    (nothing more), "inconclusive" when the estimate cannot decide (heavy tail, transient).
    The interval reported is the two-sided (1 − 2·level) one, whose lower end is the
    one-sided limit the test uses. "equal" theorems are decided on their relative tolerance.

    ``exact``: "auto" (default) measures the exact expectation (``engine.exact``, no sampling
    error: the verdict is decided by the bound plus the round-off floor alone, and the result
    says "exact expectation") wherever the quantity and the configuration qualify — affine
    rules on quadratic finite sums — and simulates ``trajectories`` runs elsewhere; True
    requires it (ConditionError naming why not); False always simulates.
    """
    _validate.instance("theorem", theorem, Theorem, "a samtheory.theory.Theorem")
    trajectories = _validate.positive_int("trajectories", trajectories)
    level = _validate.real("level", level, 0.0, 0.5, low_open=True, high_open=True)
    numbers, schedules = theorem.numbers(problem, rule, sampler, steps)
    reports = theorem.condition_reports(numbers, schedules)
    failing = [r for r in reports if not r.holds]
    if failing:
        raise ConditionError(f"{theorem.name}: condition {failing[0]}")
    bound = theorem.bound_value(numbers, schedules)
    confidence = 1.0 - 2.0 * level
    exact = _exact_run(theorem.quantity, problem, rule, sampler, steps, exact)
    m = theorem.quantity.measure(problem, rule, sampler, steps=steps, trajectories=trajectories,
                                 seed=seed, confidence=confidence, numbers=numbers,
                                 **({"exact": True} if exact else {}))
    if theorem.kind == "equal":
        floor = float(_subs(theorem.tolerance, numbers)) * abs(bound)
        decision = verdicts.decide(m.value, m.stderr, bound, side="equal", df=m.df, floor=floor,
                                   level=level, inconclusive=m.inconclusive)
    else:
        floor = theorem.quantity.floor(problem)
        decision = verdicts.decide(m.value, m.stderr, bound, side="upper", df=m.df, floor=floor,
                                   level=level, diverged=m.n_diverged, inconclusive=m.inconclusive)
    note = "; ".join(text for text in (m.note, "" if m.n_diverged else decision.note) if text)
    return CheckResult(theorem.name, theorem.quantity.symbol, decision.verdict, m.value, m.ci_low,
                       m.ci_high, bound, confidence, 1 if exact else trajectories, m.n_diverged,
                       tuple(reports), numbers, note, level=level, p_value=decision.p_value,
                       floor=floor, exact=exact)


def tuned(theorem, make_rule, problem, sampler, steps, name="gamma", fraction=1.0, cap=None):
    """``make_rule(v)`` with v = ``fraction`` × the largest admissible value of symbol ``name``
    (``Theorem.largest`` on the configuration of ``make_rule(1.0)``), or the SymPy expression
    ``cap`` evaluated there when that is smaller: the examples' step sizes."""
    largest = theorem.largest(name, problem, make_rule(1.0), sampler, steps)
    if not 0 < largest < math.inf:
        raise ConditionError(f"{theorem.name}: no finite admissible {name} on this configuration "
                             f"(largest = {largest})")
    value = fraction * largest
    if cap is not None:
        found, _, _ = values(problem, make_rule(1.0), sampler, steps)
        value = min(value, float(_subs(cap, {s: v for s, v in found.items() if s in _SYMBOL_OBJECTS})))
    return make_rule(value)


def with_example(theorem, make_problem, sampler, steps, make_rule, name="gamma", fraction=1.0, cap=None):
    """``theorem`` with its ``example``: ``make_rule(v)`` with v chosen by ``tuned``, on
    ``make_problem()`` with ``sampler`` and ``steps`` unless the call names others."""
    def example(problem=None, sampler=sampler, steps=steps):
        problem = make_problem() if problem is None else problem
        rule = tuned(theorem, make_rule, problem, sampler, steps, name=name, fraction=fraction, cap=cap)
        return dict(problem=problem, rule=rule, sampler=sampler, steps=steps)
    return replace(theorem, example=example)
