r"""Exact expectations: the ``exact`` backend of ``simulate`` (docs/exact.md).

On a quadratic finite sum (``LeastSquares``, ``Quadratic``: squared loss, no regulariser) the
minibatch gradient is affine, (∇f_S(x), 0) = 𝔾_S x̃ in the homogeneous coordinates
x̃ = (x − x_a, 1) of ``engine.exact_moments`` (anchor x_a = x* where known, else 0). Every rule
whose step is affine in the state z̃ = (x − x_a, 1), or (x − x_a, m, 1) with a momentum buffer,
is then z̃⁺ = M z̃ with a random matrix M, and the second moment Z = E[z̃z̃ᵀ] (which holds the
first moment in its last column) follows exactly

    Z_{t+1} = E[M_t Z_t M_tᵀ],    M = A + B R,    h̃ = R z̃ the (padded) descent gradient,

with A, B fixed by the base (SGD: A = I, B = −γI; heavy ball m⁺ = βm + h, x⁺ = x − γm⁺) and R
random: R = 𝔾Π for a plain step (Π z̃ = x̃); R = (𝔾 + r𝔾²)Π for USAM's same-batch ascent
h = ∇f_S(x + r∇f_S(x)); R = (𝔾 + r𝔾𝔾')Π with an independent ascent batch S'; R = 𝔾(Π − rΠ_m)
for MSAM with λ = 0 (h = ∇f_S(x − r m), Π_m z̃ = (m, 0)). So

    Z⁺ = AZAᵀ + B C Aᵀ + A Cᵀ Bᵀ + B S Bᵀ,   C = E[R] Z,   S = E[R Z Rᵀ],

where E[R] and S need E𝔾, E𝔾², E[𝔾X𝔾ᵀ] and, for the same-batch ascent, E[𝔾²X𝔾ᵀ] and
E[𝔾²X(𝔾²)ᵀ] (``SamplerMoments``). RST's coin is independent of the minibatch, so a step is the
mixture (1 − p_t)·plain + p_t·perturbed of (C, S). G-RST on a λ = 0 step is the same map with
radius r = αρ_t/p_t in both modes: "mix" g + (α/p)(h − g) and "radius" αρ/p coincide because
h − g is linear in the radius.

Refused, with the reason: a loss or regulariser that is not quadratic, an adam base, Stable SAM,
and λ > 0 on a step that can perturb (a normalised ascent). ``grad_evals`` is the expected
count of gradient evaluations (exact integers when no step has a coin, p_t ∈ {0, 1}; floats
otherwise). ``min_grad_norm_sq`` is NaN: the minimum over iterates of the expectations is not
the expectation of the minimum, and the latter depends on the whole path's law.
"""
import numpy as np

from .._core.codes import NONE, RATIONAL, SINE, SQUARED
from ..problems.base import FiniteSum
from ..results import Trajectories
from .exact_moments import SamplerMoments, higher_order_refusal
from .simulate import _package_version, record_steps, starting_points

_REGULARISER_NAMES = {SINE: "sin²", RATIONAL: "t²/(1 + t²)"}


def _needs_higher(rule, radius, chance):
    """Whether some step takes USAM's same-batch ascent (third and fourth moments of 𝔾)."""
    return (rule.ascent == "gradient" and rule.ascent_batch == "same"
            and bool(np.any((radius > 0) & (chance > 0))))


def refusal(problem, rule, sampler, steps=1):
    """None when ``backend="exact"`` computes this configuration over ``steps`` steps, else the
    reason it cannot (a sentence)."""
    if not isinstance(problem, FiniteSum):
        return f"a {type(problem).__name__} problem is not a finite sum of squared losses"
    if problem.loss_kind != SQUARED:
        return "the logistic loss's gradient is not affine in x (exact expectations need a squared loss)"
    if problem.reg_kind != NONE and problem.reg_strength != 0.0:
        return f"the {_REGULARISER_NAMES[problem.reg_kind]} regulariser's gradient is not affine in x"
    if rule.base == "adam":
        return "an adam base divides by √v̂, which is not affine in the state"
    if rule.stable:
        return "Stable SAM rescales h by ‖g‖/‖h‖, which is not affine in the state"
    _, rho, lam, prob = rule.arrays(steps)
    normalised = np.flatnonzero((rho > 0) & (prob > 0) & (lam > 0))
    if normalised.size:
        t = int(normalised[0])
        return (f"SAM with λ = {lam[t]:g} (step {t}) normalises the ascent by ‖d‖, which is not "
                "affine in the state (only λ = 0, USAM, is)")
    if _needs_higher(rule, rho, prob):
        why = higher_order_refusal(problem, sampler.bind(problem))
        if why is not None:
            return f"{rule.name}'s same-batch ascent needs {why}"
    return None


