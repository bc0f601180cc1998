"""Every constant a problem states (L_i, L, μ, f*, x*, f_inf) checked independently.

Checks use only finite differences of the package's own f_i / ∇f_i (no
constant is re-derived from its docstring formula), independent solvers
(scipy) and brute-force searches. All seeds are fixed.

Finite-difference accuracy: central differences of a gradient with step h
have truncation error h²/6·|∇³f| and round-off ~ eps·|∇f|/h. With h = 1e-4
and |∇f|, |∇³f| = O(10) on these instances both are ≤ 1e-7 relative, well
inside the 1e-6 tolerances used below. For quadratics the truncation error is
exactly zero.
"""
import numpy as np
import pytest
import scipy.linalg
import scipy.optimize

import samtheory as st
from samtheory.problems import (LeastSquares, LogisticNonconvex, Quadratic, SineLeastSquares,
                                random_least_squares, random_logistic,
                                random_sine_least_squares, saddle, sine_pl_ratio)
from samtheory.problems.nonconvex import SINC_MIN

H_FD = 1e-4          # finite-difference step
REL_L = 1e-6         # relative tolerance for "the FD Hessian norm equals L"


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def fd_sample_hessians(problem, x, h=H_FD):
    """(n, d, d) symmetrised central-FD Hessians of every f_i from ``sample_gradients``."""
    d = problem.d
    out = np.empty((problem.n, d, d))
    for j in range(d):
        e = np.zeros(d)
        e[j] = h
        out[:, :, j] = (problem.sample_gradients(x + e) - problem.sample_gradients(x - e)) / (2 * h)
    return 0.5 * (out + np.swapaxes(out, 1, 2))


def fd_hessian(problem, x, h=H_FD):
    """(d, d) symmetrised central-FD Hessian of f from ``gradient``."""
    d = problem.d
    out = np.empty((d, d))
    for j in range(d):
        e = np.zeros(d)
        e[j] = h
        out[:, j] = (problem.gradient(x + e) - problem.gradient(x - e)) / (2 * h)
    return 0.5 * (out + out.T)


def spectral_norms(hessians):
    return np.max(np.abs(np.linalg.eigvalsh(hessians)), axis=-1)


def fd_gradient(fun, x, h=1e-6):
    """Central FD gradient of a scalar or vector-valued function (last axis = coordinate)."""
    cols = []
    for j in range(x.size):
        e = np.zeros(x.size)
        e[j] = h
        cols.append((np.asarray(fun(x + e)) - np.asarray(fun(x - e))) / (2 * h))
    return np.stack(cols, axis=-1)


def make_problems():
    """Every problem kind, with the point at which the docstring says L_i and L are attained
    (None: anywhere)."""
    return {
        "ls": (random_least_squares(30, 5, condition=10, seed=1), None),
        "ls_rank_deficient": (random_least_squares(30, 6, condition=20, rank=3, seed=2), None),
        "ls_consistent": (random_least_squares(30, 5, condition=50, consistent=True, seed=3), None),
        "ls_wide": (random_least_squares(4, 8, seed=4), None),    # n < d: rank 4 < d
        "quadratic": (Quadratic([3.0, 1.0, 0.5, 0.1]), None),
        "saddle": (saddle(2.0, 1.5), None),
        "sine": (random_sine_least_squares(40, 5, seed=5), "x_star"),
        "logistic": (random_logistic(40, 5, seed=6), "zero"),
    }


PROBLEMS = make_problems()
KINDS = sorted(PROBLEMS)


def max_point(problem, where):
    if where == "x_star":
        return problem.x_star.copy()
    if where == "zero":
        return np.zeros(problem.d)
    return problem.x0.copy()


def random_points(problem, count, seed, scales=(0.1, 1.0, 3.0)):
    rng = np.random.default_rng(seed)
    centre = problem.x_star if problem.x_star is not None else np.zeros(problem.d)
    pts = []
    for k in range(count):
        pts.append(centre + scales[k % len(scales)] * rng.standard_normal(problem.d))
    return pts


