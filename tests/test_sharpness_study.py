"""Study 7 (sharpness): its derived helpers and a tiny run whose claims are checked number for number."""
import math

import numpy as np
import pytest

import samtheory as st
from samtheory.studies import sharpness

TINY = dict(gd_steps=2000, sam_steps=6000, tail=500, steps=400, trajectories=16, edge_starts=8,
            edge_steps=3000, records=8)


def test_sam_interval_is_invariant_under_the_balanced_sam_map():
    """The interval of the module docstring: iterate SAM's map on the balanced line from every
    point of a grid inside it; no iterate leaves it."""
    eta, rho, y = sharpness.ETA_SAM, sharpness.RHO_SAM, sharpness.Y
    low, high = sharpness.sam_interval(eta, rho, y)
    c, s = math.sqrt(y), rho / math.sqrt(2)
    delta_low = math.sqrt((low + y) / 3) - c
    delta_high = math.sqrt((high + y) / 3) - c
    assert delta_low < 0 < delta_high and high - low < 0.2
    for delta in np.linspace(delta_low, delta_high, 201):
        a = c + delta
        for _ in range(50):
            r = a * a - y
            tilde = a + np.sign(r) * s          # x + ρ∇f/‖∇f‖ on the line u = v
            a = a - eta * (tilde * tilde - y) * tilde
            assert delta_low - 1e-15 <= a - c <= delta_high + 1e-15


def test_gd_balance_identity_on_the_scalar_factorisation():
    problem = st.problems.scalar_factorisation(1.0, (2.0, 0.3))
    u, v = problem.x0
    eta = 0.05
    out = st.simulate(problem, st.SGD(eta), st.TauNice(1), steps=1, trajectories=1, track_sharpness=True)
    r = u * v - 1.0
    assert out.metrics["balance"][0, 1] == pytest.approx((u * u - v * v) * (1 - eta ** 2 * r * r), rel=1e-14)


@pytest.fixture(scope="module")
def tiny_result(tmp_path_factory):
    saved = sharpness.CONFIG["quick"]
    sharpness.CONFIG["quick"] = TINY
    try:
        ticks = []
        result = sharpness.run("quick", tmp_path_factory.mktemp("sharpness"), progress=lambda: ticks.append(1))
    finally:
        sharpness.CONFIG["quick"] = saved
    assert len(ticks) == sharpness.units("quick")
    return result


def test_tiny_run_claims(tiny_result):
    claims = {c.claim + " | " + c.configuration: c for c in tiny_result.claims}
    assert len(claims) == len(tiny_result.claims) == 6 + 3 * 7 + 8 + 8 + 1
    for claim in tiny_result.claims:
        if claim.should_hold and not claim.hypothesis and claim.kind != "info":
            assert claim.verdict == "holds", claim
    rows = {c.claim: c for c in tiny_result.claims}
    gd = rows["GD: B_T = B_0 Π(1 − 2η² f(x_t)) (balance B = u² − v²)"]
    assert gd.empirical == pytest.approx(3.905812257279858, rel=1e-12)
    valley = rows["GD: λ_max(x_T) = √(B_T² + 4y²) (the valley point its start selects)"]
    assert valley.empirical == pytest.approx(4.388094049711968, rel=1e-10)
    assert rows["SAM: |B_T| ≤ 1e-6·|B_0| (SAM balances u and v)"].empirical < 1e-6 * 3.91
    low, high = sharpness.sam_interval(sharpness.ETA_SAM, sharpness.RHO_SAM, sharpness.Y)
    assert rows["SAM: tail λ_max ≤ λ₊ (invariant interval, 2|y| + O(ηρ))"].bound == high
    flatter = [c for c in tiny_result.claims if c.claim.startswith("SAM ends flatter")]
    assert len(flatter) == 3 and all(c.hypothesis and not c.failed for c in flatter)
    sparser = rows["SAM (batch 1) ends sparser than SGD: E‖u ⊙ v‖₁ SGD − SAM ≥ 0"]
    assert sparser.hypothesis and sparser.kind == "lower"
    edges = [c for c in tiny_result.claims if "at convergence" in c.claim]
    decided = [c for c in edges if c.verdict != "info"]      # info: no start converged
    assert len(decided) >= 6 and all(c.verdict == "holds" and 0 < c.empirical <= 1 for c in decided)
    assert all("no start converged" in c.claim for c in edges if c.verdict == "info")
    for figure in tiny_result.figures:
        assert figure.exists() and figure.with_suffix(".pdf").exists()


def test_the_study_is_part_of_verify():
    from samtheory.studies import STUDIES, load
    assert "sharpness" in STUDIES and load("sharpness") is sharpness
