"""The landscape families of ``problems.landscapes``: derivatives, closed forms, f*, inputs.

Promises checked here:
- for every family, the compiled per-sample gradient and HVP equal central finite
  differences of the compiled value and gradient, and the NumPy reference
  gradient and full-batch HVP equal those of the NumPy loss and gradient, at
  several random points;
- the compiled functions and the independent NumPy reference agree to 1e-12
  relative (values, gradients, HVPs, balance); the dense ``hessian_at`` equals the
  HVP columns; the array functions on random (X, idx) stacks equal both;
- closed forms: the scalar factorisation's gradient and its Hessian spectrum
  {0, u² + v²} on the minimisers uv = y; the diagonal network's balance is
  conserved (⟨∇balance, ∇f⟩ = 0) and its Hessian trace on the minimisers is
  Σ_j S_jj (u_j² + v_j²), least when balanced; the matrix-sensing spectrum is
  invariant under U ↦ UQ at a minimiser, with trace 4⟨S, UUᵀ⟩; a split unit of
  the two-layer network scales its curvature block by its output weight squared;
- f* = 0 at the teacher for the realisable families (every residual ≤ 1e-12),
  the noisy diagonal network's f* equals a QR least-squares optimum;
- every generator parameter is validated with a ValueError naming it and its range.

Finite differences: central, step h = 1e-5. Truncation error h²/6·|∇³f| and
round-off ε|f|/h are both below 1e-9 relative on these small instances (entries
O(1)-O(10)); the tolerance is 1e-7 relative to the largest entry (at least 1).
"""
import numpy as np
import pytest

from samtheory.problems import (DiagonalNetwork, MatrixSensing, TwoLayer, diagonal_network,
                                matrix_sensing, scalar_factorisation, two_layer)

H_FD = 1e-5
FD_TOL = 1e-7          # relative to max(1, largest entry)
AGREE = 1e-12          # compiled vs NumPy, relative to max(1e-300, largest entry)

FAMILIES = {
    "diagonal": lambda: diagonal_network(7, 4, sparsity=2, noise=0.3, seed=1),
    "scalar": lambda: scalar_factorisation(),
    "sensing": lambda: matrix_sensing(6, 3, rank=1, width=2, seed=2, init_scale=0.5),
    "two_layer": lambda: two_layer(6, 3, width=3, teacher_width=2, seed=3),
}


def points(problem, count=3, seed=0):
    """Random points of scale 1 (and the problem's x0)."""
    rng = np.random.default_rng(seed)
    return [problem.x0] + [rng.standard_normal(problem.d) for _ in range(count)]


def central_difference(function, x, h=H_FD):
    """Columns j: (F(x + h e_j) − F(x − h e_j)) / 2h for a scalar or vector F."""
    eye = np.eye(x.size)
    return np.stack([(np.asarray(function(x + h * e)) - np.asarray(function(x - h * e))) / (2 * h)
                     for e in eye], axis=-1)


def relative(a, b, floor=1.0):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / max(floor, np.max(np.abs(b))))


def compiled_gradient(problem, x, i):
    out = np.empty(problem.d)
    problem.gradient_function(x, i, problem.data, out)
    return out


def compiled_hvp(problem, x, i, v):
    out = np.empty(problem.d)
    problem.hvp_function(x, i, problem.data, v, out)
    return out


# -- derivatives ----------------------------------------------------------------------

@pytest.mark.parametrize("name", list(FAMILIES))
def test_compiled_derivatives_match_finite_differences(name):
    problem = FAMILIES[name]()
    for x in points(problem):
        for i in range(problem.n):
            fd = central_difference(lambda z: problem.value(z, i, problem.data), x)
            assert relative(compiled_gradient(problem, x, i), fd) <= FD_TOL
            fd = central_difference(lambda z: compiled_gradient(problem, z, i), x)
            H = np.column_stack([compiled_hvp(problem, x, i, e) for e in np.eye(problem.d)])
            assert relative(H, fd) <= FD_TOL


@pytest.mark.parametrize("name", list(FAMILIES))
def test_reference_derivatives_match_finite_differences(name):
    problem = FAMILIES[name]()
    for x in points(problem, seed=1):
        fd = central_difference(problem.sample_losses, x)                  # (n, d)
        assert relative(problem.sample_gradients(x), fd) <= FD_TOL
        fd = central_difference(problem.gradient, x)                       # (d, d)
        H = np.column_stack([problem.hessian_vector(x, e) for e in np.eye(problem.d)])
        assert relative(H, fd) <= FD_TOL


