"""Mixture-of-experts layers run their experts as grouped kernels by default
(``plan.moe_grouped_gemm``): each expert's GEMMs are costed by their own size, but only the
group pays a kernel's fixed cost. A fine-grained MoE's decode had paid one launch per active
expert and per op, several times its weight-streaming time."""

import math

import pytest

import archsim

MOE = {"name": "moe-small", "layers": 16, "hidden": 2048, "heads": 16, "kv_heads": 4,
       "ffn_hidden": 1024, "vocab": 50000, "mlp": "swiglu", "moe": {"experts": 64, "top_k": 6},
       "max_seq_len": 8192, "norm": "rmsnorm", "position": "rope", "bias": False}


def run(grouped: bool, kind: str = "inference") -> dict:
    workload = ({"kind": "inference", "batch": 32, "prompt_len": 512, "gen_len": 64,
                 "dtype": "bf16"} if kind == "inference" else
                {"kind": "training", "seq_len": 2048, "global_batch": 8, "micro_batch": 1,
                 "dtype": "bf16"})
    return archsim.simulate({"model": MOE, "hardware": {"device": "h100-sxm5-80gb", "count": 1},
                             "workload": workload,
                             "plan": {"moe_grouped_gemm": grouped}}).to_dict()


def test_grouped_experts_pay_one_fixed_cost_per_op_kind():
    """Batch-32 decode: 32 tokens, each routed to 6 of 64 experts, reach
    64 · (1 − (1 − 6/64)^32) = 61.26 experts, listed as 61 whole ones and a fraction: 62 groups
    of fc1, SwiGLU and fc2 per layer. Grouped, 61 of the 62 pay no fixed cost: the step is
    16 layers · 61 · 3 ops · the H100's fitted 6.956 µs per inference kernel shorter."""
    active = 64 * (1 - (1 - 6 / 64) ** 32)
    assert active == pytest.approx(61.26, abs=0.01)
    groups = math.ceil(active)
    kernel = archsim.load_scenario(
        {"model": MOE, "hardware": {"device": "h100-sxm5-80gb", "count": 1},
         "workload": {"kind": "inference"}}).hardware.device.insitu.inference_kernel_overhead
    assert kernel == pytest.approx(6.956e-6)
    grouped, looped = run(True), run(False)
    assert looped["tpot_s"] - grouped["tpot_s"] == pytest.approx(
        16 * (groups - 1) * 3 * kernel, rel=1e-3)
    # the same weights and work: FLOPs do not change; memory differs by the prefill's expert
    # intermediates (archsim/plan/inference.py activation_bytes): grouped, all T·top_k routed
    # copies at once, 2 B · 16384 · 6 · 1024 · 3 (gate, up, product) = 603,979,776 B, above
    # the QKV output 2 · 16384 · (16 + 2·4) · 128 = 100,663,296 B; looped, one of 64 experts'
    # share (9,437,184 B), so the QKV output is the largest intermediate
    tokens = 32 * 512
    mlp_grouped = 2 * tokens * 6 * 1024 * 3
    qkv = 2 * tokens * (16 + 2 * 4) * 128
    assert mlp_grouped // 64 < qkv < mlp_grouped
    assert grouped["memory"]["peak_bytes_per_device"] - looped["memory"][
        "peak_bytes_per_device"] == mlp_grouped - qkv
    assert grouped["phases"]["decode"]["flops_per_device"] == pytest.approx(
        looped["phases"]["decode"]["flops_per_device"])


def test_training_keeps_its_work_and_memory():
    grouped, looped = run(True, "training"), run(False, "training")
    assert grouped["step_time_s"] < looped["step_time_s"]
    assert grouped["memory"]["peak_bytes_per_device"] == looped["memory"]["peak_bytes_per_device"]
    assert grouped["model_flops_per_step"] == pytest.approx(looped["model_flops_per_step"])
