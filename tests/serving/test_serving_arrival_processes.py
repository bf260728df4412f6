"""Serving arrival processes ``burst`` (every request at time 0) and ``closed`` (``concurrency``
clients, each sending its next request the moment its last one finishes): the request stream,
the engine's closed loop, and the steady-state window and its latency means.

Every expected value follows from the definitions (archsim/spec/workload.py ArrivalSpec,
archsim/sim/serving/engine.py run_serving, archsim/metrics/serving.py), not from a previous
run's output."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest

import archsim
from archsim.cli import main
from archsim.metrics.serving import simulate_layout
from archsim.plan.serving import resolve_serving_layout
from archsim.sim.serving.requests import generate_requests, sample_lengths

BASE = {"model": "llama2-7b", "hardware": {"device": "a100-sxm4-80gb", "count": 1}}


def serving(arrival: dict, base: dict | None = None, **wl) -> dict:
    return {**copy.deepcopy(base or BASE),
            "workload": {"kind": "serving", "arrival": arrival, **wl}}


def run(spec: dict) -> dict:
    d = archsim.simulate(spec).to_dict()
    assert d["mode"] == "serving" and d["feasible"], d.get("infeasible_reasons")
    return d


def stamps(spec: dict) -> list:
    """The requests of ``spec``'s run, with their timestamps (the engine run on the
    scenario's layout, as archsim/metrics/serving.py simulate_serving runs it)."""
    sc = archsim.load_scenario(spec)
    layout, reasons = resolve_serving_layout(sc)
    assert layout is not None and not reasons
    requests = generate_requests(sc.workload)
    out = simulate_layout(layout.groups, requests, sc.workload,
                          link=layout.link if layout.disaggregated else None)
    assert all(r.finish_s >= 0 for r in out.requests)
    return out.requests


def in_flight(requests, t: float) -> int:
    """Requests arrived and not finished at ``t`` (one that finishes at t has left; one that
    arrives at t is in)."""
    return sum(1 for r in requests if r.arrival_s <= t < r.finish_s)


# ------------------------------------------------------------------ the request stream

LOGNORMAL = {"dist": "lognormal", "mean": 300, "sigma": 0.6, "max": 2000}
UNIFORM = {"dist": "uniform", "low": 10, "high": 90}


def workload(arrival: dict):
    return archsim.load_scenario(serving(arrival, prompt_len=LOGNORMAL,
                                         gen_len=UNIFORM)).workload


def test_poisson_stream_is_an_exponential_cumsum_then_the_lengths_from_the_same_seed():
    """Poisson arrivals are drawn first from the seeded generator (gaps of mean 1/rate), the
    lengths after them: the stream of a seed is what it was before burst and closed existed."""
    rate, n, seed = 7.0, 50, 3
    reqs = generate_requests(workload({"process": "poisson", "rate_per_s": rate, "count": n,
                                       "seed": seed}))
    rng = np.random.default_rng(seed)
    times = np.cumsum(rng.exponential(1.0 / rate, size=n))
    prompts = sample_lengths(workload({"rate_per_s": 1.0}).prompt_len, n, rng, "p")
    gens = sample_lengths(workload({"rate_per_s": 1.0}).gen_len, n, rng, "g")
    assert [r.arrival_s for r in reqs] == times.tolist()
    assert [r.prompt_len for r in reqs] == prompts.tolist()
    assert [r.gen_len for r in reqs] == gens.tolist()
    assert [r.rid for r in reqs] == list(range(n))
    # the same seed repeats the stream; another seed does not
    again = generate_requests(workload({"process": "poisson", "rate_per_s": rate, "count": n,
                                        "seed": seed}))
    assert [(r.arrival_s, r.prompt_len, r.gen_len) for r in again] == \
        [(r.arrival_s, r.prompt_len, r.gen_len) for r in reqs]
    other = generate_requests(workload({"process": "poisson", "rate_per_s": rate, "count": n,
                                        "seed": seed + 1}))
    assert [r.arrival_s for r in other] != [r.arrival_s for r in reqs]


def test_burst_and_closed_streams_arrive_at_zero_with_uniforms_lengths():
    """burst and closed draw no arrival times (all 0 here; a closed run sets them later), so
    their lengths are the first draws of the seed, as for evenly spaced (uniform) arrivals."""
    n, seed = 40, 5
    burst = generate_requests(workload({"process": "burst", "count": n, "seed": seed}))
    closed = generate_requests(workload({"process": "closed", "concurrency": 3, "count": n,
                                         "seed": seed}))
    even = generate_requests(workload({"process": "uniform", "rate_per_s": 2.0, "count": n,
                                       "seed": seed}))
    assert [r.arrival_s for r in burst] == [0.0] * n
    assert [r.arrival_s for r in closed] == [0.0] * n
    assert [r.arrival_s for r in even] == [i / 2.0 for i in range(n)]
    lengths = [(r.prompt_len, r.gen_len) for r in even]
    assert [(r.prompt_len, r.gen_len) for r in burst] == lengths
    assert [(r.prompt_len, r.gen_len) for r in closed] == lengths
    assert len({p for p, _ in lengths}) > 1  # the lengths are drawn, not one constant


