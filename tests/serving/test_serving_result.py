"""Serving results: contract keys, agreement with static inference, SLOs, infeasible set-ups."""

import pytest

import archsim
from archsim.sim.serving.requests import generate_requests
from archsim.spec.errors import SpecError
from archsim.spec.loader import load_spec_file

BASE = {"model": "llama2-7b", "hardware": {"device": "a100-sxm4-80gb", "count": 1}}


def serving(**wl):
    return {**BASE, "workload": {"kind": "serving", **wl}}


@pytest.fixture(scope="module")
def loaded():
    """Two replicas, 300 Poisson requests at 6 req/s."""
    sc = {**serving(arrival={"rate_per_s": 6.0, "count": 300},
                    prompt_len={"dist": "lognormal", "mean": 400, "sigma": 0.5, "max": 2000},
                    gen_len={"dist": "uniform", "low": 50, "high": 150},
                    slo={"ttft_s": 0.2, "tpot_s": 0.02}, router="least_loaded")}
    sc["hardware"] = {"device": "a100-sxm4-80gb", "count": 2}
    return archsim.simulate(sc).to_dict()


def test_contract_keys(loaded):
    for key in ("feasible", "infeasible_reasons", "mode", "ttft_p50_s", "ttft_p99_s",
                "tpot_p50_s", "tpot_p99_s", "requests_per_s", "slo_attainment", "ttft_p90_s",
                "tpot_p90_s", "queueing_p50_s", "queueing_p99_s", "tokens_per_s",
                "goodput_rps", "memory", "communication", "energy_joules", "cost_usd", "sim"):
        assert key in loaded, key
    assert loaded["mode"] == "serving" and loaded["feasible"]
    assert loaded["sim"]["engine"] == "des" and loaded["sim"]["events"] > 300
    assert loaded["replicas"] == 2 and loaded["completed"] == 300
    assert set(loaded["memory"]["breakdown"]) == {"weights", "gradients", "optimizer_states",
                                                  "activations", "kv_cache", "other"}


def test_percentiles_are_ordered_and_throughput_matches_the_offered_load(loaded):
    d = loaded
    for m in ("ttft", "tpot", "queueing"):
        assert d[f"{m}_p50_s"] <= d[f"{m}_p90_s"] <= d[f"{m}_p99_s"]
    # light load: every request is served soon after it arrives, so the run lasts the arrival
    # span plus one request's latency, and the rates are the offered ones over that span
    wl = archsim.load_scenario({**BASE, "workload": {
        "kind": "serving", "arrival": {"rate_per_s": 6.0, "count": 300},
        "prompt_len": {"dist": "lognormal", "mean": 400, "sigma": 0.5, "max": 2000},
        "gen_len": {"dist": "uniform", "low": 50, "high": 150}}}).workload
    reqs = generate_requests(wl)
    span = reqs[-1].arrival_s - reqs[0].arrival_s
    assert span < d["duration_s"] < span + 2 * d["e2e_p99_s"]
    assert d["completed_per_s_whole_run"] == pytest.approx(300 / d["duration_s"])
    # the steady-state window starts one p99 end-to-end latency after the first arrival and
    # ends at the last arrival
    w = d["steady_state"]
    assert w["start_s"] == pytest.approx(reqs[0].arrival_s + d["e2e_p99_s"])
    assert w["end_s"] == pytest.approx(reqs[-1].arrival_s) and not w["whole_run"]
    assert d["goodput_rps"] <= d["requests_per_s"]


