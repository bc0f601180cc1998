"""The batched kernel: every rule and sampler, all trajectories, for one problem kind.

The rule and the sampler arrive as numbers and arrays (``engine.args``), so one
compilation serves every rule and sampler. The problem arrives as data plus four
operations (``batch_gradient``, ``objective``, ``hessian_vector``, ``balance``; the
protocol is in ``engine.glm``). The binding line below takes them from the generalised
linear kind (``engine.glm``). ``engine.kinds`` compiles this source once per problem kind,
as written for every ``FiniteSum`` and with that line replaced by a Custom kind's
operations (``engine.per_sample``) otherwise, in generated modules cached on disk under a
key that covers every source they call into (so an edit of ``engine.glm`` is never hidden
by a stale cache): a new objective needs no change here.

Trajectories are the parallel axis; each owns its random streams (``_core.rng``), so
the numbers do not depend on the thread count. Absolute imports: the source is also
compiled outside the package.
"""
import math

import numpy as np
from numba import njit, prange

from samtheory._core.rng import ASCENT, COIN, DESCENT, LANCZOS, PROBES, stream_key, uniform
from samtheory.engine.args import FASTMATH, GUARD
from samtheory.engine.draw import draw_batch
from samtheory.engine.glm import batch_gradient, objective, hessian_vector, balance  # KIND BINDING

DENSE_MAX = 128         # up to this dimension the Hessian is formed from d products, exactly
LANCZOS_MAX = 80        # Lanczos steps at most, beyond DENSE_MAX
LANCZOS_TOLERANCE = 1e-9   # stop when the Ritz residual is below this times |θ|
TRACE_PROBES = 32       # Rademacher probes of the Hutchinson trace estimate, beyond DENSE_MAX


@njit(cache=True, fastmath=FASTMATH)
def sharpness(P, x, seed, r, record, hess, krylov, e, col, tmp):
    r"""(λ_max, trace) of ∇²f(x) from Hessian-vector products.

    d ≤ ``DENSE_MAX``: the dense Hessian (column j = ∇²f(x) e_j, symmetrised), its
    largest eigenvalue and its trace, both exact to rounding. Larger d: λ_max by Lanczos
    with full reorthogonalisation from a random start (stream ``LANCZOS`` of trajectory r,
    counter record·d + j), stopped when the top Ritz pair's residual β_m|y_m| (an
    eigenvalue of ∇²f lies within it of θ) falls below ``LANCZOS_TOLERANCE``·|θ| or after
    ``LANCZOS_MAX`` steps; the trace by Hutchinson's estimate (1/K) Σ_k z_kᵀ∇²f z_k with
    K = ``TRACE_PROBES`` Rademacher vectors (stream ``PROBES``): unbiased, with variance
    (2/K) Σ_{a≠b} H_ab². ``hess`` (d, d) or ``krylov`` (LANCZOS_MAX + 1, d) is the
    trajectory's buffer; e, col, tmp are scratch of length d.
    """
    d = x.shape[0]
    if d <= DENSE_MAX:
        for j in range(d):
            for a in range(d):
                e[a] = 0.0
            e[j] = 1.0
            hessian_vector(P, x, e, col, tmp)
            for a in range(d):
                hess[a, j] = col[a]
        trace = 0.0
        for a in range(d):
            trace += hess[a, a]
            for b in range(a):
                mean = 0.5 * (hess[a, b] + hess[b, a])
                hess[a, b] = mean
                hess[b, a] = mean
        if not math.isfinite(trace):
            return np.nan, np.nan
        return np.linalg.eigvalsh(hess)[-1], trace
    # Lanczos on v ↦ ∇²f(x) v
    key = stream_key(seed, r, LANCZOS)
    alpha = np.zeros(LANCZOS_MAX)
    beta = np.zeros(LANCZOS_MAX)
    norm = 0.0
    for a in range(d):
        krylov[0, a] = uniform(key, record * d + a) - 0.5
        norm += krylov[0, a] * krylov[0, a]
    norm = math.sqrt(norm)
    for a in range(d):
        krylov[0, a] /= norm
    top = np.nan
    for m in range(LANCZOS_MAX):
        hessian_vector(P, x, krylov[m], col, tmp)
        dot = 0.0
        for a in range(d):
            dot += krylov[m, a] * col[a]
        alpha[m] = dot
        for sweep in range(2):   # full reorthogonalisation, twice
            for q in range(m + 1):
                proj = 0.0
                for a in range(d):
                    proj += krylov[q, a] * col[a]
                for a in range(d):
                    col[a] -= proj * krylov[q, a]
        norm = 0.0
        for a in range(d):
            norm += col[a] * col[a]
        norm = math.sqrt(norm)
        beta[m] = norm
        T = np.zeros((m + 1, m + 1))
        for q in range(m + 1):
            T[q, q] = alpha[q]
            if q > 0:
                T[q, q - 1] = beta[q - 1]
                T[q - 1, q] = beta[q - 1]
        values, vectors = np.linalg.eigh(T)
        top = values[-1]
        if not math.isfinite(top):
            return np.nan, np.nan
        if norm * abs(vectors[m, m]) <= LANCZOS_TOLERANCE * abs(top) or norm == 0.0 or m + 1 == d:
            break
        for a in range(d):
            krylov[m + 1, a] = col[a] / norm
    # Hutchinson's trace estimate
    key = stream_key(seed, r, PROBES)
    total = 0.0
    for k in range(TRACE_PROBES):
        base = (record * TRACE_PROBES + k) * d
        for a in range(d):
            e[a] = 1.0 if uniform(key, base + a) < 0.5 else -1.0
        hessian_vector(P, x, e, col, tmp)
        for a in range(d):
            total += e[a] * col[a]
    return top, total / TRACE_PROBES


