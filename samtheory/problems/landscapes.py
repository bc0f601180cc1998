r"""Built-in landscapes whose minimisers form a manifold of varying sharpness.

Three :class:`~samtheory.problems.Custom` families, f = (1/n) Σ_i f_i with a
squared loss f_i = ½ r_i², r_i = prediction_i − y_i. Each one gives

- its per-sample functions as ``numba.njit`` functions of this module (value,
  gradient, Hessian-vector product, and the conserved balance where one exists),
  written with explicit loops and no allocation (they run per sample in the
  compiled kernel's inner loop; where intermediate per-unit numbers are needed
  they are kept in ``out`` until overwritten);
- NumPy reference evaluations independent of those: ``sample_losses`` and
  ``sample_gradients`` are the family's ``array_functions`` evaluated with NumPy
  at one point; ``hessian_vector`` (full batch), ``hessian_at`` (dense closed
  form) and ``balance`` are vectorised NumPy formulas;
- ``array_functions`` for the ``array``/``cupy`` backends (the protocol is in
  ``engine.vectorised``): ``values(xp, data, X, idx)`` (R, k) and
  ``gradients(xp, data, X, idx)`` (R, k, p) for the samples idx[r, :] at X[r],
  written with stacks of per-trajectory products and reductions over the last
  axes only, so every trajectory is computed the same way in any chunk.

None of the three objectives is globally L-smooth: their Hessians grow without
bound with the parameters (quartically growing losses for the diagonal network
and matrix sensing, output weights that scale the hidden-layer curvature in the
two-layer network). L and L_i are therefore None, and so is μ (no PL constant
holds globally: x = 0 is a stationary point of every family, with f(0) =
mean_i ½y_i² > f* for nonzero targets). f ≥ 0 always, so f_inf = 0 is a lower
bound where f* is unknown.

**Diagonal linear network** (``DiagonalNetwork``). x = (u, v) ∈ ℝ^{2d}, β = u ⊙ v,
p_i = ⟨β, a_i⟩, f_i = ½(p_i − y_i)². With g_u = a_i ⊙ v, g_v = a_i ⊙ u:

    ∇_u f_i = r_i g_u,   ∇_v f_i = r_i g_v,
    ∇²f_i = [[g_u g_uᵀ, g_u g_vᵀ + r_i D_i], [g_v g_uᵀ + r_i D_i, g_v g_vᵀ]],  D_i = diag(a_i),
    ∇²f_i [w_u; w_v] = [g_u s + r_i a_i ⊙ w_v; g_v s + r_i a_i ⊙ w_u],  s = g_uᵀw_u + g_vᵀw_v.

Since u ⊙ v reaches every β, f* = min_β ½‖Aβ − y‖²/n (0 for realisable y). The
minimisers {(u, v): u ⊙ v ∈ argmin} form a manifold (scale u_j ↦ c u_j,
v_j ↦ v_j / c); gradient flow conserves every u_j² − v_j², hence the balance
‖u‖² − ‖v‖² (⟨∇balance, ∇f_i⟩ = 2 r_i Σ_j a_ij (u_j v_j − v_j u_j) = 0). At a
minimiser of a realisable problem ∇²f = (1/n) Σ J_iJ_iᵀ, J_i = (g_u, g_v), with
trace Σ_j S_jj (u_j² + v_j²) ≥ 2 Σ_j S_jj |β_j| (S = AᵀA/n), equality iff
|u_j| = |v_j|: the balanced minimisers are the flattest. For n = d = 1, a = 1
(``scalar_factorisation``) f = ½(uv − y)² and on uv = y the Hessian [v, u][v, u]ᵀ
has eigenvalues {0, u² + v²}: λ_max = u² + v² ≥ 2|y|, equality at |u| = |v| = √|y|.

**Symmetric matrix sensing** (``MatrixSensing``). x = vec(U) row-major, U ∈ ℝ^{d×w},
f_i = ½(⟨A_i, UUᵀ⟩ − y_i)² with symmetric A_i:

    ∇_U f_i = 2 r_i A_i U,   ∇²f_i[V] = 4⟨A_i U, V⟩ A_i U + 2 r_i A_i V,
    ∇²f_i = 4 vec(A_iU) vec(A_iU)ᵀ + 2 r_i (A_i ⊗ I_w).

With y_i = ⟨A_i, M*⟩ for M* = U*U*ᵀ of rank k ≤ w, f* = 0 at U = [U*, 0]. The
minimisers {U: ⟨A_i, UUᵀ⟩ = y_i ∀i} are invariant under U ↦ UQ (Q ∈ O(w)), which
leaves the Hessian's spectrum unchanged; where the measurements do not pin down
M = UUᵀ (n < d(d+1)/2 with w large) they contain other M, and at a minimiser
tr ∇²f = 4⟨S, UUᵀ⟩ with S = (1/n) Σ A_i² (≈ ((d+1)/2) I for the Gaussian
ensemble): the flattest minimisers are those of least nuclear norm tr M.

**Two-layer tanh network** (``TwoLayer``). x = (vec(W) row-major, a), W ∈ ℝ^{m×d},
a ∈ ℝ^m; h_ik = tanh(w_kᵀz_i), pred_i = Σ_k a_k h_ik, f_i = ½(pred_i − y_i)².
With h' = 1 − h² and h'' = −2h(1 − h²):

    ∇_{a_k} f_i = r_i h_ik,   ∇_{w_k} f_i = r_i a_k h'_ik z_i,
    ∇²f_i = J_iJ_iᵀ + r_i ∇²pred_i,  J_i = ∇pred_i,
    ∇²pred_i: ∂²/∂w_k∂w_k = a_k h''_ik z_i z_iᵀ, ∂²/∂w_k∂a_k = h'_ik z_i, all other blocks 0,
    ∇²f_i[V_W, V_a]: with c_k = z_iᵀV_{w_k}, s = Σ_k (h_ik V_{a_k} + a_k h'_ik c_k),
        a_k-part  h_ik s + r_i h'_ik c_k,
        w_k-part  z_i (a_k h'_ik s + r_i (h'_ik V_{a_k} + a_k h''_ik c_k)).

The targets come from a teacher network of m* units; when m ≥ m* the student
realises it exactly (copy the teacher's units, give the other m − m* units
output weight 0), so f* = 0; otherwise f* is unknown (f_inf = 0). The
minimisers include the zero-output units' free input weights (whose values move
the a-block of JJᵀ) and, for m ≥ m* + 1, a unit split into two copies with
output weights t a*_k and (1 − t) a*_k, along which the hidden-weight curvature
scales as t² and (1 − t)²: the sharpness varies along both.
"""
import numpy as np
from numba import njit
from scipy.linalg import block_diag

