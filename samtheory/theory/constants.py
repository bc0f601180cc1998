r"""Exact sampling constants of every sampler, exact enumeration, and inequality checks.

Notation (docs/theory.md §1–2). A sampling draws the random vector v ∈ Rⁿ, E v_i = 1,
and ∇f_S(x) = (1/n) Σ_i v_i ∇f_i(x). Write M = E[v vᵀ] = Cov(v) + 𝟙𝟙ᵀ. For any
vectors g_1..g_n

    E‖(1/n) Σ_i v_i g_i‖² = (1/n²) Σ_{ik} M_ik ⟨g_i, g_k⟩.                       (1)

**Covariance of each sampler** (v_i per occurrence of i is n·w_i with the weights
w_i = ``BoundSampler.index_weights``). Writing Cov(v) = diag(D) + c 𝟙𝟙ᵀ:

=========================  ==============================  ===================  =========
sampler                    D_ii                            c                    exact?
=========================  ==============================  ===================  =========
b i.i.d. draws, P(i)=p_i   1/(b p_i)                       −1/b                 yes
τ-nice (b of n)            n(n−b)/(b(n−1))                 −(n−b)/(b(n−1))      yes
independent, P(i∈S)=p_i    1/p_i − 1                       0                    yes
stratified, K blocks       |B_{j(i)}|  (0 if K = n)        −1/K  (0 if K = n)   K ∈ {1, n}
=========================  ==============================  ===================  =========

With replacement v_i = N_i/(b p_i), N ~ Multinomial(b, p), Cov N = b(diag p − p pᵀ).
τ-nice: E v_i² = n/b, E v_i v_k = n(b−1)/(b(n−1)) (i ≠ k). Independent: the v_i are
independent with Var v_i = 1/p_i − 1. Stratified: v_i = m_j 𝟙[i drawn] with
m_j = |B_j|, so Cov = diag(m_{j(i)}) − Σ_j 𝟙_{B_j}𝟙_{B_j}ᵀ exactly (m_j − 1 on the
diagonal, −1 within a block, 0 across blocks). That is not of the form
diag(D) + c𝟙𝟙ᵀ; by Cauchy–Schwarz Σ_j (𝟙_{B_j}ᵀu)² ≥ (1/K)(𝟙ᵀu)², so
Cov ⪯ diag(m_{j(i)}) − (1/K) 𝟙𝟙ᵀ, with equality iff K = 1 (the single uniform
element). c = −1/K is the most negative c allowed with this D (test u = Σ_j β_j
𝟙_{B_j}/m_j), which improves on dropping the block term (c = 0) at no cost in A.
K = n (singleton blocks) is the deterministic full batch, Cov = 0: there D = 0,
c = 0 exactly (diag(1) − (1/n)𝟙𝟙ᵀ would still be valid but gives A = L_max/n > 0).

**Second moment.** When Cov ⪯ diag(D) + c𝟙𝟙ᵀ, (1) gives

    E‖∇f_S(x)‖² ≤ (1 + c)‖∇f(x)‖² + (1/n²) Σ_i D_ii ‖∇f_i(x)‖²,                  (2)

with equality for every sampler but stratified with 1 < K < n, where the gap is
(1/n²)(Σ_j ‖Σ_{i∈B_j} ∇f_i‖² − (1/K)‖Σ_i ∇f_i‖²) ≥ 0, zero iff all block sums agree.

**ABC** (E‖∇f_S(x)‖² ≤ 2A(f(x) − f_inf) + B‖∇f(x)‖² + C). Every L_i-smooth f_i
bounded below by f_i^inf has ‖∇f_i‖² ≤ 2L_i(f_i − f_i^inf) (no convexity needed).
Into (2): B = 1 + c, A = max_i D_ii L_i / n, C = 2A Δ_inf with
Δ_inf = f_inf − (1/n) Σ_i f_i^inf. Equality at x needs (a) equality in (2),
(b) ‖∇f_i(x)‖² = 2L_i(f_i(x) − f_i^inf) for every i with D_ii > 0 — true at every x
for f_i = ½(a_iᵀx − y_i)² with a_i ≠ 0 (∇f_i = a_i r_i, L_i = ‖a_i‖², f_i^inf = 0),
and (c) D_ii L_i constant over i (uniform with equal L_i, importance sampling
p_i ∝ L_i for any L_i, τ-nice with equal L_i, …). So on least squares ABC is an
identity for importance sampling. C is exact when the f_i^inf are the exact
infima (``component_lower_bounds(..., return_exact=True)``), else valid but larger.

**Expected smoothness and expected residual** (need every f_i convex, so that
‖∇f_i(x) − ∇f_i(x*)‖² ≤ 2L_i D_{f_i}(x, x*) and ‖∇f(x) − ∇f(x*)‖² ≤ 2L(f(x) − f*);
(1/n) Σ D_{f_i}(x, x*) = f(x) − f* as ∇f(x*) = 0). With h_i = ∇f_i(x) − ∇f_i(x*),
(2) applied to h gives

    E‖∇f_S(x) − ∇f_S(x*)‖² ≤ 2𝓛 (f(x) − f*),   𝓛 = (1 + c) L + A = B L + A,
    E‖∇f_S(x) − ∇f_S(x*) − (∇f(x) − ∇f(x*))‖² ≤ c‖Σh_i/n‖² + (1/n²)Σ D_ii‖h_i‖²
                                                   ≤ 2A (f(x) − f*)     (c ≤ 0 here),

so the expected-residual constant is A. For least squares ‖h_i‖² = 2L_i D_{f_i}
holds with equality, so 𝓛 is attained when (2) is an equality, D_ii L_i is constant
and x − x* is a top eigenvector of H (always in d = 1). The residual bound drops
c‖∇f(x)‖²; on least squares ∇f(x) = 0 forces every h_i = 0, so at x − x* ∉ ker H it
is attained iff c = 0 (independent sampling) and D_ii L_i is constant.

**σ*² = E‖∇f_S(x*)‖²** is evaluated exactly from (1) with the exact M (also for
stratified); as ∇f(x*) = 0 it is (1/n²) Σ_i D_ii ‖∇f_i(x*)‖² for the three exact
samplers (up to the rounding of ‖∇f(x*)‖²).

Special cases (docs/theory.md §2): single element (b = 1): 𝓛 = A = max_i L_i/(n p_i),
B = 0 (uniform: L_max; importance: L̄); τ-nice: 𝓛 = n(b−1)/(b(n−1)) L +
(n−b)/(b(n−1)) L_max; b i.i.d.: 𝓛 = (1 − 1/b)L + (1/b) max L_i/(n p_i);
independent: 𝓛 = L + max_i (1 − p_i)L_i/(n p_i).
"""
from dataclasses import dataclass
import itertools
import math
from typing import NamedTuple

