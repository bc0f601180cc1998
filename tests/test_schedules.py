"""Promises of samtheory.schedules: each schedule's values, in closed form."""
import numpy as np
import pytest

from samtheory import schedules as sch


def test_constant_and_inverse_sqrt():
    np.testing.assert_array_equal(sch.Constant(0.3).values(4), [0.3] * 4)
    np.testing.assert_allclose(sch.InverseSqrt(2.0).values(4), 2.0 / np.sqrt([1, 2, 3, 4]), rtol=1e-15)
    np.testing.assert_allclose(sch.InverseSqrt(1.0, offset=4).values(2), [0.5, 1 / np.sqrt(5)], rtol=1e-15)


def test_rst_schedules_at_tau():
    T = 8  # tau = t/8
    np.testing.assert_array_equal(sch.Piecewise(0.2, 0.9, switch=0.5).values(T), [0.2] * 4 + [0.9] * 4)
    np.testing.assert_allclose(sch.Linear(0.1, 0.5).values(T), 0.1 + 0.4 * np.arange(8) / 8, rtol=1e-15)
    tau = np.arange(T) / T
    np.testing.assert_allclose(sch.TrigIncreasing(0.1, 0.9).values(T),
                               0.1 + 0.8 * (1 - np.cos(np.pi * tau)) / 2, rtol=1e-15)
    np.testing.assert_allclose(sch.TrigDecreasing().values(T), (1 + np.cos(np.pi * tau)) / 2, rtol=1e-15)
    assert sch.TrigIncreasing().values(T)[0] == 0.0 and sch.TrigDecreasing().values(T)[0] == 1.0


def test_prescribed_adasam_forms():
    b, T = 16, 400
    assert sch.adasam_lr(0.5, b, T).value == pytest.approx(0.5 * np.sqrt(16 / 400), rel=1e-15)
    assert sch.adasam_rho(2.0, b, T).value == pytest.approx(2.0 / np.sqrt(16 * 400), rel=1e-15)


def test_explicit_and_coercion():
    np.testing.assert_array_equal(sch.as_schedule([1.0, 2.0, 3.0], "lr").values(3), [1, 2, 3])
    np.testing.assert_allclose(sch.as_schedule(lambda t: 1.0 / (t + 1), "lr").values(3), [1, 0.5, 1 / 3])
    assert sch.as_schedule(0.25, "lr") == sch.Constant(0.25)
    with pytest.raises(ValueError, match="shape"):
        sch.as_schedule([1.0, 2.0], "lr").values(3)


def test_evaluate_checks_range_per_step():
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\]"):
        sch.evaluate(sch.Linear(0.5, 1.5), 4, "p", 0.0, 1.0)
    vals = sch.evaluate(sch.Linear(0.0, 1.0), 4, "p", 0.0, 1.0)
    np.testing.assert_allclose(vals, [0, 0.25, 0.5, 0.75])


def test_unified_sam_decreasing_schedules():
    np.testing.assert_allclose(sch.DecreasingRadius(0.2).values(4), [0.2, 0.2, 0.2, 1 / 7], rtol=1e-15)
    # (2t+1)/((t+1)^2 mu) with mu = 0.5: 2, 1.5, 10/9, 0.875
    np.testing.assert_allclose(sch.DecreasingStep(1.2, 0.5).values(4), [1.2, 1.2, 10 / 9, 0.875],
                               rtol=1e-15)
    with pytest.raises(ValueError, match="mu must lie in"):
        sch.DecreasingStep(1.0, 0.0).values(3)
