"""Objectives as code (problems.Custom), the kernel compiled per problem kind, sharpness.

Promises: a Custom problem runs every rule and sampler and agrees with the built-in path on
the same objective; its kernel is cached on disk and loaded by a fresh process; bad
functions are refused naming the function; sharpness matches dense eigenvalues (exactly up
to engine.kernel.DENSE_MAX, to the Lanczos tolerance above) and the trace estimate is
unbiased; the package's leaf modules compile nothing on import.
"""
import ast
import json
import os
from pathlib import Path
import re
import subprocess
import sys

import numba
import numpy as np
import pytest

import samtheory as st
from samtheory.engine import kernel, kinds

ROOT = Path(__file__).parents[1]


@numba.njit
def ls_value(x, i, data):
    A, y = data
    r = -y[i]
    for j in range(x.shape[0]):
        r += A[i, j] * x[j]
    return 0.5 * r * r


@numba.njit
def ls_gradient(x, i, data, out):
    A, y = data
    r = -y[i]
    for j in range(x.shape[0]):
        r += A[i, j] * x[j]
    for j in range(x.shape[0]):
        out[j] = r * A[i, j]


@numba.njit
def ls_hvp(x, i, data, v, out):
    A, y = data
    s = 0.0
    for j in range(x.shape[0]):
        s += A[i, j] * v[j]
    for j in range(x.shape[0]):
        out[j] = s * A[i, j]


def custom_least_squares(problem, **options):
    """The built-in least-squares ``problem`` written as a Custom problem."""
    return st.problems.Custom(ls_value, ls_gradient, (problem.A, problem.y), n=problem.n,
                              d=problem.d, x0=problem.x0, hvp=ls_hvp, f_star=problem.f_star,
                              x_star=problem.x_star, L_i=problem.L_i, L=problem.L, mu=problem.mu,
                              name="custom least squares", **options)


LS = st.problems.random_least_squares(24, 5, condition=5, seed=3)
CUSTOM = custom_least_squares(LS, check_gradient=True)
RULES = {"SGD": st.SGD(0.1), "HeavyBall": st.HeavyBall(0.05), "SAM": st.SAM(0.1, 0.05),
         "USAM": st.USAM(0.1, 0.05), "AdaSAM": st.AdaSAM(0.05, 0.05),
         "StableSAM": st.StableSAM(0.1, 0.05), "RST": st.RST(0.1, 0.05, 0.5),
         "GRST": st.GRST(0.1, 0.05, 0.5, alpha=2.0), "MSAM": st.MSAM(0.05, 0.05),
         "SAM independent ascent": st.SAM(0.1, 0.05, ascent_batch="independent")}
SAMPLERS = {"WithReplacement": st.WithReplacement(3), "Importance": st.Importance(2),
            "TauNice": st.TauNice(4), "full batch": st.TauNice(24), "Independent": st.Independent(0.3),
            "Stratified": st.Stratified(4)}


def _close(a, b, rtol):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b)))


@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_custom_least_squares_matches_the_built_in_path(rule, sampler):
    run = lambda problem: st.simulate(problem, RULES[rule], SAMPLERS[sampler], steps=30,
                                      trajectories=4, seed=2, record_every=3, track_iterates=True)
    custom, built_in = run(CUSTOM), run(LS)
    assert sorted(custom.metrics) == sorted(built_in.metrics)
    for name, values in built_in.metrics.items():
        # the same objective summed in another order: rounding only
        assert _close(custom.metrics[name], values, 1e-10) < 1e-10, name
    np.testing.assert_array_equal(custom.metrics["grad_evals"], built_in.metrics["grad_evals"])


@pytest.mark.parametrize("rule", ["SAM", "MSAM", "AdaSAM", "RST"])
def test_custom_kernel_matches_the_reference_loop(rule):
    run = lambda backend: st.simulate(CUSTOM, RULES[rule], st.WithReplacement(3), steps=20,
                                      trajectories=3, seed=5, record_every=4, backend=backend,
                                      track_sharpness=True)
    kernel_run, reference = run("numba"), run("reference")
    for name, values in reference.metrics.items():
        assert _close(kernel_run.metrics[name], values, 1e-10) < 1e-10, name


