"""Long runs that survive: Ctrl-C, memory limits, atomic saves, validated loads, outputs
checked before the work, and the inputs and outputs a new user tries first."""
import io
import json
import math
import os
import re
import signal
import sys
import threading
import time
import zipfile
from importlib.metadata import version
from types import SimpleNamespace

import numpy as np
import pytest

import samtheory as st
from samtheory import cli, results
from samtheory.engine import simulate as engine
from samtheory.fit import Estimate
from samtheory.fit.power_law import slope_text
from samtheory.studies.base import run_seed


@pytest.fixture(scope="module")
def problem():
    return st.problems.random_least_squares(32, 4, condition=5, seed=3)


def one_run(problem, steps=30, trajectories=5, **options):
    return st.simulate(problem, st.SAM(0.1, 0.05), st.WithReplacement(2), steps=steps,
                       trajectories=trajectories, seed=9, record_every=7, **options)


# -- 1. the kernel runs in slices: bit-identical, and Ctrl-C is honoured between them -----

def _slicing_cases():
    ls = st.problems.random_least_squares(32, 4, condition=5, seed=3)
    logistic = st.problems.random_logistic(40, 5, seed=3)
    sine = st.problems.random_sine_least_squares(24, 4, seed=2)
    # SGD with γ = 100 multiplies the distance to x* by about 100 a step: starts at
    # 1e100, 1e60 and 1e120 from x* overflow at different steps, the others within 61 steps not
    starts = ls.x_star + np.array([1e100, 1.0, 1e60, 0.0, 1e120, 1e-3])[:, None]
    return {
        "SAM": (ls, st.SAM(0.1, 0.05), st.WithReplacement(2)),
        "USAM independent ascent": (ls, st.USAM(0.1, 0.05, ascent_batch="independent"),
                                    st.Importance(3)),
        "AdaSAM": (logistic, st.AdaSAM(0.05, 0.05), st.TauNice(4)),
        "Adam bias-corrected": (sine, st.Adam(0.01), st.Independent(0.3)),
        "MSAM": (ls, st.MSAM(0.05, 0.05), st.Stratified(4)),
        "HeavyBall": (sine, st.HeavyBall(0.05), st.WithReplacement(3)),
        "RST": (logistic, st.RST(0.1, 0.05, st.schedules.Linear(0.2, 0.8)), st.WithReplacement(3)),
        "GRST radius": (ls, st.GRST(0.1, 0.05, 0.5, alpha=2, mode="radius"), st.TauNice(32)),
        "StableSAM capped": (sine, st.StableSAM(0.1, 0.05, cap=True), st.WithReplacement(2)),
        "SGD, some diverging": (ls, st.SGD(100.0), st.WithReplacement(2), starts),
    }


SLICING_CASES = _slicing_cases()


@pytest.mark.parametrize("name", sorted(SLICING_CASES))
def test_sliced_runs_equal_one_call_bit_for_bit(name, monkeypatch):
    problem, rule, sampler, *x0 = SLICING_CASES[name]
    steps = 61

    def run(bounds):
        monkeypatch.setattr(engine, "step_slices", lambda steps, trajectories: iter(bounds))
        return st.simulate(problem, rule, sampler, steps=steps, trajectories=6, seed=4,
                           record_every=5, track_iterates=True, x0=x0[0] if x0 else None)

    whole = run([(0, steps + 1)])
    cuts = [0, 1, 2, 3, 9, 10, 30, 55, 60, 61, 62]
    sliced = run(list(zip(cuts[:-1], cuts[1:])))
    assert sorted(sliced.metrics) == sorted(whole.metrics)
    for key, values in whole.metrics.items():
        np.testing.assert_array_equal(sliced.metrics[key], values, err_msg=key)
    np.testing.assert_array_equal(sliced.final_x, whole.final_x)
    np.testing.assert_array_equal(sliced.diverged_at, whole.diverged_at)
    if x0:   # inside a slice (25) and where slices meet (30, 55)
        np.testing.assert_array_equal(whole.diverged_at, [30, -1, 55, -1, 25, -1])
        assert np.isnan(whole.metrics["loss_gap"][::2, -1]).all()
        assert np.isfinite(whole.metrics["loss_gap"][1::2]).all()


