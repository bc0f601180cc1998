"""Promises of samtheory.sweep: tidy tables, keys, durable store, resume, errors, progress, input checks."""
import functools
import io
import json
import os
from pathlib import Path
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import samtheory as st
from samtheory.engine.simulate import _package_version
from samtheory.sweep import load_table, sweep
from samtheory.sweep import grid as sweep_grid
from samtheory.sweep import store as sweep_store

CALLS = []          # points the in-process sweeps below computed
FAILING = {2}       # values of b for which `flaky` raises


def noisy_mean(b, T, seed):
    CALLS.append((b, T, seed))
    x = np.random.default_rng([seed, b, T]).standard_normal(T) / np.sqrt(b)
    return {"mean": x.mean(), "stderr": x.std(ddof=1) / np.sqrt(T), "n": np.int64(T), "small": bool(b > 1)}


def expected_mean(b, T, seed):
    return (np.random.default_rng([seed, b, T]).standard_normal(T) / np.sqrt(b)).mean()


def flaky(b, seed):
    if b in FAILING:
        raise ValueError(f"b={b} is not supported yet")
    return {"value": 10.0 * b + seed}


def tiny_run(b, seed):
    problem = st.problems.random_least_squares(16, 4, condition=4, seed=0)
    out = st.simulate(problem, st.SAM(0.1, 0.05), st.WithReplacement(b), steps=20, trajectories=8, seed=seed)
    return {"loss_gap": out.summary()["mean"][-1], "run": out}


@pytest.fixture(autouse=True)
def _forget_calls():
    CALLS.clear()


def test_table_has_one_row_per_point_in_grid_order(tmp_path):
    grid = {"b": [1, 2], "T": [16, 64], "seed": [3]}
    table = sweep(grid, noisy_mean, store=tmp_path / "s")
    assert list(table.columns) == ["b", "T", "seed", "mean", "stderr", "n", "small", "seconds", "version",
                                   "status", "error", "traceback", "key", "function"]
    assert table[["b", "T"]].values.tolist() == [[1, 16], [1, 64], [2, 16], [2, 64]]
    np.testing.assert_array_equal(table["mean"], [expected_mean(b, T, 3) for b, T in [(1, 16), (1, 64),
                                                                                        (2, 16), (2, 64)]])
    assert table["n"].tolist() == [16, 64, 16, 64] and table["small"].tolist() == [False, False, True, True]
    assert (table["status"] == "ok").all() and table["error"].isna().all()
    assert (table["version"] == _package_version()).all() and (table["seconds"] >= 0).all()
    assert (table["function"] == f"{__name__}.noisy_mean").all() and table["key"].nunique() == 4
    on_disk = pd.read_parquet(tmp_path / "s" / "table.parquet")
    pd.testing.assert_frame_equal(on_disk.reset_index(drop=True), table, check_dtype=False)


def test_rerun_computes_only_missing_points(tmp_path):
    first = sweep({"b": [1, 2], "T": [8], "seed": [0]}, noisy_mean, store=tmp_path)
    assert CALLS == [(1, 8, 0), (2, 8, 0)]
    CALLS.clear()
    second = sweep({"b": [1, 2, 4], "T": [8], "seed": [0]}, noisy_mean, store=tmp_path)
    assert CALLS == [(4, 8, 0)]
    pd.testing.assert_frame_equal(second.iloc[:2], first)
    CALLS.clear()
    sweep({"b": [1, 2, 4], "T": [8], "seed": [0]}, noisy_mean, store=tmp_path)
    assert CALLS == []
    assert len(list((tmp_path / "points").glob("*.json"))) == 3


def _compiled(source, name="point"):
    namespace = {"__name__": "sweepmod"}
    exec(compile(source, "<sweep test>", "exec"), namespace)
    return namespace[name]


