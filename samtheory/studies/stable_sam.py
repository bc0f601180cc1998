r"""Study 3 — Stable SAM: the learning-rate regime map and saddle-escape times.

**Regime map.** On f = ½ xᵀHx, H = diag(10, 3, 1), full batch from x₀ = (1, 1, 1), every
cell (η, ρ) of a log-spaced grid is run for T steps with GD, USAM, SAM and Stable SAM
(perturbation e = ρg, λ = 0, the journal version, and e = ρg/‖g‖, λ = 1, arXiv v1) and
classified from G_t = ‖∇f(x_t)‖² at t = 0, T/2, T (``classify``):

- *diverged*: the engine flagged inf/NaN, or G_T > 16 max(G_{T/2}, G_0) (growth over the
  second half, as in ``theory.stability.StabilityThreshold``);
- *converged*: G_T ≤ 1e-16 G_0;
- *bounced*: neither (bounded, not converging: SAM's 2-cycle).

T is chosen so that the slowest contraction on the grid, |1 − η_min λ_min|^{2T}, is below
1e-26 (GD at η_min on λ_min = 1), and SAM's 2-cycle level (λ₁c)² with
c = ηρλ₁/(2 − ηλ₁) is above 1e-16 G_0 on every cell (both are asserted before running).

The closed forms of docs/theory.md §4 predict (``predict``): GD converges iff ηλ_max < 2; USAM
iff ηλ_max(1 + ρλ_max) < 2; normalised SAM never converges (ρ > 0) but bounces iff
ηλ_max < 2 and diverges above; Stable SAM (both variants) converges iff ηλ_max < 2
(along one eigen-direction it is GD exactly). A cell is *excluded* when the boundary
passes within half a grid step of it: the prediction at one of the four corners
(η r_η^{±1/2}, ρ r_ρ^{±1/2}) (r the grid ratios) differs from its centre. The claim per
rule is the fraction of the remaining cells whose class agrees: 1 expected.

The four stability thresholds of ``theory.stability`` are measured by bisection
(``theory.check``) as further rows.

**Saddle escape** on f = ½(x² − y²) (``problems.saddle``), η = 0.05, from (1, 1e-3):
the first step with |y_t| > 1 for GD, USAM and Stable USAM (λ = 0) at ρ = 0.5, 0.9, 2
against docs/theory.md §4: GD 142; USAM 280, 1386, stuck; Stable USAM 212, 274, stuck. For GD
and USAM y_t = (1 + η(1 − ρ))^t y_0 gives ⌊ln(1/y_0)/ln q⌋ + 1 (stuck when q < 1); Stable
USAM has no closed form, and its steps come from an independent plain-Python run. |y_t| is
read at every step from the recorded metrics, y² = (‖∇f‖² − 2af)/(c(a + c)), and the step k
is confirmed from the iterates: |y_{k−1}| ≤ 1 < |y_k|. "Stuck" means max_t |y_t| ≤ 1 over
20 000 steps.
"""
from dataclasses import replace
import math
import time

import numpy as np

from .. import rules, theory
from ..plots import plt, save_figure
from ..problems import Quadratic, saddle
from ..theory.stability import GROWTH
from .base import Claim, StudyResult, check_values, checked, decided_claim, exact_claim, full_batch, prepare

