r"""Study 2 — Unified SAM on PL problems: linear convergence to a neighbourhood, for every λ.

The claim (``theory.unified_sam_pl``, derived in the setting of Oikonomou & Loizou 2025):
for x_{t+1} = x_t − γ∇f_S(x_t + ρ(1 − λ + λ/‖g_t‖)g_t) on a μ-PL function under the ABC
condition (A, B, C of the sampler), if 4BK ≤ 1, 4AK ≤ μ and γμ ≤ 2,

    E[f(x_T) − f*] ≤ (1 − γμ/2)^T (f(x_0) − f*) + 2N/μ,
    K = 2L_batch²ρ²(1 − λ)²(1 + Lγ) + Lγ,   N = KC + 2λ²L_batch²ρ²(1 + Lγ).

Problems: least squares (n = 64, d = 8, κ = 4) consistent (every ∇f_i(x*) = 0, so C = 0)
and inconsistent (C > 0), and the non-convex PL sine least squares; τ-nice b = 8 unless
stated; λ ∈ {0, ¼, ½, ¾, 1}; every run starts at the problem's x_0.

(a) ``theory.check`` for each problem and λ, with ρ = min(ρ_max, ½ the largest admissible
    radius as γ → 0) and γ the largest admissible step at that ρ (``tuned_rule``).
(b) On the same runs recorded every few steps: the per-step contraction factor q of
    E[f(x_t) − f*] (``fit.fit_linear_rate``, automatic window) against the theorem's
    1 − γμ/2 (holds when the whole interval of q lies at or below it), and the plateau
    (``fit.plateau``, mean over the last 20 % of records, t ≥ t_0) against the theorem's
    bound at t_0, (1 − γμ/2)^{t_0}(f(x_0) − f*) + 2N/μ: the neighbourhood 2N/μ plus what
    is left of the transient (each row's note gives both). Where 2N/μ = 0 (USAM on a
    consistent problem, up to the rounding of C, see ``ROUNDING``) the theorem claims
    convergence to f* itself: the rate row is the test and no plateau row is written.
(c) Samplers on the inconsistent problem with λ = ½: τ-nice b ∈ {1, 4, 16, 64} (64 = n is
    full batch, A = 0) and single-element uniform versus importance sampling
    (p_i ∝ L_i: A = L̄ instead of L_max, so the admissible γ is larger); each tuned as in (a),
    its rate and plateau checked as in (b).
(d) The step and radius the authors' experiments run (docs/theory.md §5, ``authors_rule``):
    ρ = 1/(4L) if λ = 1 else min(1, μ/(2(Bμ + A)(1 − λ)²))/(4L), γ = min(2, μ/(8(Bμ + A)))/L
    with their L = L_max = max_i L_i (b < n; λ_max(∇²f) only at full batch) and their
    τ-nice A, B, on the inconsistent problem with b = 8, each λ run with two samplers:
    τ-nice (the sampler whose A, B they compute) and uniform with replacement (the one
    their code draws from, ``np.random.choice``; our theorem then checks its own A = L_max/b,
    B = 1 − 1/b). Both meet our derived conditions (``Theorem.condition_reports``) at every
    λ, so each run gets the rate and plateau rows of (b). Their γ is 30–40 × below the
    tuned one of (a), so their runs last ``authors_steps`` steps, enough to reach the plateau. A
    run that failed a condition would get one "info" plateau row naming it (our theorem
    would not apply).
(e) The authors' importance sampling without reweighting: i drawn with p_i = L_i/Σ_j L_j,
    the step using (1/b)Σ_k ∇f_{i_k} instead of the unbiased (1/b)Σ_k ∇f_{i_k}/(n p_{i_k}).
    Its mean is Σ_i p_i ∇f_i = ∇F̃ with F̃ = Σ_i p_i f_i, so it can only converge to
    x̃* = argmin F̃, which differs from x* unless every ∇f_i(x*) = 0. ``biased_problem``
    emulates it exactly with samtheory's (always unbiased) samplers; x̃* and x* come in
    closed form (least squares). Both run Oikonomou & Loizou's decreasing schedules
    γ_k = min(γ, (2k + 1)/((k + 1)²μ)), ρ_k = min(ρ, 1/(2k + 1)), under which the unbiased
    method converges to x*; x_T is recorded at a geometric set of horizons T (runs with
    one seed share their first steps, so x_T of a shorter run is the iterate of a
    longer one).
(f) Exact expectations (``backend="exact"``, docs/exact.md) of the λ = 0 runs of (a) on the
    two least-squares problems, where USAM is affine in the state: the Monte Carlo mean at T
    beside the exact E[f(x_T) − f*] (info: the engine's agreement with it is tested in
    tests/test_exact.py with 20 000 trajectories); the exact stationary E[f − f*]
    (``theory.stationary``) against the theorem's 2N/μ and beside the Monte Carlo plateau;
    and the tuned γ against
    the exact mean-square stability edge of the same rule and sampler (how much of the
    stable range the theorem's step conditions admit).

Samplers, named in every row's configuration: (a), (b) τ-nice (without replacement); (c)
τ-nice, "uniform" = one uniform index (with and without replacement coincide at b = 1) and
"importance" = i.i.d. draws p_i ∝ L_i, reweighted; (d) τ-nice and uniform with replacement;
(e) i.i.d. draws p_i ∝ L_i, reweighted (ours) or not (theirs). The authors' code draws
every minibatch with replacement (``np.random.choice``) but computes τ-nice A, B.
"""
from dataclasses import replace
import time

