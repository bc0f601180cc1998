"""Samplers, their index/weight streams (``sampling.draw``), the kernel's agreement with
them, and the counter-based generator (``_core.rng``).

Statistical tolerances. Every step of every trajectory is an independent draw
of the sampling (independent uniforms), so over N = steps × trajectories
draws an empirical mean of a per-step quantity Z has Monte Carlo standard
error s.e. = std(Z)/√N, estimated from the same sample; we assert agreement
within 5 s.e. (two-sided normal tail 5.7e-7 per assertion; with a few hundred
assertions the chance of a false alarm is < 1e-3, and the seeds are fixed so
a run is deterministic anyway). For a Bernoulli frequency the s.e. is the
exact √(π(1 − π)/N) of the theoretical π. Goodness-of-fit of the τ-nice
subset distribution uses Pearson's chi-square with p-value threshold 1e-4.
"""
import functools
import itertools
import math

import numpy as np
import pytest
import scipy.stats
from numba import njit

import samtheory as st
from samtheory._core import rng as srng
from samtheory.problems import random_least_squares, random_logistic, random_sine_least_squares
from samtheory.sampling import (Importance, Independent, Stratified, TauNice, WithReplacement,
                                draw, draw_coins)

Z = 5.0   # standard errors allowed

PROBLEM = random_least_squares(8, 3, condition=5.0, seed=21)      # n = 8, row norms vary
N_SMALL = PROBLEM.n
P_CUSTOM = np.arange(1.0, 9.0) / np.arange(1.0, 9.0).sum()
P_INDEP = np.array([0.15, 0.3, 0.5, 0.7, 0.9, 1.0, 0.25, 0.6])
BLOCKS = [[0, 5, 7], [1], [2, 3, 4, 6]]
BLOCKS_EQUAL = [[0, 5], [1, 7], [2, 3], [4, 6]]


def inclusion_theory(name, sampler, problem):
    """P(i ∈ S) for every i."""
    n = problem.n
    if isinstance(sampler, WithReplacement):        # includes Importance
        p = (problem.L_i / problem.L_i.sum() if isinstance(sampler, Importance)
             else (np.full(n, 1 / n) if sampler.p is None else sampler.p))
        return 1.0 - (1.0 - p) ** sampler.b
    if isinstance(sampler, TauNice):
        return np.full(n, sampler.b / n)
    if isinstance(sampler, Independent):
        return np.broadcast_to(np.asarray(sampler.p, dtype=float), (n,)).copy()
    blocks = (np.array_split(np.arange(n), sampler.blocks) if isinstance(sampler.blocks, int)
              else sampler.blocks)
    out = np.empty(n)
    for block in blocks:
        out[np.asarray(block)] = 1.0 / len(block)
    return out


# Factories, not instances: a sampler whose construction fails (a package bug) then fails
# only its own tests instead of the collection of the whole module.
SAMPLER_FACTORIES = {
    "with_replacement_uniform": lambda: WithReplacement(3),
    "with_replacement_single": lambda: WithReplacement(1),
    "with_replacement_custom_p": lambda: WithReplacement(4, p=P_CUSTOM),
    "importance": lambda: Importance(2),
    "tau_nice_3": lambda: TauNice(3),
    "tau_nice_1": lambda: TauNice(1),
    "tau_nice_full": lambda: TauNice(8),
    "independent_scalar": lambda: Independent(0.3),
    "independent_array": lambda: Independent(P_INDEP),
    "stratified_int": lambda: Stratified(3),                  # contiguous blocks of sizes 3, 3, 2
    "stratified_blocks": lambda: Stratified(BLOCKS),          # explicit blocks of sizes 3, 1, 4
    "stratified_blocks_equal": lambda: Stratified(BLOCKS_EQUAL),
}
NAMES = sorted(SAMPLER_FACTORIES)


def sampler_for(name):
    return SAMPLER_FACTORIES[name]()


@functools.lru_cache(maxsize=None)
def stream_for(name):
    """N = 4000 steps × 50 trajectories = 2e5 independent draws."""
    return draw(sampler_for(name), PROBLEM, steps=4000, trajectories=50, seed=100 + NAMES.index(name))


