"""``samtheory verify`` through samtheory.sweep: resume after a kill or a failed point, worker
processes and a Dask cluster, the report and the claims tables rewritten as each study
finishes, stale figures, and bad --workers / --scheduler values."""
import json
import subprocess
import sys
import time
import types

import distributed
import pandas as pd
import pytest

from samtheory import cli, report
from samtheory.studies import Claim, StudyResult, msam, rst
from conftest import TINY, kill_once_stored, point_records

KILL_SCRIPT = '''
import json, sys, time
from samtheory import cli
from samtheory.studies import msam, rst
msam.CONFIG["quick"], rst.CONFIG["quick"] = json.loads(sys.argv[1])
delay = float(sys.argv[2])
for name, task in list(rst.TASKS.items()):       # slow points: the test kills the run among them
    def slow(*args, _task=task, **kwargs):
        time.sleep(delay)
        return _task(*args, **kwargs)
    rst.TASKS[name] = slow
sys.exit(cli.main(["verify", "--only", "msam", "--only", "rst", *sys.argv[3:]]))
'''


def _claims(out):
    return pd.read_csv(out / "claims.csv", keep_default_na=False, na_values=[""])


def test_resume_after_sigkill_computes_only_the_missing_points(tiny, tmp_path, claims_before):
    script, out = tmp_path / "verify_tiny.py", tmp_path / "out"
    script.write_text(KILL_SCRIPT)
    configs = json.dumps([TINY[msam], TINY[rst]])
    store = out / "runs" / "rst-quick-seed0"
    before = kill_once_stored([sys.executable, str(script), configs, "0.4", "--out", str(out)], store, 3, 120,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert 3 <= len(before) < rst.units("quick")
    # the partial report of the first study survives the kill
    partial = (out / "report.md").read_text(encoding="utf-8")
    assert "status: **partial** — 1 of 2 studies done; still to run: rst" in partial
    assert set(_claims(out)["study"]) == {"msam"}
    msam_points = point_records(out / "runs" / "msam-quick-seed0")

    done = subprocess.run([sys.executable, str(script), configs, "0", "--out", str(out), "--resume"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    after = point_records(store)
    assert len(after) == rst.units("quick")
    assert {name: after[name] for name in before} == before       # stored points were not computed again
    assert point_records(out / "runs" / "msam-quick-seed0") == msam_points
    assert "status: complete, 2 of 2 studies run" in (out / "report.md").read_text(encoding="utf-8")
    claims = _claims(out)
    for study in ("msam", "rst"):
        claims_before(study, claims[claims["study"] == study].to_dict("records"), verdicts=False)


def test_a_failed_point_stops_its_study_and_resume_computes_it_alone(tiny, monkeypatch, tmp_path, capsys,
                                                                      claims_before):
    calls, failing = [], [True]
    for name, task in list(msam.TASKS.items()):
        def counted(*args, _name=name, _task=task, **kwargs):
            calls.append(_name)
            if _name == "cycle" and kwargs["case"] == 1 and failing[0]:
                raise ValueError("the machine went away")
            return _task(*args, **kwargs)
        monkeypatch.setitem(msam.TASKS, name, counted)
    command = ["verify", "--only", "msam", "--out", str(tmp_path)]
    assert cli.main(command) == 1
    out, err = capsys.readouterr()
    assert ("ERROR: study msam: RuntimeError: 1 of 7 points failed; the first, {'study': 'msam', 'task': "
            "'cycle', 'case': 1, 'steps': 3000}: ValueError: the machine went away") in out
    assert "traceback of the point:" in err and 'raise ValueError("the machine went away")' in err
    assert sorted(calls) == ["cost", "curve", "curve", "cycle", "cycle", "nesterov", "nesterov"]
    calls.clear()
    failing[0] = False
    assert cli.main([*command, "--resume"]) == 0
    assert calls == ["cycle"]                      # the failed point, and only it
    claims_before("msam", _claims(tmp_path).to_dict("records"), verdicts=False)
    calls.clear()
    assert cli.main(command) == 0                  # without --resume: an empty store, every point
    assert len(calls) == msam.units("quick") == 7


def test_worker_processes_give_the_serial_claims(tiny, tmp_path, capsys, claims_before):
    assert cli.main(["verify", "--only", "msam", "--only", "rst", "--out", str(tmp_path), "--workers", "2"]) == 0
    claims = _claims(tmp_path)
    for study in ("msam", "rst"):
        claims_before(study, claims[claims["study"] == study].to_dict("records"), verdicts=False)
    text = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "- points computed in 2 local worker processes; stored in `runs/<study>-quick-seed0/`" in text
    table = pd.read_parquet(tmp_path / "runs" / "rst-quick-seed0" / "table.parquet")
    assert len(table) == rst.units("quick") and (table["status"] == "ok").all()
    assert sorted(table["task"].unique()) == ["check", "floor", "method"]
    assert (table["function"] == "samtheory.studies.base.task_point").all()


def test_a_dask_scheduler_gives_the_serial_claims(tiny, tmp_path, capsys, claims_before):
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        status = cli.main(["verify", "--only", "msam", "--out", str(tmp_path), "--scheduler",
                           cluster.scheduler_address])
    assert status == 0
    claims_before("msam", _claims(tmp_path).to_dict("records"), verdicts=False)
    text = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert f"- points computed on the Dask cluster of scheduler {cluster.scheduler_address};" in text


# -- the report and the claims tables as studies finish ----------------------------------------------

def a_claim(p_value, verdict="holds", **fields):
    return Claim(claim=fields.pop("claim", f"claim p={p_value}"), source="Test 2025", configuration="toy, b=4",
                 empirical=0.25, ci_low=0.2, ci_high=0.3, bound=0.5, verdict=verdict, p_value=p_value, **fields)


def study(name, claims, during=None):
    """A fake study module: ``during(outdir)`` runs inside it, then it returns ``claims``
    with one figure written into its folder."""
    def run(size="quick", outdir=".", seed=0, progress=None, store=None, executor=None):
        if during:
            during(outdir)
        progress()
        outdir.mkdir(parents=True, exist_ok=True)
        figure = outdir / f"{name}_now.png"
        figure.write_bytes(b"png")
        return StudyResult(name, f"fake {name}", claims, [figure], 0.5)
    return types.SimpleNamespace(run=run, units=lambda size: 1)


def test_report_and_claims_are_written_after_each_study(monkeypatch, tmp_path, capsys):
    seen = {}

    def look(outdir):
        seen["report"] = (tmp_path / "report.md").read_text(encoding="utf-8")
        seen["claims"] = _claims(tmp_path)

    def broken(outdir):
        raise RuntimeError("no machine")

    studies = {"msam": study("msam", [a_claim(0.03)]), "rst": study("rst", [a_claim(0.5)], during=look),
               "stable_sam": study("stable_sam", [], during=broken)}
    monkeypatch.setattr(report, "load", studies.get)
    assert cli.main(["verify", "--only", "msam", "--only", "rst", "--only", "stable_sam",
                     "--out", str(tmp_path)]) == 1
    partial = seen["report"]
    assert partial.startswith("# samtheory verification report (partial)\n")
    assert "- status: **partial** — 1 of 3 studies done; still to run: rst, stable_sam." in partial
    assert "covers only the claims present; the final report adjusts over the claims of all studies" in partial
    assert "Holm over 1 tested claims" in partial and "![msam_now](msam/msam_now.png)" in partial
    # Holm over the one claim present rejects p = 0.03 at 0.05; over both, not (0.03 > 0.05/2)
    assert seen["claims"][["study", "verdict"]].values.tolist() == [["msam", "violated"]]
    final = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert final.startswith("# samtheory verification report\n")
    assert "- status: complete, 3 of 3 studies run, 1 of them failed" in final
    assert "Holm over 2 tested claims" in final and "ERROR: study stable_sam: RuntimeError: no machine" in final
    assert _claims(tmp_path)[["study", "verdict"]].values.tolist() == [["msam", "holds"], ["rst", "holds"]]


def test_an_interrupted_run_keeps_the_partial_report(monkeypatch, tmp_path, capsys):
    def interrupt(outdir):
        raise KeyboardInterrupt

    studies = {"msam": study("msam", [a_claim(0.5)]), "rst": study("rst", [a_claim(0.5)], during=interrupt)}
    monkeypatch.setattr(report, "load", studies.get)
    assert cli.main(["verify", "--only", "msam", "--only", "rst", "--out", str(tmp_path)]) == 130
    assert "the same command with --resume computes only the missing points" in capsys.readouterr().err
    assert "1 of 2 studies done; still to run: rst" in (tmp_path / "report.md").read_text(encoding="utf-8")
    assert _claims(tmp_path)["study"].tolist() == ["msam"]


def test_claims_tables_hold_every_claim_field(tmp_path):
    claims = [a_claim(0.004, verdict="violated", claim="E f ≤ bound, with | and , inside", note="a; b"),
              Claim(claim="measured", source="measured", configuration="c", empirical=2.0, ci_low=2.0, ci_high=2.0,
                    bound=float("nan"), verdict="info", kind="info", should_hold=False)]
    csv, parquet = report.write_claims([StudyResult("toy", "toy", claims, [], 1.0)], tmp_path)
    assert (csv, parquet) == (tmp_path / "claims.csv", tmp_path / "claims.parquet")
    table = _claims(tmp_path)
    assert tuple(table.columns) == report.CLAIM_COLUMNS
    assert table.iloc[0].tolist() == ["toy", "E f ≤ bound, with | and , inside", "Test 2025", "toy, b=4", 0.25, 0.2,
                                      0.3, 0.5, 2.0, "violated", "upper", True, False, 0.004, 0.01, "a; b"]
    info = table.iloc[1]
    assert info["kind"] == "info" and not info["should_hold"] and pd.isna(info["bound"]) and pd.isna(info["ratio"])
    assert pd.isna(info["p_value"]) and pd.isna(info["note"])
    from_parquet = pd.read_parquet(parquet)
    assert from_parquet["should_hold"].dtype == bool and from_parquet["hypothesis"].dtype == bool
    assert from_parquet["empirical"].dtype == float
    pd.testing.assert_frame_equal(from_parquet.fillna({"note": ""}), table.fillna({"note": ""}), check_dtype=False)


def test_stale_figures_are_removed_and_not_reported(monkeypatch, tmp_path, capsys):
    folder, other = tmp_path / "msam", tmp_path / "rst"
    folder.mkdir()
    other.mkdir()
    for stale in (folder / "msam_old.png", folder / "msam_old.pdf", other / "rst_old.png"):
        stale.write_bytes(b"old")
    (folder / "notes.txt").write_text("mine")
    monkeypatch.setattr(report, "load", {"msam": study("msam", [a_claim(0.5)])}.get)
    assert cli.main(["verify", "--only", "msam", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["msam_now.png", "notes.txt"]
    text = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "![msam_now](msam/msam_now.png)" in text and "_old" not in text
    assert (other / "rst_old.png").exists()        # a study this run did not run keeps its folder


# -- bad options ------------------------------------------------------------------------------------

@pytest.mark.parametrize("options, message", [
    (["--workers", "0"], "argument --workers: must be an integer in [1, 1024], got '0'"),
    (["--workers", "two"], "argument --workers: must be an integer in [1, 1024], got 'two'"),
    (["--scheduler", "nonsense"], "argument --scheduler: must be a Dask scheduler address such as "
                                  "tcp://host:8786, got 'nonsense'"),
    (["--scheduler", "tcp://host:port"], "got 'tcp://host:port'"),
    (["--workers", "2", "--scheduler", "tcp://host:8786"], "argument --scheduler: not allowed with argument --workers"),
])
def test_bad_workers_and_scheduler_are_refused(tmp_path, capsys, options, message):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["verify", "--only", "msam", "--out", str(tmp_path / "out"), *options])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_unreachable_scheduler_is_refused_before_any_work(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(cli, "SCHEDULER_TIMEOUT", 0.5)
    start = time.monotonic()
    assert cli.main(["verify", "--only", "msam", "--out", str(tmp_path / "out"), "--scheduler",
                     "tcp://127.0.0.1:9"]) == 2
    assert time.monotonic() - start < 30
    assert "samtheory: error: --scheduler: cannot reach a Dask scheduler at tcp://127.0.0.1:9 within 0.5 s" \
        in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
