r"""Least squares, diagonal quadratics and the saddle toy.

Least squares f_i(x) = ½(a_iᵀx − y_i)², f = ½xᵀHx − bᵀx + c0 with H = AᵀA/n:
- L_i = ‖a_i‖² (the Hessian of f_i is a_i a_iᵀ), L = λ_max(H);
- PL with μ = the smallest *nonzero* eigenvalue of H, also when A is rank
  deficient (then f is PL but not strongly convex): f(x) − f* = ½ zᵀHz with z
  the component of x − x* in range(H), and ‖∇f‖² = zᵀH²z ≥ μ zᵀHz;
- x* = the minimum-norm minimiser A⁺y, f* = f(x*).

Conditioning: the loss gap ½(x − x*)ᵀH(x − x*) uses H = AᵀA/n formed in float64. Each
entry of H is a sum of n rounded products, so its eigenvalues carry errors of order
n·ε·L (ε = 2.2e-16; the componentwise bound |fl(AᵀA) − AᵀA| ≤ γ_n |A|ᵀ|A|, γ_n ≈ nε).
Above L/μ = 1/(n·ε) (``max_condition``) they swamp μ and the gap along μ's eigenvector
is wrong, even negative, so such problems are refused.
"""
import numpy as np

from .. import _validate
from .._core.codes import SQUARED
from .base import FiniteSum


def _positive_spectrum(A):
    """(λ_max, smallest nonzero λ) of AᵀA/n from the singular values of A, with
    NumPy's rank tolerance σ > σ_max · max(n, d) · ε (resolves condition numbers of
    H = AᵀA/n up to about 1e25, where eigenvalues of AᵀA itself would stop near 1e10)."""
    n, d = A.shape
    sigma = np.linalg.svd(A, compute_uv=False)
    nonzero = sigma[sigma > sigma.max() * max(n, d) * np.finfo(float).eps]
    if nonzero.size == 0:
        return 0.0, None
    return float(nonzero[0] ** 2 / n), float(nonzero[-1] ** 2 / n)


def max_condition(n):
    """The largest L/μ of H = AᵀA/n (n samples) whose loss gap float64 resolves: 1/(n·ε)
    (see the module docstring); about 7.0e13 for n = 64."""
    return 1.0 / (n * np.finfo(np.float64).eps)


class LeastSquares(FiniteSum):
    """f(x) = (1/n) Σ ½(a_iᵀx − y_i)² with L_i, L, μ, f*, x* computed exactly.

    A whose L/μ exceeds ``max_condition(n)`` is refused (its loss gap would be wrong)."""

    name = "least squares"

    def __init__(self, A, y, x0=None):
        A = _validate.finite_array("A", A, ndim=2)
        y = _validate.finite_array("y", y, shape=(A.shape[0],))
        L, mu = _positive_spectrum(A)
        if mu is None:
            raise ValueError("A must have at least one nonzero entry (A = 0 gives a constant objective)")
        limit = max_condition(A.shape[0])
        if L / mu > limit:
            raise ValueError(
                f"A is too ill-conditioned for float64: H = AᵀA/n has L/μ = {L / mu:.3g}, above "
                f"1/(n·ε) = {limit:.3g} (n = {A.shape[0]}); H's float64 rounding errors, of order "
                "n·ε·L, would swamp μ and make the loss gap wrong")
        x_star = np.linalg.lstsq(A, y, rcond=None)[0]
        f_star = float(np.mean(0.5 * (A @ x_star - y) ** 2))
        super().__init__(A, y, loss=SQUARED, L_i=np.sum(A ** 2, axis=1), L=L, mu=mu,
                         x_star=x_star, x0=x0, f_star=f_star)