# ------------------------------------------------------------------ closed loop, one client

PROMPT, GEN = 512, 64


def test_closed_loop_of_one_client_runs_requests_back_to_back():
    """One client on one replica: each request is sent when the previous one finishes, so it
    runs alone on an empty replica — every end-to-end latency is a lone request's, and the
    client's rates are 1 / e2e requests/s and gen_len / e2e tokens/s."""
    n = 30  # the window holds n − 2 sends, at least CLOSED_MIN_SENDS (20)
    spec = serving({"process": "closed", "concurrency": 1, "count": n},
                   prompt_len=PROMPT, gen_len=GEN)
    reqs = stamps(spec)
    assert reqs[0].arrival_s == 0.0
    for prev, r in itertools.pairwise(reqs):
        assert r.arrival_s == prev.finish_s  # sent at that very instant
        assert r.first_scheduled_s == r.arrival_s  # nothing queued ahead of it
    lone = run(serving({"process": "uniform", "rate_per_s": 1.0, "count": 1},
                       prompt_len=PROMPT, gen_len=GEN))
    e2e = lone["e2e_latency_s"]
    for r in reqs:
        assert r.finish_s - r.arrival_s == pytest.approx(e2e, rel=1e-9)
        assert r.first_token_s - r.arrival_s == pytest.approx(lone["ttft_s"], rel=1e-9)

    d = run(spec)
    assert d["duration_s"] == pytest.approx(n * e2e, rel=1e-9)
    assert d["e2e_latency_s"] == pytest.approx(e2e, rel=1e-9)
    w = d["steady_state"]
    assert not w["whole_run"] and not w["burst"] and not w["saturated"]
    # the window: one p99 e2e after the first send, to the last send (= request n−2's finish)
    assert w["start_s"] == pytest.approx(e2e, rel=1e-9)
    assert w["end_s"] == pytest.approx((n - 1) * e2e, rel=1e-9)
    assert d["tokens_per_s"] == pytest.approx(GEN / e2e, rel=0.01)
    assert d["requests_per_s"] == pytest.approx(1 / e2e, rel=0.01)
    assert w["e2e_mean_s"] == pytest.approx(e2e, rel=1e-9)
    assert w["ttft_mean_s"] == pytest.approx(lone["ttft_s"], rel=1e-9)
    assert w["tpot_mean_s"] == pytest.approx(lone["tpot_s"], rel=1e-9)
    # a closed loop offers no rate of its own: its clients wait for their answers
    assert d["offered_requests_per_s"] is None
    # 10 requests: a window of 8 sends is too few to read a rate from (one client's 2 of 4
    # had read 3.5× its rate): the whole run, its latencies those after the first send
    short = run(serving({"process": "closed", "concurrency": 1, "count": 10},
                        prompt_len=PROMPT, gen_len=GEN))
    w = short["steady_state"]
    assert w["whole_run"] and not w["saturated"] and not w["latencies_in_window"]
    assert short["requests_per_s"] == pytest.approx(10 / (10 * e2e), rel=1e-9)
    assert short["e2e_latency_s"] == pytest.approx(e2e, rel=1e-9)


# ------------------------------------------------------------------ closed loop, N clients

TWO = {"model": "llama2-7b", "hardware": {"device": "a100-sxm4-80gb", "count": 2}}
CLUSTER = {"pools": [{"name": "fast", "device": "h100-sxm5-80gb", "count": 1},
                     {"name": "cheap", "device": "a100-sxm4-80gb", "count": 1}],
           "links": [{"between": ["fast", "cheap"], "interconnect": "ib-ndr-400g"}]}
DISAGG = {"model": "llama2-7b", "hardware": {"cluster": CLUSTER},
          "plan": {"placement": {"prefill": "fast", "decode": "cheap"}}}
MIXED = {"prompt_len": {"dist": "uniform", "low": 100, "high": 1500},
         "gen_len": {"dist": "uniform", "low": 1, "high": 80}}