@pytest.mark.parametrize("name", list(FAMILIES))
def test_compiled_and_reference_agree(name):
    problem = FAMILIES[name]()
    rng = np.random.default_rng(5)
    for x in points(problem, seed=2):
        v = rng.standard_normal(problem.d)
        values = [problem.value(x, i, problem.data) for i in range(problem.n)]
        assert relative(problem.sample_losses(x), values, floor=1e-300) <= AGREE
        grads = np.array([compiled_gradient(problem, x, i) for i in range(problem.n)])
        assert relative(problem.sample_gradients(x), grads, floor=1e-300) <= AGREE
        hvp = np.mean([compiled_hvp(problem, x, i, v) for i in range(problem.n)], axis=0)
        assert relative(problem.hessian_vector(x, v), hvp, floor=1e-300) <= AGREE
        if isinstance(problem, DiagonalNetwork):
            assert abs(problem.balance(x) - problem.balance_function(x, problem.data)) <= \
                AGREE * np.sum(x * x)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_dense_hessian_equals_the_hvp_columns(name):
    problem = FAMILIES[name]()
    for x in points(problem, seed=3):
        H = problem.hessian_at(x)
        columns = np.column_stack([problem.hessian_vector(x, e) for e in np.eye(problem.d)])
        assert relative(H, columns, floor=1e-300) <= AGREE
        np.testing.assert_allclose(H, H.T, rtol=0, atol=AGREE * np.abs(H).max())


@pytest.mark.parametrize("name", list(FAMILIES))
def test_array_functions_match_the_compiled_and_reference_functions(name):
    problem = FAMILIES[name]()
    rng = np.random.default_rng(7)
    X = rng.standard_normal((4, problem.d))
    idx = rng.integers(0, problem.n, size=(4, 5))                      # repeats included
    values = problem.array_functions.values(np, problem.data, X, idx)
    grads = problem.array_functions.gradients(np, problem.data, X, idx)
    assert values.shape == (4, 5) and grads.shape == (4, 5, problem.d)
    for r in range(4):
        compiled = [problem.value(X[r], int(i), problem.data) for i in idx[r]]
        assert relative(values[r], compiled, floor=1e-300) <= AGREE
        assert relative(values[r], problem.sample_losses(X[r], idx[r]), floor=1e-300) <= AGREE
        compiled = np.array([compiled_gradient(problem, X[r], int(i)) for i in idx[r]])
        assert relative(grads[r], compiled, floor=1e-300) <= AGREE
        assert relative(grads[r], problem.sample_gradients(X[r], idx[r]), floor=1e-300) <= AGREE


@pytest.mark.parametrize("name", list(FAMILIES))
def test_an_empty_minibatch_has_no_values_and_no_gradients(name):
    problem = FAMILIES[name]()
    assert problem.sample_losses(problem.x0, []).shape == (0,)
    empty = np.array([], dtype=np.int64)
    assert problem.sample_gradients(problem.x0, empty).shape == (0, problem.d)


# -- closed forms ----------------------------------------------------------------------

@pytest.mark.parametrize("u, v", [(2.0, 0.75), (-0.5, -3.0), (np.sqrt(1.5), np.sqrt(1.5))])
def test_scalar_factorisation_hessian_on_the_minimisers(u, v):
    problem = scalar_factorisation(y=1.5)
    x = np.array([u, v])
    assert u * v == pytest.approx(1.5, rel=1e-15)
    assert problem.loss(x) <= 1e-30
    eigenvalues = np.linalg.eigvalsh(problem.hessian_at(x))
    np.testing.assert_allclose(eigenvalues, [0.0, u * u + v * v], rtol=0, atol=1e-14)
    assert eigenvalues[-1] >= 2 * 1.5 - 1e-14        # least at |u| = |v| = √y, where it is 2y


def test_scalar_factorisation_gradient_and_defaults():
    problem = scalar_factorisation(y=-0.5, x0=(1.0, 2.0))
    assert (problem.n, problem.d, problem.f_star, problem.L, problem.x_star) == (1, 2, 0.0, None,
                                                                                 None)
    np.testing.assert_array_equal(problem.x0, [1.0, 2.0])
    for u, v in [(1.0, 2.0), (0.3, -1.7)]:
        r = u * v + 0.5
        np.testing.assert_allclose(problem.gradient(np.array([u, v])), [r * v, r * u],
                                   rtol=1e-15, atol=0)
        assert problem.loss(np.array([u, v])) == pytest.approx(0.5 * r * r, rel=1e-15)
    np.testing.assert_array_equal(scalar_factorisation().x0, [2.0, 0.3])


