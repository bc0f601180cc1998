"""The array backend (NumPy, and CuPy on a GPU) reproduces the Numba kernel.

Promises:
- ``backend="array"`` gives the Numba kernel's metrics, final iterates,
  divergence steps and evaluation counts to relative 1e-10, for every case of
  ``tests/test_reference_agreement.py``: every preset on every problem, every
  sampler, per-trajectory starting points, diverging runs, running iterate
  metrics;
- its results do not depend on the chunk size: chunks of 1, 7 and all
  trajectories give bit-identical outputs;
- on the Custom landscape families (``problems.landscapes``) it gives the
  reference engine's outputs to relative 1e-10 for SGD and SAM on a gathered
  (WithReplacement) and a padded (Independent) sampler, the reference
  evaluating the families' compiled functions only (and so does the cupy
  backend where CuPy and a GPU are present); its results are
  bit-identical for chunks of 1, 3 and all trajectories; a Custom problem
  without ``array_functions`` is refused with a ValueError naming the backends
  that run it;
- the working-memory estimate that sizes the chunks bounds NumPy's measured
  peak (GLM problems and the landscape families), and outputs that cannot fit
  in host memory are refused up front;
- ``backend="cupy"`` without CuPy, or without a GPU, raises an error saying what
  is missing; ``backend="auto"`` falls back to numba and says so, and picks
  cupy when CuPy and a GPU answer (checked with a stand-in CuPy module that
  computes with NumPy, which runs the whole cupy code path but the hardware);
- with CuPy and a GPU present, the cupy backend agrees with numba (skipped on
  machines without them: the NumPy path above runs the same code).
"""
import logging
import sys
import tracemalloc
import types

import numpy as np
import pytest

import samtheory as st
from samtheory.engine import simulate as simulate_module
from samtheory.engine import vectorised
from samtheory.rules import SGD, SAM, AdaSAM, MSAM
from samtheory.sampling import Independent, Stratified, TauNice, WithReplacement

from test_reference_agreement import (DIVERGING_RULES, PROBLEMS, RULES, RUN, SAMPLERS,
                                      SAMPLER_RULES, SAMPLER_RUN, TRACK_CASES, TRACK_PROBLEMS,
                                      TRACK_RUN, assert_backends_agree, assert_close,
                                      assert_divergence_pattern, _diverging_setup, get_problem,
                                      make_rule, running_magnitude)

ARRAY = ("array", "numba")     # (compared, expected)


# -- the array backend reproduces numba ------------------------------------------

@pytest.mark.parametrize("problem_name", list(PROBLEMS))
@pytest.mark.parametrize("case", list(RULES))
def test_every_preset_agrees_with_numba(case, problem_name):
    problem = get_problem(problem_name)
    array, numba = assert_backends_agree(problem, make_rule(case, problem), WithReplacement(2),
                                         backends=ARRAY, **RUN)
    assert array.config["backend"] == "array" and array.config["chunk_size"] == RUN["trajectories"]


@pytest.mark.parametrize("problem_name", ["least_squares", "logistic"])
@pytest.mark.parametrize("case", SAMPLER_RULES)
@pytest.mark.parametrize("sampler_name", list(SAMPLERS))
def test_every_sampler_agrees_with_numba(sampler_name, case, problem_name):
    problem = get_problem(problem_name)
    assert_backends_agree(problem, make_rule(case, problem), SAMPLERS[sampler_name](problem.n),
                          backends=ARRAY, **SAMPLER_RUN)


def test_starting_points_and_a_large_seed_agree():
    problem = get_problem("sine_least_squares")
    x0 = np.random.default_rng(3).standard_normal((5, problem.d))
    assert_backends_agree(problem, make_rule("RST_Linear", problem), Independent(0.4),
                          backends=ARRAY, steps=30, trajectories=5, seed=2 ** 64 - 1,
                          record_every=4, x0=x0)


@pytest.mark.parametrize("record_every", [1, 7, 1000])
@pytest.mark.parametrize("rule", [SGD(10.0), *DIVERGING_RULES], ids=lambda rule: rule.name)
def test_divergence_agrees_with_numba(rule, record_every):
    problem, x0 = _diverging_setup()
    array, numba = assert_backends_agree(problem, rule, TauNice(3), backends=ARRAY, steps=300,
                                         trajectories=4, seed=2, record_every=record_every, x0=x0)
    np.testing.assert_array_equal(array.final_x[0], 0.0)      # x* = 0 never moves
    assert array.diverged_at[0] == -1 and (array.diverged_at[1:] > 0).all()
    for r in range(1, 4):
        assert_divergence_pattern(array, r)


