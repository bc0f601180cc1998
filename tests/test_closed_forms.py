r"""The closed forms of docs/theory.md §4, each checked against ``samtheory.simulate``.

Every test runs the compiled (numba) kernel on a diagonal quadratic
f = ½ Σ_j λ_j x_j² (``problems.Quadratic``), full batch (``TauNice(d)``), or on
the saddle / least-squares / logistic problems named in the test, and compares
the simulated iterates with a closed form re-derived in the test's docstring.

Floating-point notes used for the tolerances:

* Full batch on ``Quadratic`` computes ∇f_j as (1/d)·s_j·√(dλ_j)x_j·√(dλ_j),
  i.e. λ_j x_j up to a few ulps, so a linear recurrence x ← q x matches q^t x_0
  to about t·1e-16 relative.
* The kernel guards every normalisation by ‖·‖ + 1e-12 (docs/theory.md §3). Where a
  normalised quantity of size N enters, the guard shifts the result by a
  relative 1e-12/N; the tests choose scales where this is below the tolerance
  and say so (and ``test_stable_sam_guard_is_the_only_difference`` checks the
  guard's effect itself).
"""
import math

import numpy as np
import pytest

import samtheory as st
from samtheory.problems import Quadratic, random_least_squares, random_logistic, saddle
from samtheory.schedules import Linear
from samtheory.studies.msam import nesterov   # the study's reference implementation

GUARD = 1e-12


def full_batch(problem, rule, steps, *, x0=None, record_every=None, trajectories=1, seed=0):
    """One full-batch (τ-nice with b = n) run of ``rule`` on ``problem``."""
    return st.simulate(problem, rule, st.TauNice(problem.n), steps=steps, trajectories=trajectories,
                       seed=seed, x0=x0, record_every=record_every)


def final(problem, rule, steps, x0=None):
    """x_T of one full-batch trajectory."""
    return full_batch(problem, rule, steps, x0=x0).final_x[0]