def test_diagonal_balance_is_conserved_by_gradient_flow():
    problem = diagonal_network(9, 5, sparsity=3, noise=0.5, seed=4)
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = rng.standard_normal(problem.d)
        u, v = x[:5], x[5:]
        assert problem.balance(x) == pytest.approx(u @ u - v @ v, rel=1e-14)
        grad_balance = np.concatenate([2 * u, -2 * v])
        for g in [problem.gradient(x), *problem.sample_gradients(x)]:
            assert abs(grad_balance @ g) <= 1e-14 * np.linalg.norm(grad_balance) * np.linalg.norm(g)
    assert problem.balance(problem.x0) == pytest.approx(5 * 0.1 ** 2, rel=1e-14)   # d·init_scale²


def test_matrix_sensing_spectrum_is_invariant_along_the_rotations_of_a_minimiser():
    problem = matrix_sensing(20, 3, rank=2, width=3, seed=5)
    U = np.column_stack([problem.teacher, np.zeros(3)])
    Q = np.linalg.qr(np.random.default_rng(1).standard_normal((3, 3)))[0]
    H, HQ = (problem.hessian_at(M.ravel()) for M in (U, U @ Q))
    np.testing.assert_allclose(np.linalg.eigvalsh(HQ), np.linalg.eigvalsh(H), rtol=0,
                               atol=1e-12 * np.abs(H).max())
    # at a minimiser tr ∇²f = 4⟨S, UUᵀ⟩, S = (1/n) Σ A_i²
    S = np.einsum("iab,ibc->ac", problem.data[0], problem.data[0]) / problem.n
    assert np.trace(H) == pytest.approx(4 * np.sum(S * (U @ U.T)), rel=1e-12)


# -- f* --------------------------------------------------------------------------------

def assert_minimiser(problem, x):
    residuals = np.sqrt(2 * problem.sample_losses(x))
    assert residuals.max() <= 1e-12
    assert np.abs(problem.gradient(x)).max() <= 1e-12


def test_realisable_families_reach_zero_at_the_teacher():
    problem = diagonal_network(12, 6, sparsity=2, seed=6)
    beta = problem.teacher
    assert problem.f_star == 0.0 and np.count_nonzero(beta) == 2
    unbalanced = np.concatenate([beta, np.ones(6)])
    root = np.sqrt(np.abs(beta))
    balanced = np.concatenate([np.sign(beta) * root, root])
    S = np.diag(problem.data[0].T @ problem.data[0]) / problem.n
    for x in (unbalanced, balanced):
        assert_minimiser(problem, x)          # tr ∇²f = Σ_j S_jj (u_j² + v_j²) on the minimisers
        assert np.trace(problem.hessian_at(x)) == pytest.approx(S @ (x[:6] ** 2 + x[6:] ** 2),
                                                                rel=1e-12)
    flattest = np.trace(problem.hessian_at(balanced))
    assert flattest == pytest.approx(2 * S @ np.abs(beta), rel=1e-12)
    assert flattest < np.trace(problem.hessian_at(unbalanced)) - 1.0

    problem = matrix_sensing(15, 4, rank=2, width=3, seed=7)
    assert problem.f_star == 0.0 and problem.teacher.shape == (4, 2)
    np.testing.assert_allclose(problem.teacher.T @ problem.teacher, np.eye(2), atol=1e-14)
    assert_minimiser(problem, np.column_stack([problem.teacher, np.zeros(4)]).ravel())

    problem = two_layer(10, 3, width=4, teacher_width=2, seed=8)
    assert problem.f_star == 0.0 and problem.teacher.size == 2 * 4
    W_star, a_star = problem.teacher[:6].reshape(2, 3), problem.teacher[6:]
    free = np.random.default_rng(0).standard_normal((2, 3))     # extra units: any w, a = 0
    x = np.concatenate([W_star.ravel(), free.ravel(), a_star, [0.0, 0.0]])
    assert_minimiser(problem, x)