# ---------------------------------------------------------------------------
# smoothness constants against finite-difference Hessians
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_L_i_attained_at_stated_point(kind):
    problem, where = PROBLEMS[kind]
    x = max_point(problem, where)
    norms = spectral_norms(fd_sample_hessians(problem, x))
    np.testing.assert_allclose(norms, problem.L_i, rtol=REL_L, atol=0)
    assert problem.L_max == pytest.approx(np.max(norms), rel=REL_L)
    assert problem.L_mean == pytest.approx(np.mean(norms), rel=REL_L)


@pytest.mark.parametrize("kind", KINDS)
def test_L_i_upper_bound_at_random_points(kind):
    problem, _ = PROBLEMS[kind]
    worst = 0.0
    for x in random_points(problem, 12, seed=11):
        norms = spectral_norms(fd_sample_hessians(problem, x))
        worst = max(worst, float(np.max(norms / problem.L_i)))
        assert np.all(norms <= problem.L_i * (1 + REL_L)), (norms, problem.L_i)
    assert worst > 0.0


@pytest.mark.parametrize("kind", KINDS)
def test_L_attained_at_stated_point(kind):
    problem, where = PROBLEMS[kind]
    x = max_point(problem, where)
    norm = spectral_norms(fd_hessian(problem, x))
    assert norm == pytest.approx(problem.L, rel=REL_L)


@pytest.mark.parametrize("kind", KINDS)
def test_L_upper_bound_at_random_points(kind):
    problem, _ = PROBLEMS[kind]
    for x in random_points(problem, 12, seed=12):
        norm = spectral_norms(fd_hessian(problem, x))
        assert norm <= problem.L * (1 + REL_L), (norm, problem.L)


def test_L_strict_inside_for_nonquadratic():
    """Away from the stated maximiser the non-quadratic problems have strictly smaller
    curvature: L is a maximum, not a constant value."""
    for kind in ("sine", "logistic"):
        problem, _ = PROBLEMS[kind]
        x = max_point(problem, PROBLEMS[kind][1]) + 1.0
        assert spectral_norms(fd_hessian(problem, x)) < problem.L * (1 - 1e-3)


def test_quadratic_constants_closed_form():
    q = Quadratic([3.0, 1.0, 0.5, 0.1])
    np.testing.assert_allclose(q.L_i, 4 * np.array([3.0, 1.0, 0.5, 0.1]), rtol=1e-15)
    assert (q.L, q.mu, q.f_star) == (3.0, 0.1, 0.0)
    np.testing.assert_array_equal(q.x_star, np.zeros(4))
    s = saddle(2.0, 1.5)
    assert s.L == 2.0 and s.mu is None and s.f_star is None and s.x_star is None
    x = np.array([0.3, -0.7])
    assert s.loss(x) == pytest.approx(0.5 * (2.0 * 0.3 ** 2 - 1.5 * 0.7 ** 2), rel=1e-14)


# ---------------------------------------------------------------------------
# gradients against finite differences of the losses
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_sample_gradients_match_fd_of_sample_losses(kind):
    problem, _ = PROBLEMS[kind]
    for x in random_points(problem, 4, seed=13, scales=(0.5, 2.0)):
        fd = fd_gradient(problem.sample_losses, x)             # (n, d)
        exact = problem.sample_gradients(x)
        scale = max(1.0, float(np.max(np.abs(exact))))
        np.testing.assert_allclose(exact, fd, rtol=0, atol=1e-7 * scale)
        idx = np.array([1, 0, 1, problem.n - 1])
        np.testing.assert_array_equal(problem.sample_gradients(x, idx), exact[idx])
        np.testing.assert_array_equal(problem.sample_losses(x, idx),
                                      problem.sample_losses(x)[idx])