@pytest.mark.parametrize("concurrency,base,extra", [
    (8, BASE, {}),
    (8, BASE, {"chunked_prefill": True, "max_batched_tokens": 1024}),
    (6, TWO, {"router": "least_loaded"}),  # two replicas
    (5, {**TWO, "plan": {"pp": 2}}, {}),  # one replica of two pipeline stages
    (4, DISAGG, {"router": "least_loaded"}),  # prefill pool → decode pool
    (3, BASE, {"max_num_seqs": 2}),  # more clients than the replica runs at once
], ids=["one-replica", "chunked", "two-replicas", "pp2", "disaggregated", "queued"])
def test_closed_loop_sends_one_request_per_finish(concurrency, base, extra):
    """N clients: the first N requests arrive at 0, and the (N+j)-th is sent at the j-th
    finish (finish times sorted) — so exactly N requests are in flight from 0 to the last
    send and never more. Output lengths down to 1 token (finished by the prefill) included."""
    n = 60
    reqs = stamps(serving({"process": "closed", "concurrency": concurrency, "count": n},
                          base=base, **MIXED, **extra))
    assert [r.rid for r in reqs] == list(range(n))
    assert [r.arrival_s for r in reqs[:concurrency]] == [0.0] * concurrency
    finishes = sorted(r.finish_s for r in reqs)
    assert [r.arrival_s for r in reqs[concurrency:]] == finishes[:n - concurrency]
    events = sorted({r.arrival_s for r in reqs} | {r.finish_s for r in reqs})
    last_send = reqs[-1].arrival_s
    for t in events:
        assert in_flight(reqs, t) == (concurrency if t <= last_send else
                                      sum(1 for r in reqs if r.finish_s > t))
    assert max(in_flight(reqs, t) for t in events) == concurrency


def test_load_over_time_never_holds_more_than_the_clients():
    """Sampled over the run, waiting + running requests are the N clients' (exactly N up to
    the last send, fewer as the loop drains)."""
    n_clients = 8
    d = run(serving({"process": "closed", "concurrency": n_clients, "count": 120},
                    **MIXED))
    load = d["load_over_time"]
    last_send = d["steady_state"]["end_s"]
    total = [w + r for w, r in zip(load["waiting"], load["running"], strict=True)]
    assert max(total) == n_clients
    for t, k in zip(load["t_s"], total, strict=True):
        assert k <= n_clients
        if t < last_send:
            assert k == n_clients


LITTLE = {"prompt_len": {"dist": "uniform", "low": 256, "high": 768},
          "gen_len": {"dist": "uniform", "low": 32, "high": 96}}


@pytest.mark.parametrize("n_clients", [4, 16])
def test_littles_law_in_the_steady_window(n_clients):
    """N requests are always in flight in the window, so (Little's law) the rate served
    times the mean time in the system is N."""
    d = run(serving({"process": "closed", "concurrency": n_clients, "count": 300}, **LITTLE))
    w = d["steady_state"]
    assert not w["whole_run"] and not w["saturated"] and not w["burst"]
    assert w["arrivals_in_window"] >= 0.25 * 300
    assert d["requests_per_s"] * w["e2e_mean_s"] == pytest.approx(n_clients, rel=0.03)
    # the window ends at the last send, not at the last completion (the draining tail)
    assert w["end_s"] < d["duration_s"]


def test_window_means_are_over_the_requests_that_arrived_in_the_window():
    """steady_state.ttft/tpot/e2e_mean_s: means over the finished requests whose arrival lies
    in [start_s, end_s], computed here from the requests' own timestamps."""
    spec = serving({"process": "closed", "concurrency": 8, "count": 150}, **MIXED)
    d = run(spec)
    w = d["steady_state"]
    reqs = stamps(spec)
    inside = [r for r in reqs if w["start_s"] <= r.arrival_s <= w["end_s"]]
    assert 0 < len(inside) < len(reqs)
    assert w["ttft_mean_s"] == pytest.approx(
        np.mean([r.first_token_s - r.arrival_s for r in inside]), rel=1e-12)
    assert w["e2e_mean_s"] == pytest.approx(
        np.mean([r.finish_s - r.arrival_s for r in inside]), rel=1e-12)
    assert w["tpot_mean_s"] == pytest.approx(
        np.mean([(r.finish_s - r.first_token_s) / (r.gen_len - 1)
                 for r in inside if r.gen_len > 1]), rel=1e-12)
    # a closed loop's latency statistics are its steady state's (latencies_in_window)
    assert w["latencies_in_window"] is True
    assert d["ttft_mean_s"] == w["ttft_mean_s"] and d["e2e_latency_s"] == w["e2e_mean_s"]
    assert d["ttft_p99_s"] == pytest.approx(
        np.percentile([r.first_token_s - r.arrival_s for r in inside], 99), rel=1e-12)
    # an open stream's are over every request
    uniform = serving({"process": "uniform", "rate_per_s": 40, "count": 150}, **MIXED)
    u, ureqs = run(uniform), stamps(uniform)
    assert u["steady_state"]["latencies_in_window"] is False
    assert u["ttft_mean_s"] == pytest.approx(
        np.mean([r.first_token_s - r.arrival_s for r in ureqs]), rel=1e-12)