def test_slices_cover_every_step_and_follow_the_clock():
    now = [0.0]
    per_step = 2.0 ** -12            # seconds a step takes (exact in binary)
    lengths, end = [], 0
    for t0, t1 in engine.step_slices(5000, 8, seconds=0.25, clock=lambda: now[0]):
        assert t0 == end
        lengths.append(t1 - t0)
        end = t1
        now[0] += (t1 - t0) * per_step
    assert end == 5001                # iterations 0 .. steps, the last one only records
    # 4096 trajectory-steps first (512 steps of 8), then 0.25 s / 2**-12 s = 1024 steps a slice
    assert lengths == [512, 1024, 1024, 1024, 1024, 393]
    fast = [t1 - t0 for t0, t1 in engine.step_slices(10 ** 6, 4096, clock=lambda: 0.0)]
    assert fast[:4] == [1, 8, 64, 512]   # a slice grows at most 8-fold


def test_ctrl_c_stops_a_long_numba_run_promptly():
    problem = st.problems.random_least_squares(256, 64, condition=10, seed=0)
    rule, sampler = st.SAM(0.1, 0.05), st.WithReplacement(8)
    st.simulate(problem, rule, sampler, steps=2, trajectories=2)   # load the compiled kernel
    delay = 0.3
    # a process started in the background of a non-interactive shell (as CI runs) inherits
    # SIGINT ignored; a terminal's Ctrl-C reaches Python's own handler, installed here
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT))
    start = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):   # about 30 s of work unsliced
            st.simulate(problem, rule, sampler, steps=10 ** 6, trajectories=64)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert time.perf_counter() - start < delay + 1.0


# -- 2. the memory guard counts everything and its advice works --------------------------

def test_memory_plan_counts_the_per_step_schedules(problem):
    plan = engine.memory_plan(problem, st.SAM(0.1, 0.05), st.WithReplacement(2), steps=10 ** 9,
                              trajectories=1, record_every=10 ** 9, backend="numba")
    assert plan["records"] == 2
    assert plan["schedule_bytes"] == 8 * 7 * 10 ** 9     # 4 arrays + 3 while one is evaluated
    assert plan["host_output_bytes"] == 8 * (2 * 7 + 2 * 4 + 1)
    # + 2 record steps x 16 + the kernel state of SGD-based SAM: 4 counters / sums
    assert plan["host_bytes"] == 184 + 8 * 7 * 10 ** 9 + 32 + 8 * 4
    adam = engine.memory_plan(problem, st.Adam(0.1), st.WithReplacement(2), steps=10,
                              trajectories=3, record_every=10, backend="numba")
    assert adam["host_work_bytes"] == 8 * 7 * 10 + 16 * 2 + 8 * 3 * (3 * 4 + 4)   # m, v, v̂


@pytest.mark.parametrize("steps", [10 ** 9, 10 ** 12, 2 ** 63])
def test_too_many_steps_are_refused_before_allocating(problem, monkeypatch, steps):
    monkeypatch.setattr(engine, "host_memory_limit", lambda: (2 ** 30, "a test limit"))
    with pytest.raises(ValueError) as error:
        st.simulate(problem, st.SAM(0.1, 0.05), st.WithReplacement(2), steps=steps,
                    trajectories=1, record_every=steps)
    text = str(error.value)
    assert f"for the per-step schedules of {steps} steps" in text
    assert "but only 0.8 x 1 GiB = 819 MiB may be used (a test limit)" in text
    assert text.endswith("recording less often cannot make it fit: use fewer steps, or split "
                         "the trajectories over several calls with different seeds")


def test_the_suggested_record_every_fits_and_is_the_smallest(problem, monkeypatch):
    monkeypatch.setattr(engine, "host_memory_limit", lambda: (2 * 2 ** 20, "a test limit"))
    options = dict(steps=2000, trajectories=200, seed=1)
    rule, sampler = st.SAM(0.1, 0.05), st.WithReplacement(2)
    with pytest.raises(ValueError, match=r"record_every >= (\d+)") as error:
        st.simulate(problem, rule, sampler, record_every=1, **options)
    every = int(re.search(r"record_every >= (\d+)", str(error.value)).group(1))
    assert every == 15
    out = st.simulate(problem, rule, sampler, record_every=every, **options)
    assert out.steps.size == math.ceil(2000 / every) + 1
    with pytest.raises(ValueError, match=r"record_every >= 15\)"):
        st.simulate(problem, rule, sampler, record_every=every - 1, **options)


