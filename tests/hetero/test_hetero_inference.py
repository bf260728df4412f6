"""Static-batch inference with its pipeline stages on different pools."""

import pytest
from hetero_toys import mixed_inference

import archsim
from archsim.cost.insitu import factors
from archsim.spec.loader import load_spec_file

WORKLOAD = {"kind": "inference", "batch": 4, "prompt_len": 512, "gen_len": 16}
ACT = 2 * 4 * 512 * 4096  # bytes of one prefill's activations (b·s·h, 16-bit, Llama-2-7B)


def across(first, second, balance="even"):
    """One device per pool, joined by HDR InfiniBand; stage 0 on ``first``; 16 layers per
    stage unless ``balance`` is "speed"."""
    return {"model": "llama2-7b",
            "hardware": {"cluster": {
                "pools": [{"name": "x", "device": first, "count": 1},
                          {"name": "y", "device": second, "count": 1}],
                "links": [{"between": ["x", "y"], "interconnect": "ib-hdr-200g"}]}},
            "workload": WORKLOAD, "plan": {"pp": 2, "placement": {"stages": ["x", "y"],
                                                                  "balance": balance}}}


def alone(device):
    """The same two stages on two devices of one NVSwitch node."""
    return {"model": "llama2-7b", "hardware": {"device": device, "count": 2},
            "workload": WORKLOAD, "plan": {"pp": 2}}


def ttft(sc):
    d = archsim.simulate(sc).to_dict()
    assert d["feasible"], d["infeasible_reasons"]
    return d["ttft_s"]


def test_prefill_across_pools_adds_up_stage_by_stage():
    """TTFT = stage 0 + send + stage 1. Swapping which pool runs which stage and adding the two
    orders gives every stage once on each device — the same as the two one-pool runs — except
    for the sends: two over the pool link (5 µs + ACT / (25 GB/s · 0.86)) instead of one over
    each node's NVLink (its latency + ACT / (450 GB/s · 0.822) on H100, / (300 GB/s · 0.775)
    on A100, at the device's in-situ collective efficiency)."""
    h, a = "h100-sxm5-80gb", "a100-sxm4-80gb"
    link = 5e-6 + ACT / (25e9 * 0.86)
    nv4, nv3 = (load_spec_file("interconnects", n) for n in ("nvlink4-nvswitch",
                                                             "nvlink3-nvswitch"))
    ce_h, ce_a = (factors(load_spec_file("devices", d)).collective_efficiency for d in (h, a))
    nv_h = nv4.latency + ACT / (450e9 * 0.822 * ce_h)
    nv_a = nv3.latency + ACT / (300e9 * 0.775 * ce_a)
    mixed = ttft(across(h, a)) + ttft(across(a, h))
    same = ttft(alone(h)) + ttft(alone(a))
    assert mixed == pytest.approx(same - nv_h - nv_a + 2 * link, rel=1e-9)


def test_memory_energy_and_cost_per_pool():
    """Each stage is checked against its own device (H100 81559 MiB, L40S 48 GB); the cost adds
    both devices' prices over the run, and is unknown when a pool has no price (L40S)."""
    d = archsim.simulate(across("h100-sxm5-80gb", "l40s")).to_dict()
    assert [s["capacity_bytes"] for s in d["memory"]["per_stage"]] == [81559 * 2**20, 48e9]
    assert d["cost_usd"] is None and d["energy_joules"] > 0
    d = archsim.simulate(across("h100-sxm5-80gb", "a100-sxm4-80gb")).to_dict()
    price = {}
    for name in ("h100-sxm5-80gb", "a100-sxm4-80gb"):
        price[name] = archsim.load_scenario({
            "model": "llama2-7b", "hardware": {"device": name},
            "workload": {"kind": "inference"}}).hardware.device.price_per_hour
    assert d["cost_usd"] == pytest.approx(sum(price.values()) * d["e2e_latency_s"] / 3600)


def test_without_stages_a_multi_pool_cluster_is_refused_with_the_way_out():
    sc = across("h100-sxm5-80gb", "a100-sxm4-80gb")
    del sc["plan"]["placement"]
    d = archsim.simulate(sc).to_dict()
    assert not d["feasible"]
    assert "for a pipeline across pools, plan.placement.stages" in d["infeasible_reasons"][0]


def test_layers_are_balanced_by_speed():
    """A pool twice as fast in every rate (the toy devices of hetero_toys, no launch cost)
    gets twice the layers: 16 and 8 of 24; the generation is faster than the even split."""
    import copy

    from hetero_toys import FAST, MODEL, SLOW

    def scenario(**plan):
        pools = [{"name": "a", "device": copy.deepcopy(FAST), "count": 1},
                 {"name": "b", "device": copy.deepcopy(SLOW), "count": 1}]
        return {"model": dict(MODEL),
                "hardware": {"cluster": {"pools": pools, "links": [
                    {"between": ["a", "b"], "interconnect": "ib-hdr-200g"}]}},
                "workload": {"kind": "inference", "batch": 4, "prompt_len": 256, "gen_len": 32},
                "plan": {"pp": 2, "placement": {"stages": ["a", "b"]}, **plan}}

    balanced = archsim.simulate(scenario()).to_dict()
    even = archsim.simulate(scenario(layers_per_stage=[12, 12])).to_dict()
    assert balanced["parallel"]["layers_per_stage"] == [16, 8]
    assert even["parallel"]["layers_per_stage"] == [12, 12]
    assert balanced["e2e_latency_s"] < even["e2e_latency_s"]


def test_mfu_of_a_mixed_pipeline_is_every_stages_work_over_the_mean_peak():
    """Llama-2-13B, batch 16, 1024 tokens in and 128 out, stage 0 on an H100 and stage 1 on an
    A100-40GB. By hand: 2 × 12.69e9 weight-GEMM parameters (40 layers × (4·5120² +
    3·5120·13824)) × 16 × 1152 tokens = 4.678e14, the output layer 2 × 163.8e6 × 16 × 129
    (the last prompt position and each generated token) = 0.007e14, causal prefill attention
    2·1024²·5120 × 40 × 16 = 0.069e14 and decode attention 4 × 1088 (mean context) × 5120 × 40
    × 16 × 128 = 0.018e14: 4.772e14 FLOPs over 2 devices, against the mean of 989.4 and 312
    TFLOP/s. The busiest stage's FLOPs over its own A100's peak had read 2.1× too high."""
    sc = mixed_inference()
    d = archsim.simulate(sc).to_dict()
    mean_peak = (989.4e12 + 312e12) / 2
    assert d["mfu_peak_tflops"] == pytest.approx(mean_peak / 1e12)
    flops = 4.678e14 + 0.007e14 + 0.069e14 + 0.018e14
    assert d["mfu"] == pytest.approx(flops / 2 / (d["e2e_latency_s"] * mean_peak), rel=0.02)


def test_a_mixed_pipeline_says_where_each_stage_ran():
    """The result names each stage's pool and device and its layers (it had no placement)."""
    d = archsim.simulate(mixed_inference()).to_dict()
    pl = d["placement"]
    assert pl["stages"] == ["h", "a"] and pl["devices"] == ["h100-sxm5-80gb", "a100-sxm4-40gb"]
    assert pl["layers_per_stage"] == d["parallel"]["layers_per_stage"]
    assert sum(pl["layers_per_stage"]) == 40 and pl["balanced"] is True
    # the faster H100 holds more of Llama-2-13B's 40 layers
    assert pl["layers_per_stage"][0] > pl["layers_per_stage"][1]