from .. import _validate
from .custom import Custom


def _count(name, value, low, high, what):
    """An integer in [low, high] (``what`` names the bound, e.g. "d")."""
    value = _validate.positive_int(name, value)
    if not low <= value <= high:
        raise ValueError(f"{name} must lie in [{low}, {what}] = [{low}, {high}], got {value}")
    return value


class _Family(Custom):
    """A built-in family: ``sample_losses`` / ``sample_gradients`` are its NumPy
    ``array_functions`` at one point (independent of the compiled functions)."""

    def _one_point(self, x, indices):
        idx = np.arange(self.n) if indices is None else np.asarray(indices, dtype=np.int64)
        return np.asarray(x, dtype=np.float64)[None, :], idx.reshape(1, -1)

    def sample_losses(self, x, indices=None):
        X, idx = self._one_point(x, indices)
        return self.array_functions.values(np, self.data, X, idx)[0]

    def sample_gradients(self, x, indices=None):
        X, idx = self._one_point(x, indices)
        return self.array_functions.gradients(np, self.data, X, idx)[0]


# -- diagonal linear network ------------------------------------------------------------

@njit(cache=True)
def _diagonal_residual(x, i, A, y):
    d = A.shape[1]
    p = 0.0
    for j in range(d):
        p += A[i, j] * x[j] * x[d + j]
    return p - y[i]


@njit(cache=True)
def diagonal_value(x, i, data):
    """f_i(u, v) = ½(⟨u ⊙ v, a_i⟩ − y_i)²; data = (A, y)."""
    r = _diagonal_residual(x, i, data[0], data[1])
    return 0.5 * r * r