import numpy as np
import scipy.sparse
from scipy.special import gammaln

from .. import _validate
from .._core.codes import (INDEPENDENT, LOGISTIC, NONE, SQUARED, STRATIFIED, TAU_NICE,
                            WITH_REPLACEMENT)
from ..problems.base import FiniteSum
from ..sampling import Sampler, draw

__all__ = ["SamplingConstants", "sampling_constants", "component_lower_bounds",
           "components_convex", "SamplingOutcomes", "count_outcomes", "enumerate_sampling",
           "exact_second_moment", "exact_moments", "InequalityCheck", "check_inequalities",
           "DEFAULT_MAX_OUTCOMES"]

DEFAULT_MAX_OUTCOMES = 200_000

_KIND_NAMES = {WITH_REPLACEMENT: "with_replacement", TAU_NICE: "tau_nice",
               INDEPENDENT: "independent", STRATIFIED: "stratified"}


def _check_inputs(problem, sampler):
    _validate.instance("problem", problem, FiniteSum, "a FiniteSum problem")
    _validate.instance("sampler", sampler, Sampler, "a Sampler (WithReplacement, Importance, "
                       "TauNice, Independent or Stratified)")
    return sampler.bind(problem)


def _blocks(bound):
    """The partition of a stratified sampler, read from its bound table."""
    return tuple(bound.table[start:stop].astype(np.int64)
                 for start, stop in zip(bound.offsets[:-1], bound.offsets[1:]))


