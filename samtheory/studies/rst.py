r"""Study 4 — RST / G-RST: accuracy per gradient evaluation, and the error floor in p̄.

Setting: ``problems.random_logistic(64, 8, seed=3)`` (the example problem of
``theory.rst_bound``), uniform τ-nice minibatches of b = 8, constant step η = 1/(4β) with
β = L_max (the largest step ``theory.rst_bound_published`` admits; ``theory.rst_bound`` admits up
to 1/(4L)) and radius ρ = 0.3 (normalised ascent).

**Accuracy against gradient evaluations.** RST draws X_t ~ Bernoulli(p_t) per step: a SAM
step (2 gradients) if X_t = 1, else an SGD step (1 gradient). Every schedule of docs/theory.md §3
is run at p̄ ≈ ½ — constant ½, piecewise 0 → 1 at τ = ½, linear 0 → 1, trigonometric
increasing and decreasing between 0 and 1 — with G-RST (constant p = ½, α = 1: α-mixing
g + (α/p)(h − g), whose expected direction is SAM's, and radius scaling ρ/p), beside SGD
(p = 0) and SAM (p = 1). Claims per method: every trajectory's evaluation count is
T + #{U_t < p_t} exactly, the mean number of gradient evaluations at T equals T(1 + p̄)
(tested with the known variance; zero for p ∈ {0, 1}), and (info) E‖∇f(x_T)‖² with its
interval at that cost. The figure shows the mean ‖∇f(x_t)‖² (98 % band) against the mean
evaluations spent up to t.

**Error floor against p̄.** Constant p ∈ ``floor_p`` for T_floor steps; the floor F(p̄) is
the plateau of ‖∇f(x_t)‖² (mean over the last half of the records, per trajectory first;
``fit.plateau``). The theorem's bound (``theory.rst_bound``, the tightest derived form) is

    (1/T) Σ_t E‖∇f(x_t)‖² ≤ 2δ₀/(ηT) + Lη(1 + p̄)σ² + 2L_batch²ρ²(1 + Lη) p̄,

so its p̄-dependence is the slope s_th = Lησ² + 2L_batch²ρ²(1 + Lη), the bound at p̄ = 1
minus the bound at p̄ = 0 (the published form's slope 2β²ρ²(1 + 2βη), β = L_max, is 3× larger
here). Claim: the least-squares slope of
F against p̄ (bootstrap standard error over trajectories, the runs independent) is at most
s_th (and, info, the increase F(1) − F(0) against s_th). ``theory.check`` of the bound at
two constant p̄ values gives two more rows.
"""
import math
import time

import numpy as np

from .. import fit, problems, rules, theory
from ..engine.simulate import simulate
from ..plots import band, plt, save_figure
from ..sampling import TauNice, draw_coins
from ..schedules import Constant, Linear, Piecewise, TrigDecreasing, TrigIncreasing
from .base import Claim, StudyResult, check_values, checked, decided_claim, exact_claim, mean_ci, prepare, run_seed

NAME = "rst"
TITLE = "RST / G-RST: accuracy per gradient evaluation and the error floor in p̄"
SOURCE = "derived (docs/theory.md §4, §5)"
CONFIG = {
    "quick": dict(steps=400, trajectories=64, floor_steps=3000, floor_trajectories=32,
                  floor_p=(0.0, 0.25, 0.5, 0.75, 1.0), check_p=(0.25, 0.75), check_trajectories=64,
                  n_boot=500),
    "full": dict(steps=2000, trajectories=512, floor_steps=8000, floor_trajectories=256,
                 floor_p=tuple(np.linspace(0, 1, 9)), check_p=(0.25, 0.75), check_trajectories=512,
                 n_boot=2000),
}
BATCH = 8
RHO = 0.3
ALPHA = 1.0
METHODS = {                  # label → make_rule(η, ρ)
    "SGD (p=0)": lambda eta, rho: rules.RST(eta, rho, 0.0),
    "constant ½": lambda eta, rho: rules.RST(eta, rho, Constant(0.5)),
    "piecewise 0→1": lambda eta, rho: rules.RST(eta, rho, Piecewise(0.0, 1.0, 0.5)),
    "linear 0→1": lambda eta, rho: rules.RST(eta, rho, Linear(0.0, 1.0)),
    "trig increasing": lambda eta, rho: rules.RST(eta, rho, TrigIncreasing(0.0, 1.0)),
    "trig decreasing": lambda eta, rho: rules.RST(eta, rho, TrigDecreasing(0.0, 1.0)),
    "G-RST mix, p=½": lambda eta, rho: rules.GRST(eta, rho, Constant(0.5), ALPHA, mode="mix"),
    "G-RST radius, p=½": lambda eta, rho: rules.GRST(eta, rho, Constant(0.5), ALPHA, mode="radius"),
    "SAM (p=1)": lambda eta, rho: rules.RST(eta, rho, 1.0),
}