def rel(a, b):
    """Norm-wise relative difference ‖a − b‖/‖b‖."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


# ---------------------------------------------------------------------------
# 1. Gradient descent on a quadratic
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("factor", [0.995, 1.005])
def test_gd_stability_edge(factor):
    r"""GD on H = diag(λ), full batch: stable iff η < 2/λ_max.

    Derivation: ∇f(x) = Hx, so x_{t+1} = (I − ηH) x_t and coordinate j obeys
    x_{t,j} = (1 − ηλ_j)^t x_{0,j} exactly (in exact arithmetic). All
    coordinates contract iff |1 − ηλ_j| < 1 for every j, i.e. 0 < ηλ_j < 2,
    i.e. η < 2/λ_max. Just below the edge the top factor is 1 − ηλ_max ≈ −0.99
    (slow oscillating contraction), just above it is ≈ −1.01 (oscillating
    growth). The measured factor (|x_T|/|x_0|)^{1/T} of the top direction must
    equal |1 − ηλ_max| to 1e-8, its sign must alternate, and the loss gap must
    shrink resp. grow.
    """
    lam = np.array([10.0, 3.0, 1.0])
    eta = factor * 2.0 / lam.max()
    problem = Quadratic(lam, x0=np.ones(3))
    T = 400
    out = full_batch(problem, st.SGD(eta), T)
    x_T = out.final_x[0]
    q = 1.0 - eta * lam
    measured = (abs(x_T[0]) / 1.0) ** (1.0 / T)
    assert abs(measured - abs(q[0])) < 1e-8
    assert np.sign(x_T[0]) == np.sign(q[0]) ** T
    # every coordinate follows the exact power law
    np.testing.assert_allclose(x_T, q ** T, rtol=1e-12)
    gap = out.metrics["loss_gap"][0]
    if factor < 1:
        assert gap[-1] < 1e-3 * gap[0]          # 0.99^800 ≈ 3e-4 for the top direction
    else:
        assert gap[-1] > 1e3 * gap[0]           # 1.01^800 ≈ 2.9e3
    assert not out.diverged[0]


# ---------------------------------------------------------------------------
# 2. USAM: per-direction factor and stability edge
# ---------------------------------------------------------------------------

def usam_edge(eta, rho):
    return (math.sqrt(1.0 + 8.0 * rho / eta) - 1.0) / (2.0 * rho)


def test_usam_per_direction_factor():
    r"""USAM on H = diag(λ): x_t = (1 − ηλ(1 + ρλ))^t x_0 per coordinate.

    Derivation: g = Hx, the ascent point is x + ρg = (I + ρH)x, and
    h = H(I + ρH)x, so x_{t+1} = (I − ηH(I + ρH)) x_t: coordinate j is
    multiplied by 1 − ηλ_j(1 + ρλ_j) each step (no normalisation, so the
    coordinates decouple and no guard enters).
    """
    eta, rho = 0.1, 0.05
    lam = np.array([12.0, 5.0, 1.0, 0.3])
    x0 = np.array([1.0, -2.0, 0.5, 3.0])
    T = 60
    x_T = final(Quadratic(lam, x0=x0), st.USAM(eta, rho), T)
    expected = (1.0 - eta * lam * (1.0 + rho * lam)) ** T * x0
    np.testing.assert_allclose(x_T, expected, rtol=1e-10, atol=0)


def test_usam_stability_edge():
    r"""USAM edge λ* = (√(1 + 8ρ/η) − 1)/(2ρ).

    Derivation: the factor 1 − ηλ(1 + ρλ) decreases in λ > 0 from 1, so
    |factor| < 1 iff ηλ(1 + ρλ) < 2, i.e. ρλ² + λ − 2/η < 0, whose positive
    root is λ* = (−1 + √(1 + 8ρ/η))/(2ρ). η = 0.1, ρ = 0.05: λ* = (√5 − 1)/0.1
    = 12.3607. At λ = λ*(1 ∓ 1%) the factor is ≈ −1 ± 0.028, so over 400 steps
    the iterate shrinks to ~1e-5 resp. grows to ~1e5.
    """
    eta, rho = 0.1, 0.05
    edge = usam_edge(eta, rho)
    assert abs(edge - 12.3607) < 1e-4
    assert abs(eta * edge * (1.0 + rho * edge) - 2.0) < 1e-12     # the edge solves ηλ(1 + ρλ) = 2
    for e, r in [(0.01, 0.1), (0.3, 0.02), (1.0, 1.0)]:          # and the formula in general
        lam_star = usam_edge(e, r)
        assert abs(e * lam_star * (1.0 + r * lam_star) - 2.0) < 1e-12
    lam = np.array([0.99 * edge, 1.01 * edge])
    T = 400
    x_T = final(Quadratic(lam, x0=np.ones(2)), st.USAM(eta, rho), T)
    q = 1.0 - eta * lam * (1.0 + rho * lam)
    assert abs(q[0]) < 1.0 < abs(q[1])
    np.testing.assert_allclose(x_T, q ** T, rtol=1e-10)
    assert abs(x_T[0]) < 1e-4 and abs(x_T[1]) > 1e4


# ---------------------------------------------------------------------------
# 3. SAM (normalised): the 2-cycle along the top eigenvector
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("eta_lam, c_listed", [(0.5, 0.016667), (1.0, 0.05), (1.5, 0.15),
                                               (1.9, 0.95)])
def test_sam_two_cycle(eta_lam, c_listed):
    r"""SAM on H = diag(10, 1), ρ = 0.05 ends in the 2-cycle ±c v₁, c = ηρλ₁/(2 − ηλ₁).

    Derivation: x' = x − ηH(x + ρHx/‖Hx‖). On the line x = s v₁ (s ≠ 0)
    this is s' = (1 − ηλ₁)s − ηρλ₁ sign(s). A 2-cycle s → −s with s = c > 0
    needs (1 − ηλ₁)c − ηρλ₁ = −c, i.e. c = ηρλ₁/(2 − ηλ₁) (ηλ₁ < 2). Along the
    cycle the map is affine with slope 1 − ηλ₁, |1 − ηλ₁| < 1, so it attracts
    within v₁; the v₂ coordinate is multiplied by
    1 − ηλ₂(1 + ρλ₂/‖Hx‖) ≈ 1 − ηλ₂(1 + ρλ₂/(λ₁c)) ∈ (0, 1), so it → 0.
    On the cycle ‖∇f‖ = λ₁c, hence ηλ₁(1 + ρλ₁/‖∇f‖) = ηλ₁ + ηρλ₁/c
    = ηλ₁ + (2 − ηλ₁) = 2 exactly. (The kernel's guard ‖g‖ + 1e-12 moves c by
    a relative ~1e-12/(λ₁c) ≤ 6e-12, far below the 1e-9 used here.)
    """
    lam1, rho = 10.0, 0.05
    eta = eta_lam / lam1
    c = eta * rho * lam1 / (2.0 - eta * lam1)
    assert abs(c - c_listed) < 5e-7                       # the rounded values of docs/theory.md §4
    problem = Quadratic([lam1, 1.0], x0=np.ones(2))
    T = 1500
    out = full_batch(problem, st.SAM(eta, rho), T, record_every=T)
    x_T = out.final_x[0]
    x_T1 = final(problem, st.SAM(eta, rho), T + 1)
    assert abs(abs(x_T[0]) - c) < 1e-9 * c
    assert abs(x_T1[0] + x_T[0]) < 1e-9 * c               # the sign flips: x_{T+1} = −x_T
    assert abs(x_T[1]) < 1e-12 and abs(x_T1[1]) < 1e-12
    grad_norm = math.sqrt(out.metrics["grad_norm_sq"][0, -1])
    assert abs(eta * lam1 * (1.0 + rho * lam1 / grad_norm) - 2.0) < 1e-9


# ---------------------------------------------------------------------------
# 4. MSAM 2-cycle
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("lam, eta, mu, rho, c_listed", [
    (1.0, 0.1, 0.9, 0.05, 0.0013514),     # the example of docs/theory.md §4
    (2.0, 0.5, 0.5, 0.1, None),           # c = 0.05
    (4.0, 0.6, 0.3, 0.02, None),          # ηλ = 2.4 > 2: beyond the SAM/GD edge, still a cycle
])
def test_msam_two_cycle(lam, eta, mu, rho, c_listed):
    r"""MSAM on ½λx²: 2-cycle ±c with c = ηρλ/(2(1 + μ) − ηλ).

    Derivation (v the momentum buffer before its update, u = −v the
    direction of motion): the gradient is taken at x − ρ v/‖v‖, then
    v ← μv + λ(x − ρ v/|v|), x ← x − ηv. Suppose x alternates c, −c, c, ...
    Then x_{t+1} − x_t = −η v_{t+1} gives v_{t+1} = 2c/η when x_t = c, and the
    buffer before that step was v_t = −2c/η (it moved x from −c to c). So the
    gradient point is x_t − ρ v_t/|v_t| = c + ρ and
        2c/η = μ(−2c/η) + λ(c + ρ)  ⇔  c (2(1 + μ) − ηλ) = ηρλ,
    i.e. c = ηρλ/(2(1 + μ) − ηλ), positive iff ηλ < 2(1 + μ). Within a fixed
    sign pattern the map is the heavy-ball recursion, whose characteristic
    roots have modulus √μ < 1 when complex (or are real and inside the unit
    disc here), so the cycle attracts. Example (1, 0.1, 0.9, 0.05):
    c = 0.005/3.7 = 0.0013514. The guard ‖v‖ + 1e-12 with ‖v‖ = 2c/η moves c by
    a relative 1e-12·η/(2c) ≈ 4e-11 (observed 3.7e-11), below the 1e-9 used.
    From x_0 = 1 the transient decays like √μ^t (≈ 1e-11 after 500 steps for
    μ = 0.9); we run 1500 steps. A second coordinate with a smaller eigenvalue
    (2-D case) decays to 0 and leaves the cycle unchanged.
    """
    c = eta * rho * lam / (2.0 * (1.0 + mu) - eta * lam)
    if c_listed is not None:
        assert abs(c - c_listed) < 5e-8
    rule = st.MSAM(eta, rho, momentum=mu)
    T = 1500
    for problem in (Quadratic([lam], x0=[1.0]), Quadratic([lam, 0.3 * lam], x0=[1.0, 1.0])):
        x_T = final(problem, rule, T)
        x_T1 = final(problem, rule, T + 1)
        assert abs(abs(x_T[0]) - c) < 1e-9 * c
        assert abs(x_T1[0] + x_T[0]) < 1e-9 * c
        if problem.d == 2:
            assert abs(x_T[1]) < 1e-12


# ---------------------------------------------------------------------------
# 5. MSAM with ρ_t = ημ‖v_t‖ is Nesterov momentum
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["quadratic", "logistic"])
def test_msam_is_nesterov(which):
    r"""MSAM with e = −ημ m is exactly Nesterov momentum.

    Derivation: MSAM with λ = 0 and radius ρ = ημ perturbs by e = ρ(−m)
    = −ημm (the same as ρ_t = ημ‖m_t‖ with normalisation, λ = 1), so one step is
    h = ∇f(x − ημm); m ← μm + h; x ← x − ηm. Put v := −ηm (v_0 = 0 = m_0):
    then x − ημm = x + μv, the new v is −η(μm + h) = μv − η∇f(x + μv), and
    x ← x − ηm_new = x + v_new: Sutskever's form of Nesterov momentum. The two
    differ only by rounding (ημ·m vs μ·(ηm), summation order), so they agree
    to ~1e-15 on a contracting run; we assert 1e-13 relative.
    """
    eta, mu = (0.05, 0.9) if which == "quadratic" else (0.5, 0.8)
    if which == "quadratic":
        lam = np.array([10.0, 3.0, 1.0, 0.1])
        problem = Quadratic(lam, x0=np.array([1.0, -1.0, 2.0, 0.5]))
        grad = lambda x: lam * x                                   # noqa: E731
    else:
        problem = random_logistic(40, 5, seed=3)
        grad = problem.gradient                                    # NumPy reference ∇f
    steps = 300
    x_sim = final(problem, st.MSAM(eta, eta * mu, momentum=mu, lam=0.0), steps)
    x_ref = nesterov(grad, problem.x0, eta, mu, steps)
    assert rel(x_sim, x_ref) < 1e-13
    # the run actually moved (so the comparison is not vacuous)
    assert rel(x_ref, problem.x0) > 0.1


# ---------------------------------------------------------------------------
# 6. Stable SAM along one eigen-direction is GD
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("lam_rule", [0.0, 1.0])
@pytest.mark.parametrize("eta_factor", [0.1, 0.9, 0.99, 1.01])
def test_stable_sam_one_direction_is_gd(lam_rule, eta_factor):
    r"""Stable SAM on ½λx² (1-D) has the GD iterates; stable iff η < 2/λ.

    Derivation: g = λx; e = ρg (λ_rule = 0) or ρ g/|g| (λ_rule = 1), both with
    the sign of x, so h = λ(x + e) has the sign of g. Stable SAM steps on
    (|g|/|h|) h = |g| sign(h) = g: exactly GD, x_t = (1 − ηλ)^t x_0, stable iff
    |1 − ηλ| < 1 iff η < 2/λ. In the kernel the factor is |g|/(|h| + 1e-12), a
    relative step change of 1e-12/|h| per step; starting at x_0 = 1e9 with
    |1 − ηλ| ≥ 0.8 for 60 steps keeps |h| ≥ 1e3, so Σ_t 1e-12/|h_t| < 1e-14 and
    the 1e-12 comparison tests the identity, not the guard.
    """
    lam, rho = 4.0, 0.05
    # η = factor·2/λ, but for the small factor use η = 0.05 (1 − ηλ = 0.8)
    eta = 0.05 if eta_factor == 0.1 else eta_factor * 2.0 / lam
    problem = Quadratic([lam], x0=[1e9])
    T = 60
    x_stable = final(problem, st.StableSAM(eta, rho, lam=lam_rule), T)[0]
    x_gd = final(problem, st.SGD(eta), T)[0]
    assert abs(x_stable - x_gd) <= 1e-12 * abs(x_gd)
    assert abs(x_gd - (1.0 - eta * lam) ** T * 1e9) <= 1e-12 * abs(x_gd)
    if eta < 2.0 / lam:
        assert abs(x_stable) < 1e9
    else:
        assert abs(x_stable) > 1e9


def test_stable_sam_guard_is_the_only_difference():
    r"""At small |h| the guard shows: x' = x − ηλx·|h|/(|h| + 1e-12).

    Derivation: with the guarded factor s = |g|/(|h| + ε), s·h = g·|h|/(|h| + ε)
    (h has the sign of g), so each step is GD with the step size shrunk by
    |h|/(|h| + ε). From x_0 = 1e-9 this deviates from GD by ~1e-3 relative,
    and a plain-NumPy recurrence with the guard reproduces the kernel to 1e-12.
    """
    lam, rho, eta = 4.0, 0.05, 0.45
    x0, T = 1e-9, 30
    x_sim = final(Quadratic([lam], x0=[x0]), st.StableSAM(eta, rho, lam=0.0), T)[0]
    x = x0
    for _ in range(T):
        g = lam * x
        h = lam * (x + rho * g)
        x = x - eta * g * abs(h) / (abs(h) + GUARD)
    x_gd = (1.0 - eta * lam) ** T * x0
    assert abs(x_sim - x) <= 1e-12 * abs(x)
    assert abs(x_sim - x_gd) > 1e-4 * abs(x_gd)


# ---------------------------------------------------------------------------
# 7. The saddle ½(a x² − c y²)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("c, eta, rho", [(2.0, 0.1, 0.3), (2.0, 0.1, 0.49), (2.0, 0.1, 0.51),
                                         (2.0, 0.1, 0.8), (0.5, 0.2, 1.5), (0.5, 0.2, 2.5)])
def test_usam_saddle_y_factor(c, eta, rho):
    r"""USAM's y-factor on the saddle is 1 + ηc(1 − ρc); the saddle attracts iff ρ > 1/c.

    Derivation: ∇f = (ax, −cy); the ascent point has y + ρ(−cy) = (1 − ρc)y, so
    h_y = −c(1 − ρc)y and y' = y − ηh_y = (1 + ηc(1 − ρc)) y (and
    x' = (1 − ηa(1 + ρa)) x). |y-factor| < 1 iff −2 < ηc(1 − ρc) < 0, i.e.
    ρ > 1/c *and* ηc(ρc − 1) < 2 (the second condition holds in every case
    here; see ``test_usam_saddle_overshoot`` for when it fails).
    """
    a = 1.0
    q_y = 1.0 + eta * c * (1.0 - rho * c)
    q_x = 1.0 - eta * a * (1.0 + rho * a)
    problem = saddle(a, c, x0=(1.0, 1e-3))
    T = 40
    x_T = final(problem, st.USAM(eta, rho), T)
    x_T1 = final(problem, st.USAM(eta, rho), T + 1)
    assert abs(x_T1[1] / x_T[1] - q_y) < 1e-12                    # the measured per-step factor
    assert abs(x_T[1] - q_y ** T * 1e-3) <= 1e-12 * abs(x_T[1])
    assert abs(x_T[0] - q_x ** T) <= 1e-12 * abs(x_T[0])
    attracts = rho > 1.0 / c
    assert attracts == (abs(q_y) < 1.0)
    assert attracts == (abs(x_T[1]) < 1e-3)


def test_usam_saddle_overshoot():
    r"""Under USAM the saddle attracts only if ρ > 1/c and ηc(ρc − 1) < 2 (docs/theory.md §4).

    With c = 2, η = 0.5, ρ = 2 > 1/c: y-factor 1 + 1·(1 − 4) = −2, so |y| doubles
    each step (the saddle is not attracting; the iterate overshoots across it).
    """
    c, eta, rho = 2.0, 0.5, 2.0
    q_y = 1.0 + eta * c * (1.0 - rho * c)
    assert q_y == -2.0
    x_T = final(saddle(1.0, c, x0=(1.0, 1e-3)), st.USAM(eta, rho), 10)
    assert abs(x_T[1] - q_y ** 10 * 1e-3) <= 1e-12 * abs(x_T[1])
    assert abs(x_T[1]) > 1.0


def escape_step_numpy(kind, rho, eta=0.05, limit=20000):
    """Independent plain-Python escape step on ½(x² − y²) from (1, 1e-3): first t with |y_t| > 1."""
    x, y = 1.0, 1e-3
    for t in range(1, limit + 1):
        gx, gy = x, -y
        if kind == "gd":
            hx, hy = gx, gy
        else:
            px, py = x + rho * gx, y + rho * gy
            hx, hy = px, -py
            if kind == "stable":
                s = math.hypot(gx, gy) / math.hypot(hx, hy)
                hx, hy = s * hx, s * hy
        x, y = x - eta * hx, y - eta * hy
        if abs(y) > 1.0:
            return t
    return None


@pytest.mark.parametrize("kind, rho, expected", [
    ("gd", 0.0, 142), ("usam", 0.5, 280), ("usam", 0.9, 1386), ("usam", 2.0, None),
    ("stable", 0.5, 212), ("stable", 0.9, 274), ("stable", 2.0, None)])
def test_saddle_escape_steps(kind, rho, expected):
    r"""Escape steps on ½(x² − y²), η = 0.05, from (1, 1e-3), full batch.

    Derivation (GD, USAM): y_t = (1 + ηc(1 − ρc))^t y_0, so the first t with
    |y_t| > 1 is ⌊ln(1/y_0)/ln q⌋ + 1: GD q = 1.05 → ⌊141.58⌋ + 1 = 142; USAM
    ρ = 0.5, q = 1.025 → ⌊279.75⌋ + 1 = 280; ρ = 0.9, q = 1.005 → ⌊1385.0⌋ + 1
    = 1386 (y_1385 ≈ 0.999993: close to the threshold but the 7e-6 margin is
    far above rounding); ρ = 2, q = 0.95: never. Stable USAM has no closed form
    (its scale ‖g‖/‖h‖ moves from 1/(1 + ρ) while x dominates to 1/|1 − ρ|
    once y does), so it is checked against an independent plain-Python run;
    for ρ = 2, h_y = (ρ − 1)y has the sign of y and y shrinks monotonically.

    |y_t| is read at every step from the metrics: with a = c = 1,
    ‖∇f‖² − 2f = (x² + y²) − (x² − y²) = 2y². The exact step is confirmed from
    ``final_x`` after k − 1 and k steps.
    """
    eta = 0.05
    rule = {"gd": st.SGD(eta), "usam": st.USAM(eta, rho),
            "stable": st.StableSAM(eta, rho, lam=0.0)}[kind]
    if kind != "stable":
        q = 1.0 + eta * (1.0 - rho)
        closed = math.floor(math.log(1e3) / math.log(q)) + 1 if q > 1 else None
        assert closed == expected
    assert escape_step_numpy(kind, rho) == expected
    problem = saddle(1.0, 1.0, x0=(1.0, 1e-3))
    steps = 20000 if expected is None else expected + 20
    out = full_batch(problem, rule, steps, record_every=1)
    assert not out.diverged[0]
    m = out.metrics
    y_abs = np.sqrt(np.maximum((m["grad_norm_sq"][0] - 2.0 * m["loss_gap"][0]) / 2.0, 0.0))
    above = np.nonzero(y_abs > 1.0)[0]
    first = int(out.steps[above[0]]) if above.size else None
    assert first == expected
    if expected is not None:
        assert abs(final(problem, rule, expected - 1)[1]) <= 1.0
        assert abs(final(problem, rule, expected)[1]) > 1.0
    else:
        # never left the start's neighbourhood (1e-9: cancellation in ‖∇f‖² − 2f while x ≈ 1)
        assert y_abs.max() <= 1e-3 * (1 + 1e-9)
        assert abs(out.final_x[0, 1]) < 1e-3


# ---------------------------------------------------------------------------
# 8. RST
# ---------------------------------------------------------------------------

def test_rst_extremes_are_sam_and_sgd():
    r"""RST with p ≡ 1 is SAM and with p ≡ 0 is SGD, bit for bit.

    Derivation: a step perturbs iff U_t < p_t (U_t ∈ [0, 1)): always for p = 1,
    never for p = 0, and the coins use their own substream, so the minibatch
    stream (and hence every number) is the SAM resp. SGD one.
    """
    problem = random_least_squares(32, 6, condition=10, seed=2)
    sampler = st.WithReplacement(4)
    kw = dict(steps=300, trajectories=16, seed=11, record_every=50)
    lr, rho = 0.1, 0.05
    pairs = [(st.RST(lr, rho, 1.0), st.SAM(lr, rho)), (st.RST(lr, rho, 0.0), st.SGD(lr))]
    for rst_rule, reference in pairs:
        a = st.simulate(problem, rst_rule, sampler, **kw)
        b = st.simulate(problem, reference, sampler, **kw)
        assert np.array_equal(a.final_x, b.final_x)
        for name in b.metrics:
            assert np.array_equal(a.metrics[name], b.metrics[name])
    # the two extremes really differ from each other
    assert not np.array_equal(st.simulate(problem, pairs[0][0], sampler, **kw).final_x,
                              st.simulate(problem, pairs[1][0], sampler, **kw).final_x)


def test_rst_gradient_evaluations():
    r"""RST gradient evaluations: mean T(1 + p̄), variance Σ_t p_t(1 − p_t).

    Derivation: step t costs 1 + X_t evaluations (g, plus h when X_t = 1),
    X_t ~ Bernoulli(p_t) independent, so N = T + Σ_t X_t has
    E N = T + Σ p_t = T(1 + p̄) and Var N = Σ p_t(1 − p_t). Per trajectory the
    count is exactly T + #{t : U_t < p_t} with the coin uniforms of
    ``sampling.draw_coins``.

    Monte Carlo tolerances with R trajectories: the mean has standard error
    σ/√R (σ² = Σ p(1 − p)); the unbiased sample variance s² has
    Var s² = 2σ⁴/(R − 1) + κ₄/R, κ₄ = Σ p(1 − p)(1 − 6p(1 − p)) the fourth
    cumulant of N (a sum of independent Bernoullis). With R = 4000, T = 200,
    p = Linear(0.2, 0.8): σ² = T·mean p(1 − p) ≈ 200·0.22 = 44.0,
    SE(mean) = √(σ²/R) ≈ 0.105, SE(s²) ≈ 0.98 (2.2 % of σ²). Both are asserted
    within 4 standard errors (a fixed seed, so the test is deterministic; 4 SE
    is a ~6e-5 two-sided chance a priori; this seed gives z ≈ +0.87 for the
    mean and z ≈ −1.9 for the variance).
    """
    problem = random_least_squares(16, 4, condition=5, seed=0)
    T, R, seed = 200, 4000, 5
    out = st.simulate(problem, st.RST(0.05, 0.05, Linear(0.2, 0.8)), st.WithReplacement(2),
                      steps=T, trajectories=R, seed=seed, record_every=T)
    p = out.schedules["perturb_prob"]
    np.testing.assert_allclose(p, 0.2 + 0.6 * np.arange(T) / T)
    evals = out.metrics["grad_evals"][:, -1]
    # exact per-trajectory count from the coin stream
    coins = st.draw_coins(T, R, seed)
    np.testing.assert_array_equal(evals, T + (coins < p[None, :]).sum(axis=1))
    # moments
    p_bar = p.mean()
    var = float(np.sum(p * (1 - p)))
    kappa4 = float(np.sum(p * (1 - p) * (1 - 6 * p * (1 - p))))
    se_mean = math.sqrt(var / R)
    se_var = math.sqrt(2 * var ** 2 / (R - 1) + kappa4 / R)
    assert abs(evals.mean() - T * (1 + p_bar)) < 4 * se_mean
    assert abs(evals.var(ddof=1) - var) < 4 * se_var
    assert se_var < 0.03 * var          # so 4 SE is a real (< 12 % of σ²) constraint
