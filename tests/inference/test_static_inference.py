"""Static-batch inference: TTFT, TPOT, KV cache, bounds, TP/PP/EP, infeasible plans.

Expected values are written out from the model's shapes and the device profile's numbers
(read from the profile, so the hand calculation holds whatever the calibration says).
"""

import pytest

import archsim
from archsim.cost.comm import size_fraction
from archsim.cost.insitu import factors, run_device
from archsim.spec.loader import load_spec_file

A100 = load_spec_file("devices", "a100-sxm4-80gb")
# the A100 as an inference run sees it (archsim/cost/insitu.py: the profile's in-situ memory
# efficiency, per-kernel and per-pass costs of inference engines)
_RUN = archsim.load_scenario({"model": "llama2-7b", "hardware": {"device": "a100-sxm4-80gb",
                              "count": 1}, "workload": {"kind": "inference"}})
INSITU = factors(run_device(A100, _RUN.plan, _RUN.workload))
BW = A100.memory.bandwidth * INSITU.memory_efficiency  # achieved bytes/s
LAUNCH = INSITU.kernel_overhead
PASS = INSITU.iteration_overhead  # fixed cost of one forward pass

# Llama-2-7B: h 4096, 32 layers, 32 heads × 128, SwiGLU f 11008, vocab 32000, no biases
H, L, F, V = 4096, 32, 11008, 32000
LAYER_PARAMS = 4 * H * H + 3 * H * F + 2 * H  # q,k,v,o + gate,up,down + two RMSNorm weights
KV_PER_TOKEN_LAYER = 2 * 32 * 128 * 2  # K and V, 32 heads × 128, fp16 bytes


def llama(**workload):
    wl = {"kind": "inference", "batch": 1, "prompt_len": 512, "gen_len": 64, "dtype": "fp16"}
    wl.update(workload)
    return {"model": "llama2-7b", "hardware": {"device": "a100-sxm4-80gb", "count": 1},
            "workload": wl}


@pytest.fixture(scope="module")
def batch1():
    return archsim.simulate(llama()).to_dict()


def test_contract_keys(batch1):
    for key in ("feasible", "infeasible_reasons", "mode", "ttft_s", "tpot_s", "e2e_latency_s",
                "tokens_per_s", "tpot_first_s", "tpot_last_s", "tpot_mean_s", "memory",
                "communication", "energy_joules", "cost_usd", "sim", "phases"):
        assert key in batch1, key
    assert batch1["mode"] == "inference" and batch1["feasible"]
    assert set(batch1["memory"]["breakdown"]) == {"weights", "gradients", "optimizer_states",
                                                  "activations", "kv_cache", "other"}
    assert batch1["sim"]["engine"] == "des" and batch1["sim"]["events"] > 0
    assert batch1["phases"]["prefill"]["bound_by"] in ("compute", "memory")


def test_e2e_is_ttft_plus_decode_steps_and_tokens_per_s(batch1):
    d = batch1
    assert d["e2e_latency_s"] == pytest.approx(d["ttft_s"] + 63 * d["tpot_s"], rel=1e-9)
    assert d["tokens_per_s"] == pytest.approx(1 * 64 / d["e2e_latency_s"])


def test_decode_at_batch_1_is_memory_bound_and_near_the_bandwidth_bound(batch1):
    """TPOT ≈ (weights read + KV read) / achieved bandwidth + one launch per kernel + the
    fixed cost of a forward pass."""
    d = batch1
    assert d["phases"]["decode"]["bound_by"] == "memory"
    weight_bytes = 2 * (L * LAYER_PARAMS + V * H + H)  # layers, untied head, final norm
    kv_read = L * KV_PER_TOKEN_LAYER * (512 + 1)  # first decode step attends 513 tokens
    # kernels per layer: norm, qkv, rope, kv_write, attention, proj, add, norm, fc1, swiglu,
    # fc2, add
    kernels = 12 * L + 3  # + embedding, final norm, logits
    lower = (weight_bytes + kv_read) / BW + kernels * LAUNCH + PASS
    # the rest is activations (a few MB at batch 1): within 1%
    assert d["tpot_first_s"] == pytest.approx(lower, rel=0.01)
    assert d["tpot_first_s"] >= lower
    # and never faster than the datasheet bandwidth allows
    assert d["tpot_first_s"] > weight_bytes / A100.memory.bandwidth


