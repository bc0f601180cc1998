r"""Objectives as code: a finite sum whose per-sample functions are Numba-compiled.

A :class:`Custom` problem supplies f_i through ``numba.njit`` functions of
(x, i, data), where ``data`` is a tuple of arrays:

    value(x, i, data) -> float                   f_i(x)
    gradient(x, i, data, out) -> None            out[:] = ∇f_i(x)
    hvp(x, i, data, v, out) -> None              out[:] = ∇²f_i(x) v      (optional)
    balance(x, data) -> float                    a conserved quantity     (optional)
    objective(x, data, grad) -> float            f(x), grad[:] = ∇f(x)    (optional)

The engine compiles one kernel specialised to these functions (``engine.kinds``),
cached on disk under a key made of their source code, so a new objective needs
no change to the engine. Every sampler and every rule runs on it with the
``numba`` and ``reference`` backends (the reference calls the same functions in
a plain loop; the built-in families of ``problems.landscapes`` also give it an
independent NumPy implementation). The ``array`` and ``cupy`` backends run a
``Custom`` problem only when it supplies array versions (``array_functions``),
as the built-in families do.

Checks at construction: each function must be a Numba dispatcher that compiles
for (x0, data), return finite values at x0 for every sample, and write every
entry of ``out`` (``out`` is filled with NaN before the call, so an entry left
unwritten is caught). ``check_gradient=True`` also compares ``gradient`` with
central finite differences of ``value`` (and ``hvp`` with those of ``gradient``)
at x0.
"""
import hashlib
import inspect
from pathlib import Path

import numpy as np

from .. import _validate
from .base import Problem

FD_STEP = 1e-6          # central differences: error O(h²) + O(ε/h)
FD_TOLERANCE = 1e-5     # relative to the largest entry (and at least 1)
FD_SAMPLES = 8          # samples checked by ``check_gradient``
OBJECTIVE_TOLERANCE = 1e-10   # objective vs the mean of value/gradient at x0 (relative)
_REGISTRY = {}          # kind key -> (value, gradient, hvp, balance, objective), read by engine.kinds


def registered(key):
    """The functions of the problem kind ``key`` (``Custom.kind``), for its compiled kernel."""
    return _REGISTRY[key]


def _source_key(functions):
    """A key from the functions' names and the source files that define them (so editing a
    helper they call changes it too); None when a source cannot be read (a function typed
    at an interactive prompt): then nothing is cached."""
    digest = hashlib.sha256()
    for function in functions:
        if function is None:
            digest.update(b"-")
            continue
        py_func = function.py_func
        try:   # the whole file: a helper the function calls is part of the key too
            source = Path(inspect.getsourcefile(py_func)).read_text()
            inspect.getsource(py_func)   # typed at a prompt: no source, no key
        except (OSError, TypeError):
            return None
        digest.update(f"{py_func.__module__}.{py_func.__qualname__}\n{source}".encode())
    return digest.hexdigest()[:20]


def _require_dispatcher(name, function, optional=False):
    if function is None and optional:
        return None
    if not hasattr(function, "py_func") or not hasattr(function, "compile"):
        raise ValueError(f"{name} must be a numba.njit function (a Numba dispatcher), got "
                         f"{function!r}; decorate it with @numba.njit")
    return function


def _call(name, function, *args):
    """Call a user function, turning a compilation or runtime failure into a ValueError
    that names it."""
    try:
        return function(*args)
    except Exception as exc:   # numba TypingError, LoweringError, IndexError, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ValueError(f"{name} failed on (x0, i, data): {type(exc).__name__}: {first}") from exc