import numpy as np

from .. import fit, problems, theory, verdicts
from ..engine.simulate import simulate
from ..plots import mean_band, plt, save_figure
from ..rules import UnifiedSAM
from ..sampling import Importance, TauNice, WithReplacement
from ..schedules import DecreasingRadius, DecreasingStep
from ..theory.unified_sam import NOISE
from .base import Claim, StudyResult, check_values, checked, decided_claim, prepare, run_seed

NAME = "unified_sam"
TITLE = "Unified SAM: linear convergence to a neighbourhood on PL problems"
SOURCE = "derived (setting of Oikonomou & Loizou 2025)"
SOURCE_EXACT = "exact expectations (docs/exact.md)"
AUTHORS = "Oikonomou & Loizou 2025, experiment code"
CONFIG = {
    "quick": dict(steps=1500, trajectories=200, record_every=10, bias_steps=4000, n_boot=500,
                  authors_steps=30000),
    "full": dict(steps=4000, trajectories=2000, record_every=10, bias_steps=32000, n_boot=2000,
                 authors_steps=40000),
}
LAMBDAS = (0.0, 0.25, 0.5, 0.75, 1.0)
RHO_MAX = 0.02
BATCH = 8
SAMPLER_LAMBDA = 0.5
SAMPLER_BATCHES = (1, 4, 16, 64)
BIAS_BATCH = 4
BIAS_TOLERANCE = 0.1        # relative: "E‖x_T − x*‖² = ‖x̃* − x*‖²" within 10 %
# 2N/μ below ROUNDING × (f(x_0) − f*) is the rounding of C = 0 (consistent problems: C is
# computed from f* ≈ 1e-30, not exactly 0): the theorem then claims convergence to f*.
ROUNDING = 1e-12
PROBLEMS = {
    "LS consistent": lambda: problems.random_least_squares(64, 8, condition=4, consistent=True, seed=1),
    "LS inconsistent": lambda: problems.random_least_squares(64, 8, condition=4, seed=1),
    "sine LS": lambda: problems.random_sine_least_squares(64, 8, seed=2),
}
# The sine problem's admissible steps are ~20× smaller: it runs this many times more steps
# in the λ sweep, so that its runs reach their plateau.
STEPS_FACTOR = {"sine LS": 3}
INCONSISTENT = "LS inconsistent"
# (d): the sampler whose A, B the authors compute, and the one their code draws from.
AUTHORS_SAMPLERS = {f"τ-nice b={BATCH}": TauNice(BATCH), f"with replacement b={BATCH}": WithReplacement(BATCH)}


# -- configurations ----------------------------------------------------------------------

def tuned_rule(theorem, problem, sampler, steps, lam, rho_max=RHO_MAX):
    r"""Unified SAM with interpolation ``lam`` meeting ``theorem``'s conditions:
    ρ = min(ρ_max, ½ sup{ρ admissible as γ → 0}), then γ = sup{γ admissible at that ρ}."""
    radius = min(rho_max, 0.5 * theorem.largest("rho", problem, UnifiedSAM(0.0, 1.0, lam), sampler, steps))
    return theory.tuned(theorem, lambda value: UnifiedSAM(value, radius, lam), problem, sampler, steps)


def authors_rule(problem, sampler, lam):
    r"""The authors' experiment settings (docs/theory.md §5) for a batch of b from ``sampler``:
    ρ = 1/(4L) if λ = 1 else min(1, μ/(2(Bμ + A)(1 − λ)²))/(4L), γ = min(2, μ/(8(Bμ + A)))/L.

    As their code computes them: L = L_max = max_i L_i whenever b < n (L = λ_max(∇²f) only
    at full batch, b = n); A, B the τ-nice ones, A = (n − b)L_max/(b(n − 1)),
    B = n(b − 1)/(b(n − 1)) (A = L_max, B = 0 at b = 1; A = 0, B = 1 at b = n) — for a
    uniform sampler drawn with replacement too, since their code draws with replacement
    but computes these. Those are ``theory.sampling_constants`` of ``TauNice(b)``. Their
    single-element importance sampling: A = L̄, B = 0 (``sampling_constants`` of
    ``Importance(1)``), L = L_max.
    """
    if isinstance(sampler, Importance) and sampler.b == 1:
        constants, b = theory.sampling_constants(problem, sampler), 1
    elif isinstance(sampler, TauNice) or (type(sampler) is WithReplacement and sampler.p is None):
        b = sampler.b
        constants = theory.sampling_constants(problem, TauNice(b))
    else:
        raise ValueError("the authors' settings are defined for uniform samplers (τ-nice or with "
                         f"replacement) and single-element importance sampling, not {sampler!r}")
    L = problem.L if b == problem.n else problem.L_max
    mu, A, B = problem.mu, constants.A, constants.B
    rho = 1 / (4 * L) if lam == 1 else min(1.0, mu / (2 * (B * mu + A) * (1 - lam) ** 2)) / (4 * L)
    return UnifiedSAM(min(2.0, mu / (8 * (B * mu + A))) / L, rho, lam)


