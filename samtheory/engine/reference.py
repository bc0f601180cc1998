r"""The plain NumPy reference engine: one trajectory, one step at a time.

This module is the executable specification of ``simulate``. It is written
for clarity, not speed, and independently of the Numba kernel: it follows the
step definition in the ``rules`` module docstring and the metric definitions
in ``results``, and it replays the exact randomness of a run from the public
streams of ``sampling``:

- the descent minibatch S_t of trajectory r: ``sampling.draw(..., substream=DESCENT)``;
- the independent ascent minibatch S'_t: ``sampling.draw(..., substream=ASCENT)``;
- the RST coin U[r, t]: ``sampling.draw_coins``; step t perturbs iff
  ρ_t > 0 and U[r, t] < p_t.

The minibatch gradient is ∇f_S(x) = Σ_k w_k ∇f_{i_k}(x) over the first
``counts[r, t]`` draws of the stream (``problem.sample_gradients``); the full
metrics use ``problem.loss_gap`` and ``problem.gradient``.

Divergence: a trajectory is frozen (never updated again) as soon as its
iterate has a non-finite entry after an update of step t (``diverged_at`` =
t + 1), or a recorded ``loss_gap`` / ``grad_norm_sq`` at record step t is
non-finite (``diverged_at`` = t; that record keeps the values computed).
Every later record is NaN, except ``grad_evals``, which keeps the count spent
at the divergence.
"""
import numpy as np

from .. import sampling
from .._core import rng

GUARD = 1e-12   # added to norms before dividing by them


def simulate_reference(problem, rule, sampler, *, steps, trajectories, seed, record_steps, x0,
                       track_iterates, track_sharpness=False):
    """Run ``rule`` on ``problem`` with plain NumPy; same outputs as the Numba engine.

    Parameters
    ----------
    problem : problems.FiniteSum
    rule : rules.Rule
    sampler : sampling.Sampler
    steps, trajectories : int
    seed : int
    record_steps : (records,) int array
        Increasing step indices in [0, steps] at which metrics are recorded.
    x0 : (trajectories, d) array
        Starting points.
    track_iterates : bool
        Also record the running mean and minimum of ‖∇f(x_s)‖² over s < t.
    track_sharpness : bool
        Also record λ_max and the trace of the dense ``problem.hessian_at(x_t)`` (exact at
        every dimension) and ``problem.balance(x_t)`` where the problem has one.

    Returns
    -------
    metrics : dict of name -> (trajectories, records) array
    final_x : (trajectories, d) array
    diverged_at : (trajectories,) int64 array, −1 where the run never diverged
    """
    record_steps = np.asarray(record_steps, dtype=np.int64)
    x0 = np.asarray(x0, dtype=np.float64)
    schedule = rule.arrays(steps)   # (lr, rho, lam, perturb_prob), each (steps,)
    descent = sampling.draw(sampler, problem, steps, trajectories, seed, substream=rng.DESCENT)
    ascent = sampling.draw(sampler, problem, steps, trajectories, seed, substream=rng.ASCENT)
    coins = sampling.draw_coins(steps, trajectories, seed)

    names = ["loss_gap", "grad_norm_sq", "grad_evals"]
    if problem.x_star is not None:
        names.append("dist_sq")
    if track_iterates:
        names += ["avg_grad_norm_sq", "min_grad_norm_sq"]
    if track_sharpness:
        names += ["sharpness", "hessian_trace"]
        if getattr(problem, "balance_function", None) is not None:
            names.append("balance")
    metrics = {name: np.full((trajectories, record_steps.size), np.nan) for name in names}
    final_x = np.empty_like(x0)
    diverged_at = np.full(trajectories, -1, dtype=np.int64)

    with np.errstate(over="ignore", invalid="ignore"):   # divergence is detected, not warned
        for r in range(trajectories):
            final_x[r], diverged_at[r] = _run_trajectory(
                problem, rule, schedule, descent, ascent, coins[r], r, x0[r], steps, record_steps,
                track_iterates, metrics)
    metrics["grad_evals"] = metrics["grad_evals"].astype(np.int64)   # every entry is set
    return metrics, final_x, diverged_at


# -- one trajectory ----------------------------------------------------------