@pytest.mark.parametrize("kind", KINDS)
def test_gradient_matches_fd_of_loss(kind):
    problem, _ = PROBLEMS[kind]
    for x in random_points(problem, 4, seed=14, scales=(0.5, 2.0)):
        fd = fd_gradient(problem.loss, x)
        exact = problem.gradient(x)
        scale = max(1.0, float(np.max(np.abs(exact))))
        np.testing.assert_allclose(exact, fd, rtol=0, atol=1e-7 * scale)
        assert problem.loss(x) == pytest.approx(np.mean(problem.sample_losses(x)), rel=1e-14)


# ---------------------------------------------------------------------------
# PL constant μ
# ---------------------------------------------------------------------------

def pl_ratio(problem, x):
    gap = problem.loss(x) - problem.f_star
    g = problem.gradient(x)
    return float(g @ g) / (2.0 * gap)


PL_KINDS = ["ls", "ls_rank_deficient", "ls_consistent", "ls_wide", "quadratic", "sine"]


@pytest.mark.parametrize("kind", PL_KINDS)
def test_pl_holds_at_random_points(kind):
    problem, _ = PROBLEMS[kind]
    assert problem.mu is not None and problem.mu > 0
    ratios = [pl_ratio(problem, x)
              for x in random_points(problem, 400, seed=15, scales=(0.03, 0.3, 1.0, 3.0, 10.0))]
    assert min(ratios) >= problem.mu * (1 - 1e-9), (min(ratios), problem.mu)


@pytest.mark.parametrize("kind", ["ls", "ls_rank_deficient", "ls_consistent", "ls_wide"])
def test_ls_pl_tight_along_smallest_nonzero_eigenvector(kind):
    problem, _ = PROBLEMS[kind]
    H = problem.A.T @ problem.A / problem.n            # recomputed, not problem.hessian
    eig, vec = np.linalg.eigh(H)
    nonzero = np.flatnonzero(eig > 1e-8 * eig[-1])
    j = nonzero[0]
    assert problem.mu == pytest.approx(eig[j], rel=1e-10)
    for t in (0.3, 1.0, -2.0):
        assert pl_ratio(problem, problem.x_star + t * vec[:, j]) == pytest.approx(problem.mu, rel=1e-8)
    # a null-space component changes neither f nor ∇f (PL without strong convexity)
    if nonzero[0] > 0:
        x = problem.x_star + 0.7 * vec[:, nonzero[0]] + 5.0 * vec[:, 0]
        assert pl_ratio(problem, x) == pytest.approx(problem.mu, rel=1e-8)


def test_quadratic_pl_tight():
    q = Quadratic([3.0, 1.0, 0.5, 0.1])
    x = np.array([0.0, 0.0, 0.0, 1.7])
    assert pl_ratio(q, x) == pytest.approx(0.1, rel=1e-12)


def _sine_ratio(k, t):
    return (k * t + np.sin(2 * t)) ** 2 / (k * t * t + 2 * np.sin(t) ** 2)


def _brute_force_m(k):
    """inf_{t>0} of the ratio by a dense grid (spacing 2.5e-4 on (0, 400]), refined by a
    second grid of spacing 1e-9 around the minimiser (the ratio is even in t)."""
    t = np.linspace(2.5e-4, 400.0, 1_600_000)
    vals = _sine_ratio(k, t)
    j = int(np.argmin(vals))
    fine = np.linspace(t[max(j - 1, 0)], t[j + 1], 500_001)
    return float(min(np.min(_sine_ratio(k, fine)), k + 2.0))


@pytest.mark.parametrize("k", [0.4345, 0.45, 0.6, 0.8, 1.0, 1.5, 2.0, 4.0, 10.0, 100.0])
def test_sine_pl_ratio_against_dense_grid(k):
    m = sine_pl_ratio(k)
    brute = _brute_force_m(k)
    # the package's value is a value of the ratio (or the t→0 limit k + 2): never below the inf
    assert m >= brute - 1e-10 * max(1.0, brute)
    # and it finds the infimum: within the brute-force grid's resolution (≈1e-12)
    assert m <= brute + 1e-9 * max(1.0, brute)
    assert 0 < m <= k       # the ratio tends to k as |t| → ∞


