"""Pipeline-parallel serving: pp virtual engines keep pp batches in flight.

Toy replicas with injected costs: every stage takes a fixed C = 10 ms per batch whatever its
size, and the send between stages X = 2 ms, so one pass through two stages takes
T = C + X + C = 22 ms. Every expected time below is worked out by hand from those numbers and
the scheduler's rules.
"""

from itertools import pairwise
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import archsim
from archsim.metrics.serving import iteration_cost_fn, stage_times_fn
from archsim.plan.serving import resolve_serving_layout
from archsim.sim.serving.engine import Instance, run_serving
from archsim.sim.serving.requests import Request, generate_requests
from archsim.sim.serving.scheduler import ReplicaScheduler, SchedulerConfig
from archsim.sim.serving.virtual import VirtualEngines

C, X = 0.010, 0.002
T = C + X + C


def config(blocks=10_000, bs=16, chunked=False, max_tokens=8192, max_seqs=256):
    return SchedulerConfig(max_num_seqs=max_seqs, max_batched_tokens=max_tokens,
                           block_size=bs, chunked_prefill=chunked, total_blocks=blocks)


def pipelined(cfg, stages, pp=2, index=0, role="both", name="r0"):
    """A replica of ``pp`` virtual engines; ``stages(batch)`` → (stage seconds, sends)."""
    return Instance(sched=VirtualEngines(index, cfg, pp, role=role), cost=None, name=name,
                    stage_busy_s=[0.0] * pp, stages=stages)


def serialized(cfg, cost, index=0, role="both", name="r0"):
    """One engine running each batch through every stage before the next (no overlap)."""
    return Instance(sched=ReplicaScheduler(index, cfg, role=role), cost=cost, name=name)


def constant_stages(batch):
    return [C, C], [X]


def req(rid, at, prompt, gen):
    return Request(rid=rid, arrival_s=at, prompt_len=prompt, gen_len=gen)


def stage_spans(run, track):
    return sorted((s.start, s.end) for s in run.spans if s.track == track)


def one_at_a_time(spans) -> bool:
    """Each interval starts when or after the one before it ended."""
    return all(b[0] >= a[1] for a, b in pairwise(spans))


# ---------------------------------------------------------------- hand-worked toy pipeline

M, G = 4, 20  # sequences per batch (max_num_seqs), output tokens per request


@pytest.fixture(scope="module")
def pair():
    """2·M requests of 8 prompt and G output tokens, all at t = 0, on one replica of two
    stages: pipelined (2 engines) and serialized (1 engine, each pass C + X + C)."""
    out = {}
    for kind in ("pipelined", "serialized"):
        rs = [req(i, 0.0, 8, G) for i in range(2 * M)]
        if kind == "pipelined":
            inst = pipelined(config(max_seqs=M), constant_stages)
        else:
            inst = serialized(config(max_seqs=M), lambda b: T)
        run = run_serving(rs, [inst], "round_robin", trace=True)
        out[kind] = (rs, inst, run)
    return out


def test_serialized_replica_runs_the_two_waves_one_after_the_other(pair):
    rs, _, _ = pair["serialized"]
    # wave 1 (M requests): prefill + G − 1 decode rounds of T each; wave 2 the same after it
    assert [r.finish_s for r in rs[:M]] == pytest.approx([G * T] * M)
    assert [r.finish_s for r in rs[M:]] == pytest.approx([2 * G * T] * M)


def test_least_loaded_engine_takes_each_new_request(pair):
    rs, _, _ = pair["pipelined"]
    assert [r.engine for r in rs] == [0, 1] * M


def test_two_engines_overlap_and_nearly_double_throughput(pair):
    """Engine 0: stage 0 [0, C], send, stage 1 [C + X, T]; engine 1 waits for stage 0 and
    runs one C behind. Each engine's next pass starts when its last one left stage 1, so each
    finishes G passes later: engine 0 at G·T, engine 1 at C + G·T."""
    rs, inst, _ = pair["pipelined"]
    e0, e1 = rs[0::2], rs[1::2]
    assert [r.first_token_s for r in e0] == pytest.approx([T] * M)
    assert [r.first_token_s for r in e1] == pytest.approx([C + T] * M)
    assert [r.finish_s for r in e0] == pytest.approx([G * T] * M)
    assert [r.finish_s for r in e1] == pytest.approx([C + G * T] * M)
    # TPOT = one traversal of both stages and the send, not shortened by the overlap
    for r in rs:
        assert (r.finish_s - r.first_token_s) / (G - 1) == pytest.approx(C + X + C)
    # throughput: 2·M·G tokens in C + G·T against 2·G·T serialized: 2·440 / 450 = 1.956×
    ser_rs, _, _ = pair["serialized"]
    ratio = max(r.finish_s for r in ser_rs) / max(r.finish_s for r in rs)
    assert ratio == pytest.approx(2 * G * T / (C + G * T))
    assert 1.95 < ratio < 2
    # each stage ran 2·G batches of C; the replica had a batch in flight from 0 to C + G·T
    assert inst.stage_busy_s == pytest.approx([2 * G * C, 2 * G * C])
    assert inst.sched.busy_s == pytest.approx(C + G * T)
    assert inst.sched.iterations == 2 * G and inst.sched.free == 10_000


