r"""AdaSAM: the O(1/√(bT)) bound [paper: the rate; constants derived].

Sun et al. (2023), "AdaSAM: Boosting sharpness-aware minimization with adaptive learning
rate and momentum for training deep neural networks", prove (1/T) Σ E‖∇f(x_t)‖² =
O(1/√(bT)) with γ = O(√(b/T)), ρ = O(1/√(bT)). The constants are derived here for β1 = 0:
``adasam_rate`` is the tightest form of the derivation below, ``adasam_rate_published`` the
looser published form (the form in which the bound was first stated for samtheory,
docs/theory.md §5; not a confirmed statement of Sun et al.).

Setting: AdaSAM with β1 = 0 (``rules.AdaSAM(beta1=0)``): h_t = ∇f_S(x_t + ρ g_t/‖g_t‖),
v_t = β2 v_{t−1} + (1 − β2) h_t² (v_{−1} = 0), v̂_t = max(v̂_{t−1}, v_t) with v̂_{−1} = ε²,
x_{t+1} = x_t − γ D_t h_t, D_t = diag(v̂_t)^{−1/2}. Assume ‖∇f_i(x)‖_∞ ≤ G for all i, x
(``core.gradient_bounds``: logistic losses), a uniform sampler whose weights sum to 1
(τ-nice, uniform with replacement) so |h_j| ≤ G, minibatch variance ≤ σ² (``sigma_sq``,
docs/theory.md §5.4), f L-smooth, every f_S L_batch-smooth, and let Ĝ = max(G, ε). Then
v_t ≤ G², so D_t ∈ [1/Ĝ, 1/ε] with D_{−1} = 1/ε, D_t ≤ D_{t−1}, and D_{t−1} does not depend
on the minibatch of step t. Write h = g + r with g = ∇f_S(x), E g = ∇f, ‖r‖ ≤ L_batch ρ.
The descent lemma f(x_{t+1}) ≤ f(x_t) − γ⟨∇f, D_t h⟩ + (Lγ²/2)‖D_t h‖² with
D_t = D_{t−1} − (D_{t−1} − D_t) and

(i)   ⟨∇f, D_{t−1} E h⟩ = a² + ⟨D_{t−1}^{1/2}∇f, D_{t−1}^{1/2} E r⟩ ≥ a² − a L_batch ρ/√ε
      ≥ a²/2 − L_batch²ρ²/(2ε), where a = ‖D_{t−1}^{1/2}∇f‖ ≥ ‖∇f‖/√Ĝ
      (a² − ac − (a²/2 − c²/2) = (a − c)²/2 ≥ 0);
(ii)  |⟨∇f, (D_{t−1} − D_t) h⟩| ≤ G² Σ_j (D_{t−1} − D_t)_j, which telescopes over t < T to
      at most G² Σ_j (D_{−1} − D_{T−1})_j ≤ G² d (1/ε − 1/Ĝ);
(iii) ‖D_t h‖² ≤ ‖h‖²/ε² and E‖h‖² ≤ 2E‖g‖² + 2L_batch²ρ² ≤ 2(‖∇f‖² + σ² + L_batch²ρ²)

give E f(x_{t+1}) ≤ E f(x_t) − γ(1/(2Ĝ) − Lγ/ε²) E‖∇f(x_t)‖² + γL_batch²ρ²/(2ε)
+ γG² E Σ_j (D_{t−1} − D_t)_j + (Lγ²/ε²)(σ² + L_batch²ρ²). γ ≤ ε²/(4LĜ) makes the
coefficient at least γ/(4Ĝ); summing over t < T and dividing by γT/(4Ĝ) gives ``adasam_rate``.

The published form bounds ⟨D E r, ∇f⟩ by the Euclidean Cauchy–Schwarz inequality
(2Ĝ²L_batch²ρ²/ε² in place of 2ĜL_batch²ρ²/ε), D_{−1} − D_{T−1} by 1/ε (4ĜG²d/(εT) in place
of 4G²d(Ĝ − ε)/(εT)) and writes 6 where the derivation has 4, with γ ≤ ε²/(6LĜ): every term
is at least the tight one (ε ≤ Ĝ) and its condition implies γ ≤ ε²/(4LĜ), so it holds.
Not encoded: keeping the coefficient 1/(2Ĝ) − Lγ/ε² instead of its worst case 1/(4Ĝ)
tightens the bound further when γ is below the largest admissible step.
"""
import sympy as sp

