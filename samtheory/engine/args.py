"""The compiled kernel's arguments, grouped in named structures.

Numba compiles a namedtuple argument to a struct whose fields are read by name,
so two floats swapped at a call site are a compile-time or test-time error, not a
silent change of meaning. ``engine.simulate`` builds these from the problem, the
sampler and the rule, casting every field to one fixed type (Python floats,
ints and bools, writable C-contiguous arrays) so that each problem kind compiles once.

Floating-point flags of every kernel function (``FASTMATH``) allow reassociation
and contraction (SIMD reductions and FMA) but keep NaN/inf semantics, which
divergence detection relies on.
"""
from collections import namedtuple

import numpy as np

FASTMATH = {"reassoc", "contract", "nsz"}
GUARD = 1e-12   # added to norms before dividing by them

# The generalised linear problem (problems.FiniteSum), read by engine.glm.
GLMData = namedtuple("GLMData", "loss_kind reg_kind A y s c z H lin c0 x_star exact_gap f_ref")
# The sampler (sampling.BoundSampler), read by engine.draw.draw_batch.
SamplerArgs = namedtuple("SamplerArgs", "kind uniform_p batch max_batch uniforms table offsets weights")
# The rule (rules.Rule): per-step schedules and the discrete choices as numbers.
RuleArgs = namedtuple("RuleArgs", "lr rho lam prob ascent indep_ascent grst_mode alpha stable cap "
                                  "base beta1 beta2 eps amsgrad bias_correction")
# What to record: seed, record steps, running sums over all iterates (track), x* (for
# dist_sq), sharpness (track_sharpness: λ_max, trace, balance), the loop iterations to run.
Control = namedtuple("Control", "seed record_steps track x_star has_x_star sharpness "
                                "t_start t_stop")
# (trajectories, records) outputs; the sharpness ones are (trajectories, 0) when not tracked.
Outputs = namedtuple("Outputs", "gap grad dist evals avg min sharpness trace balance")
# What a trajectory carries from one loop iteration to the next (engine.kernel.run).
State = namedtuple("State", "x m v vhat evals rec run_sum run_min diverged_at")


def custom_data(data, n, f_ref):
    """A per-sample (``problems.Custom``) problem's data, read by ``engine.per_sample``: the
    user's arrays followed by the array [n, f_ref] (f_ref: the value subtracted from f in the
    loss gap). A flat tuple, not a namedtuple holding the user's tuple: Numba's parallel loop
    cannot take a tuple nested in a tuple as an argument."""
    return tuple(data) + (np.array([float(n), float(f_ref)]),)