@njit(cache=True, parallel=True, fastmath=FASTMATH)
def run(P, S, R, C, O, X):
    """Advance every live trajectory through loop iterations ``C.t_start .. C.t_stop − 1``.

    ``P`` the problem data (this kind's), ``S`` an ``args.SamplerArgs``, ``R`` an
    ``args.RuleArgs``, ``C`` an ``args.Control``, ``O`` the ``args.Outputs`` and ``X``
    the ``args.State``. Iteration t records x_t where ``C.record_steps`` asks (and feeds
    the running sums), then, for t < steps, takes step t; iteration ``steps`` only
    records. Running the iterations 0 .. steps in one call or in consecutive slices gives
    identical bits: everything a trajectory carries from one iteration to the next is in
    ``X`` (iterate; momentum, Adam's v and v̂, each (trajectories, 0) when the rule has
    no such buffer; gradient evaluations; next record index; running sum and minimum of
    ‖∇f‖²), and the random draws of step t depend on t only (``_core.rng``).
    ``X.diverged_at`` (−1 while alive) is read to skip the trajectories that already
    diverged and set on divergence, when the remaining records are filled with NaN.
    With ``C.sharpness`` each record also stores λ_max and the trace of ∇²f(x_t)
    (``sharpness``) and the problem's ``balance``. Fills the outputs in place.
    """
    trajectories, d = X.x.shape
    steps = R.lr.shape[0]
    records = C.record_steps.shape[0]
    n = S.weights.shape[0]
    lr, rho, lam, prob = R.lr, R.rho, R.lam, R.prob
    # Arrays written inside prange must be locals: Numba's parallel loop does not write
    # back through a tuple's fields.
    # (one assignment each: unpacking a tuple of them loses the write-back of some).
    out_gap = O.gap
    out_grad = O.grad
    out_dist = O.dist
    out_evals = O.evals
    out_avg = O.avg
    out_min = O.min
    out_sharpness = O.sharpness
    out_trace = O.trace
    out_balance = O.balance
    state_x = X.x
    state_m = X.m
    state_v = X.v
    state_vhat = X.vhat
    state_evals = X.evals
    state_rec = X.rec
    state_sum = X.run_sum
    state_min = X.run_min
    diverged_at = X.diverged_at
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
        vh = state_vhat[r].copy()
        tmp = np.empty(d)
        fg = np.empty(d)
        scratch = np.empty(d)
        dense = C.sharpness and d <= DENSE_MAX
        hess = np.empty((d if dense else 0, d if dense else 0))
        krylov = np.empty((0 if dense or not C.sharpness else LANCZOS_MAX + 1, d))
        idx = np.empty(S.max_batch, dtype=np.int64)
        w = np.empty(S.max_batch)
        idx2 = np.empty(S.max_batch, dtype=np.int64)
        w2 = np.empty(S.max_batch)
        key_descent = stream_key(C.seed, r, DESCENT)
        key_ascent = stream_key(C.seed, r, ASCENT)
        key_coin = stream_key(C.seed, r, COIN)
        evals = state_evals[r]
        rec = state_rec[r]
        run_sum = state_sum[r]
        run_min = state_min[r]
        for t in range(C.t_start, C.t_stop):
            is_record = rec < records and C.record_steps[rec] == t
            if is_record or C.track:
                gap = objective(P, x, tmp, fg)
                gn = 0.0
                for j in range(d):
                    gn += fg[j] * fg[j]
                if is_record:
                    out_gap[r, rec] = gap
                    out_grad[r, rec] = gn
                    dist = 0.0
                    if C.has_x_star:
                        for j in range(d):
                            dist += (x[j] - C.x_star[j]) ** 2
                    out_dist[r, rec] = dist if C.has_x_star else np.nan
                    out_evals[r, rec] = evals
                    if C.track:
                        out_avg[r, rec] = run_sum / t if t > 0 else gn
                        out_min[r, rec] = run_min if t > 0 else gn
                    finite = math.isfinite(gap) and math.isfinite(gn)
                    if C.sharpness:
                        top, trace = np.nan, np.nan
                        if finite:
                            top, trace = sharpness(P, x, C.seed, r, rec, hess, krylov, dirn, h, tmp)
                        out_sharpness[r, rec] = top
                        out_trace[r, rec] = trace
                        out_balance[r, rec] = balance(P, x)
                    rec += 1
                    if not finite:
                        diverged_at[r] = t
                        break
                run_sum += gn
                run_min = min(run_min, gn)
            if t == steps:
                break
            # ---- one step ----
            count = draw_batch(S, n, key_descent, t, idx, w)
            perturb = rho[t] > 0.0 and uniform(key_coin, t) < prob[t]
            need_g = ((not perturb) or (R.ascent == 0 and not R.indep_ascent) or R.stable
                      or R.grst_mode == 1)
            if need_g:
                batch_gradient(P, x, idx, w, count, g, scratch)
                evals += 1
            if not perturb:
                for j in range(d):
                    h[j] = g[j]
            else:
                if R.ascent == 1:
                    for j in range(d):
                        dirn[j] = -m[j]
                elif R.indep_ascent:
                    count2 = draw_batch(S, n, key_ascent, t, idx2, w2)
                    batch_gradient(P, x, idx2, w2, count2, dirn, scratch)
                    evals += 1
                else:
                    for j in range(d):
                        dirn[j] = g[j]
                radius = rho[t] * R.alpha / prob[t] if R.grst_mode == 2 else rho[t]
                dn = 0.0
                for j in range(d):
                    dn += dirn[j] * dirn[j]
                scale = radius * (1.0 - lam[t] + lam[t] / (math.sqrt(dn) + GUARD))
                for j in range(d):
                    xp[j] = x[j] + scale * dirn[j]
                batch_gradient(P, xp, idx, w, count, h, scratch)
                evals += 1
                if R.grst_mode == 1:
                    mix = R.alpha / prob[t]
                    for j in range(d):
                        h[j] = g[j] + mix * (h[j] - g[j])
                if R.stable:
                    gg = 0.0
                    hh = 0.0
                    for j in range(d):
                        gg += g[j] * g[j]
                        hh += h[j] * h[j]
                    # ‖h‖² overflowing while g is finite would give ratio 0 and freeze the
                    # iterate at a huge finite value: NaN flags the trajectory as diverged.
                    ratio = math.sqrt(gg) / (math.sqrt(hh) + GUARD) if hh < math.inf else math.nan
                    if R.cap:
                        ratio = min(1.0, ratio)
                    for j in range(d):
                        h[j] *= ratio
            total = 0.0   # stays 0 unless some x_j is inf/NaN (0·inf = NaN; nnan is off)
            if R.base == 0:
                for j in range(d):
                    x[j] -= lr[t] * h[j]
                    total += x[j] * 0.0
            elif R.base == 1:
                for j in range(d):
                    m[j] = R.beta1 * m[j] + h[j]
                    x[j] -= lr[t] * m[j]
                    total += x[j] * 0.0
            else:
                beta1, beta2 = R.beta1, R.beta2
                c1 = 1.0 - beta1 ** (t + 1) if R.bias_correction else 1.0
                c2 = 1.0 - beta2 ** (t + 1) if R.bias_correction else 1.0
                for j in range(d):
                    m[j] = beta1 * m[j] + (1.0 - beta1) * h[j]
                    v[j] = beta2 * v[j] + (1.0 - beta2) * h[j] * h[j]
                    if R.amsgrad:
                        vh[j] = max(vh[j], v[j])
                    else:
                        vh[j] = v[j]
                    x[j] -= lr[t] * (m[j] / c1) / (math.sqrt(vh[j] / c2) + R.eps)
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
                if C.sharpness:
                    out_sharpness[r, q] = np.nan
                    out_trace[r, q] = np.nan
                    out_balance[r, q] = np.nan
        for j in range(d):
            state_x[r, j] = x[j]
        for j in range(m.shape[0]):
            state_m[r, j] = m[j]
        for j in range(v.shape[0]):
            state_v[r, j] = v[j]
            state_vhat[r, j] = vh[j]
        state_evals[r] = evals
        state_rec[r] = rec
        state_sum[r] = run_sum
        state_min[r] = run_min
