r"""Studies 3–6 (stable_sam, rst, msam, edge_of_stability): their helpers and tiny runs.

Every study runs at a tiny size (its ``CONFIG["quick"]`` entries monkeypatched: the
``tiny`` fixture of ``conftest.py``) and must return finite numbers, the expected verdicts
("holds" for every claim but "info" rows) and its figures as PNG and PDF; the same seed
gives the numbers it gave before the studies ran their points through ``samtheory.sweep``
(``tests/data/study_claims.json``).
"""
import math

import numpy as np
import pytest

import samtheory as st
from samtheory.problems import Quadratic, random_logistic, random_sine_least_squares, saddle
from samtheory.studies import base, edge_of_stability as eos, msam, rst, stable_sam

# -- stable_sam: classifier, predictions, escape times ---------------------------------------

@pytest.mark.parametrize("g_half, g_end, diverged, expected", [
    (1e-12, 1e-30, False, "converged"),        # decayed 32 orders
    (2e-5, 2e-5, False, "bounced"),            # a 2-cycle: constant ‖∇f‖²
    (1e-7, 2e-5, False, "bounced"),            # SAM: dips, then climbs to its cycle (< G_0)
    (5e2, 5e2, False, "bounced"),              # a large cycle above G_0 (c > |x_0|) is bounded
    (1e3, 1e5, False, "diverged"),             # grows 100-fold over the second half, above G_0
    (1e1, 1e1, True, "diverged"),              # engine flag
    (1e1, math.inf, False, "diverged"),
    (1e-20, 1e-15, False, "converged"),        # grew 1e5-fold but ends below 1e-16 G_0
])
def test_classify_hand_built(g_half, g_end, diverged, expected):
    """``classify`` on hand-built (G_0 = 110, G_{T/2}, G_T) triples."""
    got = stable_sam.classify(110.0, g_half, g_end, diverged)
    assert got == expected


def test_classify_on_simulated_runs():
    """GD below/above 2/λ_max and SAM below it: converged, diverged, bounced."""
    problem = Quadratic([10.0, 3.0, 1.0], x0=np.ones(3))
    for rule, expected in ((st.SGD(0.15), "converged"), (st.SGD(0.21), "diverged"),
                           (st.SAM(0.15, 0.05), "bounced")):
        out = base.full_batch(problem, rule, 3000, record_every=1500)
        g = out.metrics["grad_norm_sq"][0]
        assert stable_sam.classify(g[0], g[1], g[2], bool(out.diverged[0])) == expected


def test_predict_and_exclusion():
    lam = 10.0
    assert stable_sam.predict("gd", 0.199, 0.3, lam) == "converged"
    assert stable_sam.predict("gd", 0.201, 0.3, lam) == "diverged"
    assert stable_sam.predict("sam", 0.199, 0.3, lam) == "bounced"
    assert stable_sam.predict("stable", 0.199, 0.3, lam) == "converged"
    edge = 2 / (lam * (1 + 0.1 * lam))                      # USAM: 0.1
    assert stable_sam.predict("usam", 0.999 * edge, 0.1, lam) == "converged"
    assert stable_sam.predict("usam", 1.001 * edge, 0.1, lam) == "diverged"
    assert stable_sam.excluded("usam", edge * 1.05, 0.1, lam, 1.1, 1.1)
    assert not stable_sam.excluded("usam", edge * 1.5, 0.1, lam, 1.1, 1.1)


def test_escape_steps_equal_theory():
    """docs/theory.md §4: GD 142; USAM 280, 1386, stuck; Stable USAM 212, 274, stuck."""
    assert [stable_sam.closed_form_escape(0.05, rho) for rho in (0.0, 0.5, 0.9, 2.0)] == [142, 280, 1386, None]
    points = [stable_sam.escape_point(label, rho) for label, rho, _ in stable_sam.ESCAPES]
    assert [p["step"] for p in points] == [142, 280, 1386, 0, 212, 274, 0]
    assert [p["escaped"] for p in points] == [True, True, True, False, True, True, False]
    measured = [(p["step"] if p["escaped"] else None, p["y_max"]) for p in points]
    assert all(c.verdict == "holds" for c in stable_sam.escape_claims(measured))
    assert stable_sam.escape(st.SGD(0.05))[0] == 142
    # a different saddle: USAM's y-factor 1 + ηc(1 − ρc) = 1.08 (c = 2, ρ = 0.1, η = 0.05)
    assert stable_sam.escape(st.USAM(0.05, 0.1), c=2.0)[0] == math.floor(math.log(1e3) / math.log(1.08)) + 1


# -- rst: evaluation counts and the slope fit ------------------------------------------------

def test_floor_slope_recovers_a_line():
    rng = np.random.default_rng(0)
    p = np.array([0.0, 0.5, 1.0])
    samples = [2.0 + 3.0 * q + 0.01 * rng.standard_normal(200) for q in p]
    slope, stderr = rst.floor_slope(p, samples, n_boot=400, seed=1)
    means = [s.mean() for s in samples]
    assert slope == pytest.approx(np.polyfit(p, means, 1)[0], rel=1e-12)
    # the slope's standard error: √(se(m_0)² + se(m_1)²) with se = 0.01/√200, within 15 %
    assert stderr == pytest.approx(0.01 / math.sqrt(200) * math.sqrt(2), rel=0.15)
    assert abs(slope - 3.0) < 4 * stderr
    # deterministic samples: zero standard error at the exact slope
    exact = rst.floor_slope(p, [np.full(5, 1 + 2 * q) for q in p], n_boot=50)
    assert exact == pytest.approx((2.0, 0.0), abs=1e-12)