def test_key_follows_the_function_body_not_its_comments_or_position():
    base = _compiled("def point(b, n=3):\n    return {'v': b * n}\n")
    same = _compiled("\n\n# a comment\ndef point(b, n=3):\n    # another\n    return {'v': b * n}\n")
    body = _compiled("def point(b, n=3):\n    return {'v': b * n + 1}\n")
    default = _compiled("def point(b, n=4):\n    return {'v': b * n}\n")
    frozen = [_compiled("def point(b):\n    return {'v': b in {'x', 'y', 'z'}}\n") for _ in range(2)]
    ids = [sweep_grid.function_identity(f) for f in (base, same, body, default, *frozen)]
    assert ids[0] == ids[1] == {"module": "sweepmod", "qualname": "point", "code": ids[0]["code"]}
    assert len({ids[0]["code"], ids[2]["code"], ids[3]["code"]}) == 3 and ids[4] == ids[5]
    key = sweep_grid.point_key({"b": 1}, ids[0], "0.1.0")
    assert re.fullmatch("[0-9a-f]{64}", key)
    assert key != sweep_grid.point_key({"b": 1}, ids[0], "0.2.0")
    assert key != sweep_grid.point_key({"b": 1.0}, ids[0], "0.1.0")
    assert key != sweep_grid.point_key({"b": 1}, ids[2], "0.1.0")


def test_function_identity_is_stable_across_hash_seeds():
    code = ("from samtheory.sweep.grid import function_identity\n"
            "def point(b):\n    return {'v': b in {'alpha', 'beta', 'gamma', 'delta'}}\n"
            "print(function_identity(point)['code'])\n")
    codes = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(codes) == 1 and re.fullmatch("[0-9a-f]{64}\n", codes.pop())


def test_errors_are_recorded_and_retried_on_request(tmp_path):
    grid = {"b": [1, 2], "seed": [0]}
    table = sweep(grid, flaky, store=tmp_path)
    assert table["status"].tolist() == ["ok", "error"]
    assert table["value"].iloc[0] == 10.0 and np.isnan(table["value"].iloc[1])
    assert table["error"].iloc[1] == "ValueError: b=2 is not supported yet"
    assert 'raise ValueError(f"b={b} is not supported yet")' in table["traceback"].iloc[1]
    record = json.loads((tmp_path / "points" / f"{table['key'].iloc[1]}.json").read_text())
    assert record["status"] == "error" and record["error"]["type"] == "ValueError"
    FAILING.clear()
    try:
        again = sweep(grid, flaky, store=tmp_path)                   # errors stay until asked
        assert again["status"].tolist() == ["ok", "error"]
        retried = sweep(grid, flaky, store=tmp_path, retry_failed=True)
    finally:
        FAILING.add(2)
    assert retried["status"].tolist() == ["ok", "ok"] and retried["value"].tolist() == [10.0, 20.0]
    assert retried["error"].isna().all() and len(list((tmp_path / "points").glob("*.json"))) == 2


def test_trajectories_are_saved_beside_the_point(tmp_path):
    table = sweep({"b": [2], "seed": [5]}, tiny_run, store=tmp_path)
    path = Path(table["run"].iloc[0])
    assert path == tmp_path / "trajectories" / table["key"].iloc[0] / "run.npz"
    saved = st.Trajectories.load(path)
    problem = st.problems.random_least_squares(16, 4, condition=4, seed=0)
    direct = st.simulate(problem, st.SAM(0.1, 0.05), st.WithReplacement(2), steps=20, trajectories=8, seed=5)
    np.testing.assert_array_equal(saved.metrics["loss_gap"], direct.metrics["loss_gap"])
    assert table["loss_gap"].iloc[0] == direct.summary()["mean"][-1]


def test_atomic_write_keeps_the_old_file_when_a_write_fails(tmp_path):
    target = tmp_path / "x.json"
    sweep_store.atomic_write(target, lambda p: Path(p).write_text("old"))

    def crash(path):
        Path(path).write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        sweep_store.atomic_write(target, crash)
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]


class _Killed(BaseException):
    pass