def test_host_memory_limit_takes_the_least_of_meminfo_cgroup_and_ulimit(tmp_path, monkeypatch):
    def write(name, text):
        (tmp_path / name).write_text(text)
        return str(tmp_path / name)

    gib = 2 ** 30
    monkeypatch.setattr(engine, "MEMINFO",
                        write("meminfo", f"MemTotal: 1\nMemAvailable: {8 * gib // 1024} kB\n"))
    monkeypatch.setattr(engine, "PROCESS_STATUS", write("status", f"VmSize:\t{gib // 2 // 1024} kB\n"))
    monkeypatch.setattr(engine, "CGROUP_MEMORY_FILES", (
        (write("memory.max", "max\n"), write("memory.current", "5\n")),
        (write("limit_in_bytes", f"{3 * gib}\n"), write("usage_in_bytes", f"{gib}\n"))))
    import resource
    limits = {"as": (resource.RLIM_INFINITY, resource.RLIM_INFINITY)}
    monkeypatch.setattr(resource, "getrlimit", lambda kind: limits["as"])
    assert engine.host_memory_limit() == (2 * gib, f"cgroup limit {tmp_path / 'limit_in_bytes'} = "
                                                   f"{3 * gib} bytes, {gib} in use")
    limits["as"] = (gib + gib // 2, resource.RLIM_INFINITY)
    assert engine.host_memory_limit() == (gib, f"address-space limit RLIMIT_AS (ulimit -v) = "
                                               f"{gib + gib // 2} bytes, {gib // 2} in use")
    assert engine.available_host_bytes() == gib


# -- 3. saves are atomic -------------------------------------------------------------------

def test_an_interrupted_save_keeps_the_previous_file(problem, tmp_path, monkeypatch):
    good = one_run(problem)
    path = tmp_path / "run.npz"
    assert good.save(path) == str(path)

    def killed(stream, **arrays):
        stream.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(results.np, "savez_compressed", killed)
    with pytest.raises(KeyboardInterrupt):
        one_run(problem, steps=50).save(path)
    assert os.listdir(tmp_path) == ["run.npz"]          # no temporary file left behind
    np.testing.assert_array_equal(st.Trajectories.load(path).final_x, good.final_x)


def test_save_fsyncs_a_temporary_file_then_renames_it(problem, tmp_path, monkeypatch):
    events = []
    fsync, replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: events.append("fsync") or fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: events.append(("replace", a, b)) or replace(a, b))
    written = one_run(problem).save(tmp_path / "run")
    assert written == str(tmp_path / "run.npz")
    assert events[0] == "fsync" and events[2] == "fsync"     # the file, then the folder
    _, source, target = events[1]
    assert os.path.dirname(source) == str(tmp_path) and target == written
    assert re.fullmatch(r"\.run\.npz\.[0-9a-f]{12}\.tmp", os.path.basename(source))
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(written).st_mode & 0o777 == 0o666 & ~umask
    os.chmod(written, 0o600)
    one_run(problem).save(written)
    assert os.stat(written).st_mode & 0o777 == 0o600   # overwriting keeps the mode


# -- 4. loads are validated ----------------------------------------------------------------

def _arrays(path):
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def _with_config(arrays, **changes):
    config = json.loads(str(arrays["config"]))
    for key, value in changes.items():
        if value is None:
            del config[key]
        else:
            config[key] = value
    return {**arrays, "config": np.array(json.dumps(config))}


def _without(arrays, key):
    return {k: v for k, v in arrays.items() if k != key}