class Custom(Problem):
    """f = (1/n) Σ f_i with f_i given by Numba-compiled functions (module docstring).

    Parameters
    ----------
    value, gradient : numba.njit functions
        ``value(x, i, data)`` returns f_i(x); ``gradient(x, i, data, out)`` writes ∇f_i(x).
    data : tuple of arrays
        Passed unchanged to every function (a single array is wrapped in a tuple).
    n, d : int
        Number of samples and dimension of x.
    x0 : (d,) array
        The default starting point.
    hvp : numba.njit function, optional
        ``hvp(x, i, data, v, out)`` writes ∇²f_i(x) v; needed by ``track_sharpness``.
    balance : numba.njit function, optional
        ``balance(x, data)``: recorded as the ``balance`` metric with ``track_sharpness``.
    objective : numba.njit function, optional
        ``objective(x, data, grad)`` returns f(x) = (1/n) Σ_i f_i(x) and writes ∇f(x) into
        grad. The recorded metrics then use it instead of n calls of ``value`` and
        ``gradient`` per record (which, recorded every few steps, can cost more than the
        steps themselves). Checked at x0 against those means (relative ``OBJECTIVE_TOLERANCE``).
    f_star, f_inf, x_star, L, L_i, mu : optional
        Known constants (``Problem``); the ``loss_gap`` metric subtracts f*, else f_inf, else 0.
    name : str, optional
    check_gradient : bool
        Compare ``gradient`` (and ``hvp``) with finite differences at x0 for up to
        ``FD_SAMPLES`` samples; a ValueError names the function and sample otherwise.
    array_functions : object, optional
        Array versions for the ``array``/``cupy`` backends, with two methods written
        against an array namespace ``xp`` (NumPy or CuPy) only: ``values(xp, data, X,
        idx)`` -> (R, k) array of f_{idx[r, j]}(X[r]) and ``gradients(xp, data, X, idx)``
        -> (R, k, d) array of ∇f_{idx[r, j]}(X[r]), for X (R, d) float64, idx (R, k)
        int64 and ``data`` this problem's data tuple on the device (``xp.asarray`` of
        each array). Results must not depend on R: contract with stacks of
        per-row products (``xp.matmul`` on (R, ...) stacks) or elementwise operations
        and reductions over the last axes, never a 2-D product whose rows are the
        rows of X (``engine.vectorised`` docstring). The built-in families of
        ``problems.landscapes`` supply them.
    """

    name = "custom"

    def __init__(self, value, gradient, data, *, n, d, x0, hvp=None, balance=None, objective=None,
                 f_star=None,
                 f_inf=None, x_star=None, L=None, L_i=None, mu=None, name=None,
                 check_gradient=False, array_functions=None):
        self.value = _require_dispatcher("value", value)
        self.gradient_function = _require_dispatcher("gradient", gradient)
        self.hvp_function = _require_dispatcher("hvp", hvp, optional=True)
        self.balance_function = _require_dispatcher("balance", balance, optional=True)
        self.objective_function = _require_dispatcher("objective", objective, optional=True)
        n = _validate.positive_int("n", n)
        d = _validate.positive_int("d", d)
        if isinstance(data, np.ndarray):
            data = (data,)
        if not isinstance(data, tuple) or not all(isinstance(a, np.ndarray) for a in data):
            raise ValueError("data must be a tuple of NumPy arrays, got "
                             f"{type(data).__name__}")
        self.data = tuple(np.ascontiguousarray(a) for a in data)
        if x0 is None:
            raise ValueError("x0 must be given for a Custom problem (shape (d,))")
        self._set_constants(n, d, L_i=L_i, L=L, mu=mu, f_star=f_star, f_inf=f_inf,
                            x_star=x_star, x0=x0)
        if name is not None:
            self.name = str(name)
        self.array_functions = array_functions
        self._check_at_x0()
        if check_gradient:
            self.check_gradient()
        functions = (self.value, self.gradient_function, self.hvp_function, self.balance_function,
                     self.objective_function)
        key = _source_key(functions)
        self.cacheable = key is not None
        self.kind = key if key is not None else f"uncached{id(self):x}"
        _REGISTRY[self.kind] = functions

    # -- checks --------------------------------------------------------------
    def _check_at_x0(self):
        x, d = self.x0, self.d
        for i in range(self.n):
            f = _call("value", self.value, x, i, self.data)
            if not isinstance(f, (float, int, np.floating, np.integer)) or not np.isfinite(f):
                raise ValueError(f"value must return a finite float at x0; sample {i} gave {f!r}")
            out = np.full(d, np.nan)
            result = _call("gradient", self.gradient_function, x, i, self.data, out)
            if result is not None:
                raise ValueError("gradient must write ∇f_i(x) into out and return None, "
                                 f"it returned {type(result).__name__}")
            if not np.all(np.isfinite(out)):
                raise ValueError(f"gradient must write d = {d} finite entries into out at x0; "
                                 f"sample {i} left {int(np.sum(~np.isfinite(out)))} non-finite")
            if self.hvp_function is not None:
                out = np.full(d, np.nan)
                _call("hvp", self.hvp_function, x, i, self.data, np.ones(d), out)
                if not np.all(np.isfinite(out)):
                    raise ValueError(f"hvp must write d = {d} finite entries into out at x0; "
                                     f"sample {i} left {int(np.sum(~np.isfinite(out)))} non-finite")
        if self.balance_function is not None:
            b = _call("balance", self.balance_function, x, self.data)
            if not isinstance(b, (float, int, np.floating, np.integer)) or not np.isfinite(b):
                raise ValueError(f"balance must return a finite float at x0, got {b!r}")
        if self.objective_function is not None:
            grad = np.full(d, np.nan)
            f = _call("objective", self.objective_function, x, self.data, grad)
            mean_f, mean_grad = self.loss(x), self.gradient(x)
            scale = max(1.0, abs(mean_f), float(np.max(np.abs(mean_grad))))
            error = max(abs(f - mean_f), float(np.max(np.abs(grad - mean_grad)))) / scale
            if not error <= OBJECTIVE_TOLERANCE:
                raise ValueError(f"objective must return the mean of value and write the mean of "
                                 f"gradient over the n samples; at x0 it is off by {error:.3g} "
                                 f"(relative, > {OBJECTIVE_TOLERANCE:g})")

    def check_gradient(self, x=None, samples=FD_SAMPLES):
        """Compare the compiled ``gradient`` with central differences of ``value`` (and ``hvp``
        with those of ``gradient``) at x (default x0) for the first ``samples`` samples; return the
        largest relative error, or raise ValueError naming the function and the sample."""
        x = self.x0 if x is None else _validate.finite_array("x", x, shape=(self.d,))
        worst = 0.0
        eye = np.eye(self.d)
        for i in range(min(samples, self.n)):
            grad = self._sample_gradient(x, i)
            fd = np.array([(self.value(x + FD_STEP * e, i, self.data)
                            - self.value(x - FD_STEP * e, i, self.data)) / (2 * FD_STEP) for e in eye])
            worst = max(worst, self._compare("gradient", i, grad, fd))
            if self.hvp_function is not None:
                H = np.column_stack([self._sample_hvp(x, i, e) for e in eye])
                fd = np.column_stack([(self._sample_gradient(x + FD_STEP * e, i)
                                       - self._sample_gradient(x - FD_STEP * e, i)) / (2 * FD_STEP)
                                      for e in eye])
                worst = max(worst, self._compare("hvp", i, H, fd))
        return worst

    @staticmethod
    def _compare(name, i, exact, fd):
        error = float(np.max(np.abs(exact - fd)) / max(1.0, float(np.max(np.abs(exact)))))
        if error > FD_TOLERANCE:
            raise ValueError(f"{name} disagrees with finite differences of "
                             f"{'value' if name == 'gradient' else 'gradient'} at sample {i}: "
                             f"relative error {error:.3g} > {FD_TOLERANCE:g}")
        return error

    # -- NumPy reference evaluations (a plain loop over the same functions) ---
    def sample_losses(self, x, indices=None):
        idx = range(self.n) if indices is None else np.asarray(indices)
        return np.array([self.value(x, int(i), self.data) for i in idx])

    def sample_gradients(self, x, indices=None):
        idx = range(self.n) if indices is None else np.asarray(indices)
        return np.array([self._sample_gradient(x, i) for i in idx]).reshape(len(idx), self.d)

    def _sample_gradient(self, x, i):
        out = np.empty(self.d)
        self.gradient_function(np.ascontiguousarray(x, dtype=float), int(i), self.data, out)
        return out

    def _sample_hvp(self, x, i, v):
        out = np.empty(self.d)
        self.hvp_function(x, int(i), self.data, np.ascontiguousarray(v, dtype=float), out)
        return out

    def hessian_vector(self, x, v):
        """∇²f(x) v = (1/n) Σ_i hvp(x, i, data, v)."""
        if self.hvp_function is None:
            raise ValueError(f"{self.name} has no hvp: pass hvp= to Custom for Hessian products")
        x = np.ascontiguousarray(x, dtype=float)
        return np.mean([self._sample_hvp(x, i, v) for i in range(self.n)], axis=0)

    def balance(self, x):
        """The problem's conserved quantity at x (``balance``), or None without one."""
        if self.balance_function is None:
            return None
        return float(self.balance_function(np.ascontiguousarray(x, dtype=float), self.data))

    def describe(self):
        return {**super().describe(), "kind": self.kind}