def test_a_stage_never_runs_two_batches_at_once(pair):
    _, _, run = pair["pipelined"]
    for track in ("r0 stage 0", "r0 stage 1", "r0 send 0->1"):
        spans = stage_spans(run, track)
        assert len(spans) == 2 * G and one_at_a_time(spans)
    # and an engine's passes never overlap each other
    for v in (0, 1):
        spans = stage_spans(run, f"r0 engine {v}")
        assert len(spans) == G and one_at_a_time(spans)


def test_slowest_stage_sets_the_rate():
    """Stage 0 takes C, stage 1 3C, no send; one request per engine. Stage 1 runs e0
    [C, 4C], e1 [4C, 7C], e0 [7C, 10C], … without a gap (e0's next pass leaves stage 0 at
    5C, before 7C): e1's k-th pass ends at C + 6C·k, e0's 3C earlier; the G-th are last."""
    rs = [req(i, 0.0, 8, G) for i in range(2)]
    inst = pipelined(config(), lambda b: ([C, 3 * C], [0.0]))
    run_serving(rs, [inst], "round_robin")
    assert rs[0].finish_s == pytest.approx(C + 6 * C * G - 3 * C)
    assert rs[1].finish_s == pytest.approx(C + 6 * C * G)
    assert inst.stage_busy_s == pytest.approx([2 * G * C, 2 * G * 3 * C])


# ---------------------------------------------------------------- pp = 1 is the plain replica


def toy_cost(batch) -> float:
    return 0.010 + 0.001 * batch.tokens


@pytest.mark.parametrize("chunked", [False, True])
def test_one_stage_pipeline_is_exactly_the_single_engine_replica(chunked):
    """The pipelined engine with one stage and one engine reproduces the single-engine loop
    bit for bit, preemptions included (a small cache forces them)."""
    shapes = [(0.003 * i, 5 + (7 * i) % 40, 1 + (5 * i) % 17) for i in range(40)]
    runs = []
    for make in ("single", "pipelined"):
        rs = [req(i, at, p, g) for i, (at, p, g) in enumerate(shapes)]
        cfg = config(blocks=30, bs=4, chunked=chunked, max_tokens=64, max_seqs=6)
        inst = (serialized(cfg, toy_cost) if make == "single" else
                pipelined(cfg, lambda b: ([toy_cost(b)], []), pp=1))
        run = run_serving(rs, [inst], "round_robin")
        runs.append(([(r.first_scheduled_s, r.first_token_s, r.finish_s, r.preemptions)
                      for r in rs], inst.sched.iterations, inst.sched.busy_s, run.events))
    assert runs[0] == runs[1]
    assert sum(p for *_, p in runs[0][0]) > 0  # the cache was tight enough to preempt


def test_one_stage_pipeline_matches_the_real_cost_model_exactly():
    """Same check on Llama-2-7B's cost tables: the per-stage split of the pass (what pp > 1
    replicas use) gives, for one stage, exactly the single-engine iteration times."""
    sc = archsim.load_scenario({
        "model": "llama2-7b", "hardware": {"device": "a100-sxm4-80gb", "count": 1},
        "workload": {"kind": "serving", "arrival": {"rate_per_s": 20, "count": 60},
                     "prompt_len": {"dist": "uniform", "low": 50, "high": 400},
                     "gen_len": {"dist": "uniform", "low": 5, "high": 40}}})
    layout, reasons = resolve_serving_layout(sc)
    assert layout is not None and not reasons
    (g,) = layout.groups
    wl = sc.workload
    cfg = config(blocks=g.kv_blocks, max_tokens=wl.max_batched_tokens,
                 max_seqs=wl.max_num_seqs)
    out = []
    for make in ("single", "pipelined"):
        rs = generate_requests(wl)
        inst = (serialized(cfg, iteration_cost_fn(g, [0.0])) if make == "single" else
                pipelined(cfg, stage_times_fn(g), pp=1))
        run_serving(rs, [inst], "round_robin")
        out.append([(r.first_token_s, r.finish_s) for r in rs])
    assert out[0] == out[1]