def neighbourhood(theorem, problem, rule, sampler, steps):
    """The theorem's neighbourhood 2N/μ on a configuration (conditions not checked)."""
    numbers, _ = theorem.numbers(problem, rule, sampler, steps)
    symbols = theory.symbols()
    expr = 2 * NOISE / symbols["mu"]
    return float(expr.subs({symbols[name]: value for name, value in numbers.items()}))


def biased_problem(problem, probabilities):
    r"""A least-squares problem whose *unbiased* estimator under ``WithReplacement(b, p)``
    is the *unreweighted* estimator of ``problem`` under the same draws.

    With i.i.d. draws i_1..i_b ~ p, samtheory's estimator of f̃ = (1/n)Σ f̃_i is
    Σ_k ∇f̃_{i_k}/(n b p_{i_k}). Choosing f̃_i = n p_i f_i makes it (1/b)Σ_k ∇f_{i_k}, the
    unreweighted estimator of f, draw for draw (the ascent step too). For
    f_i = ½(a_iᵀx − y_i)², f̃_i = ½(√(np_i) a_iᵀx − √(np_i) y_i)²: rows and targets scaled by
    √(n p_i). Then f̃ = Σ_i p_i f_i = F̃, and the emulating problem's x* is
    x̃* = argmin F̃ = (AᵀPA)⁺AᵀPy, P = diag(p) — not ``problem``'s x*.
    """
    scale = np.sqrt(problem.n * np.asarray(probabilities, dtype=np.float64))
    out = problems.LeastSquares(problem.A * scale[:, None], problem.y * scale, x0=problem.x0)
    out.name = f"{problem.name}, rows scaled by √(n p_i)"
    return out


# -- measurements ----------------------------------------------------------------------------

def _describe(rule, sampler_text, steps):
    lr, rho, lam = (getattr(rule, a).value for a in ("lr", "rho", "lam"))
    return f"{sampler_text}, λ={lam:g}, γ={lr:.3g}, ρ={rho:.3g}, T={steps}"


def _rate_and_plateau(theorem, problem, rule, sampler, steps, out, configuration, n_boot, seed):
    """Rows (b) for one recorded run: q against 1 − γμ/2, plateau against 2N/μ."""
    gamma, mu = rule.lr.value, problem.mu
    try:
        rate, window = fit.fit_linear_rate(out, "loss_gap", n_boot=n_boot, seed=seed), "automatic window"
    except ValueError:
        # The run never got within 10× of its tail level (a slow sampler over a short
        # horizon): the whole run is the decay.
        rate = fit.fit_linear_rate(out, "loss_gap", window=(out.steps[0], out.steps[-1]), n_boot=n_boot,
                                   seed=seed)
        window = "whole run (no plateau reached)"
    comparison = rate.compare(1 - gamma * mu / 2)
    q = comparison.measured
    rows = [decided_claim("contraction factor q ≤ 1 − γμ/2", SOURCE, configuration, q.estimate, q.stderr,
                          comparison.theorem_factor,
                          note=f"log q / log q_th = {comparison.rate_ratio:.3g} (× the guaranteed speed); "
                               f"{window}; bootstrap standard error")]
    radius = neighbourhood(theorem, problem, rule, sampler, steps)
    if radius > ROUNDING * problem.loss_gap(problem.x0):
        rows.append(_plateau_claim("plateau E[f − f*] ≤ 2N/μ + transient", SOURCE, configuration, problem,
                                   rule, out, radius))
    return rows, q, radius