def test_two_layer_sharpness_varies_along_a_split_unit():
    problem = two_layer(10, 3, width=3, teacher_width=2, seed=8)
    W_star, a_star = problem.teacher[:6].reshape(2, 3), problem.teacher[6:]
    W = np.concatenate([W_star, W_star[1:]]).ravel()       # unit 2 copied into unit 3

    def split(t):
        return np.concatenate([W, [a_star[0], t * a_star[1], (1 - t) * a_star[1]]])

    def unit_block(H, k):
        return H[3 * k:3 * k + 3, 3 * k:3 * k + 3]

    H1 = problem.hessian_at(split(1.0))
    for t in (0.2, 0.5, 0.9):
        assert_minimiser(problem, split(t))
        H = problem.hessian_at(split(t))     # at a minimiser, unit k's block ∝ a_k²
        np.testing.assert_allclose(unit_block(H, 1), t ** 2 * unit_block(H1, 1), rtol=1e-12,
                                   atol=1e-14)
        np.testing.assert_allclose(unit_block(H, 2), (1 - t) ** 2 * unit_block(H1, 1),
                                   rtol=1e-12, atol=1e-14)
    traces = [np.trace(problem.hessian_at(split(t))) for t in (0.5, 1.0)]
    assert traces[0] < traces[1]


def test_under_parametrised_families_have_an_unknown_optimum():
    for problem in (matrix_sensing(10, 4, rank=3, width=2), two_layer(8, 3, width=1,
                                                                     teacher_width=3)):
        assert problem.f_star is None and problem.f_inf == 0.0 and problem.loss_reference == 0.0
    for problem in (MatrixSensing(np.ones((2, 1, 1)), [1.0, 2.0], [0.5]),
                    TwoLayer(np.ones((2, 1)), [1.0, 2.0], [0.5, 0.5])):
        assert problem.f_star is None and problem.f_inf == 0.0


def test_noisy_diagonal_network_optimum_is_least_squares():
    problem = diagonal_network(20, 5, sparsity=2, noise=0.4, seed=9)
    A, y = problem.data
    Q = np.linalg.qr(A)[0]
    residual = y - Q @ (Q.T @ y)
    assert problem.f_star == pytest.approx(0.5 * residual @ residual / 20, rel=1e-12)
    assert problem.f_star > 1e-3                                     # the noise is not fitted
    beta = np.linalg.solve(A.T @ A, A.T @ y)
    assert problem.loss(np.concatenate([beta, np.ones(5)])) == pytest.approx(problem.f_star,
                                                                             rel=1e-12)


def test_generators_are_seeded_and_document_their_defaults():
    a, b = diagonal_network(6, 4, sparsity=1, seed=3), diagonal_network(6, 4, sparsity=1, seed=3)
    np.testing.assert_array_equal(a.data[0], b.data[0])
    np.testing.assert_array_equal(a.x0, np.r_[np.full(4, 0.1), np.zeros(4)])
    assert not np.array_equal(a.data[0], diagonal_network(6, 4, sparsity=1, seed=4).data[0])
    problem = matrix_sensing(5, 3, rank=1, width=2, seed=0)
    assert problem.width == 2 and problem.d == 6
    np.testing.assert_array_equal(problem.data[0], problem.data[0].transpose(0, 2, 1))
    assert 0.001 < np.std(problem.x0) < 0.1                          # init_scale 0.01
    problem = two_layer(5, 3, width=4, teacher_width=2, seed=0)
    assert problem.width == 4 and problem.d == 4 * 4
    for problem in (a, problem):
        assert problem.L is None and problem.L_i is None and problem.mu is None
        assert problem.x_star is None and problem.cacheable


# -- validation ------------------------------------------------------------------------

