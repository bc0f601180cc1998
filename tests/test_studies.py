"""The study framework, `samtheory verify` / `samtheory list`, and studies 1–2.

Promises:
- the verdict table and the Markdown report show every claim's numbers, its CI, bound,
  ratio and verdict; a violated claim that should hold is shouted, a claim expected to
  fail is marked so; the report embeds the figures;
- ``samtheory verify`` exits 0 when every claim that should hold does not fail, 1 when one
  is violated or a study crashes (the others still run), 2 for an unknown study;
- ``samtheory list`` names every catalogue theorem with its source, and the studies;
- the AdaSAM and Unified SAM studies run at a tiny size, return finite numbers with the
  expected verdicts (AdaSAM's bound and rate hold; Unified SAM's claims hold, its
  unreweighted importance sampling converges to x̃* ≠ x*), write PNG + PDF figures, and
  give the numbers they gave before their points ran through ``samtheory.sweep``
  (``tests/data/study_claims.json``).
"""
from dataclasses import replace
import math
import types

import numpy as np
import pytest
from scipy import stats

from samtheory import cli, report
from samtheory import theory
from samtheory.studies import Claim, StudyResult, adasam, unified_sam
from samtheory.studies.base import mean_ci


def claim(verdict="holds", should_hold=True, kind="upper", empirical=0.125, bound=0.5):
    return Claim(claim="E f(x_T) − f* ≤ bound", source="Test 2025, Thm 1", configuration="toy, b=4",
                 empirical=empirical, ci_low=0.1, ci_high=0.15, bound=bound, verdict=verdict, kind=kind,
                 should_hold=should_hold)


def fake_study(name, claims, figure=None):
    def run(size="quick", outdir=".", seed=0, progress=None, store=None, executor=None):
        progress()
        return StudyResult(name, f"fake {name}", claims, [figure] if figure else [], 0.5)
    return types.SimpleNamespace(NAME=name, TITLE=f"fake {name}", run=run, units=lambda size: 1)


# -- table and report ---------------------------------------------------------------------

def test_table_shows_numbers_ratio_and_verdicts():
    results = [StudyResult("toy", "a toy study", [claim(), claim("violated"), claim("violated", should_hold=False),
                                                  claim("info", kind="info", bound=math.nan)], [], 1.25)]
    table = report.format_table(results)
    assert "[toy] a toy study (1.2 s)" in table
    assert "0.125 [0.1, 0.15]" in table and "| 0.5 " in table
    assert "| 4 " in table                                  # ratio bound/empirical = 4
    assert "VIOLATED" in table and "violated (expected to fail)" in table
    body, footer = table.rsplit("\n", 1)
    assert body.count("holds") == 1 and "info" in body
    assert footer.startswith("Family-wise error controlled at 0.05 (Holm over 0 tested claims)")
    assert report.summary(results)[0] == ("4 claims: 1 hold, 2 violated (1 of them expected to fail), "
                                          "0 inconclusive, 1 info")
    assert any(line.startswith("FAILED: [toy]") for line in report.summary(results))


def test_a_violated_hypothesis_is_a_finding_not_a_failure():
    hypothesis = replace(claim("violated"), hypothesis=True)
    results = [StudyResult("toy", "a toy study", [hypothesis, claim()], [], 1.0)]
    assert not hypothesis.failed and report.verdict_text(hypothesis) == "violated (hypothesis)"
    assert report.summary(results) == ["2 claims: 1 hold, 1 violated (0 of them expected to fail, 1 a "
                                       "hypothesis of the papers), 0 inconclusive, 0 info"]
    assert report.claims_frame(results)["hypothesis"].tolist() == [True, False]


def test_family_verdicts_apply_holm_over_every_tested_claim():
    """Holm at 0.05: p = (0.001, 0.008, 0.2) rejects the first two (0.001 ≤ 0.05/3, 0.008 ≤ 0.05/2);
    ten claims at p = 0.009 (each violated at level 0.01 alone) are all kept (0.009 > 0.05/10)."""
    tested = lambda p: replace(claim("violated" if p <= 0.01 else "holds"), p_value=p)
    three = report.family_verdicts([StudyResult("a", "a", [tested(0.001), tested(0.2)], [], 1.0),
                                    StudyResult("b", "b", [tested(0.008), claim("info", kind="info")], [], 1.0)])
    assert [c.verdict for r in three for c in r.claims] == ["violated", "holds", "violated", "info"]
    ten = report.family_verdicts([StudyResult("c", "c", [tested(0.009) for _ in range(10)], [], 1.0)])
    assert all(c.verdict == "holds" and "violated at level 0.01 alone, holds at family-wise level 0.05"
               in c.note for c in ten[0].claims)
    assert "Holm over 10 tested claims" in report.family_footer(ten)


