r"""Study 1 — AdaSAM: the O(1/√(bT)) rate and its linear speedup in the batch size b.

The claim (``theory.adasam_rate``, the tightest derived form, docs/theory.md §5.4):
AdaSAM with β1 = 0, γ = c√(b/T), ρ = r/√(bT) and γ ≤ ε²/(4LĜ) satisfies

    E_T := (1/T) Σ_{t<T} E‖∇f(x_t)‖² ≤ 4Ĝ(f(x_0) − f*)/(γT) + 2ĜL_batch²ρ²/ε
                                      + (4LĜγ/ε²)(σ² + L_batch²ρ²) + 4G²d(Ĝ − ε)/(εT),

every term O(1/√(bT)) (σ² = s²/b for a uniform minibatch), hence the rate O(1/√(bT))
and a linear speedup in b: doubling b halves the steps needed.

Setting. ``problems.random_logistic(64, 8, seed=3)`` (bounded per-sample gradients:
G = max‖∇f_i‖_∞ is finite), uniform sampling with replacement ``WithReplacement(b)``,
ε = G/2 (so Ĝ = G and the adaptive denominator √v̂ > ε on coordinates with |h_j| > ε),
β2 = 0.99, r = 0.1. The grid is b ∈ ``batches`` × T ∈ ``horizons``; the step constant is
c = γ_max √(T_min/b_max) with γ_max = ε²/(4LĜ) (``Theorem.largest``), so the condition
γ = c√(b/T) ≤ γ_max holds at every grid point, with equality at (b_max, T_min).
Each grid point is an independent run (its own seed), measured by the running average
``avg_grad_norm_sq`` at t = T (``track_iterates=True``).

Claims.
(a) ``theory.check`` on a reference grid point, and the bound at every grid point.
(b) The fitted exponents of E_T ≈ C b^(−α_b) T^(−α_T) and E_T ≈ C (bT)^(−α)
    (``fit.linear_speedup``). The theorem is an upper bound, so an exponent ≥ ½ (faster
    decay) is consistent with it; the data contradict O(1/√(bT)) only when E_T·√(bT)
    grows with bT. The claim α ≥ ½ − ``EXPONENT_SLACK`` (a pre-asymptotic grid, where
    E_T·√(bT) still creeps up to its limit, may fall short of ½ by a few hundredths without
    contradicting a rate) is decided by ``verdicts.decide`` with the bootstrap standard
    error: violated when rejected at level 0.01. α_b − α_T (0 when E_T depends on bT only)
    is reported.
(c) Comparators on the same grid (info): AdaSAM with β1 = 0.9 (outside the theorem's
    setting), AMSGrad (ρ = 0, same γ and ε), and SAM and SGD with step γ/ε — AdaSAM's
    step on a coordinate whose v̂ stays at ε², the largest step AdaSAM takes.

Finding. The condition γ ≤ ε²/(4LĜ) makes the admissible step shrink like ε² once ε < G,
so a grid on which the rate is visible within a few thousand steps needs ε of the order
of G; then |h_j| ≤ ε in practice, v̂ never leaves ε², and AdaSAM (β1 = 0) is SAM with
step γ/ε, trajectory for trajectory (the comparator rows say when they coincide). With
ε ≤ G/10 the adaptive denominator acts, but the admissible steps are so small that
E_T barely moves at the smallest bT: the theorem covers the adaptive regime only
through tiny steps.
"""
import time

import numpy as np

from .. import fit, problems, rules, theory, verdicts
from ..engine.simulate import simulate
from ..plots import band, plt, save_figure
from ..sampling import WithReplacement
from ..schedules import adasam_lr, adasam_rho
from .base import Claim, StudyResult, check_values, checked, decided_claim, mean_ci, prepare, run_seed

NAME = "adasam"
TITLE = "AdaSAM: O(1/√(bT)) rate and linear speedup in b"
SOURCE = "Sun et al. 2023 (rate); constants derived"
CONFIG = {
    "quick": dict(batches=(1, 2, 4, 8), horizons=(128, 512, 2048), trajectories=100, n_boot=500),
    "full": dict(batches=(1, 2, 4, 8, 16), horizons=(256, 1024, 4096, 16384), trajectories=1000,
                 n_boot=2000),
}
RATE = 0.5              # the theorem's exponent of 1/(bT)
EXPONENT_SLACK = 0.05   # see the module docstring, claim (b)
BETA2 = 0.99
RADIUS_SCALE = 0.1      # r in ρ = r/√(bT)
EPS_FRACTION = 0.5      # ε = EPS_FRACTION · G