def test_sinc_min_and_pl_threshold():
    res = scipy.optimize.minimize_scalar(lambda u: np.sin(u) / u, bounds=(np.pi, 2 * np.pi),
                                         method="bounded", options={"xatol": 1e-12})
    assert SINC_MIN == pytest.approx(-res.fun, rel=1e-12)
    assert 2 * SINC_MIN == pytest.approx(0.434467, abs=5e-7)
    for k in (0.434467, 0.4, 0.2, 0.0, -1.0):
        with pytest.raises(ValueError, match=r"λ_j/c must lie in \(0\.434467, inf\)"):
            sine_pl_ratio(k)
    assert sine_pl_ratio(0.434468) > 0
    # below the threshold PL really fails: k t + sin 2t has a root t ≠ 0, where ∇g = 0 but g > 0
    k = 0.43
    t = np.linspace(1.0, 3.0, 200_001)
    num = k * t + np.sin(2 * t)
    assert num.min() < 0 < num.max()
    # a problem with λ_j/c below the threshold is refused
    with pytest.raises(ValueError, match="λ_j/c"):
        random_sine_least_squares(20, 3, reg_strength=1.0, eigenvalues=(0.4, 2.0), seed=0)


def test_sine_pl_tight_along_worst_coordinate():
    problem, _ = PROBLEMS["sine"]
    c = problem.reg_strength
    lam = np.diag(problem.A.T @ problem.A / problem.n)
    ms = np.array([sine_pl_ratio(l / c) for l in lam])
    j = int(np.argmin(ms))
    assert problem.mu == pytest.approx(c * ms[j], rel=1e-12)
    e = np.zeros(problem.d)
    e[j] = 1.0
    ratio = lambda t: pl_ratio(problem, problem.x_star + t * e)
    grid = np.linspace(0.01, 30.0, 6000)
    vals = np.array([ratio(t) for t in grid])
    i = int(np.argmin(vals))
    res = scipy.optimize.minimize_scalar(ratio, bounds=(grid[max(i - 1, 0)], grid[i + 1]),
                                         method="bounded", options={"xatol": 1e-10})
    found = min(res.fun, vals[i])
    assert found >= problem.mu * (1 - 1e-9)
    assert found == pytest.approx(problem.mu, rel=1e-6)


# ---------------------------------------------------------------------------
# f*, x*, f_inf against independent solvers
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["ls", "ls_rank_deficient", "ls_consistent", "ls_wide"])
def test_ls_f_star_and_min_norm_x_star(kind):
    problem, _ = PROBLEMS[kind]
    A, y = problem.A, problem.y
    x_gelsy = scipy.linalg.lstsq(A, y, lapack_driver="gelsy")[0]
    x_pinv = np.linalg.pinv(A, rcond=1e-10) @ y
    f_indep = 0.5 * np.mean((A @ x_gelsy - y) ** 2)
    assert problem.f_star == pytest.approx(f_indep, rel=1e-10, abs=1e-20)
    assert problem.loss(problem.x_star) == pytest.approx(f_indep, rel=1e-10, abs=1e-20)
    np.testing.assert_allclose(problem.x_star, x_pinv, rtol=0, atol=1e-9 * np.linalg.norm(x_pinv))
    # minimum norm: x* ⟂ null(A), so every other minimiser is longer
    _, s, vt = np.linalg.svd(A)
    null = vt[np.sum(s > 1e-10 * s[0]):]
    if null.size:
        assert np.linalg.norm(null @ problem.x_star) <= 1e-10 * np.linalg.norm(problem.x_star)
        other = problem.x_star + null.T @ np.ones(null.shape[0])
        assert problem.loss(other) == pytest.approx(problem.f_star, rel=1e-9, abs=1e-20)
        assert np.linalg.norm(other) > np.linalg.norm(problem.x_star)
    # stationarity
    assert np.linalg.norm(problem.gradient(problem.x_star)) <= 1e-12 * max(1.0, np.linalg.norm(y))


