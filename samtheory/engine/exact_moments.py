r"""Exact moments of the random minibatch matrix of a quadratic finite sum (``engine.exact``).

On a quadratic finite sum (squared loss, no regulariser) ∇f_i(x) = s_i a_i(a_iᵀx − y_i) is
affine. Fix an anchor x_a (x* where known, else 0) and write a point in homogeneous
coordinates x̃ = (x − x_a, 1) ∈ R^{d+1}. Then

    (∇f_S(x), 0) = 𝔾 x̃,    𝔾 = Σ_i ω_i P_i,    P_i = s_i â_i ã_iᵀ,

with â_i = (a_i, 0), ã_i = (a_i, a_iᵀx_a − y_i) and ω_i the total weight of sample i in the
minibatch (the sum of w_k over the draws k with i_k = i, ``sampling`` module). The last row
of 𝔾 is zero. ``SamplerMoments`` gives, never forming a (d+1)²×(d+1)² operator,

    mean = E𝔾,   square_mean = E𝔾²,   phi2(X) = E[𝔾 X 𝔾ᵀ]   (any X), and for symmetric X
    higher(X) = (E[𝔾² X 𝔾ᵀ], E[𝔾² X (𝔾²)ᵀ]).

With g_ij = a_iᵀa_j, P_iP_j = s_is_j g_ij â_iã_jᵀ and P_i X P_iᵀ = s_i² q_i(X) â_iâ_iᵀ with
q_i(X) = ã_iᵀXã_i; a sum Σ_i c_i â_iâ_iᵀ is Âᵀdiag(c)Â, O(nd²).

**Second order, every sampler, closed form.** E[ωωᵀ] = M/n² with M = E[vvᵀ] of
``theory.constants``: diag(D) + (1 + c)𝟙𝟙ᵀ, or for stratified sampling with 1 < K < n blocks
𝟙𝟙ᵀ + diag(|B_j(i)|) − Σ_j 𝟙_{B_j}𝟙_{B_j}ᵀ. Hence, with Ḡ = E𝔾 = (1/n) Σ_i P_i and
Ḡ_j = (1/n) Σ_{i∈B_j} P_i,

    phi2(X) = Âᵀdiag(D s² q(X))Â/n² + (1 + c) Ḡ X Ḡᵀ − Σ_j Ḡ_j X Ḡ_jᵀ,
    E𝔾² = Âᵀdiag(D s² g)Ã/n² + (1 + c) Ḡ² − Σ_j Ḡ_j².

**Third and fourth order by equality patterns.** For with-replacement (incl. importance),
τ-nice and independent sampling

    E[ω_{i_1} ⋯ ω_{i_m}] = Σ_σ c_σ Π_{C∈σ} ψ_{|C|}(i_C) 𝟙[i is constant on each block C of σ],

a sum over the set partitions σ of the m positions, c_σ depending only on σ's block sizes:

- b draws with replacement (P(i) = p_i, weight w_i): expand every ω_i over the draws and
  group the m draws by which of them coincide: c_σ = b(b − 1)⋯(b − |σ| + 1), ψ_k = p w^k;
- independent inclusion (Bernoulli(p_i), weight w_i): the moment–cumulant formula, joint
  cumulants of distinct (independent) coordinates vanishing: c_σ = 1, ψ_k = w^k κ_k(p) with
  κ_1 = p, κ_2 = p(1−p), κ_3 = p(1−p)(1−2p), κ_4 = p(1−p)(1−6p+6p²);
- τ-nice (b of n, weight 1/b): E[Π ω] = b^{−m} f(r), f(r) = (b)_r/(n)_r with r the number of
  distinct indices; Möbius inversion on the partition lattice turns "exactly the pattern κ"
  into "constant on the blocks of σ": c_σ = Σ_{κ ≤ σ} μ(κ, σ) f(|κ|) = Σ over refinements of
  each block C into k_C parts of Π_C S(|C|, k_C)(−1)^{k_C−1}(k_C − 1)! · f(Σ_C k_C)
  (S the Stirling numbers of the second kind), ψ_k = b^{−k}.

In 𝔾²X(𝔾²)ᵀ = Σ ω_iω_jω_kω_l P_iP_jXP_kᵀP_lᵀ each of the 15 patterns is then a product of
(d+1)-matrices and O(nd²) diagonal sums (``_pattern_higher`` lists them; an untied position is
F = Σ_i ψ_1(i) s_i P_i, two adjacent tied ones Q = Σ_i ψ_2(i) s_i² g_ii â_iã_iᵀ), except the
crossed pattern {i = k, j = l}: Σ_ij ψ_2(i)ψ_2(j) s_i²s_j² g_ij² ã_jᵀXã_i â_iâ_jᵀ, O(n²d), formed
in row chunks.

**Stratified sampling** is not of that form (for 1 < K < n blocks two positions in one block
must coincide); its third and fourth moments are sums over its Π_j |B_j| outcomes
(``theory.enumerate_sampling``: n for K = 1, one for K = n), refused beyond ``MAX_OUTCOMES``
outcomes or ``MAX_STACK`` stored entries.
"""
import itertools
import math