@pytest.mark.parametrize("problem_name", TRACK_PROBLEMS)
@pytest.mark.parametrize("case", TRACK_CASES)
def test_track_iterates_agrees_with_numba(case, problem_name):
    problem = get_problem(problem_name)
    array, _ = assert_backends_agree(problem, make_rule(case, problem), TauNice(2), backends=ARRAY,
                                     **TRACK_RUN)
    assert {"avg_grad_norm_sq", "min_grad_norm_sq"} <= set(array.metrics)


def test_track_iterates_with_divergence_agrees_with_numba():
    problem, x0 = _diverging_setup()
    array, _ = assert_backends_agree(problem, SGD(10.0), WithReplacement(2), backends=ARRAY,
                                     steps=300, trajectories=4, seed=3, record_every=10, x0=x0,
                                     track_iterates=True)
    assert np.isnan(array.metrics["avg_grad_norm_sq"][1:, -1]).all()


# -- chunking ----------------------------------------------------------------------

def _outputs(traj):
    return {"final_x": traj.final_x, "diverged_at": traj.diverged_at, **traj.metrics}


CHUNKED = {
    "SAM_with_replacement": lambda: (get_problem("least_squares"),
                                     make_rule("SAM", get_problem("least_squares")),
                                     WithReplacement(3), {}),
    "GRST_independent_logistic": lambda: (get_problem("logistic"),
                                          make_rule("GRST_mix_independent_ascent",
                                                    get_problem("logistic")),
                                          Independent(0.3), {"track_iterates": True}),
    "AdaSAM_stratified_sine": lambda: (get_problem("sine_least_squares"),
                                       AdaSAM(0.02, 0.05).stabilised(), Stratified(4), {}),
    "diverging_MSAM_tau_nice": lambda: (_diverging_setup()[0], MSAM(8.0, 1.0, momentum=0.9),
                                        TauNice(3), {"x0": np.tile(_diverging_setup()[1], (3, 1)),
                                                     "steps": 300}),
}


@pytest.mark.parametrize("name", list(CHUNKED))
def test_results_do_not_depend_on_the_chunk_size(name):
    problem, rule, sampler, options = CHUNKED[name]()
    trajectories = 12
    options = {"steps": 40, **options}
    runs = [st.simulate(problem, rule, sampler, trajectories=trajectories, seed=31,
                        record_every=3, backend="array", chunk_size=chunk, **options)
            for chunk in (1, 7, trajectories, None)]
    assert [run.config["chunk_size"] for run in runs] == [1, 7, trajectories, trajectories]
    first = _outputs(runs[0])
    for run in runs[1:]:
        other = _outputs(run)
        assert sorted(other) == sorted(first)
        for key in first:
            np.testing.assert_array_equal(other[key], first[key], err_msg=f"{name}: {key}")
    if name.startswith("diverging"):
        assert runs[0].diverged.sum() == 9          # every row but the three started at x*


def test_automatic_chunks_follow_the_memory_budget():
    problem = st.problems.random_least_squares(64, 16, seed=0)
    rule, sampler = SAM(0.1, 0.05, ascent_batch="independent"), WithReplacement(8)
    per_trajectory = vectorised.chunk_bytes_per_trajectory(problem, rule, sampler.bind(problem))
    # 24 d + 2 batches x (b d + 12 b) + 2 x 8 uniforms, in float64 words
    assert per_trajectory == 8 * (24 * 16 + 2 * (8 * 16 + 12 * 8) + 2 * 8)
    device = vectorised.Device("test", np, np.asarray, budget=10 * per_trajectory + 5)
    plan = st.engine.simulate.memory_plan(problem, rule, sampler, steps=100, trajectories=25,
                                          backend="array", device=device)
    assert plan["chunk_size"] == 10 and plan["records"] == 101
    assert plan["device_peak_bytes_estimate"] == 10 * per_trajectory + vectorised.problem_bytes(
        problem, sampler.bind(problem))
    assert plan["host_output_bytes"] == 8 * 25 * (101 * 4 + 2 * 16 + 1)   # 4 metrics with x*