@pytest.mark.parametrize("make, message", [
    (lambda: diagonal_network(5, 4, sparsity=0), r"sparsity must be an integer >= 1, got 0"),
    (lambda: diagonal_network(5, 4, sparsity=5),
     r"sparsity must lie in \[1, d\] = \[1, 4\], got 5"),
    (lambda: diagonal_network(5, 4, sparsity=2, noise=-0.1), r"noise must lie in \[0, inf\)"),
    (lambda: diagonal_network(5, 4, sparsity=2, init_scale=0.0),
     r"init_scale must lie in \(0, inf\)"),
    (lambda: diagonal_network(0, 4, sparsity=2), r"n must be an integer >= 1"),
    (lambda: diagonal_network(5, 4, sparsity=2, seed=-1),
     r"seed must be an integer in \[0, 2\*\*64\)"),
    (lambda: matrix_sensing(5, 3, rank=4, width=2), r"rank must lie in \[1, d\] = \[1, 3\], got 4"),
    (lambda: matrix_sensing(5, 3, rank=1, width=0), r"width must be an integer >= 1, got 0"),
    (lambda: matrix_sensing(5, 3, rank=1, width=1, init_scale=-1.0), r"init_scale must lie in"),
    (lambda: two_layer(5, 3, width=0, teacher_width=1), r"width must be an integer >= 1"),
    (lambda: two_layer(5, 3, width=2, teacher_width=1.5), r"teacher_width must be an integer >= 1"),
    (lambda: scalar_factorisation(y=np.inf), r"y must be a finite real number"),
    (lambda: scalar_factorisation(x0=(1.0, 2.0, 3.0)), r"x0 must have shape \(2,\)"),
    (lambda: DiagonalNetwork(np.ones((3, 2)), np.ones(2), np.ones(4)), r"y must have shape \(3,\)"),
    (lambda: DiagonalNetwork(np.ones((3, 2)), np.ones(3), np.ones(3)),
     r"x0 must have shape \(4,\)"),
    (lambda: MatrixSensing(np.arange(8.0).reshape(2, 2, 2), np.ones(2), np.ones(2)),
     r"A must hold symmetric matrices .*A\[0\] is not"),
    (lambda: MatrixSensing(np.ones((2, 2, 3)), np.ones(2), np.ones(2)),
     r"A must have shape \(n, d, d\)"),
    (lambda: MatrixSensing(np.ones((2, 2, 2)), np.ones(2), np.ones(3)),
     r"x0 must have length d·width = 2·width"),
    (lambda: TwoLayer(np.ones((2, 2)), np.ones(2), np.ones(4)),
     r"x0 must have length width·\(d \+ 1\)"),
    (lambda: TwoLayer(np.ones((2, 2)), np.ones(2), np.ones(3), teacher=np.ones(4)),
     r"teacher must have length teacher_width·\(d \+ 1\)"),
])
def test_bad_inputs_name_the_parameter_and_range(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# -- the compiled kernel against the NumPy reference, every family × rule × sampler --------

import samtheory as st  # noqa: E402

KERNEL_RULES = {"SGD": st.SGD(0.05), "HeavyBall": st.HeavyBall(0.02), "SAM": st.SAM(0.05, 0.05),
                "USAM": st.USAM(0.05, 0.05), "AdaSAM": st.AdaSAM(0.02, 0.05),
                "StableSAM": st.StableSAM(0.05, 0.05), "RST": st.RST(0.05, 0.05, 0.5),
                "GRST": st.GRST(0.05, 0.05, 0.5, alpha=2.0), "MSAM": st.MSAM(0.02, 0.05),
                "SAM independent ascent": st.SAM(0.05, 0.05, ascent_batch="independent")}
# Importance sampling needs L_i, which these non-smooth families do not have (refused).
KERNEL_SAMPLERS = {"WithReplacement": lambda n: st.WithReplacement(2), "TauNice": lambda n: st.TauNice(min(n, 2)),
                   "full batch": lambda n: st.TauNice(n), "Independent": lambda n: st.Independent(0.5),
                   "Stratified": lambda n: st.Stratified(min(n, 3))}


@pytest.mark.parametrize("sampler", list(KERNEL_SAMPLERS))
@pytest.mark.parametrize("rule", list(KERNEL_RULES))
@pytest.mark.parametrize("name", list(FAMILIES))
def test_kernel_matches_the_reference(name, rule, sampler):
    """Every metric, sharpness and balance included, to 1e-10 relative (sums in another order)."""
    problem = FAMILIES[name]()
    run = lambda backend: st.simulate(problem, KERNEL_RULES[rule], KERNEL_SAMPLERS[sampler](problem.n),
                                      steps=12, trajectories=2, seed=7, record_every=4, backend=backend,
                                      track_sharpness=True, track_iterates=True)
    fast, reference = run("numba"), run("reference")
    assert sorted(fast.metrics) == sorted(reference.metrics)
    for key, values in reference.metrics.items():
        assert relative(fast.metrics[key], values) < 1e-10, key
    assert relative(fast.final_x, reference.final_x) < 1e-10