import numpy as np

from .._core.codes import INDEPENDENT, STRATIFIED, TAU_NICE, WITH_REPLACEMENT

MAX_OUTCOMES = 20_000     # stratified third/fourth moments: outcomes enumerated at most
MAX_STACK = 2 ** 24       # ... and entries of the per-outcome matrices 𝔾_k, 𝔾_k² held at once
CHUNK = 2 ** 20           # entries of an n×n block of the crossed pattern formed at once
CROSS_CACHE = 2 ** 22     # keep the crossed pattern's n×n weights when n² is at most this

# Stirling numbers of the second kind S(m, k), m ≤ 4: partitions of m positions into k blocks
_STIRLING = {(1, 1): 1, (2, 1): 1, (2, 2): 1, (3, 1): 1, (3, 2): 3, (3, 3): 1,
             (4, 1): 1, (4, 2): 7, (4, 3): 6, (4, 4): 1}


def _falling(x, k):
    """x(x − 1)⋯(x − k + 1)."""
    return math.prod(x - j for j in range(k))


def _pattern_form(bound):
    """(c, ψ) of the module docstring: c(sizes), the coefficient of a pattern with these block
    sizes, and ψ[k] (n,) for k = 1..4; None for stratified sampling."""
    n, b, p, w = bound.n, bound.batch, bound.probabilities, bound.index_weights
    if bound.kind == WITH_REPLACEMENT:
        return (lambda sizes: float(_falling(b, len(sizes)))), {k: p * w ** k for k in range(1, 5)}
    if bound.kind == INDEPENDENT:
        q = 1.0 - p
        cumulants = {1: p, 2: p * q, 3: p * q * (1 - 2 * p), 4: p * q * (1 - 6 * p + 6 * p * p)}
        return (lambda sizes: 1.0), {k: w ** k * cumulants[k] for k in range(1, 5)}
    if bound.kind == TAU_NICE:
        def distinct(r):   # P(r given distinct indices all lie in S)
            return 0.0 if r > b else _falling(b, r) / _falling(n, r)

        def coefficient(sizes):
            total = 0.0
            for parts in itertools.product(*(range(1, m + 1) for m in sizes)):
                weight = math.prod(_STIRLING[m, k] * (-1) ** (k - 1) * math.factorial(k - 1)
                                   for m, k in zip(sizes, parts))
                total += weight * distinct(sum(parts))
            return total
        return coefficient, {k: w ** k for k in range(1, 5)}
    return None


def higher_order_refusal(problem, bound):
    """None when ``SamplerMoments`` can give third and fourth moments for this bound sampler,
    else why not (stratified sampling with too many outcomes to enumerate)."""
    if bound.kind != STRATIFIED:
        return None
    sizes = np.diff(bound.offsets)
    count = math.prod(int(m) for m in sizes)
    stored = 3 * count * (problem.d + 1) ** 2
    if count > MAX_OUTCOMES or stored > MAX_STACK:
        return (f"its third and fourth moments under Stratified sampling with {sizes.size} blocks "
                f"are enumerated over the Π_j |B_j| = {count} outcomes, more than {MAX_OUTCOMES} "
                f"(or {stored} stored entries at d = {problem.d}, more than {MAX_STACK}): use Monte "
                "Carlo, fewer or smaller blocks")
    return None