BROKEN = {
    "no configuration": (lambda a: _without(a, "config"), "no configuration (a 0-d string array "
                                                          "'config'): not a samtheory trajectories file"),
    "configuration not JSON": (lambda a: {**a, "config": np.array("{nope")},
                               "the configuration is not valid JSON (Expecting property name "
                               "enclosed in double quotes: line 1 column 2 (char 1))"),
    "other format": (lambda a: _with_config(a, format=99),
                     "format 99, but this version of samtheory reads trajectories files of format 1"),
    "missing field": (lambda a: _with_config(a, steps=None), "configuration field 'steps' is missing"),
    "field of the wrong type": (lambda a: _with_config(a, trajectories="5"),
                                "configuration field 'trajectories' must be a JSON int, got '5'"),
    "missing rule name": (lambda a: _with_config(a, rule={"lr": 1}),
                          "configuration field rule.name is missing"),
    "metric of the wrong shape": (lambda a: {**a, "metric/loss_gap": a["metric/loss_gap"][:, :3]},
                                  "array 'metric/loss_gap' has shape (5, 3), expected (5, 6)"),
    "float evaluation counts": (lambda a: {**a, "metric/grad_evals": a["metric/grad_evals"] * 1.0},
                                "array 'metric/grad_evals' has dtype float64, expected integers"),
    "missing schedule": (lambda a: _without(a, "schedule/lam"), "array 'schedule/lam' is missing"),
    "record steps disagree": (lambda a: {**a, "steps": a["steps"] + 1},
                              "array 'steps' is not the record steps 0, 7, ... 30 of the "
                              "configuration"),
    "fewer iterates": (lambda a: {**a, "final_x": a["final_x"][:4]},
                       "array 'final_x' has shape (4, 4), expected (5, d >= 1)"),
    "starting points of the wrong shape": (lambda a: {**a, "problem/x0": a["problem/x0"][:, :3]},
                                           "array 'problem/x0' has shape (5, 3), expected (5, 4)"),
    "divergence step out of range": (lambda a: {**a, "diverged_at": a["diverged_at"] + 40},
                                     "array 'diverged_at' must lie in [-1, 30]"),
    "extra array": (lambda a: {**a, "junk": np.zeros(2)}, "unexpected arrays ['junk']"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_load_names_the_file_and_the_fault(problem, tmp_path, case):
    good = tmp_path / "good.npz"
    one_run(problem).save(good)
    change, message = BROKEN[case]
    bad = tmp_path / "bad.npz"
    np.savez(bad, **change(_arrays(good)))
    with pytest.raises(st.TrajectoriesFileError) as error:
        st.Trajectories.load(bad)
    assert str(error.value) == f"{bad}: {message}"


def test_load_refuses_corrupt_and_foreign_files(problem, tmp_path):
    good = tmp_path / "good.npz"
    one_run(problem).save(good)
    data = good.read_bytes()
    member = zipfile.ZipFile(good).getinfo("problem/A.npy")   # flip a byte of its deflated data
    header = member.header_offset
    start = header + 30 + int.from_bytes(data[header + 26:header + 28], "little") + \
        int.from_bytes(data[header + 28:header + 30], "little")
    spot = start + member.compress_size // 2
    files = {"truncated.npz": data[:len(data) // 2],
             "bit-flipped.npz": data[:spot] + bytes([data[spot] ^ 0xFF]) + data[spot + 1:],
             "empty.npz": b"", "text.npz": b"hello\n"}
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    np.save(tmp_path / "array.npy", np.zeros(3))
    np.savez(tmp_path / "objects.npz", config=np.array([{"a": 1}], dtype=object))
    expected = {"truncated.npz": "unreadable archive (BadZipFile: ",
                "bit-flipped.npz": "unreadable archive (",
                "empty.npz": "not a .npz archive", "text.npz": "not a .npz archive",
                "array.npy": "not a .npz archive",
                "objects.npz": "unreadable archive (ValueError: Object arrays cannot be loaded"}
    for name, start in expected.items():
        with pytest.raises(st.TrajectoriesFileError) as error:
            st.Trajectories.load(tmp_path / name)
        assert str(error.value).startswith(f"{tmp_path / name}: {start}"), str(error.value)
    assert issubclass(st.TrajectoriesFileError, ValueError)


def test_load_reads_the_name_given_before_adding_the_suffix(problem, tmp_path):
    out = one_run(problem)
    assert out.save(tmp_path / "x.npy") == str(tmp_path / "x.npy.npz")   # numpy.savez's rule
    np.testing.assert_array_equal(st.Trajectories.load(tmp_path / "x.npy").final_x, out.final_x)
    np.save(tmp_path / "x.npy", np.zeros(3))              # now x.npy exists: it is read
    with pytest.raises(st.TrajectoriesFileError, match=r"x\.npy: not a \.npz archive"):
        st.Trajectories.load(tmp_path / "x.npy")
    with pytest.raises(FileNotFoundError) as error:
        st.Trajectories.load(tmp_path / "none")
    assert str(error.value) == f"no trajectories file {str(tmp_path / 'none')!r} " \
                               f"(nor {str(tmp_path / 'none.npz')!r})"


# -- 5, 6. outputs and seeds are checked before any work ----------------------------------

@pytest.mark.parametrize("argv, message", [
    (["run", "--save", "/proc/x.npz"], "argument --save: cannot write in /proc ("),
    (["verify", "--out", "/proc/x"], "argument --out: cannot write in /proc ("),
    (["verify", "--out", ""], "argument --out: must name a folder, got an empty path"),
    (["verify", "--seed", "-1"],
     f"argument --seed: must be an integer in [0, {cli.VERIFY_SEED_MAX}], got '-1'"),
    (["run", "--seed", str(2 ** 64)], f"argument --seed: must be an integer in [0, {2 ** 64 - 1}]"),
])
def test_unusable_outputs_and_seeds_are_usage_errors_before_any_work(argv, message, capsys,
                                                                     monkeypatch):
    monkeypatch.setattr(cli, "simulate", lambda *a, **k: pytest.fail("simulated anyway"))
    monkeypatch.setattr(cli, "verify_command", lambda *a, **k: pytest.fail("verified anyway"))
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1
    assert err.startswith(f"samtheory {argv[0]}: error: {message}")


def test_verify_out_must_be_a_folder(tmp_path, capsys):
    a_file = tmp_path / "report.md"
    a_file.write_text("")
    for out, message in ((a_file, f"{a_file} is a file, not a folder"),
                         (a_file / "sub", f"cannot create {a_file / 'sub'}: {a_file} is a file")):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["verify", "--out", str(out)])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_the_largest_verify_seed_keeps_every_derived_seed_valid():
    stride = cli.SEED_STRIDE
    assert stride == 100_003
    assert run_seed(cli.VERIFY_SEED_MAX, stride - 1) <= 2 ** 64 - 1
    assert run_seed(cli.VERIFY_SEED_MAX + 1, stride - 1) > 2 ** 64 - 1
    parser = cli.UsageParser()
    cli.add_verify_options(parser)
    assert parser.parse_args(["--seed", str(cli.VERIFY_SEED_MAX)]).seed == cli.VERIFY_SEED_MAX


# -- 7, 8. problems refuse what float64 cannot represent ------------------------------------

@pytest.mark.parametrize("condition", [1e18, 1e300])
def test_condition_numbers_float64_cannot_resolve_are_refused(condition):
    with pytest.raises(ValueError) as error:
        st.problems.random_least_squares(64, 8, condition=condition)
    assert str(error.value) == (
        f"condition must lie in [1, 7.04e+13] for n = 64 samples, got {condition:g}: the loss gap "
        "uses H = AᵀA/n, whose float64 rounding errors (of order n·ε·L, ε = 2.2e-16) must stay "
        "below μ = L/condition")


def test_at_the_largest_condition_the_loss_gap_is_still_right():
    p = st.problems.random_least_squares(64, 8, condition=7e13, seed=0)
    v_min = np.linalg.svd(p.A)[2][-1]
    assert p.loss_gap(p.x_star + v_min) == pytest.approx(p.mu / 2, rel=1e-2)
    assert p.mu == pytest.approx(1 / 7e13, rel=1e-9)
    A = np.linalg.qr(np.random.default_rng(0).standard_normal((64, 2)))[0] * [1.0, 1e-8]
    with pytest.raises(ValueError, match=r"A is too ill-conditioned for float64: H = AᵀA/n has "
                                         r"L/μ = 1e\+16, above 1/\(n·ε\) = 7.04e\+13 \(n = 64\)"):
        st.problems.LeastSquares(A, np.ones(64))


def test_complex_inputs_are_refused(problem):
    message = "must be an array of real numbers (got complex values of dtype complex128)"
    attempts = {"A": lambda: st.problems.LeastSquares(problem.A + 0j, problem.y),
                "y": lambda: st.problems.LeastSquares(problem.A, problem.y * (1 + 1j)),
                "x0": lambda: st.problems.LeastSquares(problem.A, problem.y, x0=[1j, 0, 0, 0]),
                "eigenvalues": lambda: st.problems.Quadratic(np.array([1.0, 2.0]) + 0j)}
    for name, attempt in attempts.items():
        with pytest.raises(ValueError) as error:
            attempt()
        assert str(error.value) == f"{name} {message}"
    with pytest.raises(ValueError, match=re.escape(f"x0 {message}")):
        st.simulate(problem, st.SGD(0.1), st.TauNice(4), steps=2, trajectories=1, x0=problem.x0 + 0j)


# -- 9. the package and the command a new user tries first --------------------------------

def test_subpackages_and_version_are_reachable(capsys):
    assert st.theory.catalogue() and st.fit.fit_power_law is not None
    assert st.__version__ == version("samtheory")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out == f"samtheory {st.__version__}\n"
    with pytest.raises(AttributeError, match="module 'samtheory' has no attribute 'nothing'"):
        st.nothing


@pytest.mark.parametrize("options, header, rule", [
    (["--rule", "RST", "--perturb-prob", "0.25"], "RST on least squares",
     {"perturb_prob": {"schedule": "Constant", "value": 0.25}}),
    (["--rule", "GRST", "--perturb-prob", "0.5", "--alpha", "2"], "GRST on",
     {"grst_alpha": 2.0, "grst_mode": "mix"}),
    (["--rule", "UnifiedSAM", "--lam", "0.5", "--rho", "0.1"], "UnifiedSAM on",
     {"lam": {"schedule": "Constant", "value": 0.5}, "rho": {"schedule": "Constant", "value": 0.1}}),
    (["--sampler", "independent", "--batch", "64", "--backend", "array"],
     "with Independent: 4 trajectories x 20 steps (seed 0, backend array)", {"name": "SAM"}),
])
def test_run_offers_every_rule_sampler_and_backend(options, header, rule, tmp_path, capsys):
    argv = ["run", "--steps", "20", "--trajectories", "4", "--save", str(tmp_path / "out"), *options]
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    assert header in text and f"saved to {tmp_path / 'out.npz'}\n" in text
    saved = st.Trajectories.load(tmp_path / "out.npz").config
    assert {key: saved["rule"][key] for key in rule} == rule
    if "independent" in options:
        assert saved["sampler"]["p"] == 0.25       # batch / n = 64 / 256


@pytest.mark.parametrize("options, message", [
    (["--rule", "UnifiedSAM"], "UnifiedSAM needs --lam"),
    (["--rule", "SGD", "--lam", "0.5"],
     "--lam applies only to UnifiedSAM, StableSAM, RST, GRST, MSAM; SGD does not take it"),
    (["--rule", "SAM", "--alpha", "2"], "--alpha applies only to GRST; SAM does not take it"),
    (["--sampler", "independent", "--batch", "300"],
     "--batch must lie in [1, n] = [1, 256] for the independent sampler (each sample is drawn "
     "with probability batch/n), got 300"),
])
def test_run_refuses_options_a_rule_or_sampler_cannot_use(options, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", *options])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == f"samtheory: error: {message}\n"


def test_run_tracks_sharpness_on_a_landscape(tmp_path, capsys):
    argv = ["run", "--problem", "scalar-factorisation", "--rule", "SGD", "--lr", "0.05", "--sampler",
            "tau-nice", "--batch", "1", "--steps", "2000", "--trajectories", "2", "--track-sharpness",
            "--save", str(tmp_path / "scalar")]
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    # from (2, 0.3): ∇²f = [[0.09, 0.2], [0.2, 4]], λ_max = 4.0102; GD ends on the valley at √(B² + 4)
    assert "sharpness λ_max at t=0: mean 4.0102; at t=2000: mean 4.38809 ± 0" in text
    saved = st.Trajectories.load(tmp_path / "scalar.npz")
    assert saved.config["track_sharpness"] and "balance" in saved.metrics


def test_run_help_shows_the_defaults(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for shown in ("step size γ (default: 0.1)", "(default: least-squares)", "(default: 2000)",
                  "(default: 1024)", "(default: with-replacement)", "(default: numba)",
                  "radius ρ of the perturbing rules (default: 0.05)"):
        assert shown in text


def test_run_says_when_every_trajectory_diverged(capsys):
    assert cli.main(["run", "--lr", "50", "--steps", "200", "--trajectories", "4"]) == 1
    captured = capsys.readouterr()
    assert "  diverged: 4 of 4 (at steps " in captured.out and "nan" not in captured.out
    assert "  every trajectory diverged: no loss_gap statistics" in captured.out
    assert captured.err == "samtheory: every one of the 4 trajectories diverged; try a smaller " \
                           "--lr or --rho\n"


def test_report_counts_the_diverged_trajectories():
    values = np.tile(np.array([[4.0, 2.0, 1.0]]), (5, 1))
    values[[1, 3], 1:] = np.nan
    config = {"rule": {"name": "SGD"}, "problem": {"name": "toy"}, "sampler": {"sampler": "TauNice"},
              "steps": 10, "seed": 0, "backend": "numba"}
    out = st.Trajectories([0, 5, 10], {"loss_gap": values}, np.zeros((5, 1)),
                          [-1, 3, -1, 7, -1], {}, config)
    assert out.report().splitlines()[1:] == [
        "  diverged: 2 of 5 (at steps 3 to 7)",
        "  statistics over the 3 trajectories that did not diverge",
        "  loss_gap at t=0: mean 4 ± 0 (median 4)",
        "  loss_gap at t=10: mean 1 ± 0 (median 1)"]


def test_a_closed_pipe_ends_the_command_quietly(monkeypatch):
    read_end, write_end = os.pipe()
    os.close(read_end)                        # like `samtheory run | head` once head is done
    stdout = io.TextIOWrapper(os.fdopen(write_end, "wb"), line_buffering=True)
    monkeypatch.setattr(sys, "stdout", stdout)
    try:
        assert cli.main(["run", "--steps", "5", "--trajectories", "2"]) == 1
        stdout.write("more output after the pipe closed\n")   # now goes to /dev/null
    finally:
        stdout.close()


# -- 10. a slope and its interval carry the same sign ---------------------------------------

def test_slope_text_negates_the_interval_with_the_exponent():
    assert slope_text(Estimate(0.497, 0.493, 0.501, 0.95, 0.002)) == "−0.497 [−0.501, −0.493]"
    assert slope_text(Estimate(-0.1, -0.2, 0.05, 0.95, 0.05), digits=2) == "0.10 [−0.05, 0.20]"


def test_adasam_legends_print_slopes_inside_their_intervals(tmp_path, monkeypatch):
    from samtheory.studies import adasam
    monkeypatch.setattr(adasam, "save_figure", lambda fig, path: [
        text.get_text() for text in fig.axes[0].get_legend().get_texts()])
    rng = np.random.default_rng(0)
    grid = [(b, T) for b in (1, 4) for T in (16, 64, 256)]
    samples = [(b * T) ** -0.5 * rng.lognormal(0.0, 0.05, 40) for b, T in grid]
    speedup = SimpleNamespace(alpha_bT=Estimate(0.5014, 0.5006, 0.5022, 0.95, 0.0004))
    assert adasam._collapse_figure(tmp_path, grid, samples, speedup)[-1] == \
        "fit: slope −0.501 [−0.502, −0.501]"
    labels = adasam._rate_figure(tmp_path, grid, samples, (1, 4), (16, 64, 256), {"n_boot": 200}, 0)
    for label in labels:
        slope, low, high = (float(v.replace("−", "-")) for v in re.findall(r"−?\d\.\d+", label)[-3:])
        assert low <= slope <= high < 0, label


def test_make_figs_checks_its_seed_before_any_work(capsys):
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "paper_figs" / "make_figs.py"
    spec = importlib.util.spec_from_file_location("make_figs", path)
    make_figs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_figs)
    with pytest.raises(SystemExit) as exit_info:
        make_figs.main(["--seed", "-1"])
    assert exit_info.value.code == 2
    assert "--seed: must be an integer in [0, 184461906879888], got '-1'" in capsys.readouterr().err
