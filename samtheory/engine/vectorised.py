r"""The array backend: the trajectories of a chunk advance together, one step at a time.

Written once against an array namespace ``xp``: NumPy (``backend="array"``) or
CuPy (``backend="cupy"``). The only CuPy-specific code is ``probe_cupy`` /
``cupy_device`` (import, GPU detection, memory figures) and the host transfer
``Device.to_host``; everything else is plain ``xp`` array code.

State of a chunk of R trajectories: iterates X (R, d) and the base optimiser's
buffers m, v, v̂ (R, d); per trajectory an ``active`` flag, ``diverged_at`` and
the evaluation count. One step follows the ``rules`` module docstring, the
minibatches follow the ``sampling`` docstring and the uniforms are the
counter-based streams of ``_core.rng`` evaluated on the device, so the numbers
are those of the Numba kernel (to rounding: sums run in another order).

Minibatches come in two layouts. Samplers with a fixed batch size b draw
indices (R, b); the rows A[i] are gathered into (R, b, d) once per step and
reused by every gradient on that minibatch (SAM evaluates two). Samplers whose
batch may hold every sample (``Independent``, ``TauNice(n)``) are padded to
``max_batch`` = n: slot i holds sample i with weight w_i where drawn and 0
elsewhere, so ∇f_S(x) = Aᵀ(w ⊙ ℓ'(Ax)) needs no gather, and undrawn slots are
masked to an exact 0 (an inf at an undrawn sample must not leak in as 0·inf).

Custom problems (``problems.Custom``) run here when they supply
``array_functions``, an object with two methods written against ``xp`` only:

    values(xp, data, X, idx)      (R, k): f_{idx[r, j]}(X[r])
    gradients(xp, data, X, idx)   (R, k, p): ∇f_{idx[r, j]}(X[r])

for X (R, p) float64 and idx (R, k) int64, ``data`` the problem's data tuple on
the device (``xp.asarray`` of each array); they obey the chunk-size rule below.
A minibatch gradient is Σ_j w_rj ∇f_{idx[r, j]}(x_r) with the indices of the
gathered layout, or of every sample in the padded one (undrawn slots masked
to an exact 0 as above); the objective is the mean of ``values`` over all n
samples less ``loss_reference``, and ∇f the mean of ``gradients``. A Custom
problem without ``array_functions`` is refused (``backend="numba"`` or
``"reference"`` run it).

Chunk-size invariance: every contraction is a stack of per-trajectory products
(``xp.matmul`` on (R, ·, ·) stacks, or a reduction over the last axis), never a
2-D GEMM with R rows. A BLAS picks its kernel, hence its summation order, from
the matrix shape, so (R, d) @ (d, d) can round row r differently for another R;
a stack of per-trajectory products computes each trajectory the same way in
any chunk, and results are bit-identical for every chunk size.

Divergence (as in the ``engine.reference`` docstring): a trajectory whose
iterate has a non-finite entry after the update of step t (``diverged_at`` =
t + 1), or whose recorded loss gap or gradient norm is non-finite at record
step t (``diverged_at`` = t, that record kept), is frozen: its iterate no
longer changes, its evaluation count stops, and its later records are NaN
(``grad_evals`` keeps the frozen count). Frozen rows are still computed (on
stale data) and discarded: masking is cheaper than compacting the chunk.
"""
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .._core import rng
from .._core.codes import NONE, SINE, SQUARED, WITH_REPLACEMENT, TAU_NICE, INDEPENDENT
from ..problems.custom import Custom

GUARD = 1e-12   # added to norms before dividing by them (as in the kernel)
# Working memory of an automatic NumPy chunk: about a last-level cache. Each step streams
# over the chunk's gathered rows several times; when they stay in cache the step is 2-2.6x
# faster than with 256 MiB chunks (measured on the large benchmark problem, d = 1024, b = 64),
# and larger chunks barely amortise the per-step Python overhead further.
HOST_CHUNK_BUDGET = 16 * 2 ** 20
# float64 words one sample slot of one trajectory takes in a Custom problem's array
# functions, per parameter, on top of the sample's gathered data (``chunk_bytes_per_trajectory``)
CUSTOM_WORDS_PER_PARAMETER = 4


