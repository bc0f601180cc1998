r"""Unified SAM under arbitrary sampling: PL and non-convex bounds [derived].

Oikonomou & Loizou (2025), "Sharpness-Aware Minimization: General Analysis and Improved
Rates" (arXiv 2503.02225) prove linear convergence to a neighbourhood on PL functions and
O(1/√T)-type rates on non-convex ones, under the expected-residual condition and arbitrary
sampling. Their exact constants could not be confirmed here, so these theorems are our own
derivation for the same algorithm, x_{t+1} = x_t − γ ∇f_S(x_t + e_t),
e_t = ρ(1 − λ + λ/‖g_t‖) g_t, g_t = ∇f_S(x_t), under the ABC condition (A, B, C from
``theory.constants``), labelled derived.

One step. Write h = ∇f_S(x + e) = g + r. f_S is L_batch-smooth (``core.batch_smoothness``),
so ‖r‖ ≤ L_batch ‖e‖ ≤ L_batch ρ((1 − λ)‖g‖ + λ) and ‖r‖² ≤ 2L_batch²ρ²((1 − λ)²‖g‖² + λ²).
The descent lemma with −⟨∇f, r⟩ ≤ ‖∇f‖²/4 + ‖r‖² and ‖h‖² ≤ 2‖g‖² + 2‖r‖² gives

    E f(x⁺) ≤ f(x) − (3γ/4)‖∇f(x)‖² + γK E‖g‖² + 2γλ²L_batch²ρ²(1 + Lγ),
    K = 2L_batch²ρ²(1 − λ)²(1 + Lγ) + Lγ,

and the ABC condition turns E‖g‖² into 2A(f − f_inf) + B‖∇f‖² + C. With BK ≤ 1/4:

    δ⁺ ≤ (1 + 2AγK) δ − (γ/2)‖∇f(x)‖² + γN,   N = KC + 2λ²L_batch²ρ²(1 + Lγ).      (**)

The same holds with an independent ascent minibatch (e uses g' = ∇f_S'(x), whose second
moment obeys the same ABC bound). SGD is ρ = 0 (K = Lγ, N = LγC), a special case with
slightly worse constants than ``sgd``'s.
"""
from dataclasses import replace

import sympy as sp

from .. import problems
from ..rules import UnifiedSAM
from ..schedules import DecreasingRadius, DecreasingStep
from ..sampling import TauNice, Importance
from .core import Theorem, tuned
from .quantities import AverageGradNormSq, FinalMetric
from .requirements import rule_is
from .symbols import gamma, rho, lam, L, L_batch, A, B, C, mu, delta, delta0, T

K = 2 * L_batch ** 2 * rho ** 2 * (1 - lam) ** 2 * (1 + L * gamma) + L * gamma
NOISE = K * C + 2 * lam ** 2 * L_batch ** 2 * rho ** 2 * (1 + L * gamma)

# (**) holds with the ascent on the descent minibatch or on an independent one
UNIFIED_SAM = rule_is("Unified SAM step (base sgd, gradient ascent on the same or an independent "
                      "minibatch, every step perturbs, no G-RST, not stabilised)",
                      ascent_batch=("same", "independent"))


def _rule(lam_value, rho_value):
    return lambda value: UnifiedSAM(lr=value, rho=rho_value, lam=lam_value)


def _example(theorem, make_problem, sampler, steps, lam_value, rho_max, cap=None):
    """Examples: ρ = min(ρ_max, half the largest admissible radius as γ → 0), then γ the
    largest admissible step (capped by ``cap``) at that ρ."""
    def example(problem=None, sampler=sampler, steps=steps):
        problem = make_problem() if problem is None else problem
        radius = min(rho_max, 0.5 * theorem.largest("rho", problem, UnifiedSAM(0.0, 1.0, lam_value),
                                                     sampler, steps))
        rule = tuned(theorem, _rule(lam_value, radius), problem, sampler, steps, cap=cap)
        return dict(problem=problem, rule=rule, sampler=sampler, steps=steps)
    return replace(theorem, example=example)


