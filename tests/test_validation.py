"""Every bad input raises ValueError naming the parameter (and its allowed range where the
code states one). Each case is (id, thunk, regex the message must match)."""
import numpy as np
import pytest

import samtheory as st
from samtheory import schedules
from samtheory.problems import (LeastSquares, LogisticNonconvex, Quadratic, SineLeastSquares,
                                random_least_squares, random_logistic,
                                random_sine_least_squares, saddle, sine_pl_ratio)
from samtheory.sampling import (Importance, Independent, Stratified, TauNice, WithReplacement,
                                draw)

P = random_least_squares(6, 3, condition=5.0, seed=0)      # n = 6, d = 3
A_OK = P.A.copy()
Y_OK = P.y.copy()


def with_nan(arr, value=np.nan):
    out = np.array(arr, dtype=float)
    out.flat[1] = value
    return out


def sim(rule=None, sampler=None, **kw):
    """simulate with valid defaults, overridden by ``kw``."""
    args = dict(steps=5, trajectories=2, seed=0)
    args.update(kw)
    return st.simulate(P, rule if rule is not None else st.SGD(0.1),
                       sampler if sampler is not None else TauNice(2), **args)


R01 = r"\[0, 1\]"            # closed unit interval as the messages print it
R01_OPEN = r"\[0, 1\)"
P_RANGE = r"\(0, 1\]"
NONNEG = r"\[0, inf\)"
POS = r"\(0, inf\)"

