r"""Study 6 — Edge of stability: the sharpness reached under GD, USAM and SAM against the edges.

The least-squares problems have a constant Hessian, so the sharpness λ_t = λ_max(∇²f(x_t))
cannot move; this study uses the sine least squares of ``problems.nonconvex``
(``random_sine_least_squares(16, 16, c = 1.5)``): f(x) = Σ_j g_j(x_j − x*_j) with
g_j(t) = ½λ_j t² + c sin² t, λ_j ∈ [0.8, 4], so ∇²f = diag(λ_j + 2c cos 2t_j) ranges from
λ_j − 2c far from x* to κ_j = λ_j + 2c at x* (``FiniteSum.hessian_at``: the general finite-sum
formula (1/n) Σ ℓ''(a_iᵀx) a_i a_iᵀ + c diag r''(x − z), checked against finite differences).

**Edges** (ηλ is the step's curvature budget):

- GD: a fixed point (a minimum) is linearly stable iff ηλ < 2, and a 2-cycle t ↔ −t of
  the odd 1-D map t ↦ t − ηg'(t) is stable iff (1 − ηg''(t))² < 1, i.e. g''(t) < 2/η at
  its points [derived]. Edge 2/η.
- USAM: a fixed point is stable iff ηλ(1 + ρλ) < 2, edge λ* = (√(1 + 8ρ/η) − 1)/(2ρ)
  [derived, docs/theory.md §4]; on a 2-cycle the condition mixes g'' at x and at the ascent
  point, so here λ* is tested empirically.
- SAM (normalised): on the 2-cycle of a quadratic ηλ(1 + ρλ/‖∇f‖) = 2 exactly
  (docs/theory.md §4, Long & Bartlett's SAM edge), i.e. λ_t ≤ λ_SAM(‖∇f‖), the positive root
  of ηρλ² + η‖∇f‖λ − 2‖∇f‖ = 0, which lies below 2/η; here tested empirically as
  S_t = ηλ_t(1 + ρλ_t/‖∇f(x_t)‖) ≤ 2, and λ_t ≤ 2/η.

**Protocol.** Each run starts sharp, x₀ = x* + 0.01 z (z ~ N(0, I) fixed), where
λ₀ ≈ κ_max = 7 exceeds every tested edge E. The edges E are midpoints between consecutive
κ_j above λ_far = max λ_j = 4 (so no curvature sits at an edge, where leaving x* would take
arbitrarily long, and the far field, curvature ≤ λ_j < E, keeps orbits bounded); GD and
SAM use η = 2/E, USAM η = 2/(E(1 + ρE)) (so that λ* = E). After ``settle`` steps the
sharpness is read at every one of the next ``tail`` steps; iterates come from restarting
``simulate`` from ``final_x`` one step at a time (``iterates``), which is the same
trajectory because the rules are memoryless at full batch. Claims: the largest tail
λ_t/E over all edges is ≤ 1 for GD and USAM; for SAM λ_t η/2 ≤ 1 and S_t/2 ≤ 1; info
notes give the per-edge values (how close to the edge the sharpness settles).

What this shows and what it does not: the sharpness settles just below each edge because the
coordinates whose curvature at x* exceeds it leave x* for 2-cycles of lower curvature while
the others converge (self-stabilisation from a sharp start). The problem has no progressive
sharpening, so the "rise to the edge and hover" phase of neural-network training is not
reproduced here.
"""
import time

import numpy as np

from .. import problems, rules
from ..plots import plt, save_figure
from .base import StudyResult, decided_claim, exact_claim, full_batch, prepare

NAME = "edge_of_stability"
TITLE = "Edge of stability: sharpness reached under GD, USAM and SAM against the predicted edges"
SOURCE = "derived (docs/theory.md §4; edges of GD, USAM, SAM)"
CONFIG = {
    "quick": dict(edges=3, settle=1500, tail=8, series=150),
    "full": dict(edges=12, settle=4000, tail=32, series=400),
}
REG = 1.5
RHO_USAM, RHO_SAM = 0.1, 0.05
START_NOISE = 0.01
RULES = ("GD", "USAM", "SAM")
FD_STEP, FD_TOLERANCE = 1e-5, 1e-6


def make_problem():
    """The sine least-squares problem of the study."""
    return problems.random_sine_least_squares(16, 16, reg_strength=REG, eigenvalues=(0.8, 4.0), seed=0)


def hessian_top_eigenvalue(problem, x):
    """λ_max(∇²f(x)); NaN where x is not finite."""
    if not np.all(np.isfinite(x)):
        return float("nan")
    return float(np.linalg.eigvalsh(problem.hessian_at(x))[-1])


