r"""Study 5 — Momentum-SAM: the Nesterov equivalence, the 2-cycle amplitude, and cost per step.

MSAM (docs/theory.md §3): h = ∇f_S(x − ρ v/‖v‖) with v the momentum buffer before its update
(zero at the start: no perturbation on the first step); v ← μv + h; x ← x − ηv.

(a) **Nesterov equivalence** [derived]. With λ = 0 and radius ρ = ημ the perturbation is
e = −ημv (the same as ρ_t = ημ‖v_t‖ normalised), so h = ∇f(x − ημv). With u := −ηv:
x − ημv = x + μu, u' = −η(μv + h) = μu − η∇f(x + μu) and x' = x + u' — Sutskever et al.'s
Nesterov momentum (``nesterov``). The two differ by rounding only: the claim is
max ‖x_T^MSAM − x_T^Nesterov‖/‖x_T^Nesterov‖ ≤ 1e-13 on a quadratic and on a logistic
problem (full batch, T = 300).

(b) **2-cycle amplitude** [derived, ``theory.msam_cycle``]: on ½λx², ηλ < 2(1 + μ), MSAM
ends in x = ±c with c = ηρλ/(2(1 + μ) − ηλ). ``theory.check`` on two configurations, and
(figure, one more row) the measured |x_T| against c over a range of η for two momenta.

(c) **Cost per step.** MSAM evaluates one gradient per step (at the perturbed point), SAM
two: read from the ``grad_evals`` metric (exact claims). The wall time per step of both on
the same minibatch problem, kernel warmed up first, best of ``repeats`` runs (info row:
the ratio SAM/MSAM; it depends on the machine and its load).
"""
from dataclasses import replace
import time

import numpy as np

from .. import problems, rules, theory
from ..engine.simulate import simulate
from ..plots import plt, save_figure
from ..problems import Quadratic
from ..sampling import TauNice
from .base import Claim, StudyResult, check_values, checked, exact_claim, full_batch, prepare, run_seed

NAME = "msam"
TITLE = "Momentum-SAM: Nesterov equivalence, 2-cycle amplitude, cost per step"
SOURCE = "derived (docs/theory.md §4)"
CONFIG = {
    "quick": dict(etas=8, cycle_steps=3000, cost_steps=200, cost_trajectories=128, repeats=3),
    "full": dict(etas=40, cycle_steps=3000, cost_steps=1000, cost_trajectories=512, repeats=5),
}
NESTEROV_TOLERANCE = 1e-13
CYCLE_TOLERANCE = 1e-6       # relative, as theory.msam_cycle
CYCLE_CONFIGS = (            # (eigenvalues, η, μ, ρ): the example of docs/theory.md §4 and a 2-D one
    ((1.0,), 0.1, 0.9, 0.05),
    ((2.0, 0.6), 0.5, 0.5, 0.1),
)
CURVE_MOMENTA, CURVE_RHO = (0.5, 0.9), 0.05
NESTEROV_CASES = ("quadratic", "logistic")
NESTEROV_STEPS = 300
COST_METHODS = ("MSAM", "SAM")


def nesterov(grad, x0, eta, mu, steps):
    """Sutskever et al. (2013) Nesterov momentum: u ← μu − η∇f(x + μu); x ← x + u (u₀ = 0)."""
    x = np.array(x0, dtype=float)
    u = np.zeros_like(x)
    for _ in range(steps):
        u = mu * u - eta * grad(x + mu * u)
        x = x + u
    return x


def nesterov_gap(problem, grad, eta, mu, steps):
    """‖x_T^MSAM − x_T^Nesterov‖/‖x_T^Nesterov‖ for MSAM(η, ρ = ημ, μ, λ = 0) at full batch."""
    x_sim = full_batch(problem, rules.MSAM(eta, eta * mu, momentum=mu, lam=0.0), steps).final_x[0]
    x_ref = nesterov(grad, problem.x0, eta, mu, steps)
    return float(np.linalg.norm(x_sim - x_ref) / np.linalg.norm(x_ref))


def cycle_amplitude(lam, eta, mu, rho):
    """c = ηρλ/(2(1 + μ) − ηλ)."""
    return eta * rho * lam / (2 * (1 + mu) - eta * lam)


def nesterov_case(name):
    """(label, problem, ∇f, η, μ) of the Nesterov configuration ``name`` (``NESTEROV_CASES``)."""
    if name == "quadratic":
        lam = np.array([10.0, 3.0, 1.0, 0.1])
        return ("quadratic diag(10, 3, 1, 0.1)", Quadratic(lam, x0=[1.0, -1.0, 2.0, 0.5]), lambda x: lam * x,
                0.05, 0.9)
    logistic = problems.random_logistic(40, 5, seed=3)
    return logistic.name, logistic, logistic.gradient, 0.5, 0.8


