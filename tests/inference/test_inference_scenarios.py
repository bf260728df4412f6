"""The worked inference scenarios in workloads/scenarios/, run by name and checked against
numbers worked out by hand from the model's shapes and the profiles."""

import pytest

import archsim
from archsim.cost.compute import EfficiencyCurve
from archsim.cost.insitu import factors, run_device
from archsim.spec.loader import load_spec_file

A100 = load_spec_file("devices", "a100-sxm4-80gb")
_SC = archsim.load_scenario("llama2-7b-inference-a100")
RUN = factors(run_device(A100, _SC.plan, _SC.workload))  # the A100 as inference sees it
NV3 = load_spec_file("interconnects", "nvlink3-nvswitch")


@pytest.fixture(scope="module")
def llama7b():
    return archsim.simulate("llama2-7b-inference-a100").to_dict()


@pytest.fixture(scope="module")
def llama70b():
    return archsim.simulate("llama2-70b-inference-tp4-a100").to_dict()


def test_7b_memory(llama7b):
    d = llama7b
    assert d["feasible"]
    assert d["memory"]["breakdown"]["weights"] == 2 * 6_738_415_616  # 6.74B bf16 parameters
    # KV: 2 · 32 layers · 32 heads · 128 · 2 bytes = 512 KiB per token, 8 × 1280 tokens
    assert d["memory"]["breakdown"]["kv_cache"] == 524_288 * 1280 * 8


def test_7b_decode_is_the_weight_and_cache_read(llama7b):
    d = llama7b
    assert d["phases"]["decode"]["bound_by"] == "memory"
    layer = 4 * 4096**2 + 3 * 4096 * 11008 + 2 * 4096
    weights_read = 2 * (32 * layer + 32000 * 4096 + 4096)  # not the embedding table
    kv_read = 8 * 1025 * 524_288  # first step: 8 sequences attend 1025 tokens
    bw = A100.memory.bandwidth * RUN.memory_efficiency  # in situ (archsim/cost/insitu.py)
    # kernels per layer: 2 norms, qkv, rope, kv_write, attention, proj, 2 adds, fc1, swiglu,
    # fc2; + embedding, final norm, logits
    expected = ((weights_read + kv_read) / bw + (12 * 32 + 3) * RUN.kernel_overhead
                + RUN.iteration_overhead)
    assert d["tpot_first_s"] == pytest.approx(expected, rel=0.01)
    # never faster than the datasheet bandwidth allows
    assert d["tpot_first_s"] > (weights_read + kv_read) / A100.memory.bandwidth
    assert d["e2e_latency_s"] == pytest.approx(d["ttft_s"] + 255 * d["tpot_s"], rel=1e-9)
    assert d["tokens_per_s"] == pytest.approx(8 * 256 / d["e2e_latency_s"])


def test_7b_prefill_is_the_flops_at_large_gemm_efficiency(llama7b):
    d = llama7b
    assert d["phases"]["prefill"]["bound_by"] == "compute"
    tokens = 8 * 1024
    layer = 4 * 4096**2 + 3 * 4096 * 11008
    flops = 2 * 32 * layer * tokens  # weight GEMMs
    flops += 32 * 4 * 8 * 32 * 1024 * 1024 * 128 / 2  # causal attention: half of QKᵀ and AV
    flops += 2 * 8 * 4096 * 32000  # logits of the last positions
    ideal = flops / 312e12
    # the layer GEMMs (8192 x 4096 x 4096 and larger: 2.7e11-7.4e11 FLOPs) run at the
    # profile's in-situ cuBLASLt sweep there (0.73-0.81 of peak) times the inference compute
    # factor; attention at its lower ceiling, norms, SwiGLU and the launches add time
    sweep = EfficiencyCurve(A100.insitu.matmul_curve["fp16"])
    fast = max(sweep(2.7e11), sweep(7.4e11)) * RUN.vector_scale
    assert ideal / fast < d["ttft_s"] < 1.3 * ideal / fast


def test_70b_tp4_memory_per_device(llama70b):
    d = llama70b
    assert d["feasible"] and d["parallel"]["tp"] == 4
    h, f = 8192, 28672
    sharded = 2 * h * h + 2 * h * 1024 + 3 * h * f  # q, o; k, v (8 KV heads × 128); MLP
    per_device = 80 * (sharded / 4 + 2 * h) + 2 * 32000 * h / 4 + h  # norms are replicated
    assert d["memory"]["breakdown"]["weights"] == pytest.approx(2 * per_device)
    # 8 KV heads over 4 ranks: 2 per rank, 16 sequences × 2176 tokens
    assert d["memory"]["breakdown"]["kv_cache"] == 2 * 80 * 2 * 128 * 2 * 16 * 2176


def test_70b_tp4_all_reduces(llama70b):
    ar = llama70b["communication"]["by_kind"]["allreduce"]
    h = 8192
    per_step = 2 * 80 + 1  # attention and MLP outputs of each layer, the embedding
    assert ar["bytes"] == pytest.approx(per_step * 2 * h * 16 * (2048 + 127))
    # a decode all-reduce (16 tokens, 256 KiB) inside the node: NCCL's ring
    latency = 2 * 3 * NV3.latency
    beta = 2 * 3 / 4 * 2 * h * 16 / NV3.achieved_bandwidth
    assert latency > 5 * beta  # latency-bound
    assert llama70b["communication"]["algorithms"]["tp.allreduce"] == "ring"
