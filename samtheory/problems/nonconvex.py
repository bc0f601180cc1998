r"""Non-convex finite sums: a PL family and a general (non-PL) one.

**Sine least squares (non-convex, PL)** [derived]. With an orthogonal design
AᵀA/n = diag(λ_1..λ_d) and consistent targets y = A x*,

    f_i(x) = ½(a_iᵀx − y_i)² + c Σ_j sin²(x_j − x*_j),
    f(x) = Σ_j g_j(x_j − x*_j),  g_j(t) = ½λ_j t² + c sin² t,

so f separates across coordinates, f* = 0 at x*, and
- f is non-convex as soon as some λ_j < 2c (g_j'' = λ_j + 2c cos 2t);
- L_i = ‖a_i‖² + 2c and L = λ_max + 2c, both attained at x = x*;
- with k_j = λ_j/c, g_j'(t)²/(2 g_j(t)) = c (k_j t + sin 2t)²/(k_j t² + 2 sin² t),
  whose infimum over t ≠ 0 is c·m(k_j); since ‖∇f‖² = Σ g_j'² and f = Σ g_j,
  PL holds with μ = c min_j m(k_j). m(k) > 0 iff g_j has no stationary point but
  t = 0, i.e. iff k/2 > −min_{u>0} sin(u)/u = 0.217234 (k > 0.434467); m(k) → k+2
  near t = 0 and → k as |t| → ∞. m is computed by a dense grid plus a bounded
  scalar minimisation (``sine_pl_ratio``).

**Logistic regression with a non-convex regulariser** (general non-convex,
no PL): f_i(x) = log(1 + exp(−y_i a_iᵀx)) + c Σ_j x_j²/(1 + x_j²), y_i = ±1.
The logistic Hessian σ(1−σ) a_i a_iᵀ ≤ ¼ a_i a_iᵀ and r''(t) = 2(1 − 3t²)/(1 + t²)³
∈ [−½, 2], both maxima at x = 0, so L_i = ¼‖a_i‖² + 2c and L = ¼λ_max(AᵀA/n) + 2c
exactly (attained at 0). Both terms are ≥ 0: f_inf = 0 is a lower bound.
"""
import numpy as np
from scipy.optimize import minimize_scalar

from .. import _validate
from .._core.codes import SQUARED, LOGISTIC, SINE, RATIONAL
from .base import FiniteSum

SINC_MIN = 0.21723362821122166  # −min_{u>0} sin(u)/u, attained at u = 4.4934


def sine_pl_ratio(k):
    """m(k) = inf_{t≠0} (k t + sin 2t)² / (k t² + 2 sin² t) for k > 2·SINC_MIN."""
    k = float(k)
    if k <= 2 * SINC_MIN:
        raise ValueError(f"λ_j/c must lie in ({2 * SINC_MIN:.6f}, inf) for PL (else g_j has a "
                         f"spurious stationary point), got {k!r}")
    ratio = lambda t: (k * t + np.sin(2 * t)) ** 2 / (k * t * t + 2 * np.sin(t) ** 2)
    # For k t > 1 the ratio is >= (k t − 1)²/(k t² + 2) = k − (2kt + 2k − 1)/(k t² + 2)
    # >= k − 2/t − 2/t²: once the grid minimum lies below that bound at t_max, the
    # infimum over t > t_max cannot be smaller.
    t_max = 50.0 + 200.0 / k
    while True:
        grid = np.linspace(1e-3, t_max, int(1000 * t_max) + 1)
        vals = ratio(grid)
        j = int(np.argmin(vals))
        if vals[j] < k - 2.0 / t_max - 2.0 / t_max ** 2:
            break
        t_max *= 2.0
    step = grid[1] - grid[0]
    res = minimize_scalar(ratio, bounds=(max(grid[j] - step, 1e-6), grid[j] + step),
                          method="bounded", options={"xatol": 1e-12})
    return float(min(res.fun, vals[j], k + 2.0))