def _plateau_claim(text, source, configuration, problem, rule, out, radius, outside=None):
    r"""The tail mean of E[f(x_t) − f*] (``fit.plateau``, last 20 % of records, from step t_0)
    against the theorem's bound at t_0, (1 − γμ/2)^{t_0}(f(x_0) − f*) + 2N/μ: every record
    of the tail obeys it, so their mean does. The note gives the transient's share; where
    it dominates, the run is too short to test the neighbourhood itself. ``outside``: the
    failing conditions when the theorem does not apply (the row is then "info")."""
    level = fit.plateau(out, "loss_gap")
    transient = (1 - rule.lr.value * problem.mu / 2) ** level.tail_steps[0] * problem.loss_gap(problem.x0)
    bound, size = transient + radius, level.size
    note = (f"tail mean over t ≥ {level.tail_steps[0]}; bound = 2N/μ {radius:.3g} + transient "
            f"{transient:.3g}")
    if outside:
        return Claim(claim=text, source=source, configuration=configuration, empirical=size.estimate,
                     ci_low=size.ci_low, ci_high=size.ci_high, bound=bound, verdict="info", kind="info",
                     note="outside our derived conditions: " + "; ".join(str(r) for r in outside))
    return decided_claim(text, source, configuration, size.estimate, size.stderr, bound, df=level.n_used - 1,
                         floor=theory.FinalMetric("loss_gap").floor(problem),
                         diverged=int(np.count_nonzero(out.diverged)), note=note)


def _record_every(cfg, steps):
    """Record every ``record_every`` steps at the base horizon, proportionally more at others."""
    return cfg["record_every"] * steps // cfg["steps"]


def study_samplers():
    """(c): label → sampler, τ-nice b ∈ ``SAMPLER_BATCHES`` and single-element uniform and importance."""
    samplers = {f"τ-nice b={b}": TauNice(b) for b in SAMPLER_BATCHES}
    samplers.update({"uniform b=1": WithReplacement(1), "importance b=1": Importance(1)})
    return samplers


def bias_rule(problem, gamma, rho):
    """(e): Oikonomou & Loizou's decreasing schedules from the constant γ and ρ, λ = ½."""
    return UnifiedSAM(DecreasingStep(gamma, problem.mu), DecreasingRadius(rho), SAMPLER_LAMBDA)


BIAS_ESTIMATORS = ("reweighted (unbiased)", "unreweighted (authors')")


# -- points -------------------------------------------------------------------------------------

def lambda_point(problem, lam, steps, trajectories, record_every, seed):
    """(a), (b): the tuned rule (``gamma``, ``rho``), ``theory.check`` and a recorded ``run``
    for one problem of ``PROBLEMS`` and one λ, τ-nice b = ``BATCH``."""
    theorem, chosen, sampler = theory.unified_sam_pl(), PROBLEMS[problem](), TauNice(BATCH)
    rule = tuned_rule(theorem, chosen, sampler, steps, lam)
    result = theory.check(theorem, problem=chosen, rule=rule, sampler=sampler, steps=steps,
                          trajectories=trajectories, seed=seed)
    out = simulate(chosen, rule, sampler, steps=steps, trajectories=trajectories, seed=seed,
                   record_every=record_every)
    return {**check_values(result), "gamma": rule.lr.value, "rho": rule.rho.value, "run": out}


def sampler_point(sampler, lam, steps, trajectories, record_every, seed):
    """(c): the tuned rule (``gamma``, ``rho``) and a recorded ``run`` for one sampler of
    ``study_samplers()`` on the inconsistent problem."""
    problem, drawn = PROBLEMS[INCONSISTENT](), study_samplers()[sampler]
    rule = tuned_rule(theory.unified_sam_pl(), problem, drawn, steps, lam)
    out = simulate(problem, rule, drawn, steps=steps, trajectories=trajectories, seed=seed,
                   record_every=record_every)
    return {"gamma": rule.lr.value, "rho": rule.rho.value, "run": out}


def authors_point(sampler, lam, steps, trajectories, record_every, seed):
    """(d): a recorded ``run`` of the authors' γ and ρ with one sampler of ``AUTHORS_SAMPLERS``."""
    problem, drawn = PROBLEMS[INCONSISTENT](), AUTHORS_SAMPLERS[sampler]
    out = simulate(problem, authors_rule(problem, drawn, lam), drawn, steps=steps, trajectories=trajectories,
                   seed=seed, record_every=record_every)
    return {"run": out}


def exact_point(problem, lam, steps, record_every):
    """(f): the exact expectation ``loss_gap`` at the ``record_steps`` of the tuned rule of
    ``lambda_point`` (λ = ``lam``), its stationary limit ``limit`` and the mean-square
    stability edge ``edge`` in γ (``theory.stationary``)."""
    theorem, chosen, sampler = theory.unified_sam_pl(), PROBLEMS[problem](), TauNice(BATCH)
    rule = tuned_rule(theorem, chosen, sampler, steps, lam)
    out = simulate(chosen, rule, sampler, steps=steps, trajectories=1, record_every=record_every,
                   backend="exact")
    limit = theory.stationary(chosen, rule, sampler)
    return {"record_steps": out.steps, "loss_gap": out.metrics["loss_gap"][0], "limit": limit.loss_gap,
            "edge": limit.stability_edge, "gamma": rule.lr.value}


def bias_check_point(gamma, rho, steps, trajectories, seed):
    """(e): ``theory.check`` of the decreasing-schedule theorem, reweighted importance sampling."""
    problem = PROBLEMS[INCONSISTENT]()
    result = theory.check(theory.unified_sam_pl_decreasing(), problem=problem, rule=bias_rule(problem, gamma, rho),
                          sampler=Importance(BIAS_BATCH), steps=steps, trajectories=trajectories, seed=seed)
    return check_values(result)


