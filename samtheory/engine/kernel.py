"""The one batched Numba kernel: every rule, problem and sampler, all trajectories.

The rule, the problem and the sampler arrive as numbers and arrays (see
``rules.Rule``, ``problems.base.FiniteSum`` and ``sampling.BoundSampler``), so
this compiles once for the whole package and is cached on disk. Trajectories
are the parallel axis; each owns its random streams (``_core.rng``), so the
numbers do not depend on the thread count.

Floating-point flags allow reassociation and contraction (SIMD reductions and
FMA) but keep NaN/inf semantics, which divergence detection relies on.
"""
import math

import numpy as np
from numba import njit, prange

from .._core.codes import (SQUARED, NONE, SINE, WITH_REPLACEMENT, TAU_NICE, INDEPENDENT)
from .._core.rng import stream_key, uniform

FASTMATH = {"reassoc", "contract", "nsz"}
GUARD = 1e-12


@njit(cache=True, fastmath=FASTMATH)
def draw_batch(kind, n, batch, uniform_p, table, offsets, weights, key, step, uniforms, idx, w):
    """Fill idx/w with the minibatch of ``step``; return its size (rules in ``sampling``)."""
    base = step * uniforms
    if kind == WITH_REPLACEMENT:
        for k in range(batch):
            u = uniform(key, base + k)
            if uniform_p:
                i = min(int(u * n), n - 1)
            else:
                i = min(np.searchsorted(table, u, side="right"), n - 1)
            idx[k] = i
            w[k] = weights[i]
        return batch
    if kind == TAU_NICE:
        if batch == n:   # full batch: every index, in order
            for k in range(n):
                idx[k] = k
                w[k] = weights[k]
            return n
        for k in range(batch):
            j = n - batch + k
            cand = min(int(uniform(key, base + k) * (j + 1)), j)
            for q in range(k):
                if idx[q] == cand:
                    cand = j
                    break
            idx[k] = cand
            w[k] = weights[cand]
        return batch
    if kind == INDEPENDENT:
        count = 0
        for i in range(n):
            if uniform(key, base + i) < table[i]:
                idx[count] = i
                w[count] = weights[i]
                count += 1
        return count
    for k in range(batch):  # STRATIFIED
        start = offsets[k]
        size = offsets[k + 1] - start
        pos = min(int(uniform(key, base + k) * size), size - 1)
        i = int(table[start + pos])
        idx[k] = i
        w[k] = weights[i]
    return batch