MEMORY_PROBLEMS = {
    "least_squares": lambda: st.problems.random_least_squares(512, 32, seed=1),
    "diagonal_network": lambda: st.problems.diagonal_network(64, 16, sparsity=2),
    "matrix_sensing": lambda: st.problems.matrix_sensing(64, 6, rank=1, width=3),
    "two_layer": lambda: st.problems.two_layer(64, 8, width=6, teacher_width=2),
}


@pytest.mark.parametrize("problem_name, rule, sampler", [
    ("least_squares", SAM(0.1, 0.05, ascent_batch="independent"), WithReplacement(8)),
    ("logistic", make_rule("GRST_mix_independent_ascent", get_problem("logistic")),
     Independent(0.5)),
    ("sine_least_squares", AdaSAM(0.02, 0.05), TauNice(16)),
    ("diagonal_network", SAM(0.01, 0.05, ascent_batch="independent"), WithReplacement(4)),
    ("matrix_sensing", SAM(0.01, 0.05, ascent_batch="independent"), Independent(0.5)),
    ("two_layer", SAM(0.01, 0.05), TauNice(64)),
])
def test_memory_estimate_bounds_the_measured_peak(problem_name, rule, sampler):
    problem = MEMORY_PROBLEMS.get(problem_name, lambda: get_problem(problem_name))()
    chunk, steps = 200, 5
    options = dict(steps=steps, trajectories=chunk, record_every=1, backend="array",
                   chunk_size=chunk)
    st.simulate(problem, rule, sampler, **options)    # warm caches outside the measurement
    tracemalloc.start()
    try:
        out = st.simulate(problem, rule, sampler, **options)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    plan = st.engine.simulate.memory_plan(problem, rule, sampler, steps=steps, trajectories=chunk,
                                          record_every=1, backend="array", chunk_size=chunk)
    estimate = plan["device_peak_bytes_estimate"] + plan["host_output_bytes"]
    assert out.config["peak_device_bytes_estimate"] == plan["device_peak_bytes_estimate"]
    assert peak <= estimate, (peak, estimate)
    assert peak >= 0.25 * estimate, (peak, estimate)   # an upper bound, not a wild one


def test_outputs_too_large_for_the_host_are_refused_up_front():
    problem = get_problem("least_squares")
    with pytest.raises(ValueError, match=r"bytes.*record_every >= \d+"):
        st.simulate(problem, SGD(0.1), WithReplacement(2), steps=10 ** 5, trajectories=10 ** 7,
                    record_every=1, backend="array")


def _gpu_reason():
    cupy, description = vectorised.probe_cupy()
    return None if cupy is not None else description


# Hardware guard only: backend='array' runs the same code on NumPy in every test.
GPU_ONLY = pytest.mark.skipif(_gpu_reason() is not None,
                              reason=f"needs CuPy and a GPU: {_gpu_reason()}")


# -- Custom problems: the landscape families -----------------------------------------

FAMILIES = {
    "diagonal_network": lambda: st.problems.diagonal_network(8, 3, sparsity=2, noise=0.1, seed=1),
    "matrix_sensing": lambda: st.problems.matrix_sensing(8, 3, rank=1, width=2, seed=2,
                                                         init_scale=0.3),
    "two_layer": lambda: st.problems.two_layer(8, 3, width=3, teacher_width=2, seed=3),
}
FAMILY_RUN = dict(steps=25, trajectories=5, seed=11, record_every=4)


def _compiled_twin(problem):
    """The same objective as a plain Custom problem: its compiled functions only, so the
    reference backend evaluates them and not the family's NumPy methods."""
    return st.problems.Custom(problem.value, problem.gradient_function, problem.data,
                              n=problem.n, d=problem.d, x0=problem.x0, f_star=problem.f_star,
                              f_inf=problem.f_inf)


FAMILY_CASES = [pytest.mark.parametrize("sampler", [WithReplacement(2), Independent(0.5)],
                                        ids=["with_replacement", "independent"]),
                pytest.mark.parametrize("rule", [SGD(0.05), SAM(0.05, 0.1)], ids=["SGD", "SAM"]),
                pytest.mark.parametrize("name", list(FAMILIES))]


def _cases(test):
    for mark in FAMILY_CASES:
        test = mark(test)
    return test


@_cases
def test_families_agree_with_the_reference(name, rule, sampler):
    _family_agrees_with_the_reference(name, rule, sampler, "array")


@GPU_ONLY
@_cases
def test_families_on_cupy_agree_with_the_reference(name, rule, sampler):
    _family_agrees_with_the_reference(name, rule, sampler, "cupy")


