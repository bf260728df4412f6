"""The worked serving scenarios in workloads/scenarios/, run by name and checked against
numbers worked out by hand (memory, bytes) and against what must hold (bounds, definitions)."""

import pytest

import archsim
from archsim.capacity import plan_capacity
from archsim.sim.serving.requests import generate_requests
from archsim.spec.loader import load_spec_file

GIB = 2**30
TOKEN_KV = 2 * 32 * 32 * 128 * 2  # Llama-2-7B: K and V, 32 layers × 32 heads × 128, bf16
WEIGHTS = 2 * 6_738_415_616
A100 = load_spec_file("devices", "a100-sxm4-80gb")


@pytest.fixture(scope="module")
def serving():
    return archsim.simulate("llama2-7b-serving-a100").to_dict()


@pytest.fixture(scope="module")
def disagg():
    return archsim.simulate("llama2-7b-disagg-h100-a100").to_dict()


def test_serving_kv_blocks_by_hand(serving):
    # activations of a 2048-token pass: hidden in/out 2·2·2048·4096, the SwiGLU MLP's
    # gate/up/activation 2·2048·11008·3 (the largest intermediate), fp32 logits 4·256·32000
    act = 2 * 2 * 2048 * 4096 + 2 * 2048 * 11008 * 3 + 4 * 256 * 32000
    free = 0.9 * 80 * GIB - WEIGHTS - act - 1 * GIB
    assert serving["memory"]["breakdown"]["activations"] == act
    assert serving["kv_cache"]["blocks_per_replica"] == int(free // (16 * TOKEN_KV)) == 7457


def test_serving_meets_its_slo_within_physical_bounds(serving):
    d = serving
    assert d["feasible"] and d["completed"] == 1500 and d["replicas"] == 4
    assert d["slo_attainment"] >= 0.9 and d["meets_slo"]
    # a decode step reads at least the layer and head weights at the datasheet bandwidth
    weights_read = WEIGHTS - 2 * 32000 * 4096
    assert d["tpot_p50_s"] > weights_read / A100.memory.bandwidth
    wl = archsim.load_scenario("llama2-7b-serving-a100").workload
    reqs = generate_requests(wl)
    assert d["completed_per_s_whole_run"] == pytest.approx(1500 / d["duration_s"])
    # it keeps up: in the steady state it serves the offered 20 req/s (Poisson arrivals: the
    # window's own arrival count, within a few percent)
    w = d["steady_state"]
    assert d["requests_per_s"] == pytest.approx(
        w["arrivals_in_window"] / (w["end_s"] - w["start_s"]), rel=0.03)
    span = reqs[-1].arrival_s - reqs[0].arrival_s
    assert span < d["duration_s"] < span + 2 * d["e2e_p99_s"]


def test_disaggregated_kv_bytes_and_transfer_times(disagg):
    d = disagg
    assert d["feasible"] and d["completed"] == 800
    reqs = generate_requests(archsim.load_scenario("llama2-7b-disagg-h100-a100").workload)
    kv = d["kv_transfer"]
    assert kv["bytes_total"] == pytest.approx(sum(r.prompt_len for r in reqs) * TOKEN_KV)
    link = load_spec_file("interconnects", "ib-ndr-400g")
    hdr = load_spec_file("interconnects", "ib-hdr-200g")  # each A100's NIC receives
    assert kv["bandwidth_bytes_per_s"] == pytest.approx(hdr.achieved_bandwidth)
    alone = link.latency + kv["bytes_per_request_mean"] / hdr.achieved_bandwidth
    assert kv["time_mean_s"] >= alone * (1 - 1e-9)  # queueing for the NICs only adds
    assert {g["role"]: g["device"] for g in d["groups"]} == {"prefill": "h100-sxm5-80gb",
                                                             "decode": "a100-sxm4-80gb"}


def test_disaggregated_against_colocated(disagg):
    d, colo = disagg, disagg["colocated"]
    assert colo["completed"] == d["completed"] and colo["devices"] == d["devices"] == 6
    # prompts all run on H100s, never behind decode rounds: the TTFT tail is shorter
    assert d["ttft_p99_s"] < colo["ttft_p99_s"]
    assert d["comparison"]["ttft_p99_ratio"] == pytest.approx(d["ttft_p99_s"] /
                                                              colo["ttft_p99_s"])


def test_capacity_scenario():
    out = plan_capacity("llama2-7b-capacity", rate=30.0,
                        devices=["a100-sxm4-80gb", "h100-sxm5-80gb"])
    rows = {r["device"]: r for r in out["rows"]}
    assert all(r["feasible"] for r in rows.values())
    a100 = rows["a100-sxm4-80gb"]
    assert a100["replicas"] > 1  # the scenario is sized so that one A100 is not enough
    # the answer is the boundary: one replica fewer misses the 90% target
    fewer = archsim.simulate("llama2-7b-capacity", {
        "hardware.count": a100["replicas"] - 1, "workload.replicas": a100["replicas"] - 1,
        "workload.arrival.rate_per_s": 30.0}).to_dict()
    assert not fewer["meets_slo"]
    assert rows["h100-sxm5-80gb"]["replicas"] <= a100["replicas"]
    assert out["best"] in rows


def test_maxload_scenario_is_a_burst_measured_over_the_whole_run():
    """llama3-8b-maxload-h100: 30,000 requests at once; the throughput is output tokens over
    the run's duration (trtllm-bench's definition), and no decode round can hold more
    sequences than the engine limit or the KV cache (64 KiB per FP8 token of Llama-3-8B:
    2 × 32 layers × 8 KV heads × 128 × 1 byte, 256 tokens at most per request)."""
    d = archsim.simulate("llama3-8b-maxload-h100").to_dict()
    assert d["feasible"] and d["completed"] == 30000
    assert d["steady_state"]["burst"] and d["offered_requests_per_s"] is None
    assert d["tokens_per_s"] == pytest.approx(30000 * 128 / d["duration_s"], rel=1e-12)
    token_kv = 2 * 32 * 8 * 128 * 1
    assert d["kv_cache"]["bytes_per_token_per_device"] == token_kv
    cache_tokens = d["kv_cache"]["blocks_per_replica"] * 16
    assert d["mean_decode_batch"] <= min(4096, cache_tokens / 129)
    # a decode round reads every layer's FP8 weights at most at the datasheet bandwidth: the
    # rate is below batch / (weight bytes / bandwidth) at the largest batch
    h100 = load_spec_file("devices", "h100-sxm5-80gb")
    # Q and O 4096 × 4096, K and V 4096 × 1024 (8 of 32 heads), the SwiGLU MLP 3 × 4096 × 14336
    layer_weights = 32 * (2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336)
    assert d["tokens_per_s"] < 4096 * h100.memory.bandwidth / layer_weights
