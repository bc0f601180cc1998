r"""Randomised SAM (RST): the bound with its SAM-induced floor linear in p̄ [derived].

docs/theory.md §5 states it for a β-smooth objective with minibatch variance σ²; here β = L_max,
which bounds both the smoothness of f (L ≤ L̄ ≤ L_max) and of a uniform minibatch's f_S.

One step, X_t ~ Bernoulli(p_t) independent of S_t: h = g on X_t = 0, h = g + r with
‖r‖ ≤ βρ on X_t = 1 (normalised ascent). Then E h = ∇f + p_t E r and
E‖h‖² ≤ (1 + p_t)E‖g‖² + 2p_tβ²ρ², and with −⟨∇f, E r⟩ ≤ ‖∇f‖²/4 + β²ρ²:

    E f(x⁺) ≤ f(x) − η(1 − p_t/4 − βη(1 + p_t)/2)‖∇f‖² + ηp_tβ²ρ²(1 + βη) + βη²(1 + p_t)σ²/2.

η ≤ 1/(4β) makes the gradient coefficient at least η/2 for every p_t ∈ [0, 1]; summing
over t gives 2δ_0/(ηT) + βη(1 + p̄)σ² + 2β²ρ²(1 + βη)p̄, and docs/theory.md's constants below are
each at least as large, so its bound holds.
"""
from .. import problems
from ..rules import RST
from ..schedules import Linear
from ..sampling import TauNice
from .core import ANY, AverageGradNormSq, Theorem, rule_is, with_example, gamma, rho, L_max, sigma_sq, \
    p_bar, delta0, T
from .adasam import NORMALISED, UNIFORM_BATCH

RST_STEP = rule_is("RST step (base sgd, same-batch gradient ascent, any probability schedule, "
                   "no G-RST, not stabilised)", perturb_prob=ANY)


def rst_bound():
    r"""RST with constant η ≤ 1/(4β), constant ρ, any probability schedule p_t (β = L_max):

        (1/T) Σ_{t<T} E‖∇f(x_t)‖² ≤ 4(f(x_0) − f*)/(ηT) + 4βησ² + 2β²ρ²(1 + 2βη) p̄,

    p̄ = (1/T) Σ_t p_t. The last term is the SAM-induced floor: linear in p̄, zero for SGD.
    """
    theorem = Theorem(
        name="RST, floor linear in p̄", source="derived (docs/theory.md §5)",
        statement=rst_bound.__doc__, quantity=AverageGradNormSq(),
        bound=(4 * delta0 / (gamma * T) + 4 * L_max * gamma * sigma_sq
               + 2 * L_max ** 2 * rho ** 2 * (1 + 2 * L_max * gamma) * p_bar),
        conditions=(4 * L_max * gamma <= 1,),
        requirements=(RST_STEP, NORMALISED, UNIFORM_BATCH))
    return with_example(theorem, lambda: problems.random_logistic(64, 8, seed=3), TauNice(8), 300,
                        lambda value: RST(lr=value, rho=0.1, schedule=Linear(0.2, 0.8)))
