r"""The problem interface every backend reads, and the generalised-linear finite sum.

Every problem is f(x) = (1/n) Σ_i f_i(x). :class:`Problem` holds what all of them
share: the sizes, the known constants, the starting point and the NumPy reference
evaluations built on ``sample_losses`` / ``sample_gradients`` / ``hessian_vector``.

:class:`FiniteSum` is the built-in generalised linear form

    f_i(x) = ℓ_i(a_iᵀx) + c Σ_j r(x_j − z_j),

a per-sample loss ℓ_i of a linear measurement plus a separable regulariser
shared by all samples. Losses: ``SQUARED`` ℓ_i(u) = ½ s_i (u − y_i)² (s_i = ±1
allows saddles), ``LOGISTIC`` ℓ_i(u) = log(1 + exp(−y_i u)). Regularisers:
``NONE``, ``SINE`` r(t) = sin² t, ``RATIONAL`` r(t) = t²/(1 + t²).

This form is data (A, y, s, c, z) plus two integers, so one compiled kernel
serves every problem of it (``engine.glm``). Objectives of any other form are
:class:`problems.Custom` problems (per-sample functions compiled by Numba).
"""
import numpy as np
from scipy.special import expit

from .. import _validate
from .._core.codes import LOSSES, REGULARISERS, SQUARED, LOGISTIC, NONE, SINE, RATIONAL  # noqa: F401


class Problem:
    """A finite-sum objective f = (1/n) Σ f_i with its known constants.

    Attributes
    ----------
    n, d : int
    L_i : (n,) array or None
        Smoothness constant of each f_i (None where f_i is not globally smooth).
    L : float or None
        Smoothness constant of f.
    mu : float or None
        PL constant (‖∇f(x)‖² ≥ 2μ(f(x) − f*)) where PL holds.
    f_star : float or None
        inf f where known; ``f_inf`` is a lower bound used when f* is unknown.
    x_star : (d,) array or None
        A minimiser where known.
    x0 : (d,) array
        The default starting point.

    Subclasses define ``sample_losses``, ``sample_gradients`` and, for sharpness,
    ``hessian_vector``.
    """

    name = "finite sum"

    def _set_constants(self, n, d, *, L_i=None, L=None, mu=None, f_star=None, f_inf=None,
                       x_star=None, x0=None):
        contiguous = lambda name, value, **shape: np.ascontiguousarray(
            _validate.finite_array(name, value, **shape))
        self.n, self.d = n, d
        self.L_i = None if L_i is None else _validate.array_in_range(
            "L_i", contiguous("L_i", L_i, shape=(n,)), 0.0, np.inf)
        self.L = None if L is None else _validate.real("L", L, 0.0, np.inf)
        self.mu = None if mu is None else _validate.real("mu", mu, 0.0, np.inf, low_open=True)
        self.f_star = None if f_star is None else _validate.real("f_star", f_star)
        self.f_inf = self.f_star if f_inf is None else _validate.real("f_inf", f_inf)
        self.x_star = None if x_star is None else contiguous("x_star", x_star, shape=(d,))
        self.x0 = np.zeros(d) if x0 is None else contiguous("x0", x0, shape=(d,))

    # -- constants --------------------------------------------------------
    @property
    def L_max(self):
        return None if self.L_i is None else float(np.max(self.L_i))

    @property
    def L_mean(self):
        return None if self.L_i is None else float(np.mean(self.L_i))

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
    def loss(self, x):
        """f(x)."""
        return float(np.mean(self.sample_losses(x)))

    def gradient(self, x):
        """∇f(x)."""
        return self.sample_gradients(x).mean(axis=0)

    def loss_gap(self, x):
        """f(x) − ``loss_reference``."""
        return self.loss(x) - self.loss_reference

    def hessian_at(self, x):
        """∇²f(x), (d, d): column j is ``hessian_vector(x, e_j)``, then symmetrised."""
        x = np.asarray(x, dtype=float)
        H = np.column_stack([self.hessian_vector(x, e) for e in np.eye(self.d)])
        return 0.5 * (H + H.T)

    def __repr__(self):
        mu = "None" if self.mu is None else f"{self.mu:.4g}"
        L = "None" if self.L is None else f"{self.L:.4g}"
        return f"{type(self).__name__}(n={self.n}, d={self.d}, L={L}, mu={mu})"