@njit(cache=True)
def diagonal_gradient(x, i, data, out):
    """out = (r a_i ⊙ v, r a_i ⊙ u)."""
    A = data[0]
    d = A.shape[1]
    r = _diagonal_residual(x, i, A, data[1])
    for j in range(d):
        ra = r * A[i, j]
        out[j] = ra * x[d + j]
        out[d + j] = ra * x[j]


@njit(cache=True)
def diagonal_hvp(x, i, data, v, out):
    """out = (g_u s + r a_i ⊙ v_v, g_v s + r a_i ⊙ v_u), s = g_uᵀv_u + g_vᵀv_v."""
    A = data[0]
    d = A.shape[1]
    r = _diagonal_residual(x, i, A, data[1])
    s = 0.0
    for j in range(d):
        s += A[i, j] * (x[d + j] * v[j] + x[j] * v[d + j])
    for j in range(d):
        a = A[i, j]
        out[j] = a * (x[d + j] * s + r * v[d + j])
        out[d + j] = a * (x[j] * s + r * v[j])


@njit(cache=True)
def diagonal_balance(x, data):
    """‖u‖² − ‖v‖²."""
    d = x.size // 2
    b = 0.0
    for j in range(d):
        b += x[j] * x[j] - x[d + j] * x[d + j]
    return b


class _DiagonalArrays:
    """``array_functions`` of :class:`DiagonalNetwork`; data = (A, y)."""

    @staticmethod
    def _residuals(data, X, idx):
        A, y = data
        d = A.shape[1]
        rows = A[idx]                                               # (R, k, d)
        beta = (X[:, :d] * X[:, d:])[:, None, :]
        return rows, (rows * beta).sum(axis=-1) - y[idx]

    def values(self, xp, data, X, idx):
        _, r = self._residuals(data, X, idx)
        return 0.5 * r * r

    def gradients(self, xp, data, X, idx):
        rows, r = self._residuals(data, X, idx)
        d = rows.shape[-1]
        ra = r[..., None] * rows
        return xp.concatenate([ra * X[:, None, d:], ra * X[:, None, :d]], axis=-1)


class DiagonalNetwork(_Family):
    r"""f_i(u, v) = ½(⟨u ⊙ v, a_i⟩ − y_i)² (module docstring: gradient, Hessian,
    the balanced minimisers as the flattest, the conserved balance ‖u‖² − ‖v‖²).

    Parameters
    ----------
    A : (n, d) array, y : (n,) array
    x0 : (2d,) array
        Starting point (u, v).
    f_star : float, optional
        Default: min_β ½‖Aβ − y‖²/n from a least-squares solve (u ⊙ v reaches every β).
    teacher : (d,) array, optional
        The β that generated y (kept as ``teacher``).

    x* is not unique: ``x_star`` is None. L, L_i, μ are None (module docstring).
    """

    name = "diagonal network"

    def __init__(self, A, y, x0, *, f_star=None, teacher=None):
        A = _validate.finite_array("A", A, ndim=2)
        n, d = A.shape
        y = _validate.finite_array("y", y, shape=(n,))
        if f_star is None:
            beta = np.linalg.lstsq(A, y, rcond=None)[0]
            f_star = float(0.5 * np.mean((A @ beta - y) ** 2))
        self.teacher = None if teacher is None else _validate.finite_array(
            "teacher", teacher, shape=(d,))
        super().__init__(diagonal_value, diagonal_gradient, (A, y), n=n, d=2 * d, x0=x0,
                         hvp=diagonal_hvp, balance=diagonal_balance, f_star=f_star,
                         array_functions=_DiagonalArrays())

    def _parts(self, x):
        """(A, u, v, residuals) at x = (u, v)."""
        A, y = self.data
        d = A.shape[1]
        x = np.asarray(x, dtype=np.float64)
        u, v = x[:d], x[d:]
        return A, u, v, A @ (u * v) - y

    def hessian_vector(self, x, v):
        """(1/n) Σ_i ∇²f_i(x) v (module docstring), v = (w_u, w_v)."""
        A, u, v_x, r = self._parts(x)
        d = u.size
        v = np.asarray(v, dtype=np.float64)
        w_u, w_v = v[:d], v[d:]
        As = A.T @ (A @ (v_x * w_u + u * w_v))         # Σ_i a_i s_i
        Ar = A.T @ r                                    # Σ_i r_i a_i
        return np.concatenate([v_x * As + Ar * w_v, u * As + Ar * w_u]) / self.n

    def hessian_at(self, x):
        """(1/n) Σ_i J_iJ_iᵀ + off-diagonal blocks diag((1/n) Σ_i r_i a_i)."""
        A, u, v, r = self._parts(x)
        J = np.concatenate([A * v, A * u], axis=1)
        H = J.T @ J / self.n
        d = u.size
        coupling = np.diag(A.T @ r / self.n)
        H[:d, d:] += coupling
        H[d:, :d] += coupling
        return H

    def balance(self, x):
        """‖u‖² − ‖v‖², conserved by gradient flow."""
        d = self.d // 2
        x = np.asarray(x, dtype=np.float64)
        return float(x[:d] @ x[:d] - x[d:] @ x[d:])


