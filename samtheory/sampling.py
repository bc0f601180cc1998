r"""Arbitrary samplings and the exact index/weight streams the engine uses.

A sampling draws a random multiset S of {0..n−1} with weights v_i, E[v_i] = 1,
and the gradient estimator is ∇f_S(x) = (1/n) Σ_i v_i ∇f_i(x) (docs/theory.md §1).
Each draw k of a step is stored as an index i_k and a weight w_k = v_{i_k}/n
(per occurrence; a function of i_k alone, tabulated once in
``BoundSampler.index_weights``), so that ∇f_S(x) = Σ_k w_k ∇f_{i_k}(x):

=====================  ================================  ======================
sampler                draw                              weight w_k
=====================  ================================  ======================
WithReplacement(b, p)  b i.i.d. draws, P(i) = p_i         1/(n b p_i)
Importance(b)          same with p_i = L_i / Σ_j L_j      1/(n b p_i)
TauNice(b)             b distinct indices, uniformly      1/b
Independent(p)         i included w.p. p_i, independently 1/(n p_i)
Stratified(blocks)     one uniform index in each block    |B_j|/n
=====================  ================================  ======================

Randomness comes from the counter-based streams of ``_core.rng``: step t of
trajectory r uses the uniforms with counters t·u .. t·u + u − 1 of its
substream, u = ``uniforms_per_step``. Index rules from uniforms U:
with replacement, i = ⌊U n⌋ for uniform p, else the first i with
cumsum(p)_i > U; τ-nice, Floyd's algorithm (for j = n−b .. n−1: i = ⌊U (j+1)⌋,
replaced by j when already chosen); independent, i ∈ S iff U_i < p_i;
stratified, block j's element ⌊U_j |B_j|⌋. τ-nice with b = n (full batch) takes
0..n−1 in order and uses no uniforms.
"""
from dataclasses import dataclass, field, replace
import math
import numbers

import numpy as np

from . import _validate
from ._core import rng as _rng

from ._core.codes import WITH_REPLACEMENT, TAU_NICE, INDEPENDENT, STRATIFIED


class Sampler:
    """Base class. ``bind(problem)`` gives the numbers the kernels read."""

    def bind(self, problem):  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self):
        out = {"sampler": type(self).__name__}
        for key, value in vars(self).items():
            out[key] = np.asarray(value).tolist() if isinstance(value, np.ndarray) else value
        return out


@dataclass(frozen=True)
class BoundSampler:
    """A sampler specialised to a problem of n samples: what the kernels consume.

    ``table`` holds the cumulative probabilities (with replacement), the
    inclusion probabilities (independent) or the concatenated blocks
    (stratified); ``offsets`` the block starts (stratified, length blocks+1).
    """
    kind: int
    n: int
    batch: int                 # b (max batch = ``max_batch``)
    max_batch: int
    uniforms_per_step: int
    uniform_probabilities: bool
    table: np.ndarray = field(repr=False)
    offsets: np.ndarray = field(repr=False)
    probabilities: np.ndarray = field(repr=False)   # per-index probability p_i (as the table defines)
    index_weights: np.ndarray = field(repr=False)   # (n,) weight w of one draw of index i


def _check_batch(b, n, name="b"):
    b = _validate.positive_int(name, b)
    if b > n:
        raise ValueError(f"{name} must lie in [1, n] = [1, {n}] for this problem, got {b}")
    return b


def _check_probabilities(p, n, name="p"):
    p = _validate.finite_array(name, p, ndim=1)
    if p.shape != (n,):
        raise ValueError(f"{name} must have one probability per sample, shape ({n},), got {p.shape}")
    _validate.array_in_range(name, p, 0.0, 1.0, low_open=True)
    return p


MAX_DRAWS = 2 ** 24   # per step: the kernel holds one minibatch per trajectory in memory