def _family_agrees_with_the_reference(name, rule, sampler, backend):
    problem = FAMILIES[name]()
    array = st.simulate(problem, rule, sampler, backend=backend, **FAMILY_RUN)
    ref = st.simulate(_compiled_twin(problem), rule, sampler, backend="reference", **FAMILY_RUN)
    assert sorted(array.metrics) == sorted(ref.metrics) == ["grad_evals", "grad_norm_sq",
                                                            "loss_gap"]
    np.testing.assert_array_equal(array.diverged_at, ref.diverged_at)
    assert (array.diverged_at == -1).all()
    np.testing.assert_array_equal(array.metrics["grad_evals"], ref.metrics["grad_evals"])
    for key in ("loss_gap", "grad_norm_sq"):
        assert_close(key, array.metrics[key], ref.metrics[key], running_magnitude(ref.metrics[key]))
    assert_close("final_x", array.final_x, ref.final_x,
                 np.maximum(np.abs(ref.final_x).max(axis=1, keepdims=True), 1.0))
    assert np.abs(array.final_x - problem.x0).min() > 0          # every coordinate moved
    assert (array.metrics["loss_gap"][:, -1] < array.metrics["loss_gap"][:, 0]).all()


@pytest.mark.parametrize("name", list(FAMILIES))
def test_family_results_do_not_depend_on_the_chunk_size(name):
    problem = FAMILIES[name]()
    for rule, sampler, track in [(SAM(0.05, 0.1), WithReplacement(2), False),
                                 (SAM(0.05, 0.1, ascent_batch="independent"), Independent(0.5),
                                  True)]:
        options = dict(FAMILY_RUN, trajectories=7, track_iterates=track, backend="array")
        runs = [_outputs(st.simulate(problem, rule, sampler, chunk_size=chunk, **options))
                for chunk in (1, 3, 7)]
        for other in runs[1:]:
            assert sorted(other) == sorted(runs[0])
            for key in runs[0]:
                np.testing.assert_array_equal(other[key], runs[0][key], err_msg=f"{name}: {key}")


def test_custom_problem_without_array_functions_is_refused():
    problem = _compiled_twin(FAMILIES["diagonal_network"]())
    message = (r"backend 'array' runs a Custom problem only with array_functions; use "
               r"backend='numba' or 'reference'")
    with pytest.raises(ValueError, match=message):
        st.simulate(problem, SGD(0.1), WithReplacement(2), steps=2, trajectories=2,
                    backend="array")
    rule, bound = SGD(0.1), WithReplacement(2).bind(problem)
    schedules = dict(zip(("lr", "rho", "lam", "perturb_prob"), rule.arrays(2)))
    with pytest.raises(ValueError, match=message):
        vectorised.simulate_array(problem, rule, bound, schedules, problem.x0[None, :], 0,
                                  np.array([0, 2]), False, device=vectorised.NUMPY, chunk_size=1)


# -- backend choice and errors --------------------------------------------------------

def test_bad_backend_options_name_the_parameter():
    problem, rule, sampler = get_problem("quadratic"), SGD(0.1), WithReplacement(1)
    with pytest.raises(ValueError, match=r"backend must be one of \['numba', 'reference', "
                                         r"'array', 'cupy', 'auto', 'exact'\]"):
        st.simulate(problem, rule, sampler, steps=2, trajectories=2, backend="gpu")
    for chunk in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="chunk_size must be an integer >= 1"):
            st.simulate(problem, rule, sampler, steps=2, trajectories=2, backend="array",
                        chunk_size=chunk)
    with pytest.raises(ValueError, match="chunk_size applies only to backend 'array'"):
        st.simulate(problem, rule, sampler, steps=2, trajectories=2, chunk_size=4)


def _without_cupy(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)     # `import cupy` raises ImportError


def test_cupy_backend_without_cupy_says_what_is_missing(monkeypatch):
    _without_cupy(monkeypatch)
    with pytest.raises(RuntimeError, match=r"backend='cupy' is not available: CuPy is not "
                                           r"installed.*pip install -e '\.\[gpu\]'"):
        st.simulate(get_problem("quadratic"), SGD(0.1), WithReplacement(1), steps=2,
                    trajectories=2, backend="cupy")