def test_steady_state_rates_are_the_offered_load_when_the_deployment_keeps_up():
    """Evenly spaced arrivals at 4 req/s, 50 output tokens each, far below capacity: in the
    steady state exactly 4 requests and 4 · 50 = 200 output tokens are served per second,
    while completions over the whole run (start-up and draining tail included) read lower."""
    d = archsim.simulate(serving(arrival={"rate_per_s": 4.0, "count": 200,
                                          "process": "uniform"},
                                 prompt_len=300, gen_len=50,
                                 slo={"ttft_s": 1.0, "tpot_s": 0.1})).to_dict()
    assert d["slo_attainment"] == 1.0
    assert d["requests_per_s"] == pytest.approx(4.0, rel=0.01)
    assert d["tokens_per_s"] == pytest.approx(200.0, rel=0.01)
    assert d["input_tokens_per_s"] == pytest.approx(4.0 * 300, rel=0.01)
    assert d["goodput_rps"] == pytest.approx(d["requests_per_s"])
    # the whole run: 200 completions over 199 gaps of 0.25 s plus the last one's latency —
    # about the median's (the last request runs with fewer others beside it: a little faster)
    assert d["completed_per_s_whole_run"] == pytest.approx(200 / (199 / 4 + d["e2e_p50_s"]),
                                                           rel=5e-3)
    assert d["completed_per_s_whole_run"] < 4.0
    # one definition of price: devices × price per hour / (3600 × steady tokens/s) × 10⁶
    price = load_spec_file("devices", "a100-sxm4-80gb").price_per_hour
    assert d["cost_per_hour_usd"] == pytest.approx(price)
    assert d["cost_per_million_tokens_usd"] == pytest.approx(
        price / (3600 * d["tokens_per_s"]) * 1e6)


def test_a_stream_too_short_for_a_steady_state_is_measured_over_the_whole_run():
    d = archsim.simulate(serving(arrival={"rate_per_s": 0.01, "count": 1}, prompt_len=700,
                                 gen_len=20)).to_dict()
    assert d["steady_state"]["whole_run"]
    assert d["requests_per_s"] == pytest.approx(1 / d["duration_s"])
    assert d["tokens_per_s"] == pytest.approx(20 / d["duration_s"])


def test_a_window_of_a_few_arrivals_falls_back_to_the_whole_run():
    """Two A100 replicas offered 20 requests/s for 20 s: the latency outgrows most of the
    stream, so the steady-state window would hold one arrival, and its rate read 24 requests/s
    — above the offered load. Under a quarter of the arrivals the whole run is measured."""
    d = archsim.simulate("llama2-7b-serving-a100", {"workload.replicas": 2,
                                                    "workload.arrival.count": 400}).to_dict()
    assert d["steady_state"]["whole_run"]
    assert d["steady_state"]["arrivals_in_window"] == 400
    assert d["requests_per_s"] == pytest.approx(d["completed_per_s_whole_run"], rel=0.05)
    assert d["requests_per_s"] < 20


def test_a_short_stream_whose_window_emits_no_token_is_measured_over_the_whole_run():
    """Four requests at 5/s on an A100 (the seed's Poisson draw): the last three arrive within
    4 ms at 0.340–0.344 s, after the window's start (first arrival + p99 latency), so a window
    of 3 of 4 arrivals — over a quarter — had ended at the last arrival before any of them
    emitted a token, and read 0 tokens/s. A window needs MIN_WINDOW_SENDS (20) arrivals too;
    the whole run is 16 tokens from the first arrival to the last finish."""
    from archsim.metrics.serving_window import MIN_WINDOW_SENDS, rate_basis

    d = archsim.simulate({"model": "gpt3-1.7b", "hardware": {"device": "a100-sxm4-80gb",
                                                             "count": 1},
                          "workload": {"kind": "serving", "arrival": {"rate_per_s": 5,
                                                                      "count": 4},
                                       "prompt_len": 64, "gen_len": 4}}).to_dict()
    assert MIN_WINDOW_SENDS == 20
    assert d["steady_state"]["whole_run"] and d["steady_state"]["arrivals_in_window"] == 4
    assert rate_basis(d["steady_state"]) == "whole run: too short for a steady-state window"
    assert d["tokens_per_s"] == pytest.approx(4 * 4 / d["duration_s"])
    assert d["requests_per_s"] == pytest.approx(4 / d["duration_s"])