def test_tpot_grows_with_context_by_the_kv_read(batch1):
    d = batch1
    extra = (63 - 1) * L * KV_PER_TOKEN_LAYER  # last step attends 62 more tokens than the first
    assert d["tpot_last_s"] - d["tpot_first_s"] == pytest.approx(extra / BW, rel=0.02)


def test_long_prefill_is_compute_bound():
    d = archsim.simulate(llama(batch=4, prompt_len=2048, gen_len=2)).to_dict()
    assert d["phases"]["prefill"]["bound_by"] == "compute"
    assert d["phases"]["prefill"]["arithmetic_intensity"] > 300  # FLOP per byte


def test_kv_cache_memory_follows_the_formula_with_gqa_and_tp():
    """KV = 2 · layers · kv_heads · head_dim · context · batch · bytes (formulas.md), split over
    tp ranks when tp divides kv_heads, replicated when tp exceeds them."""
    sc = {"model": "llama2-70b", "hardware": {"device": "h100-sxm5-80gb", "count": 8},
          "workload": {"kind": "inference", "batch": 16, "prompt_len": 1000, "gen_len": 24,
                       "dtype": "bf16"}, "plan": {"tp": 8}}
    d = archsim.simulate(sc).to_dict()
    full = 2 * 80 * 8 * 128 * 1024 * 16 * 2
    assert d["memory"]["breakdown"]["kv_cache"] == pytest.approx(full / 8)
    # MQA-style: 2 kv heads on 8 ranks are replicated: each rank holds one kv head
    mqa = archsim.simulate(sc, {"model.kv_heads": 2, "model.heads": 64}).to_dict()
    assert mqa["memory"]["breakdown"]["kv_cache"] == pytest.approx(
        2 * 80 * 1 * 128 * 1024 * 16 * 2)
    # fp8 KV cache halves it
    fp8 = archsim.simulate(sc, {"compression": {"kv_cache_dtype": "fp8"}}).to_dict()
    assert fp8["memory"]["breakdown"]["kv_cache"] == pytest.approx(full / 8 / 2)


def test_tensor_parallel_decode_pays_latency_bound_all_reduces():
    sc = {"model": "llama2-13b", "hardware": {"device": "a100-sxm4-80gb", "count": 4},
          "workload": {"kind": "inference", "batch": 1, "prompt_len": 128, "gen_len": 2,
                       "dtype": "fp16"}, "plan": {"tp": 4}}
    d = archsim.simulate(sc).to_dict()
    ar = d["communication"]["by_kind"]["allreduce"]
    nv = load_spec_file("interconnects", "nvlink3-nvswitch")
    h, layers = 5120, 40
    # per step: 2 all-reduces per layer + 1 after the embedding; prefill + 1 decode step
    msgs = (2 * layers + 1)
    expected_bytes = msgs * 2 * h * (128 + 1)
    assert ar["bytes"] == pytest.approx(expected_bytes)
    # a decode all-reduce of 10 KB inside a node: NCCL's ring, 2(n−1) latency steps dominate
    # (bandwidth at the in-situ collective efficiency and, for the 1.3 MB prefill message,
    # the link's measured fraction at that size)
    bw = nv.achieved_bandwidth * factors(A100).collective_efficiency
    ring = 2 * 3 * nv.latency
    beta = 2 * 3 / 4 * 2 * h / (bw * size_fraction(nv, 2 * h))
    assert ring > 10 * beta  # latency-bound
    prefill_ar = ring + 2 * 3 / 4 * 2 * h * 128 / (bw * size_fraction(nv, 2 * h * 128))
    assert ar["time_s"] - msgs * prefill_ar == pytest.approx(msgs * (ring + beta), rel=1e-6)