def test_ls_f_star_normal_equations_and_inconsistency():
    problem, _ = PROBLEMS["ls"]
    A, y = problem.A, problem.y
    x_ne = np.linalg.solve(A.T @ A, A.T @ y)
    assert problem.f_star == pytest.approx(0.5 * np.mean((A @ x_ne - y) ** 2), rel=1e-10)
    assert problem.f_star > 0.1            # noise = 1: the system is inconsistent
    res = scipy.optimize.minimize(problem.loss, problem.x0, jac=problem.gradient, method="BFGS",
                                  options={"gtol": 1e-12})
    assert res.fun >= problem.f_star - 1e-12
    assert res.fun == pytest.approx(problem.f_star, rel=1e-9)
    # the rank-deficient inconsistent case: equal f* from a different solver
    rd, _ = PROBLEMS["ls_rank_deficient"]
    x_gelss = scipy.linalg.lstsq(rd.A, rd.y, lapack_driver="gelss")[0]
    assert rd.f_star == pytest.approx(0.5 * np.mean((rd.A @ x_gelss - rd.y) ** 2), rel=1e-10)
    assert rd.f_star > 0.1


def test_consistent_ls_has_zero_f_star():
    for seed in range(5):
        problem = random_least_squares(25, 6, condition=100, consistent=True, seed=seed)
        assert abs(problem.f_star) <= 1e-20
        assert problem.loss(problem.x_star) <= 1e-20
        # interpolation: every ∇f_i(x*) = 0
        assert np.max(np.abs(problem.sample_gradients(problem.x_star))) <= 1e-10


def test_sine_f_star_zero_by_multistart_lbfgs():
    problem, _ = PROBLEMS["sine"]
    assert problem.f_star == 0.0
    assert problem.loss(problem.x_star) <= 1e-25
    np.testing.assert_allclose(problem.gradient(problem.x_star), 0.0, atol=1e-12)
    rng = np.random.default_rng(16)
    best = np.inf
    for k in range(40):
        x0 = problem.x_star + 4.0 * rng.standard_normal(problem.d)
        res = scipy.optimize.minimize(problem.loss, x0, jac=problem.gradient, method="L-BFGS-B")
        best = min(best, res.fun)
        assert res.fun >= 0.0
    # PL: every local search ends at the global minimum 0 (no spurious minima)
    assert best <= 1e-12


def test_logistic_f_inf_lower_bound():
    problem, _ = PROBLEMS["logistic"]
    assert problem.f_star is None and problem.mu is None and problem.f_inf == 0.0
    vals = [problem.loss(x) for x in random_points(problem, 200, seed=17, scales=(0.1, 1, 10, 100))]
    assert min(vals) >= 0.0
    rng = np.random.default_rng(18)
    for k in range(10):
        res = scipy.optimize.minimize(problem.loss, 3 * rng.standard_normal(problem.d),
                                      jac=problem.gradient, method="L-BFGS-B")
        assert res.fun >= 0.0
    assert np.all(problem.sample_losses(problem.x0) >= 0.0)


# ---------------------------------------------------------------------------
# non-convexity
# ---------------------------------------------------------------------------

def test_sine_is_nonconvex():
    problem, _ = PROBLEMS["sine"]
    c = problem.reg_strength
    lam = np.diag(problem.A.T @ problem.A / problem.n)
    assert lam.min() < 2 * c          # the default parameters are in the non-convex regime
    j = int(np.argmin(lam))
    x = problem.x_star.copy()
    x[j] += np.pi / 2                 # cos 2t = −1: g_j'' = λ_j − 2c
    eig = np.linalg.eigvalsh(fd_hessian(problem, x))
    assert eig[0] == pytest.approx(lam[j] - 2 * c, rel=1e-6)
    assert eig[0] < -1.0