def make_problem():
    """The logistic problem of the study (the theorem's example problem)."""
    return problems.random_logistic(64, 8, seed=3)


def _methods(eps):
    """name → (make_rule(b, T, c), in the theorem's setting?)."""
    def adasam(beta1):
        return lambda b, T, c: rules.AdaSAM(adasam_lr(c, b, T), adasam_rho(RADIUS_SCALE, b, T),
                                            beta1=beta1, beta2=BETA2, eps=eps)
    return {
        "AdaSAM β1=0": adasam(0.0),
        "AdaSAM β1=0.9": adasam(0.9),
        "AMSGrad β1=0": lambda b, T, c: rules.AMSGrad(adasam_lr(c, b, T), beta1=0.0, beta2=BETA2, eps=eps),
        "SAM, step γ/ε": lambda b, T, c: rules.SAM(adasam_lr(c / eps, b, T),
                                                   adasam_rho(RADIUS_SCALE, b, T)),
        "SGD, step γ/ε": lambda b, T, c: rules.SGD(adasam_lr(c / eps, b, T)),
    }


THEOREM_METHOD = "AdaSAM β1=0"
# Pairs that coincide exactly when v̂ stays at ε² (every |h_j| ≤ ε): the note says so.
MATCHED = {"SAM, step γ/ε": THEOREM_METHOD, "SGD, step γ/ε": "AMSGrad β1=0"}


def step_constant(theorem, problem, eps, batches, horizons):
    r"""c = γ_max √(T_min/b_max): the largest c with c√(b/T) ≤ γ_max on the whole grid.

    γ_max = sup{γ : the theorem's conditions hold} (``Theorem.largest``), which here is
    ε²/(4LĜ) and does not depend on b or T."""
    rule = rules.AdaSAM(1.0, 0.01, beta1=0.0, beta2=BETA2, eps=eps)
    gamma_max = theorem.largest("gamma", problem, rule, WithReplacement(max(batches)), min(horizons))
    return gamma_max * np.sqrt(min(horizons) / max(batches))


def one_sided_exponent_claim(claim, estimate, configuration, expected=RATE, slack=EXPONENT_SLACK,
                             source=SOURCE):
    """A row for "the error decays at least like N^(−expected)": the lower claim
    exponent ≥ ``expected`` − ``slack``, decided with the bootstrap standard error."""
    return decided_claim(claim, source, configuration, estimate.estimate, estimate.stderr, expected,
                         kind="lower", floor=slack,
                         note=f"one-sided: exponent ≥ {expected:g} is consistent (faster than the bound); "
                              f"slack {slack:g} for a pre-asymptotic grid")


def _grid_bound_claim(theorem, problem, grid, samples, rules_at, eps):
    """Hold every grid point's measured E_T against the theorem's bound there (one row,
    ``verdicts.combine`` over the points)."""
    worst, decisions = None, []
    for (b, T), sample, rule in zip(grid, samples, rules_at):
        numbers, schedules = theorem.numbers(problem, rule, WithReplacement(b), T)
        bound = theorem.bound_value(numbers, schedules)
        finite = np.asarray(sample)[np.isfinite(sample)]
        estimate = verdicts.sample_mean(finite)
        decisions.append(verdicts.decide(estimate.mean, estimate.stderr, bound, df=estimate.df,
                                         floor=theorem.quantity.floor(problem),
                                         diverged=len(sample) - finite.size,
                                         inconclusive=verdicts.heavy_tail(finite)))
        low, high = estimate.interval()
        if worst is None or high / bound > worst[0]:
            worst = (high / bound, b, T, estimate.mean, low, high, bound)
    decision = verdicts.combine(decisions)
    _, b, T, mean, low, high, bound = worst
    held = sum(d.verdict == "holds" for d in decisions)
    return Claim(claim="AdaSAM bound at every grid point", source=SOURCE,
                 configuration=f"{len(grid)} grid points; worst b={b}, T={T}, ε={eps:.3g}",
                 empirical=mean, ci_low=low, ci_high=high, bound=bound, verdict=decision.verdict,
                 note=f"{held} of {len(grid)} not rejected; {decision.note}", p_value=decision.p_value)


# -- points -------------------------------------------------------------------------------------

def simulate_point(method, b, T, c, eps, trajectories, seed):
    """One method at one grid point: each trajectory's (1/T) Σ_{t<T} ‖∇f(x_t)‖²."""
    rule = _methods(eps)[method](b, T, c)
    out = simulate(make_problem(), rule, WithReplacement(b), steps=T, trajectories=trajectories, seed=seed,
                   record_every=T, track_iterates=True)
    return {"avg_grad_norm_sq": fit.final_values(out, "avg_grad_norm_sq")}


