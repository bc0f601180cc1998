r"""SGD under the ABC condition: the baselines every SAM result is compared with.

Both statements have the form of Khaled & Richtárik (2020), "Better theory for SGD in
the nonconvex world", Theorems 2 and 3 [check: the exact constants were not confirmed
against the paper]; the versions here are derived below and are what the tests hold
the simulator against.

Setting: f L-smooth, E‖∇f_S(x)‖² ≤ 2A(f(x) − f_inf) + B‖∇f(x)‖² + C (``theory.constants``),
x_{t+1} = x_t − γ ∇f_S(x_t). The descent lemma and the ABC condition give, with
δ_t = E f(x_t) − f_inf,

    δ_{t+1} ≤ (1 + LAγ²) δ_t − γ(1 − LBγ/2) E‖∇f(x_t)‖² + LCγ²/2.          (*)
"""
import sympy as sp

from .. import problems
from ..rules import SGD
from ..sampling import TauNice
from .core import Theorem, with_example
from .quantities import AverageGradNormSq, FinalMetric
from .requirements import ANY, no_perturbation, rule_is
from .symbols import gamma, L, A, B, C, mu, delta0, T

# ρ ≡ 0 (``no_perturbation``) makes the perturbation probability irrelevant
PLAIN_SGD = rule_is("plain SGD (base sgd, not stabilised, no G-RST)", perturb_prob=ANY)


def sgd_pl():
    r"""SGD on a PL function, constant step [derived; the form of K&R 2020, Thm 3].

    If f is μ-PL with f_inf = f* and γ ≤ min{1/(2BL), μ/(2AL)}, then

        E[f(x_T) − f*] ≤ (1 − γμ)^T (f(x_0) − f*) + LCγ/(2μ).

    Derivation: in (*), LBγ ≤ 1/2 makes the gradient coefficient at least 3γ/4, PL turns
    −(3γ/4)‖∇f‖² into −(3/2)γμδ, and LAγ² ≤ γμ/2, so δ_{t+1} ≤ (1 − γμ)δ_t + LCγ²/2;
    unroll. A neighbourhood LCγ/μ is also valid but twice as loose (docs/theory.md §5).
    """
    theorem = Theorem(
        name="SGD, PL, ABC", source="derived (form of Khaled & Richtárik 2020, Thm 3)",
        statement=sgd_pl.__doc__, quantity=FinalMetric("loss_gap"),
        bound=(1 - gamma * mu) ** T * delta0 + L * C * gamma / (2 * mu),
        conditions=(2 * B * L * gamma <= 1, 2 * A * L * gamma <= mu, gamma * mu <= 1),
        requirements=(PLAIN_SGD, no_perturbation()))
    return with_example(theorem, lambda: problems.random_least_squares(64, 8, condition=4, seed=1),
                        TauNice(8), 300, lambda value: SGD(lr=value))


def sgd_nonconvex():
    r"""SGD on a smooth non-convex function, constant step [derived; the form of K&R 2020, Thm 2].

    If γ ≤ 1/(LB), then with q = 1 + LAγ² and w_t = q^{−(t+1)}

        min_{t<T} E‖∇f(x_t)‖² ≤ Σ_{t<T} w_t E‖∇f(x_t)‖² / Σ_{t<T} w_t
                               ≤ 2 q^T (f(x_0) − f_inf)/(γT) + LCγ.

    Derivation: in (*), LBγ ≤ 1 makes the gradient coefficient at least γ/2; multiply step t
    by w_t, telescope, and use Σ_{t<T} w_t ≥ T q^{−T}.
    """
    theorem = Theorem(
        name="SGD, non-convex, ABC", source="derived (form of Khaled & Richtárik 2020, Thm 2)",
        statement=sgd_nonconvex.__doc__, quantity=AverageGradNormSq(ratio=1 + L * A * gamma ** 2),
        bound=2 * (1 + L * A * gamma ** 2) ** T * delta0 / (gamma * T) + L * C * gamma,
        conditions=(L * B * gamma <= 1,),
        requirements=(PLAIN_SGD, no_perturbation()))
    # γ ≤ 1/√(LAT) keeps q^T ≤ e: the largest admissible γ makes q^T astronomically large
    return with_example(theorem, lambda: problems.random_logistic(64, 8, seed=3), TauNice(8), 300,
                        lambda value: SGD(lr=value), cap=1 / sp.sqrt(L * A * T))
