"""Property-based promises (hypothesis): the generator twins agree for any key and counter,
and every sampler's stream has in-range indices and the exact tabulated weights."""
import numpy as np
from hypothesis import given, settings, strategies as hs

import samtheory as st
from samtheory._core import rng

SETTINGS = settings(max_examples=60, deadline=None)


@SETTINGS
@given(seed=hs.integers(0, 2 ** 64 - 1), trajectory=hs.integers(0, 2 ** 40),
       substream=hs.sampled_from([rng.DESCENT, rng.ASCENT, rng.COIN]),
       counter=hs.integers(0, 2 ** 62))
def test_numba_and_numpy_generators_agree(seed, trajectory, substream, counter):
    key = np.uint64(rng.stream_key(np.uint64(seed), trajectory, substream))
    u = rng.uniform(key, counter)
    u_np = rng.uniforms_np([key], [counter])[0, 0]
    assert u == u_np and 0.0 <= u < 1.0


@SETTINGS
@given(weights=hs.lists(hs.floats(0.01, 1.0), min_size=2, max_size=12), b=hs.integers(1, 5),
       seed=hs.integers(0, 2 ** 32))
def test_with_replacement_stream_weights(weights, b, seed):
    p = np.array(weights) / np.sum(weights)
    n = p.size
    problem = st.problems.Quadratic(np.ones(n))
    sampler = st.WithReplacement(b, p=p)
    np.testing.assert_allclose(sampler.p, p, rtol=1e-15)   # renormalised, nothing more
    stream = st.draw(sampler, problem, 3, 4, seed)
    assert stream.indices.min() >= 0 and stream.indices.max() < n
    np.testing.assert_array_equal(stream.weights, 1.0 / (n * b * sampler.p[stream.indices]))
    assert (stream.counts == b).all()


@SETTINGS
@given(n=hs.integers(1, 12), data=hs.data())
def test_tau_nice_and_stratified_streams(n, data):
    b = data.draw(hs.integers(1, n))
    seed = data.draw(hs.integers(0, 2 ** 32))
    problem = st.problems.Quadratic(np.ones(n))
    nice = st.draw(st.TauNice(b), problem, 4, 3, seed)
    for row in nice.indices.reshape(-1, b):
        assert len(set(row.tolist())) == b and row.min() >= 0 and row.max() < n
    assert (nice.weights == 1.0 / b).all()
    blocks = st.Stratified(b).partition(problem)
    strat = st.draw(st.Stratified(b), problem, 4, 3, seed)
    for row in strat.indices.reshape(-1, b):
        assert all(i in block for i, block in zip(row.tolist(), blocks))
    sizes = np.array([block.size for block in blocks])
    np.testing.assert_array_equal(strat.weights[0, 0], sizes / n)