def test_pipeline_parallel_adds_stage_hops_and_halves_weights():
    one = archsim.simulate(llama(batch=2, gen_len=8)).to_dict()
    two = archsim.simulate(llama(batch=2, gen_len=8),
                           {"hardware.count": 2, "plan.pp": 2}).to_dict()
    w1, w2 = one["memory"]["breakdown"]["weights"], two["memory"]["breakdown"]["weights"]
    # stage 0 holds 16 layers + embedding; stage 1 16 layers + final norm + head
    assert w2 == pytest.approx(2 * (16 * LAYER_PARAMS + V * H + H))  # the last stage
    assert w2 < 0.55 * w1
    # the same kernels run, one after the other, plus a send per step between the stages
    assert two["ttft_s"] > one["ttft_s"]
    assert two["e2e_latency_s"] - one["e2e_latency_s"] == pytest.approx(
        two["communication"]["by_kind"]["p2p"]["time_s"], rel=0.05)
    assert two["parallel"]["pp"] == 2 and two["communication"]["by_kind"]["p2p"]["bytes"] > 0


def test_moe_decode_reads_only_the_routed_experts_and_uses_all_to_all():
    sc = {"model": "mixtral-8x7b", "hardware": {"device": "h100-sxm5-80gb", "count": 4},
          "workload": {"kind": "inference", "batch": 4, "prompt_len": 256, "gen_len": 4,
                       "dtype": "bf16"}, "plan": {"tp": 1, "ep": 4}}
    d = archsim.simulate(sc).to_dict()
    assert d["feasible"], d["infeasible_reasons"]
    a2a = d["communication"]["by_kind"]["alltoall"]
    # per step and MoE layer: dispatch + combine of top_k copies of each local token (1 per rank)
    h, layers, k = 4096, 32, 2
    per_token = 2 * layers * k * 2 * h
    assert a2a["bytes"] == pytest.approx(per_token * (256 + 3))
    # weights: 2 local experts of 3·h·14336 per layer on each of the 4 ranks
    local_expert_params = layers * 2 * 3 * h * 14336
    assert d["memory"]["breakdown"]["weights"] > 2 * local_expert_params
    # a decode step touches E·(1-(1-k/E)^n) experts: 4 tokens over the ep group → 8·(1-.75^4)
    # ≈ 5.47 of 8, i.e. an expected 2·(1-.75^4) = 1.367 of this rank's 2 experts: the step
    # reads the attention weights (q,o: h²; k,v: h·1024), 1.367 experts (3·h·14336 each) per
    # layer and the head
    expected = 2 * (1 - 0.75 ** 4)
    read = 2 * (layers * (2 * h * h + 2 * h * 1024 + expected * 3 * h * 14336) + 32000 * h)
    assert d["phases"]["decode"]["bytes_per_device"] == pytest.approx(read, rel=0.01)
    assert d["phases"]["decode"]["bound_by"] == "memory"


def test_too_big_for_the_device_is_infeasible_with_the_numbers():
    d = archsim.simulate({"model": "llama2-70b",
                          "hardware": {"device": "a100-sxm4-80gb", "count": 1},
                          "workload": {"kind": "inference", "dtype": "fp16"}}).to_dict()
    assert not d["feasible"]
    (reason,) = d["infeasible_reasons"]
    assert "needs" in reason and "has 80 GiB" in reason and "weights 128.5 GiB" in reason
    assert d["ttft_s"] is not None  # timings are still reported


def test_context_longer_than_the_model_is_infeasible():
    d = archsim.simulate(llama(prompt_len=4000, gen_len=200)).to_dict()
    assert not d["feasible"]
    assert d["infeasible_reasons"] == [
        "prompt_len 4000 + gen_len 200 = 4200 tokens exceed the model's max_seq_len 4096"]


def test_batch_must_split_over_data_parallel_replicas():
    d = archsim.simulate(llama(batch=3), {"hardware.count": 2}).to_dict()
    assert not d["feasible"]
    assert "batch 3 is not divisible by dp 2" in d["infeasible_reasons"][0]


def test_data_parallel_replicas_multiply_throughput():
    one = archsim.simulate(llama(batch=4)).to_dict()
    four = archsim.simulate(llama(batch=16), {"hardware.count": 4}).to_dict()
    assert four["e2e_latency_s"] == pytest.approx(one["e2e_latency_s"])
    assert four["tokens_per_s"] == pytest.approx(4 * one["tokens_per_s"])


