"""Inference utilisation counts the work a causal prompt does: a fused causal attention skips
the masked half of the s × s product, so neither MFU, HFU, TFLOP/s nor a phase's FLOPs count it
(training keeps the convention of Narayanan et al. 2021, the full product). A 32K-token prompt
had put an inference MFU above 100%."""

import pytest

import archsim

H, L = 4096, 32  # Llama-2-7B: hidden size, layers


def prefill(prompt: int) -> dict:
    return archsim.simulate({
        "model": "llama2-7b", "hardware": {"device": "h100-sxm5-80gb", "count": 1},
        "workload": {"kind": "inference", "batch": 1, "prompt_len": prompt, "gen_len": 1,
                     "dtype": "bf16"}}).to_dict()


def test_a_prompts_attention_flops_are_the_causal_half():
    """FLOPs(2s) − 2·FLOPs(s): the GEMMs over the tokens cancel, and causal attention
    (Q·Kᵀ and P·V, 2·2·h per score, (s² + s)/2 scores per layer) leaves 4·h·L·s² — the full
    product would leave twice that."""
    s = 1024  # 2s + 1 within Llama-2's 4096 positions
    one, two = prefill(s), prefill(2 * s)
    assert one["feasible"] and two["feasible"]
    diff = (two["phases"]["prefill"]["flops_per_device"]
            - 2 * one["phases"]["prefill"]["flops_per_device"])
    assert diff == pytest.approx(4 * H * L * s ** 2, rel=2e-3)
    # MFU and HFU count the same work (one token generated: the prefill is the whole run)
    peak = 989e12  # H100 SXM dense bf16, hardware.csv
    for r in (one, two):
        work = r["phases"]["prefill"]["flops_per_device"]
        assert r["mfu"] * r["e2e_latency_s"] * peak == pytest.approx(work, rel=0.01)
        assert r["hfu"] == pytest.approx(r["mfu"], rel=1e-9)


def test_a_long_prompt_stays_below_the_peak():
    # an fp8 KV cache: with a bf16 one, 32K tokens of KV (3.9 GiB) and the prompt's
    # activations (5.6 GiB, mostly the grouped experts' intermediates) do not fit beside
    # 22.8 GiB of weights and the 1 GiB reserve in 32 GiB
    r = archsim.simulate({
        "model": "mixtral-8x7b", "hardware": {"device": "inferentia2", "count": 1},
        "workload": {"kind": "inference", "batch": 1, "prompt_len": 32000, "gen_len": 1},
        "compression": {"weight_dtype": "int4", "kv_cache_dtype": "fp8"}}).to_dict()
    assert r["feasible"]
    assert 0 < r["mfu"] <= 1 and 0 < r["hfu"] <= 1
    assert r["tflops_per_device"] <= 190  # Inferentia2's bf16 peak (hardware.csv)