def test_auto_falls_back_to_numba_and_says_so(monkeypatch, caplog):
    _without_cupy(monkeypatch)
    problem = get_problem("logistic")
    rule = make_rule("RST_Linear", problem)
    with caplog.at_level(logging.INFO, logger="samtheory"):
        auto = st.simulate(problem, rule, TauNice(3), steps=20, trajectories=3, seed=5,
                           backend="auto", chunk_size=2)
    numba = st.simulate(problem, rule, TauNice(3), steps=20, trajectories=3, seed=5)
    assert auto.config["backend"] == "numba"
    assert auto.config["backend_auto"].startswith("backend='auto' chose numba (no usable GPU: "
                                                  "CuPy is not installed")
    assert auto.config["backend_auto"] in caplog.text
    np.testing.assert_array_equal(auto.final_x, numba.final_x)


def _stand_in_cupy(gpus=1):
    """A module that answers like CuPy on one GPU but computes with NumPy."""
    fake = types.ModuleType("cupy")
    fake.__getattr__ = lambda name: getattr(np, name)
    fake.__version__ = "0.0-stand-in"
    fake.asnumpy = lambda a: np.array(a, copy=True)    # a copy, as a device-to-host transfer

    class Pool:
        held = 0

        def total_bytes(self):
            return self.held

        def free_all_blocks(self):
            self.held = 12345

    pool = Pool()

    def device_count():
        if gpus < 1:
            raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
        return gpus

    runtime = types.SimpleNamespace(getDeviceCount=device_count,
                                    getDeviceProperties=lambda i: {"name": b"Stand-in GPU"},
                                    memGetInfo=lambda: (2 ** 30, 2 ** 32))
    fake.cuda = types.SimpleNamespace(runtime=runtime, Device=lambda: types.SimpleNamespace(id=0))
    fake.get_default_memory_pool = lambda: pool
    return fake


def test_cupy_without_a_gpu_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", _stand_in_cupy(gpus=0))
    with pytest.raises(RuntimeError, match="CuPy is installed but cannot use a GPU.*cudaErrorNoDevice"):
        st.simulate(get_problem("quadratic"), SGD(0.1), WithReplacement(1), steps=2,
                    trajectories=2, backend="cupy")
    backend, note = simulate_module.choose_auto()
    assert backend == "numba" and "cannot use a GPU" in note


def test_auto_picks_cupy_when_a_gpu_answers(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", _stand_in_cupy())
    problem = get_problem("sine_least_squares")
    rule = make_rule("GRST_mix_independent_ascent", problem)
    options = dict(steps=25, trajectories=5, seed=8, record_every=4, track_iterates=True)
    auto = st.simulate(problem, rule, Independent(0.5), backend="auto", chunk_size=2, **options)
    array = st.simulate(problem, rule, Independent(0.5), backend="array", **options)
    assert auto.config["backend"] == "cupy"
    assert auto.config["backend_auto"] == ("backend='auto' chose cupy: CuPy 0.0-stand-in on "
                                           "Stand-in GPU")
    assert auto.config["device"] == "CuPy 0.0-stand-in on Stand-in GPU"
    assert auto.config["chunk_size"] == 2 and auto.config["peak_device_bytes_measured"] == 12345
    assert array.config["peak_device_bytes_measured"] is None
    for key, value in _outputs(array).items():
        np.testing.assert_array_equal(_outputs(auto)[key], value, err_msg=key)


# -- on a GPU ------------------------------------------------------------------------------

@GPU_ONLY
@pytest.mark.parametrize("problem_name", ["least_squares", "logistic", "sine_least_squares"])
def test_cupy_backend_agrees_with_numba(problem_name):
    problem = get_problem(problem_name)
    for case in RULES:
        assert_backends_agree(problem, make_rule(case, problem), WithReplacement(2),
                              backends=("cupy", "numba"), **RUN)
    for name, sampler in SAMPLERS.items():
        for case in SAMPLER_RULES:
            assert_backends_agree(problem, make_rule(case, problem), sampler(problem.n),
                                  backends=("cupy", "numba"), **SAMPLER_RUN)
    problem, x0 = _diverging_setup()
    assert_backends_agree(problem, SGD(10.0), WithReplacement(2), backends=("cupy", "numba"),
                          steps=300, trajectories=4, seed=3, record_every=10, x0=x0,
                          track_iterates=True)
    chunked = [st.simulate(problem, SAM(0.01, 0.1), TauNice(3), steps=50, trajectories=9, seed=1,
                           backend="cupy", chunk_size=chunk) for chunk in (1, 4, 9)]
    for run in chunked[1:]:
        np.testing.assert_array_equal(run.final_x, chunked[0].final_x)