NAME = "stable_sam"
TITLE = "Stable SAM: regime map (η × ρ) and saddle-escape times"
SOURCE = "derived (closed forms, docs/theory.md §4)"
CONFIG = {
    "quick": dict(etas=(0.01, 0.4, 12), rhos=(0.005, 0.5, 8), steps=3000),
    "full": dict(etas=(0.01, 0.4, 48), rhos=(0.005, 0.5, 32), steps=3000),
}
EIGENVALUES = (10.0, 3.0, 1.0)
CONVERGED = 1e-16            # G_T ≤ CONVERGED · G_0 counts as converged
CLASSES = ("converged", "bounced", "diverged")
RULES = {                    # label → (make_rule(η, ρ), kind of closed form)
    "GD": (lambda eta, rho: rules.SGD(eta), "gd"),
    "USAM": (lambda eta, rho: rules.USAM(eta, rho), "usam"),
    "SAM": (lambda eta, rho: rules.SAM(eta, rho), "sam"),
    "Stable SAM λ=0": (lambda eta, rho: rules.StableSAM(eta, rho, lam=0.0), "stable"),
    "Stable SAM λ=1": (lambda eta, rho: rules.StableSAM(eta, rho, lam=1.0), "stable"),
}
ESCAPE_ETA, ESCAPE_LIMIT, ESCAPE_START = 0.05, 20000, (1.0, 1e-3)
ESCAPE_RULES = {             # label → make_rule(ρ)
    "GD": lambda rho: rules.SGD(ESCAPE_ETA),
    "USAM": lambda rho: rules.USAM(ESCAPE_ETA, rho),
    "Stable USAM": lambda rho: rules.StableSAM(ESCAPE_ETA, rho, lam=0.0),
}
ESCAPES = (                  # (label, ρ, step of docs/theory.md §4; None = stuck)
    ("GD", 0.0, 142), ("USAM", 0.5, 280), ("USAM", 0.9, 1386), ("USAM", 2.0, None),
    ("Stable USAM", 0.5, 212), ("Stable USAM", 0.9, 274), ("Stable USAM", 2.0, None),
)
THRESHOLDS = ("gd_threshold", "usam_threshold", "sam_threshold", "stable_sam_threshold")   # of theory


# -- regime map ------------------------------------------------------------------------

def classify(g_start, g_half, g_end, diverged=False):
    r"""The regime of a run from ‖∇f‖² at t = 0, T/2 and T (see the module docstring).

    Returns "diverged" if ``diverged`` or G_T is not finite or G_T > 16 max(G_{T/2}, G_0);
    else "converged" if G_T ≤ 1e-16 G_0; else "bounced".
    """
    if diverged or not math.isfinite(g_end) or g_end / GROWTH > max(g_half, g_start):
        return "diverged"
    return "converged" if g_end <= CONVERGED * g_start else "bounced"


def predict(kind, eta, rho, lam_max):
    """The closed-form regime of ``kind`` ("gd", "usam", "sam", "stable") at (η, ρ)."""
    if kind == "usam":
        return "converged" if eta * lam_max * (1 + rho * lam_max) < 2 else "diverged"
    if eta * lam_max >= 2:
        return "diverged"
    return "bounced" if kind == "sam" and rho > 0 else "converged"


def grid(spec):
    """(low, high, count) → ``count`` log-spaced values and the half-step ratio √r."""
    low, high, count = spec
    values = np.geomspace(low, high, count)
    return values, math.sqrt(high / low) ** (1.0 / (count - 1))


def excluded(kind, eta, rho, lam_max, eta_half, rho_half):
    """True when the predicted regime changes within half a grid step of (η, ρ)."""
    centre = predict(kind, eta, rho, lam_max)
    return any(predict(kind, eta * a, rho * b, lam_max) != centre
               for a in (1 / eta_half, eta_half) for b in (1 / rho_half, rho_half))