def unified_sam_pl():
    r"""Unified SAM on a PL function, constant γ, ρ, λ [derived].

    If f is μ-PL (f_inf = f*), 4BK ≤ 1, 4AK ≤ μ and γμ ≤ 2, then

        E[f(x_T) − f*] ≤ (1 − γμ/2)^T (f(x_0) − f*) + 2N/μ.

    From (**): −(γ/2)‖∇f‖² ≤ −γμδ by PL and 2AγK ≤ γμ/2, so δ⁺ ≤ (1 − γμ/2)δ + γN; unroll.
    The neighbourhood 2N/μ has a part ∝ C (vanishes on consistent problems, where every
    ∇f_i(x*) = 0) and a part ∝ λ²ρ² that does not: normalised SAM with a constant radius
    stalls at distance ~ρ, USAM (λ = 0) on an interpolating problem converges linearly.
    """
    theorem = Theorem(
        name="Unified SAM, PL, constant step", source="derived (setting of Oikonomou & Loizou 2025)",
        statement=unified_sam_pl.__doc__, quantity=FinalMetric("loss_gap"),
        bound=(1 - gamma * mu / 2) ** T * delta0 + 2 * NOISE / mu,
        conditions=(4 * B * K <= 1, 4 * A * K <= mu, gamma * mu <= 2),
        requirements=(UNIFIED_SAM,))
    return _example(theorem, lambda: problems.random_least_squares(64, 8, condition=4, seed=1),
                    TauNice(8), 400, 0.5, 0.02)


def unified_sam_pl_decreasing():
    r"""Unified SAM on a PL function with step and radius schedules γ_k, ρ_k, λ_k [derived].

    If f is μ-PL and at every step 4BK_k ≤ 1, 4AK_k ≤ μ and γ_kμ ≤ 2, then E[f(x_T) − f*] ≤ δ_T
    for the recursion

        δ_{k+1} = (1 − γ_kμ/2) δ_k + γ_k N_k,    δ_0 = f(x_0) − f*,

    K_k, N_k as in the module docstring at (γ_k, ρ_k, λ_k): (**) with PL, step by step. With
    Oikonomou & Loizou's schedules γ_k = min(γ, (2k + 1)/((k + 1)²μ)) and
    ρ_k = min(ρ, 1/(2k + 1)) (``schedules.DecreasingStep`` / ``DecreasingRadius``) the
    recursion goes to 0 like O(log k / k) when C > 0 (γ_k N_k ~ 4LC/(μ²k²) summed against the
    contraction (1 − 1/k)) and O(1/k) when C = 0: the exact solution, not an O(·), is the
    bound checked.
    """
    theorem = Theorem(
        name="Unified SAM, PL, decreasing step", source="derived (setting of Oikonomou & Loizou 2025)",
        statement=unified_sam_pl_decreasing.__doc__, quantity=FinalMetric("loss_gap"),
        bound=(1 - gamma * mu / 2) * delta + gamma * NOISE,
        conditions=(4 * B * K <= 1, 4 * A * K <= mu, gamma * mu <= 2),
        requirements=(UNIFIED_SAM,), recursive=True)

    def example(problem=None, sampler=TauNice(8), steps=400):
        problem = problems.random_least_squares(64, 8, condition=4, seed=1) if problem is None else problem
        start = unified_sam_pl().largest("gamma", problem, _rule(1.0, 0.02)(1.0), sampler, steps)
        rule = UnifiedSAM(lr=DecreasingStep(start, problem.mu), rho=DecreasingRadius(0.02), lam=1.0)
        return dict(problem=problem, rule=rule, sampler=sampler, steps=steps)
    return replace(theorem, example=example)


def unified_sam_nonconvex():
    r"""Unified SAM on a smooth non-convex function, constant γ, ρ, λ [derived].

    If 4BK ≤ 1, then with q = 1 + 2AγK and w_t = q^{−(t+1)}

        min_{t<T} E‖∇f(x_t)‖² ≤ Σ_{t<T} w_t E‖∇f(x_t)‖² / Σ_{t<T} w_t
                               ≤ 2 q^T (f(x_0) − f_inf)/(γT) + 2N.

    From (**) weighted by w_t and telescoped (Khaled & Richtárik's weighting). With
    γ = c/√T and ρ ∝ 1/√T (USAM, C = 0) this is O(1/√T); normalised SAM keeps the floor
    4λ²L_batch²ρ²(1 + Lγ) unless ρ → 0.
    """
    theorem = Theorem(
        name="Unified SAM, non-convex", source="derived (setting of Oikonomou & Loizou 2025)",
        statement=unified_sam_nonconvex.__doc__, quantity=AverageGradNormSq(ratio=1 + 2 * A * gamma * K),
        bound=2 * (1 + 2 * A * gamma * K) ** T * delta0 / (gamma * T) + 2 * NOISE,
        conditions=(4 * B * K <= 1,),
        requirements=(UNIFIED_SAM,))
    # γ ≤ 1/√(2LAT) keeps q^T ≲ e (as in ``sgd.sgd_nonconvex``)
    return _example(theorem, lambda: problems.random_logistic(64, 8, seed=3), Importance(4), 300, 0.5,
                    0.05, cap=1 / sp.sqrt(2 * L * A * T))