def test_report_embeds_table_and_figures(tmp_path):
    png = tmp_path / "toy" / "fig.png"
    png.parent.mkdir()
    png.write_bytes(b"")
    path = report.write_report([StudyResult("toy", "a toy study", [claim()], [png], 2.0)], tmp_path,
                               command="samtheory verify --only toy", size="quick", seed=3)
    text = path.read_text(encoding="utf-8")
    assert path == tmp_path / "report.md"
    assert "`samtheory verify --only toy`" in text and "size: quick; seed: 3" in text
    assert "| 0.125 [0.1, 0.15] | 0.5 | 4 | holds |" in text
    assert "![fig](toy/fig.png)" in text and "[PDF](toy/fig.pdf)" in text
    assert "| toy | a toy study | 1 | 2.0 |" in text


def test_mean_ci_is_the_student_t_interval():
    mean, low, high = mean_ci([1.0, 2.0, 3.0, np.nan], level=0.025)      # the 95 % interval
    assert mean == 2.0
    # two degrees of freedom: t_{2,q} = (2q − 1)√(2/(4q(1 − q))) in closed form, q = 0.975; sd = 1
    assert high - mean == pytest.approx(0.95 * math.sqrt(2 / 0.0975) / math.sqrt(3), rel=1e-12)
    assert mean - low == pytest.approx(high - mean)


# -- samtheory verify / list ------------------------------------------------------------------

@pytest.mark.parametrize("verdict, should_hold, status", [("holds", True, 0), ("inconclusive", True, 0),
                                                          ("violated", False, 0), ("violated", True, 1)])
def test_verify_exit_status(monkeypatch, tmp_path, capsys, verdict, should_hold, status):
    monkeypatch.setattr(report, "load", lambda name: fake_study(name, [claim(verdict, should_hold)]))
    assert cli.main(["verify", "--only", "adasam", "--out", str(tmp_path)]) == status
    out = capsys.readouterr()
    assert "0.125 [0.1, 0.15]" in out.out and f"report written to {tmp_path / 'report.md'}" in out.out
    assert "[1/1] adasam: 1 claims" in out.err               # the progress line
    assert (tmp_path / "report.md").exists()