def diagonal_network(n, d, *, sparsity, noise=0.0, seed=0, init_scale=0.1):
    r"""A seeded :class:`DiagonalNetwork`: A with i.i.d. N(0, 1) entries, a teacher β*
    with ``sparsity`` nonzero N(0, 1) entries on a uniformly random support,
    y = Aβ* + ``noise``·N(0, 1). f* = 0 when noise = 0, else the least-squares optimum.
    x0 = (``init_scale``·1, 0): β(0) = 0 and u_j² − v_j² = init_scale² for every j
    (small scales bias gradient flow towards sparse β)."""
    n = _validate.positive_int("n", n)
    d = _validate.positive_int("d", d)
    sparsity = _count("sparsity", sparsity, 1, d, "d")
    noise = _validate.real("noise", noise, 0.0, np.inf)
    init_scale = _validate.real("init_scale", init_scale, 0.0, np.inf, low_open=True)
    rng = np.random.default_rng(_validate.seed(seed))
    A = rng.standard_normal((n, d))
    teacher = np.zeros(d)
    teacher[rng.choice(d, size=sparsity, replace=False)] = rng.standard_normal(sparsity)
    y = A @ teacher + noise * rng.standard_normal(n)
    x0 = np.concatenate([np.full(d, init_scale), np.zeros(d)])
    problem = DiagonalNetwork(A, y, x0, f_star=0.0 if noise == 0.0 else None, teacher=teacher)
    problem.name = f"diagonal network (n={n}, d={d}, sparsity={sparsity}, noise={noise:g})"
    return problem


def scalar_factorisation(y=1.0, x0=(2.0, 0.3)):
    """f(u, v) = ½(uv − y)²: the diagonal network with n = d = 1, a = 1. Its minimisers
    uv = y have λ_max = u² + v², least (2|y|) at |u| = |v| = √|y|; f* = 0."""
    y = _validate.real("y", y)
    x0 = _validate.finite_array("x0", x0, shape=(2,))
    problem = DiagonalNetwork(np.ones((1, 1)), np.array([y]), x0, f_star=0.0, teacher=[y])
    problem.name = f"scalar factorisation ½(uv − {y:g})²"
    return problem


# -- symmetric matrix sensing -------------------------------------------------------------

@njit(cache=True)
def _sensing_product(A, i, M, w, beta, out, alpha):
    """out ← beta·vec(A_i mat(M)) + alpha·out, mat(M) the d×w row-major matrix of M
    (alpha = 0: out is overwritten, whatever it held)."""
    d = A.shape[1]
    for a in range(d):
        for c in range(w):
            s = 0.0
            for b in range(d):
                s += A[i, a, b] * M[b * w + c]
            k = a * w + c
            out[k] = beta * s + (alpha * out[k] if alpha != 0.0 else 0.0)


@njit(cache=True)
def _dot(x, y):
    s = 0.0
    for k in range(x.size):
        s += x[k] * y[k]
    return s