def test_evaluations_claim_detects_a_wrong_count():
    problem = random_logistic(32, 4, seed=1)
    out = st.simulate(problem, st.RST(0.05, 0.1, 0.3), st.TauNice(4), steps=50, trajectories=20, seed=9,
                      record_every=50)
    assert [c.verdict for c in rst.evaluations_claim("x", out, 9, "c")] == ["holds", "holds"]
    wrong = rst.evaluations_claim("x", out, 10, "c")[0]                          # another coin stream
    assert wrong.verdict == "violated" and wrong.empirical > 0


# -- msam ----------------------------------------------------------------------------------

def test_nesterov_closed_form_one_dimension():
    """On ½λx² Nesterov is linear: (x, u) ↦ M(x, u), M = [[1 − ηλ, μ(1 − ηλ)], [−ηλ, μ(1 − ηλ)]]."""
    lam, eta, mu, steps = 2.0, 0.1, 0.8, 25
    q = 1 - eta * lam
    M = np.array([[q, mu * q], [-eta * lam, mu * q]])
    state = np.linalg.matrix_power(M, steps) @ np.array([1.5, 0.0])
    assert msam.nesterov(lambda x: lam * x, [1.5], eta, mu, steps)[0] == pytest.approx(state[0], rel=1e-13)
    assert msam.nesterov_gap(Quadratic([lam], x0=[1.5]), lambda x: lam * x, eta, mu, 300) < 1e-13


def test_cycle_amplitude_example():
    assert msam.cycle_amplitude(1.0, 0.1, 0.9, 0.05) == pytest.approx(0.0013514, abs=5e-8)


# -- edge of stability ----------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: random_logistic(30, 5, seed=2),
    lambda: random_sine_least_squares(12, 6, reg_strength=1.5, seed=1),
    lambda: saddle(1.0, 2.0),
    lambda: st.problems.random_least_squares(20, 4, seed=0),
])
def test_hessian_against_finite_differences(make):
    problem = make()
    rng = np.random.default_rng(3)
    for x in (problem.x0, problem.x0 + rng.standard_normal(problem.d)):
        assert eos.finite_difference_error(problem, x) < 1e-7


def test_hessian_closed_forms():
    problem = Quadratic([10.0, -3.0, 1.0])
    np.testing.assert_allclose(problem.hessian_at(np.array([5.0, 1.0, -2.0])), np.diag([10.0, -3.0, 1.0]),
                               rtol=1e-14, atol=1e-14)
    sine = random_sine_least_squares(8, 4, reg_strength=1.5, seed=0)
    assert eos.hessian_top_eigenvalue(sine, sine.x_star) == pytest.approx(sine.eigenvalues.max() + 3.0,
                                                                          rel=1e-12)
    assert math.isnan(eos.hessian_top_eigenvalue(sine, np.full(4, np.inf)))


def test_iterates_are_the_trajectory():
    problem = eos.make_problem()
    rule = eos.rule_at("SAM", 5.0)
    xs = eos.iterates(problem, rule, problem.x0, 12)
    one_shot = base.full_batch(problem, rule, 12).final_x[0]
    np.testing.assert_allclose(xs[-1], one_shot, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="no state"):
        eos.iterates(problem, st.MSAM(0.1, 0.05), problem.x0, 2)


def test_edges():
    """USAM at η = 2/(E(1 + ρE)) has λ* = E; SAM's edge solves ηλ(1 + ρλ/g) = 2."""
    E = 5.3
    rule = eos.rule_at("USAM", E)
    assert eos.usam_edge(rule.lr.value, rule.rho.value) == pytest.approx(E, rel=1e-12)
    lam = eos.sam_edge(0.3, 0.05, 0.7)
    assert 0.3 * lam * (1 + 0.05 * lam / 0.7) == pytest.approx(2.0, rel=1e-12)
    problem = eos.make_problem()
    edges = eos.edges(problem, 4)
    kappa = problem.eigenvalues + 2 * eos.REG
    assert edges.size == 4 and np.all(edges > problem.eigenvalues.max())
    assert np.min(np.abs(edges[:, None] - kappa[None, :])) > 0.05       # no curvature at an edge


# -- the studies at a tiny size ------------------------------------------------------------

@pytest.mark.parametrize("module", [stable_sam, rst, msam, eos], ids=lambda m: m.NAME)
def test_study_runs(tiny, tmp_path, module, claims_before):
    ticks = []
    result = module.run("quick", tmp_path / "a", seed=0, progress=lambda: ticks.append(1))
    assert result.name == module.NAME and result.claims and result.seconds > 0
    assert len(ticks) == module.units("quick")
    for claim in result.claims:
        assert math.isfinite(claim.empirical), claim
        assert claim.verdict == ("info" if claim.kind == "info" else "holds"), claim
    for figure in result.figures:
        assert figure.exists() and figure.with_suffix(".pdf").exists()
    claims_before(module.NAME, result.claims)


def test_script_prints_the_table(tiny, tmp_path, capsys):
    """``experiments/study_msam.py`` is ``cli.study_script("msam")``: table, report, figures."""
    from samtheory.cli import study_script
    assert study_script("msam", ["--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "MSAM with ρ_t = ημ‖v_t‖ is Nesterov" in text
    assert (tmp_path / "report.md").exists()
    assert list(tmp_path.rglob("msam_cycle.pdf"))
    with pytest.raises(ValueError, match="size"):
        msam.run("medium", tmp_path)
