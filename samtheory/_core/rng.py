"""Counter-based random streams shared by every backend.

Each trajectory owns independent streams identified by ``(seed, trajectory,
substream)``; the ``j``-th uniform of step ``t`` is a pure function of those
numbers and of the counter ``t * slots + j``. Nothing depends on the order in
which trajectories are computed, so results are identical for any thread
count, and the NumPy functions below reproduce the Numba ones bit for bit.

The generator is SplitMix64 (Steele, Lea & Flood 2014) used in random-access
form: state_c = key + (c + 1) * GAMMA, output = mix(state_c); the key itself
is a mix of the seed, the trajectory index and the substream index.

Substreams: ``DESCENT`` (the minibatch of the descent gradient), ``ASCENT``
(an independent ascent minibatch), ``COIN`` (the RST Bernoulli coin), ``LANCZOS``
(the start vector of the sharpness Lanczos iteration) and ``PROBES`` (the Rademacher
probes of the Hessian-trace estimate) for problems too large for a dense Hessian.
"""
import numpy as np
from numba import njit

DESCENT, ASCENT, COIN, LANCZOS, PROBES = 0, 1, 2, 3, 4

GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TRAJ = np.uint64(0xD1B54A32D192ED03)
_SUB = np.uint64(0x8CB92BA72F3D8DD7)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_ONE = np.uint64(1)
_INV53 = 1.0 / 9007199254740992.0  # 2**-53


@njit(cache=True, inline="always")
def _mix(z):
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@njit(cache=True)
def stream_key(seed, trajectory, substream):
    """Key of one trajectory's substream (uint64; from Python, wrap it in ``np.uint64``
    before passing it back: keys above 2**63 do not fit the int64 Numba infers for ints)."""
    k = _mix(np.uint64(seed) + GAMMA)
    k = _mix(k + (np.uint64(trajectory) + _ONE) * _TRAJ)
    return _mix(k + (np.uint64(substream) + _ONE) * _SUB)


@njit(cache=True, inline="always")
def uniform(key, counter):
    """Uniform double in [0, 1) with 53 random bits; ``counter`` >= 0."""
    # Cast first: Numba promotes int64 + uint64 to float64.
    z = _mix(np.uint64(key) + (np.uint64(counter) + _ONE) * GAMMA)
    return np.float64(z >> _S11) * _INV53


# --- Array twins (vectorised, any NumPy-like namespace ``xp``) -------------
# Used by `sampling.draw` (NumPy) and by the array backend, which passes CuPy to
# draw the same numbers on a GPU. Unsigned 64-bit arithmetic wraps modulo 2**64 in
# both libraries; array operands come first, so NumPy scalars never coerce a CuPy array.

def _mix_np(z):
    with np.errstate(over="ignore"):
        z = (z ^ (z >> _S30)) * _MIX1
        z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


def stream_keys_np(seed, trajectories, substream, first=0, xp=np):
    """Keys of trajectories ``first .. first + trajectories - 1`` (uint64 array of ``xp``)."""
    with np.errstate(over="ignore"):
        seed_key = _mix_np(np.uint64(seed) + GAMMA)
        t = xp.arange(first, first + trajectories, dtype=xp.uint64)
        k = _mix_np((t + _ONE) * _TRAJ + seed_key)
        return _mix_np(k + np.uint64(substream + 1) * _SUB)


def uniforms_np(keys, counters, xp=np):
    """Uniforms for every pair of ``keys`` (shape K) and ``counters`` (shape C): (K, C)."""
    keys = xp.asarray(keys, dtype=xp.uint64)[:, None]
    counters = xp.asarray(counters, dtype=xp.uint64)[None, :]
    z = _mix_np((counters + _ONE) * GAMMA + keys)
    return (z >> _S11).astype(xp.float64) * _INV53