def test_sharpness_of_least_squares_is_its_top_eigenvalue_and_trace():
    out = st.simulate(LS, st.SGD(0.1), st.WithReplacement(2), steps=10, trajectories=3,
                      track_sharpness=True)
    H = LS.A.T @ LS.A / LS.n
    np.testing.assert_allclose(out.metrics["sharpness"], LS.L, rtol=1e-12)
    np.testing.assert_allclose(out.metrics["hessian_trace"], np.trace(H), rtol=1e-12)
    assert "balance" not in out.metrics   # least squares conserves nothing


@pytest.mark.parametrize("problem", [st.problems.random_logistic(20, 4, reg_strength=0.3, seed=1),
                                     st.problems.random_sine_least_squares(12, 4, seed=2)],
                         ids=["logistic", "sine"])
def test_sharpness_moves_with_the_iterate_and_matches_dense_eigenvalues(problem):
    run = lambda backend: st.simulate(problem, st.SAM(0.2, 0.1), st.WithReplacement(2), steps=40,
                                      trajectories=3, seed=1, record_every=8, backend=backend,
                                      track_sharpness=True)
    fast, reference = run("numba"), run("reference")
    for name in ("sharpness", "hessian_trace"):
        assert _close(fast.metrics[name], reference.metrics[name], 1e-10) < 1e-10, name
    assert np.ptp(fast.metrics["sharpness"][0]) > 1e-3     # the Hessian depends on x here


def test_lanczos_and_hutchinson_beyond_the_dense_limit():
    d = kernel.DENSE_MAX + 22
    problem = st.problems.random_least_squares(2 * d, d, condition=20, seed=4)
    trajectories = 48
    out = st.simulate(problem, st.SGD(0.01), st.WithReplacement(2), steps=1,
                      trajectories=trajectories, seed=9, track_sharpness=True)
    # Lanczos stops once the Ritz residual is below LANCZOS_TOLERANCE·|θ|
    np.testing.assert_allclose(out.metrics["sharpness"], problem.L, rtol=1e-8)
    # Hutchinson with K Rademacher probes: unbiased, variance (2/K) Σ_{a≠b} H_ab² per record
    H = problem.hessian_at(problem.x0)
    off = np.sum(H ** 2) - np.sum(np.diag(H) ** 2)
    estimates = out.metrics["hessian_trace"][:, 0]   # one record per independent trajectory
    stderr = np.sqrt(2 * off / kernel.TRACE_PROBES / trajectories)
    assert abs(estimates.mean() - np.trace(H)) < 4 * stderr
    assert estimates.std(ddof=1) == pytest.approx(stderr * np.sqrt(trajectories), rel=0.35)


def test_track_sharpness_needs_hvp_and_a_kernel_backend():
    no_hvp = st.problems.Custom(ls_value, ls_gradient, (LS.A, LS.y), n=LS.n, d=LS.d, x0=LS.x0)
    with pytest.raises(ValueError, match="track_sharpness needs Hessian-vector products"):
        st.simulate(no_hvp, st.SGD(0.1), st.TauNice(2), steps=2, trajectories=1, track_sharpness=True)
    with pytest.raises(ValueError, match="track_sharpness runs on backend 'numba' or 'reference'"):
        st.simulate(LS, st.SGD(0.1), st.TauNice(2), steps=2, trajectories=1, track_sharpness=True,
                    backend="array")
    with pytest.raises(ValueError, match="track_sharpness must be True or False"):
        st.simulate(LS, st.SGD(0.1), st.TauNice(2), steps=2, trajectories=1, track_sharpness=1)


def test_sharpness_round_trips_through_save_and_load(tmp_path):
    out = st.simulate(CUSTOM, st.SGD(0.1), st.TauNice(2), steps=4, trajectories=2, track_sharpness=True)
    path = out.save(tmp_path / "run.npz")
    back = st.Trajectories.load(path)
    for name, values in out.metrics.items():
        np.testing.assert_array_equal(back.metrics[name], values)
    np.testing.assert_array_equal(back.problem_data["data/0"], LS.A)


# -- bad input ---------------------------------------------------------------------------

def test_functions_must_be_numba_dispatchers():
    with pytest.raises(ValueError, match="gradient must be a numba.njit function"):
        st.problems.Custom(ls_value, lambda x, i, data, out: None, (LS.A, LS.y), n=LS.n, d=LS.d,
                           x0=LS.x0)


@numba.njit
def untyped_value(x, i, data):
    return data.no_such_attribute


@numba.njit
def short_gradient(x, i, data, out):
    for j in range(x.shape[0] - 1):
        out[j] = 1.0


@numba.njit
def nan_value(x, i, data):
    return np.nan


