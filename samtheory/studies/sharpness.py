r"""Study 7 — Sharpness: where SAM and its variants end on landscapes with a valley of minima.

The least-squares and generalised linear problems of the other studies have one Hessian
at every minimiser, so no flat-minima claim can be tested on them. Here the minimisers
form manifolds along which λ_max(∇²f) changes (``problems.landscapes``), and every run
records the sharpness (``simulate(..., track_sharpness=True)``).

**Scalar factorisation** f(u, v) = ½(uv − y)², y = 1, from (2, 0.3), full batch
[derived, docs/theory.md §6.1]:

- GD: one step multiplies the balance B = u² − v² by exactly (1 − η²r²), r = uv − y =
  ±√(2f), so B_T = B_0 Π_t (1 − 2η² f(x_t)) and |B_T − B_0| ≤ |B_0| 2η² Σ_t f(x_t)
  (for 2η²f ≤ 1). On the valley uv = y, λ_max = u² + v² = √(B² + 4y²): GD stops where
  its start decides, λ_max ≈ √(B_0² + 4y²) = 4.39.
- SAM: drives B to 0 (claim: |B_T| ≤ 10⁻⁶|B_0|); on the balanced line u = v = c + δ
  (c = √y) the orbit enters and keeps the interval [δ₋, δ₊], the images of δ → 0± under
  one SAM step: δ₋ = −η((c + ρ/√2)² − y)(c + ρ/√2), δ₊ = η(y − (c − ρ/√2)²)(c − ρ/√2)
  (each one-sided step map is increasing for η(3ã² − y) < 1, so the interval is
  invariant), where λ_max = 3(c + δ)² − y. Claims: the tail sharpness lies in
  [3(c + δ₋)² − y, 3(c + δ₊)² − y] = 2|y| ± O(ηρ).

**Final sharpness per rule** on a diagonal network, symmetric matrix sensing and a
two-layer tanh network, batch 1 with replacement, the same start for every rule, matched
step sizes (heavy-ball rules take γ(1 − β), the same effective step): the mean final
λ_max with its interval over trajectories for SGD, SAM, USAM, Stable SAM, MSAM and RST;
claim "SAM ends flatter than SGD", one-sided on the difference of means (Welch). It is
the papers' empirical hypothesis, not a theorem, so a violation is reported as a finding
and does not fail ``samtheory verify`` (``Claim.hypothesis``).

**Stability edges at convergence** (full batch on the diagonal network and the scalar
factorisation, random starts much sharper than the edge): GD that converges ends at λ_max ≤ 2/η, USAM at λ_max(1 + ρλ_max) ≤ 2/η
(docs/theory.md §4), checked over every converged start (f < 10⁻⁸).

**Sparsity on the diagonal network** (an under-determined one, n = 20 < d = 40, 3-sparse
teacher, small start 0.1·(1, 0)): ‖u ⊙ v‖₁ and ‖u ⊙ v − β*‖ of GD vs SAM (full batch) and
SGD vs SAM (batch 1), and the hypothesis "SAM at batch 1 ends sparser than SGD" (lower ℓ1).
"""
import math
import time

import numpy as np

from .. import problems, rules, sampling
from ..engine.simulate import simulate
from ..plots import plt, save_figure
from .base import Claim, StudyResult, decided_claim, exact_claim, mean_ci, prepare, run_seed