@njit(cache=True)
def sensing_value(x, i, data):
    """f_i(U) = ½(⟨A_i, UUᵀ⟩ − y_i)²; data = (A (n, d, d), y)."""
    A = data[0]
    d = A.shape[1]
    w = x.size // d
    p = 0.0
    for a in range(d):
        for b in range(d):
            s = 0.0
            for c in range(w):
                s += x[a * w + c] * x[b * w + c]
            p += A[i, a, b] * s
    r = p - data[1][i]
    return 0.5 * r * r


@njit(cache=True)
def sensing_gradient(x, i, data, out):
    """out = 2 r vec(A_i U), with ⟨A_i, UUᵀ⟩ = ⟨A_i U, U⟩."""
    A = data[0]
    w = x.size // A.shape[1]
    _sensing_product(A, i, x, w, 1.0, out, 0.0)
    scale = 2.0 * (_dot(out, x) - data[1][i])
    for k in range(x.size):
        out[k] *= scale


@njit(cache=True)
def sensing_hvp(x, i, data, v, out):
    """out = 4⟨A_i U, V⟩ vec(A_i U) + 2 r vec(A_i V)."""
    A = data[0]
    w = x.size // A.shape[1]
    _sensing_product(A, i, x, w, 1.0, out, 0.0)
    r = _dot(out, x) - data[1][i]
    q = _dot(out, v)
    _sensing_product(A, i, v, w, 2.0 * r, out, 4.0 * q)


class _SensingArrays:
    """``array_functions`` of :class:`MatrixSensing`; data = (A (n, d, d), y)."""

    @staticmethod
    def _residuals(xp, data, X, idx):
        A, y = data
        R, k = idx.shape
        d = A.shape[1]
        U = X.reshape(R, d, -1)
        AU = xp.matmul(A[idx], U[:, None, :, :])                    # (R, k, d, w)
        p = (AU * U[:, None, :, :]).reshape(R, k, X.shape[1]).sum(axis=-1)
        return AU.reshape(R, k, X.shape[1]), p - y[idx]

    def values(self, xp, data, X, idx):
        _, r = self._residuals(xp, data, X, idx)
        return 0.5 * r * r

    def gradients(self, xp, data, X, idx):
        AU, r = self._residuals(xp, data, X, idx)
        return (2.0 * r)[..., None] * AU


class MatrixSensing(_Family):
    r"""f_i(U) = ½(⟨A_i, UUᵀ⟩ − y_i)² with symmetric A_i, x = vec(U) row-major
    (module docstring: gradient, HVP, Hessian, the minimisers and their sharpness).

    Parameters
    ----------
    A : (n, d, d) array of symmetric matrices, y : (n,) array
    x0 : (d·w,) array
        Starting point vec(U), U of width w = len(x0) / d.
    f_star : float, optional
        Default unknown (f_inf = 0 is a lower bound).
    teacher : (d, k) array, optional
        U* with y_i = ⟨A_i, U*U*ᵀ⟩ (kept as ``teacher``).

    L, L_i, μ are None and x* is not unique (module docstring).
    """

    name = "matrix sensing"

    def __init__(self, A, y, x0, *, f_star=None, teacher=None):
        A = _validate.finite_array("A", A, ndim=3)
        n, d, d2 = A.shape
        if d2 != d:
            raise ValueError(f"A must have shape (n, d, d), got {A.shape}")
        asymmetric = np.flatnonzero((A != A.transpose(0, 2, 1)).any(axis=(1, 2)))
        if asymmetric.size:
            raise ValueError(f"A must hold symmetric matrices (A[i] = A[i]ᵀ); A[{asymmetric[0]}] "
                             "is not")
        y = _validate.finite_array("y", y, shape=(n,))
        x0 = _validate.finite_array("x0", x0, ndim=1)
        if x0.size % d:
            raise ValueError(f"x0 must have length d·width = {d}·width for some width >= 1, "
                             f"got {x0.size}")
        self.width = x0.size // d
        self.teacher = None if teacher is None else _validate.finite_array(
            "teacher", teacher, ndim=2)
        if self.teacher is not None and self.teacher.shape[0] != d:
            raise ValueError(f"teacher must have shape (d, rank) = ({d}, rank), "
                             f"got {self.teacher.shape}")
        super().__init__(sensing_value, sensing_gradient, (A, y), n=n, d=x0.size, x0=x0,
                         hvp=sensing_hvp, f_star=f_star, f_inf=0.0,
                         array_functions=_SensingArrays())

    def _parts(self, x):
        A, y = self.data
        U = np.asarray(x, dtype=np.float64).reshape(A.shape[1], self.width)
        AU = np.matmul(A, U)                                         # (n, d, w)
        return A, U, AU, np.einsum("iac,ac->i", AU, U) - y

    def hessian_vector(self, x, v):
        """(1/n) Σ_i (4⟨A_iU, V⟩ A_iU + 2 r_i A_iV)."""
        A, U, AU, r = self._parts(x)
        V = np.asarray(v, dtype=np.float64).reshape(U.shape)
        q = np.einsum("iac,ac->i", AU, V)
        out = 4.0 * np.einsum("i,iac->ac", q, AU) + 2.0 * np.einsum("i,iab,bc->ac", r, A, V)
        return out.ravel() / self.n

    def hessian_at(self, x):
        """(1/n) Σ_i 4 vec(A_iU) vec(A_iU)ᵀ + 2 ((1/n) Σ_i r_i A_i) ⊗ I_w."""
        A, U, AU, r = self._parts(x)
        J = AU.reshape(self.n, -1)
        return (4.0 * J.T @ J / self.n
                + 2.0 * np.kron(np.einsum("i,iab->ab", r, A) / self.n, np.eye(self.width)))