@numba.njit
def returning_gradient(x, i, data, out):
    for j in range(x.shape[0]):
        out[j] = 0.0
    return 1.0


@numba.njit
def wrong_gradient(x, i, data, out):
    ls_gradient(x, i, data, out)
    out[0] += 0.1


@numba.njit
def wrong_hvp(x, i, data, v, out):
    ls_hvp(x, i, data, v, out)
    out[0] *= 2.0


@pytest.mark.parametrize("functions, message", [
    ((untyped_value, ls_gradient), "value failed on \\(x0, i, data\\): TypingError"),
    ((ls_value, short_gradient), "gradient must write d = 5 finite entries into out at x0; sample 0 left 1"),
    ((nan_value, ls_gradient), "value must return a finite float at x0; sample 0 gave nan"),
    ((ls_value, returning_gradient), "gradient must write .* and return None, it returned float"),
])
def test_bad_functions_are_refused_by_name(functions, message):
    with pytest.raises(ValueError, match=message):
        st.problems.Custom(*functions, (LS.A, LS.y), n=LS.n, d=LS.d, x0=LS.x0)


def test_check_gradient_names_the_function_and_sample():
    with pytest.raises(ValueError, match="gradient disagrees with finite differences of value at sample 0"):
        st.problems.Custom(ls_value, wrong_gradient, (LS.A, LS.y), n=LS.n, d=LS.d, x0=LS.x0,
                           check_gradient=True)
    with pytest.raises(ValueError, match="hvp disagrees with finite differences of gradient at sample 0"):
        st.problems.Custom(ls_value, ls_gradient, (LS.A, LS.y), n=LS.n, d=LS.d, x0=LS.x0,
                           hvp=wrong_hvp, check_gradient=True)
    assert CUSTOM.check_gradient() < 1e-7   # central differences, h = 1e-6


def test_data_and_sizes_are_checked():
    with pytest.raises(ValueError, match="data must be a tuple of NumPy arrays, got list"):
        st.problems.Custom(ls_value, ls_gradient, [LS.A, LS.y], n=LS.n, d=LS.d, x0=LS.x0)
    with pytest.raises(ValueError, match="x0 must be given"):
        st.problems.Custom(ls_value, ls_gradient, (LS.A, LS.y), n=LS.n, d=LS.d, x0=None)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        st.problems.Custom(ls_value, ls_gradient, (LS.A, LS.y), n=0, d=LS.d, x0=LS.x0)
    no_constants = st.problems.Custom(ls_value, ls_gradient, (LS.A, LS.y), n=LS.n, d=LS.d, x0=LS.x0)
    with pytest.raises(ValueError, match="Importance sampling needs every L_i"):
        st.simulate(no_constants, st.SGD(0.1), st.Importance(2), steps=2, trajectories=1)


# -- kinds: one kernel per kind, cached on disk ----------------------------------------

def test_a_kind_key_follows_the_functions_source():
    again = custom_least_squares(LS)
    assert again.kind == CUSTOM.kind and again.cacheable
    other = st.problems.Custom(ls_value, wrong_gradient, (LS.A, LS.y), n=LS.n, d=LS.d, x0=LS.x0)
    assert other.kind != CUSTOM.kind
    assert kinds.kernel_for(again) is kinds.kernel_for(CUSTOM)
    assert kinds.kernel_for(LS) is kinds.kernel_for(st.problems.random_logistic(8, 3))
    assert kinds.kernel_for(LS) is not kinds.kernel_for(CUSTOM)


def test_generated_kernel_is_the_engine_kernel_with_the_kind_bound():
    assert kinds.BINDING in kinds.kernel_source(LS)      # the generalised linear kind: as written
    text = kinds.kernel_source(CUSTOM)
    assert kinds.BINDING not in text and "def run(P, S, R, C, O, X):" in text
    assert f'_kind_functions("{CUSTOM.kind}")' in text
    uncached = st.problems.Custom(ls_value, ls_gradient, (LS.A, LS.y), n=LS.n, d=LS.d, x0=LS.x0)
    uncached.cacheable = False
    assert "cache=True" not in kinds.kernel_source(uncached)


