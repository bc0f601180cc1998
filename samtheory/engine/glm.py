r"""The problem operations of the generalised linear kind (``problems.FiniteSum``).

f_i(x) = ℓ_i(a_iᵀx) + c Σ_j r(x_j − z_j) with the losses and regularisers of
``problems.base``; ``P`` is an ``args.GLMData``. Every problem kind supplies these four
operations to the kernel (``engine.kernel``; ``engine.per_sample`` for Custom kinds):

- ``batch_gradient(P, x, idx, w, count, out, scratch)``: out = Σ_k w_k ∇f_{idx_k}(x);
- ``objective(P, x, tmp, grad)``: returns f(x) − f_ref and fills grad = ∇f(x);
- ``hessian_vector(P, x, v, out, tmp)``: out = ∇²f(x) v;
- ``balance(P, x)``: the problem's conserved quantity, NaN where it has none.
"""
import math

import numpy as np
from numba import njit

from .._core.codes import SQUARED, NONE, SINE
from .args import FASTMATH


@njit(cache=True, fastmath=FASTMATH, inline="always")
def batch_gradient(P, x, idx, w, count, out, scratch):
    """out = Σ_k w_k ∇f_{idx_k}(x) (``scratch`` is unused here). Inlined into the kernel: a
    call copies the ``GLMData`` structure, which cost about 15 % of a SAM step on the
    reference benchmark (docs/benchmarks.md)."""
    loss_kind, reg_kind, A, y, s, c, z = P.loss_kind, P.reg_kind, P.A, P.y, P.s, P.c, P.z
    d = x.shape[0]
    for j in range(d):
        out[j] = 0.0
    wsum = 0.0
    # Four draws at a time: their four dot products are independent chains that hide each
    # other's latency and share the loads of x, and one pass over ``out`` adds the four rows
    # (docs/benchmarks.md: 1.37 times one draw at a time on this loop alone).
    k = 0
    while k + 4 <= count:
        a0, a1, a2, a3 = A[idx[k]], A[idx[k + 1]], A[idx[k + 2]], A[idx[k + 3]]
        u0, u1, u2, u3 = _dot4(a0, a1, a2, a3, x)
        c0 = w[k] * _loss_slope(loss_kind, s, y, idx[k], u0)
        c1 = w[k + 1] * _loss_slope(loss_kind, s, y, idx[k + 1], u1)
        c2 = w[k + 2] * _loss_slope(loss_kind, s, y, idx[k + 2], u2)
        c3 = w[k + 3] * _loss_slope(loss_kind, s, y, idx[k + 3], u3)
        for j in range(d):
            out[j] += (c0 * a0[j] + c1 * a1[j]) + (c2 * a2[j] + c3 * a3[j])
        wsum += (w[k] + w[k + 1]) + (w[k + 2] + w[k + 3])
        k += 4
    while k < count:
        a0 = A[idx[k]]
        c0 = w[k] * _loss_slope(loss_kind, s, y, idx[k], _dot(a0, x))
        for j in range(d):
            out[j] += c0 * a0[j]
        wsum += w[k]
        k += 1
    if reg_kind != NONE:
        _add_regulariser_gradient(reg_kind, wsum * c, z, x, out)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _dot4(a0, a1, a2, a3, v):
    """(a0·v, a1·v, a2·v, a3·v): four independent dot products that share the loads of v
    and hide each other's latency."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    for j in range(v.shape[0]):
        vj = v[j]
        s0 += a0[j] * vj
        s1 += a1[j] * vj
        s2 += a2[j] * vj
        s3 += a3[j] * vj
    return s0, s1, s2, s3


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _dot(a, v):
    total = 0.0
    for j in range(v.shape[0]):
        total += a[j] * v[j]
    return total


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _matvec(H, v, out):
    """out = H v, four rows at a time (``_dot4``)."""
    d = v.shape[0]
    a = 0
    while a + 4 <= d:
        out[a], out[a + 1], out[a + 2], out[a + 3] = _dot4(H[a], H[a + 1], H[a + 2], H[a + 3], v)
        a += 4
    while a < d:
        out[a] = _dot(H[a], v)
        a += 1


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _loss_slope(loss_kind, s, y, i, u):
    """ℓ_i'(u): s_i (u − y_i) (squared) or −y_i / (1 + exp(y_i u)) (logistic)."""
    if loss_kind == SQUARED:
        return s[i] * (u - y[i])
    return -y[i] / (1.0 + math.exp(y[i] * u))


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _add_regulariser_gradient(reg_kind, scale, z, x, out):
    for j in range(x.shape[0]):
        t = x[j] - z[j]
        if reg_kind == SINE:
            out[j] += scale * math.sin(2.0 * t)
        else:
            inverse = 1.0 / (1.0 + t * t)   # 0 once t² overflows: no inf/inf
            out[j] += scale * 2.0 * t * inverse * inverse


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _regulariser_value(reg_kind, t):
    if reg_kind == SINE:
        return math.sin(t) ** 2
    q = t * t
    inverse = 1.0 / (1.0 + q)
    return q * inverse if q < 1.0 else 1.0 - inverse   # no inf/inf for huge t