CASES = [
    # ---- problems: shapes and finiteness --------------------------------------------
    ("A_not_2d", lambda: LeastSquares(np.ones(6), np.ones(6)), r"A must be a 2-dimensional array"),
    ("A_3d", lambda: LeastSquares(np.ones((2, 3, 1)), np.ones(2)), r"A must be a 2-dimensional"),
    ("A_empty", lambda: LeastSquares(np.ones((0, 3)), np.ones(0)), r"A must not be empty"),
    ("A_not_numeric", lambda: LeastSquares([["a", "b"]], [1.0]), r"A must be an array of real numbers"),
    ("A_nan", lambda: LeastSquares(with_nan(A_OK), Y_OK), r"A must contain only finite values"),
    ("A_inf", lambda: LeastSquares(with_nan(A_OK, np.inf), Y_OK), r"A must contain only finite"),
    ("A_zero", lambda: LeastSquares(np.zeros((6, 3)), Y_OK), r"A must have at least one nonzero"),
    ("y_length", lambda: LeastSquares(A_OK, np.ones(5)), r"y must have shape \(6,\)"),
    ("y_nan", lambda: LeastSquares(A_OK, with_nan(Y_OK)), r"y must contain only finite"),
    ("y_inf", lambda: LeastSquares(A_OK, with_nan(Y_OK, -np.inf)), r"y must contain only finite"),
    ("x0_shape", lambda: LeastSquares(A_OK, Y_OK, x0=np.ones(4)), r"x0 must have shape \(3,\)"),
    ("x0_nan", lambda: LeastSquares(A_OK, Y_OK, x0=with_nan(np.ones(3))), r"x0 must contain only finite"),
    ("quadratic_zero_eig", lambda: Quadratic([1.0, 0.0]), r"eigenvalues must be nonzero"),
    ("quadratic_2d", lambda: Quadratic([[1.0, 2.0]]), r"eigenvalues must be a 1-dimensional"),
    ("quadratic_nan", lambda: Quadratic([1.0, np.nan]), r"eigenvalues must contain only finite"),
    ("quadratic_x0", lambda: Quadratic([1.0, 2.0], x0=[1.0]), r"x0 must have shape \(2,\)"),
    ("saddle_a", lambda: saddle(a=0.0), r"a must lie in " + POS),
    ("saddle_c", lambda: saddle(c=-1.0), r"c must lie in " + POS),
    # ---- generators ----------------------------------------------------------------
    ("rls_n_zero", lambda: random_least_squares(0, 3), r"n must be an integer >= 1"),
    ("rls_d_float", lambda: random_least_squares(6, 2.5), r"d must be an integer >= 1"),
    ("rls_rank_too_big", lambda: random_least_squares(6, 3, rank=4),
     r"rank must lie in \[1, min\(n, d\)\] = \[1, 3\], got 4"),
    ("rls_rank_too_big_wide", lambda: random_least_squares(2, 5, rank=3),
     r"rank must lie in \[1, min\(n, d\)\] = \[1, 2\]"),
    ("rls_rank_zero", lambda: random_least_squares(6, 3, rank=0), r"rank must be an integer >= 1"),
    ("rls_condition", lambda: random_least_squares(6, 3, condition=0.5), r"condition must lie in \[1, inf\)"),
    ("rls_condition_nan", lambda: random_least_squares(6, 3, condition=np.nan),
     r"condition must be a finite real number"),
    ("rls_mu", lambda: random_least_squares(6, 3, mu=0.0), r"mu must lie in " + POS),
    ("rls_noise", lambda: random_least_squares(6, 3, noise=-1.0), r"noise must lie in " + NONNEG),
    ("sine_n_lt_d", lambda: random_sine_least_squares(3, 5), r"n must lie in \[d, inf\) = \[5, inf\)"),
    ("sine_eig_low", lambda: random_sine_least_squares(10, 3, eigenvalues=(0.0, 4.0)),
     r"eigenvalues\[0\] must lie in \(0, 4\]"),
    ("sine_eig_order", lambda: random_sine_least_squares(10, 3, eigenvalues=(5.0, 4.0)),
     r"eigenvalues\[0\] must lie in \(0, 4\]"),
    ("sine_reg", lambda: random_sine_least_squares(10, 3, reg_strength=0.0), r"reg_strength must lie in " + POS),
    ("sine_below_pl_threshold", lambda: random_sine_least_squares(10, 3, eigenvalues=(0.3, 4.0)),
     r"λ_j/c must lie in \(0\.434467, inf\)"),
    ("sine_pl_ratio_k", lambda: sine_pl_ratio(0.4), r"λ_j/c must lie in \(0\.434467, inf\)"),
    ("sine_not_orthogonal", lambda: SineLeastSquares(np.ones((6, 3)), np.zeros(3), 1.0),
     r"A must have orthogonal columns"),
    ("sine_x_star_shape", lambda: SineLeastSquares(np.eye(3), np.zeros(2), 1.0), r"x_star must have shape \(3,\)"),
    ("logistic_labels", lambda: LogisticNonconvex(A_OK, np.arange(6.0), 0.1), r"y must contain labels in \{-1, \+1\}"),
    ("logistic_reg", lambda: LogisticNonconvex(A_OK, np.ones(6), -0.1), r"reg_strength must lie in " + NONNEG),
    ("logistic_noise", lambda: random_logistic(10, 3, label_noise=1.5), r"label_noise must lie in " + R01),
    ("logistic_n", lambda: random_logistic(-1, 3), r"n must be an integer >= 1"),
    # ---- samplers -------------------------------------------------------------------
    ("wr_b_zero", lambda: WithReplacement(0), r"b must be an integer >= 1"),
    ("wr_b_float", lambda: WithReplacement(2.0), r"b must be an integer >= 1"),
    ("wr_b_bool", lambda: WithReplacement(True), r"b must be an integer >= 1"),
    ("wr_p_negative", lambda: WithReplacement(2, p=[-0.1, 0.6, 0.5]), r"p must lie in " + P_RANGE + " at every entry"),
    ("wr_p_zero", lambda: WithReplacement(2, p=[0.0, 0.5, 0.5]), r"p must lie in " + P_RANGE),
    ("wr_p_above_one", lambda: WithReplacement(2, p=[1.5, 0.5]), r"p must lie in " + P_RANGE),
    ("wr_p_sum", lambda: WithReplacement(2, p=[0.2, 0.3, 0.4]), r"p must sum to 1"),
    ("wr_p_sum_above", lambda: WithReplacement(2, p=[0.5, 0.5, 0.5]), r"p must sum to 1"),
    ("wr_p_nan", lambda: WithReplacement(2, p=[np.nan, 0.5]), r"p must contain only finite"),
    ("wr_p_2d", lambda: WithReplacement(2, p=[[0.5, 0.5]]), r"p must be a 1-dimensional"),
    ("wr_p_length_bind", lambda: WithReplacement(2, p=[0.5, 0.5]).bind(P),
     r"p must have one probability per sample, shape \(6,\)"),
    ("wr_p_length_simulate", lambda: sim(sampler=WithReplacement(2, p=[0.5, 0.5])),
     r"p must have one probability per sample, shape \(6,\)"),
    ("wr_p_length_draw", lambda: draw(WithReplacement(2, p=np.full(5, 0.2)), P, 3, 2, 0),
     r"p must have one probability per sample"),
    ("importance_b", lambda: Importance(0), r"b must be an integer >= 1"),
    ("taunice_b_zero", lambda: TauNice(0), r"b must be an integer >= 1"),
    ("taunice_b_gt_n_bind", lambda: TauNice(7).bind(P), r"b must lie in \[1, n\] = \[1, 6\].*got 7"),
    ("taunice_b_gt_n_simulate", lambda: sim(sampler=TauNice(7)), r"b must lie in \[1, n\] = \[1, 6\]"),
    ("taunice_b_gt_n_draw", lambda: draw(TauNice(7), P, 3, 2, 0), r"b must lie in \[1, n\] = \[1, 6\]"),
    ("indep_p_zero", lambda: Independent(0.0), r"p must lie in " + P_RANGE),
    ("indep_p_negative", lambda: Independent(-0.2), r"p must lie in " + P_RANGE),
    ("indep_p_above_one", lambda: Independent(1.5), r"p must lie in " + P_RANGE),
    ("indep_p_nan", lambda: Independent(np.nan), r"p must be a finite real number"),
    ("indep_p_array_zero", lambda: Independent([0.5, 0.0, 0.5]), r"p must lie in " + P_RANGE + " at every entry"),
    ("indep_p_array_above", lambda: Independent([0.5, 1.01]), r"p must lie in " + P_RANGE),
    ("indep_p_length", lambda: Independent(np.full(5, 0.5)).bind(P), r"p must have one probability per sample, shape \(6,\)"),
    ("indep_p_length_simulate", lambda: sim(sampler=Independent(np.full(7, 0.5))), r"p must have one probability"),
    ("strat_zero", lambda: Stratified(0), r"blocks must be an integer >= 1"),
    ("strat_too_many", lambda: Stratified(7).bind(P), r"blocks must lie in \[1, n\] = \[1, 6\]"),
    ("strat_too_many_simulate", lambda: sim(sampler=Stratified(7)), r"blocks must lie in \[1, n\]"),
    ("strat_duplicate", lambda: Stratified([[0, 1, 2], [2, 3, 4]]).bind(P), r"blocks must partition"),
    ("strat_out_of_range", lambda: Stratified([[0, 1, 2], [3, 4, 6]]).bind(P), r"blocks must partition"),
    ("strat_negative", lambda: Stratified([[0, 1, 2], [3, 4, -1]]).bind(P), r"blocks must partition"),
    ("strat_missing", lambda: Stratified([[0, 1], [2, 3]]).bind(P), r"blocks must partition"),
    ("strat_too_long", lambda: Stratified([[0, 1, 2, 3], [2, 3, 4, 5]]).bind(P), r"blocks must partition"),
    ("strat_empty_blocks", lambda: Stratified([[], []]), r"blocks must all be non-empty"),
    ("strat_simulate", lambda: sim(sampler=Stratified([[0, 1, 2], [2, 3, 4]])), r"blocks must partition"),
    # unequal block sizes (a ragged list) are the ordinary case of an explicit partition
    ("strat_ragged_not_partition", lambda: Stratified([[0, 1, 2], [3, 4]]).bind(P), r"blocks must partition"),
    ("strat_ragged_empty_block", lambda: Stratified([[0, 1, 2, 3, 4, 5], []]), r"blocks must all be non-empty"),
    # non-integer indices must not be truncated silently into another partition
    ("strat_fractional_indices", lambda: Stratified([[0.5, 1.5, 2.5], [3, 4, 5]]).bind(P), r"blocks"),
    # ---- rules: constants -----------------------------------------------------------
    ("lam_above", lambda: st.UnifiedSAM(0.1, 0.05, lam=1.5), r"lam must lie in " + R01),
    ("lam_below", lambda: st.UnifiedSAM(0.1, 0.05, lam=-0.1), r"lam must lie in " + R01),
    ("lam_rst", lambda: st.RST(0.1, 0.05, 0.5, lam=2.0), r"lam must lie in " + R01),
    ("lr_negative", lambda: st.SGD(-0.1), r"lr must lie in " + NONNEG),
    ("lr_nan", lambda: st.SGD(np.nan), r"lr must be a finite real number"),
    ("lr_inf", lambda: st.SGD(np.inf), r"lr must be a finite real number"),
    ("lr_string", lambda: st.SGD("0.1"), r"lr must be a finite real number"),
    ("lr_2d", lambda: st.SGD(np.ones((2, 2))), r"lr must be a 1-dimensional"),
    ("lr_array_nan", lambda: st.SGD(np.array([0.1, np.nan])), r"lr must contain only finite"),
    ("rho_negative", lambda: st.SAM(0.1, -0.05), r"rho must lie in " + NONNEG),
    ("rho_negative_usam", lambda: st.USAM(0.1, -1.0), r"rho must lie in " + NONNEG),
    ("momentum_one", lambda: st.HeavyBall(0.1, momentum=1.0), r"momentum must lie in " + R01_OPEN),
    ("momentum_negative", lambda: st.HeavyBall(0.1, momentum=-0.1), r"momentum must lie in " + R01_OPEN),
    ("momentum_msam", lambda: st.MSAM(0.1, 0.05, momentum=1.2), r"momentum must lie in " + R01_OPEN),
    ("beta2_one", lambda: st.Adam(0.1, beta2=1.0), r"beta2 must lie in " + R01_OPEN),
    ("beta2_negative", lambda: st.AdaSAM(0.1, 0.05, beta2=-0.5), r"beta2 must lie in " + R01_OPEN),
    ("beta1_adam", lambda: st.Adam(0.1, beta1=1.0), r"beta1 must lie in " + R01_OPEN),
    ("beta1_adasam", lambda: st.AdaSAM(0.1, 0.05, beta1=1.0), r"beta1 must lie in " + R01_OPEN),
    ("perturb_prob_above", lambda: st.RST(0.1, 0.05, 1.5), r"perturb_prob must lie in " + R01),
    ("perturb_prob_below", lambda: st.RST(0.1, 0.05, -0.5), r"perturb_prob must lie in " + R01),
    ("grst_alpha", lambda: st.GRST(0.1, 0.05, 0.5, alpha=0.0), r"alpha must lie in " + POS),
    ("grst_mode", lambda: st.GRST(0.1, 0.05, 0.5, alpha=1.0, mode="both"), r"mode must be one of \['mix', 'radius'\]"),
    ("base_unknown", lambda: st.Rule(lr=0.1, base="sgdm"), r"base must be one of \['adam', 'heavyball', 'sgd'\], got 'sgdm'"),
    ("ascent_unknown", lambda: st.Rule(lr=0.1, ascent="hessian"), r"ascent must be one of \['gradient', 'momentum'\]"),
    ("ascent_batch_unknown", lambda: st.Rule(lr=0.1, ascent_batch="other"), r"ascent_batch must be one of"),
    ("grst_mode_unknown", lambda: st.Rule(lr=0.1, grst_mode="mixing"), r"grst_mode must be one of"),
    ("adam_eps_vhat_zero", lambda: st.Rule(lr=0.1, base="adam"), r"eps > 0 or vhat_init > 0"),
    ("adam_eps_vhat_zero_ams", lambda: st.Rule(lr=0.1, base="adam", amsgrad=True), r"eps > 0 or vhat_init > 0"),
    ("adam_eps_zero_preset", lambda: st.Adam(0.1, eps=0.0), r"eps > 0 or vhat_init > 0"),
    ("adasam_eps_zero", lambda: st.AdaSAM(0.1, 0.05, eps=0.0), r"eps must lie in " + POS),
    ("eps_negative", lambda: st.Rule(lr=0.1, eps=-1e-8), r"eps must lie in " + NONNEG),
    ("vhat_negative", lambda: st.Rule(lr=0.1, vhat_init=-1.0), r"vhat_init must lie in " + NONNEG),
    ("vhat_without_amsgrad", lambda: st.Rule(lr=0.1, base="adam", vhat_init=1e-8), r"vhat_init only applies with amsgrad"),
    ("momentum_ascent_sgd", lambda: st.Rule(lr=0.1, rho=0.05, ascent="momentum"), r"ascent='momentum' needs"),
    ("stable_cap_alone", lambda: st.Rule(lr=0.1, stable_cap=True), r"stable_cap=True needs stable=True"),
    # ---- rules: schedules, checked at simulate time --------------------------------
    ("lam_schedule_linear", lambda: sim(st.UnifiedSAM(0.1, 0.05, lam=schedules.Linear(0.0, 2.0))),
     r"lam must lie in " + R01 + " at every entry"),
    ("lam_schedule_array", lambda: sim(st.UnifiedSAM(0.1, 0.05, lam=np.array([0.5, 0.5, 1.2, 0.5, 0.5]))),
     r"lam must lie in " + R01 + r" at every entry, got \S*1\.2\)? at index 2"),
    ("lam_schedule_callable", lambda: sim(st.UnifiedSAM(0.1, 0.05, lam=lambda t: 1.0 - 0.5 * t)),
     r"lam must lie in " + R01),
    ("lr_schedule_negative", lambda: sim(st.SGD(schedules.Linear(0.1, -0.1))), r"lr must lie in " + NONNEG + " at every entry"),
    ("rho_schedule_negative", lambda: sim(st.SAM(0.1, np.array([0.1, -0.1, 0.1, 0.1, 0.1]))), r"rho must lie in " + NONNEG),
    ("lr_schedule_nan", lambda: sim(st.SGD(lambda t: np.where(t == 3, np.nan, 0.1))), r"lr must be finite at every step"),
    ("prob_schedule", lambda: sim(st.RST(0.1, 0.05, schedules.Linear(0.5, 1.5))), r"perturb_prob must lie in " + R01),
    ("inverse_sqrt_offset", lambda: sim(st.SGD(schedules.InverseSqrt(0.1, offset=0.0))), r"offset must lie in " + POS),
    ("lr_explicit_wrong_length", lambda: sim(st.SGD(np.ones(4) * 0.1)), r"lr.*\(5,\)"),
    ("lam_explicit_wrong_length", lambda: sim(st.UnifiedSAM(0.1, 0.05, lam=np.full(7, 0.5))), r"lam.*\(5,\)"),
    ("lr_callable_wrong_length", lambda: sim(st.SGD(lambda t: np.full(3, 0.1))), r"lr.*\(5,\)"),
    ("power_law_batch", lambda: schedules.power_law(1.0, batch=0), r"batch must be an integer >= 1"),
    ("power_law_horizon", lambda: schedules.adasam_lr(1.0, 4, -10), r"horizon must be an integer >= 1"),
    # ---- simulate / draw arguments --------------------------------------------------
    ("steps_zero", lambda: sim(steps=0), r"steps must be an integer >= 1, got 0"),
    ("steps_negative", lambda: sim(steps=-3), r"steps must be an integer >= 1"),
    ("steps_float", lambda: sim(steps=2.5), r"steps must be an integer >= 1"),
    ("steps_integral_float", lambda: sim(steps=5.0), r"steps must be an integer >= 1"),
    ("steps_bool", lambda: sim(steps=True), r"steps must be an integer >= 1"),
    ("steps_string", lambda: sim(steps="5"), r"steps must be an integer >= 1"),
    ("trajectories_zero", lambda: sim(trajectories=0), r"trajectories must be an integer >= 1"),
    ("trajectories_float", lambda: sim(trajectories=1.5), r"trajectories must be an integer >= 1"),
    ("record_every_zero", lambda: sim(record_every=0), r"record_every must be an integer >= 1"),
    ("record_every_negative", lambda: sim(record_every=-1), r"record_every must be an integer >= 1"),
    ("record_every_float", lambda: sim(record_every=0.5), r"record_every must be an integer >= 1"),
    ("seed_negative", lambda: sim(seed=-1), r"seed must be an integer in \[0, 2\*\*64\)"),
    ("seed_too_big", lambda: sim(seed=2 ** 64), r"seed must be an integer in \[0, 2\*\*64\)"),
    ("seed_float", lambda: sim(seed=1.5), r"seed must be an integer in \[0, 2\*\*64\)"),
    ("seed_bool", lambda: sim(seed=True), r"seed must be an integer"),
    ("seed_np_negative", lambda: sim(seed=np.int64(-5)), r"seed must be an integer in \[0, 2\*\*64\)"),
    ("backend_unknown", lambda: sim(backend="cuda"), r"backend must be one of \['numba', 'reference', 'array', 'cupy', 'auto', 'exact'\], got 'cuda'"),
    ("sim_x0_wrong_shape", lambda: sim(x0=np.ones(4)), r"x0 must have shape \(3,\) or \(2, 3\)"),
    ("x0_wrong_batch", lambda: sim(x0=np.ones((3, 3))), r"x0 must have shape \(3,\) or \(2, 3\)"),
    ("sim_x0_nan", lambda: sim(x0=with_nan(np.ones(3))), r"x0 must contain only finite"),
    ("x0_inf_batch", lambda: sim(x0=with_nan(np.ones((2, 3)), np.inf)), r"x0 must contain only finite"),
    ("draw_steps", lambda: draw(TauNice(2), P, 0, 2, 0), r"steps must be an integer >= 1"),
    ("draw_trajectories", lambda: draw(TauNice(2), P, 3, -1, 0), r"trajectories must be an integer >= 1"),
    ("draw_coins_steps", lambda: st.draw_coins(0, 2, 0), r"steps must be an integer >= 1"),
]