def _covariance(bound):
    """(D, c, exact, blocks) with Cov(v) ⪯ diag(D) + c𝟙𝟙ᵀ, see the module docstring."""
    n, b, p = bound.n, bound.batch, bound.probabilities
    if bound.kind == WITH_REPLACEMENT:
        return 1.0 / (b * p), -1.0 / b, True, None
    if bound.kind == TAU_NICE:
        if b == n:   # full batch: v = 𝟙 (the n = 1 case would divide 0 by 0 below)
            return np.zeros(n), 0.0, True, None
        return np.full(n, n * (n - b) / (b * (n - 1))), -(n - b) / (b * (n - 1)), True, None
    if bound.kind == INDEPENDENT:
        return 1.0 / p - 1.0, 0.0, True, None
    blocks = _blocks(bound)
    K = len(blocks)
    if K == n:
        return np.zeros(n), 0.0, True, blocks
    sizes = np.empty(n)
    for block in blocks:
        sizes[block] = block.size
    return sizes, -1.0 / K, K == 1, blocks


def _expected_square_norm(D, c, blocks, g):
    """(1/n²) Σ_ik M_ik ⟨g_i, g_k⟩ with the exact M of ``_covariance``'s output, O(nd)."""
    n = g.shape[0]
    total = np.sum(g.sum(axis=0) ** 2)
    rows = np.sum(g * g, axis=1)
    if blocks is None:
        value = (1.0 + c) * total + D @ rows
    else:   # M = diag(|B_j(i)|) + 𝟙𝟙ᵀ − Σ_j 𝟙_{B_j}𝟙_{B_j}ᵀ
        value = total + sum(block.size * rows[block].sum() - np.sum(g[block].sum(axis=0) ** 2)
                            for block in blocks)
    return float(value) / n ** 2


def component_lower_bounds(problem, return_exact=False):
    r"""Lower bounds f_i^inf ≤ inf_x f_i(x) of every component, or None.

    Squared loss with s_i = +1: inf ½(a_iᵀx − y_i)² = 0 if a_i ≠ 0, ½y_i² if a_i = 0;
    logistic: inf log(1 + exp(−y_i a_iᵀx)) = 0 if a_i ≠ 0 (not attained), log 2 if
    a_i = 0. The regulariser c Σ r(x_j − z_j) is ≥ 0, so these stay lower bounds.
    Any s_i = −1 (a saddle component, unbounded below) gives None.

    The bound of f_i is exact (equals inf f_i) when there is no regulariser
    (``reg_kind`` NONE or c = 0), or when a_i = 0, or, for the squared loss, when
    the regulariser's zero x = z also solves a_iᵀz = y_i (as in ``SineLeastSquares``).
    The logistic loss plus a rational regulariser is not exact: letting a_iᵀx grow
    makes the regulariser grow.

    Returns
    -------
    bounds : (n,) array or None
    exact : bool (only with ``return_exact=True``)
        Whether every bound is the exact infimum (then C = 2AΔ_inf is exact).
    """
    _validate.instance("problem", problem, FiniteSum, "a FiniteSum problem")
    row_zero = ~np.any(problem.A != 0, axis=1)
    no_regulariser = problem.reg_kind == NONE or problem.reg_strength == 0.0
    if problem.loss_kind == SQUARED:
        if np.any(problem.signs != 1):
            return (None, False) if return_exact else None
        bounds = np.where(row_zero, 0.5 * problem.y ** 2, 0.0)
        at_center = problem.A @ problem.reg_center - problem.y
        scale = np.abs(problem.A) @ np.abs(problem.reg_center) + np.abs(problem.y)
        attained = np.abs(at_center) <= 1e-12 * np.maximum(scale, 1e-300)
        exact_each = no_regulariser | row_zero | attained
    else:   # LOGISTIC; the signs do not enter the logistic loss
        bounds = np.where(row_zero, math.log(2.0), 0.0)
        exact_each = no_regulariser | row_zero
    return (bounds, bool(np.all(exact_each))) if return_exact else bounds


def components_convex(problem):
    """Whether every f_i is convex: squared loss with all s_i = +1, or logistic loss,
    in both cases without a regulariser (sin² and t²/(1 + t²) are not convex)."""
    _validate.instance("problem", problem, FiniteSum, "a FiniteSum problem")
    if not (problem.reg_kind == NONE or problem.reg_strength == 0.0):
        return False
    return problem.loss_kind == LOGISTIC or bool(np.all(problem.signs == 1))