NAME = "sharpness"
TITLE = "Sharpness: flat minima, balance and stability edges on landscapes with valleys of minima"
SOURCE = "derived (docs/theory.md §6)"
SOURCE_FLAT = "SAM papers: SAM converges to flatter minima than SGD"
SOURCE_SPARSE = "Andriushchenko & Flammarion 2022: SAM prefers sparser diagonal networks"
CONFIG = {
    "quick": dict(gd_steps=2000, sam_steps=10000, tail=1000, steps=2000, trajectories=64,
                  edge_starts=32, edge_steps=4000, records=20),
    "full": dict(gd_steps=4000, sam_steps=40000, tail=4000, steps=20000, trajectories=256,
                 edge_starts=128, edge_steps=20000, records=50),
}
Y, START = 1.0, (2.0, 0.3)
ETA_GD, ETA_SAM, RHO_SAM = 0.05, 0.1, 0.1
RHO = 0.05               # radius of every perturbed rule in the per-rule comparison
MOMENTUM = 0.6           # heavy-ball β of MSAM (step γ(1 − β))
RST_PROBABILITY = 0.5
CONVERGED = 1e-8         # f(x_T) − f* below which an edge run counts as converged
EDGE_RHO = 0.05
FAMILIES = {   # name: (constructor keyword arguments, step size γ of the comparison)
    "diagonal network": (dict(n=40, d=20, sparsity=3, seed=0, init_scale=0.5), 0.05),
    "matrix sensing": (dict(n=40, d=5, rank=1, width=3, seed=0, init_scale=0.3), 0.02),
    "two-layer tanh": (dict(n=40, d=4, width=6, teacher_width=2, seed=0), 0.1),
}
# edge runs: (scale of the random starts x₀ ~ scale·N(0, I), step sizes η)
EDGE_FAMILIES = {"diagonal network": (1.0, (0.3, 0.5)), "scalar factorisation": (2.0, (0.3, 0.5))}
COMPARED = ("SGD", "SAM", "USAM", "StableSAM", "MSAM", "RST")
# the sparsity rows: under-determined (n < d), so u ⊙ v = β* is not the only interpolator
SPARSE = dict(n=20, d=40, sparsity=3, seed=0, init_scale=0.1)
SPARSE_RUNS = (("GD", "full"), ("SAM", "full"), ("SGD", 1), ("SAM", 1))


def family(name):
    """The problem of family ``name`` (``FAMILIES``, or the scalar factorisation)."""
    if name == "scalar factorisation":
        return problems.scalar_factorisation(Y, START)
    options = FAMILIES[name][0]
    if name == "diagonal network":
        return problems.diagonal_network(**options)
    if name == "matrix sensing":
        return problems.matrix_sensing(**options)
    return problems.two_layer(**options)


def compared_rule(name, lr):
    """Rule ``name`` of the comparison at step ``lr`` (heavy ball: lr(1 − β)), radius ``RHO``."""
    if name == "SGD":
        return rules.SGD(lr)
    if name == "SAM":
        return rules.SAM(lr, RHO)
    if name == "USAM":
        return rules.USAM(lr, RHO)
    if name == "StableSAM":
        return rules.StableSAM(lr, RHO)
    if name == "MSAM":
        return rules.MSAM(lr * (1 - MOMENTUM), RHO, momentum=MOMENTUM)
    return rules.RST(lr, RHO, RST_PROBABILITY)


def sam_interval(eta, rho, y):
    """(λ₋, λ₊): the sharpness range of SAM's invariant interval on the balanced line of
    ½(uv − y)² (module docstring)."""
    c = math.sqrt(abs(y))
    s = rho / math.sqrt(2)
    low = -eta * ((c + s) ** 2 - abs(y)) * (c + s)
    high = eta * (abs(y) - (c - s) ** 2) * (c - s)
    return 3 * (c + low) ** 2 - abs(y), 3 * (c + high) ** 2 - abs(y)


# -- points -------------------------------------------------------------------------------

def scalar_point(rule, steps):
    """Balance, sharpness and f at every step of GD (η = ``ETA_GD``) or SAM (η = ``ETA_SAM``,
    ρ = ``RHO_SAM``) on ½(uv − y)² from ``START``."""
    problem = problems.scalar_factorisation(Y, START)
    chosen = rules.SGD(ETA_GD) if rule == "GD" else rules.SAM(ETA_SAM, RHO_SAM)
    out = simulate(problem, chosen, sampling.TauNice(1), steps=steps, trajectories=1, record_every=1,
                   track_sharpness=True)
    return {"balance": out.metrics["balance"][0], "sharpness": out.metrics["sharpness"][0],
            "gap": out.metrics["loss_gap"][0], "final_x": out.final_x[0]}