class MomentRecursion:
    """The exact recursion Z_{t+1} = E[M_t Z_t M_tᵀ] of a rule on a quadratic finite sum
    (module docstring). ``size`` is the homogeneous state's dimension d + 1 (2d + 1 with a
    momentum buffer); ``schedule`` gives the per-step parameters of ``step``."""

    def __init__(self, problem, rule, sampler, steps=1):
        why = refusal(problem, rule, sampler, steps)
        if why is not None:
            raise ValueError(f"backend='exact' needs an update affine in the state on a quadratic "
                             f"finite sum: {why}")
        self.problem, self.rule = problem, rule
        d = self.d = problem.d
        self.anchor = problem.x_star if problem.x_star is not None else np.zeros(d)
        _, rho, _, prob = rule.arrays(steps)
        self.moments = SamplerMoments(problem, sampler, self.anchor,
                                      higher=_needs_higher(rule, rho, prob))
        self.momentum = rule.base == "heavyball"
        self.size = (2 * d if self.momentum else d) + 1
        self.select = np.zeros((d + 1, self.size))            # Π: z̃ ↦ (x − x_a, 1)
        self.select[np.arange(d), np.arange(d)] = 1.0
        self.select[d, -1] = 1.0
        self.select_m = np.zeros((d + 1, self.size))          # Π_m: z̃ ↦ (m, 0)
        if self.momentum:
            self.select_m[np.arange(d), d + np.arange(d)] = 1.0
        H, b = problem.hessian, problem.linear
        slope = H @ self.anchor - b                           # ∇f(x) = H(x − x_a) + slope
        linear = np.zeros(d) if problem.exact_gap else slope
        self.gap_form = np.block([[H / 2, linear[:, None] / 2],
                                  [linear[None, :] / 2, np.array([[problem.loss_gap(self.anchor)]])]])
        gradient = np.column_stack([H, slope])
        self.grad_form = gradient.T @ gradient

    def schedule(self, steps):
        """Per-step (lr, radius, chance, evals): the step size, the radius of a perturbed step
        (αρ_t/p_t under G-RST), the probability that step t perturbs (0 where ρ_t = 0) and its
        expected number of gradient evaluations."""
        rule = self.rule
        lr, rho, _, prob = rule.arrays(steps)
        chance = np.where(rho > 0, prob, 0.0)
        radius = rho.copy()
        if rule.grst_mode != "none":
            np.divide(rho * rule.grst_alpha, prob, out=radius, where=chance > 0)
        # a perturbed step evaluates h, plus g (same-batch ascent, G-RST mix) and the ascent batch
        perturbed = (1 + (rule.ascent == "gradient" and rule.ascent_batch == "same"
                          or rule.grst_mode == "mix") + (rule.ascent_batch == "independent"))
        return lr, radius, chance, 1.0 + chance * (perturbed - 1)

    def initial(self, x0):
        """Z_0 = z̃_0 z̃_0ᵀ for the starting point x0 (momentum 0)."""
        z = np.zeros(self.size)
        z[:self.d] = x0 - self.anchor
        z[-1] = 1.0
        return np.outer(z, z)

    def _base(self, lr):
        """(A, B) of the base step: z̃⁺ = A z̃ + B h̃."""
        d = self.d
        if not self.momentum:
            return np.eye(self.size), -lr * np.eye(d + 1)
        beta, eye = self.rule.momentum, np.eye(d)
        A = np.eye(self.size)
        A[:d, d:2 * d] = -lr * beta * eye
        A[d:2 * d, d:2 * d] = beta * eye
        B = np.zeros((self.size, d + 1))
        B[:d, :d] = -lr * eye
        B[d:2 * d, :d] = eye
        return A, B

    def step(self, Z, lr, radius, chance):
        """Z_{t+1} from Z_t for a step of size ``lr`` that perturbs with probability ``chance``
        at ``radius`` (``schedule``)."""
        mom = self.moments
        XZ = self.select @ Z                  # Π Z
        W = XZ @ self.select.T                # Π Z Πᵀ
        q = mom.quad(W)
        plain = mom.phi2(W, q)
        C = (1 - chance) * mom.mean @ XZ
        S = (1 - chance) * plain
        if chance > 0:
            r = radius
            if self.rule.ascent == "momentum":
                QZ = XZ - r * self.select_m @ Z
                C += chance * mom.mean @ QZ
                S += chance * mom.phi2(QZ @ (self.select - r * self.select_m).T)
            elif self.rule.ascent_batch == "independent":
                cross = mom.phi2(mom.mean @ W)
                C += chance * (mom.mean + r * mom.mean @ mom.mean) @ XZ
                S += chance * (plain + r * (cross + cross.T) + r * r * mom.phi2(plain))
            else:
                third, fourth = mom.higher(W, q)
                C += chance * (mom.mean + r * mom.square_mean) @ XZ
                S += chance * (plain + r * (third + third.T) + r * r * fourth)
        A, B = self._base(lr)
        BC = B @ C
        new = A @ Z @ A.T + BC @ A.T + A @ BC.T + B @ S @ B.T
        return (new + new.T) / 2

    def metrics(self, Z):
        """(E[f(x)] − f_ref, E‖∇f(x)‖², E‖x − x*‖² (NaN without x*), E[x]) at the moment Z."""
        W = self.select @ Z @ self.select.T
        dist = float(np.trace(W[:-1, :-1])) if self.problem.x_star is not None else np.nan
        return (float(np.sum(W * self.gap_form)), float(np.sum(W * self.grad_form)), dist,
                self.anchor + W[:-1, -1])