def test_a_crash_between_trajectories_and_record_leaves_the_point_missing(tmp_path, monkeypatch):
    real_replace = os.replace

    def crash_on_record(source, target):
        if str(target).endswith(".json"):
            raise _Killed     # stopped after the .npz landed, before the record did
        real_replace(source, target)

    monkeypatch.setattr(sweep_store.os, "replace", crash_on_record)
    with pytest.raises(_Killed):
        sweep({"b": [2], "seed": [5]}, tiny_run, store=tmp_path)
    monkeypatch.setattr(sweep_store.os, "replace", real_replace)
    assert list((tmp_path / "points").iterdir()) == []
    assert len(list((tmp_path / "trajectories").rglob("run.npz"))) == 1
    table = sweep({"b": [2], "seed": [5]}, tiny_run, store=tmp_path)
    assert table["status"].tolist() == ["ok"] and Path(table["run"].iloc[0]).is_file()


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    names = {"dead": f".tmp~{sweep_store.HOST}~{int(dead.stdout)}~ab12~k.json",
             "alive": f".tmp~{sweep_store.HOST}~{os.getpid()}~ab12~k.json",
             "other host": f".tmp~{sweep_store.HOST}x~{int(dead.stdout)}~ab12~k.json"}
    saving = tmp_path / "trajectories" / "k" / f"..tmp~{sweep_store.HOST}~{int(dead.stdout)}~ab12~run.npz.9f.tmp"
    (tmp_path / "points").mkdir()
    saving.parent.mkdir(parents=True)
    for path in [*(tmp_path / "points" / name for name in names.values()), saving]:
        path.write_text("{")
    sweep({"b": [1], "seed": [0]}, flaky, store=tmp_path)
    left = {p.name for p in tmp_path.rglob("*.tmp~*")}
    assert left == {names["alive"], names["other host"]}


def test_load_table_rebuilds_every_point_of_the_store(tmp_path):
    sweep({"b": [1, 2], "seed": [0]}, flaky, store=tmp_path)
    sweep({"b": [1], "T": [8], "seed": [0]}, noisy_mean, store=tmp_path)
    (tmp_path / "table.parquet").unlink()
    table = load_table(tmp_path)
    assert len(table) == 3 and sorted(table["function"].str.rsplit(".", n=1).str[-1]) == [
        "flaky", "flaky", "noisy_mean"]
    assert table["status"].value_counts().to_dict() == {"ok": 2, "error": 1}
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "table.parquet"), table, check_dtype=False)
    with pytest.raises(ValueError, match="holds no sweep"):
        load_table(tmp_path / "empty")


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_is_quiet_unless_stderr_is_a_terminal(tmp_path, capsys, monkeypatch):
    sweep({"b": [1, 2, 3], "seed": [0]}, flaky, store=tmp_path)          # stderr is not a terminal
    assert capsys.readouterr() == ("", "")
    sweep({"b": [1, 2, 3], "seed": [1]}, flaky, store=tmp_path, progress=True)
    assert "sweep: 100%" in capsys.readouterr().err
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    sweep({"b": [1, 2, 3, 4], "seed": [0]}, flaky, store=tmp_path)       # resumes at 3 of 4
    shown = terminal.getvalue()
    assert "sweep:  75%" in shown and "3/4" in shown and "sweep: 100%" in shown and "4/4" in shown
    sweep({"b": [1, 2, 3, 5], "seed": [0]}, flaky, store=tmp_path, progress=False)
    assert terminal.getvalue() == shown


def _local(b):
    return {"v": b}


@pytest.mark.parametrize("grid, error, message", [
    ({}, ValueError, "empty grid"),
    ({("b", 1)}, TypeError, "grid must be a mapping .* or a list of points"),
    ([("b", [1])], TypeError, r"grid point 0 must be a non-empty mapping .* got tuple \('b', \[1\]\)"),
    ([], ValueError, "at least one point"),
    ([{"b": 1}, {"b": 2}, {"b": 1}], ValueError, "points must be distinct, point 2 {'b': 1} appears twice"),
    ([{"b": [1]}], TypeError, "grid point 0 'b' values must be numbers, strings"),
    ([{"b": 1}, {"key": 2}], ValueError, "'key' clashes with a table column"),
    ({"b": 4}, TypeError, r"grid\['b'\] must be a list"),
    ({"b": "1248"}, TypeError, r"grid\['b'\] must be a list"),
    ({"b": np.ones((2, 2))}, TypeError, r"grid\['b'\] must be a list"),
    ({"b": []}, ValueError, r"grid\['b'\] must hold at least one value"),
    ({"b": [1, 2, 1]}, ValueError, "distinct values, 1 appears twice"),
    ({"b": [1.0, float("nan")]}, ValueError, "must not be NaN"),
    ({"b": [[1, 2]]}, TypeError, "numbers, strings, booleans or None"),
    ({"status": [1]}, ValueError, "clashes with a table column"),
    ({"not a name": [1]}, ValueError, "Python identifiers"),
])
def test_bad_grids_are_refused(tmp_path, grid, error, message):
    with pytest.raises(error, match=message):
        sweep(grid, _local, store=tmp_path)
    assert not (tmp_path / "points").exists()


