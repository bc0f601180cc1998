r"""The finite-sum form every problem shares, and its kernel description.

Every problem is f(x) = (1/n) Σ_i f_i(x) with

    f_i(x) = ℓ_i(a_iᵀx) + c Σ_j r(x_j − z_j),

a per-sample loss ℓ_i of a linear measurement plus a separable regulariser
shared by all samples. Losses: ``SQUARED`` ℓ_i(u) = ½ s_i (u − y_i)² (s_i = ±1
allows saddles), ``LOGISTIC`` ℓ_i(u) = log(1 + exp(−y_i u)). Regularisers:
``NONE``, ``SINE`` r(t) = sin² t, ``RATIONAL`` r(t) = t²/(1 + t²).

This one form is what the Numba kernel compiles (once for every problem): a
problem is data (A, y, s, c, z) plus two integers, not code. The NumPy methods
here are the plain reference implementation of f_i, ∇f_i, f and ∇f.
"""
import numpy as np
from scipy.special import expit

from .. import _validate

SQUARED, LOGISTIC = 0, 1
NONE, SINE, RATIONAL = 0, 1, 2


class FiniteSum:
    """A finite-sum objective f = (1/n) Σ f_i with its known constants.

    Attributes
    ----------
    A : (n, d) array, y : (n,) array, signs : (n,) array
        Per-sample data of the loss.
    n, d : int
    L_i : (n,) array
        Smoothness constant of each f_i.
    L : float
        Smoothness constant of f.
    mu : float or None
        PL constant (‖∇f(x)‖² ≥ 2μ(f(x) − f*)) where PL holds.
    f_star : float or None
        inf f where known; ``f_inf`` is a lower bound used when f* is unknown.
    x_star : (d,) array or None
        A minimiser where known.
    x0 : (d,) array
        The default starting point.
    """

    name = "finite sum"

    def __init__(self, A, y, *, loss, signs=None, regulariser=NONE, reg_strength=0.0,
                 reg_center=None, L_i, L, mu=None, f_star=None, f_inf=None, x_star=None, x0=None):
        A = _validate.finite_array("A", A, ndim=2)
        n, d = A.shape
        self.A = np.ascontiguousarray(A)
        self.y = _validate.finite_array("y", y, shape=(n,))
        self.signs = np.ones(n) if signs is None else _validate.finite_array("signs", signs, shape=(n,))
        self.n, self.d = n, d
        self.loss_kind, self.reg_kind = int(loss), int(regulariser)
        self.reg_strength = float(reg_strength)
        self.reg_center = np.zeros(d) if reg_center is None else _validate.finite_array(
            "reg_center", reg_center, shape=(d,))
        self.L_i = np.asarray(L_i, dtype=np.float64)
        self.L = float(L)
        self.mu = None if mu is None else float(mu)
        self.f_star = None if f_star is None else float(f_star)
        self.f_inf = self.f_star if f_inf is None else float(f_inf)
        self.x_star = None if x_star is None else np.asarray(x_star, dtype=np.float64)
        self.x0 = np.zeros(d) if x0 is None else _validate.finite_array("x0", x0, shape=(d,))
        # Quadratic part of f for squared losses: f = ½xᵀHx − bᵀx + c0 (+ regulariser).
        if self.loss_kind == SQUARED:
            sA = self.signs[:, None] * self.A
            self.hessian = np.ascontiguousarray(self.A.T @ sA / n)
            self.linear = sA.T @ self.y / n
            self.constant = float(np.sum(self.signs * self.y ** 2) / (2 * n))
        else:
            self.hessian = np.zeros((d, d))
            self.linear = np.zeros(d)
            self.constant = 0.0

    # -- constants --------------------------------------------------------
    @property
    def L_max(self):
        return float(np.max(self.L_i))

    @property
    def L_mean(self):
        return float(np.mean(self.L_i))

    @property
    def loss_reference(self):
        """The value subtracted from f in the ``loss_gap`` metric: f*, else f_inf, else 0."""
        return 0.0 if self.f_inf is None else self.f_inf

    def constants(self):
        """The known constants as a JSON-friendly dict."""
        return {"n": self.n, "d": self.d, "L": self.L, "L_max": self.L_max, "L_mean": self.L_mean,
                "mu": self.mu, "f_star": self.f_star, "f_inf": self.f_inf}

    def describe(self):
        return {"problem": type(self).__name__, "name": self.name, **self.constants()}

    # -- NumPy reference evaluations ---------------------------------------
    def _reg(self, x):
        t = x - self.reg_center
        if self.reg_kind == SINE:
            return self.reg_strength * np.sum(np.sin(t) ** 2), self.reg_strength * np.sin(2 * t)
        if self.reg_kind == RATIONAL:
            return (self.reg_strength * np.sum(t ** 2 / (1 + t ** 2)),
                    self.reg_strength * 2 * t / (1 + t ** 2) ** 2)
        return 0.0, np.zeros_like(x)

    def _loss_and_derivative(self, u, idx):
        y = self.y[idx]
        if self.loss_kind == SQUARED:
            s = self.signs[idx]
            return 0.5 * s * (u - y) ** 2, s * (u - y)
        m = -y * u  # log(1 + e^m) and its derivative in u, computed stably
        return np.logaddexp(0.0, m), -y * expit(m)

    def sample_losses(self, x, indices=None):
        """f_i(x) for the given sample indices (all by default)."""
        idx = np.arange(self.n) if indices is None else np.asarray(indices)
        loss, _ = self._loss_and_derivative(self.A[idx] @ x, idx)
        return loss + self._reg(x)[0]

    def sample_gradients(self, x, indices=None):
        """∇f_i(x) for the given sample indices, shape (len(indices), d)."""
        idx = np.arange(self.n) if indices is None else np.asarray(indices)
        _, dl = self._loss_and_derivative(self.A[idx] @ x, idx)
        return dl[:, None] * self.A[idx] + self._reg(x)[1][None, :]

    def loss(self, x):
        """f(x)."""
        return float(np.mean(self.sample_losses(x)))

    def gradient(self, x):
        """∇f(x)."""
        return self.sample_gradients(x).mean(axis=0)

    def loss_gap(self, x):
        """f(x) − ``loss_reference``; for pure quadratics with a known minimiser the
        exact form ½(x − x*)ᵀH(x − x*) avoids cancellation."""
        if self._exact_quadratic_gap:
            z = x - self.x_star
            return float(0.5 * z @ self.hessian @ z)
        return self.loss(x) - self.loss_reference

    @property
    def _exact_quadratic_gap(self):
        return self.loss_kind == SQUARED and self.reg_kind == NONE and self.x_star is not None

    def __repr__(self):
        mu = "None" if self.mu is None else f"{self.mu:.4g}"
        return f"{type(self).__name__}(n={self.n}, d={self.d}, L={self.L:.4g}, L_max={self.L_max:.4g}, mu={mu})"