def finite_difference_error(problem, x, step=FD_STEP):
    r"""max |∇²f − H_fd| / max |∇²f| with H_fd the central difference of the NumPy gradient:
    column k = (∇f(x + h e_k) − ∇f(x − h e_k))/(2h) (error O(h²))."""
    d = problem.d
    fd = np.column_stack([(problem.gradient(x + step * e) - problem.gradient(x - step * e)) / (2 * step)
                          for e in np.eye(d)])
    exact = problem.hessian_at(x)
    return float(np.max(np.abs(exact - fd)) / np.max(np.abs(exact)))


def iterates(problem, rule, x0, steps):
    """(steps + 1, d) iterates x_0..x_T of a memoryless rule at full batch, one step per call."""
    if rule.base != "sgd":
        raise ValueError("iterates() restarts from final_x: the rule must keep no state (base 'sgd')")
    xs = [np.asarray(x0, dtype=float)]
    for _ in range(steps):
        xs.append(full_batch(problem, rule, 1, x0=xs[-1], record_every=1).final_x[0])
    return np.array(xs)


def sharpness(problem, xs):
    """(λ_max(∇²f(x_t)), ‖∇f(x_t)‖) for each row of ``xs``."""
    return (np.array([hessian_top_eigenvalue(problem, x) for x in xs]),
            np.array([np.linalg.norm(problem.gradient(x)) for x in xs]))


def usam_edge(eta, rho):
    """λ* = (√(1 + 8ρ/η) − 1)/(2ρ)."""
    return (np.sqrt(1 + 8 * rho / eta) - 1) / (2 * rho)


def sam_edge(eta, rho, grad_norm):
    """λ_SAM = the positive root of ηρλ² + η‖∇f‖λ − 2‖∇f‖ = 0 (ηλ(1 + ρλ/‖∇f‖) = 2)."""
    g = np.asarray(grad_norm, dtype=float)
    return (-eta * g + np.sqrt((eta * g) ** 2 + 8 * eta * rho * g)) / (2 * eta * rho)


def edges(problem, count):
    """``count`` edges spread over the midpoints of consecutive curvatures κ_j at x* above λ_far."""
    kappa = np.unique(np.round(np.diag(problem.hessian_at(problem.x_star)), 12))
    middle = (kappa[1:] + kappa[:-1]) / 2
    middle = middle[middle > np.max(problem.eigenvalues)]
    picks = np.unique(np.round(np.linspace(0, middle.size - 1, min(count, middle.size))).astype(int))
    return middle[picks]


def rule_at(name, edge):
    """The rule whose edge is ``edge``: GD, SAM with η = 2/E; USAM with λ*(η, ρ) = E."""
    if name == "USAM":
        return rules.USAM(2 / (edge * (1 + RHO_USAM * edge)), RHO_USAM)
    if name == "SAM":
        return rules.SAM(2 / edge, RHO_SAM)
    return rules.SGD(2 / edge)


def sharp_start(problem, seed):
    """x₀ = x* + ``START_NOISE``·z, z ~ N(0, I) drawn with ``seed``."""
    return problem.x_star + START_NOISE * np.random.default_rng(seed).standard_normal(problem.d)


# -- points -------------------------------------------------------------------------------------

def sharpness_point(rule, edge, settle, steps, seed):
    """``lam`` = λ_max(∇²f(x_t)) and ``grad`` = ‖∇f(x_t)‖ at the ``steps`` + 1 iterates of
    ``rule_at(rule, edge)`` from the sharp start, after ``settle`` steps first (none when 0),
    and the rule's step ``eta``."""
    problem, chosen = make_problem(), rule_at(rule, edge)
    x = sharp_start(problem, seed)
    if settle:
        x = full_batch(problem, chosen, settle, x0=x, record_every=settle).final_x[0]
    lam, grad = sharpness(problem, iterates(problem, chosen, x, steps))
    return {"lam": lam, "grad": grad, "eta": float(chosen.lr.value)}


TASKS = {"sharpness": sharpness_point}


def units(size):
    """The study's points (``progress`` calls): every rule at every edge, and each rule's series."""
    return len(RULES) * (CONFIG[size]["edges"] + 1)