def final_point(problem, rule, steps, trajectories, records, seed):
    """Final sharpness (per trajectory) and its quantile bands per record of ``rule`` on family
    ``problem`` at batch 1; for the diagonal network also ‖u ⊙ v‖₁ and ‖u ⊙ v − β*‖."""
    chosen_problem = family(problem)
    out = simulate(chosen_problem, compared_rule(rule, FAMILIES[problem][1]), sampling.WithReplacement(1),
                   steps=steps, trajectories=trajectories, seed=seed, record_every=max(1, steps // records),
                   track_sharpness=True)
    sharp = out.metrics["sharpness"]
    values = {"final": sharp[:, -1], "record_steps": out.steps, "gap": out.metrics["loss_gap"][:, -1],
              "q05": np.nanquantile(sharp, 0.05, axis=0), "q50": np.nanquantile(sharp, 0.5, axis=0),
              "q95": np.nanquantile(sharp, 0.95, axis=0)}
    return values


def sparsity_point(rule, batch, steps, trajectories, seed):
    """‖u ⊙ v‖₁ and ‖u ⊙ v − β*‖ per trajectory after GD/SGD or SAM (γ and ρ of the
    diagonal network's comparison) on the under-determined ``SPARSE`` diagonal network,
    at full batch (``batch="full"``, one trajectory: deterministic) or batch 1."""
    problem = problems.diagonal_network(**SPARSE)
    lr = FAMILIES["diagonal network"][1]
    chosen = rules.SAM(lr, RHO) if rule == "SAM" else rules.SGD(lr)
    full = batch == "full"
    out = simulate(problem, chosen, sampling.TauNice(problem.n) if full else sampling.WithReplacement(batch),
                   steps=steps, trajectories=1 if full else trajectories, seed=seed)
    d = problem.d // 2
    beta = out.final_x[:, :d] * out.final_x[:, d:]
    return {"l1": np.abs(beta).sum(axis=1), "teacher_distance": np.linalg.norm(beta - problem.teacher, axis=1),
            "gap": out.metrics["loss_gap"][:, -1]}


def edge_point(problem, rule, eta, starts, steps, seed):
    """Final f − f* and λ_max of GD or USAM (ρ = ``EDGE_RHO``) at full batch from ``starts``
    random starts x₀ ~ scale·N(0, I) (scale from ``EDGE_FAMILIES``), and λ_max at x₀."""
    chosen_problem = family(problem)
    scale = EDGE_FAMILIES[problem][0]
    x0 = scale * np.random.default_rng(seed).standard_normal((starts, chosen_problem.d))
    chosen = rules.SGD(eta) if rule == "GD" else rules.USAM(eta, EDGE_RHO)
    out = simulate(chosen_problem, chosen, sampling.TauNice(chosen_problem.n), steps=steps,
                   trajectories=starts, x0=x0, record_every=steps, track_sharpness=True)
    return {"gap": out.metrics["loss_gap"][:, -1], "sharpness": out.metrics["sharpness"][:, -1],
            "start": out.metrics["sharpness"][:, 0]}


TASKS = {"scalar": scalar_point, "final": final_point, "sparsity": sparsity_point, "edge": edge_point}


def units(size):
    """The study's points: 2 scalar runs, every rule on every family, the sparsity runs, the edges."""
    edges = sum(len(etas) for _, etas in EDGE_FAMILIES.values()) * 2
    return 2 + len(FAMILIES) * len(COMPARED) + len(SPARSE_RUNS) + edges


def run(size="quick", outdir=".", seed=0, progress=None, store=None, executor=None):
    """Run the study (points through ``samtheory.sweep``); write figures; return a ``StudyResult``."""
    start = time.perf_counter()
    cfg, outdir, compute = prepare(NAME, CONFIG, size, outdir, progress, store, executor)
    scalar = [dict(task="scalar", rule="GD", steps=cfg["gd_steps"]),
              dict(task="scalar", rule="SAM", steps=cfg["sam_steps"])]
    final = [dict(task="final", problem=name, rule=rule, steps=cfg["steps"],
                  trajectories=cfg["trajectories"], records=cfg["records"], seed=run_seed(seed, k))
             for name in FAMILIES for k, rule in enumerate(COMPARED)]
    sparse = [dict(task="sparsity", rule=rule, batch=batch, steps=cfg["steps"],
                   trajectories=cfg["trajectories"], seed=run_seed(seed, 100 + k))
              for k, (rule, batch) in enumerate(SPARSE_RUNS)]
    edge = [dict(task="edge", problem=name, rule=rule, eta=eta, starts=cfg["edge_starts"],
                 steps=cfg["edge_steps"], seed=seed)
            for name, (_, etas) in EDGE_FAMILIES.items() for eta in etas for rule in ("GD", "USAM")]
    scalar_v, final_v, sparse_v, edge_v = compute(scalar, final, sparse, edge)
    claims = _scalar_claims(dict(zip(("GD", "SAM"), scalar_v)), cfg)
    by_family = {}
    for point, values in zip(final, final_v):
        by_family.setdefault(point["problem"], {})[point["rule"]] = values
    claims += _final_claims(by_family, cfg)
    claims += _edge_claims(edge, edge_v, cfg)
    claims += _sparsity_claims(sparse_v, cfg)
    figures = [_scalar_figure(outdir, dict(zip(("GD", "SAM"), scalar_v))),
               _series_figure(outdir, by_family), _final_figure(outdir, by_family)]
    return StudyResult(NAME, TITLE, claims, figures, time.perf_counter() - start)


# -- claims -------------------------------------------------------------------------------

def _scalar_claims(v, cfg):
    gd, sam = v["GD"], v["SAM"]
    B0, BT = gd["balance"][0], gd["balance"][-1]
    setting = f"½(uv − {Y:g})² from {START}, full batch"
    product = B0 * np.prod(1 - 2 * ETA_GD ** 2 * gd["gap"][:-1])
    drift = abs(B0) * 2 * ETA_GD ** 2 * gd["gap"][:-1].sum()
    claims = [
        exact_claim("GD: B_T = B_0 Π(1 − 2η² f(x_t)) (balance B = u² − v²)", SOURCE,
                    f"{setting}, GD η={ETA_GD:g}, T={cfg['gd_steps']}", BT, product, 1e-12 * abs(B0),
                    note=f"B_0 = {B0:.6g}"),
        decided_claim("GD: |B_T − B_0| ≤ |B_0|·2η² Σ f(x_t) (O(η²) drift)", SOURCE,
                      f"{setting}, GD η={ETA_GD:g}", abs(BT - B0), 0.0, drift),
        exact_claim("GD: λ_max(x_T) = √(B_T² + 4y²) (the valley point its start selects)", SOURCE,
                    f"{setting}, GD η={ETA_GD:g}", gd["sharpness"][-1], math.sqrt(BT ** 2 + 4 * Y ** 2),
                    1e-8, note=f"f(x_T) = {gd['gap'][-1]:.2g}; from B_0: √(B_0² + 4y²) = "
                               f"{math.sqrt(B0 ** 2 + 4 * Y ** 2):.4g}"),
        decided_claim("SAM: |B_T| ≤ 1e-6·|B_0| (SAM balances u and v)", SOURCE,
                      f"{setting}, SAM η={ETA_SAM:g}, ρ={RHO_SAM:g}, T={cfg['sam_steps']}",
                      abs(sam["balance"][-1]), 0.0, 1e-6 * abs(B0)),
    ]
    low, high = sam_interval(ETA_SAM, RHO_SAM, Y)
    tail = sam["sharpness"][-cfg["tail"]:]
    config = f"{setting}, SAM η={ETA_SAM:g}, ρ={RHO_SAM:g}, last {cfg['tail']} of {cfg['sam_steps']} steps"
    claims += [
        decided_claim("SAM: tail λ_max ≤ λ₊ (invariant interval, 2|y| + O(ηρ))", SOURCE, config,
                      float(np.max(tail)), 0.0, high, note=f"flattest minimiser 2|y| = {2 * abs(Y):g}"),
        decided_claim("SAM: tail λ_max ≥ λ₋ (invariant interval, 2|y| − O(ηρ))", SOURCE, config,
                      float(np.min(tail)), 0.0, low, kind="lower",
                      note=f"GD ends at λ_max = {gd['sharpness'][-1]:.4g}"),
    ]
    return claims


def _welch(a, b):
    """(mean(a) − mean(b), its standard error, Welch's degrees of freedom) over finite entries."""
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1)) if va + vb > 0 else None
    return float(a.mean() - b.mean()), float(math.sqrt(va + vb)), df