class SineLeastSquares(FiniteSum):
    """Least squares plus c Σ sin²(x_j − x*_j) on an orthogonal design (non-convex, PL)."""

    name = "sine least squares"

    def __init__(self, A, x_star, reg_strength, x0=None):
        A = _validate.finite_array("A", A, ndim=2)
        n, d = A.shape
        x_star = _validate.finite_array("x_star", x_star, shape=(d,))
        c = _validate.real("reg_strength", reg_strength, 0.0, np.inf, low_open=True)
        hessian = A.T @ A / n
        lam = np.diag(hessian).copy()
        if not np.allclose(hessian, np.diag(lam), rtol=0, atol=1e-10 * lam.max()):
            raise ValueError("A must have orthogonal columns (AᵀA/n diagonal) for the PL constant to hold")
        self.eigenvalues = lam
        mu = c * min(sine_pl_ratio(lam_j / c) for lam_j in np.unique(lam))
        super().__init__(A, A @ x_star, loss=SQUARED, regulariser=SINE, reg_strength=c,
                         reg_center=x_star, L_i=np.sum(A ** 2, axis=1) + 2 * c,
                         L=float(lam.max() + 2 * c), mu=mu, f_star=0.0, x_star=x_star, x0=x0)


def random_sine_least_squares(n, d, *, reg_strength=1.0, eigenvalues=(0.8, 4.0), seed=0):
    r"""A seeded SineLeastSquares instance: λ_j geometric between ``eigenvalues``
    = (λ_min, λ_max), orthonormal U (n×d) rotated rows, x* and x0 ~ N(0, I).
    The default (λ_min = 0.8 < 2c = 2) is non-convex."""
    n = _validate.positive_int("n", n)
    d = _validate.positive_int("d", d)
    if n < d:
        raise ValueError(f"n must lie in [d, inf) = [{d}, inf) for an orthogonal design, got {n}")
    if np.shape(eigenvalues) != (2,):
        raise ValueError(f"eigenvalues must be a pair (λ_min, λ_max), got {eigenvalues!r}")
    low, high = (float(v) for v in eigenvalues)
    _validate.real("eigenvalues[0]", low, 0.0, high, low_open=True)
    rng = np.random.default_rng(_validate.seed(seed))
    U = np.linalg.qr(rng.standard_normal((n, d)))[0]
    lam = np.geomspace(high, low, d) if d > 1 else np.array([low])
    A = np.sqrt(n) * U * np.sqrt(lam)
    problem = SineLeastSquares(A, rng.standard_normal(d), reg_strength, x0=rng.standard_normal(d))
    problem.name = f"sine least squares (n={n}, d={d}, c={reg_strength:g})"
    return problem


class LogisticNonconvex(FiniteSum):
    """Logistic loss plus the non-convex regulariser c Σ x_j²/(1 + x_j²); f_inf = 0."""

    name = "logistic + non-convex regulariser"

    def __init__(self, A, y, reg_strength, x0=None):
        A = _validate.finite_array("A", A, ndim=2)
        y = _validate.finite_array("y", y, shape=(A.shape[0],))
        if not np.all(np.abs(y) == 1):
            raise ValueError("y must contain labels in {-1, +1}")
        c = _validate.real("reg_strength", reg_strength, 0.0, np.inf)
        top = float(np.linalg.eigvalsh(A.T @ A / A.shape[0])[-1])
        super().__init__(A, y, loss=LOGISTIC, regulariser=RATIONAL, reg_strength=c,
                         L_i=0.25 * np.sum(A ** 2, axis=1) + 2 * c, L=0.25 * top + 2 * c,
                         f_inf=0.0, x0=x0)


def random_logistic(n, d, *, reg_strength=0.1, label_noise=0.1, seed=0):
    """A seeded LogisticNonconvex instance: rows a_i = s_i g_i with g_i ~ N(0, I) and
    s_i ~ U(0.5, 2) (so the L_i differ), labels sign(a_iᵀw) for w ~ N(0, I), each
    flipped with probability ``label_noise``, x0 ~ N(0, I)."""
    n = _validate.positive_int("n", n)
    d = _validate.positive_int("d", d)
    flip = _validate.real("label_noise", label_noise, 0.0, 1.0)
    rng = np.random.default_rng(_validate.seed(seed))
    A = rng.standard_normal((n, d)) * rng.uniform(0.5, 2.0, size=(n, 1))
    w = rng.standard_normal(d)
    y = np.where(A @ w >= 0, 1.0, -1.0) * np.where(rng.random(n) < flip, -1.0, 1.0)
    problem = LogisticNonconvex(A, y, reg_strength, x0=rng.standard_normal(d))
    problem.name = f"logistic + non-convex regulariser (n={n}, d={d}, c={reg_strength:g})"
    return problem
