"""The smooth roofline of an in-situ GEMM (insitu.gemm_knee, archsim/cost/compute.py),
worked out by hand."""

import re
from types import SimpleNamespace

import pytest

from archsim.cost.compute import _flop_time, bound_by, compute_time, memory_time
from archsim.cost.insitu import run_device
from archsim.graph.ops import Op
from archsim.spec.efficiency import MatmulEfficiencySpec
from archsim.spec.insitu import InSituSpec
from archsim.spec.loader import load_spec_file

A100 = load_spec_file("devices", "a100-sxm4-80gb")  # 312 TFLOPS fp16, 2039 GB/s


def gemm(m, k, n, dtype="fp16"):
    return Op(name="g", kind="matmul", phase="fwd", flops=2.0 * m * k * n,
              bytes=2.0 * (m * k + k * n + m * n), dtype=dtype, shape=(1, m, k, n))


def _insitu(knee=3.43):
    """A100 whose in-situ GEMMs run at a flat 0.5 of the fp16 peak (156 TFLOPS), streams at
    0.8 of 2039 GB/s (1631.2 GB/s), no per-kernel cost, GEMM knee exponent ``knee``."""
    ins = InSituSpec(matmul_curve={"fp16": MatmulEfficiencySpec(points=((1e9, 0.5),
                                                                         (1e12, 0.5)))},
                     sustained_compute=1.0, memory_efficiency=0.8, kernel_overhead="0 us",
                     gemm_knee=knee)
    return A100.model_copy(update={"insitu": ins})


def test_a_gemm_near_the_ridge_reaches_neither_roof():
    """128×4096·4096×4096: 2·128·4096² = 4.295e9 FLOPs at 156 TFLOPS = 27.532 us; bytes
    2·(2·128·4096 + 4096²) = 35,651,584 at 1631.2 GB/s = 21.856 us (ratio 0.7938).
    max(): 27.532 us. p = 2: √(27.532² + 21.856²) = √1235.70 = 35.152 us.
    p = 3.43: 0.7938^3.43 = e^(3.43 · −0.23094) = 0.45288; 1.45288^(1/3.43) = e^0.10890 =
    1.11505; 27.532 · 1.11505 = 30.699 us."""
    op = gemm(128, 4096, 4096)
    assert compute_time(op, _insitu(knee=None)) == pytest.approx(27.532e-6, rel=1e-4)
    assert compute_time(op, _insitu(knee=2.0)) == pytest.approx(35.152e-6, rel=1e-4)
    assert compute_time(op, _insitu()) == pytest.approx(30.699e-6, rel=1e-4)
    assert bound_by(op, _insitu()) == "compute"  # the larger term, as before


def test_far_from_the_ridge_it_is_the_roofline():
    """8192³: 1.0995e12 FLOPs at 156 TFLOPS = 7.0481 ms; bytes 3·2·8192² = 402.65 MB at
    1631.2 GB/s = 246.8 us (ratio 0.0350, 0.0350^3.43 ≈ 1e-5: +0.0003%).
    1×8192·8192×8192 (a decode GEMV): 1.342e8 FLOPs = 0.860 us; bytes
    2·(8192 + 8192² + 8192) = 134,250,496 = 82.30 us (ratio 0.0105): 82.30 us."""
    assert compute_time(gemm(8192, 8192, 8192), _insitu()) == pytest.approx(7.0481e-3,
                                                                            rel=1e-4)
    assert compute_time(gemm(1, 8192, 8192), _insitu()) == pytest.approx(82.30e-6, rel=1e-4)


def test_fused_attention_and_elementwise_ops_keep_max():
    """Only GEMM kernels were measured: other ops near their ridge keep max(). Both move
    1.6312e8 B at 1631.2 GB/s = 100 us. The attention op's 2e10 FLOPs on the A100's
    attention curve take less (75 us): 100 us. The elementwise op's 1e9 FLOPs at the vector
    rate 19.5 TFLOPS · 0.5 take 102.56 us: 102.56 us (the knee would add ~20% to each)."""
    attn = Op(name="attn", kind="attention", phase="fwd", flops=2e10, bytes=1.6312e8,
              dtype="fp16", shape=(32, 128, 128, 128))
    ew = Op(name="add", kind="elementwise", phase="fwd", flops=1e9, bytes=1.6312e8,
            dtype="fp16")
    assert 0.5 < _flop_time(attn, _insitu()) / memory_time(attn, _insitu()) < 1
    assert compute_time(attn, _insitu()) == pytest.approx(100e-6, rel=1e-6)
    assert compute_time(ew, _insitu()) == pytest.approx(102.56e-6, rel=1e-4)


def test_a_gemm_with_fused_dequantization_keeps_max():
    """Weight-only quantization puts vector work in the GEMM (2 FLOPs per weight), which the
    measured GEMMs did not have. 128×4096·4096×4096 with 2·4096² = 33.55e6 vector FLOPs at
    19.5 TFLOPS · 0.5 (the A100's vector rate) = 3.441 us more: t_flops 27.532 + 3.441 =
    30.973 us against 21.856 us of bytes: max() = 30.973 us (the knee would give 33.45 us)."""
    op = Op(name="g", kind="matmul", phase="fwd", flops=2.0 * 128 * 4096 * 4096,
            bytes=2.0 * (2 * 128 * 4096 + 4096 * 4096), dtype="fp16", shape=(1, 128, 4096, 4096),
            vector_flops=2.0 * 4096 * 4096)
    assert compute_time(op, _insitu()) == pytest.approx(30.973e-6, rel=1e-4)


def test_isolated_model_keeps_max():
    """Without in-situ parameters a GEMM is the isolated roofline plus the 5 us launch:
    136,314,880 B (64×8192·8192×8192) at 2039 GB/s · 0.925 (the profile's isolated memory
    efficiency) = 72.27 us."""
    iso = A100.model_copy(update={"insitu": None})
    op = gemm(64, 8192, 8192)
    assert memory_time(op, iso) == pytest.approx(72.27e-6, rel=1e-3)
    assert compute_time(op, iso) == max(_flop_time(op, iso), memory_time(op, iso)) + 5e-6


@pytest.mark.parametrize("kind", ["training", "inference", "serving"])
def test_training_and_inference_runs_both_carry_it(kind):
    """cuBLAS serves PyTorch training and inference engines alike: the run's view of the
    device keeps the knee whatever the workload."""
    plan = SimpleNamespace(attention_kernel="auto")
    dev = run_device(_insitu(), plan, SimpleNamespace(kind=kind, cuda_graphs=False))
    assert dev.insitu.gemm_knee == 3.43


def test_knee_below_one_is_refused():
    """p < 1 would make the sum of two times exceed their sum: not a roofline."""
    with pytest.raises(ValueError, match=re.escape(
            "gemm_knee\n  Input should be greater than or equal to 1 [type=greater_than_equal, "
            "input_value=0.5, input_type=float]")):
        InSituSpec(gemm_knee=0.5)
