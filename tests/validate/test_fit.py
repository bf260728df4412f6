"""Fitting device parameters to micro-benchmark records (synthetic records, known answers)."""

from __future__ import annotations

import pytest

from archsim.validate.calibrate import build_spec, device_mapping
from archsim.validate.compare import distributed_markdown
from archsim.validate.distributed import LinkFitError, fit_alpha_beta, sweep_point
from archsim.validate.fit import (
    curve_points,
    fit_bandwidth,
    fit_device,
    fit_launch,
    fit_memory,
    fit_peak,
)
from archsim.validate.records import gemm_op, memory_op

LAUNCH = 5e-6


def _copy(n: int, bandwidth: float) -> tuple:
    op = memory_op({"kernel": "copy", "elements": n, "dtype": "fp32"})
    return op, LAUNCH + op.bytes / bandwidth


def test_launch_is_the_mean_over_op_kinds():
    recs = [{"op": "add", "time_s": 1e-6}, {"op": "linear", "time_s": 5e-6},
            {"op": "gelu", "time_s": 9e-6}]
    assert fit_launch(recs) == pytest.approx(5e-6)  # (1 + 5 + 9) / 3


def test_copy_reads_and_writes_every_element():
    op = memory_op({"kernel": "copy", "elements": 1000, "dtype": "fp32"})
    assert op.bytes == 2 * 4 * 1000


def test_bandwidth_of_exact_records_is_recovered():
    # t = 5 us + bytes / 20 GB/s for copies of 1 MiB ... 256 MiB (fp32)
    samples = [_copy(2**k, 20e9) for k in range(18, 27, 2)]
    assert fit_bandwidth(samples, LAUNCH) == pytest.approx(20e9, rel=1e-4)


def test_two_memory_levels_are_found_when_the_data_has_them():
    # buffers of 2n·4 bytes ≤ 8 MiB stream at 80 GB/s, larger ones at 20 GB/s
    samples = [_copy(2**k, 80e9 if 8 * 2**k <= 8 * 2**20 else 20e9) for k in range(17, 27)]
    mem = fit_memory(samples, LAUNCH)
    assert mem.bandwidth == pytest.approx(20e9, rel=1e-3)
    assert mem.cache_bandwidth == pytest.approx(80e9, rel=1e-3)
    # the cache size lies between the largest cached copy (8 MiB) and the next (16 MiB)
    assert 8 * 2**20 < mem.cache_bytes < 16 * 2**20


def test_peak_ignores_gemms_dominated_by_the_launch_overhead():
    big = gemm_op({"m": 1024, "k": 1024, "n": 1024, "dtype": "fp32"})  # 2.147 GFLOP
    tiny = gemm_op({"m": 1, "k": 64, "n": 64, "dtype": "fp32"})
    # the big GEMM runs at 100 GFLOP/s: t = 5 us + 2.147e9 / 1e11 = 21.48 ms
    samples = [(big, LAUNCH + big.flops / 1e11), (tiny, 1.01 * LAUNCH)]
    assert fit_peak(samples, LAUNCH) == pytest.approx(1e11)


def test_curve_points_are_a_moving_median_of_compute_bound_efficiencies():
    peak = 1e11
    shapes = [(256, 256, 256), (512, 512, 512), (1024, 1024, 1024), (2048, 2048, 2048)]
    effs = [0.2, 0.5, 0.8, 0.9]
    samples = []
    for (m, k, n), eff in zip(shapes, effs, strict=True):
        op = gemm_op({"m": m, "k": k, "n": n, "dtype": "fp32"})
        samples.append((op, LAUNCH + op.flops / (peak * eff)))
    points = curve_points(samples, lambda _dt: peak, LAUNCH, mem_time=lambda _op: 0.0)
    # FLOPs 3.36e7, 2.68e8, 2.15e9, 1.72e10: 0.903 decades apart, so each sample is alone in
    # its half-decade window at its own position: the end points are the end samples
    assert points[0] == (pytest.approx(3.355e7, rel=1e-3), pytest.approx(0.2, abs=1e-4))
    assert points[-1] == (pytest.approx(1.718e10, rel=1e-3), pytest.approx(0.9, abs=1e-4))
    assert [f for f, _ in points] == sorted(f for f, _ in points)