@dataclass(frozen=True, eq=False)
class SamplingConstants:
    r"""The constants of one sampler on one problem (module docstring for the math).

    Attributes
    ----------
    sampler : dict
        ``sampler.describe()``; ``kind`` one of with_replacement, tau_nice,
        independent, stratified (Importance is with_replacement, p_i ∝ L_i).
    n : int
    b : float
        Expected number of draws per step: b (with replacement, τ-nice), Σ p_i
        (independent), the number of blocks K (stratified).
    covariance_diagonal, covariance_shift : (n,) array, float
        D and c with Cov(v) ⪯ diag(D) + c 𝟙𝟙ᵀ; ``decomposition_exact`` says equality.
    blocks : tuple of index arrays or None
        The stratified partition (then Cov = diag(|B_{j(i)}|) − Σ_j 𝟙_{B_j}𝟙_{B_j}ᵀ exactly).
    A, B : float
        A = max_i D_ii L_i / n, B = 1 + c.
    C : float or None
        2AΔ_inf; None when a component has no known lower bound (s_i = −1) or f_inf is None.
    delta_inf : float or None
        f_inf − (1/n) Σ f_i^inf.
    component_inf : (n,) array or None
        The f_i^inf used; ``component_inf_exact`` whether they are the exact infima.
    convex : bool
        Whether every f_i is convex (``components_convex``).
    expected_smoothness : float or None
        𝓛 = B L + A; None unless every f_i is convex (the bound needs convex f_i).
    expected_residual : float or None
        ρ_ER = A (valid as c ≤ 0); None unless every f_i is convex.
    sigma_star_sq : float or None
        E‖∇f_S(x*)‖², exact; None without x*.
    L, L_max, L_mean, mu, f_star, f_inf
        Copied from the problem.
    """
    sampler: dict
    kind: str
    n: int
    b: float
    covariance_diagonal: np.ndarray
    covariance_shift: float
    decomposition_exact: bool
    blocks: tuple | None
    A: float
    B: float
    C: float | None
    delta_inf: float | None
    component_inf: np.ndarray | None
    component_inf_exact: bool
    convex: bool
    expected_smoothness: float | None
    expected_residual: float | None
    sigma_star_sq: float | None
    L: float
    L_max: float
    L_mean: float
    mu: float | None
    f_star: float | None
    f_inf: float | None

    NAMES = ("n", "b", "A", "B", "C", "L", "L_max", "L_mean", "mu", "sigma_star_sq",
             "expected_smoothness", "expected_residual", "delta_inf", "f_star", "f_inf")

    def as_dict(self, skip_unknown=False):
        """{name: number} for the names in ``NAMES`` (SymPy substitution by name);
        unknown constants are None, or left out with ``skip_unknown=True``."""
        out = {name: getattr(self, name) for name in self.NAMES}
        return {k: v for k, v in out.items() if v is not None} if skip_unknown else out

    def second_moment(self):
        """The exact E[v vᵀ] as an (n, n) matrix."""
        if self.blocks is None:
            return np.diag(self.covariance_diagonal) + (1.0 + self.covariance_shift)
        moment = np.ones((self.n, self.n))
        for block in self.blocks:
            moment[np.ix_(block, block)] = 0.0
            moment[block, block] = block.size
        return moment

    def expected_square_norm(self, vectors):
        """E‖(1/n) Σ_i v_i g_i‖² exactly for the rows g_i of ``vectors`` (n, d), in O(nd)."""
        g = _validate.finite_array("vectors", vectors, ndim=2)
        if g.shape[0] != self.n:
            raise ValueError(f"vectors must have one row per sample, shape ({self.n}, d), got {g.shape}")
        return _expected_square_norm(self.covariance_diagonal, self.covariance_shift, self.blocks, g)