def matrix_sensing(n, d, *, rank, width, seed=0, init_scale=0.01):
    r"""A seeded :class:`MatrixSensing`: A_i = (G_i + G_iᵀ)/2 with G_i i.i.d. N(0, 1)
    (so ⟨A_i, M⟩ ~ N(0, ‖M‖_F²)), a teacher U* (d × ``rank``) with orthonormal
    columns (M* = U*U*ᵀ an orthogonal projection), y_i = ⟨A_i, M*⟩. f* = 0 when
    ``width`` ≥ ``rank`` (at U = [U*, 0]; over-parametrised when width > rank),
    else unknown (f_inf = 0). x0 = ``init_scale``·G with G (d × width) i.i.d. N(0, 1)."""
    n = _validate.positive_int("n", n)
    d = _validate.positive_int("d", d)
    rank = _count("rank", rank, 1, d, "d")
    width = _validate.positive_int("width", width)
    init_scale = _validate.real("init_scale", init_scale, 0.0, np.inf, low_open=True)
    rng = np.random.default_rng(_validate.seed(seed))
    G = rng.standard_normal((n, d, d))
    A = (G + G.transpose(0, 2, 1)) / 2
    teacher = np.linalg.qr(rng.standard_normal((d, rank)))[0]
    y = np.einsum("iab,ab->i", A, teacher @ teacher.T)
    x0 = init_scale * rng.standard_normal(d * width)
    problem = MatrixSensing(A, y, x0, f_star=0.0 if width >= rank else None, teacher=teacher)
    problem.name = f"matrix sensing (n={n}, d={d}, rank={rank}, width={width})"
    return problem


# -- two-layer tanh network ---------------------------------------------------------------

@njit(cache=True)
def _two_layer_residual(x, i, Z, y):
    d = Z.shape[1]
    m = x.size // (d + 1)
    pred = 0.0
    for k in range(m):
        s = 0.0
        for j in range(d):
            s += x[k * d + j] * Z[i, j]
        pred += x[m * d + k] * np.tanh(s)
    return pred - y[i]


@njit(cache=True)
def two_layer_value(x, i, data):
    """f_i(W, a) = ½(Σ_k a_k tanh(w_kᵀz_i) − y_i)²; data = (Z, y)."""
    r = _two_layer_residual(x, i, data[0], data[1])
    return 0.5 * r * r


@njit(cache=True)
def _hidden_units(x, i, Z, v, out):
    """Write h_k = tanh(w_kᵀz_i) into out's a-part; with v (not None) also c_k = z_iᵀv_{w_k}
    into out[k·d]. Return (pred_i, Σ_k h_k v_{a_k} + a_k h'_k c_k), the second 0 without v."""
    d = Z.shape[1]
    m = x.size // (d + 1)
    pred = 0.0
    jv = 0.0
    for k in range(m):
        s = 0.0
        for j in range(d):
            s += x[k * d + j] * Z[i, j]
        h = np.tanh(s)
        out[m * d + k] = h
        pred += x[m * d + k] * h
        if v is not None:
            c = 0.0
            for j in range(d):
                c += v[k * d + j] * Z[i, j]
            out[k * d] = c
            jv += h * v[m * d + k] + x[m * d + k] * (1.0 - h * h) * c
    return pred, jv