def task(kind, n, x=0.0):
    """Two kinds of points with their own parameters and values (strings and arrays too)."""
    if kind == "sum":
        return {"total": np.float64(x) * n, "label": f"{n} × {x:g}"}
    return {"series": np.arange(n) * x + 0.1, "flags": np.arange(n) % 2 == 0, "counts": np.arange(n, dtype=np.int32)}


def test_a_list_of_points_gives_those_points_with_strings_and_arrays(tmp_path):
    listed = [{"kind": "sum", "x": 0.5, "n": 3}, {"kind": "series", "n": 4}, {"kind": "series", "x": 2.0, "n": 2}]
    table = sweep(listed, task, store=tmp_path)
    assert list(table.columns[:8]) == ["kind", "x", "n", "total", "label", "series", "flags", "counts"]
    assert table["kind"].tolist() == ["sum", "series", "series"] and np.isnan(table["x"].iloc[1])
    assert table["total"].iloc[0] == 1.5 and table["label"].iloc[0] == "3 × 0.5"
    assert pd.isna(table["label"].iloc[1]) and np.isnan(table["total"].iloc[2])
    series = table["series"].iloc[2]
    assert series.dtype == np.float64 and series.tolist() == [0.1, 2.1]      # exact through JSON
    assert table["flags"].iloc[1].tolist() == [True, False, True, False]
    assert table["counts"].iloc[1].dtype == np.int64 and table["counts"].iloc[1].tolist() == [0, 1, 2, 3]
    on_disk = pd.read_parquet(tmp_path / "table.parquet")
    assert on_disk["series"].iloc[2].tolist() == [0.1, 2.1] and on_disk["label"].iloc[0] == "3 × 0.5"
    opened = sweep_store.Store(tmp_path)
    values = opened.values(opened.read(table["key"].iloc[1]))
    assert sorted(values) == ["counts", "flags", "series"] and values["flags"].dtype == bool
    np.testing.assert_array_equal(values["series"], np.arange(4) * 0.0 + 0.1)
    # a listed point is the same point as in a product grid: stored once, found again
    product = sweep({"kind": ["sum"], "n": [3], "x": [0.5]}, task, store=tmp_path)
    assert product["key"].iloc[0] == table["key"].iloc[0]
    assert len(list((tmp_path / "points").glob("*.json"))) == 3


def test_a_progress_function_is_called_once_per_point(tmp_path, capsys):
    ticks = []
    sweep({"b": [1, 2], "T": [8], "seed": [0]}, noisy_mean, store=tmp_path, progress=lambda: ticks.append(len(CALLS)))
    assert ticks == [1, 2]
    ticks.clear()
    CALLS.clear()
    # resumed: the two stored points are counted first, then the new one as it is stored
    sweep({"b": [1, 2, 4], "T": [8], "seed": [0]}, noisy_mean, store=tmp_path,
          progress=lambda: ticks.append(len(CALLS)))
    assert ticks == [0, 0, 1] and CALLS == [(4, 8, 0)]
    assert capsys.readouterr().err == ""


def test_grid_values_are_converted_to_plain_python():
    grid = sweep_grid.validate_grid({"b": np.array([1, 2]), "x": (np.float32(0.5), None, "s", True),
                                     "T": range(2)})
    assert grid == {"b": [1, 2], "x": [0.5, None, "s", True], "T": [0, 1]}
    assert [type(v) for v in grid["b"] + grid["x"]] == [int, int, float, type(None), str, bool]