def sampling_constants(problem, sampler):
    """The closed-form ``SamplingConstants`` of ``sampler`` on ``problem``."""
    bound = _check_inputs(problem, sampler)
    D, c, exact, blocks = _covariance(bound)
    n = problem.n
    A = float(np.max(D * problem.L_i)) / n
    B = 1.0 + c
    lower, lower_exact = component_lower_bounds(problem, return_exact=True)
    delta_inf = (None if lower is None or problem.f_inf is None
                 else problem.f_inf - float(np.mean(lower)))
    convex = components_convex(problem)
    b = float(bound.probabilities.sum()) if bound.kind == INDEPENDENT else bound.batch
    sigma_star_sq = (None if problem.x_star is None else
                     _expected_square_norm(D, c, blocks, problem.sample_gradients(problem.x_star)))
    return SamplingConstants(
        sampler={**sampler.describe(), "kind": _KIND_NAMES[bound.kind]}, kind=_KIND_NAMES[bound.kind],
        n=n, b=b, covariance_diagonal=D, covariance_shift=c, decomposition_exact=exact,
        blocks=blocks, A=A, B=B, C=None if delta_inf is None else 2.0 * A * delta_inf,
        delta_inf=delta_inf, component_inf=lower, component_inf_exact=lower_exact, convex=convex,
        expected_smoothness=B * problem.L + A if convex else None,
        expected_residual=A if convex else None, sigma_star_sq=sigma_star_sq,
        L=problem.L, L_max=problem.L_max, L_mean=problem.L_mean, mu=problem.mu,
        f_star=problem.f_star, f_inf=problem.f_inf)


# -- exact enumeration ---------------------------------------------------------

class SamplingOutcomes(NamedTuple):
    """Every outcome k of a sampling: probability (K,) and sampling vector v_k (K, n)."""
    probabilities: np.ndarray
    vectors: np.ndarray


def count_outcomes(problem, sampler):
    """The number K of outcomes ``enumerate_sampling`` lists (a Python int, may be huge)."""
    return _count(_check_inputs(problem, sampler))


def _count(bound):
    n, b = bound.n, bound.batch
    if bound.kind == WITH_REPLACEMENT:
        return math.comb(n + b - 1, b)     # multisets of size b
    if bound.kind == TAU_NICE:
        return math.comb(n, b)
    if bound.kind == INDEPENDENT:
        return 2 ** n
    return math.prod(block.size for block in _blocks(bound))


def enumerate_sampling(problem, sampler, max_outcomes=DEFAULT_MAX_OUTCOMES):
    """All outcomes of the sampling with their exact probabilities.

    With replacement / importance: every multiset N of size b, probability
    b!/Π N_i! · Π p_i^{N_i}, v_i = N_i/(b p_i). τ-nice: every b-subset, 1/C(n, b),
    v_i = n/b on it. Independent: all 2ⁿ subsets S, Π_{i∈S} p_i Π_{i∉S} (1 − p_i),
    v_i = 1/p_i on S. Stratified: one element per block, Π_j 1/|B_j|, v_i = |B_j|.
    The per-occurrence value of v_i is n·``index_weights[i]`` of the bound sampler,
    so the outcomes are the engine's. Raises ValueError when K > ``max_outcomes``.
    """
    bound = _check_inputs(problem, sampler)
    max_outcomes = _validate.positive_int("max_outcomes", max_outcomes)
    K = _count(bound)
    if K > max_outcomes:
        raise ValueError(f"max_outcomes must be at least the number of outcomes K = {K} of this "
                         f"sampling (n = {bound.n}), got {max_outcomes}; use Monte Carlo instead")
    n, b, p = bound.n, bound.batch, bound.probabilities
    per_occurrence = n * bound.index_weights
    if bound.kind in (WITH_REPLACEMENT, TAU_NICE, STRATIFIED):
        if bound.kind == WITH_REPLACEMENT:
            chosen = itertools.combinations_with_replacement(range(n), b)
        elif bound.kind == TAU_NICE:
            chosen = itertools.combinations(range(n), b)
        else:
            chosen = itertools.product(*_blocks(bound))
        draws = np.fromiter(itertools.chain.from_iterable(chosen), dtype=np.int64).reshape(K, -1)
        counts = np.zeros((K, n))
        np.add.at(counts, (np.repeat(np.arange(K), draws.shape[1]), draws.ravel()), 1.0)
        if bound.kind == WITH_REPLACEMENT:
            multinomial = np.rint(np.exp(gammaln(b + 1) - gammaln(counts + 1).sum(axis=1)))
            probabilities = multinomial * np.prod(p ** counts, axis=1)
        else:
            probabilities = np.full(K, 1.0 / K)
    else:   # INDEPENDENT
        counts = ((np.arange(K)[:, None] >> np.arange(n)) & 1).astype(float)
        probabilities = np.prod(np.where(counts > 0, p, 1.0 - p), axis=1)
    return SamplingOutcomes(probabilities, counts * per_occurrence)


