"""Wave quantisation of GEMMs (archsim/cost/tiles.py) and its place in the in-situ model,
worked out by hand."""

import pytest

from archsim.cost.compute import _flop_time
from archsim.cost.tiles import tile_rows, wave_time, waves
from archsim.graph.ops import Op
from archsim.spec.efficiency import MatmulEfficiencySpec
from archsim.spec.insitu import InSituSpec
from archsim.spec.loader import load_spec_file

A100 = load_spec_file("devices", "a100-sxm4-80gb")


def gemm(m, k, n, dtype="fp16"):
    return Op(name="g", kind="matmul", phase="fwd", flops=2.0 * m * k * n,
              bytes=2.0 * (m * k + k * n + m * n), dtype=dtype, shape=(1, m, k, n))


@pytest.mark.parametrize(("m", "rows"), [(16, 16), (17, 32), (64, 64), (100, 128), (128, 128),
                                         (4096, 128)])
def test_tile_rows_shrink_to_small_m(m, rows):
    assert tile_rows(m) == rows


def test_fewer_rows_than_one_mma_have_no_tile_bound():
    """m = 1…15 (decode of a few sequences): a GEMV streams the weights, no tile waves."""
    assert wave_time((1, 1, 8192, 8192), 108, 312e12) == 0.0
    assert wave_time((1, 15, 8192, 8192), 108, 312e12) == 0.0


def test_a_short_prompt_gemm_runs_in_one_partial_wave():
    """128×8192·8192×8192 on 108 SMs: 1 tile row × 8192/128 = 64 tile columns = 64 tiles,
    one wave that keeps 64 of 108 SMs busy. Each tile is 2·128·128·8192 = 268,435,456 FLOPs
    at 312 TFLOPS / 108 = 2.8889 TFLOPS per SM: 92.92 us, against 55.06 us for the same
    17.18 GFLOPs spread over the whole chip (55.06 / (64/108) = 92.92)."""
    assert waves(1, 128, 8192, 108) == (64, 1)
    assert wave_time((1, 128, 8192, 8192), 108, 312e12) == pytest.approx(92.92e-6, rel=1e-4)


def test_a_long_prompt_gemm_loses_only_its_last_wave():
    """2048×8192·8192×8192: 16 · 64 = 1024 tiles in ⌈1024/108⌉ = 10 waves (9.48 of work):
    10 · 92.92 us = 929.2 us against 880.9 us spread evenly (5.5% more)."""
    assert waves(1, 2048, 8192, 108) == (1024, 10)
    assert wave_time((1, 2048, 8192, 8192), 108, 312e12) == pytest.approx(929.2e-6, rel=1e-4)


def test_a_batch_of_small_gemms_shares_the_waves():
    """8 × (64×128·128×256): tiles of 64 rows (m = 64), 8 · 1 · 2 = 16 tiles, one wave."""
    assert waves(8, 64, 256, 108) == (16, 1)


def _insitu(device, **update):
    """A100 with a two-point fp16 in-situ sweep (0.4 at 1e9 FLOPs, 0.8 at 1e12 and beyond)
    as an inference run sees it (engine GEMMs)."""
    ins = InSituSpec(matmul_curve={"fp16": MatmulEfficiencySpec(points=((1e9, 0.4),
                                                                         (1e12, 0.8)))},
                     sustained_compute=1.0, engine_gemms=True)
    return device.model_copy(update={"insitu": ins, **update})


def test_in_situ_skinny_gemm_is_bound_by_its_waves():
    """128×14848·14848×1984 (Falcon-180B's QKV at TP8, a 128-token prompt) on 108 SMs:
    1 · ⌈1984/128⌉ = 16 tiles, one wave; a tile is 2·128·128·14848 = 486,539,264 FLOPs at
    312 TFLOPS · 0.8 (the sweep's largest GEMM) / 108 = 2.3111 TFLOPS per SM: 210.5 us.
    The sweep alone reads 7.541e9 FLOPs at 0.4 + 0.4 · log10(7.541)/3 = 0.5170: 46.75 us."""
    op = gemm(128, 14848, 1984)
    assert _flop_time(op, _insitu(A100)) == pytest.approx(210.5e-6, rel=1e-3)
    assert _flop_time(op, _insitu(A100, compute_units=None)) == pytest.approx(46.75e-6,
                                                                              rel=1e-3)


def test_in_situ_large_gemm_keeps_its_curve_time():
    """8192³ fp16: 64 · 64 = 4096 tiles in ⌈4096/108⌉ = 38 waves (37.93 of work). The sweep
    reads 0.8 beyond 1e12 FLOPs: F / (312 TFLOPS · 0.8) = 4.405 ms; the waves at the same
    rate take 38 · 108 / 4096 = 1.00195 times that (4.414 ms) — only the last wave's
    quantisation, 0.2%."""
    op = gemm(8192, 8192, 8192)
    assert _flop_time(op, _insitu(A100)) == pytest.approx(op.flops / (312e12 * 0.8)
                                                          * 38 / (4096 / 108), rel=1e-6)


def test_training_gemms_have_no_wave_bound():
    """A training run's GEMMs (engine_gemms false) keep the sweep's 46.75 us."""
    op = gemm(128, 14848, 1984)
    dev = _insitu(A100)
    train = dev.model_copy(update={"insitu": dev.insitu.model_copy(
        update={"engine_gemms": False})})
    assert _flop_time(op, train) == pytest.approx(46.75e-6, rel=1e-3)


def test_run_device_marks_inference_runs_only():
    from types import SimpleNamespace

    from archsim.cost.insitu import run_device

    plan = SimpleNamespace(attention_kernel="auto")
    infer = run_device(A100, plan, SimpleNamespace(kind="inference", cuda_graphs=False))
    train = run_device(A100, plan, SimpleNamespace(kind="training"))
    assert infer.insitu.engine_gemms and not train.insitu.engine_gemms


def test_isolated_model_has_no_wave_bound():
    """Without in-situ parameters the profile's isolated curve prices the op as before:
    the same time with and without compute_units."""
    op = gemm(128, 14848, 1984)
    iso = A100.model_copy(update={"insitu": None})
    assert _flop_time(op, iso) == _flop_time(op, iso.model_copy(update={"compute_units": None}))


def test_attention_is_not_bound_by_gemm_tiles():
    """Fused attention has its own kernels (and curve): no GEMM wave bound."""
    op = Op(name="attn", kind="attention", phase="fwd", flops=2.4e8, bytes=1e6,
            dtype="fp16", shape=(29, 128, 64, 128))
    assert _flop_time(op, _insitu(A100)) == _flop_time(op, _insitu(A100, compute_units=None))