def curve_etas(mu, count):
    """The η sweep of the amplitude curve: ηλ ∈ [0.1, 0.9]·2(1 + μ), λ = 1."""
    return np.linspace(0.1, 0.9, count) * 2 * (1 + mu)


def cycle_problem(eigenvalues):
    """½xᵀdiag(eigenvalues)x from x₀ = 1, the problem of a ``CYCLE_CONFIGS`` entry."""
    return Quadratic(eigenvalues, x0=np.ones(len(eigenvalues)))


# -- points -------------------------------------------------------------------------------------

def nesterov_point(case):
    """The relative gap of MSAM to Nesterov momentum on ``nesterov_case(case)``."""
    _, problem, grad, eta, mu = nesterov_case(case)
    return {"gap": nesterov_gap(problem, grad, eta, mu, NESTEROV_STEPS)}


def cycle_point(case, steps):
    """``theory.check`` of ``theory.msam_cycle`` on ``CYCLE_CONFIGS[case]``."""
    eigenvalues, eta, mu, rho = CYCLE_CONFIGS[case]
    problem = cycle_problem(eigenvalues)
    result = theory.check(theory.msam_cycle(), problem=problem, rule=rules.MSAM(eta, rho, momentum=mu),
                          sampler=TauNice(problem.n), steps=steps, trajectories=1)
    return check_values(result)


def curve_point(mu, count, steps):
    """|x_T| of MSAM on ½x² at each η of ``curve_etas(mu, count)``."""
    return {"measured": np.array([abs(full_batch(Quadratic([1.0], x0=[1.0]), rules.MSAM(eta, CURVE_RHO, momentum=mu),
                                                 steps).final_x[0, 0])
                                  for eta in curve_etas(mu, count)])}


def cost_problem():
    """The minibatch problem of the cost measurement."""
    return problems.random_logistic(256, 32, seed=0)


def cost_point(steps, trajectories, repeats, seed):
    """Gradient evaluations per step (exact) and wall time per step (best of ``repeats`` warm
    runs) of MSAM and SAM: ``<method>_evals``, ``<method>_seconds``."""
    problem, sampler = cost_problem(), TauNice(32)
    eta, rho, mu = 0.05, 0.05, 0.9
    methods = dict(zip(COST_METHODS, (rules.MSAM(eta, rho, momentum=mu), rules.SAM(eta, rho))))
    values = {}
    for k, (label, rule) in enumerate(methods.items()):
        kw = dict(trajectories=trajectories, seed=run_seed(seed, k), record_every=steps)
        simulate(problem, rule, sampler, steps=2, **kw)                       # warm up
        times = []
        for _ in range(repeats):
            tic = time.perf_counter()
            out = simulate(problem, rule, sampler, steps=steps, **kw)
            times.append(time.perf_counter() - tic)
        values[f"{label}_evals"] = float(out.metrics["grad_evals"][:, -1].mean()) / steps
        values[f"{label}_seconds"] = min(times) / steps
    return values


TASKS = {"nesterov": nesterov_point, "cycle": cycle_point, "curve": curve_point, "cost": cost_point}


def units(size):
    """The study's points (``progress`` calls): Nesterov, cycle checks, curves, cost."""
    return len(NESTEROV_CASES) + len(CYCLE_CONFIGS) + len(CURVE_MOMENTA) + 1