@pytest.mark.parametrize("thunk,pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_named_value_error(thunk, pattern):
    with pytest.raises(ValueError, match=pattern):
        thunk()


def test_case_ids_unique():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))


# ---- the boundaries themselves are accepted --------------------------------------

def test_boundary_values_accepted():
    st.UnifiedSAM(0.1, 0.05, lam=0.0)
    st.UnifiedSAM(0.1, 0.05, lam=1.0)
    st.SGD(0.0)
    st.SAM(0.1, 0.0)
    st.HeavyBall(0.1, momentum=0.0)
    st.RST(0.1, 0.05, 0.0)
    st.RST(0.1, 0.05, 1.0)
    Independent(1.0).bind(P)
    Independent(np.ones(6)).bind(P)
    assert TauNice(6).bind(P).batch == 6
    assert Stratified(6).bind(P).batch == 6
    WithReplacement(10).bind(P)                                # with replacement: b > n is fine
    WithReplacement(2, p=np.full(6, 1 / 6) + np.r_[1e-10, -1e-10, 0, 0, 0, 0])
    random_least_squares(6, 3, rank=3)
    random_least_squares(6, 3, condition=1.0)
    out = st.simulate(P, st.SGD(0.1), TauNice(2), steps=1, trajectories=1, seed=2 ** 64 - 1,
                      record_every=1)
    assert out.final_x.shape == (1, 3)
    out = st.simulate(P, st.SGD(np.full(3, 0.1)), TauNice(2), steps=3, trajectories=2,
                      x0=np.zeros((2, 3)), seed=np.uint64(5), record_every=10)
    np.testing.assert_array_equal(out.steps, [0, 3])