def bias_point(estimator, gamma, rho, T, trajectories, seed):
    """(e): ``to_star`` = ‖x_T − x*‖² and ``to_tilde`` = ‖x_T − x̃*‖² per trajectory after T
    steps, with the ``estimator`` of ``BIAS_ESTIMATORS`` (the unreweighted one through
    ``biased_problem``)."""
    problem = PROBLEMS[INCONSISTENT]()
    p = problem.L_i / problem.L_i.sum()
    emulation = biased_problem(problem, p)
    run_on, sampler = ((problem, Importance(BIAS_BATCH)) if estimator == BIAS_ESTIMATORS[0]
                       else (emulation, WithReplacement(BIAS_BATCH, p)))
    x = simulate(run_on, bias_rule(problem, gamma, rho), sampler, steps=T, trajectories=trajectories, seed=seed,
                 record_every=T).final_x
    return {"to_star": np.sum((x - problem.x_star) ** 2, axis=1),
            "to_tilde": np.sum((x - emulation.x_star) ** 2, axis=1)}


TASKS = {"lambda": lambda_point, "sampler": sampler_point, "authors": authors_point,
         "bias_check": bias_check_point, "bias": bias_point, "exact": exact_point}
EXACT_PROBLEMS = ("LS consistent", "LS inconsistent")   # (f): quadratic, so λ = 0 is affine


# -- the parts of the study: points, then rows ---------------------------------------------------

def _lambda_points(cfg, seed):
    """(a), (b): every problem × λ; run ids 0, 1, …"""
    points = []
    for name in PROBLEMS:
        steps = cfg["steps"] * STEPS_FACTOR.get(name, 1)
        points += [dict(task="lambda", problem=name, lam=lam, steps=steps, trajectories=cfg["trajectories"],
                        record_every=_record_every(cfg, steps), seed=run_seed(seed, len(points) + k))
                   for k, lam in enumerate(LAMBDAS)]
    return points


def _lambda_sweep(theorem, cfg, seed, points, results):
    """(a) and (b) from the λ points. Returns rows and {problem: [(λ, out, plateau, 2N/μ)]}."""
    rows, curves = [], {name: [] for name in PROBLEMS}
    sampler = TauNice(BATCH)
    for point, result in zip(points, results):
        name, lam, steps = point["problem"], point["lam"], point["steps"]
        problem, out = PROBLEMS[name](), result["run"]
        rule = UnifiedSAM(result["gamma"], result["rho"], lam)
        configuration = f"{name}, " + _describe(rule, f"τ-nice b={BATCH}", steps)
        rows.append(Claim.from_check(checked(result), configuration, SOURCE))
        more, q, radius = _rate_and_plateau(theorem, problem, rule, sampler, steps, out,
                                            configuration, cfg["n_boot"], seed)
        rows += more
        level = fit.plateau(out, "loss_gap").size if len(more) > 1 else None
        curves[name].append((lam, out, level, radius))
    return rows, curves


def _exact_points(cfg):
    """(f): λ = 0 on the least-squares problems, the horizon and records of (a)."""
    return [dict(task="exact", problem=name, lam=0.0, steps=cfg["steps"],
                 record_every=_record_every(cfg, cfg["steps"])) for name in EXACT_PROBLEMS]


def _exact_rows(theorem, lambdas, lambda_values, points, values):
    """(f) rows: Monte Carlo against the exact expectation, the exact stationary value
    against 2N/μ and the plateau, the tuned γ against the mean-square stability edge."""
    runs = {(p["problem"], p["lam"]): v["run"] for p, v in zip(lambdas, lambda_values)}
    sampler, rows = TauNice(BATCH), []
    for point, exact in zip(points, values):
        name, problem = point["problem"], PROBLEMS[point["problem"]]()
        out = runs[(name, point["lam"])]
        rule = tuned_rule(theorem, problem, sampler, point["steps"], point["lam"])
        configuration = f"{name}, " + _describe(rule, f"τ-nice b={BATCH}", point["steps"])
        floor = theory.FinalMetric("loss_gap").floor(problem)
        final = out.metrics["loss_gap"][:, -1]
        rows.append(_beside("Monte Carlo E[f(x_T) − f*] beside the exact expectation", configuration,
                            float(final.mean()), float(final.std(ddof=1) / np.sqrt(final.size)),
                            float(exact["loss_gap"][-1]), final.size))
        radius = neighbourhood(theorem, problem, rule, sampler, point["steps"])
        rows.append(decided_claim("exact stationary E[f − f*] ≤ 2N/μ", SOURCE_EXACT, configuration,
                                  float(exact["limit"]), 0.0, radius, floor=floor,
                                  note="limit of the exact moment recursion (theory.stationary)"))
        if radius > ROUNDING * problem.loss_gap(problem.x0):
            level = fit.plateau(out, "loss_gap")
            rows.append(_beside(f"Monte Carlo plateau (t ≥ {level.tail_steps[0]}) beside the exact stationary "
                                "E[f − f*]", configuration, level.size.estimate, level.size.stderr,
                                float(exact["limit"]), final.size))
        rows.append(decided_claim("tuned γ ≤ exact mean-square stability edge", SOURCE_EXACT, configuration,
                                  float(exact["gamma"]), 0.0, float(exact["edge"]),
                                  note=f"the theorem's conditions admit {exact['gamma'] / exact['edge']:.3g} "
                                       "of the stable step range"))
    return rows