def run(size="quick", outdir=".", seed=0, progress=None, store=None, executor=None):
    """Run the study (its points through ``samtheory.sweep``, in ``store`` on ``executor``);
    write figures into ``outdir``; return a ``StudyResult``."""
    start = time.perf_counter()
    cfg, outdir, compute = prepare(NAME, CONFIG, size, outdir, progress, store, executor)
    curve_points = [dict(task="curve", mu=mu, count=cfg["etas"], steps=cfg["cycle_steps"]) for mu in CURVE_MOMENTA]
    cost = dict(task="cost", steps=cfg["cost_steps"], trajectories=cfg["cost_trajectories"],
                repeats=cfg["repeats"], seed=seed)
    nesterov = [dict(task="nesterov", case=case) for case in NESTEROV_CASES]
    cycles = [dict(task="cycle", case=k, steps=cfg["cycle_steps"]) for k in range(len(CYCLE_CONFIGS))]
    curve_values, (cost_values,), nesterov_values, cycle_values = compute(curve_points, [cost], nesterov, cycles)
    claims = []
    # (a) Nesterov
    for case, values in zip(NESTEROV_CASES, nesterov_values):
        label, _, _, eta, mu = nesterov_case(case)
        claims.append(exact_claim("MSAM with ρ_t = ημ‖v_t‖ is Nesterov momentum", SOURCE,
                                  f"{label}, η={eta:g}, μ={mu:g}, full batch, T={NESTEROV_STEPS}",
                                  values["gap"], 0.0, NESTEROV_TOLERANCE, note="relative difference of x_T"))
    # (b) cycle
    for (eigenvalues, eta, mu, rho), values in zip(CYCLE_CONFIGS, cycle_values):
        claims.append(replace(Claim.from_check(checked(values),
                                               f"{cycle_problem(eigenvalues).name}, η={eta:g}, μ={mu:g}, ρ={rho:g}, "
                                               f"T={cfg['cycle_steps']}", theory.msam_cycle().source),
                              kind="equal"))
    curves, worst = {}, 0.0
    for mu, measured in zip(CURVE_MOMENTA, (v["measured"] for v in curve_values)):
        etas = curve_etas(mu, cfg["etas"])
        predicted = cycle_amplitude(1.0, etas, mu, CURVE_RHO)
        worst = max(worst, float(np.max(np.abs(measured / predicted - 1))))
        curves[mu] = (etas, measured, predicted)
    claims.append(exact_claim("MSAM 2-cycle amplitude along an η sweep (max relative error)", SOURCE,
                              f"½x², ρ={CURVE_RHO:g}, μ ∈ {CURVE_MOMENTA}, ηλ ∈ [0.1, 0.9]·2(1 + μ), "
                              f"{cfg['etas']} values each, T={cfg['cycle_steps']}", worst, 0.0,
                              CYCLE_TOLERANCE, note="c = ηρλ/(2(1 + μ) − ηλ)"))
    # (c) cost
    cost_claims, costs = _cost_claims(cfg, cost_values)
    claims.extend(cost_claims)
    figures = [_cycle_figure(outdir, curves), _cost_figure(outdir, costs)]
    return StudyResult(NAME, TITLE, claims, figures, time.perf_counter() - start)


def _cost_claims(cfg, values):
    """The rows of ``cost_point``'s measurement."""
    T, R = cfg["cost_steps"], cfg["cost_trajectories"]
    config = f"{cost_problem().name}, τ-nice b=32, {R} trajectories, T={T}"
    claims, costs = [], {}
    for label in COST_METHODS:
        per_step = values[f"{label}_evals"]
        expected = 1.0 if label == "MSAM" else 2.0
        claims.append(exact_claim(f"{label}: gradient evaluations per step", "docs/theory.md §3", config,
                                  per_step, expected, note="grad_evals at T divided by T"))
        costs[label] = (per_step, values[f"{label}_seconds"])
    ratio = costs["SAM"][1] / costs["MSAM"][1]
    claims.append(Claim(claim="wall time per step, SAM / MSAM", source="measured", configuration=config,
                        empirical=ratio, ci_low=ratio, ci_high=ratio, bound=2.0, verdict="info",
                        kind="info", note=f"best of {cfg['repeats']} warm runs: MSAM "
                                          f"{costs['MSAM'][1] * 1e6:.3g} µs, SAM {costs['SAM'][1] * 1e6:.3g} µs "
                                          "per step (all trajectories); bound = evaluation ratio"))
    return claims, costs


def _cycle_figure(outdir, curves):
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for k, (mu, (etas, measured, predicted)) in enumerate(curves.items()):
        fine = np.linspace(etas[0], etas[-1], 200)
        ax.plot(fine, cycle_amplitude(1.0, fine, mu, CURVE_RHO), f"C{k}-", lw=1,
                label=f"ηρλ/(2(1+μ) − ηλ), μ={mu:g}")
        ax.plot(etas, measured, f"C{k}o", ms=4, label=f"MSAM |x_T|, μ={mu:g}")
    ax.set_yscale("log")
    ax.set_xlabel("η (λ = 1)")
    ax.set_ylabel("2-cycle amplitude c")
    ax.set_title(f"MSAM on ½x², ρ = {CURVE_RHO:g}", fontsize=9)
    ax.legend(fontsize=7)
    return save_figure(fig, outdir / "msam_cycle")


def _cost_figure(outdir, costs):
    fig, (left, right) = plt.subplots(1, 2, figsize=(6, 3))
    labels = list(costs)
    left.bar(labels, [costs[k][0] for k in labels], color=["C0", "C1"])
    left.set_ylabel("gradient evaluations per step")
    right.bar(labels, [costs[k][1] * 1e6 for k in labels], color=["C0", "C1"])
    right.set_ylabel("wall time per step (µs)")
    fig.tight_layout()
    return save_figure(fig, outdir / "msam_cost")