from .. import problems
from ..rules import AdaSAM
from ..sampling import TauNice, WithReplacement
from .core import Theorem, with_example
from .quantities import AverageGradNormSq
from .requirements import ANY, Requirement, rule_is, sampler_is
from .symbols import gamma, rho, L, L_batch, G, eps, beta1, sigma_sq, delta0, T, d

G_HAT = sp.Max(G, eps)

ADASAM = rule_is("AdaSAM (amsgrad base, no bias correction, no ε in the denominator, v̂ from ε², "
                 "same-batch SAM ascent, every step perturbs, not stabilised)",
                 base="adam", amsgrad=True, vhat_init=ANY)
NORMALISED = Requirement("λ ≡ 1 (normalised ascent)", lambda problem, rule, sampler:
                         None if getattr(rule.lam, "value", None) == 1.0 else "λ is not the constant 1")
UNIFORM_BATCH = sampler_is("τ-nice or uniform with-replacement sampler", TauNice, WithReplacement,
                           uniform=True)


# the bounds term by term, in the same order: δ₀, perturbation bias, noise, adaptive denominator
TIGHT_TERMS = (4 * G_HAT * delta0 / (gamma * T), 2 * G_HAT * L_batch ** 2 * rho ** 2 / eps,
               4 * L * G_HAT * gamma / eps ** 2 * (sigma_sq + L_batch ** 2 * rho ** 2),
               4 * G ** 2 * d * (G_HAT - eps) / (eps * T))
PUBLISHED_TERMS = (4 * G_HAT * delta0 / (gamma * T), 2 * G_HAT ** 2 * L_batch ** 2 * rho ** 2 / eps ** 2,
                   6 * L * G_HAT * gamma / eps ** 2 * (sigma_sq + L_batch ** 2 * rho ** 2),
                   4 * G_HAT * G ** 2 * d / (eps * T))


def _theorem(factory, name, source, terms, step_constant):
    """The AdaSAM theorem with bound Σ ``terms`` under γ ≤ ε²/(``step_constant`` LĜ), β1 = 0,
    and its example (the largest admissible γ)."""
    theorem = Theorem(
        name=name, source=source, statement=factory.__doc__, quantity=AverageGradNormSq(),
        bound=sp.Add(*terms), conditions=(gamma <= eps ** 2 / (step_constant * L * G_HAT), sp.Eq(beta1, 0)),
        requirements=(ADASAM, NORMALISED, UNIFORM_BATCH))
    steps, batch = 400, 8
    return with_example(theorem, lambda: problems.random_logistic(64, 8, seed=3), TauNice(batch), steps,
                        lambda value: AdaSAM(lr=value, rho=0.1 / (batch * steps) ** 0.5, beta1=0.0,
                                             beta2=0.99, eps=1.0))


def adasam_rate():
    r"""AdaSAM with β1 = 0, constant γ ≤ ε²/(4LĜ) [derived constants; rate of Sun et al. 2023]:

        (1/T) Σ_{t<T} E‖∇f(x_t)‖² ≤ 4Ĝ(f(x_0) − f*)/(γT) + 2ĜL_batch²ρ²/ε
                                    + (4LĜγ/ε²)(σ² + L_batch²ρ²) + 4G²d(Ĝ − ε)/(εT).

    The tightest form of the derivation (module docstring). With γ = c√(b/T),
    ρ = r/√(bT) (``schedules.adasam_lr`` / ``adasam_rho``) and σ² = s²/b every term is
    O(1/√(bT)) or smaller: the linear speedup in b. f* may be replaced by f_inf.
    """
    return _theorem(adasam_rate, "AdaSAM, O(1/sqrt(bT))", "derived constants (rate: Sun et al. 2023)",
                    TIGHT_TERMS, 4)


def adasam_rate_published():
    r"""AdaSAM with β1 = 0, constant γ ≤ ε²/(6LĜ): the published form (docs/theory.md §5)
    [derived constants; rate of Sun et al. 2023]:

        (1/T) Σ_{t<T} E‖∇f(x_t)‖² ≤ 4Ĝ(f(x_0) − f*)/(γT) + 2Ĝ²L_batch²ρ²/ε²
                                    + (6LĜγ/ε²)(σ² + L_batch²ρ²) + 4ĜG²d/(εT).

    Implied by ``adasam_rate``: its condition is stronger and each term is at least the
    tight one (module docstring).
    """
    return _theorem(adasam_rate_published, "AdaSAM, O(1/sqrt(bT)), published form",
                    "derived constants, published form (rate: Sun et al. 2023)",
                    PUBLISHED_TERMS, 6)