@njit(cache=True, fastmath=FASTMATH)
def objective(P, x, tmp, grad):
    """Return f(x) − f_ref and fill grad = ∇f(x) (tmp: scratch of length d).

    With ``exact_gap`` (squared loss, H x* = lin) the quadratic part is
    ½(x − x*)ᵀH(x − x*) and ``f_ref`` holds the offset ℓ(x*) − f_ref, so the gap
    suffers no cancellation near the optimum."""
    loss_kind, reg_kind, A, y, c, z = P.loss_kind, P.reg_kind, P.A, P.y, P.c, P.z
    H, lin, c0, x_star, exact_gap, f_ref = P.H, P.lin, P.c0, P.x_star, P.exact_gap, P.f_ref
    n, d = A.shape
    f = 0.0
    if loss_kind == SQUARED:
        if exact_gap:
            for j in range(d):
                tmp[j] = x[j] - x_star[j]
        else:
            for j in range(d):
                tmp[j] = x[j]
        _matvec(H, tmp, grad)
        quad = 0.0
        for j in range(d):
            quad += tmp[j] * grad[j]
        if exact_gap:
            f = 0.5 * quad + f_ref
        else:
            lin_term = 0.0
            for j in range(d):
                lin_term += lin[j] * x[j]
                grad[j] -= lin[j]
            f = 0.5 * quad - lin_term + c0 - f_ref
    else:
        for j in range(d):
            grad[j] = 0.0
        for i in range(n):
            m = -y[i] * _dot(A[i], x)
            f += max(m, 0.0) + math.log1p(math.exp(-abs(m)))
            coef = -y[i] / (1.0 + math.exp(-m)) / n
            for j in range(d):
                grad[j] += coef * A[i, j]
        f = f / n - f_ref
    if reg_kind != NONE:
        reg = 0.0
        for j in range(d):
            reg += _regulariser_value(reg_kind, x[j] - z[j])
        f += c * reg
        _add_regulariser_gradient(reg_kind, c, z, x, grad)
    return f


@njit(cache=True, fastmath=FASTMATH)
def hessian_vector(P, x, v, out, tmp):
    """out = ∇²f(x) v = (1/n) Σ_i ℓ_i''(a_iᵀx) (a_iᵀv) a_i + c r''(x − z) ⊙ v
    (``FiniteSum.curvatures`` states ℓ'' and r'')."""
    A = P.A
    n, d = A.shape
    for j in range(d):
        out[j] = 0.0
    for i in range(n):
        av = _dot(A[i], v)
        if P.loss_kind == SQUARED:
            curvature = P.s[i]
        else:
            sigma = 1.0 / (1.0 + math.exp(-P.y[i] * _dot(A[i], x)))
            curvature = sigma * (1.0 - sigma)
        coef = curvature * av / n
        for j in range(d):
            out[j] += coef * A[i, j]
    if P.reg_kind != NONE:
        for j in range(d):
            t = x[j] - P.z[j]
            if P.reg_kind == SINE:
                second = 2.0 * math.cos(2.0 * t)
            else:
                q = t * t
                second = 2.0 * (1.0 - 3.0 * q) / ((1.0 + q) * (1.0 + q) * (1.0 + q))
            out[j] += P.c * second * v[j]


@njit(cache=True)
def balance(P, x):
    """The generalised linear problems conserve nothing: NaN."""
    return np.nan