def test_verify_reports_a_crashing_study_and_runs_the_others(monkeypatch, tmp_path, capsys):
    def load(name):
        if name == "rst":
            raise ImportError("no module rst")
        return fake_study(name, [claim()])
    monkeypatch.setattr(report, "load", load)
    assert cli.main(["verify", "--only", "rst", "--only", "adasam", "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "ERROR: study rst: ImportError: no module rst" in out and "[adasam] fake adasam" in out


def test_verify_refuses_an_unknown_study(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["verify", "--only", "nonsense", "--out", str(tmp_path)])
    assert exit_info.value.code == 2


def test_list_names_every_theorem_and_study(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for theorem in theory.catalogue():
        assert f"{theorem.name}  [{theorem.source}]" in out
    assert "adasam" in out and adasam.TITLE in out and unified_sam.TITLE in out
    assert "AdaSAM" in out and "TauNice" in out and "random_logistic" in out


# -- the studies at a tiny size -----------------------------------------------------------------

TINY_ADASAM = dict(batches=(1, 2, 4), horizons=(128, 512), trajectories=24, n_boot=100)
TINY_UNIFIED = dict(steps=300, trajectories=24, record_every=5, bias_steps=4000, n_boot=100,
                    authors_steps=6000)


def check_figures(result, tmp_path, count):
    assert len(result.figures) == count
    for png in result.figures:
        assert png.parent == tmp_path and png.suffix == ".png" and png.stat().st_size > 0
        assert png.with_suffix(".pdf").stat().st_size > 0


def finite(claims):
    return all(math.isfinite(c.empirical) and math.isfinite(c.ci_low) and math.isfinite(c.ci_high)
               for c in claims)


def test_adasam_study_tiny(monkeypatch, tmp_path, claims_before):
    monkeypatch.setitem(adasam.CONFIG, "quick", TINY_ADASAM)
    ticks = []
    result = adasam.run("quick", tmp_path, seed=1, progress=lambda: ticks.append(1))
    assert len(ticks) == adasam.units("quick") == 5 * 6 + 1
    assert finite(result.claims) and not result.failed
    rows = {c.claim: c for c in result.claims}
    assert rows["AdaSAM, O(1/sqrt(bT))"].verdict == "holds"
    assert rows["AdaSAM bound at every grid point"].verdict == "holds"
    rate = rows["rate: E_T ∝ (bT)^(−α), α ≥ ½"]
    assert rate.verdict == "holds" and 0.4 < rate.empirical < 0.6 and rate.bound == 0.5
    assert sum(c.kind == "info" for c in result.claims) == 5
    check_figures(result, tmp_path, 3)
    claims_before("adasam", result.claims)         # the numbers of the direct computation, before sweep


def test_one_sided_exponent_verdicts():
    from samtheory.fit import Estimate
    make = lambda value: adasam.one_sided_exponent_claim("α", Estimate(value, value - 0.02, value + 0.02,
                                                                        0.95, 0.01), "")
    assert make(0.56).verdict == "holds"             # faster than the bound
    assert make(0.48).verdict == "holds"             # consistent with ½
    # α ≥ ½ − 0.05 is rejected at level 0.01 when α̂ < 0.45 − 2.326 × 0.01 (normal, one-sided)
    assert make(0.428).verdict == "holds" and make(0.426).verdict == "violated"
    assert make(0.35).p_value == pytest.approx(stats.norm.sf(10.0), rel=1e-9)


def test_unified_sam_study_tiny(monkeypatch, tmp_path, claims_before):
    monkeypatch.setitem(unified_sam.CONFIG, "quick", TINY_UNIFIED)
    result = unified_sam.run("quick", tmp_path, seed=2)
    claims_before("unified_sam", result.claims)
    assert finite(result.claims) and not result.failed
    checks = [c for c in result.claims if c.claim == "Unified SAM, PL, constant step"]
    assert len(checks) == 15 and all(c.verdict == "holds" for c in checks)
    rates = [c for c in result.claims if "contraction factor" in c.claim]
    assert len(rates) == 15 + 6 + 10 and all(c.verdict == "holds" and c.empirical < c.bound for c in rates)
    # the authors' γ, ρ (L = L_max) meet our conditions at every λ, τ-nice and with replacement:
    # a rate and a plateau row each, none "info"
    authors = [c for c in result.claims if c.claim.startswith("[authors'")]
    assert len(authors) == 5 * 2 * 2 and all(c.kind == "upper" and c.verdict == "holds" for c in authors)
    assert sum("with replacement b=8" in c.configuration for c in authors) == 10
    biased = [c for c in result.claims if c.claim.startswith("unreweighted")]
    assert [(c.should_hold, c.verdict) for c in biased] == [(False, "violated"), (True, "holds")]
    assert biased[1].bound == pytest.approx(0.0537752, rel=1e-5)      # ‖x̃* − x*‖², closed form
    check_figures(result, tmp_path, 4)


def test_biased_problem_emulates_the_unweighted_estimator():
    problem = unified_sam.PROBLEMS["LS inconsistent"]()
    p = problem.L_i / problem.L_i.sum()
    emulation = unified_sam.biased_problem(problem, p)
    x = np.linspace(-1.0, 1.0, problem.d)
    idx = np.array([3, 3, 17, 40])
    weighted = (emulation.sample_gradients(x, idx) / (problem.n * idx.size * p[idx, None])).sum(axis=0)
    np.testing.assert_allclose(weighted, problem.sample_gradients(x, idx).mean(axis=0), rtol=1e-12)
    P = np.diag(p)
    x_tilde = np.linalg.solve(problem.A.T @ P @ problem.A, problem.A.T @ P @ problem.y)
    np.testing.assert_allclose(emulation.x_star, x_tilde, rtol=1e-10)