@njit(cache=True)
def two_layer_gradient(x, i, data, out):
    """out = (r a_k h'_k z_i for each unit k, row-major; r h_k)."""
    Z = data[0]
    d = Z.shape[1]
    m = x.size // (d + 1)
    pred, _ = _hidden_units(x, i, Z, None, out)
    r = pred - data[1][i]
    for k in range(m):
        h = out[m * d + k]
        out[m * d + k] = r * h
        coef = r * x[m * d + k] * (1.0 - h * h)
        for j in range(d):
            out[k * d + j] = coef * Z[i, j]


@njit(cache=True)
def two_layer_hvp(x, i, data, v, out):
    """out = ∇²f_i v (module docstring)."""
    Z = data[0]
    d = Z.shape[1]
    m = x.size // (d + 1)
    pred, s = _hidden_units(x, i, Z, v, out)
    r = pred - data[1][i]
    for k in range(m):
        h = out[m * d + k]
        c = out[k * d]
        hp = 1.0 - h * h
        a = x[m * d + k]
        out[m * d + k] = h * s + r * hp * c
        coef = a * hp * s + r * (hp * v[m * d + k] - 2.0 * a * h * hp * c)
        for j in range(d):
            out[k * d + j] = coef * Z[i, j]


class _TwoLayerArrays:
    """``array_functions`` of :class:`TwoLayer`; data = (Z, y)."""

    @staticmethod
    def _forward(xp, data, X, idx):
        Z, y = data
        R, p = X.shape
        d = Z.shape[1]
        m = p // (d + 1)
        W = X[:, :m * d].reshape(R, m, d)
        a = X[:, m * d:]
        rows = Z[idx]                                                    # (R, k, d)
        H = xp.tanh(xp.matmul(rows, W.transpose(0, 2, 1)))               # (R, k, m)
        return rows, a, H, (H * a[:, None, :]).sum(axis=-1) - y[idx]

    def values(self, xp, data, X, idx):
        r = self._forward(xp, data, X, idx)[3]
        return 0.5 * r * r

    def gradients(self, xp, data, X, idx):
        rows, a, H, r = self._forward(xp, data, X, idx)
        R, k, m = H.shape
        coef = r[..., None] * a[:, None, :] * (1.0 - H * H)             # (R, k, m)
        grad_W = (coef[..., None] * rows[:, :, None, :]).reshape(R, k, m * rows.shape[-1])
        return xp.concatenate([grad_W, r[..., None] * H], axis=-1)