class FiniteSum(Problem):
    """The generalised linear finite sum of the module docstring, with its known constants.

    Attributes (besides those of :class:`Problem`)
    ----------
    A : (n, d) array, y : (n,) array, signs : (n,) array
        Per-sample data of the loss.
    loss_kind, reg_kind : int
        The codes of ℓ and r; ``reg_strength`` c and ``reg_center`` z.
    hessian, linear, constant
        For a squared loss, f = ½xᵀ``hessian``x − ``linear``ᵀx + ``constant`` (+ regulariser).
    """

    name = "finite sum"

    def __init__(self, A, y, *, loss, signs=None, regulariser=NONE, reg_strength=0.0,
                 reg_center=None, L_i, L, mu=None, f_star=None, f_inf=None, x_star=None, x0=None):
        contiguous = lambda name, value, **shape: np.ascontiguousarray(
            _validate.finite_array(name, value, **shape))
        A = contiguous("A", A, ndim=2)
        n, d = A.shape
        self.A = A
        self.y = contiguous("y", y, shape=(n,))
        self.signs = np.ones(n) if signs is None else contiguous("signs", signs, shape=(n,))
        self.loss_kind = _validate.choice("loss", loss, LOSSES)
        self.reg_kind = _validate.choice("regulariser", regulariser, REGULARISERS)
        self.reg_strength = _validate.real("reg_strength", reg_strength, 0.0, np.inf)
        self.reg_center = np.zeros(d) if reg_center is None else contiguous(
            "reg_center", reg_center, shape=(d,))
        self._set_constants(n, d, L_i=L_i, L=L, mu=mu, f_star=f_star, f_inf=f_inf, x_star=x_star,
                            x0=x0)
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
        # Exact loss gap: with a squared loss and H x* = b, f(x) − f_ref equals
        # ½(x − x*)ᵀH(x − x*) + [ℓ(x*) − f_ref] + c Σ r(x_j − z_j), free of the
        # cancellation in ½xᵀHx − bᵀx + c0 − f_ref near the optimum.
        self.exact_gap = False
        self.gap_offset = 0.0
        if self.loss_kind == SQUARED and self.x_star is not None:
            residual = self.hessian @ self.x_star - self.linear
            scale = np.abs(self.hessian).max() * np.abs(self.x_star).max() + np.abs(self.linear).max()
            if np.abs(residual).max() <= 1e-10 * max(scale, 1e-300):
                self.exact_gap = True
                r = self.A @ self.x_star - self.y
                self.gap_offset = float(np.mean(0.5 * self.signs * r ** 2)) - self.loss_reference

    def describe(self):
        return {**super().describe(), "loss": self.loss_kind, "regulariser": self.reg_kind,
                "reg_strength": self.reg_strength}

    # -- NumPy reference evaluations ---------------------------------------
    def _reg(self, x):
        t = x - self.reg_center
        if self.reg_kind == SINE:
            return self.reg_strength * np.sum(np.sin(t) ** 2), self.reg_strength * np.sin(2 * t)
        if self.reg_kind == RATIONAL:
            # t² may overflow to inf: 1 − 1/(1 + inf) = 1, and np.where discards the
            # inf/inf of the branch it does not take.
            with np.errstate(over="ignore", invalid="ignore"):
                q = t ** 2
                inverse = 1.0 / (1.0 + q)
                value = np.where(q < 1.0, q * inverse, 1.0 - inverse)
                gradient = self.reg_strength * 2 * t * inverse * inverse
            return self.reg_strength * np.sum(value), gradient
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

    def loss_gap(self, x):
        """f(x) − ``loss_reference``; with ``exact_gap`` computed as
        ½(x − x*)ᵀH(x − x*) + ``gap_offset`` + regulariser, without cancellation."""
        if self.exact_gap:
            z = x - self.x_star
            return float(0.5 * z @ self.hessian @ z) + self.gap_offset + self._reg(x)[0]
        return self.loss(x) - self.loss_reference

    def curvatures(self, x):
        r"""(ℓ''_i(a_iᵀx) for every i, c r''(x_j − z_j) for every j): ∇²f(x) =
        (1/n) Aᵀ diag(ℓ'') A + diag(c r'').

        ℓ''(u) = s_i for the squared loss ½s_i(u − y_i)², σ(y_i u)(1 − σ(y_i u)) for the
        logistic loss (y_i = ±1); r'' = 2 cos 2t for r = sin² t and 2(1 − 3t²)/(1 + t²)³
        for r = t²/(1 + t²)."""
        x = np.asarray(x, dtype=float)
        if self.loss_kind == SQUARED:
            loss = self.signs
        else:
            s = expit(self.y * (self.A @ x))
            loss = s * (1 - s)
        t = x - self.reg_center
        if self.reg_kind == SINE:
            reg = self.reg_strength * 2 * np.cos(2 * t)
        elif self.reg_kind == RATIONAL:
            reg = self.reg_strength * 2 * (1 - 3 * t ** 2) / (1 + t ** 2) ** 3
        else:
            reg = np.zeros_like(t)
        return loss, reg

    def hessian_vector(self, x, v):
        """∇²f(x) v (``curvatures``)."""
        loss, reg = self.curvatures(x)
        return self.A.T @ (loss * (self.A @ v)) / self.n + reg * v

    def hessian_at(self, x):
        """∇²f(x), formed directly from ``curvatures``."""
        loss, reg = self.curvatures(x)
        return (self.A.T * loss) @ self.A / self.n + np.diag(reg)