def simulate_exact(problem, rule, sampler, *, steps, trajectories, seed, record_every, x0,
                   track_iterates):
    """``simulate(..., backend="exact")``: the exact expectations as one trajectory row.

    Every metric is (1, records): the expectation at each record step; ``final_x`` (1, d) is
    E[x_T]; ``diverged_at`` the first step whose moments are not finite (mean-square
    divergence), −1 if none. ``trajectories`` must be 1 (the row is the expectation itself);
    ``seed`` is recorded, unused. ``config["exact"]`` is True.
    """
    if trajectories != 1:
        raise ValueError(f"backend='exact' returns the expectation itself as one row: trajectories "
                         f"must be 1, got {trajectories}")
    recursion = MomentRecursion(problem, rule, sampler, steps)
    lr, radius, chance, evals = recursion.schedule(steps)
    starts = starting_points(problem, x0, 1)
    rec = record_steps(steps, record_every)
    names = ["loss_gap", "grad_norm_sq"] + (["dist_sq"] if problem.x_star is not None else [])
    names += ["avg_grad_norm_sq", "min_grad_norm_sq"] if track_iterates else []
    metrics = {name: np.full((1, rec.size), np.nan) for name in names}
    Z = recursion.initial(starts[0])
    diverged_at, stop, running, k = -1, steps, 0.0, 0
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps + 1):
            if track_iterates or rec[k] == t:
                gap, grad, dist, mean_x = recursion.metrics(Z)
            if rec[k] == t:
                row = {"loss_gap": gap, "grad_norm_sq": grad, "dist_sq": dist,
                       "avg_grad_norm_sq": running / t if t > 0 else grad}
                for name, value in row.items():
                    if name in metrics:
                        metrics[name][0, k] = value
                k += 1
                if not (np.isfinite(gap) and np.isfinite(grad)):
                    diverged_at = stop = t
                    break
            if track_iterates:
                running += grad
            if t == steps:
                break
            Z = recursion.step(Z, lr[t], radius[t], chance[t])
            if not np.all(np.isfinite(Z)):
                diverged_at = stop = t + 1
                mean_x = recursion.metrics(Z)[3]
                break
    spent = np.concatenate([[0.0], np.cumsum(evals)])[np.minimum(rec, stop)]
    coin_free = np.all((chance == 0) | (chance == 1))
    metrics["grad_evals"] = (np.rint(spent).astype(np.int64) if coin_free else spent)[None, :]
    schedules = dict(zip(("lr", "rho", "lam", "perturb_prob"), rule.arrays(steps)))
    config = {"samtheory_version": _package_version(), "problem": problem.describe(),
              "rule": rule.describe(), "sampler": sampler.describe(), "seed": int(seed),
              "steps": steps, "trajectories": 1, "record_every": record_every,
              "track_iterates": bool(track_iterates), "backend": "exact",
              "x0": "problem default" if x0 is None else "given", "exact": True}
    problem_data = {"A": problem.A, "y": problem.y, "signs": problem.signs,
                    "reg_center": problem.reg_center, "x0": starts}
    return Trajectories(rec, metrics, mean_x[None, :], np.array([diverged_at]), schedules, config,
                        problem_data)