class WithReplacement(Sampler):
    """b i.i.d. draws with probabilities p (uniform when ``p`` is None).

    ``p`` must sum to 1 within 1e-9 and is then renormalised exactly."""

    def __init__(self, b, p=None):
        self.b = _validate.positive_int("b", b)
        if self.b > MAX_DRAWS:
            raise ValueError(f"b must lie in [1, {MAX_DRAWS}], got {self.b}")
        if p is not None:
            p = _validate.finite_array("p", p, ndim=1)
            _validate.array_in_range("p", p, 0.0, 1.0, low_open=True)
            if abs(p.sum() - 1.0) > 1e-9:
                raise ValueError(f"p must sum to 1 (within 1e-9), got sum {float(p.sum())!r}")
            p = p / p.sum()
        self.p = p

    def probabilities(self, problem):
        if self.p is None:
            return np.full(problem.n, 1.0 / problem.n)
        if self.p.shape != (problem.n,):
            raise ValueError(f"p must have one probability per sample, shape ({problem.n},), got {self.p.shape}")
        return self.p

    def bind(self, problem):
        p = self.probabilities(problem)
        cum = np.cumsum(p)
        cum[-1] = 1.0   # a draw U < 1 always lands on an index
        return BoundSampler(WITH_REPLACEMENT, problem.n, self.b, self.b, self.b, self.p is None,
                            cum, np.zeros(1, dtype=np.int64), p, 1.0 / (problem.n * self.b * p))


class Importance(WithReplacement):
    """b i.i.d. draws with p_i = L_i / Σ_j L_j (weights 1/(n b p_i) keep it unbiased)."""

    def __init__(self, b):
        super().__init__(b)

    def probabilities(self, problem):
        if problem.L_i is None:
            raise ValueError(f"Importance sampling needs every L_i (p_i ∝ L_i); {problem.name} "
                             "does not state them (pass L_i= to a Custom problem)")
        if np.any(problem.L_i <= 0):
            raise ValueError("Importance sampling needs every L_i > 0 (p_i ∝ L_i); "
                             f"this problem has {int(np.sum(problem.L_i <= 0))} with L_i = 0")
        return problem.L_i / problem.L_i.sum()

    def bind(self, problem):
        return replace(super().bind(problem), uniform_probabilities=False)


class TauNice(Sampler):
    """b distinct indices, every subset of size b equally likely (without replacement)."""

    def __init__(self, b):
        self.b = _validate.positive_int("b", b)

    def bind(self, problem):
        b = _check_batch(self.b, problem.n)
        return BoundSampler(TAU_NICE, problem.n, b, b, b, True, np.zeros(1), np.zeros(1, dtype=np.int64),
                            np.full(problem.n, b / problem.n), np.full(problem.n, 1.0 / b))


class Independent(Sampler):
    """Each i included independently with probability p_i (a scalar p is used for every i)."""

    def __init__(self, p):
        if np.ndim(p) == 0:
            p = _validate.real("p", p, 0.0, 1.0, low_open=True)
        else:
            p = _validate.finite_array("p", p, ndim=1)
            _validate.array_in_range("p", p, 0.0, 1.0, low_open=True)
        self.p = p

    def probabilities(self, problem):
        if np.ndim(self.p) == 0:
            return np.full(problem.n, float(self.p))
        return _check_probabilities(self.p, problem.n)

    def bind(self, problem):
        p = self.probabilities(problem)
        return BoundSampler(INDEPENDENT, problem.n, int(math.ceil(p.sum())), problem.n, problem.n,
                            False, p, np.zeros(1, dtype=np.int64), p, 1.0 / (problem.n * p))


class Stratified(Sampler):
    """One uniform draw from each block of a partition of {0..n−1}.

    ``blocks`` is either the number of contiguous, nearly equal blocks, or a
    list of index arrays that partition {0..n−1}.
    """

    def __init__(self, blocks):
        if isinstance(blocks, numbers.Integral) or np.isscalar(blocks) or blocks is None:
            blocks = _validate.positive_int("blocks", blocks)
        else:
            blocks = [np.asarray(block).ravel() for block in blocks]
            if not blocks:
                raise ValueError("blocks must be an integer >= 1 or a non-empty list of index arrays")
            if any(block.size == 0 for block in blocks):
                raise ValueError("blocks must all be non-empty")
            if any(not np.issubdtype(block.dtype, np.integer) for block in blocks):
                raise ValueError("blocks must hold integer sample indices")
            blocks = [block.astype(np.int64) for block in blocks]
        self.blocks = blocks

    def partition(self, problem):
        n = problem.n
        if isinstance(self.blocks, int):
            if self.blocks > n:
                raise ValueError(f"blocks must lie in [1, n] = [1, {n}] for this problem, got {self.blocks}")
            return np.array_split(np.arange(n), self.blocks)
        flat = np.concatenate(self.blocks)
        if flat.size != n or not np.array_equal(np.sort(flat), np.arange(n)):
            raise ValueError(f"blocks must partition {{0..n-1}} (n = {n}): every index exactly once")
        return self.blocks

    def bind(self, problem):
        parts = self.partition(problem)
        sizes = np.array([part.size for part in parts])
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        probs, weights = np.empty(problem.n), np.empty(problem.n)
        for part in parts:
            probs[part] = 1.0 / part.size
            weights[part] = part.size / problem.n
        table = np.concatenate(parts).astype(np.float64)
        return BoundSampler(STRATIFIED, problem.n, len(parts), len(parts), len(parts), False,
                            table, offsets, probs, weights)

    def describe(self):
        blocks = self.blocks if isinstance(self.blocks, int) else [b.tolist() for b in self.blocks]
        return {"sampler": "Stratified", "blocks": blocks}


