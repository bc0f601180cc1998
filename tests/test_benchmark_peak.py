"""The flop count of ``experiments/benchmark_peak.py``, checked against a hand count.

One gradient on b rows of dimension d (``engine.glm.batch_gradient``, squared loss): per row
a dot product (d mult, d add), s·(u − y) (1 mult, 1 add), w·dl (1 mult), the axpy
(d mult, d add) and the weight sum (1 add). A record (``objective`` with the exact gap, then
‖∇f‖² and ‖x − x*‖²): x − x* (d add), Hz (d² mult, d² add), zᵀHz (d, d), ½q + offset (1, 1),
‖∇f‖² (d, d), ‖x − x*‖² (d mult, 2d add), the running sum (1 add).
"""
import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "experiments" / "benchmark_peak.py"


@pytest.fixture(scope="module")
def benchmark_peak():
    spec = importlib.util.spec_from_file_location("benchmark_peak", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sgd_and_sam_counts_match_the_hand_count(benchmark_peak):
    d, b, every = 3, 2, 4
    gradient = b * (d + 1 + 1 + d), b * (d + 1 + d + 1)                    # (16, 16)
    record = d * d + d + 1 + d + d, d + d * d + d + 1 + d + 2 * d + 1      # (19, 26)
    sgd_update = d, d                                                      # x −= γh
    # ‖g‖² (d, d); ρ(1 − λ + λ/(√‖g‖² + 1e-12)): 1 mult, 1 div, 1 sqrt (with the mults),
    # 3 add; x + s·g (d, d)
    perturbation = d + 1 + 1 + 1 + d, d + 3 + d                             # (9, 9)
    sgd = [gradient[k] + sgd_update[k] + record[k] / every for k in (0, 1)]
    sam = [2 * gradient[k] + perturbation[k] + sgd_update[k] + record[k] / every for k in (0, 1)]
    assert sgd == [16 + 3 + 4.75, 16 + 3 + 6.5]
    assert benchmark_peak.flops_per_step("SGD", d, b, every) == tuple(sgd)
    assert benchmark_peak.flops_per_step("SAM", d, b, every) == tuple(sam)
    assert benchmark_peak.flops_per_step("USAM", d, b, every) == tuple(sam)


def test_rst_is_the_expectation_over_its_coin(benchmark_peak):
    sgd = benchmark_peak.flops_per_step("SGD", 64, 8, 10)
    sam = benchmark_peak.flops_per_step("SAM", 64, 8, 10)
    for p in (0.0, 0.5, 1.0):
        rst = benchmark_peak.flops_per_step("RST", 64, 8, 10, perturb_prob=p)
        assert rst == pytest.approx([s + p * (t - s) for s, t in zip(sgd, sam)], rel=1e-15)