@njit(cache=True, fastmath=FASTMATH)
def batch_gradient(loss_kind, reg_kind, A, y, s, c, z, x, idx, w, count, out):
    """out = Σ_k w_k ∇f_{idx_k}(x)."""
    d = x.shape[0]
    for j in range(d):
        out[j] = 0.0
    wsum = 0.0
    for k in range(count):
        i = idx[k]
        u = 0.0
        for j in range(d):
            u += A[i, j] * x[j]
        if loss_kind == SQUARED:
            dl = s[i] * (u - y[i])
        else:
            dl = -y[i] / (1.0 + math.exp(y[i] * u))
        coef = w[k] * dl
        for j in range(d):
            out[j] += coef * A[i, j]
        wsum += w[k]
    if reg_kind != NONE:
        _add_regulariser_gradient(reg_kind, wsum * c, z, x, out)


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
def objective(loss_kind, reg_kind, A, y, s, c, z, H, lin, c0, x_star, exact_gap, f_ref, x, tmp, grad):
    """Return f(x) − f_ref and fill grad = ∇f(x) (tmp: scratch of length d).

    With ``exact_gap`` (squared loss, H x* = lin) the quadratic part is
    ½(x − x*)ᵀH(x − x*) and ``f_ref`` holds the offset ℓ(x*) − f_ref, so the gap
    suffers no cancellation near the optimum."""
    n, d = A.shape
    f = 0.0
    if loss_kind == SQUARED:
        if exact_gap:
            for j in range(d):
                tmp[j] = x[j] - x_star[j]
        else:
            for j in range(d):
                tmp[j] = x[j]
        for a in range(d):
            acc = 0.0
            for b in range(d):
                acc += H[a, b] * tmp[b]
            grad[a] = acc
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
            u = 0.0
            for j in range(d):
                u += A[i, j] * x[j]
            m = -y[i] * u
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


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def run(loss_kind, reg_kind, A, y, s, c, z, H, lin, c0, x_star, has_x_star, exact_gap, f_ref,
        skind, uniform_p, batch, max_batch, uniforms, table, offsets, weights,
        lr, rho, lam, prob, ascent, indep_ascent, grst_mode, alpha, stable, cap,
        base, beta1, beta2, eps, amsgrad, bias_correction,
        seed, record_steps, track, t_start, t_stop,
        out_gap, out_grad, out_dist, out_evals, out_avg, out_min,
        state_x, state_m, state_v, state_vh, state_evals, state_rec, state_sum, state_min,
        diverged_at):
    """Advance every live trajectory through loop iterations ``t_start .. t_stop − 1``.

    Iteration t records x_t where ``record_steps`` asks (and feeds the running sums),
    then, for t < steps, takes step t; iteration ``steps`` only records. Running the
    iterations 0 .. steps in one call or in consecutive slices gives identical bits:
    everything a trajectory carries from one iteration to the next is in the ``state_*``
    arrays (iterate; momentum, Adam's v and v̂, each (trajectories, 0) when the rule
    has no such buffer; gradient evaluations; next record index; running sum and
    minimum of ‖∇f‖²), and the random draws of step t depend on t only
    (``_core.rng``). ``diverged_at`` (−1 while alive) is read to skip the trajectories
    that already diverged and set on divergence, when the remaining records are filled
    with NaN. Fills the outputs in place (see ``engine.simulate``).
    """
    trajectories, d = state_x.shape
    steps = lr.shape[0]
    records = record_steps.shape[0]
    for r in prange(trajectories):
        if diverged_at[r] >= 0:
            continue
        x = state_x[r].copy()
        g = np.empty(d)
        h = np.empty(d)
        dirn = np.empty(d)
        xp = np.empty(d)
        m = state_m[r].copy()
        v = state_v[r].copy()
        vh = state_vh[r].copy()
        tmp = np.empty(d)
        fg = np.empty(d)
        idx = np.empty(max_batch, dtype=np.int64)
        w = np.empty(max_batch)
        idx2 = np.empty(max_batch, dtype=np.int64)
        w2 = np.empty(max_batch)
        key_descent = stream_key(seed, r, 0)
        key_ascent = stream_key(seed, r, 1)
        key_coin = stream_key(seed, r, 2)
        evals = state_evals[r]
        rec = state_rec[r]
        run_sum = state_sum[r]
        run_min = state_min[r]
        for t in range(t_start, t_stop):
            is_record = rec < records and record_steps[rec] == t
            if is_record or track:
                gap = objective(loss_kind, reg_kind, A, y, s, c, z, H, lin, c0, x_star, exact_gap,
                                f_ref, x, tmp, fg)
                gn = 0.0
                for j in range(d):
                    gn += fg[j] * fg[j]
                if is_record:
                    out_gap[r, rec] = gap
                    out_grad[r, rec] = gn
                    dist = 0.0
                    if has_x_star:
                        for j in range(d):
                            dist += (x[j] - x_star[j]) ** 2
                    out_dist[r, rec] = dist if has_x_star else np.nan
                    out_evals[r, rec] = evals
                    if track:
                        out_avg[r, rec] = run_sum / t if t > 0 else gn
                        out_min[r, rec] = run_min if t > 0 else gn
                    rec += 1
                    if not (math.isfinite(gap) and math.isfinite(gn)):
                        diverged_at[r] = t
                        break
                run_sum += gn
                run_min = min(run_min, gn)
            if t == steps:
                break
            # ---- one step ----
            count = draw_batch(skind, A.shape[0], batch, uniform_p, table, offsets, weights,
                               key_descent, t, uniforms, idx, w)
            perturb = rho[t] > 0.0 and uniform(key_coin, t) < prob[t]
            need_g = (not perturb) or (ascent == 0 and indep_ascent == 0) or stable or grst_mode == 1
            if need_g:
                batch_gradient(loss_kind, reg_kind, A, y, s, c, z, x, idx, w, count, g)
                evals += 1
            if not perturb:
                for j in range(d):
                    h[j] = g[j]
            else:
                if ascent == 1:
                    for j in range(d):
                        dirn[j] = -m[j]
                elif indep_ascent:
                    count2 = draw_batch(skind, A.shape[0], batch, uniform_p, table, offsets, weights,
                                        key_ascent, t, uniforms, idx2, w2)
                    batch_gradient(loss_kind, reg_kind, A, y, s, c, z, x, idx2, w2, count2, dirn)
                    evals += 1
                else:
                    for j in range(d):
                        dirn[j] = g[j]
                radius = rho[t] * alpha / prob[t] if grst_mode == 2 else rho[t]
                dn = 0.0
                for j in range(d):
                    dn += dirn[j] * dirn[j]
                scale = radius * (1.0 - lam[t] + lam[t] / (math.sqrt(dn) + GUARD))
                for j in range(d):
                    xp[j] = x[j] + scale * dirn[j]
                batch_gradient(loss_kind, reg_kind, A, y, s, c, z, xp, idx, w, count, h)
                evals += 1
                if grst_mode == 1:
                    mix = alpha / prob[t]
                    for j in range(d):
                        h[j] = g[j] + mix * (h[j] - g[j])
                if stable:
                    gg = 0.0
                    hh = 0.0
                    for j in range(d):
                        gg += g[j] * g[j]
                        hh += h[j] * h[j]
                    # ‖h‖² overflowing while g is finite would give ratio 0 and freeze the
                    # iterate at a huge finite value: NaN flags the trajectory as diverged.
                    ratio = math.sqrt(gg) / (math.sqrt(hh) + GUARD) if hh < math.inf else math.nan
                    if cap:
                        ratio = min(1.0, ratio)
                    for j in range(d):
                        h[j] *= ratio
            total = 0.0   # stays 0 unless some x_j is inf/NaN (0·inf = NaN; nnan is off)
            if base == 0:
                for j in range(d):
                    x[j] -= lr[t] * h[j]
                    total += x[j] * 0.0
            elif base == 1:
                for j in range(d):
                    m[j] = beta1 * m[j] + h[j]
                    x[j] -= lr[t] * m[j]
                    total += x[j] * 0.0
            else:
                c1 = 1.0 - beta1 ** (t + 1) if bias_correction else 1.0
                c2 = 1.0 - beta2 ** (t + 1) if bias_correction else 1.0
                for j in range(d):
                    m[j] = beta1 * m[j] + (1.0 - beta1) * h[j]
                    v[j] = beta2 * v[j] + (1.0 - beta2) * h[j] * h[j]
                    if amsgrad:
                        vh[j] = max(vh[j], v[j])
                    else:
                        vh[j] = v[j]
                    x[j] -= lr[t] * (m[j] / c1) / (math.sqrt(vh[j] / c2) + eps)
                    total += x[j] * 0.0
            if not math.isfinite(total):
                diverged_at[r] = t + 1
                break
        if diverged_at[r] >= 0:
            for q in range(rec, records):
                out_gap[r, q] = np.nan
                out_grad[r, q] = np.nan
                out_dist[r, q] = np.nan
                out_evals[r, q] = evals
                out_avg[r, q] = np.nan
                out_min[r, q] = np.nan
        for j in range(d):
            state_x[r, j] = x[j]
        for j in range(m.shape[0]):
            state_m[r, j] = m[j]
        for j in range(v.shape[0]):
            state_v[r, j] = v[j]
            state_vh[r, j] = vh[j]
        state_evals[r] = evals
        state_rec[r] = rec
        state_sum[r] = run_sum
        state_min[r] = run_min
