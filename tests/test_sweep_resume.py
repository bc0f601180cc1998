"""A sweep killed with SIGKILL mid-run, then run again, ends with every point exactly once
and the numbers of an uninterrupted sweep (run in worker processes from a script)."""
import subprocess
import sys

import numpy as np
import pandas as pd

import samtheory as st
from samtheory.sweep import load_table

from conftest import kill_once_stored, point_records

POINTS = 10
SCRIPT = f'''
import sys, time
import numpy as np
import samtheory as st
from samtheory.sweep import sweep

def point(i, seed):
    time.sleep(0.05)
    problem = st.problems.random_least_squares(16, 4, condition=4, seed=i)
    out = st.simulate(problem, st.SAM(0.1, 0.05), st.WithReplacement(2), steps=40, trajectories=64, seed=seed)
    return {{"loss_gap": out.summary()["mean"][-1], "draw": np.random.default_rng(i).random(), "run": out}}

if __name__ == "__main__":
    executor = int(sys.argv[2]) if len(sys.argv) > 2 else None
    sweep({{"i": list(range({POINTS})), "seed": [3]}}, point, store=sys.argv[1], executor=executor)
'''


def test_sigkill_then_rerun_matches_an_uninterrupted_sweep(tmp_path):
    script = tmp_path / "sweep_script.py"
    script.write_text(SCRIPT)
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    done_before = kill_once_stored([sys.executable, str(script), str(killed)], killed, 3, 60)
    assert 3 <= len(done_before) < POINTS
    assert not (killed / "table.parquet").exists()

    subprocess.run([sys.executable, str(script), str(killed)], check=True, timeout=120)
    # the reference runs in two worker processes, which import `point` from the script
    subprocess.run([sys.executable, str(script), str(whole), "2"], check=True, timeout=120)
    resumed, reference = load_table(killed), load_table(whole)
    assert len(point_records(killed)) == POINTS and sorted(resumed["i"]) == list(range(POINTS))
    assert resumed["key"].is_unique and not list(killed.rglob("*.tmp~*"))
    assert (resumed["status"] == "ok").all()
    columns = ["i", "seed", "loss_gap", "draw", "key"]
    pd.testing.assert_frame_equal(resumed.sort_values("i")[columns].reset_index(drop=True),
                                  reference.sort_values("i")[columns].reset_index(drop=True))
    for ours, theirs in zip(resumed.sort_values("i")["run"], reference.sort_values("i")["run"]):
        np.testing.assert_array_equal(st.Trajectories.load(ours).metrics["loss_gap"],
                                      st.Trajectories.load(theirs).metrics["loss_gap"])
    for name, text in done_before.items():       # not computed again: the same record, same time
        assert (killed / "points" / name).read_text() == text