def per_step_weights(stream, n):
    """v[s, i] = Σ_k n w_k 1{i_k = i} and inclusion indicators, flattened over (traj, step)."""
    idx = stream.indices.reshape(-1, stream.indices.shape[-1])
    w = stream.weights.reshape(idx.shape)
    rows = np.repeat(np.arange(idx.shape[0]), idx.shape[1])
    valid = idx.ravel() >= 0
    flat = rows[valid] * n + idx.ravel()[valid]
    v = np.bincount(flat, weights=n * w.ravel()[valid], minlength=idx.shape[0] * n).reshape(-1, n)
    inc = np.bincount(flat, minlength=idx.shape[0] * n).reshape(-1, n) > 0
    return v, inc


def colmean(a):
    """Column means with pairwise summation (NumPy sums a strided axis sequentially, whose
    round-off ~ N·eps would swamp the zero s.e. of deterministic samplers)."""
    return np.ascontiguousarray(a.T).mean(axis=1)


@pytest.mark.parametrize("name", NAMES)
def test_unbiased_weights(name):
    """E[v_i] = 1 for every i (the defining property of an arbitrary sampling)."""
    v, _ = per_step_weights(stream_for(name), N_SMALL)
    N = v.shape[0]
    mean = colmean(v)
    se = v.std(axis=0, ddof=1) / math.sqrt(N)
    assert np.all(np.abs(mean - 1.0) <= Z * se + 1e-12), (mean, se)