# -- devices -------------------------------------------------------------------

@dataclass(frozen=True)
class Device:
    """An array namespace and what the engine needs to know about where it runs.

    ``to_host`` copies an array to a NumPy array; ``budget`` is the working
    memory (bytes) an automatic chunk may use; ``pool_bytes`` returns the bytes
    the device's memory pool holds (its high-water mark since ``reset_pool``),
    or is None where nothing is measured (NumPy).
    """
    name: str
    xp: object
    to_host: Callable
    budget: int
    pool_bytes: Optional[Callable] = None
    reset_pool: Optional[Callable] = None


NUMPY = Device("numpy", np, np.asarray, HOST_CHUNK_BUDGET)


def probe_cupy():
    """(cupy, description) when CuPy can compute on a GPU, else (None, what is missing)."""
    try:
        import cupy
    except ImportError as exc:
        return None, (f"CuPy is not installed ({exc}); install the GPU extra with "
                      "pip install -e '.[gpu]' (it needs an NVIDIA GPU with a CUDA driver)")
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None, "CuPy is installed but sees no CUDA GPU"
        cupy.asnumpy(cupy.arange(3, dtype=cupy.float64) * 2.0)   # driver and kernel compiler work
        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    except Exception as exc:   # CUDARuntimeError, a missing libnvrtc, ...: say what CuPy said
        return None, f"CuPy is installed but cannot use a GPU ({type(exc).__name__}: {exc})"
    return cupy, f"CuPy {cupy.__version__} on {name}"