def test_logistic_is_nonconvex():
    """Large coordinates saturate every logistic term, one coordinate at |t| = 1 where the
    regulariser's curvature is r''(1) = −1/2: the Hessian has an eigenvalue ≈ −c/2."""
    problem, _ = PROBLEMS["logistic"]
    c = problem.reg_strength
    rng = np.random.default_rng(19)
    worst = np.inf
    with np.errstate(over="ignore"):
        for k in range(20):
            x = 30.0 * rng.standard_normal(problem.d)
            x[k % problem.d] = 1.0
            worst = min(worst, np.linalg.eigvalsh(fd_hessian(problem, x))[0])
    assert worst < -0.9 * c / 2
    assert worst >= -c / 2 * (1 + 1e-6)     # r'' ≥ −1/2 and the logistic part is PSD


# ---------------------------------------------------------------------------
# generator properties
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("n,d,condition,rank", [(30, 5, 10.0, None), (30, 6, 20.0, 3),
                                                (50, 10, 1000.0, 10), (4, 8, 7.0, None),
                                                (20, 5, 3.0, 1)])
def test_random_least_squares_spectrum(n, d, condition, rank):
    problem = random_least_squares(n, d, condition=condition, rank=rank, seed=7)
    r = min(n, d) if rank is None else rank
    eig = np.linalg.eigvalsh(problem.A.T @ problem.A / n)
    nonzero = eig[eig > 1e-10 * eig[-1]]
    assert nonzero.size == r
    assert np.linalg.matrix_rank(problem.A) == r
    expected_condition = condition if r > 1 else 1.0
    assert nonzero[-1] / nonzero[0] == pytest.approx(expected_condition, rel=1e-9)
    assert problem.L == pytest.approx(nonzero[-1], rel=1e-10)
    assert problem.mu == pytest.approx(nonzero[0], rel=1e-10)
    if r > 1:
        assert problem.L == pytest.approx(1.0, rel=1e-10)     # default μ = 1/condition
    np.testing.assert_allclose(problem.L_i, np.sum(problem.A ** 2, axis=1), rtol=1e-14)


def test_random_least_squares_mu_argument_and_seed():
    p = random_least_squares(30, 5, condition=10.0, mu=0.5, seed=8)
    assert p.mu == pytest.approx(0.5, rel=1e-10) and p.L == pytest.approx(5.0, rel=1e-10)
    q = random_least_squares(30, 5, condition=10.0, mu=0.5, seed=8)
    np.testing.assert_array_equal(p.A, q.A)
    np.testing.assert_array_equal(p.y, q.y)
    np.testing.assert_array_equal(p.x0, q.x0)
    r = random_least_squares(30, 5, condition=10.0, mu=0.5, seed=9)
    assert not np.array_equal(p.A, r.A)


def test_random_sine_generator_properties():
    problem = random_sine_least_squares(40, 5, reg_strength=1.5, eigenvalues=(0.9, 6.0), seed=10)
    H = problem.A.T @ problem.A / problem.n
    np.testing.assert_allclose(H, np.diag(np.diag(H)), atol=1e-12)
    np.testing.assert_allclose(np.sort(np.diag(H)), np.geomspace(0.9, 6.0, 5), rtol=1e-12)
    np.testing.assert_allclose(problem.y, problem.A @ problem.x_star, rtol=1e-14)
    assert problem.L == pytest.approx(6.0 + 3.0, rel=1e-12)


def test_direct_constructors_agree_with_generators():
    p, _ = PROBLEMS["ls"]
    q = LeastSquares(p.A, p.y, x0=p.x0)
    assert (q.L, q.mu, q.f_star) == (p.L, p.mu, p.f_star)
    s, _ = PROBLEMS["sine"]
    t = SineLeastSquares(s.A, s.x_star, s.reg_strength)
    assert t.mu == s.mu and t.L == s.L
    lg, _ = PROBLEMS["logistic"]
    u = LogisticNonconvex(lg.A, lg.y, lg.reg_strength)
    assert u.L == lg.L
    np.testing.assert_array_equal(u.L_i, lg.L_i)