def test_validation_happens_before_any_run():
    """A bad sampler is refused at simulate time even though it was constructed fine."""
    sampler = TauNice(100)
    with pytest.raises(ValueError, match=r"b must lie in \[1, n\] = \[1, 6\].*got 100"):
        sim(sampler=sampler)
    # the same sampler is valid on a large enough problem
    big = random_least_squares(120, 3, seed=1)
    st.simulate(big, st.SGD(0.1), sampler, steps=2, trajectories=1)


# -- options that would be silently ignored, types, sizes -------------------------

IGNORED_OR_MISTYPED = [
    ("momentum_with_sgd", lambda: st.SAM(0.1, 0.05, momentum=0.9), "momentum applies"),
    ("beta2_with_heavyball", lambda: st.Rule(lr=0.1, base="heavyball", beta2=0.9), "beta2 applies"),
    ("amsgrad_with_sgd", lambda: st.Rule(lr=0.1, amsgrad=True), "amsgrad applies"),
    ("alpha_without_grst", lambda: st.Rule(lr=0.1, rho=0.1, grst_alpha=2.0), "grst_alpha applies"),
    ("momentum_ascent_independent", lambda: st.Rule(lr=0.1, rho=0.1, ascent="momentum",
                                                    base="heavyball", ascent_batch="independent"),
     "ascent_batch='independent' applies"),
    ("stable_not_bool", lambda: st.Rule(lr=0.1, rho=0.1, stable="no"), "stable must be True or False"),
    ("track_iterates_not_bool", lambda: sim(track_iterates="no"), "track_iterates must be True or False"),
    ("huge_b", lambda: WithReplacement(10 ** 12), r"b must lie in \[1, 16777216\]"),
    ("importance_zero_L", lambda: Importance(2).bind(
        st.problems.FiniteSum(A_OK, Y_OK, loss=0, L_i=np.r_[0.0, np.ones(5)], L=1.0)), "L_i > 0"),
    ("draw_seed_negative", lambda: draw(TauNice(2), P, 2, 2, -1), r"seed must be an integer in \[0, 2\*\*64\)"),
    ("draw_seed_float", lambda: draw(TauNice(2), P, 2, 2, 1.5), "seed must be an integer"),
    ("draw_substream", lambda: draw(TauNice(2), P, 2, 2, 0, substream=7), "substream must be one of"),
    ("generator_seed", lambda: random_least_squares(4, 2, seed="a"), "seed must be an integer"),
    ("finite_sum_loss_kind", lambda: st.problems.FiniteSum(A_OK, Y_OK, loss=5, L_i=np.ones(6), L=1.0),
     "loss must be one of"),
    ("finite_sum_x_star_shape", lambda: st.problems.FiniteSum(A_OK, Y_OK, loss=0, L_i=np.ones(6), L=1.0,
                                                              x_star=[0.0]), r"x_star must have shape \(3,\)"),
    ("finite_sum_L_i_negative", lambda: st.problems.FiniteSum(A_OK, Y_OK, loss=0, L_i=-np.ones(6), L=1.0),
     r"L_i must lie in \[0, inf\)"),
    ("stratified_empty", lambda: Stratified([]), "non-empty list"),
    ("sine_eigenvalue_pair", lambda: random_sine_least_squares(8, 2, eigenvalues=(0.8,)), "eigenvalues must be a pair"),
]


@pytest.mark.parametrize("case", IGNORED_OR_MISTYPED, ids=[c[0] for c in IGNORED_OR_MISTYPED])
def test_ignored_options_and_bad_types_are_refused(case):
    _, thunk, pattern = case
    with pytest.raises(ValueError, match=pattern):
        thunk()


@pytest.mark.parametrize("argument", ["problem", "rule", "sampler"])
def test_simulate_names_a_wrong_object(argument):
    args = {"problem": P, "rule": st.SGD(0.1), "sampler": TauNice(2)}
    args[argument] = None
    with pytest.raises(TypeError, match=f"{argument} must be"):
        st.simulate(args["problem"], args["rule"], args["sampler"], steps=2, trajectories=1)