def test_steady_ttft_leaves_out_the_initial_burst_queue():
    """16 clients with 2048-token prompts, no chunked prefill, 8192 tokens per iteration
    (prefills first): the first 16 prompts, all sent at 0, prefill 4 at a time, so their TTFTs
    are 1, 2, 3 and 4 times the first iteration's, 2.5 times it on average. Output lengths
    vary, so later requests are sent one at a time as others finish and prefill alone after
    at most one running iteration: the window (which starts one p99 e2e after 0) leaves the
    initial queue out, and its mean TTFT is below the whole run's."""
    spec = serving({"process": "closed", "concurrency": 16, "count": 160}, prompt_len=2048,
                   gen_len={"dist": "uniform", "low": 16, "high": 200},
                   max_batched_tokens=8192)
    reqs = stamps(spec)
    ttft = [r.first_token_s - r.arrival_s for r in reqs]
    t1 = ttft[0]
    for i in range(16):
        assert ttft[i] == pytest.approx((i // 4 + 1) * t1, rel=1e-9)
    d = run(spec)
    w = d["steady_state"]
    assert not w["whole_run"]
    assert w["start_s"] > 0  # the first 16, sent at 0, are outside the window
    whole = np.mean(ttft)
    assert w["ttft_mean_s"] <= whole
    # not equal by a rounding: the initial queue weighs on the whole run's mean only
    assert w["ttft_mean_s"] < 0.8 * whole
    assert w["ttft_mean_s"] < 2.5 * t1 / 2
    # the result's TTFT statistics are the window's, not the warm-up's
    assert d["ttft_mean_s"] == w["ttft_mean_s"] and d["ttft_p99_s"] < 4 * t1
    assert w["e2e_mean_s"] > 0 and w["tpot_mean_s"] > 0


# ------------------------------------------------------------------ burst

def test_burst_is_measured_over_the_whole_run():
    """Every request at 0: no steady state to wait for; the rates are the run's totals over
    its duration (last completion − 0), as trtllm-bench reports them."""
    n, prompt, gen = 48, 300, 40
    spec = serving({"process": "burst", "count": n}, prompt_len=prompt, gen_len=gen)
    reqs = stamps(spec)
    assert [r.arrival_s for r in reqs] == [0.0] * n
    d = run(spec)
    w = d["steady_state"]
    assert w["burst"] is True and w["whole_run"] is True and w["saturated"] is False
    end = max(r.finish_s for r in reqs)
    assert d["duration_s"] == pytest.approx(end, rel=1e-12)
    assert w["start_s"] == 0.0 and w["end_s"] == pytest.approx(end, rel=1e-12)
    assert d["tokens_per_s"] == pytest.approx(n * gen / d["duration_s"], rel=1e-12)
    assert d["requests_per_s"] == pytest.approx(n / d["duration_s"], rel=1e-12)
    assert d["input_tokens_per_s"] == pytest.approx(n * prompt / d["duration_s"], rel=1e-12)
    assert w["arrivals_in_window"] == n
    assert d["offered_requests_per_s"] is None  # no spread of arrivals to take a rate from
    # a whole-run window: its means are the whole run's
    assert w["ttft_mean_s"] == pytest.approx(d["ttft_mean_s"], rel=1e-12)
    assert w["tpot_mean_s"] == pytest.approx(d["tpot_mean_s"], rel=1e-12)
    assert w["e2e_mean_s"] == pytest.approx(d["e2e_latency_s"], rel=1e-12)
    # prefills first, whole prompts within 8192 tokens per iteration: 27 prompts of 300
    # (8100 tokens) in the first iteration, the other 21 in the second
    firsts = sorted({r.first_token_s for r in reqs})
    assert len(firsts) == 2
    assert sum(r.first_token_s == firsts[0] for r in reqs) == 27


def test_closed_loop_with_a_client_per_request_is_a_burst():
    """concurrency ≥ count: every request is sent at 0 and none after — the same run as a
    burst of the same requests."""
    wl = {**MIXED}
    burst = run(serving({"process": "burst", "count": 30, "seed": 2}, **wl))
    for c in (30, 100):
        closed = run(serving({"process": "closed", "concurrency": c, "count": 30, "seed": 2},
                             **wl))
        assert closed["duration_s"] == burst["duration_s"]
        assert closed["tokens_per_s"] == burst["tokens_per_s"]
        assert closed["requests_per_s"] == burst["requests_per_s"]
        assert closed["lengths"] == burst["lengths"]
        assert closed["completed"] == burst["completed"] == 30
        for key in ("ttft_mean_s", "e2e_mean_s", "tpot_mean_s"):
            assert closed["steady_state"][key] == burst["steady_state"][key]
        # a closed loop with a client per request is labelled a burst (metrics.serving.is_burst)
        assert closed["steady_state"]["whole_run"] and closed["steady_state"]["burst"]


def test_summary_says_a_burst_arrived_at_once(tmp_path, capsys):
    """`archsim simulate FILE`: the rates of a burst are labelled as over the whole run, every
    request at once; a closed loop's as the steady state."""
    path = tmp_path / "burst.yaml"
    path.write_text("model: llama2-7b\nhardware: {device: a100-sxm4-80gb, count: 1}\n"
                    "workload:\n  kind: serving\n  arrival: {process: burst, count: 20}\n"
                    "  prompt_len: 200\n  gen_len: 20\n")
    assert main(["simulate", str(path)]) == 0
    text = capsys.readouterr().out
    assert "output tokens/s (whole run: every request arrived at once)" in text
    assert "requests/s completed (whole run: every request arrived at once" in text
    path.write_text("model: llama2-7b\nhardware: {device: a100-sxm4-80gb, count: 1}\n"
                    "workload:\n  kind: serving\n"
                    "  arrival: {process: closed, concurrency: 4, count: 100}\n"
                    "  prompt_len: 200\n  gen_len: 20\n")
    assert main(["simulate", str(path)]) == 0
    text = capsys.readouterr().out
    assert "output tokens/s (steady state)" in text
    assert "every request arrived at once" not in text


# ------------------------------------------------------------------ closed loop: small runs


def test_a_short_closed_loop_leaves_its_first_wave_out_of_its_latencies():
    """16 clients, 40 requests: the window would hold under 2 × 16 sends, so the rates are the
    whole run's — but the latency statistics still leave out the 16 requests sent together at
    0, which queue behind one another's prefills (the audit of 2026-12-07: p99 TTFT read
    0.661 s at 40 requests and 0.077 s at 48)."""
    spec = serving({"process": "closed", "concurrency": 16, "count": 40}, **MIXED)
    reqs = stamps(spec)
    d = run(spec)
    w = d["steady_state"]
    assert w["whole_run"] and not w["saturated"] and not w["latencies_in_window"]
    later = reqs[16:]
    ttft = [r.first_token_s - r.arrival_s for r in later]
    assert d["ttft_p99_s"] == pytest.approx(np.percentile(ttft, 99), rel=1e-12)
    assert d["ttft_mean_s"] == pytest.approx(np.mean(ttft), rel=1e-12)
    assert w["ttft_mean_s"] == d["ttft_mean_s"]
    assert d["e2e_latency_s"] == pytest.approx(
        np.mean([r.finish_s - r.arrival_s for r in later]), rel=1e-12)
    assert d["offered_requests_per_s"] is None


def test_more_clients_than_the_engine_batches_is_not_an_overloaded_stream():
    """12 clients, max_num_seqs 4: 8 requests always wait in the engine's queue, but the queue
    cannot grow (a client sends only when answered), so the run is not measured as saturated
    (whose window would start at 0 and hold the first wave)."""
    spec = serving({"process": "closed", "concurrency": 12, "count": 240}, max_num_seqs=4,
                   **MIXED)
    d = run(spec)
    w = d["steady_state"]
    assert not w["saturated"] and not w["whole_run"] and w["latencies_in_window"]
    assert w["start_s"] > 0


def test_a_disaggregated_closed_loop_counts_its_decode_pool_ttft_in_the_window():
    """The decode pool's TTFT (its first streamed token) is over the same requests as the
    other latencies: those sent in the window."""
    spec = serving({"process": "closed", "concurrency": 4, "count": 80}, base=DISAGG,
                   router="least_loaded", **MIXED)
    reqs = stamps(spec)
    d = run(spec)
    w = d["steady_state"]
    assert w["latencies_in_window"]
    inside = [r for r in reqs if w["start_s"] <= r.arrival_s <= w["end_s"] and r.gen_len > 1]
    assert d["ttft_decode_pool_p99_s"] == pytest.approx(
        np.percentile([r.first_decode_s - r.arrival_s for r in inside], 99), rel=1e-12)