def _readme_custom_example():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Your own objective", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_custom_example_runs_verbatim_and_a_second_process_loads_the_cache(tmp_path):
    code = _readme_custom_example() + (
        "\nfrom samtheory.engine import kinds\n"
        "import json\n"
        "stats = kinds.kernel_for(problem).stats\n"
        "print(json.dumps({'hits': sum(stats.cache_hits.values()), "
        "'misses': sum(stats.cache_misses.values())}))\n")
    (tmp_path / "mine.py").write_text(code)
    env = {**os.environ, kinds.CACHE_ENV: str(tmp_path / "kernels")}
    runs = [subprocess.run([sys.executable, "mine.py"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=300, env=env) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
    first, second = ([float(v) for v in run.stdout.split("\n")[0].split()] for run in runs)
    assert first == second
    stats = [json.loads(run.stdout.strip().split("\n")[-1]) for run in runs]
    assert stats[0]["misses"] == 1 and stats[1] == {"hits": 1, "misses": 0}
    # the same objective through the built-in path
    rng = np.random.default_rng(0)
    A, y = rng.standard_normal((64, 8)), rng.standard_normal(64)
    built_in = st.simulate(st.problems.LeastSquares(A, y, x0=np.zeros(8)), st.SAM(lr=0.05, rho=0.05),
                           st.WithReplacement(4), steps=500, trajectories=256, seed=0,
                           track_sharpness=True)
    assert first[0] == pytest.approx(built_in.summary("loss_gap")["mean"][-1], rel=1e-9)
    assert first[1] == pytest.approx(built_in.metrics["sharpness"][0, -1], rel=1e-12)


# -- one-way imports -----------------------------------------------------------------------

def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            yield ("." * node.level) + (node.module or "")
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


@pytest.mark.parametrize("module", ["problems", "sampling.py", "_core"])
def test_problems_and_samplers_do_not_import_the_engine(module):
    paths = [ROOT / "samtheory" / module] if module.endswith(".py") else sorted(
        (ROOT / "samtheory" / module).glob("*.py"))
    for path in paths:
        for name in _imports(path):
            assert "engine" not in name, f"{path.name} imports {name}"


def test_importing_rules_compiles_nothing():
    code = ("import sys, samtheory.rules\n"
            "compiled = [f'{m}.{k}' for m, mod in list(sys.modules.items()) if m.startswith('samtheory')"
            " for k, v in vars(mod).items() if getattr(v, 'signatures', None)]\n"
            "print(compiled)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


@numba.njit
def ls_objective(x, data, grad):
    A, y = data
    f = 0.0
    for j in range(x.shape[0]):
        grad[j] = 0.0
    for i in range(A.shape[0]):
        r = -y[i]
        for j in range(x.shape[0]):
            r += A[i, j] * x[j]
        f += 0.5 * r * r
        for j in range(x.shape[0]):
            grad[j] += r * A[i, j]
    for j in range(x.shape[0]):
        grad[j] /= A.shape[0]
    return f / A.shape[0]


@numba.njit
def off_objective(x, data, grad):
    f = ls_objective(x, data, grad)
    return f * 1.01


def test_an_objective_replaces_the_per_sample_metrics_and_is_checked():
    fast = st.problems.Custom(ls_value, ls_gradient, (LS.A, LS.y), n=LS.n, d=LS.d, x0=LS.x0,
                              objective=ls_objective, f_star=LS.f_star, x_star=LS.x_star)
    assert fast.kind != CUSTOM.kind and "HAS_OBJECTIVE = True" in kinds.kernel_source(fast)
    assert "HAS_OBJECTIVE = False" in kinds.kernel_source(CUSTOM)
    run = lambda problem: st.simulate(problem, st.SAM(0.1, 0.05), st.WithReplacement(3), steps=30,
                                      trajectories=4, seed=2, record_every=3)
    with_objective, built_in = run(fast), run(LS)
    for name, values in built_in.metrics.items():
        assert _close(with_objective.metrics[name], values, 1e-10) < 1e-10, name
    with pytest.raises(ValueError, match="objective must return the mean of value .* off by 0.0"):
        st.problems.Custom(ls_value, ls_gradient, (LS.A, LS.y), n=LS.n, d=LS.d, x0=LS.x0,
                           objective=off_objective)


def test_cache_directory_is_configurable_and_falls_back_when_unwritable(tmp_path, monkeypatch):
    monkeypatch.setenv(kinds.CACHE_ENV, str(tmp_path / "kernels"))
    assert kinds.cache_directory() == tmp_path / "kernels" and (tmp_path / "kernels").is_dir()
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(kinds.CACHE_ENV, str(blocker / "kernels"))   # cannot be created
    fallback = kinds.cache_directory()
    assert fallback.name.startswith("samtheory-kernels-") and os.access(fallback, os.W_OK)