def _run_trajectory(problem, rule, schedule, descent, ascent, coins, r, x, steps, record_steps,
                    track_iterates, metrics):
    """Run trajectory ``r`` from ``x``, writing its row of every metric; return (x, diverged_at)."""
    x = x.copy()
    state = _BaseState(rule, x.size)
    grad_evals = 0
    sum_grad_sq, min_grad_sq = 0.0, np.inf    # over the iterates x_0 .. x_{t−1}
    j = 0                                     # the next record
    diverged_at = -1

    for t in range(steps + 1):
        grad_sq_t = None
        if track_iterates:
            grad_sq_t = _squared_norm(problem.gradient(x))
        if j < record_steps.size and record_steps[j] == t:
            gap = problem.loss_gap(x)
            grad_sq = grad_sq_t if grad_sq_t is not None else _squared_norm(problem.gradient(x))
            metrics["loss_gap"][r, j] = gap
            metrics["grad_norm_sq"][r, j] = grad_sq
            metrics["grad_evals"][r, j] = grad_evals
            if "dist_sq" in metrics:
                metrics["dist_sq"][r, j] = _squared_norm(x - problem.x_star)
            if track_iterates:
                metrics["avg_grad_norm_sq"][r, j] = grad_sq if t == 0 else sum_grad_sq / t
                metrics["min_grad_norm_sq"][r, j] = grad_sq if t == 0 else min_grad_sq
            if "sharpness" in metrics and np.isfinite(gap) and np.isfinite(grad_sq):
                hessian = problem.hessian_at(x)
                metrics["sharpness"][r, j] = np.linalg.eigvalsh(hessian)[-1]
                metrics["hessian_trace"][r, j] = np.trace(hessian)
                if "balance" in metrics:
                    metrics["balance"][r, j] = problem.balance(x)
            j += 1
            if not (np.isfinite(gap) and np.isfinite(grad_sq)):
                diverged_at = t      # this record keeps its non-finite values
                break
        if t == steps:
            break
        if track_iterates:
            sum_grad_sq += grad_sq_t
            min_grad_sq = min(min_grad_sq, grad_sq_t)

        x, evals = _step(problem, rule, schedule, descent, ascent, coins, r, t, x, state)
        grad_evals += evals
        if not np.all(np.isfinite(x)):
            diverged_at = t + 1
            break

    # Later records stay NaN, except the evaluation count, frozen at the divergence.
    metrics["grad_evals"][r, j:] = grad_evals
    return x, diverged_at


# -- one step ----------------------------------------------------------------

def _step(problem, rule, schedule, descent, ascent, coins, r, t, x, state):
    """One update x_t -> x_{t+1} (rules module docstring); return (x_{t+1}, gradients spent)."""
    lr, rho, lam, prob = (values[t] for values in schedule)
    evals = 0

    def gradient(stream, point):
        nonlocal evals
        evals += 1
        return _minibatch_gradient(problem, stream, r, t, point)

    perturb = rho > 0.0 and coins[t] < prob
    if not perturb:
        h = gradient(descent, x)
    else:
        same_batch_ascent = rule.ascent == "gradient" and rule.ascent_batch == "same"
        needs_g = same_batch_ascent or rule.stable or rule.grst_mode == "mix"
        g = gradient(descent, x) if needs_g else None

        if rule.ascent == "momentum":
            d = -state.m              # the momentum buffer before this step's update
        elif rule.ascent_batch == "independent":
            d = gradient(ascent, x)
        else:
            d = g

        radius = rule.grst_alpha * rho / prob if rule.grst_mode == "radius" else rho
        e = radius * (1.0 - lam + lam / (np.linalg.norm(d) + GUARD)) * d
        h = gradient(descent, x + e)

        if rule.grst_mode == "mix":
            h = g + (rule.grst_alpha / prob) * (h - g)
        if rule.stable:
            h_norm = np.linalg.norm(h)
            # an overflowing ‖h‖ would give scale 0 (a frozen iterate): NaN means diverged
            scale = np.linalg.norm(g) / (h_norm + GUARD) if np.isfinite(h_norm) else np.nan
            if rule.stable_cap:
                scale = min(1.0, scale)
            h = scale * h

    return state.update(x, h, lr, t), evals


def _minibatch_gradient(problem, stream, r, t, x):
    """∇f_S(x) = Σ_k w_k ∇f_{i_k}(x) over the draws of step t of trajectory r."""
    count = stream.counts[r, t]
    indices = stream.indices[r, t, :count]
    weights = stream.weights[r, t, :count]
    return weights @ problem.sample_gradients(x, indices)


class _BaseState:
    """The base optimiser's buffers and its step on a descent direction h."""

    def __init__(self, rule, d):
        self.rule = rule
        self.m = np.zeros(d)                       # momentum (heavy ball) or first moment (adam)
        self.v = np.zeros(d)                       # second moment (adam)
        self.vhat = np.full(d, rule.vhat_init)     # running max of v (amsgrad)

    def update(self, x, h, lr, t):
        rule = self.rule
        if rule.base == "sgd":
            return x - lr * h
        if rule.base == "heavyball":
            self.m = rule.momentum * self.m + h
            return x - lr * self.m
        # adam
        beta1, beta2 = rule.momentum, rule.beta2
        self.m = beta1 * self.m + (1.0 - beta1) * h
        self.v = beta2 * self.v + (1.0 - beta2) * h ** 2
        self.vhat = np.maximum(self.vhat, self.v) if rule.amsgrad else self.v
        if rule.bias_correction:
            c1, c2 = 1.0 - beta1 ** (t + 1), 1.0 - beta2 ** (t + 1)
        else:
            c1 = c2 = 1.0
        return x - lr * (self.m / c1) / (np.sqrt(self.vhat / c2) + rule.eps)


def _squared_norm(v):
    return float(v @ v)