def test_memory_bound_gemms_do_not_shape_the_curve():
    op = gemm_op({"m": 1, "k": 4096, "n": 4096, "dtype": "fp32"})  # a GEMV: 67 MB of weights
    t = LAUNCH + 1e-3
    assert curve_points([(op, t)], lambda _dt: 1e11, LAUNCH, mem_time=lambda _op: 2e-3) == []


def test_a_whole_fit_reproduces_records_made_from_a_known_device():
    # records made by hand from: launch 5 us, 20 GB/s, fp32 GEMMs at 0.5 of 100 GFLOP/s
    raw = {"overhead": [{"op": "add", "time_s": LAUNCH}],
           "memory": [{"kernel": "copy", "elements": 2**k, "dtype": "fp32",
                       "time_s": LAUNCH + 8 * 2**k / 20e9} for k in range(18, 27, 2)],
           "gemm": []}
    for m in (512, 1024, 2048, 4096):
        flops = 2.0 * m * 1024 * 1024
        raw["gemm"].append({"m": m, "k": 1024, "n": 1024, "layout": "nn", "dtype": "fp32",
                            "time_s": LAUNCH + flops / 5e10})

    def build(fit):
        return build_spec(device_mapping(fit, name="t", kind="cpu", capacity=2**34, tdp=10))

    fit = fit_device(raw, "fp32", build)
    assert fit.launch_s == pytest.approx(LAUNCH)
    assert fit.bandwidth == pytest.approx(20e9, rel=1e-3)
    assert fit.peaks["fp32"] == pytest.approx(5e10)  # the best measured rate
    assert all(e == pytest.approx(1.0) for _, e in fit.matmul_points)  # relative to it
    assert fit.errors["gemm"]["max"] < 1e-3
    assert fit.errors["memory"]["max"] < 1e-3


def test_alpha_beta_fit_of_a_two_rank_all_reduce():
    # t = 2α + S/B for two ranks, α = 50 us, B = 1 GB/s
    sizes = [4096, 65536, 2**20, 2**24]
    times = [2 * 50e-6 + s / 1e9 for s in sizes]
    alpha, bw = fit_alpha_beta(sizes, times)
    assert alpha == pytest.approx(50e-6, rel=1e-6)
    assert bw == pytest.approx(1e9, rel=1e-6)


def test_alpha_beta_fit_refuses_times_that_do_not_grow():
    # the unconstrained least-squares slope of these is negative (a stalled 4 KiB sample
    # sat at 3.5 ms); no bandwidth can be read from them
    sizes = [4096, 65536, 2**20]
    with pytest.raises(LinkFitError, match=r"do not grow with the message size \(4096 B: "
                                           r"3500 us, 65536 B: 300 us, 1048576 B: 250 us\)"):
        fit_alpha_beta(sizes, [3.5e-3, 3e-4, 2.5e-4])


def test_alpha_beta_fit_keeps_the_latency_non_negative():
    # pure bandwidth: t = S / B with B = 2 GB/s; an unconstrained fit may go below α = 0 on
    # noise, the constrained one stays at α ≥ 0 and finds B
    sizes = [4096, 65536, 2**20, 2**22]
    alpha, bw = fit_alpha_beta(sizes, [s / 2e9 for s in sizes])
    assert alpha == pytest.approx(0.0, abs=1e-12)
    assert bw == pytest.approx(2e9, rel=1e-9)


def test_sweep_point_takes_the_20th_percentile_and_keeps_the_median():
    # 21 samples: 10 of 0.1…1.0 ms (uncontended), 11 stalls at 4 ms. numpy's linear
    # quantile at 0.2 sits at index 0.2·20 = 4 of the sorted samples: 0.5 ms; median is
    # the 11th sorted sample: 4 ms
    samples = [4e-3] * 11 + [k * 1e-4 for k in range(1, 11)]
    row = sweep_point(4096, samples)
    assert row["time_s"] == pytest.approx(5e-4)
    assert row["median_s"] == pytest.approx(4e-3)
    assert row["bytes"] == 4096 and len(row["samples_s"]) == 21