def test_a_traces_clock_offset_bills_nothing(tmp_path):
    """The same 40 requests, their trace clock starting at 0 s or at 10⁵ s: nothing runs
    before the first arrival, so energy, cost and utilisation are the same."""
    out = []
    for offset in (0.0, 1e5):
        trace = tmp_path / f"t{offset:g}.csv"
        trace.write_text("arrival_s,prompt_len,gen_len\n" + "".join(
            f"{offset + 0.25 * i},500,100\n" for i in range(40)))
        out.append(archsim.simulate(serving(
            arrival={"process": "trace", "trace_file": str(trace)})).to_dict())
    for key in ("duration_s", "energy_joules", "cost_usd", "energy_per_token_j"):
        assert out[1][key] == pytest.approx(out[0][key], rel=1e-6), key
    assert out[1]["groups"][0]["busy_fraction"] == pytest.approx(
        out[0]["groups"][0]["busy_fraction"], rel=1e-6)


def test_a_prompt_the_watermark_never_admits_is_a_reason_not_a_stuck_queue():
    """vLLM admits a prompt only with 1% of the KV blocks left free (AllocStatus NEVER:
    total − needed < watermark). A prompt that fits the cache but not beside the watermark can
    never start — and would hold every request behind it — so the run says so up front."""
    small = {"gpu_memory_utilization": 0.1937, "max_batched_tokens": 4096}
    probe = archsim.simulate(serving(prompt_len=10, gen_len=2, **small)).to_dict()
    blocks = probe["groups"][0]["kv_blocks_per_replica"]
    watermark = int(0.01 * blocks)
    prompt = (blocks - watermark + 1) * 16 - 4  # needs blocks − watermark + 1 blocks
    d = archsim.simulate(serving(prompt_len=prompt, gen_len=3, **small)).to_dict()
    assert not d["feasible"]
    assert d["infeasible_reasons"] == [
        f"pool main: a prompt of {prompt} tokens needs {blocks - watermark + 1} of the KV "
        f"cache's {blocks} blocks, and a request is admitted only with {watermark} blocks (1%) "
        "left free (vLLM's watermark): it can never start; give the cache more memory or set "
        "chunked_prefill: true"]


def test_load_over_time_counts_waiting_and_running_requests():
    """One request alone: it waits from its arrival until its prefill starts (no queue: not
    at all), runs until it finishes, and holds prompt + emitted tokens of KV cache."""
    d = archsim.simulate(serving(arrival={"rate_per_s": 0.01, "count": 1}, prompt_len=700,
                                 gen_len=20)).to_dict()
    series = d["load_over_time"]
    assert len(series["t_s"]) == len(series["running"]) == len(series["kv_cache_used"])
    assert max(series["waiting"]) == 0 and max(series["running"]) == 1
    blocks = d["kv_cache"]["blocks_per_replica"] * d["kv_cache"]["block_size"]
    assert 700 / blocks < max(series["kv_cache_used"]) <= 720 / blocks