def cupy_device():
    """The current CUDA device as a ``Device``; RuntimeError saying what is missing."""
    cupy, description = probe_cupy()
    if cupy is None:
        raise RuntimeError(f"backend='cupy' is not available: {description}. "
                           "backend='array' runs the same code on NumPy; backend='auto' picks "
                           "cupy when a GPU is usable and numba otherwise.")
    pool = cupy.get_default_memory_pool()
    free, total = cupy.cuda.runtime.memGetInfo()
    # A quarter of the card, less if others hold memory; the problem data come on top.
    return Device(description, cupy, cupy.asnumpy, int(min(total // 4, free // 2)),
                  pool.total_bytes, pool.free_all_blocks)


# -- memory ---------------------------------------------------------------------

def _layout(bound):
    """(padded, slots): padded samplers use n slots without gathering; others b rows."""
    padded = bound.kind == INDEPENDENT or (bound.kind == TAU_NICE and bound.batch == bound.n)
    return padded, bound.n if padded else bound.batch


def _array_functions(problem):
    """A Custom problem's ``array_functions``, None for the generalised-linear ``FiniteSum``;
    ValueError for a Custom problem without them."""
    if not isinstance(problem, Custom):
        return None
    if problem.array_functions is None:
        raise ValueError("backend 'array' runs a Custom problem only with array_functions; "
                         "use backend='numba' or 'reference'")
    return problem.array_functions


def _sample_words(problem):
    """float64 words of one sample's data: a row of every data array with n rows."""
    return sum(a[0].size for a in problem.data if a.ndim and a.shape[0] == problem.n)


def chunk_bytes_per_trajectory(problem, rule, bound):
    """Upper estimate of the device bytes one trajectory of a chunk needs during a step.

    Counted in float64 words: about 24 d for the iterate, the base optimiser's
    buffers and a step's temporaries; per live minibatch (2 with an independent
    ascent batch) its gathered rows b·d plus about 12 b of indices, weights and
    residuals, or about 6 n for a padded one (weights, drawn flags, a_iᵀx and
    the residual terms of every sample); 6 n for the logistic objective (the
    same over every sample); two steps' uniforms. A Custom problem's array
    functions take ``CUSTOM_WORDS_PER_PARAMETER`` d words plus the sample's
    gathered data per sample slot of a batch or per sample of the objective,
    whichever is more (one call is live at a time), and each live minibatch
    about 12 words a slot. Checked against NumPy's measured peak
    (``tests/test_array_backend.py``, and ``experiments/benchmark_backends.py
    --memory``): the estimate was 1.3 to 2.8 times NumPy's allocation peak on
    the problems and samplers tried (1.6 to 2.5 on the ``problems.landscapes``
    families).
    """
    d, n = problem.d, problem.n
    padded, slots = _layout(bound)
    batches = 2 if (rule.ascent == "gradient" and rule.ascent_batch == "independent") else 1
    if _array_functions(problem) is not None:
        # one call of the array functions (a batch's or the objective's) is live at a time
        per_sample = CUSTOM_WORDS_PER_PARAMETER * d + _sample_words(problem)
        work = max(slots, n) * per_sample + batches * 12 * slots
    else:
        per_batch = 6 * n if padded else slots * d + 12 * slots
        work = batches * per_batch + (6 * n if problem.loss_kind != SQUARED else 0)
    return 8 * (24 * d + work + 2 * bound.uniforms_per_step)


def problem_bytes(problem, bound):
    """Bytes of the problem's and sampler's arrays copied to the device."""
    arrays = (bound.table, bound.index_weights, bound.offsets)
    if _array_functions(problem) is not None:
        return int(sum(np.asarray(a).nbytes for a in problem.data + arrays))
    arrays += (problem.A, problem.hessian, problem.y, problem.signs, problem.linear,
               problem.reg_center)
    # + the contiguous copies of Aᵀ and Hᵀ the products read
    return int(sum(np.asarray(a).nbytes for a in arrays)) + problem.A.nbytes + problem.hessian.nbytes


# -- data on the device -----------------------------------------------------------

class _Data:
    """The problem's and the sampler's arrays on the device, as the kernel reads them."""

    def __init__(self, xp, problem, bound):
        self.xp = xp
        put = lambda a: xp.asarray(np.ascontiguousarray(a, dtype=np.float64))
        self.n, self.d = problem.n, problem.d
        self.x_star = None if problem.x_star is None else put(problem.x_star)
        self.functions = _array_functions(problem)
        if self.functions is not None:      # a Custom problem: its data and array functions
            self.arrays = tuple(xp.asarray(a) for a in problem.data)
            self.every_sample = xp.arange(problem.n, dtype=xp.int64)
            self.y = self.signs = None
            self.f_ref = float(problem.loss_reference)
        else:
            self.squared = problem.loss_kind == SQUARED
            self.A, self.y, self.signs = put(problem.A), put(problem.y), put(problem.signs)
            self.A_t = xp.ascontiguousarray(self.A.T)
            self.reg_kind, self.reg_strength = problem.reg_kind, float(problem.reg_strength)
            self.reg_center = put(problem.reg_center)
            # kernel.objective forms grad[a] = Σ_b H[a, b] t[b], i.e. t @ Hᵀ (H need not be
            # bit-symmetric).
            self.hessian_t = xp.ascontiguousarray(put(problem.hessian).T)
            self.linear, self.constant = put(problem.linear), float(problem.constant)
            self.exact_gap = bool(problem.exact_gap)
            self.f_ref = float(problem.gap_offset if problem.exact_gap else problem.loss_reference)
        self.kind, self.batch = bound.kind, bound.batch
        self.uniforms_per_step, self.uniform_p = bound.uniforms_per_step, bound.uniform_probabilities
        self.padded, _ = _layout(bound)
        self.table, self.weights = put(bound.table), put(bound.index_weights)
        offsets = np.asarray(bound.offsets, dtype=np.int64)
        self.block_starts, self.block_sizes = xp.asarray(offsets[:-1]), xp.asarray(np.diff(offsets))


@dataclass
class _Batch:
    """One minibatch of every trajectory: ∇f_S(x_r) = Σ_k weights[r, k] ∇f_{i_rk}(x_r).

    ``rows`` (R, b, d) holds the gathered a_i with ``y``, ``signs`` (R, b); for
    a padded batch ``rows`` is None, slot i is sample i, and ``drawn`` (R, n) or
    None (every sample drawn) marks the slots in S. A Custom problem's gathered
    batch has ``indices`` (R, b) instead of rows (its ``y``, ``signs`` are None).
    """
    weights: object
    rows: object
    y: object
    signs: object
    drawn: object = None
    indices: object = None


def _draw(D, keys, t):
    """The minibatches of step t for the trajectories of ``keys`` (``sampling`` docstring)."""
    xp = D.xp
    if D.kind == TAU_NICE and D.padded:          # full batch: every sample, no uniforms
        return _Batch(D.weights[None, :], None, D.y, D.signs)
    u = D.uniforms_per_step
    U = rng.uniforms_np(keys, xp.arange(t * u, (t + 1) * u, dtype=xp.uint64), xp=xp)   # (R, u)
    if D.kind == INDEPENDENT:
        drawn = U < D.table
        return _Batch(xp.where(drawn, D.weights, 0.0), None, D.y, D.signs, drawn)
    if D.kind == WITH_REPLACEMENT:
        if D.uniform_p:
            idx = xp.minimum((U * D.n).astype(xp.int64), D.n - 1)
        else:
            idx = xp.minimum(xp.searchsorted(D.table, U, side="right"), D.n - 1)
    elif D.kind == TAU_NICE:
        idx = _floyd(xp, U, D.n, D.batch)
    else:   # STRATIFIED: one uniform position in each block
        pos = xp.minimum((U * D.block_sizes).astype(xp.int64), D.block_sizes - 1)
        idx = D.table[D.block_starts + pos].astype(xp.int64)
    if D.functions is not None:
        return _Batch(D.weights[idx], None, None, None, indices=idx)
    return _Batch(D.weights[idx], D.A[idx], D.y[idx], D.signs[idx])


def _floyd(xp, U, n, b):
    """τ-nice indices by Floyd's algorithm: slot k (j = n − b + k) takes ⌊U_k (j + 1)⌋,
    or j when an earlier slot holds it. Sequential in k, vectorised over trajectories."""
    idx = xp.empty(U.shape, dtype=xp.int64)
    for k in range(b):
        j = n - b + k
        candidate = xp.minimum((U[:, k] * (j + 1)).astype(xp.int64), j)
        seen = (idx[:, :k] == candidate[:, None]).any(axis=1)
        idx[:, k] = xp.where(seen, j, candidate)
    return idx


# -- gradients and the objective -----------------------------------------------------

def _row_products(xp, X, M):
    """X[r] @ M for every row r, as a stack of per-trajectory products (chunk-invariant)."""
    return xp.matmul(X[:, None, :], M)[:, 0, :]


def _loss_derivative(D, u, y, signs):
    """ℓ_i'(u): s_i (u − y_i) (squared) or −y_i / (1 + exp(y_i u)) (logistic)."""
    if D.squared:
        return signs * (u - y)
    return -y / (1.0 + D.xp.exp(y * u))


def _regulariser(D, X, value):
    """r'(x − z) per coordinate, or with ``value`` also Σ_j r(x_j − z_j) per row."""
    xp = D.xp
    t = X - D.reg_center
    if D.reg_kind == SINE:
        grad = xp.sin(2.0 * t)
        return (grad, (xp.sin(t) ** 2).sum(axis=-1)) if value else grad
    q = t * t
    inverse = 1.0 / (1.0 + q)          # 0 once t² overflows: no inf/inf
    grad = 2.0 * t * inverse * inverse
    if not value:
        return grad
    # q/(1+q) for small t, 1 − 1/(1+q) for large: no inf/inf (where() drops the other branch)
    return grad, xp.where(q < 1.0, q * inverse, 1.0 - inverse).sum(axis=-1)


def _batch_gradient(D, batch, X):
    """∇f_S(x_r) = Σ_k w_rk ∇f_{i_rk}(x_r) for every row of X (``kernel.batch_gradient``)."""
    xp = D.xp
    if D.functions is not None:
        return _custom_batch_gradient(D, batch, X)
    if batch.rows is None:
        u = _row_products(xp, X, D.A_t)                              # (R, n): a_iᵀx_r
    else:
        u = xp.matmul(batch.rows, X[:, :, None])[:, :, 0]             # (R, b)
    coef = batch.weights * _loss_derivative(D, u, batch.y, batch.signs)
    if batch.drawn is not None:
        coef = xp.where(batch.drawn, coef, 0.0)
    if batch.rows is None:
        grad = _row_products(xp, coef, D.A)
    else:
        grad = xp.matmul(coef[:, None, :], batch.rows)[:, 0, :]
    if D.reg_kind != NONE:
        # each f_i carries the regulariser: Σ_k w_k · c r'(x − z)
        scale = batch.weights.sum(axis=-1) * D.reg_strength
        grad = grad + scale[:, None] * _regulariser(D, X, value=False)
    return grad


def _custom_batch_gradient(D, batch, X):
    """Σ_k w_rk ∇f_{i_rk}(x_r) from the array functions; padded batches evaluate every sample
    and mask the undrawn ones to an exact 0."""
    xp = D.xp
    idx = batch.indices
    if idx is None:                       # padded: slot i is sample i
        idx = xp.broadcast_to(D.every_sample, (X.shape[0], D.n))
    grads = D.functions.gradients(xp, D.arrays, X, idx)                # (R, k, d)
    if batch.drawn is not None:
        grads = xp.where(batch.drawn[:, :, None], grads, 0.0)
    weights = xp.ascontiguousarray(xp.broadcast_to(batch.weights, idx.shape))
    return xp.matmul(weights[:, None, :], grads)[:, 0, :]


def _objective(D, X):
    """(f(x_r) − f_ref, ‖∇f(x_r)‖²) for every row of X (``kernel.objective``)."""
    xp = D.xp
    if D.functions is not None:           # means over every sample of the array functions
        every = xp.broadcast_to(D.every_sample, (X.shape[0], D.n))
        gap = D.functions.values(xp, D.arrays, X, every).mean(axis=-1) - D.f_ref
        mean = xp.full((X.shape[0], 1, D.n), 1.0 / D.n)
        grad = xp.matmul(mean, D.functions.gradients(xp, D.arrays, X, every))[:, 0, :]
        return gap, (grad * grad).sum(axis=-1)
    if D.squared:
        # f = ½ tᵀH t + offset with t = x − x* (exact gap), else ½ xᵀHx − bᵀx + c0 − f_ref
        T = X - D.x_star if D.exact_gap else X
        grad = _row_products(xp, T, D.hessian_t)
        quad = (T * grad).sum(axis=-1)
        if D.exact_gap:
            gap = 0.5 * quad + D.f_ref
        else:
            gap = 0.5 * quad - (D.linear * X).sum(axis=-1) + D.constant - D.f_ref
            grad = grad - D.linear
    else:
        u = _row_products(xp, X, D.A_t)
        margin = -D.y * u                     # log(1 + e^m) = max(m, 0) + log1p(e^−|m|)
        loss = xp.maximum(margin, 0.0) + xp.log1p(xp.exp(-xp.abs(margin)))
        gap = loss.sum(axis=-1) / D.n - D.f_ref
        grad = _row_products(xp, _loss_derivative(D, u, D.y, D.signs) / D.n, D.A)
    if D.reg_kind != NONE:
        reg_grad, reg_value = _regulariser(D, X, value=True)
        gap = gap + D.reg_strength * reg_value
        grad = grad + D.reg_strength * reg_grad
    return gap, (grad * grad).sum(axis=-1)


# -- one step ------------------------------------------------------------------------

class _Plan:
    """The rule's discrete choices and per-step numbers, on the host."""

    def __init__(self, rule, schedules):
        self.rule = rule
        self.lr, self.rho = schedules["lr"], schedules["rho"]
        self.lam, self.prob = schedules["lam"], schedules["perturb_prob"]
        self.momentum_ascent = rule.ascent == "momentum"
        self.independent_ascent = rule.ascent == "gradient" and rule.ascent_batch == "independent"
        # a perturbed step needs g = ∇f_S(x) for a same-batch ascent, Stable SAM or G-RST mixing
        self.perturbed_needs_g = ((rule.ascent == "gradient" and not self.independent_ascent)
                                  or rule.stable or rule.grst_mode == "mix")


class _State:
    """Iterates and base-optimiser buffers of a chunk; ``update`` is step 4 of the rule."""

    def __init__(self, xp, rule, x0):
        self.xp, self.rule = xp, rule
        self.x = x0
        self.m = xp.zeros_like(x0) if rule.base != "sgd" else None
        if rule.base == "adam":
            self.v = xp.zeros_like(x0)
            self.vhat = xp.full(x0.shape, rule.vhat_init)

    def update(self, h, lr, t, active):
        """Step on the descent directions h; frozen rows (``active`` False) keep their x."""
        xp, rule = self.xp, self.rule
        if rule.base == "sgd":
            x = self.x - lr * h
        elif rule.base == "heavyball":
            self.m = rule.momentum * self.m + h
            x = self.x - lr * self.m
        else:
            beta1, beta2 = rule.momentum, rule.beta2
            self.m = beta1 * self.m + (1.0 - beta1) * h
            self.v = beta2 * self.v + (1.0 - beta2) * h * h
            self.vhat = xp.maximum(self.vhat, self.v) if rule.amsgrad else self.v
            c1 = 1.0 - beta1 ** (t + 1) if rule.bias_correction else 1.0
            c2 = 1.0 - beta2 ** (t + 1) if rule.bias_correction else 1.0
            x = self.x - lr * (self.m / c1) / (xp.sqrt(self.vhat / c2) + rule.eps)
        self.x = xp.where(active[:, None], x, self.x)


def _step(D, plan, state, keys, t):
    """One update of every row (rules docstring, steps 1–4); return the gradients spent (R,)."""
    xp, rule = D.xp, plan.rule
    rows = state.x.shape[0]
    lr, rho, lam, prob = plan.lr[t], plan.rho[t], plan.lam[t], plan.prob[t]
    batch = _draw(D, keys[rng.DESCENT], t)
    # U < p_t with U ∈ [0, 1): known on the host when p_t is 0 or 1, drawn otherwise
    every = rho > 0.0 and prob >= 1.0
    if every or not (rho > 0.0 and prob > 0.0):
        perturb = xp.full(rows, every)
    else:
        perturb = rng.uniforms_np(keys[rng.COIN], [t], xp=xp)[:, 0] < prob
    g = None
    if plan.perturbed_needs_g or not every:
        g = _batch_gradient(D, batch, state.x)
    # evaluations: g (unless a perturbed step skips it) + the ascent batch + h
    spent = xp.where(perturb, int(plan.perturbed_needs_g) + int(plan.independent_ascent) + 1, 1)
    if not (rho > 0.0 and prob > 0.0):
        return g, spent
    if plan.momentum_ascent:
        direction = -state.m              # the momentum buffer before this step's update
    elif plan.independent_ascent:
        direction = _batch_gradient(D, _draw(D, keys[rng.ASCENT], t), state.x)
    else:
        direction = g
    radius = rule.grst_alpha * rho / prob if rule.grst_mode == "radius" else rho
    norm = xp.sqrt((direction * direction).sum(axis=-1))
    scale = radius * (1.0 - lam + lam / (norm + GUARD))
    h = _batch_gradient(D, batch, state.x + scale[:, None] * direction)
    if rule.grst_mode == "mix":
        h = g + (rule.grst_alpha / prob) * (h - g)
    if rule.stable:
        h_norm = xp.sqrt((h * h).sum(axis=-1))
        # an overflowing ‖h‖ would give ratio 0 (a frozen iterate): NaN means diverged
        ratio = xp.where(xp.isfinite(h_norm), xp.sqrt((g * g).sum(axis=-1)) / (h_norm + GUARD), xp.nan)
        if rule.stable_cap:
            ratio = xp.minimum(1.0, ratio)
        h = h * ratio[:, None]
    if not every:
        h = xp.where(perturb[:, None], h, g)
    return h, spent


# -- a run, chunk by chunk ------------------------------------------------------------

def metric_names(problem, track):
    names = ["loss_gap", "grad_norm_sq", "grad_evals"]
    if problem.x_star is not None:
        names.append("dist_sq")
    if track:
        names += ["avg_grad_norm_sq", "min_grad_norm_sq"]
    return names


def simulate_array(problem, rule, bound, schedules, starts, seed, record_steps, track, *,
                   device, chunk_size):
    """Run every trajectory on ``device``, ``chunk_size`` trajectories at a time.

    Parameters are those ``engine.simulate`` passes to the Numba kernel:
    ``bound`` (``sampling.BoundSampler``), ``schedules`` (name -> (steps,) array),
    ``starts`` (trajectories, d), ``record_steps`` (records,) increasing in [0, steps].
    Only the chunk's state lives on the device; the recorded metrics are
    written into host arrays record by record.

    Returns
    -------
    metrics : dict of name -> (trajectories, records) NumPy array
    final_x : (trajectories, d) array
    diverged_at : (trajectories,) int64 array
    pool_peak : int or None
        Bytes held by the device's memory pool at the end (its high-water mark
        over the run); None where not measured (NumPy).
    """
    xp = device.xp
    trajectories = starts.shape[0]
    names = metric_names(problem, track)
    metrics = {name: np.full((trajectories, record_steps.size), np.nan) for name in names}
    metrics["grad_evals"] = np.zeros((trajectories, record_steps.size), dtype=np.int64)
    final_x = np.empty_like(starts, dtype=np.float64)
    diverged_at = np.empty(trajectories, dtype=np.int64)
    if device.reset_pool is not None:
        device.reset_pool()
    data = _Data(xp, problem, bound)
    plan = _Plan(rule, schedules)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):   # detected, not warned
        for first in range(0, trajectories, chunk_size):
            rows = slice(first, min(first + chunk_size, trajectories))
            x, stopped = _run_chunk(data, plan, device, xp.asarray(starts[rows]), seed, first,
                                    record_steps, track, {k: v[rows] for k, v in metrics.items()})
            final_x[rows], diverged_at[rows] = device.to_host(x), device.to_host(stopped)
    pool_peak = None if device.pool_bytes is None else int(device.pool_bytes())
    return metrics, final_x, diverged_at, pool_peak


def _run_chunk(D, plan, device, x0, seed, first, record_steps, track, out):
    """Run the trajectories first .. first + R − 1 from x0 (R, d); fill ``out`` (host views)."""
    xp = D.xp
    rows = x0.shape[0]
    keys = {sub: rng.stream_keys_np(seed, rows, sub, first=first, xp=xp)
            for sub in (rng.DESCENT, rng.ASCENT, rng.COIN)}
    state = _State(xp, plan.rule, x0)
    active = xp.ones(rows, dtype=bool)
    diverged_at = xp.full(rows, -1, dtype=xp.int64)
    evals = xp.zeros(rows, dtype=xp.int64)
    run_sum, run_min = xp.zeros(rows), xp.full(rows, np.inf)   # over x_0 .. x_{t−1}
    names = list(out)
    steps, rec = plan.lr.shape[0], 0
    for t in range(steps + 1):
        is_record = rec < record_steps.size and record_steps[rec] == t
        if is_record or track:
            gap, grad_sq = _objective(D, state.x)
        if is_record:
            values = {"loss_gap": gap, "grad_norm_sq": grad_sq}
            if "dist_sq" in out:
                values["dist_sq"] = ((state.x - D.x_star) ** 2).sum(axis=-1)
            if track:
                values["avg_grad_norm_sq"] = run_sum / t if t > 0 else grad_sq
                values["min_grad_norm_sq"] = run_min if t > 0 else grad_sq
            column = [evals.astype(xp.float64) if name == "grad_evals"
                      else xp.where(active, values[name], np.nan) for name in names]
            bad = active & ~(xp.isfinite(gap) & xp.isfinite(grad_sq))
            diverged_at = xp.where(bad, t, diverged_at)
            active = active & ~bad
            # one transfer per record: the metrics and whether any trajectory still runs
            host = device.to_host(xp.stack(column + [active.astype(xp.float64)]))
            for name, row in zip(names, host):
                out[name][:, rec] = row
            rec += 1
            if not host[-1].any():        # all frozen: later records are NaN, counts frozen
                out["grad_evals"][:, rec:] = host[names.index("grad_evals")][:, None]
                break
        if t == steps:
            break
        if track:
            run_sum = run_sum + grad_sq
            run_min = xp.fmin(run_min, grad_sq)   # as Python's min: a NaN never replaces it
        h, spent = _step(D, plan, state, keys, t)
        evals = evals + xp.where(active, spent, 0)
        state.update(h, plan.lr[t], t, active)
        bad = active & ~xp.isfinite(state.x).all(axis=-1)
        diverged_at = xp.where(bad, t + 1, diverged_at)
        active = active & ~bad
    return state.x, diverged_at