@dataclass(frozen=True)
class Stream:
    """The exact minibatches of a run: ∇f_S(x) at step t of trajectory r is
    Σ_{k < counts[r, t]} weights[r, t, k] ∇f_{indices[r, t, k]}(x)."""
    indices: np.ndarray   # (trajectories, steps, max_batch) int64; unused slots −1
    weights: np.ndarray   # (trajectories, steps, max_batch) float64; unused slots 0
    counts: np.ndarray    # (trajectories, steps) int64


def draw(sampler, problem, steps, trajectories, seed, substream=_rng.DESCENT):
    """The index/weight stream the engine uses for this sampler, replayable by any reference.

    ``substream`` is ``_core.rng.DESCENT`` (default) or ``_core.rng.ASCENT``
    (the independent ascent minibatch).
    """
    steps = _validate.positive_int("steps", steps)
    trajectories = _validate.positive_int("trajectories", trajectories)
    seed = _validate.seed(seed)
    _validate.choice("substream", substream, (_rng.DESCENT, _rng.ASCENT))
    bound = sampler.bind(problem)
    u = bound.uniforms_per_step
    keys = _rng.stream_keys_np(seed, trajectories, substream)
    U = _rng.uniforms_np(keys, np.arange(steps * u)).reshape(trajectories, steps, u)
    n, m = bound.n, bound.max_batch
    indices = np.full((trajectories, steps, m), -1, dtype=np.int64)
    weights = np.zeros((trajectories, steps, m))
    counts = np.full((trajectories, steps), m, dtype=np.int64)
    if bound.kind == WITH_REPLACEMENT:
        if bound.uniform_probabilities:
            idx = np.minimum((U * n).astype(np.int64), n - 1)
        else:
            idx = np.minimum(np.searchsorted(bound.table, U, side="right"), n - 1)
        indices[:] = idx
        weights[:] = bound.index_weights[idx]
    elif bound.kind == TAU_NICE and bound.batch == n:   # full batch: every index, in order
        indices[:] = np.arange(n)
        weights[:] = bound.index_weights[indices]
    elif bound.kind == TAU_NICE:
        b = bound.batch
        for k, j in enumerate(range(n - b, n)):
            cand = np.minimum((U[..., k] * (j + 1)).astype(np.int64), j)
            taken = np.any(indices[..., :k] == cand[..., None], axis=-1)
            indices[..., k] = np.where(taken, j, cand)
        weights[:] = bound.index_weights[indices]
    elif bound.kind == INDEPENDENT:
        inside = U < bound.table
        counts = inside.sum(axis=-1)
        order = np.argsort(~inside, axis=-1, kind="stable")   # included indices first, ascending
        slot = np.arange(m) < counts[..., None]
        indices[:] = np.where(slot, order, -1)
        weights[:] = np.where(slot, bound.index_weights[order], 0.0)
    else:  # STRATIFIED
        starts, sizes = bound.offsets[:-1], np.diff(bound.offsets)
        pos = np.minimum((U * sizes).astype(np.int64), sizes - 1)
        indices[:] = bound.table[starts + pos].astype(np.int64)
        weights[:] = bound.index_weights[indices]
    return Stream(indices, weights, counts)


def draw_coins(steps, trajectories, seed):
    """The RST coin uniforms U[r, t]: step t of trajectory r perturbs iff U[r, t] < p_t."""
    steps = _validate.positive_int("steps", steps)
    trajectories = _validate.positive_int("trajectories", trajectories)
    keys = _rng.stream_keys_np(_validate.seed(seed), trajectories, _rng.COIN)
    return _rng.uniforms_np(keys, np.arange(steps))