# ---------------------------------------------------------------- the whole simulation


def test_two_requests_on_a_two_stage_replica_overlap_by_hand():
    """Llama-2-7B on 2 A100s, pp = 2, two requests 1 µs apart: they go to different engines;
    the second's prompt enters stage 0 when the first's leaves it. With s0, s1 each stage's
    time of a one-prompt pass and x the send (from the cost tables):
    TTFT₁ = s0 + x + s1; the second's prompt leaves stage 0 at s0 + s0, is sent, and enters
    stage 1 when it is there and stage 1 is free: TTFT₂ = 2·s0 + x + max(0, s1 − s0) + s1 − δ,
    δ = its arrival 1 µs later."""
    spec = {"model": "llama2-7b", "hardware": {"device": "a100-sxm4-80gb", "count": 2},
            "plan": {"pp": 2},
            "workload": {"kind": "serving", "prompt_len": 500, "gen_len": 1,
                         "arrival": {"rate_per_s": 1e6, "count": 2, "process": "uniform"}}}
    sc = archsim.load_scenario(spec)
    d = archsim.simulate(sc).to_dict()
    (g,) = resolve_serving_layout(sc)[0].groups
    times = [0.0, 0.0]
    g.plan.forward_s(500, [(500, 500)], 0, 0, 1, times)
    s0, s1 = times
    (x,) = g.plan.p2p_boundaries_s(500)
    rs = generate_requests(sc.workload)
    delta = rs[1].arrival_s - rs[0].arrival_s
    assert delta == pytest.approx(1e-6)
    ttft1 = s0 + x + s1
    ttft2 = 2 * s0 + x + max(0.0, s1 - s0) + s1 - delta
    assert d["ttft_p50_s"] == pytest.approx((ttft1 + ttft2) / 2, rel=1e-9)
    assert d["ttft_mean_s"] == pytest.approx((ttft1 + ttft2) / 2, rel=1e-9)
    group = d["groups"][0]
    assert group["virtual_engines"] == 2
    # each stage ran two passes of its own time; the run lasted from the first arrival to
    # the second's first token
    end = rs[1].arrival_s + ttft2
    assert group["stage_utilization"] == pytest.approx([2 * s0 / end, 2 * s1 / end], rel=1e-9)


def test_pipelined_replica_keeps_its_stages_busy_under_load():
    """Saturated pp = 2 replica: both stages busy most of the time (a serialized replica
    could keep each stage busy at most half the time), and the cache and energy accounting
    still hold."""
    d = archsim.simulate({
        "model": "llama2-7b", "hardware": {"device": "a100-sxm4-80gb", "count": 2},
        "plan": {"pp": 2},
        "workload": {"kind": "serving", "arrival": {"rate_per_s": 1000, "count": 200},
                     "prompt_len": 256, "gen_len": 64}}).to_dict()
    assert d["feasible"] and d["completed"] == 200
    util = d["groups"][0]["stage_utilization"]
    assert min(util) > 0.8
    assert d["groups"][0]["busy_fraction"] <= 1.0 + 1e-12


def test_a_saturated_replica_is_busy_at_most_the_whole_run():
    """Shares of the run are at most 1 (the sum of a saturated replica's busy spans had come
    to 1.0000000000000002 of the run): Llama-2-70B, TP 8 on 8 H100s, 4 requests/s."""
    d = archsim.simulate({
        "model": "llama2-70b", "hardware": {"device": "h100-sxm5-80gb", "count": 8},
        "plan": {"tp": 8},
        "workload": {"kind": "serving",
                     "arrival": {"process": "poisson", "rate_per_s": 4, "count": 300, "seed": 3},
                     "prompt_len": {"dist": "lognormal", "mean": 500, "sigma": 0.8, "max": 3000},
                     "gen_len": {"dist": "lognormal", "mean": 200, "sigma": 0.7, "max": 800}}
    }).to_dict()
    group = d["groups"][0]
    assert group["busy_fraction"] <= 1.0 and max(group["stage_utilization"]) <= 1.0
    assert group["busy_fraction"] > 0.99  # saturated


