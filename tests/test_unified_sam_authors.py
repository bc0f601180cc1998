"""The Unified SAM authors' step and radius (``studies.unified_sam.authors_rule``).

Promises:
- γ = min(2, μ/(8(Bμ + A)))/L and ρ = 1/(4L) (λ = 1) or min(1, μ/(2(Bμ + A)(1 − λ)²))/(4L)
  with the authors' L: L_max whenever b < n, λ_max(∇²f) only at b = n; their τ-nice
  A = (n − b)L_max/(b(n − 1)), B = n(b − 1)/(b(n − 1)) also for uniform draws with
  replacement (what their code draws); single-element importance A = L̄, B = 0. Checked
  against values worked out by hand on a 4-sample problem;
- under these settings our derived PL theorem (``theory.unified_sam_pl``) meets all its
  conditions for every λ ∈ {0, ¼, ½, ¾, 1} on the study's three problems, b = 8, τ-nice and
  with replacement.
"""
import numpy as np
import pytest

from samtheory import problems, theory
from samtheory.sampling import Importance, Independent, TauNice, WithReplacement
from samtheory.studies import unified_sam


def small_problem():
    """Rows (2, 0), (0, 1), (1, 0), (0, 1): H = AᵀA/4 = diag(5/4, 1/2), so L = 1.25, μ = 0.5;
    L_i = ‖a_i‖² = 4, 1, 1, 1: L_max = 4, L̄ = 7/4."""
    A = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    return problems.LeastSquares(A, np.array([1.0, 0.0, 0.0, 1.0]))


# By hand, n = 4, μ = 1/2, L_max = 4:
#   τ-nice b = 2: A = 2·4/(2·3) = 4/3, B = 4/(2·3) = 2/3, Bμ + A = 5/3;
#     γ = (μ/(8·5/3))/L_max = (3/80)/4 = 3/320; ρ(λ) = min(1, (3/20)/(1 − λ)²)/16.
#   b = 1 (uniform): A = L_max = 4, B = 0: γ = ρ(0) = (1/64)/4 = 1/256.
#   importance b = 1: A = 7/4, B = 0, L = L_max: γ = (1/28)/4 = 1/112; ρ(½) = (4/7)/16 = 1/28.
#   full batch b = 4: A = 0, B = 1, L = 5/4: γ = (1/8)/(5/4) = 1/10; ρ(λ) = min(1, 1/(2(1 − λ)²))/5.
CASES = [
    (TauNice(2), 0.0, 3 / 320, 3 / 320),
    (TauNice(2), 0.5, 3 / 320, 3 / 80),          # (3/20)/(1/4) = 3/5
    (TauNice(2), 0.75, 3 / 320, 1 / 16),         # (3/20)·16 > 1
    (TauNice(2), 1.0, 3 / 320, 1 / 16),          # 1/(4 L_max)
    (WithReplacement(2), 0.5, 3 / 320, 3 / 80),  # their draws, their τ-nice A, B
    (TauNice(1), 0.0, 1 / 256, 1 / 256),
    (WithReplacement(1), 0.0, 1 / 256, 1 / 256),
    (Importance(1), 0.5, 1 / 112, 1 / 28),
    (TauNice(4), 0.0, 1 / 10, 1 / 10),           # b = n: L = λ_max(∇²f)
    (TauNice(4), 0.5, 1 / 10, 1 / 5),
]


@pytest.mark.parametrize("sampler, lam, gamma, rho", CASES)
def test_authors_rule_matches_the_hand_computed_closed_form(sampler, lam, gamma, rho):
    rule = unified_sam.authors_rule(small_problem(), sampler, lam)
    assert rule.lr.value == pytest.approx(gamma, rel=1e-12)
    assert rule.rho.value == pytest.approx(rho, rel=1e-12)
    assert rule.lam.value == lam


def test_authors_rule_rejects_samplers_their_code_does_not_have():
    problem = small_problem()
    for sampler in (Importance(2), WithReplacement(2, p=np.array([0.4, 0.2, 0.2, 0.2])),
                    Independent(np.full(4, 0.5))):
        with pytest.raises(ValueError, match="authors' settings"):
            unified_sam.authors_rule(problem, sampler, 0.5)


def test_the_study_samplers_constants_are_the_authors_formulas():
    """τ-nice b = 8 (the authors' A, B) and uniform with replacement b = 8 (their draws,
    whose own A = L_max/b, B = 1 − 1/b our theorem uses) on the study's problem."""
    problem = unified_sam.PROBLEMS[unified_sam.INCONSISTENT]()
    n, b, L_max = problem.n, unified_sam.BATCH, problem.L_max
    tau = theory.sampling_constants(problem, TauNice(b))
    assert tau.A == pytest.approx((n - b) * L_max / (b * (n - 1)), rel=1e-12)
    assert tau.B == pytest.approx(n * (b - 1) / (b * (n - 1)), rel=1e-12)
    drawn = theory.sampling_constants(problem, WithReplacement(b))
    assert drawn.A == pytest.approx(L_max / b, rel=1e-12)
    assert drawn.B == pytest.approx(1 - 1 / b, rel=1e-12)
    assert L_max / problem.L == pytest.approx(18.5108, rel=1e-5)   # the factor γ, ρ were too large by


@pytest.mark.parametrize("name", list(unified_sam.PROBLEMS))
def test_our_pl_conditions_hold_under_the_authors_settings(name):
    problem = unified_sam.PROBLEMS[name]()
    theorem = theory.unified_sam_pl()
    for lam in unified_sam.LAMBDAS:
        for label, sampler in unified_sam.AUTHORS_SAMPLERS.items():
            rule = unified_sam.authors_rule(problem, sampler, lam)
            assert rule.lr.value * problem.L_max <= 2.0 and rule.rho.value * problem.L_max <= 0.25
            numbers, schedules = theorem.numbers(problem, rule, sampler, 1000)
            reports = theorem.condition_reports(numbers, schedules)
            assert len(reports) == 3                                   # 4BK ≤ 1, 4AK ≤ μ, γμ ≤ 2
            assert all(report.holds for report in reports), (name, label, lam, [str(r) for r in reports])