def test_kv_cache_fills_what_the_weights_leave():
    """vLLM's rule: 0.9 × 80 GiB − weights − activations − reserve, in 16-token blocks of
    2 · 32 layers · 4096 · 2 bytes per token."""
    d = archsim.simulate(serving(arrival={"rate_per_s": 1, "count": 2})).to_dict()
    mem = d["memory"]["breakdown"]
    free = 0.9 * 80 * 2**30 - mem["weights"] - mem["activations"] - mem["other"]
    block = 16 * 2 * 32 * 4096 * 2
    assert d["kv_cache"]["blocks_per_replica"] == int(free // block)
    assert mem["kv_cache"] == d["kv_cache"]["blocks_per_replica"] * block
    assert mem["weights"] == pytest.approx(2 * 6_738_415_616)


def test_one_request_alone_sees_exactly_the_static_inference_latencies():
    """Serving and static inference share the cost model: a lone request's TTFT and TPOT are
    the batch-1 prefill and mean decode step."""
    inf = archsim.simulate({**BASE, "workload": {"kind": "inference", "batch": 1,
                                                 "prompt_len": 700, "gen_len": 20}}).to_dict()
    srv = archsim.simulate(serving(arrival={"rate_per_s": 0.01, "count": 1},
                                   prompt_len=700, gen_len=20)).to_dict()
    assert srv["ttft_p50_s"] == pytest.approx(inf["ttft_s"], rel=1e-12)
    assert srv["tpot_p50_s"] == pytest.approx(inf["tpot_s"], rel=1e-12)
    # its 19 inter-token gaps are its decode steps: their mean is its TPOT
    assert srv["itl_mean_s"] == pytest.approx(srv["tpot_p50_s"], rel=1e-12)


def test_pipeline_replica_draws_full_power_only_where_a_stage_runs():
    """A lone request on a 2-stage replica: each stage is busy exactly as in the static
    pp = 2 run, and the run starts at its arrival, so the energies are equal (until
    2026-12-06 the two devices were billed idle power from t = 0 to the arrival)."""
    two = {"hardware.count": 2, "plan.pp": 2}
    inf = archsim.simulate({**BASE, "workload": {"kind": "inference", "batch": 1,
                                                 "prompt_len": 700, "gen_len": 20}},
                           two).to_dict()
    sc = serving(arrival={"rate_per_s": 0.01, "count": 1}, prompt_len=700, gen_len=20)
    srv = archsim.simulate(sc, two).to_dict()
    assert generate_requests(archsim.load_scenario(sc, two).workload)[0].arrival_s > 0
    assert srv["e2e_p50_s"] == pytest.approx(inf["e2e_latency_s"], rel=1e-12)
    assert srv["energy_joules"] == pytest.approx(inf["energy_joules"], rel=1e-9)


def test_slo_attainment_counts_requests_meeting_both_objectives():
    sc = serving(arrival={"rate_per_s": 0.01, "count": 1}, prompt_len=700, gen_len=20)
    one = archsim.simulate(sc).to_dict()
    ttft, tpot = one["ttft_p50_s"], one["tpot_p50_s"]
    met = archsim.simulate(sc, {"workload.slo": {"ttft_s": ttft * 1.01,
                                                 "tpot_s": tpot * 1.01}}).to_dict()
    assert met["slo_attainment"] == 1.0 and met["meets_slo"]
    missed = archsim.simulate(sc, {"workload.slo": {"ttft_s": ttft * 1.01,
                                                    "tpot_s": tpot * 0.99}}).to_dict()
    assert missed["slo_attainment"] == 0.0 and missed["goodput_rps"] == 0.0
    assert one["slo_attainment"] is None  # no SLO given


def test_overload_grows_queues_and_misses_the_slo():
    light = serving(arrival={"rate_per_s": 2.0, "count": 200}, prompt_len=1000, gen_len=50,
                    slo={"ttft_s": 0.5})
    heavy = serving(arrival={"rate_per_s": 40.0, "count": 200}, prompt_len=1000, gen_len=50,
                    slo={"ttft_s": 0.5})
    a, b = archsim.simulate(light).to_dict(), archsim.simulate(heavy).to_dict()
    assert a["slo_attainment"] > 0.95 > b["slo_attainment"]
    assert b["queueing_p99_s"] > 10 * a["queueing_p99_s"]
    assert b["requests_per_s"] < 40.0  # capacity-bound


def test_tensor_parallel_replica_reports_its_all_reduces():
    sc = serving(arrival={"rate_per_s": 2, "count": 20}, prompt_len=128, gen_len=8)
    sc["hardware"] = {"device": "a100-sxm4-80gb", "count": 2}
    d = archsim.simulate(sc, {"plan.tp": 2}).to_dict()
    ar = d["communication"]["by_kind"]["allreduce"]
    # every token of every pass goes through 2 all-reduces per layer + 1 after the embedding
    tokens = 20 * 128 + 20 * 7
    assert ar["bytes"] == pytest.approx(tokens * (2 * 32 + 1) * 2 * 4096)
    # every output token is sampled once (the prompt's last position, then each decode step):
    # its vocab-parallel logits, 32000 × 2 bytes, are all-gathered over the 2 ranks
    gathered = d["communication"]["by_kind"]["allgather"]
    assert gathered["bytes"] == pytest.approx(20 * 8 * 32000 * 2)
    assert d["replicas"] == 1


# ---------------------------------------------------------------- infeasible and bad input


def test_requests_longer_than_the_model_are_infeasible():
    d = archsim.simulate(serving(arrival={"rate_per_s": 1, "count": 5}, prompt_len=4000,
                                 gen_len=200)).to_dict()
    assert not d["feasible"]
    assert d["infeasible_reasons"][0].startswith(
        "5 of 5 requests are longer than the model's max_seq_len 4096 (longest: prompt 4000 + "
        "output 200 = 4200 tokens)")
    assert d["ttft_p99_s"] is None


def test_a_kv_cache_that_cannot_hold_one_request_is_infeasible_with_numbers():
    # 0.18 × 80 GiB = 14.4 GiB holds the 12.55 GiB of weights, 0.66 GiB of activations, 1 GiB
    # of reserve and 0.19 GiB of KV cache: 24 blocks, 384 tokens
    d = archsim.simulate(serving(arrival={"rate_per_s": 1, "count": 2}, prompt_len=1000,
                                 gen_len=10, gpu_memory_utilization=0.18)).to_dict()
    assert not d["feasible"]
    (reason,) = d["infeasible_reasons"]
    assert reason.startswith("pool main: the KV cache holds 24 blocks of 16 tokens (384 tokens "
                             "per replica")
    assert "the largest request needs 64 blocks (1009 tokens)" in reason
    none = archsim.simulate(serving(arrival={"rate_per_s": 1, "count": 2},
                                    gpu_memory_utilization=0.15)).to_dict()
    assert "no room for the KV cache" in none["infeasible_reasons"][0]


def test_prompt_over_the_token_budget_needs_chunked_prefill():
    sc = serving(arrival={"rate_per_s": 1, "count": 2}, prompt_len=3000, gen_len=10,
                 max_batched_tokens=2048)
    d = archsim.simulate(sc).to_dict()
    assert "a prompt of 3000 tokens exceeds max_batched_tokens 2048" in \
        d["infeasible_reasons"][0]
    ok = archsim.simulate(sc, {"workload.chunked_prefill": True}).to_dict()
    assert ok["feasible"] and ok["completed"] == 2


def test_more_replicas_than_devices_is_infeasible():
    d = archsim.simulate(serving(arrival={"rate_per_s": 1, "count": 2}, replicas=3)).to_dict()
    assert d["infeasible_reasons"] == [
        "pool main: 3 replicas of tp·pp = 1·1 need 3 devices; the pool has 1"]


def test_unknown_router_is_a_spec_error():
    with pytest.raises(SpecError, match=r"workload\.router: Input should be 'round_robin' or "
                                        r"'least_loaded'"):
        archsim.load_scenario(serving(router="random"))


def test_a_clipped_lognormal_reports_the_mean_its_requests_had():
    """Answers lognormal of mean 250, sigma 0.8, capped at 512: μ = ln 250 − 0.8²/2 = 5.2015,
    d = (μ − ln 512)/0.8 = −1.296, so P(X > 512) = Φ(−1.296) = 9.7% and
    E[(X − 512)+] = 250·Φ(d + 0.8) − 512·Φ(d) = 77.5 − 49.9 = 27.6: the drawn answers average
    about 222 tokens, not 250 (sampling error of 800 draws: about ±5). The result gives the
    drawn means and says why they differ; an uncapped distribution gets no note."""
    capped = archsim.simulate(serving(
        arrival={"rate_per_s": 20.0, "count": 800},
        prompt_len=128, gen_len={"dist": "lognormal", "mean": 250, "sigma": 0.8,
                                 "max": 512})).to_dict()
    gen = capped["lengths"]["gen"]
    assert gen["mean"] == pytest.approx(222.4, abs=15)
    assert gen["max"] == 512
    assert capped["lengths"]["prompt"] == {"mean": 128.0, "max": 128}
    (note,) = capped["notes"]
    assert note.startswith("workload.gen_len: lognormal of mean 250 clipped at max 512: the "
                           "requests average ")
    plain = archsim.simulate(serving(arrival={"rate_per_s": 20.0, "count": 50}, prompt_len=128,
                                     gen_len={"dist": "uniform", "low": 50,
                                              "high": 150})).to_dict()
    assert "notes" not in plain


def test_weighted_percentiles_of_inter_token_gaps():
    """Gaps 10 ms (3 tokens), 30 ms (1), 20 ms (6): sorted 10 (3), 20 (9), 30 (10) cumulative;
    p50 is the first at or past 5 of 10 tokens: 20 ms; p90 the first at 9: 20 ms; p99: 30 ms."""
    import numpy as np

    from archsim.metrics.serving import _weighted_pct

    gaps, weights = np.array([0.010, 0.030, 0.020]), np.array([3.0, 1.0, 6.0])
    assert [_weighted_pct(gaps, weights, p) for p in (50, 90, 99)] == [0.020, 0.020, 0.030]
    assert _weighted_pct(np.array([]), np.array([]), 50) is None


def test_the_queue_is_followed_back_to_its_last_empty_moment():
    """Arrivals at 0, 1, 2, 3 s, first scheduled at 0, 1.5, 3.5, 4 s: the first never waits,
    the second waits 1–1.5 s, then the queue holds one request from 2 s and two from 3 s.
    At the last arrival (3 s) it has not emptied since 2 s; a queue empty at the last arrival
    gives no such stretch."""
    import numpy as np

    from archsim.metrics.serving_window import Stamps, queued_since

    def stamps(scheduled):
        n = len(scheduled)
        return Stamps(np.array([0.0, 1.0, 2.0, 3.0]), np.array(scheduled), np.zeros(n),
                      np.zeros(n), np.ones(n), np.ones(n), np.ones(n, dtype=bool))

    assert queued_since(stamps([0.0, 1.5, 3.5, 4.0]), 3.0) == 2.0
    assert queued_since(stamps([0.0, 1.5, 2.5, 3.0]), 3.0) is None


def test_an_overloaded_deployment_is_measured_while_its_queue_never_empties():
    """One A100 offered 15 and 30 requests/s (prefill first, 4096-token budget), 1000 requests:
    the latency outgrows the stream, but the queue never empties from some time to the last
    arrival; the rates are measured there. The served rate stays below the offered load and
    does not fall as the load rises (over the whole run, start-up and tail included, it had read
    8.26 and 8.41 requests/s beside the steady 8.72 at 10)."""
    def run(rate):
        return archsim.simulate("llama2-7b-serving-a100", {
            "hardware.count": 1, "workload.arrival.count": 1000,
            "workload.chunked_prefill": False, "workload.max_batched_tokens": 4096,
            "workload.arrival.rate_per_s": rate}).to_dict()

    fifteen, thirty = run(15.0), run(30.0)
    for d, rate in ((fifteen, 15.0), (thirty, 30.0)):
        st = d["steady_state"]
        assert st["saturated"] and not st["whole_run"]
        last_arrival = d["duration_s"] - d["e2e_p99_s"]  # at most the last arrival
        assert st["start_s"] < st["end_s"] and st["end_s"] > last_arrival
        assert d["completed_per_s_whole_run"] < d["requests_per_s"] < rate
    # at capacity the server serves what it can, however far it is overloaded
    assert thirty["requests_per_s"] == pytest.approx(fifteen["requests_per_s"], rel=0.02)


def test_an_overload_far_faster_than_a_request_is_measured_at_capacity():
    """2,000 requests at 10,000/s on one H100 (Llama-3-8B FP8, 128 in, 128 out) arrive in
    0.2 s, while the first batch fills: the stretch while the queue waits had ended at the last
    arrival and read 2,294 tokens/s (17,824 at 1,000/s). It now runs until the queue empties,
    from once the batch has filled, and reads what the same requests sent at once (a burst)
    read over the whole run, which is the deployment's capacity, at both rates."""
    def run(arrival):
        return archsim.simulate({"model": "llama3-8b",
                                 "hardware": {"device": "h100-sxm5-80gb", "count": 1},
                                 "workload": {"kind": "serving", "arrival": arrival,
                                              "prompt_len": 128, "gen_len": 128,
                                              "dtype": "fp8"}}).to_dict()

    burst = run({"process": "burst", "count": 2000})
    for rate in (1000, 10000):
        d = run({"rate_per_s": rate, "count": 2000})
        assert d["steady_state"]["saturated"]
        assert d["tokens_per_s"] == pytest.approx(burst["tokens_per_s"], rel=0.02)
        assert d["steady_state"]["end_s"] > 1.0  # the last arrival is at about 2 or 0.2 s