# ---------------------------------------------------------------- invariants under random load

_request = st.tuples(st.floats(0, 0.3), st.integers(1, 40), st.integers(1, 12))


def _toy_stages(pp):
    def stages(batch):
        per = 0.004 + 0.0003 * batch.tokens
        return [per * (1 + s % 2) for s in range(pp)], [0.001] * (pp - 1)

    return stages


@settings(max_examples=40, deadline=None)
@given(reqs=st.lists(_request, min_size=1, max_size=12), chunked=st.booleans(),
       bs=st.sampled_from([1, 4]), spare=st.integers(0, 8), pp=st.integers(2, 3),
       max_seqs=st.integers(1, 5))
def test_every_request_finishes_and_no_stage_is_double_booked(reqs, chunked, bs, spare, pp,
                                                               max_seqs):
    rs = [req(i, at, p, g) for i, (at, p, g) in enumerate(sorted(reqs, key=lambda r: r[0]))]
    longest = max(r.prompt_len + r.gen_len for r in rs)
    blocks = -(-longest // bs) + spare
    stages = _toy_stages(pp)
    inst = pipelined(config(blocks=blocks, bs=bs, chunked=chunked, max_seqs=max_seqs,
                            max_tokens=64 if chunked else 8192), stages, pp=pp)
    run = run_serving(rs, [inst], "least_loaded", trace=True)
    assert inst.sched.free == blocks and inst.sched.n_dec == 0
    for e in inst.sched.engines:
        assert not e.waiting and not e.prefilling
    for r in rs:
        assert r.finish_s > 0 and r.generated == r.gen_len
        assert r.first_scheduled_s >= r.arrival_s - 1e-12
        assert r.first_scheduled_s < r.first_token_s <= r.finish_s
        if r.gen_len > 1 and not r.preemptions:
            # each decode step is a whole traversal: at least the one-token pass
            times, sends = stages(SimpleNamespace(tokens=1))
            assert (r.finish_s - r.first_token_s) / (r.gen_len - 1) >= \
                sum(times) + sum(sends) - 1e-12
    for s in range(pp):
        assert one_at_a_time(stage_spans(run, f"r0 stage {s}"))


@settings(max_examples=25, deadline=None)
@given(reqs=st.lists(_request, min_size=1, max_size=10), bs=st.sampled_from([1, 4]),
       spare=st.integers(0, 6))
def test_disaggregated_pipelined_pools_free_every_block(reqs, bs, spare):
    rs = [req(i, at, p, g) for i, (at, p, g) in enumerate(sorted(reqs, key=lambda r: r[0]))]
    blocks = -(-max(r.prompt_len + r.gen_len for r in rs) // bs) + spare
    pre = [pipelined(config(blocks=blocks, bs=bs), _toy_stages(2), role="prefill",
                     name="p0")]
    dec = [pipelined(config(blocks=blocks, bs=bs), _toy_stages(3), pp=3, role="decode",
                     name="d0")]
    run_serving(rs, pre, "least_loaded", decode=dec,
                transfer=lambda r: (0.002 + 1e-5 * r.target, 100.0 * r.target))
    for inst in pre + dec:
        assert inst.sched.free == blocks and inst.sched.held == 0 and inst.sched.incoming == 0
    assert all(r.generated == r.gen_len for r in rs)


# ---------------------------------------------------------------- routing counts passes in flight


@pytest.mark.parametrize("make", ["plain", "pipelined"])
def test_least_loaded_counts_a_prompt_in_the_running_pass(make):
    """Prefill-first (no chunking): request 0 arrives at t = 0 and its whole prompt is in
    replica 0's pass until T (plain: one pass of T; pipelined: stage 0, send, stage 1); it
    sits in no queue then, yet it is unfinished, so request 1 (t = C/2, mid-pass) goes to the
    idle replica 1 and both first tokens come one pass after arrival."""
    cfg = config()
    if make == "plain":
        reps = [serialized(cfg, lambda b: T, index=i, name=f"r{i}") for i in range(2)]
    else:
        reps = [pipelined(cfg, constant_stages, index=i, name=f"r{i}") for i in range(2)]
    rs = [req(0, 0.0, 8, 1), req(1, C / 2, 8, 1)]
    run_serving(rs, reps, "least_loaded")
    assert [r.replica for r in rs] == [0, 1]
    assert [r.first_token_s for r in rs] == pytest.approx([T, C / 2 + T])