def exact_second_moment(problem, sampler, max_outcomes=DEFAULT_MAX_OUTCOMES):
    """E[v vᵀ] = Σ_k π_k v_k v_kᵀ by enumeration, (n, n)."""
    probabilities, vectors = enumerate_sampling(problem, sampler, max_outcomes)
    return (vectors.T * probabilities) @ vectors


def _per_outcome(vectors, problem, x, star_gradients):
    """Per outcome k, (value, rounding scale) of: ``gradient`` ‖∇f_S(x)‖², and with x*:
    ``difference`` ‖∇f_S(x) − ∇f_S(x*)‖², ``residual`` ‖∇f_S(x) − ∇f_S(x*) − (∇f(x) −
    ∇f(x*))‖², ``star`` ‖∇f_S(x*)‖². The scale ((1/n) Σ_i |v_i| ‖g_i‖ + ‖offset‖)² bounds
    the terms that cancel in the value: its rounding error is a few ε times the scale."""
    n = problem.n
    magnitudes = abs(vectors) / n

    def square_norm(rows, offset=None):
        sampled = vectors @ rows / n
        size = magnitudes @ np.sqrt(np.sum(rows ** 2, axis=1))
        if offset is not None:
            sampled = sampled - offset
            size = size + np.sqrt(np.sum(offset ** 2))
        return np.sum(sampled ** 2, axis=1), size ** 2

    gradients = problem.sample_gradients(x)
    out = {"gradient": square_norm(gradients)}
    if star_gradients is not None:
        differences = gradients - star_gradients
        out["difference"] = square_norm(differences)
        out["residual"] = square_norm(differences, differences.mean(axis=0))
        out["star"] = square_norm(star_gradients)
    return out


def _point(problem, x, name="x"):
    return _validate.finite_array(name, x, shape=(problem.d,))


def exact_moments(problem, sampler, x, max_outcomes=DEFAULT_MAX_OUTCOMES):
    """Exact expectations at x by enumeration: keys ``gradient`` E‖∇f_S(x)‖² and, when
    x* is known, ``difference`` E‖∇f_S(x) − ∇f_S(x*)‖², ``residual``
    E‖∇f_S(x) − ∇f_S(x*) − (∇f(x) − ∇f(x*))‖² and ``star`` E‖∇f_S(x*)‖² = σ*²."""
    probabilities, vectors = enumerate_sampling(problem, sampler, max_outcomes)
    x = _point(problem, x)
    star = None if problem.x_star is None else problem.sample_gradients(problem.x_star)
    return {key: float(probabilities @ values)
            for key, (values, _) in _per_outcome(vectors, problem, x, star).items()}


# -- inequality checks -------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class InequalityCheck:
    """lhs ≤ rhs at each point. ``lhs`` is exact (``lhs_se`` = 0) or a Monte Carlo mean
    with standard error ``lhs_se``; ``ratio`` = lhs/rhs (NaN where rhs = 0).
    ``scale`` = E[((1/n) Σ_i |v_i| ‖g_i‖ + ‖offset‖)²], the size of the terms that
    cancel in lhs: lhs is known to a few ε·scale (at x* or for a full batch lhs
    is rounding noise of that size while rhs = 0)."""
    name: str
    method: str
    lhs: np.ndarray
    lhs_se: np.ndarray
    rhs: np.ndarray
    ratio: np.ndarray
    scale: np.ndarray

    def holds(self, z=5.0, rtol=1e-12):
        """lhs − z·s.e. ≤ rhs + rtol·(|rhs| + scale) at each point."""
        return self.lhs - z * self.lhs_se <= self.rhs + rtol * (np.abs(self.rhs) + self.scale)


def _monte_carlo_outcomes(problem, sampler, samples, seed):
    """``samples`` draws of the engine's sampling stream as equally likely outcomes."""
    stream = draw(sampler, problem, steps=samples, trajectories=1, seed=seed)
    indices, weights = stream.indices[0], stream.weights[0]
    used = indices >= 0
    rows = np.broadcast_to(np.arange(samples)[:, None], indices.shape)[used]
    # duplicates (with replacement) are summed: row s holds v_s/n, times n gives v_s
    vectors = scipy.sparse.csr_matrix((problem.n * weights[used], (rows, indices[used])),
                                      shape=(samples, problem.n))
    return SamplingOutcomes(np.full(samples, 1.0 / samples), vectors)