def _beside(text, configuration, mean, stderr, exact, trajectories):
    """An info row: a Monte Carlo estimate with its interval, the exact value in the bound column.
    Not a test: f − f* is right-skewed, so a mean over a few hundred trajectories falls below
    the expectation more often than the t interval says."""
    half = verdicts.quantile(verdicts.LEVEL, trajectories - 1) * stderr
    return Claim(claim=text, source=SOURCE_EXACT, configuration=configuration, empirical=mean, ci_low=mean - half,
                 ci_high=mean + half, bound=exact, verdict="info", kind="info",
                 note=f"{trajectories} trajectories; (estimate − exact)/stderr = {(mean - exact) / stderr:+.2f}")


def _sampler_points(cfg, seed, first):
    """(c): the samplers of ``study_samplers()`` at λ = ½; run ids ``first``, …"""
    return [dict(task="sampler", sampler=label, lam=SAMPLER_LAMBDA, steps=cfg["steps"],
                 trajectories=cfg["trajectories"], record_every=_record_every(cfg, cfg["steps"]),
                 seed=run_seed(seed, first + k)) for k, label in enumerate(study_samplers())]


def _sampler_sweep(theorem, cfg, seed, results):
    """(c): samplers on the inconsistent problem at λ = ½."""
    problem = PROBLEMS[INCONSISTENT]()
    rows, curves = [], []
    for (label, sampler), result in zip(study_samplers().items(), results):
        rule, out = UnifiedSAM(result["gamma"], result["rho"], SAMPLER_LAMBDA), result["run"]
        configuration = f"{INCONSISTENT}, " + _describe(rule, label, cfg["steps"])
        more, q, radius = _rate_and_plateau(theorem, problem, rule, sampler, cfg["steps"], out, configuration,
                                            cfg["n_boot"], seed)
        rows += [replace(row, claim=f"[{label}] {row.claim}") for row in more]
        curves.append((label, rule, out))
    return rows, curves


def _authors_points(cfg, seed, first):
    """(d): every λ with both samplers of ``AUTHORS_SAMPLERS`` (which share the λ's run id
    ``first + k``)."""
    steps = cfg["authors_steps"]
    return [dict(task="authors", sampler=label, lam=lam, steps=steps, trajectories=cfg["trajectories"],
                 record_every=_record_every(cfg, steps), seed=run_seed(seed, first + k))
            for k, lam in enumerate(LAMBDAS) for label in AUTHORS_SAMPLERS]


def _authors_sweep(theorem, cfg, seed, points, results):
    """(d): the authors' γ and ρ on the inconsistent problem, b = 8, τ-nice and with
    replacement. Returns rows and the plateau points {sampler: [(λ, plateau, 2N/μ, meets
    our conditions)]}."""
    problem, steps = PROBLEMS[INCONSISTENT](), cfg["authors_steps"]
    rows, plateaus = [], {label: [] for label in AUTHORS_SAMPLERS}
    for point, result in zip(points, results):
        label, lam, out = point["sampler"], point["lam"], result["run"]
        sampler = AUTHORS_SAMPLERS[label]
        rule = authors_rule(problem, sampler, lam)
        numbers, schedules = theorem.numbers(problem, rule, sampler, steps)
        failing = [report for report in theorem.condition_reports(numbers, schedules) if not report.holds]
        configuration = f"{INCONSISTENT}, " + _describe(rule, label, steps)
        radius = neighbourhood(theorem, problem, rule, sampler, steps)
        if failing:
            more = [_plateau_claim("plateau E[f − f*] ≤ 2N/μ + transient", AUTHORS, configuration, problem,
                                   rule, out, radius, outside=failing)]
        else:
            more, _, _ = _rate_and_plateau(theorem, problem, rule, sampler, steps, out, configuration,
                                           cfg["n_boot"], seed)
        rows += [replace(row, claim=f"[authors' γ, ρ; {label}] {row.claim}", source=AUTHORS) for row in more]
        plateaus[label].append((lam, fit.plateau(out, "loss_gap").size, radius, not failing))
    return rows, plateaus