def _final_claims(by_family, cfg):
    claims = []
    for name, runs in by_family.items():
        lr = FAMILIES[name][1]
        setting = (f"{family(name).name}, batch 1, γ={lr:g}, ρ={RHO:g}, T={cfg['steps']}, "
                   f"{cfg['trajectories']} trajectories")
        for rule in COMPARED:
            final = runs[rule]["final"]
            diverged = int(np.sum(~np.isfinite(final)))
            claims.append(_info(f"{rule}: final λ_max (mean)", SOURCE_FLAT, setting, final, math.nan,
                                f"final f − f* mean {np.nanmean(runs[rule]['gap']):.3g}; "
                                f"{diverged} diverged (left out)"))
        difference, stderr, df = _welch(runs["SGD"]["final"], runs["SAM"]["final"])
        claims.append(decided_claim("SAM ends flatter than SGD: E λ_SGD − E λ_SAM ≥ 0", SOURCE_FLAT,
                                    setting, difference, stderr, 0.0, kind="lower", df=df,
                                    hypothesis=True, note="Welch difference of the final λ_max means"))
    return claims


def _edge_claims(points, values, cfg):
    claims = []
    for point, v in zip(points, values):
        eta, rule = point["eta"], point["rule"]
        converged = np.isfinite(v["gap"]) & (v["gap"] < CONVERGED)
        lam = v["sharpness"][converged]
        ratio = lam * eta / 2 if rule == "GD" else eta * lam * (1 + EDGE_RHO * lam) / 2
        edge = "λ_max ≤ 2/η" if rule == "GD" else "λ_max(1 + ρλ_max) ≤ 2/η"
        config = (f"{family(point['problem']).name}, full batch, {rule} η={eta:g}"
                  + (f", ρ={EDGE_RHO:g}" if rule == "USAM" else "")
                  + f", {point['starts']} random starts, T={point['steps']}")
        worst = float(np.max(ratio)) if lam.size else math.nan
        start = float(np.max(v["start"] * eta / 2))
        note = (f"{int(converged.sum())} of {converged.size} starts converged (f − f* < {CONVERGED:g}); "
                f"largest start λ_max·η/2 = {start:.3g}")
        if lam.size:
            claims.append(decided_claim(f"{rule} at convergence: {edge} (max over converged starts, ×η/2)",
                                        SOURCE, config, worst, 0.0, 1.0, note=note))
        else:
            claims.append(_info(f"{rule} at convergence: {edge} (no start converged)", SOURCE, config,
                                np.array([]), 1.0, note))
    return claims


