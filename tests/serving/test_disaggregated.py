"""Disaggregated serving: prefill on one pool, decode on another, KV cache over the link."""

import copy

import pytest

import archsim
from archsim.spec.errors import SpecError
from archsim.spec.loader import load_spec_file

CLUSTER = {"pools": [{"name": "fast", "device": "h100-sxm5-80gb", "count": 2},
                     {"name": "cheap", "device": "a100-sxm4-80gb", "count": 2}],
           "links": [{"between": ["fast", "cheap"], "interconnect": "ib-ndr-400g"}]}


def scenario(**wl):
    return {"model": "llama2-7b", "hardware": {"cluster": copy.deepcopy(CLUSTER)},
            "workload": {"kind": "serving", "router": "least_loaded", **wl},
            "plan": {"placement": {"prefill": "fast", "decode": "cheap"}}}


def single(device: str, prompt: int, gen: int) -> dict:
    return archsim.simulate({"model": "llama2-7b",
                             "hardware": {"device": device, "count": 1},
                             "workload": {"kind": "inference", "batch": 1,
                                          "prompt_len": prompt, "gen_len": gen}}).to_dict()


def test_one_request_prefills_on_one_pool_and_decodes_on_the_other():
    d = archsim.simulate(scenario(arrival={"rate_per_s": 0.01, "count": 1}, prompt_len=1000,
                                  gen_len=30)).to_dict()
    h100 = single("h100-sxm5-80gb", 1000, 30)
    a100 = single("a100-sxm4-80gb", 1000, 30)
    link = load_spec_file("interconnects", "ib-ndr-400g")
    hdr = load_spec_file("interconnects", "ib-hdr-200g")  # the A100's own NIC, one per GPU
    kv_bytes = 2 * 32 * 32 * 128 * 2 * 1000  # K and V, all layers, the 1000-token prompt
    # the NDR link's lane is faster than the receiving A100's HDR NIC, which sets the rate
    assert hdr.achieved_bandwidth < link.achieved_bandwidth
    transfer = link.latency + kv_bytes / hdr.achieved_bandwidth
    assert d["ttft_p50_s"] == pytest.approx(h100["ttft_s"], rel=1e-12)
    assert d["kv_transfer"]["bytes_total"] == pytest.approx(kv_bytes)
    assert d["kv_transfer"]["time_mean_s"] == pytest.approx(transfer)
    assert d["kv_transfer"]["limited_by"] == "the receiving pool cheap's 1 NIC (ib-hdr-200g)"
    # the second token waits for the cache; then the A100 decodes exactly as it would alone
    a100_decode = a100["e2e_latency_s"] - a100["ttft_s"]
    assert d["e2e_p50_s"] == pytest.approx(h100["ttft_s"] + transfer + a100_decode, rel=1e-9)
    assert [g["role"] for g in d["groups"]] == ["prefill", "decode"]
    # a client streaming from the decode pool gets its first token one A100 decode step (at
    # the 1000-token context: a 2-token static run's decode) after the cache has crossed
    first_step = single("a100-sxm4-80gb", 1000, 2)
    step = first_step["e2e_latency_s"] - first_step["ttft_s"]
    assert d["ttft_decode_pool_p50_s"] == pytest.approx(h100["ttft_s"] + transfer + step,
                                                        rel=1e-9)
    assert "ttft_decode_pool_p50_s" not in h100 and "ttft_decode_pool_p50_s" not in d["colocated"]


def test_colocated_comparison_runs_the_same_requests_on_the_same_devices():
    d = archsim.simulate(scenario(arrival={"rate_per_s": 6, "count": 200}, prompt_len=3000,
                                  gen_len=100, slo={"ttft_s": 0.5, "tpot_s": 0.03})).to_dict()
    colo = d["colocated"]
    assert colo["requests"] == d["requests"] == 200 and colo["devices"] == d["devices"] == 4
    assert [g["role"] for g in colo["groups"]] == ["both", "both"]
    cmp = d["comparison"]
    assert cmp["ttft_p99_ratio"] == pytest.approx(d["ttft_p99_s"] / colo["ttft_p99_s"])
    # every 3000-token prompt runs on an H100 (3.2× the A100's dense peak) instead of half of
    # them on A100s behind decode rounds: the slow tail of TTFT shrinks by more than half
    assert d["ttft_p99_s"] < 0.5 * colo["ttft_p99_s"]
    assert 0 < d["kv_transfer"]["link_utilization"] < 1


def test_placement_errors_name_the_pools():
    sc = scenario(arrival={"rate_per_s": 1, "count": 1})
    sc["plan"]["placement"]["decode"] = "slow"
    with pytest.raises(SpecError, match=r"plan\.placement\.decode: .*'slow'.*fast, cheap"):
        archsim.simulate(sc)
    sc["plan"]["placement"] = {"prefill": "fast", "decode": "fast"}
    with pytest.raises(SpecError, match="prefill and decode name the same pool 'fast'"):
        archsim.simulate(sc)
    sc["plan"]["placement"] = {"prefill": "fast", "decoder": "cheap"}
    with pytest.raises(SpecError, match=r"plan\.placement\.decoder: unknown key"):
        archsim.simulate(sc)
    sc["plan"]["placement"] = {"prefill": {"pool": "fast", "tp": 0}, "decode": "cheap"}
    with pytest.raises(SpecError, match=r"plan\.placement\.prefill\.tp: expected a whole "
                                        r"number ≥ 1; got 0"):
        archsim.simulate(sc)