def _bias_points(cfg, seed, first):
    """(e): the check and the runs to each horizon of both estimators (run id ``first``);
    the constant γ, ρ are tuned here, once."""
    problem = PROBLEMS[INCONSISTENT]()
    T = cfg["bias_steps"]
    constant = tuned_rule(theory.unified_sam_pl(), problem, Importance(BIAS_BATCH), T, SAMPLER_LAMBDA)
    common = dict(gamma=constant.lr.value, rho=constant.rho.value, trajectories=cfg["trajectories"],
                  seed=run_seed(seed, first))
    horizons = np.unique(np.geomspace(16, T, 10).astype(int))
    return ([dict(task="bias_check", steps=T, **common)]
            + [dict(task="bias", estimator=estimator, T=horizon, **common)
               for estimator in BIAS_ESTIMATORS for horizon in horizons])


def _bias_study(points, results):
    """(e): unreweighted versus reweighted importance sampling on the inconsistent problem."""
    problem = PROBLEMS[INCONSISTENT]()
    x_star, x_tilde = problem.x_star, biased_problem(problem, problem.L_i / problem.L_i.sum()).x_star
    bias = float(np.sum((x_tilde - x_star) ** 2))
    check, *runs = results
    gamma, rho, T = points[0]["gamma"], points[0]["rho"], points[0]["steps"]
    horizons = np.array([point["T"] for point in points[1:1 + len(runs) // 2]])
    setting = (f"{INCONSISTENT}, p_i ∝ L_i, b={BIAS_BATCH}, λ={SAMPLER_LAMBDA:g}, γ_k=min({gamma:.3g}, "
               f"(2k+1)/((k+1)²μ)), ρ_k=min({rho:.3g}, 1/(2k+1)), T={T}")
    per_estimator = {estimator: runs[k * horizons.size:(k + 1) * horizons.size]
                     for k, estimator in enumerate(BIAS_ESTIMATORS)}
    to_star = {k: np.stack([r["to_star"] for r in v]) for k, v in per_estimator.items()}
    to_tilde = {k: np.stack([r["to_tilde"] for r in v]) for k, v in per_estimator.items()}
    good, bad = (verdicts.sample_mean(to_star[k][-1]) for k in BIAS_ESTIMATORS)
    # the two runs share their streams trajectory by trajectory: compare them as pairs
    excess = verdicts.sample_mean(to_star["unreweighted (authors')"][-1] - to_star["reweighted (unbiased)"][-1])
    tilde_gap = float(np.mean(to_tilde["unreweighted (authors')"][-1]))
    rows = [
        Claim.from_check(checked(check), f"reweighted importance: {setting}", SOURCE),
        decided_claim("reweighted importance: E‖x_T − x*‖² below the bias ‖x̃* − x*‖²", SOURCE, setting,
                      good.mean, good.stderr, bias, df=good.df, note="x̃* = argmin Σ p_i f_i, in closed form"),
        decided_claim("unreweighted importance converges to x*: E‖x_T − x*‖² − the reweighted one's ≤ 0",
                      AUTHORS, setting, excess.mean, excess.stderr, 0.0, df=excess.df, should_hold=False,
                      note="biased estimator: expected to fail; paired over trajectories sharing streams"),
        decided_claim("unreweighted importance converges to x̃* ≠ x*: E‖x_T − x*‖² = ‖x̃* − x*‖²",
                      "derived (bias of the unweighted estimator)", setting, bad.mean, bad.stderr, bias,
                      kind="equal", df=bad.df, floor=BIAS_TOLERANCE * bias,
                      note=f"within {BIAS_TOLERANCE:.0%}; E‖x_T − x̃*‖² = {tilde_gap:.3g}"),
    ]
    return rows, (horizons, to_star, to_tilde, bias)


def units(size):
    """The study's points (``progress`` calls): problems × λ, samplers, the authors' λ's ×
    their samplers, the importance-bias check and its runs to each horizon."""
    cfg = CONFIG[size]
    horizons = np.unique(np.geomspace(16, cfg["bias_steps"], 10).astype(int)).size
    return (len(PROBLEMS) * len(LAMBDAS) + len(SAMPLER_BATCHES) + 2 + len(LAMBDAS) * len(AUTHORS_SAMPLERS)
            + 1 + len(BIAS_ESTIMATORS) * horizons + len(EXACT_PROBLEMS))


def run(size="quick", outdir=".", seed=0, progress=None, store=None, executor=None):
    """Run the study (its points through ``samtheory.sweep``, in ``store`` on ``executor``);
    write figures into ``outdir``; return a ``StudyResult``."""
    start = time.perf_counter()
    cfg, outdir, compute = prepare(NAME, CONFIG, size, outdir, progress, store, executor)
    theorem = theory.unified_sam_pl()
    lambdas = _lambda_points(cfg, seed)
    samplers = _sampler_points(cfg, seed, len(lambdas))
    authors = _authors_points(cfg, seed, len(lambdas) + len(samplers))
    bias = _bias_points(cfg, seed, len(lambdas) + len(samplers) + len(LAMBDAS))
    exact = _exact_points(cfg)
    # the longest runs first
    authors_values, lambda_values, sampler_values, bias_values, exact_values = compute(
        authors, lambdas, samplers, bias, exact)
    sweep, curves = _lambda_sweep(theorem, cfg, seed, lambdas, lambda_values)
    sampling_rows, sampling_curves = _sampler_sweep(theorem, cfg, seed, sampler_values)
    authors_rows, authors_points = _authors_sweep(theorem, cfg, seed, authors, authors_values)
    bias_rows, bias_data = _bias_study(bias, bias_values)
    exact_rows = _exact_rows(theorem, lambdas, lambda_values, exact, exact_values)
    exact_curves = {p["problem"]: v for p, v in zip(exact, exact_values)}
    figures = [_convergence_figure(outdir, curves, exact_curves), _plateau_figure(outdir, curves, authors_points),
               _sampling_figure(outdir, sampling_curves), _bias_figure(outdir, bias_data)]
    return StudyResult(NAME, TITLE, sweep + sampling_rows + authors_rows + bias_rows + exact_rows, figures,
                       time.perf_counter() - start)


# -- figures ---------------------------------------------------------------------------------

def _normalised(out):
    return out.metrics["loss_gap"] / out.metrics["loss_gap"][:, :1]


def _convergence_figure(outdir, curves, exact_curves):
    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.6), sharey=True)
    for ax, (name, runs) in zip(np.atleast_1d(axes), curves.items()):
        for lam, out, _, _ in runs:
            mean_band(ax, out.steps, _normalised(out), label=f"λ={lam:g}", log_floor=1e-3)
        if name in exact_curves:
            exact = exact_curves[name]
            ax.plot(exact["record_steps"], exact["loss_gap"] / exact["loss_gap"][0], "k--", lw=1,
                    label="λ=0 exact")
        ax.set(yscale="log", xlabel="step t", title=name)
        ax.legend(fontsize=7)
    np.atleast_1d(axes)[0].set_ylabel(r"$(f(x_t) - f^*)/(f(x_0) - f^*)$")
    fig.suptitle("Unified SAM, theorem-tuned γ and ρ (τ-nice b = 8): mean with 95 % band")
    return save_figure(fig, outdir / "unified_sam_convergence")


def _plateau_figure(outdir, curves, authors_points):
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, runs in curves.items():
        points = [(lam, level, radius) for lam, _, level, radius in runs if level is not None]
        if not points:
            continue
        lam = np.array([p[0] for p in points])
        est = np.array([p[1].estimate for p in points])
        err = np.array([[p[1].estimate - p[1].ci_low, p[1].ci_high - p[1].estimate] for p in points]).T
        line = ax.errorbar(lam, est, yerr=err, marker="o", capsize=2, label=f"{name}: measured")[0]
        ax.plot(lam, [p[2] for p in points], ls="--", color=line.get_color(), label=f"{name}: 2N/μ")
    for (label, points), marker in zip(authors_points.items(), "s^"):
        ax.plot([p[0] for p in points], [p[1].estimate for p in points], f"k{marker}-", ms=4, mfc="none",
                label=f"{INCONSISTENT}, authors' γ, ρ, {label} (filled: meets our conditions)")
        meets = [p for p in points if p[3]]
        if meets:
            ax.plot([p[0] for p in meets], [p[1].estimate for p in meets], f"k{marker}", ms=4)
    ax.set(yscale="log", xlabel="λ", ylabel="plateau of E[f(x_t) − f*]", title="Neighbourhood vs λ")
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return save_figure(fig, outdir / "unified_sam_plateau")


def _sampling_figure(outdir, sampling_curves):
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for label, rule, out in sampling_curves:
        mean_band(ax, out.steps, _normalised(out), label=f"{label} (γ={rule.lr.value:.3g})", log_floor=1e-3)
    ax.set(yscale="log", xlabel="step t", ylabel=r"$(f(x_t) - f^*)/(f(x_0) - f^*)$",
           title=f"Samplers, {INCONSISTENT}, λ = {SAMPLER_LAMBDA:g}, theorem-tuned γ")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return save_figure(fig, outdir / "unified_sam_sampling")


def _bias_figure(outdir, bias_data):
    horizons, to_star, to_tilde, bias = bias_data
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name in to_star:
        mean_band(ax, horizons, to_star[name].T, label=f"{name}: ‖x_T − x*‖²", marker="o", log_floor=1e-3)
    mean_band(ax, horizons, to_tilde["unreweighted (authors')"].T, label="unreweighted: ‖x_T − x̃*‖²",
              marker="^", ls=":", log_floor=1e-3)
    ax.axhline(bias, color="k", ls="--", lw=1, label="‖x̃* − x*‖² (closed form)")
    ax.set(xscale="log", yscale="log", xlabel="horizon T", ylabel="mean squared distance",
           title="Importance sampling with and without reweighting")
    ax.legend(fontsize=7)
    return save_figure(fig, outdir / "unified_sam_importance_bias")