def check_inequalities(problem, sampler, points, *, method="auto", samples=20_000, seed=0,
                       max_outcomes=DEFAULT_MAX_OUTCOMES):
    r"""Left and right sides of each inequality of the constants at each point.

    Inequalities (each only where its constant is known):

    - ``abc``: E‖∇f_S(x)‖² ≤ 2A(f(x) − f_inf) + B‖∇f(x)‖² + C;
    - ``expected_smoothness``: E‖∇f_S(x) − ∇f_S(x*)‖² ≤ 2𝓛(f(x) − f*);
    - ``expected_residual``: E‖∇f_S(x) − ∇f_S(x*) − (∇f(x) − ∇f(x*))‖² ≤ 2A(f(x) − f*);
    - ``sigma_star_sq``: E‖∇f_S(x*)‖² = σ*² (an equality, one entry, at x*).

    f(x) − f_inf is ``problem.loss_gap(x)`` and f(x) − f* is
    loss_gap(x) − loss_gap(x*) (both free of cancellation on least squares).

    Parameters
    ----------
    points : (P, d) or (d,) array
    method : "auto", "exact" or "monte_carlo"
        ``exact`` enumerates every outcome (``enumerate_sampling``); ``monte_carlo``
        averages over ``samples`` draws of ``samtheory.sampling.draw`` with seed
        ``seed``; ``auto`` enumerates when there are at most ``max_outcomes`` outcomes.

    Returns
    -------
    dict name → InequalityCheck
    """
    constants = sampling_constants(problem, sampler)
    method = _validate.choice("method", method, ("auto", "exact", "monte_carlo"))
    samples = _validate.positive_int("samples", samples)
    seed = _validate.seed(seed)
    max_outcomes = _validate.positive_int("max_outcomes", max_outcomes)
    points = _validate.finite_array("points", points)
    if points.ndim == 1:
        points = points[None, :]
    if points.ndim != 2 or points.shape[1] != problem.d:
        raise ValueError(f"points must have shape (P, {problem.d}) or ({problem.d},), got {points.shape}")
    if method == "auto":
        method = "exact" if count_outcomes(problem, sampler) <= max_outcomes else "monte_carlo"
    if method == "exact":
        outcomes = enumerate_sampling(problem, sampler, max_outcomes)
    else:
        outcomes = _monte_carlo_outcomes(problem, sampler, samples, seed)

    def expectation(values_and_scale):
        values, scale = values_and_scale
        mean = float(outcomes.probabilities @ values)
        se = float(np.std(values, ddof=1) / math.sqrt(values.size)) if method == "monte_carlo" else 0.0
        return mean, se, float(outcomes.probabilities @ scale)

    x_star = problem.x_star
    star = None if x_star is None else problem.sample_gradients(x_star)
    rows = {name: [] for name in ("abc", "expected_smoothness", "expected_residual")}
    for x in points:
        per = _per_outcome(outcomes.vectors, problem, x, star)
        if constants.C is not None:
            rhs = (2 * constants.A * problem.loss_gap(x) + constants.B * np.sum(problem.gradient(x) ** 2)
                   + constants.C)
            rows["abc"].append((*expectation(per["gradient"]), rhs))
        if constants.expected_smoothness is not None and x_star is not None:
            gap_star = problem.loss_gap(x) - problem.loss_gap(x_star)
            rows["expected_smoothness"].append(
                (*expectation(per["difference"]), 2 * constants.expected_smoothness * gap_star))
            rows["expected_residual"].append(
                (*expectation(per["residual"]), 2 * constants.expected_residual * gap_star))
    if star is not None:
        per = _per_outcome(outcomes.vectors, problem, x_star, star)
        rows["sigma_star_sq"] = [(*expectation(per["star"]), constants.sigma_star_sq)]

    checks = {}
    for name, values in rows.items():
        if values:
            lhs, se, scale, rhs = (np.array(column, dtype=float) for column in zip(*values))
            ratio = np.divide(lhs, rhs, out=np.full_like(lhs, np.nan), where=rhs > 0)
            checks[name] = InequalityCheck(name, method, lhs, se, rhs, ratio, scale)
    return checks
