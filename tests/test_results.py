"""Promises of Trajectories: summaries exclude diverged runs, save/load round-trips, the CLI works."""
import json

import numpy as np
import pytest

import samtheory as st
from samtheory.cli import main


@pytest.fixture(scope="module")
def problem():
    return st.problems.random_least_squares(32, 4, condition=5, seed=3)


def test_summary_statistics_match_numpy(problem):
    out = st.simulate(problem, st.SAM(0.1, 0.05), st.WithReplacement(2), steps=50, trajectories=40,
                      seed=5, record_every=10)
    np.testing.assert_array_equal(out.steps, [0, 10, 20, 30, 40, 50])
    s = out.summary("loss_gap", quantiles=(0.25, 0.5))
    vals = out.metrics["loss_gap"]
    np.testing.assert_allclose(s["mean"], vals.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(s["stderr"], vals.std(axis=0, ddof=1) / np.sqrt(40), rtol=1e-12)
    np.testing.assert_allclose(s["q0.25"], np.quantile(vals, 0.25, axis=0), rtol=1e-14)
    assert s["n_valid"] == 40 and s["n_diverged"] == 0
    np.testing.assert_array_equal(out.metrics["grad_evals"][0], 2 * out.steps)  # SAM: 2 per step


def test_divergence_is_flagged_and_excluded(problem):
    # Per-trajectory step sizes are not a knob, so mix runs: starting points far apart
    # make no difference for a linear divergence; use lr above 2/L to diverge them all,
    # and check the flags, the NaN records and the summary's exclusion.
    out = st.simulate(problem, st.SGD(lr=50.0), st.TauNice(32), steps=2000, trajectories=3, seed=0,
                      record_every=100)
    assert out.diverged.all()
    t = out.diverged_at[0]
    assert 0 < t <= 2000
    later = out.steps > t
    assert np.isnan(out.metrics["loss_gap"][0, later]).all()
    assert np.isfinite(out.metrics["loss_gap"][0, out.steps < t]).all()
    s = out.summary()
    assert s["n_valid"] == 0 and s["n_diverged"] == 3 and np.isnan(s["mean"]).all()


def test_save_load_round_trip(problem, tmp_path):
    rule = st.RST(0.1, 0.05, st.schedules.Linear(0.2, 0.8))
    out = st.simulate(problem, rule, st.Importance(2), steps=30, trajectories=5, seed=9,
                      record_every=7, track_iterates=True)
    path = tmp_path / "run.npz"
    out.save(path)
    back = st.Trajectories.load(path)
    np.testing.assert_array_equal(back.steps, out.steps)
    for name, values in out.metrics.items():
        np.testing.assert_array_equal(back.metrics[name], values)
    np.testing.assert_array_equal(back.final_x, out.final_x)
    np.testing.assert_allclose(back.schedules["perturb_prob"], np.linspace(0.2, 0.8, 31)[:30], rtol=1e-14)
    np.testing.assert_array_equal(back.problem_data["A"], problem.A)
    assert back.config["rule"]["perturb_prob"] == {"schedule": "Linear", "start": 0.2, "end": 0.8}
    assert back.config["seed"] == 9 and back.config["samtheory_version"] == "0.1.0"
    json.dumps(back.config)  # the configuration is plain JSON


def test_load_rejects_other_files(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, config=np.array(json.dumps({"format": 99})))
    with pytest.raises(ValueError, match="format"):
        st.Trajectories.load(path)


def test_cli_run_prints_summary(capsys, tmp_path):
    assert main(["run", "--steps", "100", "--trajectories", "16", "--save", str(tmp_path / "r.npz")]) == 0
    text = capsys.readouterr().out
    assert "SAM on least squares" in text and "diverged: 0 of 16" in text
    back = st.Trajectories.load(tmp_path / "r.npz")
    assert back.metrics["loss_gap"].shape == (16, 101)
    assert back.metrics["loss_gap"][:, -1].mean() < 0.2 * back.metrics["loss_gap"][:, 0].mean()


def test_cli_reports_bad_input(capsys):
    with pytest.raises(SystemExit) as err:
        main(["run", "--batch", "0"])
    assert err.value.code == 2
    assert "b must be an integer >= 1" in capsys.readouterr().err


def test_kernel_compiles_once_for_all_inputs(problem):
    """Ints, NumPy scalars, read-only and strided arrays all reach the kernel with one signature."""
    from samtheory.engine import kinds
    A = np.asarray(problem.A)[:, ::1].copy()
    A.setflags(write=False)
    y = np.repeat(problem.y, 2)[::2]
    readonly = st.problems.LeastSquares(A, y)
    runs = [(problem, st.HeavyBall(0.1, momentum=0)), (readonly, st.GRST(0.1, 0.05, 0.5, alpha=2)),
            (problem, st.SAM(np.float32(0.1), np.float64(0.05))),
            (problem, st.Adam(0.01, beta1=np.float32(0.5)))]
    for p, rule in runs:
        for x0 in (None, p.x0, np.tile(p.x0, (1, 1))):
            st.simulate(p, rule, st.WithReplacement(2), steps=3, trajectories=1, x0=x0, seed=np.uint64(3))
    assert len(kinds.kernel_for(problem).signatures) == 1


def test_save_without_suffix_and_starting_points(problem, tmp_path):
    x0 = np.random.default_rng(0).standard_normal((3, problem.d))
    out = st.simulate(problem, st.SGD(0.1), st.TauNice(4), steps=5, trajectories=3, x0=x0)
    out.save(tmp_path / "run")
    back = st.Trajectories.load(tmp_path / "run")
    np.testing.assert_array_equal(back.problem_data["x0"], x0)
    assert back.metrics["grad_evals"].dtype == np.int64
    np.testing.assert_array_equal(back.metrics["grad_evals"][0], [0, 1, 2, 3, 4, 5])


def test_cli_rejects_unused_radius_and_missing_folder(capsys, tmp_path):
    for argv, message in ((["run", "--rule", "SGD", "--rho", "0.1"], "--rho applies only"),
                          (["run", "--save", str(tmp_path / "no" / "x.npz")], "does not exist")):
        with pytest.raises(SystemExit) as err:
            main(argv)
        assert err.value.code == 2 and message in capsys.readouterr().err
