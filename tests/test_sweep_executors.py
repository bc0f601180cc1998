"""The same sweep gives the same table in this process, in worker processes and on Dask;
workers set Numba's threads to cores // concurrent points; process executors refuse
functions they cannot import."""
import os
import subprocess
import sys
import time

import distributed
import numba
import numpy as np
import pandas as pd
import pytest

import samtheory as st
from samtheory.sweep import Processes, sweep
from samtheory.sweep.executors import available_cores, numba_threads

GRID = {"b": [1, 2], "rho": [0.0, 0.05], "seed": [7]}
PER_POINT = ["loss_gap", "grad_norm_sq", "diverged", "run"]


def simulated(b, rho, seed):
    problem = st.problems.random_least_squares(16, 4, condition=4, seed=1)
    out = st.simulate(problem, st.SAM(0.2, rho), st.WithReplacement(b), steps=32, trajectories=16, seed=seed)
    return {"loss_gap": out.summary()["mean"][-1], "grad_norm_sq": out.summary("grad_norm_sq")["mean"][-1],
            "diverged": int(out.diverged.sum()), "threads": numba.get_num_threads(), "run": out}


def _same_numbers(table, reference):
    """Equal values and saved trajectories; paths and timings differ by store."""
    pd.testing.assert_frame_equal(table[["b", "rho", "seed", *PER_POINT[:3], "status", "key"]],
                                  reference[["b", "rho", "seed", *PER_POINT[:3], "status", "key"]])
    for ours, theirs in zip(table["run"], reference["run"]):
        a, b = st.Trajectories.load(ours), st.Trajectories.load(theirs)
        np.testing.assert_array_equal(a.metrics["loss_gap"], b.metrics["loss_gap"])
        np.testing.assert_array_equal(a.final_x, b.final_x)


@pytest.fixture(scope="module")
def in_process(tmp_path_factory):
    return sweep(GRID, simulated, store=tmp_path_factory.mktemp("in_process"))


def test_numba_threads_share_the_cores():
    assert [numba_threads(8, n) for n in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]


def test_worker_processes_give_the_in_process_table(in_process, tmp_path):
    table = sweep(GRID, simulated, store=tmp_path, executor="processes", workers=2)
    _same_numbers(table, in_process)
    assert (table["threads"] == numba_threads(available_cores(), 2)).all()
    assert (in_process["threads"] == numba.get_num_threads()).all()


def worker_pid(b):
    time.sleep(0.3)             # long enough that both workers take points
    return {"pid": os.getpid(), "threads": numba.get_num_threads()}


def test_an_open_processes_executor_keeps_its_workers_across_sweeps(tmp_path):
    with Processes(2) as pool:
        first = sweep({"b": [1, 2, 3, 4, 5, 6]}, worker_pid, store=tmp_path / "a", executor=pool)
        second = sweep({"b": [5, 6]}, worker_pid, store=tmp_path / "b", executor=pool)
        with pytest.raises(ValueError, match="already sets the number of workers"):
            sweep({"b": [1]}, worker_pid, store=tmp_path / "c", executor=pool, workers=2)
    assert len(set(first["pid"])) == 2 and set(second["pid"]) <= set(first["pid"])
    assert os.getpid() not in set(first["pid"])
    assert (first["threads"] == numba_threads(available_cores(), 2)).all()
    with pytest.raises(ValueError, match="workers must be an integer >= 1"):
        Processes(0)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as local_cluster:
        yield local_cluster


def test_dask_local_cluster_gives_the_in_process_table(in_process, cluster, tmp_path):
    with distributed.Client(cluster) as client:
        table = sweep(GRID, simulated, store=tmp_path / "client", executor=client)
        assert client.status == "running"          # a client we were given stays open
    by_address = sweep(GRID, simulated, store=tmp_path / "address", executor=cluster.scheduler_address)
    _same_numbers(table, in_process)
    _same_numbers(by_address, in_process)
    assert (table["threads"] == numba_threads(available_cores(), 2)).all()


def test_dask_ships_a_local_function_by_value(cluster, tmp_path):
    scale = 3.0

    def local(b):
        return {"v": scale * b}

    with distributed.Client(cluster) as client:
        table = sweep({"b": [1, 2]}, local, store=tmp_path, executor=client)
    assert table["v"].tolist() == [3.0, 6.0]


def test_processes_refuse_a_function_typed_without_a_file(tmp_path):
    code = ("from samtheory.sweep import sweep\n"
            "def point(b):\n    return {'v': b}\n"
            f"sweep({{'b': [1]}}, point, store={str(tmp_path)!r}, executor=2)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "TypeError: executor='processes' cannot import point: it was defined in an interactive" in run.stderr


def test_processes_refuse_functions_they_cannot_import(tmp_path):
    def local(b):
        return {"v": b}

    for fn in (local, lambda b: {"v": b}):
        with pytest.raises(TypeError, match="cannot be imported .* define it at the top level"):
            sweep({"b": [1]}, fn, store=tmp_path, executor=2)
    assert not (tmp_path / "points").exists()