def check_point(b, T, c, eps, trajectories, seed):
    """``theory.check`` of the theorem at one grid point (AdaSAM, β1 = 0)."""
    result = theory.check(theory.adasam_rate(), problem=make_problem(), rule=_methods(eps)[THEOREM_METHOD](b, T, c),
                          sampler=WithReplacement(b), steps=T, trajectories=trajectories, seed=seed)
    return check_values(result)


TASKS = {"simulate": simulate_point, "check": check_point}


def units(size):
    """The study's points (``progress`` calls): one per simulated grid point and method, and
    one for the reference check."""
    cfg = CONFIG[size]
    return len(_methods(1.0)) * len(cfg["batches"]) * len(cfg["horizons"]) + 1


def run(size="quick", outdir=".", seed=0, progress=None, store=None, executor=None):
    """Run the study (its points through ``samtheory.sweep``, in ``store`` on ``executor``);
    write figures into ``outdir``; return a ``StudyResult``."""
    start = time.perf_counter()
    cfg, outdir, compute = prepare(NAME, CONFIG, size, outdir, progress, store, executor)
    theorem = theory.adasam_rate()
    problem = make_problem()
    G = theory.gradient_bounds(problem, WithReplacement(1))[0]
    eps = EPS_FRACTION * G
    batches, horizons = cfg["batches"], cfg["horizons"]
    c = step_constant(theorem, problem, eps, batches, horizons)
    grid = [(b, T) for b in batches for T in horizons]
    setting = (f"logistic n={problem.n} d={problem.d}, uniform b, γ={c:.3g}√(b/T), "
               f"ρ={RADIUS_SCALE:g}/√(bT), ε={eps:.3g}")

    methods = _methods(eps)
    b_ref, T_ref = batches[len(batches) // 2], horizons[len(horizons) // 2]
    common = dict(c=float(c), eps=float(eps), trajectories=cfg["trajectories"])
    points = [dict(task="simulate", method=name, b=b, T=T, seed=run_seed(seed, k), **common)
              for name in methods for k, (b, T) in enumerate(grid)]
    simulated, (reference,) = compute(points, [dict(task="check", b=b_ref, T=T_ref, seed=run_seed(seed, len(grid)),
                                                    **common)])
    samples = {name: [] for name in methods}
    rules_at = {name: [] for name in methods}
    for point, values in zip(points, simulated):
        samples[point["method"]].append(values["avg_grad_norm_sq"])
        rules_at[point["method"]].append(methods[point["method"]](point["b"], point["T"], c))
    reference = checked(reference)
    claims = [Claim.from_check(reference, f"logistic, uniform b={b_ref}, T={T_ref}, β1=0, ε={eps:.3g}",
                               SOURCE),
              _grid_bound_claim(theorem, problem, grid, samples[THEOREM_METHOD], rules_at[THEOREM_METHOD],
                                eps)]
    b_values = [b for b, _ in grid]
    T_values = [T for _, T in grid]
    fits = {name: fit.linear_speedup(b_values, T_values, s, n_boot=cfg["n_boot"], seed=seed)
            for name, s in samples.items()}
    main = fits[THEOREM_METHOD]
    claims += [
        one_sided_exponent_claim("rate: E_T ∝ (bT)^(−α), α ≥ ½", main.alpha_bT, setting),
        one_sided_exponent_claim("speedup in b: E_T ∝ b^(−α_b), α_b ≥ ½", main.alpha_b, setting),
        one_sided_exponent_claim("rate in T: E_T ∝ T^(−α_T), α_T ≥ ½", main.alpha_T, setting),
        Claim(claim="α_b − α_T (0: E_T depends on bT only)", source=SOURCE, configuration=setting,
              empirical=main.deviation.estimate, ci_low=main.deviation.ci_low,
              ci_high=main.deviation.ci_high, bound=0.0, verdict="info", kind="info",
              note=f"bT-only log-residual rms {main.residual_rms_bT:.3g}, noise {main.noise_rms:.3g}"),
    ]
    reference_error = np.mean(samples[THEOREM_METHOD][-1])
    for name, speedup in fits.items():
        if name == THEOREM_METHOD:
            continue
        relative = np.mean(samples[name][-1]) / reference_error
        same = all(np.allclose(x, y, rtol=1e-9, atol=0) for x, y in zip(samples[name], samples[MATCHED[name]])) \
            if name in MATCHED else False
        claims.append(Claim(claim=f"comparator {name}: exponent α of (bT)", source="comparison (info)",
                            configuration="same grid, γ and ρ", empirical=speedup.alpha_bT.estimate,
                            ci_low=speedup.alpha_bT.ci_low, ci_high=speedup.alpha_bT.ci_high,
                            bound=RATE, verdict="info", kind="info",
                            note=f"E_T at b={grid[-1][0]}, T={grid[-1][1]}: {relative:.3g} × AdaSAM β1=0's"
                                 + (f"; equal to {MATCHED[name]} (to 1e-9) at every grid point (v̂ never left "
                                    "ε²: no |h_j| exceeded ε)" if same else "")))

    figures = [_rate_figure(outdir, grid, samples[THEOREM_METHOD], batches, horizons, cfg, seed),
               _collapse_figure(outdir, grid, samples[THEOREM_METHOD], main),
               _methods_figure(outdir, grid, samples, fits)]
    return StudyResult(NAME, TITLE, claims, figures, time.perf_counter() - start)


# -- figures -------------------------------------------------------------------------------

def _means(samples):
    return np.array([mean_ci(s) for s in samples]).T      # (3, K): mean, low, high


def _rate_figure(outdir, grid, samples, batches, horizons, cfg, seed):
    fig, ax = plt.subplots(figsize=(5.5, 4))
    mean, low, high = _means(samples)
    for b in batches:
        idx = [k for k, (bb, _) in enumerate(grid) if bb == b]
        T = np.array([grid[k][1] for k in idx], dtype=float)
        per_b = fit.fit_power_law_runs(T, [samples[k] for k in idx], variable="T", n_boot=cfg["n_boot"],
                                       seed=seed)
        band(ax, T, mean[idx], low[idx], high[idx], marker="o",
             label=f"b={b}: slope {fit.power_law.slope_text(per_b.alpha)}")
    ax.set(xscale="log", yscale="log", xlabel="horizon T", ylabel=r"$(1/T)\sum_t E\|\nabla f(x_t)\|^2$",
           title="AdaSAM (β1 = 0), γ = c√(b/T), ρ = r/√(bT)")
    ax.legend(fontsize=7)
    return save_figure(fig, outdir / "adasam_rate")


def _collapse_figure(outdir, grid, samples, speedup):
    fig, ax = plt.subplots(figsize=(5.5, 4))
    mean, low, high = _means(samples)
    bt = np.array([b * T for b, T in grid], dtype=float)
    for b in sorted({b for b, _ in grid}):
        idx = [k for k, (bb, _) in enumerate(grid) if bb == b]
        band(ax, bt[idx], mean[idx], low[idx], high[idx], marker="o", label=f"b={b}")
    alpha = speedup.alpha_bT
    _fit_line(ax, bt, mean, alpha.estimate, color="k",
              label=f"fit: slope {fit.power_law.slope_text(alpha)}")
    ax.set(xscale="log", yscale="log", xlabel="bT (samples seen)",
           ylabel=r"$(1/T)\sum_t E\|\nabla f(x_t)\|^2$", title="Linear speedup: collapse onto bT")
    ax.legend(fontsize=7)
    return save_figure(fig, outdir / "adasam_speedup_collapse")


def _fit_line(ax, bt, mean, alpha, **style):
    """The least-squares line of slope −alpha through (log bT, log mean), dashed."""
    prefactor = np.exp(np.mean(np.log(mean) + alpha * np.log(bt)))
    x = np.geomspace(bt.min(), bt.max(), 50)
    ax.plot(x, prefactor * x ** -alpha, ls="--", lw=1, **style)


def _methods_figure(outdir, grid, samples, fits):
    fig, ax = plt.subplots(figsize=(5.5, 4))
    bt = np.array([b * T for b, T in grid], dtype=float)
    for k, (name, s) in enumerate(samples.items()):
        mean, low, high = _means(s)
        alpha = fits[name].alpha_bT
        bars = ax.errorbar(bt * 1.04 ** k, mean, yerr=[mean - low, high - mean], marker="o", ms=3, ls="none",
                           capsize=2, label=f"{name}: α = {alpha.estimate:.3f} [{alpha.ci_low:.3f}, "
                                        f"{alpha.ci_high:.3f}]")
        _fit_line(ax, bt, mean, alpha.estimate, color=bars[0].get_color())
    ax.set(xscale="log", yscale="log", xlabel="bT", ylabel=r"$(1/T)\sum_t E\|\nabla f(x_t)\|^2$",
           title="Same grid and step schedule (markers offset for legibility)")
    ax.legend(fontsize=7)
    return save_figure(fig, outdir / "adasam_methods")