def _sparsity_claims(values, cfg):
    claims = []
    problem = problems.diagonal_network(**SPARSE)
    setting = (f"{problem.name}, init {SPARSE['init_scale']:g}, γ={FAMILIES['diagonal network'][1]:g}, "
               f"ρ={RHO:g}, T={cfg['steps']}")
    runs = {}
    for (rule, batch), v in zip(SPARSE_RUNS, values):
        label = f"{rule} ({'full batch' if batch == 'full' else f'batch {batch}'})"
        runs[label] = v
        for key, what in (("l1", "‖u ⊙ v‖₁"), ("teacher_distance", "‖u ⊙ v − β*‖")):
            teacher = float(np.abs(problem.teacher).sum()) if key == "l1" else 0.0
            claims.append(_info(f"{label}: {what}", SOURCE_SPARSE, setting, v[key], teacher,
                                f"bound column: the teacher's value; final f − f* {np.mean(v['gap']):.2g}"))
    difference, stderr, df = _welch(runs["SGD (batch 1)"]["l1"], runs["SAM (batch 1)"]["l1"])
    claims.append(decided_claim("SAM (batch 1) ends sparser than SGD: E‖u ⊙ v‖₁ SGD − SAM ≥ 0",
                                SOURCE_SPARSE, f"{setting}, {cfg['trajectories']} trajectories each",
                                difference, stderr, 0.0, kind="lower", df=df, hypothesis=True,
                                note="Welch difference of the ℓ1 means"))
    return claims


