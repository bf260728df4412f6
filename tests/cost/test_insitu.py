"""The in-situ performance model (archsim/spec/insitu.py, archsim/cost/insitu.py): each
parameter's effect on an op, a collective, a task or a step, worked out by hand."""

import pytest

import archsim
from archsim.cost.comm import collective_time, group_in_pool
from archsim.cost.compute import compute_time
from archsim.cost.insitu import run_device
from archsim.graph.ops import Op
from archsim.plan.zero3 import task_with_gathers
from archsim.spec.insitu import InSituSpec
from archsim.spec.loader import load_spec_file

A100 = load_spec_file("devices", "a100-sxm4-80gb")
H100 = load_spec_file("devices", "h100-sxm5-80gb")
A100_PLATEAU = 0.941  # the A100 curve's highest point (8192x16384x16384, a100_gemm.csv)


def with_insitu(device, **fields):
    return device.model_copy(update={"insitu": InSituSpec(**fields)})


def gemm(m, k, n, dtype="bf16"):
    return Op(name="g", kind="matmul", phase="fwd", flops=2.0 * m * k * n,
              bytes=2.0 * (m * k + k * n + m * n), dtype=dtype, shape=(1, m, k, n))


def test_matmul_curve_is_scaled_to_the_sustained_ceiling():
    """8192³: the isolated curve's point 0.896, scaled by ceiling / plateau and by the
    sustained-compute factor: 0.896 · 0.869 / 0.941 · 0.8 = 0.6620 of 312 TFLOPS."""
    dev = with_insitu(A100, matmul_ceiling={"bf16": 0.869}, sustained_compute=0.8,
                      kernel_overhead="7 us")
    op = gemm(8192, 8192, 8192)
    eta = 0.896 * 0.869 / A100_PLATEAU * 0.8
    assert compute_time(op, dev) == pytest.approx(op.flops / (312e12 * eta) + 7e-6, rel=1e-4)


def test_fp8_reads_the_curve_at_the_same_ideal_duration():
    """fp8 on the H100: the bf16 curve is read at FLOPs · 989.4 / 1978.9 (the same ideal
    time), then scaled to the fp8 ceiling; 8192³ = 1.1e12 FLOPs reads the curve at 5.5e11
    FLOPs, between its points (4.903e11, 0.738) and (8.718e11, 0.772)."""
    import math

    dev = with_insitu(H100, matmul_ceiling={"bf16": 0.803, "fp8": 0.709})
    op = gemm(8192, 8192, 8192, dtype="fp8")
    x = op.flops * 989.4e12 / 1978.9e12
    w = (math.log10(x) - math.log10(4.903e11)) / (math.log10(8.718e11) - math.log10(4.903e11))
    curve = 0.738 + w * (0.772 - 0.738)
    eta = curve * 0.709 / 0.818  # 0.818: the H100 curve's plateau (its 8192x16384x16384 point)
    t = compute_time(op, dev) - dev.launch_overhead
    assert t == pytest.approx(op.flops / (1978.9e12 * eta), rel=1e-4)


def test_memory_bound_ops_stream_at_the_in_situ_efficiency():
    """A 400 MB elementwise op at BabelStream triad's 1.70 of 2.039 TB/s (0.834)."""
    dev = with_insitu(A100, memory_efficiency=0.834, kernel_overhead="0 s")
    op = Op(name="add", kind="elementwise", phase="fwd", flops=1e8, bytes=4e8)
    assert compute_time(op, dev) == pytest.approx(4e8 / (2039e9 * 0.834))


def test_fused_attention_runs_at_its_own_ceiling():
    """A large attention kernel: the matmul curve's plateau point scaled to the attention
    ceiling 0.575 instead of the matmul ceiling."""
    dev = with_insitu(A100, matmul_ceiling={"bf16": 0.869}, attention_ceiling=0.575,
                      kernel_overhead="0 s")
    op = Op(name="attn", kind="attention", phase="fwd", flops=2e13, bytes=1e6, dtype="bf16",
            shape=(64, 2048, 128, 2048))
    eta = 0.923 * 0.575 / A100_PLATEAU  # the curve at 2e13 FLOPs: its last point, 0.923
    assert compute_time(op, dev) == pytest.approx(2e13 / (312e12 * eta), rel=1e-4)


def test_attention_kernel_chooses_the_flash3_ceiling_on_hopper():
    sc = archsim.load_scenario({"model": "llama2-7b", "hardware": {"device": "h100-sxm5-80gb",
                                "count": 1}, "workload": {"kind": "training"}})
    dev = run_device(sc.hardware.device, sc.plan, sc.workload)  # auto
    assert dev.insitu.attention_ceiling == H100.insitu.attention_ceiling_flash3 == 0.748
    flash2 = sc.plan.model_copy(update={"attention_kernel": "flash2"})
    assert run_device(sc.hardware.device, flash2, sc.workload).insitu.attention_ceiling == \
        H100.insitu.attention_ceiling == 0.331


def test_inference_runs_with_the_inference_engine_parameters():
    """Inference takes inference_compute and inference_kernel_overhead in place of the
    training ones; with CUDA graphs each kernel costs graph_launch_overhead."""
    dev = with_insitu(A100, sustained_compute=0.7, kernel_overhead="9 us",
                      inference_compute=0.95, inference_kernel_overhead="3 us")
    sc = archsim.load_scenario({"model": "llama2-7b", "hardware": {"device": "a100-sxm4-80gb",
                                "count": 1}, "workload": {"kind": "inference"}})
    run = run_device(dev, sc.plan, sc.workload)
    assert run.insitu.sustained_compute == 0.95
    assert run.insitu.kernel_overhead == pytest.approx(3e-6)
    graphs = sc.workload.model_copy(update={"cuda_graphs": True})
    assert run_device(dev, sc.plan, graphs).insitu.kernel_overhead == pytest.approx(1e-6)
    training = sc.model_copy(update={"workload": archsim.load_scenario(
        {"model": "llama2-7b", "hardware": {"device": "a100-sxm4-80gb", "count": 1},
         "workload": {"kind": "training"}}).workload})
    assert run_device(dev, training.plan, training.workload).insitu.sustained_compute == 0.7