def random_least_squares(n, d, *, condition=10.0, rank=None, consistent=False, noise=1.0,
                         mu=None, seed=0):
    r"""A seeded random least-squares instance with a prescribed spectrum.

    A = √n · U diag(√λ) Vᵀ with U (n×r), V (d×r) random orthonormal and
    λ geometric from L = ``condition``·μ down to μ, so that H = AᵀA/n has
    exactly r = ``rank`` nonzero eigenvalues with λ_max/λ_min⁺ = ``condition``
    (default μ = 1/condition, i.e. L = 1). ``consistent=True`` sets y = A x_true
    (interpolation: f* = 0, every ∇f_i(x*) = 0); otherwise ``noise`` times a
    standard normal is added. x0 ~ N(0, I). With rank 1 there is one eigenvalue,
    μ·condition, so μ = L. For rank > 1, ``condition`` must not exceed
    ``max_condition(n)`` = 1/(n·ε), what float64 resolves in H = AᵀA/n (module docstring).
    """
    n = _validate.positive_int("n", n)
    d = _validate.positive_int("d", d)
    rank = min(n, d) if rank is None else _validate.positive_int("rank", rank)
    if rank > min(n, d):
        raise ValueError(f"rank must lie in [1, min(n, d)] = [1, {min(n, d)}], got {rank}")
    condition = _validate.real("condition", condition, 1.0, np.inf)
    if rank > 1 and condition > max_condition(n):
        raise ValueError(
            f"condition must lie in [1, {max_condition(n):.3g}] for n = {n} samples, got "
            f"{condition:g}: the loss gap uses H = AᵀA/n, whose float64 rounding errors (of order "
            "n·ε·L, ε = 2.2e-16) must stay below μ = L/condition")
    mu = 1.0 / condition if mu is None else _validate.real("mu", mu, 0.0, np.inf, low_open=True)
    rng = np.random.default_rng(_validate.seed(seed))
    U = np.linalg.qr(rng.standard_normal((n, rank)))[0]
    V = np.linalg.qr(rng.standard_normal((d, rank)))[0]
    eig = mu * condition ** np.linspace(1.0, 0.0, rank) if rank > 1 else np.array([mu * condition])
    A = np.sqrt(n) * (U * np.sqrt(eig)) @ V.T
    x_true = rng.standard_normal(d)
    y = A @ x_true
    if not consistent:
        y = y + _validate.real("noise", noise, 0.0, np.inf) * rng.standard_normal(n)
    problem = LeastSquares(A, y, x0=rng.standard_normal(d))
    problem.name = f"least squares (n={n}, d={d}, rank={rank}, κ={condition:g}{', consistent' if consistent else ''})"
    return problem


class Quadratic(FiniteSum):
    r"""f(x) = ½ Σ_j λ_j x_j² written as a finite sum of n = d one-direction terms.

    f_j(x) = ½ s_j (a_jᵀx)² with a_j = √(d|λ_j|) e_j and s_j = sign λ_j, so that
    f = (1/d) Σ f_j. Negative eigenvalues make saddles (then f is unbounded below:
    f*, x*, μ are None). With all λ_j > 0: x* = 0, f* = 0, μ = min λ, L = max λ.
    Closed-form results assume full batch (``TauNice(d)``).
    """

    name = "quadratic"

    def __init__(self, eigenvalues, x0=None):
        lam = _validate.finite_array("eigenvalues", eigenvalues, ndim=1)
        if np.any(lam == 0):
            raise ValueError("eigenvalues must be nonzero (a zero eigenvalue gives a flat direction)")
        d = lam.size
        A = np.diag(np.sqrt(d * np.abs(lam)))
        positive = bool(np.all(lam > 0))
        super().__init__(A, np.zeros(d), loss=SQUARED, signs=np.sign(lam), L_i=d * np.abs(lam),
                         L=float(np.max(np.abs(lam))), mu=float(np.min(lam)) if positive else None,
                         f_star=0.0 if positive else None, x_star=np.zeros(d) if positive else None,
                         x0=np.ones(d) if x0 is None else x0)
        self.eigenvalues = lam
        self.name = f"quadratic diag({', '.join(f'{v:g}' for v in lam)})"


def saddle(a=1.0, c=1.0, x0=(1.0, 1e-3)):
    """The saddle toy f(x, y) = ½(a x² − c y²) of docs/theory.md §4 (a, c > 0)."""
    a = _validate.real("a", a, 0.0, np.inf, low_open=True)
    c = _validate.real("c", c, 0.0, np.inf, low_open=True)
    problem = Quadratic([a, -c], x0=x0)
    problem.name = f"saddle ½({a:g}x² − {c:g}y²)"
    return problem
