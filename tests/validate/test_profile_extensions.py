"""Calibrated-profile fields the cost model reads: an attention curve, per-kind vector
efficiency, and the free-form ``calibration`` block (not read by the simulator)."""

from __future__ import annotations

import pytest

from archsim.cost.compute import compute_time
from archsim.graph.ops import Op
from archsim.spec.errors import SpecError
from archsim.spec.loader import load_spec_file

BASE = {
    "name": "toy", "kind": "cpu", "peak": {"fp32": "100 GFLOPS"},
    "vector_peak": "100 GFLOPS",
    "memory": {"capacity": "16 GiB", "bandwidth": "10 GB/s"}, "tdp": "100 W",
    "launch_overhead": "1 us",
    "efficiency": {"memory": 1.0, "vector": 0.5, "matmul": {"points": [[1e3, 0.5]]}},
}


def _device(**efficiency):
    data = {**BASE, "efficiency": {**BASE["efficiency"], **efficiency},
            "calibration": {"info": {"host": "x"}, "raw": {"gemm": [{"m": 1}]}}}
    return load_spec_file("devices", data)


def test_attention_curve_replaces_matmul_curve_for_fused_attention():
    dev = _device(attention={"points": [[1e3, 0.25]]})
    attn = Op(name="attn", kind="attention", phase="fwd", flops=1e9, bytes=0.0, dtype="fp32",
              shape=(1, 1, 1, 1))
    gemm = Op(name="mm", kind="matmul", phase="fwd", flops=1e9, bytes=0.0, dtype="fp32",
              shape=(1, 1, 1, 1))
    # attention: 1e9 / (100e9 · 0.25) = 40 ms; GEMM: 1e9 / (100e9 · 0.5) = 20 ms; + 1 us launch
    assert compute_time(attn, dev) == pytest.approx(0.040001)
    assert compute_time(gemm, dev) == pytest.approx(0.020001)
    # without an attention curve both use the matmul curve
    assert compute_time(attn, _device()) == pytest.approx(0.020001)


def test_vector_efficiency_per_kind_falls_back_to_vector():
    dev = _device(by_kind={"norm": 0.1})
    norm = Op(name="ln", kind="norm", phase="fwd", flops=1e8, bytes=0.0, dtype="fp32")
    act = Op(name="gelu", kind="elementwise", phase="fwd", flops=1e8, bytes=0.0, dtype="fp32")
    # norm: 1e8 / (100e9 · 0.1) = 10 ms; elementwise: 1e8 / (100e9 · 0.5) = 2 ms
    assert compute_time(norm, dev) == pytest.approx(0.010001)
    assert compute_time(act, dev) == pytest.approx(0.002001)


def test_calibration_block_is_kept_but_not_simulated():
    dev = _device()
    assert dev.calibration == {"info": {"host": "x"}, "raw": {"gemm": [{"m": 1}]}}


def test_by_kind_efficiency_out_of_range_is_a_spec_error():
    with pytest.raises(SpecError, match=r"efficiency.by_kind: .*norm: efficiency 1.5 must be "
                                        r"in \(0, 1\]"):
        _device(by_kind={"norm": 1.5})


def test_backward_kernels_may_have_their_own_efficiency():
    dev = _device(by_kind={"norm": 0.1, "norm.bwd": 0.05})
    fwd = Op(name="ln", kind="norm", phase="fwd", flops=1e8, bytes=0.0, dtype="fp32")
    bwd = Op(name="ln.bwd", kind="norm", phase="bwd", flops=1e8, bytes=0.0, dtype="fp32")
    # fwd: 1e8 / (100e9 · 0.1) = 10 ms; bwd: 1e8 / (100e9 · 0.05) = 20 ms
    assert compute_time(fwd, dev) == pytest.approx(0.010001)
    assert compute_time(bwd, dev) == pytest.approx(0.020001)


def test_ops_that_fit_in_the_cache_stream_at_the_cache_bandwidth():
    data = {**BASE, "sram": "1 MB",
            "memory": {**BASE["memory"], "cache_bandwidth": "100 GB/s"}}
    dev = load_spec_file("devices", data)
    small = Op(name="add", kind="elementwise", phase="fwd", bytes=1e6, dtype="fp32")
    large = Op(name="add", kind="elementwise", phase="fwd", bytes=2e6, dtype="fp32")
    # 1 MB fits the 1 MB cache: 1e6 / 100e9 = 10 us; 2 MB does not: 2e6 / 10e9 = 200 us
    assert compute_time(small, dev) == pytest.approx(11e-6)
    assert compute_time(large, dev) == pytest.approx(201e-6)
    # without a cache bandwidth the memory bandwidth applies: 1e6 / 10e9 = 100 us
    assert compute_time(small, _device()) == pytest.approx(101e-6)