class TwoLayer(_Family):
    r"""f_i(W, a) = ½(Σ_k a_k tanh(w_kᵀz_i) − y_i)², x = (vec(W) row-major, a)
    (module docstring: gradient, exact HVP, minimisers and their sharpness).

    Parameters
    ----------
    Z : (n, d) array of inputs, y : (n,) array
    x0 : (m·(d + 1),) array
        Starting point for a student of width m = len(x0) / (d + 1).
    f_star : float, optional
        Default unknown (f_inf = 0 is a lower bound).
    teacher : (m*·(d + 1),) array, optional
        The teacher's parameters in the same layout (kept as ``teacher``).

    L, L_i, μ are None and x* is not unique (module docstring).
    """

    name = "two-layer tanh network"

    def __init__(self, Z, y, x0, *, f_star=None, teacher=None):
        Z = _validate.finite_array("Z", Z, ndim=2)
        n, d = Z.shape
        y = _validate.finite_array("y", y, shape=(n,))
        x0 = _validate.finite_array("x0", x0, ndim=1)
        if x0.size % (d + 1):
            raise ValueError(f"x0 must have length width·(d + 1) = width·{d + 1} for some "
                             f"width >= 1 (W row-major, then a), got {x0.size}")
        self.width = x0.size // (d + 1)
        self.teacher = None if teacher is None else _validate.finite_array(
            "teacher", teacher, ndim=1)
        if self.teacher is not None and self.teacher.size % (d + 1):
            raise ValueError(f"teacher must have length teacher_width·(d + 1) = "
                             f"teacher_width·{d + 1}, got {self.teacher.size}")
        super().__init__(two_layer_value, two_layer_gradient, (Z, y), n=n, d=x0.size, x0=x0,
                         hvp=two_layer_hvp, f_star=f_star, f_inf=0.0,
                         array_functions=_TwoLayerArrays())

    def _parts(self, x):
        Z, y = self.data
        m, d = self.width, Z.shape[1]
        x = np.asarray(x, dtype=np.float64)
        W, a = x[:m * d].reshape(m, d), x[m * d:]
        H = np.tanh(Z @ W.T)                                             # (n, m)
        Hp = 1.0 - H * H
        return Z, W, a, H, Hp, -2.0 * H * Hp, H @ a - y

    def hessian_vector(self, x, v):
        """(1/n) Σ_i ∇²f_i(x) v (module docstring)."""
        Z, W, a, H, Hp, H2, r = self._parts(x)
        m, d = W.shape
        v = np.asarray(v, dtype=np.float64)
        VW, Va = v[:m * d].reshape(m, d), v[m * d:]
        C = Z @ VW.T                                                     # c_ik
        s = H @ Va + (Hp * C) @ a
        out_a = H.T @ s + (Hp * C).T @ r
        coef = a * Hp * s[:, None] + r[:, None] * (Hp * Va + a * H2 * C)
        return np.concatenate([(coef.T @ Z).ravel(), out_a]) / self.n

    def hessian_at(self, x):
        """(1/n) Σ_i J_iJ_iᵀ + (1/n) Σ_i r_i ∇²pred_i, ∇²pred_i in closed form."""
        Z, W, a, H, Hp, H2, r = self._parts(x)
        (m, d), n = W.shape, self.n
        J = np.concatenate([((a * Hp)[:, :, None] * Z[:, None, :]).reshape(n, m * d), H], axis=1)
        out = J.T @ J / n
        blocks = a[:, None, None] * np.einsum("ik,ij,il->kjl", r[:, None] * H2, Z, Z) / n
        cross = (r[:, None] * Hp).T @ Z / n                               # (m, d)
        coupling = (cross[:, :, None] * np.eye(m)[:, None, :]).reshape(m * d, m)
        out[:m * d, :m * d] += block_diag(*blocks)
        out[:m * d, m * d:] += coupling
        out[m * d:, :m * d] += coupling.T
        return out


def two_layer(n, d, *, width, teacher_width, seed=0):
    r"""A seeded :class:`TwoLayer`: inputs z_i ~ N(0, I_d); a teacher of ``teacher_width``
    units with rows w*_k ~ N(0, I/d) and output weights a*_k ~ N(0, 1); y_i its output.
    Student x0: rows w_k ~ N(0, I/d), a_k ~ N(0, 1/width). f* = 0 when width ≥
    teacher_width (the student copies the teacher, extra units get a_k = 0), else
    unknown (f_inf = 0)."""
    n = _validate.positive_int("n", n)
    d = _validate.positive_int("d", d)
    width = _validate.positive_int("width", width)
    teacher_width = _validate.positive_int("teacher_width", teacher_width)
    rng = np.random.default_rng(_validate.seed(seed))
    Z = rng.standard_normal((n, d))
    W_star = rng.standard_normal((teacher_width, d)) / np.sqrt(d)
    a_star = rng.standard_normal(teacher_width)
    y = np.tanh(Z @ W_star.T) @ a_star
    x0 = np.concatenate([rng.standard_normal(width * d) / np.sqrt(d),
                         rng.standard_normal(width) / np.sqrt(width)])
    problem = TwoLayer(Z, y, x0, f_star=0.0 if width >= teacher_width else None,
                       teacher=np.concatenate([W_star.ravel(), a_star]))
    problem.name = (f"two-layer tanh network (n={n}, d={d}, width={width}, "
                    f"teacher_width={teacher_width})")
    return problem