def test_a_failed_link_fit_is_reported_not_predicted():
    md = "\n".join(distributed_markdown({"failed": "the link could not be fitted: x"}))
    assert "No result: the link could not be fitted: x." in md
    assert "| data-parallel step |" not in md


def test_alpha_beta_fit_needs_two_sizes():
    with pytest.raises(ValueError, match="at least two message sizes"):
        fit_alpha_beta([4096], [1e-4])


def test_memory_bandwidth_is_that_of_buffers_beyond_the_caches():
    # copies of buffers ≤ 8 MiB at 80 GB/s (cache), 64 / 128 / 256 MiB at 18, 20, 22 GB/s
    raw = {"overhead": [{"op": "add", "time_s": LAUNCH}],
           "memory": [{"kernel": "copy", "elements": 2**k, "dtype": "fp32",
                       "time_s": LAUNCH + 8 * 2**k / bw}
                      for k, bw in ((18, 80e9), (20, 80e9), (21, 80e9), (24, 18e9),
                                    (25, 20e9), (26, 22e9))],
           "gemm": [{"m": 1024, "k": 1024, "n": 1024, "layout": "nn", "dtype": "fp32",
                     "time_s": 0.02}]}

    def build(fit):
        return build_spec(device_mapping(fit, name="t", kind="cpu", capacity=2**34, tdp=10))

    fit = fit_device(raw, "fp32", build)
    assert fit.bandwidth == pytest.approx(20e9, rel=1e-6)  # the median of 18, 20 and 22


def test_gemms_get_a_curve_per_layout_and_row_count():
    # hand-made records at equal FLOPs (2^27) whose forward-layout (nt) rate depends only on
    # m: GEMVs (m 1) at 0.1 of the 100 GFLOP/s peak, m 16 at 0.4, m 256 at 1.0; the data-
    # gradient layout (nn) of the same shapes runs at 0.8 whatever m. One FLOPs curve cannot
    # tell them apart.
    raw = {"overhead": [{"op": "add", "time_s": LAUNCH}],
           "memory": [{"kernel": "copy", "elements": 2**k, "dtype": "fp32",
                       "time_s": LAUNCH + 8 * 2**k / 1e12} for k in range(18, 27, 2)],
           "gemm": []}
    rate = {1: 0.1, 16: 0.4, 256: 1.0}
    for m, (k, n) in {1: (8192, 8192), 16: (2048, 2048), 256: (512, 512)}.items():
        flops = 2.0 * m * k * n
        raw["gemm"].append({"m": m, "k": k, "n": n, "layout": "nt", "dtype": "fp32",
                            "time_s": LAUNCH + flops / (1e11 * rate[m])})
        raw["gemm"].append({"m": m, "k": k, "n": n, "layout": "nn", "dtype": "fp32",
                            "time_s": LAUNCH + flops / (1e11 * 0.8)})

    def build(fit):
        return build_spec(device_mapping(fit, name="t", kind="cpu", capacity=2**34, tdp=10))

    fit = fit_device(raw, "fp32", build)
    assert fit.peaks["fp32"] == pytest.approx(1e11)  # the m 256 forward GEMM, the fastest
    assert sorted(fit.rows_points) == [("nn", 1), ("nn", 16), ("nn", 256),
                                       ("nt", 1), ("nt", 16), ("nt", 256)]
    for m, eff in rate.items():
        assert [e for _, e in fit.rows_points["nt", m]] == [pytest.approx(eff, abs=1e-4)]
        assert [e for _, e in fit.rows_points["nn", m]] == [pytest.approx(0.8, abs=1e-4)]
    # the FLOPs curve (attention's products, layouts without curves) is the median of all
    # six: 0.1, 0.4, 1.0 and three 0.8; every record is reproduced by its own curve
    assert [e for _, e in fit.matmul_points] == [pytest.approx(0.8, abs=1e-4)]
    matmul = build(fit).efficiency.matmul
    assert [c.rows for c in matmul.rows_curves("nt")] == [1, 16, 256]
    assert fit.errors["gemm"]["records"] == 6 and fit.errors["gemm"]["max"] < 1e-3
