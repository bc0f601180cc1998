r"""AdaSAM: the O(1/√(bT)) bound [paper: the rate; constants derived].

Sun et al. (2023), "AdaSAM: Boosting sharpness-aware minimization with adaptive learning
rate and momentum for training deep neural networks", prove (1/T) Σ E‖∇f(x_t)‖² =
O(1/√(bT)) with γ = O(√(b/T)), ρ = O(1/√(bT)). The constants below are docs/theory.md §5's,
for β1 = 0, re-derived here.

Setting: AdaSAM with β1 = 0 (``rules.AdaSAM(beta1=0)``): h_t = ∇f_S(x_t + ρ g_t/‖g_t‖),
v̂_t = max(v̂_{t−1}, β2 v_{t−1} + (1 − β2) h_t²) with v̂_{−1} = ε², x_{t+1} = x_t − γ h_t/√v̂_t.
Assume ‖∇f_i(x)‖_∞ ≤ G for all i, x (``core.gradient_bounds``: logistic losses), a uniform
sampler whose weights sum to 1 (τ-nice, uniform with replacement) so |h_j| ≤ G, minibatch
variance ≤ σ² (``sigma_sq``; docs/theory.md's σ²/b), and let Ĝ = max(G, ε). Then
D_t = diag(v̂_t)^{−1/2} ∈ [1/Ĝ, 1/ε], D_t ≤ D_{t−1}. With the descent lemma,

- ⟨∇f, D_{t−1} E h⟩ ≥ ‖∇f‖²/Ĝ − ‖∇f‖ L_batch ρ/ε ≥ ‖∇f‖²/(2Ĝ) − Ĝ L_batch²ρ²/(2ε²);
- |⟨∇f, (D_{t−1} − D_t) h⟩| ≤ G² Σ_j (D_{t−1} − D_t)_j, which telescopes to at most G² d/ε;
- ‖D_t h‖² ≤ (2/ε²)(‖∇f‖² + σ² + L_batch²ρ²);

and γ ≤ ε²/(4LĜ) leaves −γ‖∇f‖²/(4Ĝ). Summing gives the bound below with 4 where docs/theory.md
writes 6 and the condition γ ≤ ε²/(4LĜ); docs/theory.md's version (encoded) is therefore valid.
"""
import sympy as sp

from .. import problems
from ..rules import AdaSAM
from ..sampling import TauNice, WithReplacement
from .core import (ANY, AverageGradNormSq, Requirement, Theorem, rule_is, sampler_is, with_example,
                   gamma, rho, L, L_batch, G, eps, beta1, sigma_sq, delta0, T, d)

G_HAT = sp.Max(G, eps)

ADASAM = rule_is("AdaSAM (amsgrad base, no bias correction, no ε in the denominator, v̂ from ε², "
                 "same-batch SAM ascent, every step perturbs, not stabilised)",
                 base="adam", amsgrad=True, vhat_init=ANY)
NORMALISED = Requirement("λ ≡ 1 (normalised ascent)", lambda problem, rule, sampler:
                         None if getattr(rule.lam, "value", None) == 1.0 else "λ is not the constant 1")
UNIFORM_BATCH = sampler_is("τ-nice or uniform with-replacement sampler", TauNice, WithReplacement,
                           uniform=True)


def adasam_rate():
    r"""AdaSAM with β1 = 0, constant γ ≤ ε²/(6LĜ) [derived constants; rate of Sun et al. 2023]:

        (1/T) Σ_{t<T} E‖∇f(x_t)‖² ≤ 4Ĝ(f(x_0) − f*)/(γT) + 2Ĝ²L_batch²ρ²/ε²
                                    + (6LĜγ/ε²)(σ² + L_batch²ρ²) + 4ĜG²d/(εT).

    With γ = c√(b/T), ρ = r/√(bT) (``schedules.adasam_lr`` / ``adasam_rho``) and σ² = s²/b
    every term is O(1/√(bT)) or smaller: the linear speedup in b. f* may be replaced by f_inf.
    """
    theorem = Theorem(
        name="AdaSAM, O(1/sqrt(bT))", source="derived constants (rate: Sun et al. 2023)",
        statement=adasam_rate.__doc__, quantity=AverageGradNormSq(),
        bound=(4 * G_HAT * delta0 / (gamma * T) + 2 * G_HAT ** 2 * L_batch ** 2 * rho ** 2 / eps ** 2
               + 6 * L * G_HAT * gamma / eps ** 2 * (sigma_sq + L_batch ** 2 * rho ** 2)
               + 4 * G_HAT * G ** 2 * d / (eps * T)),
        conditions=(gamma <= eps ** 2 / (6 * L * G_HAT), sp.Eq(beta1, 0)),
        requirements=(ADASAM, NORMALISED, UNIFORM_BATCH))
    steps, batch = 400, 8
    return with_example(theorem, lambda: problems.random_logistic(64, 8, seed=3), TauNice(batch), steps,
                        lambda value: AdaSAM(lr=value, rho=0.1 / (batch * steps) ** 0.5, beta1=0.0,
                                             beta2=0.99, eps=1.0))
