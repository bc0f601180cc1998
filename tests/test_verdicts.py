"""The one decision rule (``samtheory.verdicts``).

Promises:
- an upper claim is violated exactly when the one-sided Student-t p-value is at most α,
  i.e. when the lower end of the (1 − 2α) interval exceeds bound + floor; a lower claim
  mirrors it; an equality is two one-sided tests;
- a deterministic value (stderr 0) is decided by the floor alone; diverged trajectories
  violate an upper claim; a heavy tail or a stated reason gives "inconclusive";
- Holm's procedure rejects what its step-down thresholds reject, and nothing with NaN;
- the heavy-tail diagnostic fires on a log-normal sample with σ = 4 and not on
  exponential, half-normal-squared or uniform samples of the same size;
- bad input is refused naming the parameter.
"""
import math

import numpy as np
import pytest
from scipy import stats

from samtheory import verdicts


def test_upper_claim_p_value_is_the_one_sided_t_tail():
    p = verdicts.p_value(1.3, 0.1, 1.0, "upper", df=9)
    assert p == pytest.approx(stats.t.sf(3.0, 9), rel=1e-12)
    assert verdicts.p_value(1.3, 0.1, 1.0, "upper") == pytest.approx(stats.norm.sf(3.0), rel=1e-12)
    # the floor is added to the bound
    assert verdicts.p_value(1.3, 0.1, 1.0, "upper", floor=0.2, df=9) == pytest.approx(stats.t.sf(1.0, 9))


def test_lower_and_equal_claims_mirror_the_upper_one():
    assert verdicts.p_value(0.7, 0.1, 1.0, "lower", df=9) == pytest.approx(stats.t.sf(3.0, 9), rel=1e-12)
    two = verdicts.p_value(0.7, 0.1, 1.0, "equal", df=9)
    assert two == pytest.approx(2 * stats.t.sf(3.0, 9), rel=1e-12)
    assert verdicts.p_value(1.0, 0.1, 1.0, "equal", df=9) == 1.0


@pytest.mark.parametrize("level", [0.01, 0.05])
def test_violated_iff_interval_lower_end_exceeds_the_bound(level):
    rng = np.random.default_rng(3)
    for _ in range(200):
        sample = rng.normal(1.0, 1.0, size=20)
        estimate = verdicts.sample_mean(sample)
        low, high = estimate.interval(level)
        bound = float(rng.uniform(0.0, 2.0))
        decision = verdicts.decide(estimate.mean, estimate.stderr, bound, df=estimate.df, level=level)
        assert (decision.verdict == "violated") == (low > bound)
        assert decision.verdict in ("holds", "violated")


def test_interval_is_the_two_sided_student_t_interval():
    sample = np.arange(10.0)
    estimate = verdicts.sample_mean(sample)
    low, high = estimate.interval(0.025)
    half = stats.t.ppf(0.975, 9) * sample.std(ddof=1) / math.sqrt(10)
    assert (low, high) == pytest.approx((4.5 - half, 4.5 + half), rel=1e-12)
    assert estimate.df == 9 and estimate.n == 10


def test_deterministic_values_are_decided_by_the_floor():
    assert verdicts.decide(1.0 + 1e-9, 0.0, 1.0, floor=1e-8).verdict == "holds"
    assert verdicts.decide(1.0 + 1e-7, 0.0, 1.0, floor=1e-8).verdict == "violated"
    assert verdicts.decide(1.0 - 1e-7, 0.0, 1.0, side="equal", floor=1e-8).verdict == "violated"
    assert verdicts.decide(1.0 - 1e-9, 0.0, 1.0, side="equal", floor=1e-8).verdict == "holds"
    assert verdicts.decide(math.nan, 0.0, 1.0, side="equal").verdict == "violated"


def test_divergence_heavy_tails_and_reasons():
    assert verdicts.decide(0.0, 0.1, 1.0, diverged=2).verdict == "violated"
    lower = verdicts.decide(0.0, 0.1, 1.0, side="lower", diverged=2)
    assert lower.verdict == "inconclusive" and "diverged" in lower.note
    reason = verdicts.decide(0.5, 0.1, 1.0, inconclusive="transient has not decayed")
    assert reason.verdict == "inconclusive" and reason.note == "transient has not decayed"
    assert math.isnan(reason.p_value)
    single = verdicts.decide(0.5, math.nan, 1.0)
    assert single.verdict == "inconclusive" and "standard error" in single.note


def test_holm_step_down():
    p = [0.01, 0.04, 0.03, 0.005, math.nan]
    # sorted 0.005 ≤ 0.05/4, 0.01 ≤ 0.05/3, 0.03 > 0.05/2: stop
    assert verdicts.holm(p, 0.05).tolist() == [True, False, False, True, False]
    assert verdicts.holm([0.02, 0.02], 0.05).tolist() == [True, True]      # 0.02 ≤ 0.025, ≤ 0.05
    assert verdicts.holm([], 0.05).size == 0


def test_holm_controls_the_family_wise_error_under_the_null():
    """Under the global null (uniform p-values) Holm rejects anything with probability ≤ level:
    over 4000 families of 50 tests the rate is 0.05 ± 4 × its binomial SE (0.0034)."""
    rng = np.random.default_rng(11)
    any_rejected = [verdicts.holm(rng.uniform(size=50), 0.05).any() for _ in range(4000)]
    assert np.mean(any_rejected) <= 0.05 + 4 * math.sqrt(0.05 * 0.95 / 4000)


def test_heavy_tail_diagnostic():
    rng = np.random.default_rng(7)
    assert verdicts.heavy_tail(rng.lognormal(0.0, 4.0, size=1000)) is not None
    for sample in (rng.exponential(size=1000), rng.normal(size=1000) ** 2, rng.uniform(size=1000),
                   rng.exponential(size=100), np.full(1000, 3.0)):
        assert verdicts.heavy_tail(sample) is None
    # the exponential share (k/n)(1 + log(n/k)) of the top 1 % is about 5.6 %
    assert verdicts.tail_share(rng.exponential(size=100_000)) == pytest.approx(0.056, abs=0.004)
    message = verdicts.heavy_tail(np.r_[np.ones(99), 1000.0])
    assert "largest 1 of 100 values carry 91%" in message


def test_bad_input_is_refused_naming_the_parameter():
    with pytest.raises(ValueError, match="side must be one of"):
        verdicts.decide(1.0, 0.1, 1.0, side="both")
    with pytest.raises(ValueError, match=r"level must lie in \(0, 0.5\)"):
        verdicts.decide(1.0, 0.1, 1.0, level=0.5)
    with pytest.raises(ValueError, match=r"floor must lie in \[0, inf\)"):
        verdicts.decide(1.0, 0.1, 1.0, floor=-1.0)
    with pytest.raises(ValueError, match="sample must be finite"):
        verdicts.sample_mean([1.0, math.inf])
    with pytest.raises(ValueError, match=r"level must lie in \(0, 1\)"):
        verdicts.holm([0.1], 1.0)