@pytest.mark.parametrize("name", NAMES)
def test_inclusion_frequencies(name):
    sampler = sampler_for(name)
    _, inc = per_step_weights(stream_for(name), N_SMALL)
    N = inc.shape[0]
    pi = inclusion_theory(name, sampler, PROBLEM)
    se = np.sqrt(pi * (1 - pi) / N)
    freq = colmean(inc.astype(float))
    assert np.all(np.abs(freq - pi) <= Z * se + 1e-12), (freq, pi, se)
    # the bound sampler reports the per-draw probabilities the weights are built from
    bound = sampler.bind(PROBLEM)
    if isinstance(sampler, (TauNice, Independent, Stratified)):
        np.testing.assert_allclose(bound.probabilities, pi, rtol=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_minibatch_gradient_unbiased(name):
    x = np.array([0.7, -1.3, 2.1])
    G = PROBLEM.sample_gradients(x)                 # (n, d)
    v, _ = per_step_weights(stream_for(name), N_SMALL)
    est = v @ G / N_SMALL                           # Σ_k w_k ∇f_{i_k}(x) per step
    N = est.shape[0]
    se = est.std(axis=0, ddof=1) / math.sqrt(N)
    full = PROBLEM.gradient(x)
    assert np.all(np.abs(colmean(est) - full) <= Z * se + 1e-12), (colmean(est), full, se)


def test_exact_weights_per_sampler():
    n = N_SMALL
    s = stream_for("with_replacement_custom_p")
    np.testing.assert_allclose(s.weights, 1.0 / (n * 4 * P_CUSTOM[s.indices]), rtol=1e-15)
    s = stream_for("importance")
    p = PROBLEM.L_i / PROBLEM.L_i.sum()
    np.testing.assert_allclose(s.weights, 1.0 / (n * 2 * p[s.indices]), rtol=1e-15)
    s = stream_for("with_replacement_uniform")
    assert np.all(s.weights == 1.0 / (n * 3 * (1.0 / n)))
    s = stream_for("tau_nice_3")
    assert np.all(s.weights == 1.0 / 3)
    s = stream_for("tau_nice_full")
    np.testing.assert_array_equal(np.sort(s.indices, axis=-1),
                                  np.broadcast_to(np.arange(n), s.indices.shape))


@pytest.mark.parametrize("name,blocks", [("stratified_blocks", BLOCKS),
                                         ("stratified_blocks_equal", BLOCKS_EQUAL),
                                         ("stratified_int", [[0, 1, 2], [3, 4, 5], [6, 7]])])
def test_stratified_one_draw_per_block(name, blocks):
    n = N_SMALL
    s = stream_for(name)
    assert s.indices.shape[-1] == len(blocks)
    size_of = np.empty(n)
    for block in blocks:
        size_of[block] = len(block)
    np.testing.assert_allclose(s.weights, size_of[s.indices] / n, rtol=1e-15)
    for j, block in enumerate(blocks):
        assert np.all(np.isin(s.indices[..., j], block))


# ---------------------------------------------------------------------------
# τ-nice: distinct indices, uniform over subsets
# ---------------------------------------------------------------------------

def test_tau_nice_distinct():
    idx = stream_for("tau_nice_3").indices
    s = np.sort(idx, axis=-1)
    assert np.all(s[..., 1:] > s[..., :-1])
    assert idx.min() >= 0 and idx.max() < N_SMALL


@pytest.mark.parametrize("n,b", [(5, 2), (6, 3), (7, 1)])
def test_tau_nice_subsets_uniform(n, b):
    problem = random_least_squares(n, 2, seed=22)
    stream = draw(TauNice(b), problem, steps=4000, trajectories=25, seed=23)
    idx = np.sort(stream.indices.reshape(-1, b), axis=1)
    subsets = {c: k for k, c in enumerate(itertools.combinations(range(n), b))}
    codes = np.array([subsets[tuple(row)] for row in idx])
    counts = np.bincount(codes, minlength=len(subsets))
    assert counts.size == math.comb(n, b)
    # every b-subset equally likely: chi-square goodness of fit, C(n,b) − 1 dof, p-value > 1e-4
    stat, pvalue = scipy.stats.chisquare(counts)
    assert pvalue > 1e-4, (counts, stat, pvalue)


def test_with_replacement_draws_independent_within_step():
    """(i_1, i_2) of one step has the product law p_i p_j: chi-square over n² cells, p > 1e-4."""
    n = 5
    problem = random_least_squares(n, 2, seed=24)
    p = np.array([0.1, 0.15, 0.2, 0.25, 0.3])
    stream = draw(WithReplacement(2, p=p), problem, steps=4000, trajectories=25, seed=25)
    pairs = stream.indices.reshape(-1, 2)
    counts = np.bincount(pairs[:, 0] * n + pairs[:, 1], minlength=n * n)
    expected = np.outer(p, p).ravel() * pairs.shape[0]
    stat, pvalue = scipy.stats.chisquare(counts, expected)
    assert pvalue > 1e-4, (stat, pvalue)


# ---------------------------------------------------------------------------
# stream properties
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_stream_reproducible_and_seed_dependent(name):
    sampler = sampler_for(name)
    a = draw(sampler, PROBLEM, steps=30, trajectories=4, seed=7)
    b = draw(sampler, PROBLEM, steps=30, trajectories=4, seed=7)
    for field in ("indices", "weights", "counts"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert a.indices.shape == (4, 30, sampler.bind(PROBLEM).max_batch)
    assert a.indices.dtype == np.int64 and a.counts.dtype == np.int64
    if name == "tau_nice_full":
        return   # deterministic subset: only the order varies
    c = draw(sampler, PROBLEM, steps=30, trajectories=4, seed=8)
    assert not np.array_equal(a.indices, c.indices)
    for r in range(1, 4):
        assert not np.array_equal(a.indices[0], a.indices[r])
    # prefixes: more trajectories / steps do not change the existing ones
    d = draw(sampler, PROBLEM, steps=50, trajectories=6, seed=7)
    np.testing.assert_array_equal(d.indices[:4, :30], a.indices)
    np.testing.assert_array_equal(d.weights[:4, :30], a.weights)
    # the ascent substream is a different stream
    e = draw(sampler, PROBLEM, steps=30, trajectories=4, seed=7, substream=srng.ASCENT)
    assert not np.array_equal(a.indices, e.indices)


@pytest.mark.parametrize("p", [0.3, P_INDEP])
def test_independent_counts_and_padding(p):
    sampler = Independent(p)
    s = draw(sampler, PROBLEM, steps=500, trajectories=8, seed=31)
    m = s.indices.shape[-1]
    assert m == N_SMALL
    assert s.counts.min() < s.counts.max()                  # the batch size is random
    slot = np.arange(m) < s.counts[..., None]
    assert np.all(s.indices[~slot] == -1)
    assert np.all(s.weights[~slot] == 0.0)
    assert np.all(s.indices[slot] >= 0)
    assert np.all(s.weights[slot] > 0)
    # included indices come first, strictly ascending
    inner = np.where(slot, s.indices, np.iinfo(np.int64).max)
    valid_pairs = slot[..., 1:]
    assert np.all((inner[..., 1:] > inner[..., :-1])[valid_pairs])
    pv = np.broadcast_to(np.asarray(p, dtype=float), (N_SMALL,))
    np.testing.assert_allclose(s.weights[slot], 1.0 / (N_SMALL * pv[s.indices[slot]]), rtol=1e-15)
    # E|S| = Σ p_i within 5 s.e.
    N = s.counts.size
    se = s.counts.std(ddof=1) / math.sqrt(N)
    assert abs(s.counts.mean() - pv.sum()) <= Z * se
    if np.ndim(p):
        # p_5 = 1: index 5 is in every batch
        assert np.all(np.any(s.indices == 5, axis=-1))


def test_fixed_size_counts():
    for name in ("with_replacement_uniform", "tau_nice_3", "stratified_int"):
        s = draw(sampler_for(name), PROBLEM, steps=20, trajectories=3, seed=3)
        assert np.all(s.counts == s.indices.shape[-1])
        assert np.all(s.indices >= 0)


def test_draw_coins_are_the_coin_substream():
    coins = draw_coins(40, 5, seed=9)
    assert coins.shape == (5, 40)
    keys = srng.stream_keys_np(9, 5, srng.COIN)
    np.testing.assert_array_equal(coins, srng.uniforms_np(keys, np.arange(40)))
    np.testing.assert_array_equal(draw_coins(40, 5, seed=9), coins)
    assert not np.array_equal(draw_coins(40, 5, seed=10), coins)


# ---------------------------------------------------------------------------
# the kernel consumes exactly the `draw` streams
# ---------------------------------------------------------------------------

def replay_sgd(problem, stream, lr, x0):
    T, steps, _ = stream.indices.shape
    xs = np.broadcast_to(x0, (T, problem.d)).copy()
    for r in range(T):
        x = xs[r]
        for t in range(steps):
            c = stream.counts[r, t]
            idx, w = stream.indices[r, t, :c], stream.weights[r, t, :c]
            g = w @ problem.sample_gradients(x, idx) if c else np.zeros(problem.d)
            x = x - lr[t] * g
        xs[r] = x
    return xs


KERNEL_PROBLEMS = {
    "ls": random_least_squares(8, 3, condition=5.0, seed=21),
    "sine": random_sine_least_squares(8, 3, seed=26),
    "logistic": random_logistic(8, 3, seed=27),
}


@pytest.mark.parametrize("name", NAMES)
def test_simulate_sgd_replays_draw_stream(name):
    problem = KERNEL_PROBLEMS["ls"]
    sampler = sampler_for(name)
    steps, T, seed = 7, 5, 41
    lr = np.linspace(0.2, 0.05, steps)
    out = st.simulate(problem, st.SGD(lr), sampler, steps=steps, trajectories=T, seed=seed)
    stream = draw(sampler, problem, steps=steps, trajectories=T, seed=seed)
    ref = replay_sgd(problem, stream, lr, problem.x0)
    np.testing.assert_allclose(out.final_x, ref, rtol=0, atol=1e-12)
    assert not np.allclose(ref, problem.x0)


@pytest.mark.parametrize("kind", ["sine", "logistic"])
@pytest.mark.parametrize("name", ["independent_array", "stratified_blocks", "importance"])
def test_simulate_sgd_replays_draw_stream_nonconvex(kind, name):
    """The regulariser term is weighted by Σ_k w_k, which is random for Independent."""
    problem = KERNEL_PROBLEMS[kind]
    sampler = sampler_for(name)
    steps, T, seed = 6, 4, 42
    lr = np.full(steps, 0.1)
    out = st.simulate(problem, st.SGD(0.1), sampler, steps=steps, trajectories=T, seed=seed)
    ref = replay_sgd(problem, draw(sampler, problem, steps=steps, trajectories=T, seed=seed),
                     lr, problem.x0)
    np.testing.assert_allclose(out.final_x, ref, rtol=0, atol=1e-12)


def test_simulate_independent_ascent_and_rst_coins_replay():
    """USAM with an independent ascent minibatch uses the ASCENT substream, and RST's
    Bernoulli coin is the COIN substream (``draw_coins``)."""
    problem = KERNEL_PROBLEMS["ls"]
    sampler = TauNice(2)
    steps, T, seed, lr, rho, p = 8, 4, 43, 0.1, 0.05, 0.5
    rule = st.RST(lr, rho, p, lam=0.0, ascent_batch="independent")
    out = st.simulate(problem, rule, sampler, steps=steps, trajectories=T, seed=seed)
    desc = draw(sampler, problem, steps=steps, trajectories=T, seed=seed)
    asc = draw(sampler, problem, steps=steps, trajectories=T, seed=seed, substream=srng.ASCENT)
    coins = draw_coins(steps, T, seed)
    grad = lambda s, r, t, x: s.weights[r, t] @ problem.sample_gradients(x, s.indices[r, t])
    ref = np.empty((T, problem.d))
    perturbed = 0
    for r in range(T):
        x = problem.x0.copy()
        for t in range(steps):
            if coins[r, t] < p:
                perturbed += 1
                h = grad(desc, r, t, x + rho * grad(asc, r, t, x))
            else:
                h = grad(desc, r, t, x)
            x = x - lr * h
        ref[r] = x
    assert 0 < perturbed < steps * T
    np.testing.assert_allclose(out.final_x, ref, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------
# the counter-based generator
# ---------------------------------------------------------------------------

@njit
def _numba_uniforms(keys, counters, out):
    for a in range(keys.shape[0]):
        for b in range(counters.shape[0]):
            out[a, b] = srng.uniform(keys[a], counters[b])


@njit
def _numba_keys(seed, trajectories, substream, out):
    for r in range(trajectories):
        out[r] = srng.stream_key(seed, r, substream)


SEEDS = [0, 1, 12345, 2 ** 63 + 5, 2 ** 64 - 1]


@pytest.mark.parametrize("seed", SEEDS)
def test_numba_rng_matches_numpy_bit_for_bit(seed):
    counters = np.concatenate([np.arange(200), [2 ** 31 - 1, 2 ** 31, 2 ** 40 + 3, 2 ** 62]])
    for sub in (srng.DESCENT, srng.ASCENT, srng.COIN):
        keys = srng.stream_keys_np(seed, 40, sub)
        nb_keys = np.empty(40, dtype=np.uint64)
        _numba_keys(np.uint64(seed), 40, sub, nb_keys)
        np.testing.assert_array_equal(nb_keys, keys)
        ref = srng.uniforms_np(keys, counters)
        got = np.empty_like(ref)
        _numba_uniforms(keys, counters.astype(np.int64), got)
        assert np.array_equal(got.view(np.uint64), ref.view(np.uint64))
    # the dispatcher called from Python gives the same numbers
    keys = srng.stream_keys_np(seed, 3, srng.DESCENT)
    for c in (0, 7, 2 ** 40):
        assert srng.uniform(keys[2], c) == srng.uniforms_np(keys[2:], [c])[0, 0]
    assert srng.stream_key(np.uint64(seed), 2, 1) == srng.stream_keys_np(seed, 3, 1)[2]


def test_uniform_moments():
    keys = srng.stream_keys_np(2024, 100, srng.DESCENT)
    u = srng.uniforms_np(keys, np.arange(20_000)).ravel()          # N = 2e6
    N = u.size
    assert u.min() >= 0.0 and u.max() < 1.0
    # mean: Var U = 1/12, s.e. = √(1/(12N))
    assert abs(u.mean() - 0.5) <= Z * math.sqrt(1 / 12 / N)
    # variance: Var (U − ½)² = 1/80 − 1/144 = 1/180, s.e. = √(1/(180N))
    assert abs(np.mean((u - 0.5) ** 2) - 1 / 12) <= Z * math.sqrt(1 / 180 / N)
    # lag-1 and cross-trajectory correlation ≈ 0, s.e. 1/√N'
    grid = u.reshape(100, 20_000)
    lag = np.corrcoef(grid[:, 1:].ravel(), grid[:, :-1].ravel())[0, 1]
    assert abs(lag) <= Z / math.sqrt(grid[:, 1:].size)
    cross = np.corrcoef(grid[1:].ravel(), grid[:-1].ravel())[0, 1]
    assert abs(cross) <= Z / math.sqrt(grid[1:].size)
    # 20 equal bins: chi-square, p > 1e-4
    counts = np.bincount((u * 20).astype(int), minlength=20)
    assert scipy.stats.chisquare(counts).pvalue > 1e-4