def test_the_kv_cache_crosses_a_third_pool_where_no_link_joins_the_two():
    """No link joins fast and cheap; both link to a hub pool over NDR, one at a quarter of its
    speed: the cache takes the route through the hub, at its slowest link (a quarter of NDR,
    below the A100's HDR NIC), with the two links' latencies."""
    sc = scenario(arrival={"rate_per_s": 0.01, "count": 1}, prompt_len=1000, gen_len=2)
    sc["hardware"]["cluster"]["pools"].append({"name": "hub", "device": "l40s", "count": 1})
    sc["hardware"]["cluster"]["links"] = [
        {"between": ["fast", "hub"], "interconnect": "ib-ndr-400g"},
        {"between": ["hub", "cheap"], "interconnect": "ib-ndr-400g", "speed": 0.25}]
    d = archsim.simulate(sc).to_dict()
    ndr = load_spec_file("interconnects", "ib-ndr-400g")
    kv = d["kv_transfer"]
    assert kv["link"] == "ib-ndr-400g → ib-ndr-400g"
    assert kv["bandwidth_bytes_per_s"] == pytest.approx(0.25 * ndr.achieved_bandwidth)
    assert kv["time_mean_s"] == pytest.approx(
        2 * ndr.latency + 2 * 32 * 32 * 128 * 2 * 1000 / (0.25 * ndr.achieved_bandwidth))
    assert kv["limited_by"] == "the route (ib-ndr-400g → ib-ndr-400g, 1 lane)"


def test_pools_with_no_route_between_them_are_a_spec_error():
    sc = scenario(arrival={"rate_per_s": 1, "count": 1})
    sc["hardware"]["cluster"]["pools"].append({"name": "hub", "device": "l40s", "count": 1})
    sc["hardware"]["cluster"]["links"] = [
        {"between": ["fast", "hub"], "interconnect": "ib-ndr-400g"}]
    with pytest.raises(SpecError, match=r"hardware\.cluster: pool 'cheap' cannot be reached "
                                        r"from pool 'fast': add a link between pools"):
        archsim.simulate(sc)


def test_a_degraded_link_slows_the_transfer():
    """speed 0.25 on the NDR link: a quarter of its achieved bandwidth is below the A100's HDR
    NIC, so the link sets the rate (it had been ignored: the transfer took as long at 0.25)."""
    sc = scenario(arrival={"rate_per_s": 0.01, "count": 1}, prompt_len=1000, gen_len=2)
    sc["hardware"]["cluster"]["links"][0]["speed"] = 0.25
    d = archsim.simulate(sc).to_dict()
    ndr = load_spec_file("interconnects", "ib-ndr-400g")
    assert d["kv_transfer"]["bandwidth_bytes_per_s"] == pytest.approx(
        0.25 * ndr.achieved_bandwidth)


def test_per_phase_parallelism_and_replicas():
    sc = scenario(arrival={"rate_per_s": 2, "count": 20}, prompt_len=500, gen_len=20)
    sc["plan"]["placement"] = {"prefill": {"pool": "fast", "replicas": 1},
                               "decode": {"pool": "cheap", "tp": 2}}
    d = archsim.simulate(sc).to_dict()
    groups = {g["role"]: g for g in d["groups"]}
    assert groups["prefill"]["replicas"] == 1 and groups["decode"]["tp"] == 2
    assert d["devices"] == 3 and d["completed"] == 20
    # one lane between a 1-device prefill replica and a 2-device decode replica (the smaller
    # side's devices); the decode replica receives through its two GPUs' HDR NICs
    ndr = load_spec_file("interconnects", "ib-ndr-400g")
    hdr = load_spec_file("interconnects", "ib-hdr-200g")
    assert d["kv_transfer"]["bandwidth_bytes_per_s"] == pytest.approx(
        min(ndr.achieved_bandwidth, 2 * hdr.achieved_bandwidth))


def test_a_colocated_comparison_that_cannot_hold_the_requests_says_so():
    """Prefill on an H100 cut to 16.5 GiB: 0.9 × 16.5 GiB − 12.55 GiB of weights − 675.2 MiB
    of activations (8192 batched tokens) − 1 GiB reserve leaves 81 blocks of 16 tokens (8 MiB
    each), enough for a 1000-token prompt (63 blocks) but not for the whole request colocated
    (1000 + 500 − 1 = 1499 tokens, 94 blocks). Disaggregated serving runs every request; the
    colocated comparison, round-robin over its four replicas (two H100s, then two A100s),
    strands the two requests sent to the H100s."""
    sc = archsim.load_scenario(scenario(arrival={"rate_per_s": 1, "count": 4}, prompt_len=1000,
                                        gen_len=500, router="round_robin"))
    pools = [p.model_copy(update={"device": p.device.model_copy(update={
        "memory": p.device.memory.model_copy(update={"capacity": 16.5 * 2**30})})})
        if p.name == "fast" else p for p in sc.cluster.pools]
    cluster = sc.hardware.cluster.model_copy(update={"pools": pools})
    sc = sc.model_copy(update={"hardware": sc.hardware.model_copy(update={"cluster": cluster})})
    d = archsim.simulate(sc).to_dict()
    assert d["feasible"] and d["completed"] == 4
    colo = d["colocated"]
    assert not colo["feasible"] and colo["completed"] == 2
    assert colo["infeasible_reasons"][0] == (
        "pool fast: the KV cache holds 81 blocks of 16 tokens (1296 tokens per replica, 0.63 GiB "
        "per device) but the largest request needs 94 blocks (1499 tokens)")