def test_collective_efficiency_scales_every_collective_bandwidth():
    """An 8 GB all-reduce on 8 A100s: the bandwidth term scales by 1 / 0.6, the latency
    terms do not."""
    base = archsim.load_scenario({"model": "llama2-7b", "hardware": {
        "device": "a100-sxm4-80gb", "count": 8}, "workload": {"kind": "training"},
        "calibration": "isolated"})
    pool = base.cluster.pools[0]
    slow = pool.model_copy(update={"device": with_insitu(pool.device,
                                                          collective_efficiency=0.6)})
    t1 = collective_time("allreduce", 8e9, group_in_pool(pool, 8, 1)).time_s
    t2 = collective_time("allreduce", 8e9, group_in_pool(slow, 8, 1)).time_s
    latency = 14 * pool.intra_node.latency
    assert t2 - latency == pytest.approx((t1 - latency) / 0.6, rel=1e-9)


def test_step_overhead_adds_to_the_training_step():
    sc = {"model": {"layers": 2, "hidden": 256, "heads": 4, "vocab": 1000},
          "hardware": {"device": "a100-sxm4-80gb", "count": 1},
          "workload": {"kind": "training", "seq_len": 128, "global_batch": 4}}
    plain = archsim.simulate(sc, {"hardware.device.insitu": {"step_overhead": "0 s"}})
    slow = archsim.simulate(sc, {"hardware.device.insitu": {"step_overhead": "0.25 s"}})
    assert slow["step_time_s"] == pytest.approx(plain["step_time_s"] + 0.25, rel=1e-9)
    assert slow["time_breakdown"]["overhead_s"] == 0.25


def test_iteration_overhead_adds_to_every_forward_pass():
    """TTFT is one forward pass, TPOT one decode pass: each gains the overhead once."""
    sc = {"model": {"layers": 2, "hidden": 256, "heads": 4, "vocab": 1000},
          "hardware": {"device": "a100-sxm4-80gb", "count": 1},
          "workload": {"kind": "inference", "batch": 2, "prompt_len": 64, "gen_len": 8}}
    plain = archsim.simulate(sc, {"hardware.device.insitu": {"iteration_overhead": "0 s"}})
    slow = archsim.simulate(sc, {"hardware.device.insitu": {"iteration_overhead": "2 ms"}})
    assert slow["ttft_s"] == pytest.approx(plain["ttft_s"] + 2e-3, rel=1e-9)
    assert slow["tpot_s"] == pytest.approx(plain["tpot_s"] + 2e-3, rel=1e-9)


def test_zero3_gathers_layer_by_layer_with_prefetch():
    """Three layers of 2 s compute. Gathers of 1 s hide behind the previous layer: only the
    first is exposed, 1 + 3·2 = 7 s. Gathers of 3 s hold every layer up: 3·3 + 2 = 11 s.
    Without prefetch they alternate: 3·(2 + 1) = 9 s."""
    assert task_with_gathers([2, 2, 2], [1, 1, 1], 0.0, 0.0, 1, True, 1.0).duration_s == 7.0
    assert task_with_gathers([2, 2, 2], [3, 3, 3], 0.0, 0.0, 1, True, 1.0).duration_s == 11.0
    assert task_with_gathers([2, 2, 2], [1, 1, 1], 0.0, 0.0, 0, True, 1.0).duration_s == 9.0


def test_compute_slows_while_a_gather_runs_beside_it():
    """Slowdown 1.5, layers of 2 s beside gathers of 1 s: during the 1 s gather a layer gets
    1/1.5 s of work done, so it ends 1 · (1 − 1/1.5) = 1/3 s late. Layers 0 and 1 have the
    next gather beside them; layer 2 has none: 1 + 2⅓ + 2⅓ + 2 = 7⅔ s."""
    got = task_with_gathers([2, 2, 2], [1, 1, 1], 0.0, 0.0, 1, True, 1.5).duration_s
    assert got == pytest.approx(1 + 2 * (2 + 1 / 3) + 2)


def test_int8_gemms_take_fp8s_sweep_where_the_8_bit_peaks_are_one_rate():
    """The H100's int8 and fp8 dense peaks are both 1978.9 (hardware.csv): one tensor-core rate,
    so an int8 GEMM runs as the fp8 one does (the measured fp8 sweep × sustained compute). The
    int8 GEMM had read the isolated bf16 curve under the bf16 ceiling, 0.803 of peak instead of
    fp8's 0.709, and W8A8 came out faster than FP8."""
    int8, fp8 = gemm(8192, 8192, 8192, "int8"), gemm(8192, 8192, 8192, "fp8")
    assert compute_time(int8, H100) == compute_time(fp8, H100)
    assert compute_time(int8, H100) > compute_time(gemm(8192, 8192, 8192, "bf16"), H100) / 2
    # without an fp8 peak (A100) int8 keeps its own path: twice the bf16 peak, faster than bf16
    assert compute_time(gemm(8192, 8192, 8192, "int8"), A100) < \
        compute_time(gemm(8192, 8192, 8192, "bf16"), A100)