def make_problem():
    """The logistic problem of the study (``theory.rst_bound``'s example problem)."""
    return problems.random_logistic(64, 8, seed=3)


def floor_slope(p_values, samples, n_boot=1000, seed=0):
    r"""Least-squares slope of the mean floor against p̄, with its bootstrap standard error.

    ``samples[k]`` holds one floor value per trajectory of the independent run at
    ``p_values[k]``. The point estimate fits m_k = a + s p_k through the means m_k; a
    replicate resamples each run's trajectories with replacement (independently across
    runs) and refits. Returns (s, standard deviation of the replicates)."""
    p = np.asarray(p_values, dtype=float)
    design = np.linalg.pinv(np.column_stack([np.ones_like(p), p]))[1]   # row giving the slope
    rng = np.random.default_rng(seed)
    means = np.array([np.mean(s) for s in samples])
    boot = np.column_stack([rng.multinomial(len(s), np.full(len(s), 1 / len(s)), size=n_boot) @ s / len(s)
                            for s in samples])
    return float(design @ means), float(np.std(boot @ design, ddof=1))


def evaluations_claim(label, out, seed, configuration):
    r"""E[gradient evaluations at T] = T(1 + p̄), checked two ways (two rows).

    Exactly, per trajectory: step t costs 1 + X_t evaluations with X_t = 1[U_t < p_t], U_t
    the run's coin uniforms (``sampling.draw_coins``), so N = T + Σ_t X_t to the integer: the
    first row counts the trajectories where it fails (expected 0). In distribution: N has
    mean T(1 + p̄) and the known variance Σ_t p_t(1 − p_t), so the mean over R trajectories
    has standard error √(Σ p(1 − p)/R): the second row tests the equality with it (normal)."""
    p = out.schedules["perturb_prob"]
    T, evals = p.size, out.metrics["grad_evals"][:, -1]
    wrong = int(np.count_nonzero(evals != T + (draw_coins(T, evals.size, seed) < p).sum(axis=1)))
    expected, stderr = T * (1 + float(p.mean())), math.sqrt(float(np.sum(p * (1 - p))) / evals.size)
    configuration = f"{configuration}, p̄={p.mean():.4g}"
    return [exact_claim(f"{label}: trajectories whose count ≠ T + #{{U_t < p_t}}", SOURCE, configuration,
                        wrong, 0, note=f"of {evals.size} trajectories"),
            decided_claim(f"{label}: E[gradient evaluations] = T(1 + p̄)", SOURCE, configuration,
                          float(evals.mean()), stderr, expected, kind="equal",
                          note="standard error from the known variance Σp(1−p)")]


# -- points -------------------------------------------------------------------------------------

def step_size(problem):
    """η = 1/(4β), β = L_max: the largest step ``theory.rst_bound_published`` admits."""
    return 1.0 / (4.0 * problem.L_max)