class SamplerMoments:
    """The moments of 𝔾 (module docstring) of ``sampler`` on a quadratic ``problem``.

    ``higher=True`` prepares the third and fourth moments (``higher``); for stratified
    sampling that enumerates its outcomes and raises ValueError when there are too many.
    """

    def __init__(self, problem, sampler, anchor, higher=False):
        # theory imports engine.exact (check's exact backend): import theory.constants late
        from ..theory.constants import enumerate_sampling, sampling_constants
        bound = sampler.bind(problem)
        A, s, n, d = problem.A, problem.signs, problem.n, problem.d
        self.A, self.s, self.n, self.d = A, s, n, d
        self.V = np.column_stack([A, A @ anchor - problem.y])     # rows ã_i
        self.gram = np.einsum("ij,ij->i", A, A)                    # g_ii = ‖a_i‖²
        self.mean = self.outer(s / n)
        constants = sampling_constants(problem, sampler)
        self._one = 1.0 + constants.covariance_shift
        self._second = constants.covariance_diagonal * s * s / n ** 2
        self._blocks = []
        if not constants.decomposition_exact:   # stratified, 1 < K < n: M = 𝟙𝟙ᵀ + diag(|B|) − Σ 𝟙_B𝟙_Bᵀ
            self._one = 1.0
            self._second = n * bound.index_weights * s * s / n ** 2
            self._blocks = [((A[block] * s[block, None]) / n, self.V[block]) for block in constants.blocks]
        self.square_mean = self.outer(self._second * self.gram) + self._one * self.mean @ self.mean
        for signed, rows in self._blocks:
            block_mean = self._pad(signed.T @ rows)
            self.square_mean -= block_mean @ block_mean
        self._outcomes = None
        if higher:
            why = higher_order_refusal(problem, bound)
            if why is not None:
                raise ValueError(f"{type(sampler).__name__}: {why}")
            form = _pattern_form(bound)
            if form is None:
                probabilities, vectors = enumerate_sampling(problem, sampler, MAX_OUTCOMES)
                stack = self._pad_stack(np.einsum("ki,ia,ib->kab", vectors * (s / n), A, self.V,
                                                  optimize=True))
                self._outcomes = probabilities, stack, stack @ stack
            else:
                self._prepare_patterns(*form)

    # -- O(nd²) building blocks ------------------------------------------------------
    def _pad(self, top):
        """A (d, d+1) block as the (d+1, d+1) matrix with a zero last row."""
        return np.vstack([top, np.zeros((1, self.d + 1))])

    def _pad_stack(self, tops):
        return np.concatenate([tops, np.zeros((tops.shape[0], 1, self.d + 1))], axis=1)

    def outer(self, c):
        """Σ_i c_i â_iã_iᵀ = Âᵀdiag(c)Ã."""
        return self._pad((self.A.T * c) @ self.V)

    def sandwich(self, c):
        """Σ_i c_i â_iâ_iᵀ = Âᵀdiag(c)Â."""
        out = np.zeros((self.d + 1, self.d + 1))
        out[:-1, :-1] = (self.A.T * c) @ self.A
        return out

    def quad(self, X):
        """q_i(X) = ã_iᵀXã_i for every i, (n,)."""
        return np.einsum("ij,ij->i", self.V @ X, self.V)

    # -- moments ------------------------------------------------------------------------
    def phi2(self, X, q=None):
        """E[𝔾 X 𝔾ᵀ]; ``q`` = ``quad(X)`` when already at hand."""
        q = self.quad(X) if q is None else q
        out = self.sandwich(self._second * q) + self._one * self.mean @ X @ self.mean.T
        for signed, rows in self._blocks:
            out[:-1, :-1] -= signed.T @ (rows @ X @ rows.T) @ signed
        return out

    def higher(self, X, q=None):
        """(E[𝔾² X 𝔾ᵀ], E[𝔾² X (𝔾²)ᵀ]) for symmetric X (needs ``higher=True``)."""
        if self._outcomes is not None:
            probabilities, G, G2 = self._outcomes
            left = G2 @ X
            third = np.einsum("k,kab->ab", probabilities, left @ G.transpose(0, 2, 1))
            fourth = np.einsum("k,kab->ab", probabilities, left @ G2.transpose(0, 2, 1))
            return third, fourth
        return self._pattern_higher(X, self.quad(X) if q is None else q)

    def _prepare_patterns(self, coefficient, psi):
        s, g = self.s, self.gram
        self._c = {sizes: coefficient(sizes) for sizes in
                   ((1, 1, 1), (2, 1), (3,), (1, 1, 1, 1), (2, 1, 1), (2, 2), (3, 1), (4,))}
        self._a2 = psi[2] * s ** 2                 # a tied pair i = j: P_i Y P_iᵀ = s_i² q_i(Y) â_iâ_iᵀ
        self._a3 = psi[3] * s ** 3 * g             # a tied triple
        self._a4 = psi[4] * s ** 4 * g * g         # all four tied
        self._F = self.outer(psi[1] * s)           # Σ ψ_1 P_i: an untied position
        self._Q = self.outer(self._a2 * g)         # Σ ψ_2 P_iP_i: two adjacent tied positions
        n = self.n
        rows = max(1, CHUNK // n)
        self._chunks = [slice(start, min(n, start + rows)) for start in range(0, n, rows)]
        self._cross_cache = ([self._cross_weights(r) for r in self._chunks] if n * n <= CROSS_CACHE
                             else None)

    def _cross_weights(self, rows):
        """ψ_2(i)ψ_2(j) s_i²s_j² g_ij² for the rows i of one chunk, (rows, n)."""
        return self._a2[rows, None] * self._a2[None, :] * (self.A[rows] @ self.A.T) ** 2

    def _cross(self, X):
        """The crossed pattern Σ_ij ψ_2(i)ψ_2(j) s_i²s_j² g_ij² ã_jᵀXã_i â_iâ_jᵀ (X symmetric)."""
        out = np.zeros((self.d + 1, self.d + 1))
        VX = self.V @ X
        for k, rows in enumerate(self._chunks):
            weights = self._cross_weights(rows) if self._cross_cache is None else self._cross_cache[k]
            out[:-1, :-1] += self.A[rows].T @ ((weights * (VX[rows] @ self.V.T)) @ self.A)
        return out

    def _pattern_higher(self, X, q):
        r"""The patterns of E[𝔾²X𝔾ᵀ] (positions 1 2 | 3: P_1P_2XP_3ᵀ) and E[𝔾²X(𝔾²)ᵀ]
        (positions 1 2 | 3 4: P_1P_2XP_3ᵀP_4ᵀ), X symmetric, so q(XFᵀ) = q(FX):

        third: {1}{2}{3} F²XFᵀ; {12}{3} QXFᵀ; {13}{2} T₂(FX); {23}{1} F T₂(X); {123} T₃(X);
        fourth: {1}{2}{3}{4} F²X(F²)ᵀ; {12} QX(F²)ᵀ, {34} its transpose, {13} T₂(FX)Fᵀ,
        {24} its transpose, {14} T₂(FXFᵀ), {23} F T₂(X) Fᵀ; {12}{34} QXQᵀ, {14}{23} T₂(T₂(X)),
        {13}{24} crossed; {123} T₃(X)Fᵀ, {234} its transpose, {124} and {134} T₃(FX);
        {1234} T₄(X) — with T_k(Y) = Σ_i ψ_k s_i^k g_ii^{k−2} q_i(Y) â_iâ_iᵀ (g⁰ for k = 2).
        """
        c, F, Q = self._c, self._F, self._Q
        FX = F @ X
        q_fx = self.quad(FX)
        t2 = self.sandwich(self._a2 * q)
        F2X = F @ FX
        QX = Q @ X
        third = (c[1, 1, 1] * F2X @ F.T + c[2, 1] * (QX @ F.T + F @ t2)
                 + self.sandwich(c[2, 1] * self._a2 * q_fx + c[(3,)] * self._a3 * q))
        mixed = self.sandwich(c[2, 1, 1] * self._a2 * q_fx + c[3, 1] * self._a3 * q) @ F.T
        left = c[2, 1, 1] * QX @ (F @ F).T
        diagonal = self.sandwich(c[2, 1, 1] * self._a2 * self.quad(FX @ F.T)
                                 + c[2, 2] * self._a2 * self.quad(t2)
                                 + 2 * c[3, 1] * self._a3 * q_fx + c[(4,)] * self._a4 * q)
        fourth = (c[1, 1, 1, 1] * F2X @ (F @ F).T + left + left.T + mixed + mixed.T
                  + c[2, 1, 1] * F @ t2 @ F.T + c[2, 2] * (QX @ Q.T + self._cross(X)) + diagonal)
        return third, fourth