@pytest.mark.parametrize("kind", ["ls", "ls_rank_deficient", "ls_consistent", "quadratic", "sine"])
def test_loss_gap_is_f_minus_f_star(kind):
    """``loss_gap`` (exact quadratic form for pure quadratics) equals f(x) − f*."""
    problem, _ = PROBLEMS[kind]
    for x in random_points(problem, 20, seed=20, scales=(0.3, 1.0, 3.0)):
        direct = problem.loss(x) - problem.f_star
        assert problem.loss_gap(x) == pytest.approx(direct, rel=1e-9, abs=1e-14)
    assert problem.loss_gap(problem.x_star) == pytest.approx(0.0, abs=1e-14)


# -- precision of the constants and of the loss gap ------------------------------

@pytest.mark.parametrize("condition", [1e11, 1e13])
def test_mu_resolved_for_extreme_condition_numbers(condition):
    """μ comes from the singular values of A, so H's smallest eigenvalue is resolved
    far beyond the 1e-10 relative floor of an eigendecomposition of AᵀA/n."""
    p = random_least_squares(40, 8, condition=condition, seed=2)
    assert p.mu == pytest.approx(1.0 / condition, rel=1e-6)
    assert p.L == pytest.approx(1.0, rel=1e-9)


def test_sine_loss_gap_has_no_cancellation():
    """Large targets make c0 = ½ mean y² ~ 1e8; the gap near x* must still be exact
    (½zᵀHz + c Σ sin² z_j) in both backends, never negative."""
    base = random_sine_least_squares(64, 4, seed=0)
    x_star = 1e4 * base.x_star
    p = SineLeastSquares(base.A, x_star, 1.0, x0=x_star + 1e-3)
    z = np.full(4, 1e-3)
    exact = 0.5 * z @ p.hessian @ z + np.sum(np.sin(z) ** 2)
    assert p.loss_gap(p.x0) == pytest.approx(exact, rel=1e-12)
    assert p.loss_gap(x_star) == 0.0
    runs = [st.simulate(p, st.SGD(0.01), st.TauNice(64), steps=3000, trajectories=1,
                        record_every=500, backend=b) for b in ("numba", "reference")]
    gaps = [r.metrics["loss_gap"][0] for r in runs]
    assert gaps[0][0] == pytest.approx(exact, rel=1e-12)
    assert np.all(gaps[0] >= 0)
    np.testing.assert_allclose(gaps[0], gaps[1], rtol=1e-9, atol=1e-300)


def test_rational_regulariser_is_finite_for_huge_coordinates():
    p = random_logistic(10, 2, reg_strength=0.5, seed=1)
    loss = p.loss(np.array([1e155, 0.0]))
    assert np.isfinite(loss)
    # t²/(1+t²) → 1: the regulariser contributes c·1 for the huge coordinate
    assert p._reg(np.array([1e155, 0.0]))[0] == pytest.approx(0.5, rel=1e-15)
    assert p._reg(np.array([1e-9, 0.0]))[0] == pytest.approx(0.5e-18, rel=1e-12)


def test_huge_but_finite_iterates_are_not_flagged():
    """Divergence is decided per coordinate: x = (1e308, 1e308) is finite although its sum is not."""
    p = random_logistic(10, 2, reg_strength=0.0, seed=1)
    x0 = np.array([1e308, 1e308])
    for backend in ("numba", "reference"):
        out = st.simulate(p, st.SGD(1e-3), st.TauNice(10), steps=2, trajectories=1, x0=x0,
                          backend=backend, record_every=1)
        assert out.diverged_at[0] == -1, backend