def regime_column(make_rule, eta, rhos, steps, problem, rho_free=False):
    """(len(ρ),) array of class indices (``CLASSES``) at one η; ``rho_free``: the rule ignores
    ρ, so one run serves every ρ."""
    out = np.empty(len(rhos), dtype=int)
    for i, rho in enumerate(rhos[:1] if rho_free else rhos):
        run = full_batch(problem, make_rule(eta, rho), steps, record_every=steps // 2)
        g = run.metrics["grad_norm_sq"][0]
        out[i] = CLASSES.index(classify(g[0], g[1], g[-1], bool(run.diverged[0])))
    if rho_free:
        out[:] = out[0]
    return out


def map_problem():
    """½xᵀdiag(``EIGENVALUES``)x from x₀ = 1, the problem of the regime map."""
    return Quadratic(np.array(EIGENVALUES), x0=np.ones(len(EIGENVALUES)))


def _check_resolution(etas, rhos, steps, lam):
    """The module docstring's two conditions on T and the grid."""
    slowest = (1 - etas[0] * lam.min()) ** (2 * steps)
    if slowest > 1e-26:
        raise ValueError(f"steps={steps} too few: GD at η={etas[0]:g} contracts only to {slowest:.3g}")
    below = etas[etas * lam.max() < 2]
    c = below[0] * rhos[0] * lam.max() / (2 - below[0] * lam.max())
    if (lam.max() * c) ** 2 <= 1e3 * CONVERGED * float(np.sum(lam ** 2)):
        raise ValueError("the smallest SAM 2-cycle on the grid is too close to the convergence level")


# -- saddle escape ------------------------------------------------------------------------

def closed_form_escape(eta, rho, y0=ESCAPE_START[1]):
    r"""⌊ln(1/y₀)/ln q⌋ + 1 with q = 1 + η(1 − ρ) (USAM, ρ = 0: GD) on ½(x² − y²); None if q ≤ 1."""
    q = 1.0 + eta * (1.0 - rho)
    return math.floor(math.log(1.0 / y0) / math.log(q)) + 1 if q > 1 else None


def escape(rule, a=1.0, c=1.0, start=ESCAPE_START, limit=ESCAPE_LIMIT):
    r"""(first step k with |y_k| > 1 or None, max_t |y_t| over the run) on ½(a x² − c y²).

    |y_t| comes from the metrics: ‖∇f‖² = a²x² + c²y² and 2f = ax² − cy² give
    y² = (‖∇f‖² − 2af)/(c(a + c)); a found k is confirmed from the iterates
    (|y_{k−1}| ≤ 1 < |y_k|; a ValueError otherwise)."""
    problem = saddle(a, c, x0=start)
    run = full_batch(problem, rule, limit, record_every=1)
    m = run.metrics
    with np.errstate(over="ignore", invalid="ignore"):      # after the escape y overflows
        y = np.sqrt(np.maximum((m["grad_norm_sq"][0] - 2 * a * m["loss_gap"][0]) / (c * (a + c)), 0.0))
    above = np.nonzero(y > 1.0)[0]
    if not above.size:
        return None, float(np.nanmax(y))
    k = int(run.steps[above[0]])
    before = abs(full_batch(problem, rule, k - 1).final_x[0, 1]) if k > 1 else abs(start[1])
    after = abs(full_batch(problem, rule, k).final_x[0, 1])
    if not before <= 1.0 < after:
        raise ValueError(f"escape step {k} not confirmed by the iterates ({before}, {after})")
    return k, float(np.nanmax(y[:above[0] + 1]))


def escape_claims(measured):
    """The claims of ``ESCAPES`` from their measured ``escape`` results (step or None, max |y_t|)."""
    claims = []
    for (label, rho, expected), (step, y_max) in zip(ESCAPES, measured, strict=True):
        if label != "Stable USAM" and closed_form_escape(ESCAPE_ETA, rho) != expected:
            raise AssertionError(f"the expected {label} ρ={rho:g} step disagrees with the closed form")
        config = f"½(x² − y²), η={ESCAPE_ETA:g}, ρ={rho:g}, start {ESCAPE_START}"
        if expected is None:
            claims.append(decided_claim(f"{label} stuck at the saddle (max |y_t| ≤ 1)", SOURCE, config,
                                        y_max, 0.0, 1.0,
                                        note=f"{ESCAPE_LIMIT} steps; y-factor {1 + ESCAPE_ETA * (1 - rho):g}"
                                        if label == "USAM" else f"{ESCAPE_LIMIT} steps"))
        else:
            claims.append(exact_claim(f"{label} escape step", SOURCE, config,
                                      math.nan if step is None else step, expected,
                                      note="first t with |y_t| > 1, docs/theory.md §4"))
    return claims


# -- points -------------------------------------------------------------------------------------

def regime_point(rule, eta, rho_low, rho_high, rho_count, steps):
    """The classes of one column (one η, every ρ of the grid (low, high, count)) of ``rule``'s map."""
    make_rule, kind = RULES[rule]
    rhos, _ = grid((rho_low, rho_high, rho_count))
    return {"classes": regime_column(make_rule, eta, rhos, steps, map_problem(), rho_free=kind == "gd")}


def threshold_point(factory, seed):
    """``theory.check`` of the stability threshold ``getattr(theory, factory)()`` on its example."""
    theorem = getattr(theory, factory)()
    return check_values(theory.check(theorem, **theorem.example(), trajectories=1, seed=seed))


def escape_point(rule, rho):
    """``escape`` of ``ESCAPE_RULES[rule](rho)``: ``escaped``, ``step`` (0 when stuck), ``y_max``."""
    step, y_max = escape(ESCAPE_RULES[rule](rho))
    return {"escaped": step is not None, "step": step or 0, "y_max": y_max}


TASKS = {"regime": regime_point, "threshold": threshold_point, "escape": escape_point}


def units(size):
    """The study's points (``progress`` calls): a map column per rule and η, the thresholds,
    the escapes."""
    return len(RULES) * CONFIG[size]["etas"][2] + len(THRESHOLDS) + len(ESCAPES)


# -- the study ---------------------------------------------------------------------------

def run(size="quick", outdir=".", seed=0, progress=None, store=None, executor=None):
    """Run the study (its points through ``samtheory.sweep``, in ``store`` on ``executor``;
    full batch: ``seed`` only reaches the threshold checks, which do not draw); write the
    figures."""
    start = time.perf_counter()
    cfg, outdir, compute = prepare(NAME, CONFIG, size, outdir, progress, store, executor)
    lam = np.array(EIGENVALUES)
    etas, eta_half = grid(cfg["etas"])
    rhos, rho_half = grid(cfg["rhos"])
    _check_resolution(etas, rhos, cfg["steps"], lam)
    setting = (f"diag{EIGENVALUES}, x₀=1, T={cfg['steps']}, η∈[{etas[0]:g}, {etas[-1]:g}] × "
               f"ρ∈[{rhos[0]:g}, {rhos[-1]:g}] ({etas.size}×{rhos.size} log grid)")
    rho_low, rho_high, rho_count = cfg["rhos"]
    columns = [dict(task="regime", rule=label, eta=eta, rho_low=rho_low, rho_high=rho_high, rho_count=rho_count,
                    steps=cfg["steps"]) for label in RULES for eta in etas]
    escapes = [dict(task="escape", rule=label, rho=rho) for label, rho, _ in ESCAPES]
    thresholds = [dict(task="threshold", factory=name, seed=seed) for name in THRESHOLDS]
    escape_values, column_values, threshold_values = compute(escapes, columns, thresholds)   # longest first
    escaped = [(v["step"] if v["escaped"] else None, v["y_max"]) for v in escape_values]
    column_classes = iter(v["classes"] for v in column_values)
    claims, maps = [], {}
    for label, (_, kind) in RULES.items():
        maps[label] = measured = np.column_stack([next(column_classes) for _ in etas])
        agree = total = 0
        for i, rho in enumerate(rhos):
            for j, eta in enumerate(etas):
                if not excluded(kind, eta, rho, lam.max(), eta_half, rho_half):
                    total += 1
                    agree += CLASSES[measured[i, j]] == predict(kind, eta, rho, lam.max())
        claims.append(exact_claim(f"{label}: regime agrees with the closed form", SOURCE, setting,
                                  agree / total, 1.0,
                                  note=f"{agree}/{total} cells; {etas.size * rhos.size - total} "
                                       "within half a grid step of a boundary excluded"))
    for name, result in zip(THRESHOLDS, threshold_values):
        theorem = getattr(theory, name)()
        example = theorem.example()
        claims.append(replace(Claim.from_check(checked(result), f"{example['rule'].name} on "
                                               f"{example['problem'].name}, T={example['steps']}",
                                               theorem.source), kind="equal"))
    claims.extend(escape_claims(escaped))
    figures = [_map_figure(outdir, maps, etas, rhos, lam, eta_half, rho_half),
               _escape_figure(outdir, [step for step, _ in escaped])]
    return StudyResult(NAME, TITLE, claims, figures, time.perf_counter() - start)


# -- figures --------------------------------------------------------------------------------

def _map_figure(outdir, maps, etas, rhos, lam, eta_half, rho_half):
    from matplotlib.colors import ListedColormap
    colours = ListedColormap(["#4c9a2a", "#f2b134", "#c8553d"])
    fig, axes = plt.subplots(1, len(maps), figsize=(3.2 * len(maps), 3.4), sharey=True)
    extent = [np.log10(etas[0] / eta_half), np.log10(etas[-1] * eta_half),
              np.log10(rhos[0] / rho_half), np.log10(rhos[-1] * rho_half)]
    rho_line = np.geomspace(rhos[0] / rho_half, rhos[-1] * rho_half, 200)
    for ax, (label, measured) in zip(axes, maps.items()):
        kind = RULES[label][1]
        ax.imshow(measured, origin="lower", extent=extent, aspect="auto", cmap=colours, vmin=0,
                  vmax=2, interpolation="nearest")
        ax.axvline(np.log10(2 / lam.max()), color="k", lw=1.2, label="η = 2/λ_max")
        if kind == "usam":
            ax.plot(np.log10(2 / (lam.max() * (1 + rho_line * lam.max()))), np.log10(rho_line), "k--",
                    lw=1.2, label="ηλ(1 + ρλ) = 2")
        for i, rho in enumerate(rhos):
            for j, eta in enumerate(etas):
                if excluded(kind, eta, rho, lam.max(), eta_half, rho_half):
                    ax.plot(np.log10(eta), np.log10(rho), ".", color="0.2", ms=3)
                elif CLASSES[measured[i, j]] != predict(kind, eta, rho, lam.max()):
                    ax.plot(np.log10(eta), np.log10(rho), "kx", ms=5)
        ax.set_title(label)
        ax.set_xlabel("log₁₀ η")
        ax.legend(fontsize=7, loc="lower left")
    axes[0].set_ylabel("log₁₀ ρ")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours(k)) for k in range(3)]
    fig.legend(handles, CLASSES, loc="upper center", ncol=3, bbox_to_anchor=(0.5, 1.06))
    fig.suptitle("· excluded (boundary within half a step), × disagrees", y=-0.02, fontsize=8)
    return save_figure(fig, outdir / "stable_sam_regimes")


def _escape_figure(outdir, steps):
    fig, ax = plt.subplots(figsize=(7, 3.4))
    labels = [label.replace(" ", "\n") + (f"\nρ={rho:g}" if rho else "") for label, rho, _ in ESCAPES]
    heights = [ESCAPE_LIMIT if s is None else s for s in steps]
    bars = ax.bar(range(len(steps)), heights, color=["#555" if s is not None else "#bbb" for s in steps])
    for bar, s, (_, _, expected) in zip(bars, steps, ESCAPES):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(),
                "stuck" if s is None else f"{s}\n(theory {expected})", ha="center", va="bottom", fontsize=7)
    ax.set_yscale("log")
    ax.set_ylim(50, 4 * ESCAPE_LIMIT)
    ax.set_xticks(range(len(steps)), labels, fontsize=7)
    ax.set_ylabel(f"steps until |y| > 1 (stuck: {ESCAPE_LIMIT} shown)")
    ax.set_title(f"saddle ½(x² − y²), η = {ESCAPE_ETA:g}, start {ESCAPE_START}")
    return save_figure(fig, outdir / "stable_sam_escape")
