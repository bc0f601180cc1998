"""The kernel's minibatch sampler: indices and weights of one step from the counter streams."""
import numpy as np
from numba import njit

from .._core.codes import WITH_REPLACEMENT, TAU_NICE, INDEPENDENT
from .._core.rng import uniform

FASTMATH = {"reassoc", "contract", "nsz"}


@njit(cache=True, fastmath=FASTMATH)
def draw_batch(S, n, key, step, idx, w):
    """Fill idx/w with the minibatch of ``step`` for the sampler ``S`` (``args.SamplerArgs``);
    return its size (the rules are in the ``sampling`` docstring)."""
    kind, batch, uniform_p, table, offsets, weights = (S.kind, S.batch, S.uniform_p, S.table,
                                                       S.offsets, S.weights)
    base = step * S.uniforms
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