def method_point(method, T, trajectories, seed):
    """One method of ``METHODS`` for T steps, recorded every T/50 steps."""
    problem = make_problem()
    out = simulate(problem, METHODS[method](step_size(problem), RHO), TauNice(BATCH), steps=T,
                   trajectories=trajectories, seed=seed, record_every=max(1, T // 50))
    return {"run": out}


def floor_point(p, steps, trajectories, seed):
    """RST with constant p for ``steps`` steps, recorded every steps/100 (the floor F(p))."""
    problem = make_problem()
    out = simulate(problem, rules.RST(step_size(problem), RHO, Constant(p)), TauNice(BATCH), steps=steps,
                   trajectories=trajectories, seed=seed, record_every=max(1, steps // 100))
    return {"run": out}


def check_point(p, T, trajectories, seed):
    """``theory.check`` of ``theory.rst_bound`` with constant p."""
    problem = make_problem()
    result = theory.check(theory.rst_bound(), problem=problem, rule=rules.RST(step_size(problem), RHO, Constant(p)),
                          sampler=TauNice(BATCH), steps=T, trajectories=trajectories, seed=seed)
    return check_values(result)


TASKS = {"method": method_point, "floor": floor_point, "check": check_point}


def units(size):
    """The study's points (``progress`` calls): the methods, the floor runs and the checks."""
    cfg = CONFIG[size]
    return len(METHODS) + len(cfg["floor_p"]) + len(cfg["check_p"])


def run(size="quick", outdir=".", seed=0, progress=None, store=None, executor=None):
    """Run the study (its points through ``samtheory.sweep``, in ``store`` on ``executor``);
    write figures into ``outdir``; return a ``StudyResult``."""
    start = time.perf_counter()
    cfg, outdir, compute = prepare(NAME, CONFIG, size, outdir, progress, store, executor)
    problem, sampler = make_problem(), TauNice(BATCH)
    eta = step_size(problem)
    setting = (f"logistic n={problem.n} d={problem.d}, τ-nice b={BATCH}, η=1/(4β)={eta:.4g}, "
               f"ρ={RHO:g}")
    claims, curves = [], {}
    T = cfg["steps"]
    floors = [dict(task="floor", p=p, steps=cfg["floor_steps"], trajectories=cfg["floor_trajectories"],
                   seed=run_seed(seed, 500 + k)) for k, p in enumerate(cfg["floor_p"])]
    methods = [dict(task="method", method=label, T=T, trajectories=cfg["trajectories"], seed=run_seed(seed, k))
               for k, label in enumerate(METHODS)]
    checks = [dict(task="check", p=p, T=T, trajectories=cfg["check_trajectories"], seed=run_seed(seed, 1000 + j))
              for j, p in enumerate(cfg["check_p"])]
    floor_values, method_values, check_results = compute(floors, methods, checks)    # the longest runs first
    for k, (label, out) in enumerate(zip(METHODS, (v["run"] for v in method_values))):
        claims.extend(evaluations_claim(label, out, run_seed(seed, k), f"{setting}, T={T}"))
        expected = T * (1 + float(out.schedules["perturb_prob"].mean()))
        final = fit.final_values(out, "grad_norm_sq")
        mean, low, high = mean_ci(final)
        claims.append(Claim(claim=f"{label}: E‖∇f(x_T)‖² at T(1 + p̄) evaluations", source=SOURCE,
                            configuration=f"{setting}, T={T}", empirical=mean, ci_low=low, ci_high=high,
                            bound=float("nan"), verdict="info", kind="info",
                            note=f"{expected:.0f} expected gradient evaluations"))
        curves[label] = (out.metrics["grad_evals"].mean(axis=0),
                         np.array([mean_ci(column) for column in out.metrics["grad_norm_sq"].T]).T)

    floor_rows, floor_claims = _floor(problem, sampler, eta, cfg, seed, setting, [v["run"] for v in floor_values])
    claims.extend(floor_claims)
    for p, result in zip(cfg["check_p"], check_results):
        claims.append(Claim.from_check(checked(result), f"{setting}, constant p={p:g}, T={T}",
                                       theory.rst_bound().source))
    figures = [_accuracy_figure(outdir, curves, setting), _floor_figure(outdir, *floor_rows)]
    return StudyResult(NAME, TITLE, claims, figures, time.perf_counter() - start)


def _floor(problem, sampler, eta, cfg, seed, setting, runs):
    """Floors at constant p̄ (``runs``: one per ``cfg["floor_p"]``), the slope claim and the
    increase row."""
    p_values = cfg["floor_p"]
    samples = [fit.tail_means(out, "grad_norm_sq", tail=0.5) for out in runs]
    floors = [fit.plateau(out, "grad_norm_sq", tail=0.5).size for out in runs]
    theorem = theory.rst_bound()       # its bound is affine in p̄: the slope is B(1) − B(0)
    numbers, _ = theorem.numbers(problem, rules.RST(eta, RHO, Constant(0.0)), sampler, cfg["floor_steps"])
    slope_th = theorem.bound_value({**numbers, "p_bar": 1.0}) - theorem.bound_value({**numbers, "p_bar": 0.0})
    slope, stderr = floor_slope(p_values, samples, cfg["n_boot"], seed)
    config = f"{setting}, T={cfg['floor_steps']}, p̄ ∈ {{{', '.join(f'{p:g}' for p in p_values)}}}"
    rise = floors[-1].estimate - floors[0].estimate
    claims = [
        decided_claim("floor slope dF/dp̄ ≤ Lησ² + 2L_batch²ρ²(1 + Lη)",
                      "derived (docs/theory.md §5, rst_bound)", config, slope, stderr, slope_th,
                      note="F = plateau of ‖∇f(x_t)‖² over the last half; least-squares slope, bootstrap "
                           "standard error over trajectories; bound: rst_bound's p̄-slope"),
        Claim(claim="floor increase F(p̄ = max) − F(p̄ = min)", source=SOURCE, configuration=config,
              empirical=rise, ci_low=rise, ci_high=rise,
              bound=slope_th * (p_values[-1] - p_values[0]), verdict="info", kind="info",
              note=f"F(min) = {floors[0]}, F(max) = {floors[-1]}; bound = the theorem's floor term"),
    ]
    return (p_values, floors, slope, slope_th), claims


def _accuracy_figure(outdir, curves, setting):
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, (evals, (mean, low, high)) in curves.items():
        band(ax, evals, mean, low, high, label=label, lw=1.2)
        ax.errorbar(evals[-1], mean[-1], yerr=[[mean[-1] - low[-1]], [high[-1] - mean[-1]]], fmt="o",
                    ms=3, color=ax.lines[-1].get_color(), capsize=2)
    ax.set_yscale("log")
    ax.set_xlabel("mean gradient evaluations spent")
    ax.set_ylabel("E‖∇f(x_t)‖² (95% CI)")
    ax.set_title(setting, fontsize=8)
    ax.legend(fontsize=7, ncol=2)
    return save_figure(fig, outdir / "rst_accuracy")


def _floor_figure(outdir, p_values, floors, slope, slope_th):
    fig, ax = plt.subplots(figsize=(5, 3.6))
    means = np.array([f.estimate for f in floors])
    errors = np.array([[f.estimate - f.ci_low, f.ci_high - f.estimate] for f in floors]).T
    ax.errorbar(p_values, means, yerr=errors, fmt="o", capsize=3, label="floor F(p̄) (95% CI)")
    p = np.linspace(0, 1, 50)
    intercept = means.mean() - slope * np.mean(p_values)
    ax.plot(p, intercept + slope * p, "C0-", lw=1, label=f"fit: slope {slope:.3g}")
    ax.plot(p, means[0] + slope_th * (p - p_values[0]), "k--", lw=1,
            label=f"F(0) + (Lησ² + 2L_batch²ρ²(1+Lη))p̄, slope {slope_th:.3g}")
    ax.set_yscale("log")
    ax.set_xlabel("p̄ (constant schedule)")
    ax.set_ylabel("floor of ‖∇f(x_t)‖²")
    ax.legend(fontsize=7)
    return save_figure(fig, outdir / "rst_floor")