def _info(claim, source, configuration, sample, bound, note):
    """A reported-only row: the mean of ``sample`` with its interval (``base.mean_ci``)."""
    mean, low, high = mean_ci(sample)
    return Claim(claim=claim, source=source, configuration=configuration, empirical=mean, ci_low=low,
                 ci_high=high, bound=bound, verdict="info", kind="info", note=note)


# -- figures ------------------------------------------------------------------------------

def _scalar_figure(outdir, v):
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for k, (name, values) in enumerate(v.items()):
        axes[0].plot(values["sharpness"], f"C{k}-", lw=1, label=name)
        axes[1].semilogy(np.abs(values["balance"]) + 1e-300, f"C{k}-", lw=1, label=name)
    low, high = sam_interval(ETA_SAM, RHO_SAM, Y)
    axes[0].axhspan(low, high, color="C1", alpha=0.2, label="SAM's invariant interval")
    axes[0].axhline(2 * abs(Y), color="k", ls="--", lw=1, label="flattest minimiser 2|y|")
    axes[0].set_xscale("log")
    axes[0].set_xlabel("step t")
    axes[0].set_ylabel("λ_max(∇²f(x_t))")
    axes[1].set_xscale("log")
    axes[1].set_xlabel("step t")
    axes[1].set_ylabel("|u² − v²|")
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=7)
    fig.suptitle(f"½(uv − {Y:g})² from {START}: GD η={ETA_GD:g}, SAM η={ETA_SAM:g} ρ={RHO_SAM:g}", fontsize=9)
    return save_figure(fig, outdir / "sharpness_scalar")


def _series_figure(outdir, by_family):
    fig, axes = plt.subplots(1, len(by_family), figsize=(4 * len(by_family), 3.6))
    for ax, (name, runs) in zip(np.atleast_1d(axes), by_family.items()):
        for k, rule in enumerate(COMPARED):
            r = runs[rule]
            ax.plot(r["record_steps"], r["q50"], f"C{k}-", lw=1, label=rule)
            ax.fill_between(r["record_steps"], r["q05"], r["q95"], color=f"C{k}", alpha=0.15)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step t")
        ax.set_ylabel("λ_max (median, 5–95 % band)")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    return save_figure(fig, outdir / "sharpness_series")


def _final_figure(outdir, by_family):
    fig, axes = plt.subplots(1, len(by_family), figsize=(4 * len(by_family), 3.6))
    for ax, (name, runs) in zip(np.atleast_1d(axes), by_family.items()):
        data = [runs[rule]["final"][np.isfinite(runs[rule]["final"])] for rule in COMPARED]
        ax.boxplot(data, tick_labels=COMPARED, showfliers=False)
        ax.tick_params(axis="x", labelsize=7, rotation=30)
        ax.set_title(name, fontsize=9)
        ax.set_ylabel("final λ_max over trajectories")
    return save_figure(fig, outdir / "sharpness_final")
