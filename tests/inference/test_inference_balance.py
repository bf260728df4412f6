"""Layers of an inference pipeline across pools: balanced by speed, capped by memory."""

import archsim

# Toy devices with round numbers: "fast" has every rate of "slow" doubled, no launch cost,
# no runtime reserve.
SLOW = {"name": "slow", "kind": "gpu", "peak": {"bf16": "100 TFLOPS"},
        "vector_peak": "10 TFLOPS", "memory": {"capacity": "80 GiB", "bandwidth": "1 TB/s"},
        "tdp": "300 W", "launch_overhead": "0 us", "devices_per_node": 8,
        "efficiency": {"matmul": {"points": [[1e9, 0.5], [1e12, 0.8]]}, "memory": 0.8}}
# A GPT-style toy: learned positions, biases, LayerNorm, GeLU MLP of 4h, tied embeddings.
MODEL = {"layers": 24, "hidden": 1024, "heads": 16, "vocab": 1024, "max_seq_len": 1024}


def scenario(fast_capacity: str) -> dict:
    fast = {**SLOW, "name": "fast", "peak": {"bf16": "200 TFLOPS"}, "vector_peak": "20 TFLOPS",
            "memory": {"capacity": fast_capacity, "bandwidth": "2 TB/s"}}
    return {"model": dict(MODEL),
            "hardware": {"cluster": {
                "pools": [{"name": "a", "device": fast, "count": 1},
                          {"name": "b", "device": dict(SLOW), "count": 1}],
                "links": [{"between": ["a", "b"], "interconnect": "ib-hdr-200g"}]}},
            "workload": {"kind": "inference", "batch": 4, "prompt_len": 256, "gen_len": 32,
                         "dtype": "bf16"},
            "plan": {"pp": 2, "placement": {"stages": ["a", "b"]}}}


def test_memory_caps_the_fast_stage_at_what_fits_with_its_activations():
    """By speed alone the fast pool takes 16 of 24 layers. With 290 MiB it holds 9:

    * a layer: 12h² + 13h = 12,596,224 parameters (QKV, projection, two MLP matrices, their
      biases, two LayerNorms) = 25,192,448 bytes in bf16, plus its KV cache for 4 sequences
      × 288 tokens: 2 · 16 heads · 64 · 2 B · 4 · 288 = 4,718,592 bytes;
    * the first stage's extras: token and position embeddings, 2 · 1024 · 1024 parameters =
      4,194,304 bytes;
    * transient activations of the 1024-token prefill: hidden in and out 2 · 2 · 1024 · 1024
      plus the MLP's 4h-wide output and GeLU 2 · 2 · 1024 · 4096 = 20,971,520 bytes.

    (304,087,040 − 4,194,304 − 20,971,520) / 29,911,040 = 9.3 → 9 layers; 10 would need
    324,276,224 bytes."""
    d = archsim.simulate(scenario("290 MiB")).to_dict()
    assert d["parallel"]["layers_per_stage"] == [9, 15]
    assert d["feasible"], d["infeasible_reasons"]
    stage0 = d["memory"]["per_stage"][0]
    assert stage0["weights"] == 9 * 25_192_448 + 4_194_304
    assert stage0["kv_cache"] == 9 * 4_718_592
    assert stage0["activations"] == 20_971_520
    assert stage0["peak_bytes"] == 294_365_184 <= 290 * 2**20
    unbounded = archsim.simulate(scenario("80 GiB")).to_dict()
    assert unbounded["parallel"]["layers_per_stage"] == [16, 8]
