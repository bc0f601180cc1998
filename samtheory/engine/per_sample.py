"""The problem operations of a per-sample (``problems.Custom``) kind.

Source compiled per kind, not imported: ``engine.kinds`` places it in a generated module
after a header that binds ``sample_value``, ``sample_gradient``, ``sample_hvp``,
``sample_balance``, ``sample_objective`` to that kind's functions and the constant
``HAS_OBJECTIVE`` (``problems.Custom``), followed by the kernel
(``engine.kernel``), which calls these four operations (protocol in ``engine.glm``).
``P`` is ``args.custom_data``: the user's arrays, then the array [n, f_ref]; ``P[:-1]`` is
the user's data tuple (a static slice: no copy of the arrays).
"""
from numba import njit

from samtheory.engine.args import FASTMATH


@njit(cache=True, fastmath=FASTMATH)
def batch_gradient(P, x, idx, w, count, out, scratch):
    """out = Σ_k w_k ∇f_{idx_k}(x), one ``sample_gradient`` call per draw."""
    d = x.shape[0]
    for j in range(d):
        out[j] = 0.0
    for k in range(count):
        sample_gradient(x, idx[k], P[:-1], scratch)  # noqa: F821 (bound by the header)
        weight = w[k]
        for j in range(d):
            out[j] += weight * scratch[j]


@njit(cache=True, fastmath=FASTMATH)
def objective(P, x, tmp, grad):
    """Return (1/n) Σ_i f_i(x) − f_ref and fill grad = (1/n) Σ_i ∇f_i(x): the kind's own
    ``objective`` where it has one (a compile-time constant), else n calls of value and gradient."""
    if HAS_OBJECTIVE:  # noqa: F821
        return sample_objective(x, P[:-1], grad) - P[-1][1]  # noqa: F821
    d = x.shape[0]
    for j in range(d):
        grad[j] = 0.0
    total = 0.0
    n = int(P[-1][0])
    for i in range(n):
        total += sample_value(x, i, P[:-1])  # noqa: F821
        sample_gradient(x, i, P[:-1], tmp)  # noqa: F821
        for j in range(d):
            grad[j] += tmp[j]
    inverse = 1.0 / n
    for j in range(d):
        grad[j] *= inverse
    return total * inverse - P[-1][1]


@njit(cache=True, fastmath=FASTMATH)
def hessian_vector(P, x, v, out, tmp):
    """out = (1/n) Σ_i ∇²f_i(x) v."""
    d = x.shape[0]
    for j in range(d):
        out[j] = 0.0
    n = int(P[-1][0])
    for i in range(n):
        sample_hvp(x, i, P[:-1], v, tmp)  # noqa: F821
        for j in range(d):
            out[j] += tmp[j]
    inverse = 1.0 / n
    for j in range(d):
        out[j] *= inverse


@njit(cache=True, fastmath=FASTMATH)
def balance(P, x):
    """The kind's conserved quantity (NaN where it has none)."""
    return sample_balance(x, P[:-1])  # noqa: F821