@pytest.mark.parametrize("returned, message", [
    ([1.0], "list .* non-empty mapping"),
    ({}, "non-empty mapping"),
    ({"v": np.ones((2, 2))}, "(?s)'v' = ndarray .* values must be numbers .* 1-d NumPy arrays"),
    ({"v": np.array(["a", "b"])}, "'v' = ndarray"),
    ({"v": [1.0, 2.0]}, "'v' = list"),
    ({"v": {"x": 1}}, "'v' = dict"),
    ({"b": 1.0}, "clashes with a grid parameter"),
    ({"status": 1.0}, "clashes with a grid parameter or a table column"),
    ({1: 1.0}, "names must be non-empty strings"),
])
def test_bad_returns_stop_the_sweep_with_a_clear_error(tmp_path, returned, message):
    with pytest.raises(TypeError, match=message):
        sweep({"b": [1]}, lambda b: returned, store=tmp_path)
    assert list((tmp_path / "points").glob("*.json")) == []


def test_trajectories_name_must_be_a_file_name(tmp_path):
    run = tiny_run(1, 0)["run"]
    with pytest.raises(TypeError, match="Trajectories name '../up'"):
        sweep({"b": [1]}, lambda b: {"../up": run}, store=tmp_path)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"executor": "threads"}, ValueError, "executor must be None, 'processes'"),
    ({"executor": object()}, ValueError, "executor must be None"),
    ({"executor": 0}, ValueError, "executor must be an integer >= 1"),
    ({"executor": "processes", "workers": 0}, ValueError, "workers must be an integer >= 1"),
    ({"executor": 2, "workers": 3}, ValueError, "already sets the number of workers"),
    ({"workers": 2}, ValueError, "workers applies only to executor='processes'"),
    ({"retry_failed": "yes"}, TypeError, "retry_failed must be True or False"),
    ({"progress": 1}, TypeError, "progress must be None, True, False or a function"),
])
def test_bad_options_are_refused(tmp_path, kwargs, error, message):
    with pytest.raises(error, match=message):
        sweep({"b": [1]}, _local, store=tmp_path, **kwargs)


def test_point_function_must_be_a_python_function_taking_the_grid(tmp_path):
    with pytest.raises(TypeError, match="fn must be a Python function"):
        sweep({"b": [1]}, functools.partial(flaky, seed=0), store=tmp_path)
    with pytest.raises(TypeError, match=r"fn flaky\(b, seed\) must accept the grid's parameters \['b', 'T'\]"):
        sweep({"b": [1], "T": [8]}, flaky, store=tmp_path)
    assert not (tmp_path / "points").exists()


def test_store_must_be_a_writable_folder(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(ValueError, match=f"store must be a folder, but {a_file} is a file"):
        sweep({"b": [1]}, _local, store=a_file)
    with pytest.raises(ValueError, match=f"store {a_file / 'sub'} is not a writable folder"):
        sweep({"b": [1]}, _local, store=a_file / "sub")
    with pytest.raises(TypeError, match="store must be a folder path"):
        sweep({"b": [1]}, _local, store=3)


def test_readme_sweep_example_runs_verbatim(tmp_path):
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## Long sweeps", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    (tmp_path / "sweep_adasam.py").write_text(code)
    run = subprocess.run([sys.executable, "sweep_adasam.py"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    table = load_table(tmp_path / "runs" / "adasam")
    assert len(table) == 4 and (table["status"] == "ok").all()
    row = table[(table["b"] == 4) & (table["T"] == 256)].iloc[0]
    problem = st.problems.random_logistic(64, 8, seed=0)
    rule = st.AdaSAM(st.schedules.adasam_lr(0.5, 4, 256), st.schedules.adasam_rho(0.1, 4, 256), beta1=0.0)
    direct = st.simulate(problem, rule, st.WithReplacement(4), steps=256, trajectories=500, seed=0)
    assert row["grad_norm_sq"] == direct.summary("grad_norm_sq")["mean"][-1]
    np.testing.assert_array_equal(st.Trajectories.load(row["run"]).final_x, direct.final_x)
