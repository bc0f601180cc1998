"""Shared by the study tests: tiny study sizes, and the claims the studies gave before they
ran through samtheory.sweep."""
import json
import math
import os
from pathlib import Path
import signal
import subprocess
import time

import pytest

from samtheory.studies import edge_of_stability, msam, rst, stable_sam

TINY = {        # CONFIG["quick"] of studies 3–6 in tests (tests/test_studies.py has studies 1–2's)
    stable_sam: dict(etas=(0.01, 0.4, 5), rhos=(0.005, 0.5, 3), steps=3000),
    rst: dict(steps=100, trajectories=16, floor_steps=600, floor_trajectories=16, floor_p=(0.0, 0.5, 1.0),
              check_p=(0.25, 0.75), check_trajectories=16, n_boot=100),
    msam: dict(etas=3, cycle_steps=3000, cost_steps=20, cost_trajectories=8, repeats=1),
    edge_of_stability: dict(edges=2, settle=1500, tail=4, series=20),
}
CLAIMS_BEFORE = Path(__file__).parent / "data" / "study_claims.json"
TIMED = ("wall time per step, SAM / MSAM",)      # measured, not computed: no stored number


def _same(ours, theirs):
    if isinstance(theirs, str) or isinstance(ours, str):
        return ours == theirs
    if math.isnan(theirs):
        return math.isnan(ours)
    return ours == pytest.approx(theirs, rel=1e-9, abs=1e-12)     # rounding may differ across CPUs


@pytest.fixture(scope="session")
def claims_before():
    """``check(study, rows, verdicts=True)``: assert that ``rows`` (Claim objects, or mappings
    such as the records of claims.csv) equal the stored claims of ``study`` at the tiny
    configurations, number for number (``verdicts=False``: Holm-adjusted verdicts, not compared)."""
    stored = json.loads(CLAIMS_BEFORE.read_text(encoding="utf-8"))
    columns = stored["columns"]

    def check(study, rows, verdicts=True):
        rows = [row if isinstance(row, dict) else {name: getattr(row, name) for name in columns} for row in rows]
        rows = [row for row in rows if row["claim"] not in TIMED]
        assert len(rows) == len(stored[study])
        compared = [name for name in columns if verdicts or name != "verdict"]
        for row, before in zip(rows, stored[study]):
            before = dict(zip(columns, before))
            different = [name for name in compared if not _same(row[name], before[name])]
            assert not different, (study, row["claim"], {name: (row[name], before[name]) for name in different})
    return check


@pytest.fixture
def tiny(monkeypatch):
    """Studies 3–6 at their tiny sizes (``TINY``) as their "quick" size."""
    for module, config in TINY.items():
        monkeypatch.setitem(module.CONFIG, "quick", config)


def point_records(store):
    """name -> text of the finished point records of a sweep store (not temporaries)."""
    points = Path(store) / "points"
    files = points.glob("*.json") if points.is_dir() else []
    return {p.name: p.read_text() for p in files if not p.name.startswith(".")}


def kill_once_stored(command, store, count, timeout, **popen):
    """Start ``command``, SIGKILL it as soon as ``store`` holds ``count`` finished points (or
    it ends, or ``timeout`` seconds pass); return the records present after the kill."""
    child = subprocess.Popen(command, **popen)
    deadline = time.monotonic() + timeout
    while len(point_records(store)) < count and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL
    return point_records(store)