def run(size="quick", outdir=".", seed=0, progress=None, store=None, executor=None):
    """Run the study (its points through ``samtheory.sweep``, in ``store`` on ``executor``;
    x₀'s perturbation uses ``seed``); write figures; return a ``StudyResult``."""
    start = time.perf_counter()
    cfg, outdir, compute = prepare(NAME, CONFIG, size, outdir, progress, store, executor)
    problem = make_problem()
    x0 = sharp_start(problem, seed)
    lam0 = hessian_top_eigenvalue(problem, x0)
    setting = (f"sine LS n=d=16, c={REG:g}, λ_j∈[0.8, 4], x₀ = x* + {START_NOISE:g}z (λ₀={lam0:.3g}), "
               f"settle {cfg['settle']} + tail {cfg['tail']} steps")
    claims = [exact_claim("Hessian formula vs central differences of ∇f (relative max error)",
                          "derived", f"{problem.name} at x₀ and at x* + z", max(
                              finite_difference_error(problem, x0),
                              finite_difference_error(problem, problem.x_star + (x0 - problem.x_star) * 100)),
                          0.0, FD_TOLERANCE, note=f"step {FD_STEP:g}, O(h²) error")]
    E = edges(problem, cfg["edges"])
    middle = E[len(E) // 2]
    at_edges = [dict(task="sharpness", rule=name, edge=edge, settle=cfg["settle"], steps=cfg["tail"], seed=seed)
                for edge in E for name in RULES]
    from_start = [dict(task="sharpness", rule=name, edge=middle, settle=0, steps=cfg["series"], seed=seed)
                  for name in RULES]
    edge_values, series_values = compute(at_edges, from_start)
    reached = {name: [] for name in RULES}
    for point, v in zip(at_edges, edge_values):
        reached[point["rule"]].append((point["edge"], v["lam"], v["grad"], v["eta"]))
    claims += _edge_claims(reached, setting, lam0)
    series = {name: (v["lam"], v["grad"], v["eta"]) for name, v in zip(RULES, series_values)}
    figures = [_series_figure(outdir, series, middle), _reached_figure(outdir, reached)]
    return StudyResult(NAME, TITLE, claims, figures, time.perf_counter() - start)


def _edge_claims(reached, setting, lam0):
    config = f"{setting}, {len(reached['GD'])} edges E ∈ [{reached['GD'][0][0]:.3g}, {reached['GD'][-1][0]:.3g}]"
    claims = []
    for name, label, edge_name in (("GD", "GD: tail λ_max ≤ 2/η", "λ_t η/2"),
                                   ("USAM", "USAM: tail λ_max ≤ λ*", "λ_t/λ*"),
                                   ("SAM", "SAM: tail λ_max ≤ 2/η (GD's edge)", "λ_t η/2")):
        ratios = np.array([np.max(lam) / edge for edge, lam, _, _ in reached[name]])
        worst = float(np.max(ratios)) if np.all(np.isfinite(ratios)) else float("nan")
        claims.append(decided_claim(label, SOURCE, config, worst, 0.0, 1.0,
                                    note=f"max over edges and tail steps of {edge_name}; per edge "
                                         + ", ".join(f"{r:.4f}" for r in ratios)
                                         + f"; start λ₀/E ≥ {lam0 / reached[name][-1][0]:.3g}"))
    values = np.array([np.max(eta * lam * (1 + RHO_SAM * lam / grad)) / 2
                       for _, lam, grad, eta in reached["SAM"]])
    worst = float(np.max(values)) if np.all(np.isfinite(values)) else float("nan")
    claims.append(decided_claim("SAM: tail ηλ_max(1 + ρλ_max/‖∇f‖) ≤ 2 (SAM edge)", SOURCE,
                                f"{config}, ρ={RHO_SAM:g}", 2 * worst, 0.0, 2.0,
                                note="equality on a quadratic's 2-cycle; per-edge tail maxima "
                                     + ", ".join(f"{2 * v:.4f}" for v in values)))
    return claims


def _series_figure(outdir, series, edge):
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for k, (name, (lam, grad, eta)) in enumerate(series.items()):
        ax.plot(lam, f"C{k}-", lw=1, label=f"{name} (η = {eta:.3g})")
    ax.axhline(edge, color="k", lw=1, ls="--", label=f"GD edge 2/η = USAM edge λ* = {edge:.3g}")
    sam_lam, sam_grad, sam_eta = series["SAM"]
    ax.plot(sam_edge(sam_eta, RHO_SAM, sam_grad), "C2:", lw=1, label="SAM edge λ_SAM(‖∇f(x_t)‖)")
    ax.set_ylim(0, 1.15 * np.nanmax([np.nanmax(s[0]) for s in series.values()]))
    ax.set_xlabel("step t")
    ax.set_ylabel("λ_max(∇²f(x_t))")
    ax.set_title(f"sharp start x* + {START_NOISE:g}z; GD/USAM ρ={RHO_USAM:g}/SAM ρ={RHO_SAM:g}", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    return save_figure(fig, outdir / "edge_of_stability_series")


def _reached_figure(outdir, reached):
    fig, ax = plt.subplots(figsize=(5, 3.8))
    E = np.array([r[0] for r in reached["GD"]])
    ax.plot(E, E, "k--", lw=1, label="λ = edge E")
    for k, (name, rows) in enumerate(reached.items()):
        ax.plot(E + (k - 1) * 0.02, [np.max(lam) for _, lam, _, _ in rows], f"C{k}o", ms=4,
                label=f"{name}: tail max λ_max")
    ax.set_xlabel("edge E (GD, SAM: 2/η; USAM: λ*)")
    ax.set_ylabel("sharpness reached")
    ax.legend(fontsize=7)
    return save_figure(fig, outdir / "edge_of_stability_reached")