def test_pipeline_send_on_a_mesh_node_uses_one_peer_link():
    """8 MI300X fully connected by xGMI: stage 0 reaches its peer in stage 1 over one of its
    7 links (bandwidth / 7, at the device's in-situ collective efficiency), as training's
    pipeline sends do — not over all seven at once."""
    sc = {"model": "llama2-7b", "hardware": {"device": "mi300x", "count": 8},
          "workload": {"kind": "inference", "batch": 8, "prompt_len": 512, "gen_len": 16,
                       "dtype": "bf16"}, "plan": {"tp": 1, "pp": 2}}
    d = archsim.simulate(sc).to_dict()
    xgmi = load_spec_file("interconnects", "xgmi-mi300x")
    ce = factors(load_spec_file("devices", "mi300x")).collective_efficiency
    peer = xgmi.achieved_bandwidth / 7 * ce
    b = 8 // 4  # dp = 8 / (tp·pp) = 4 replicas share the batch; stage stride 4 < 8 per node
    act = 2 * H  # bf16 hidden state per token
    sends = [b * 512] + [b] * 15  # the prefill, then one token per sequence per decode step
    expected = sum(xgmi.latency + act * tokens / peer for tokens in sends)
    p2p = d["communication"]["by_kind"]["p2p"]
    assert p2p["bytes"] == pytest.approx(act * sum(sends))
    assert p2p["time_s"] == pytest.approx(expected, rel=1e-12)
    assert d["parallel"]["pp"] == 2


def test_a_batch_that_does_not_fit_lists_parts_that_add_up():
    """The reason names every part of the peak, the 1 GiB runtime reserve included (it had
    been left out, and the parts summed to 1 GiB less than the total it stated)."""
    import re

    d = archsim.simulate("llama2-7b-inference-a100", {"workload.batch": 256,
                                                       "workload.prompt_len": 3000}).to_dict()
    (reason,) = d["infeasible_reasons"]
    sizes = [float(x) for x in re.findall(r"([\d.]+) GiB", reason)]
    total, _capacity, *parts = sizes
    assert "runtime reserve 1 GiB" in reason
    assert sum(parts) == pytest.approx(total, abs=0.1)  # 4 significant digits each


def test_bf16_on_a_device_with_fp16_only_says_it_computes_in_fp16():
    """The Groq LPU's matrix units take fp16 (hardware.csv: no bf16): a bf16 run computes at the
    fp16 peak and says so; an fp16 run needs no note."""
    def notes(dtype):
        d = archsim.simulate({"model": "llama2-7b", "hardware": {"device": "groq-lpu",
                                                                 "count": 1},
                              "workload": {"kind": "inference", "batch": 1, "prompt_len": 16,
                                           "gen_len": 2, "dtype": dtype}}).to_dict()
        return d.get("notes") or []

    assert "groq-lpu has no bf16: computing in fp16 at its fp16 peak" in notes("bf16")
    assert not any("no bf16" in n for n in notes("fp16"))


def test_fp8_on_a_device_whose_fp8_peak_is_its_bf16_peak_says_so():
    """hardware.csv gives Gaudi 3 1835 TFLOPS in both bf16 and fp8: fp8 saves bytes, not GEMM
    time, and the result says it; on the H100 (989 against 1979) it does not."""
    def notes(device, kind="inference"):
        wl = ({"kind": "inference", "batch": 8, "prompt_len": 16, "gen_len": 2, "dtype": "fp8"}
              if kind == "inference" else
              {"kind": "training", "seq_len": 512, "global_batch": 8, "dtype": "fp8"})
        d = archsim.simulate({"model": "llama2-7b", "hardware": {"device": device, "count": 8},
                              "workload": wl}).to_dict()
        return d.get("notes") or []

    line = ("gaudi3's fp8 peak equals its bf16 peak (hardware.csv): fp8 halves the bytes its "
            "GEMMs move, not their compute time")
    assert line in notes("gaudi3") and line in notes("gaudi3", "training")
    assert not any("fp8 peak equals" in n for n in notes("h100-sxm5-80gb"))
