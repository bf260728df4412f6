"""Continuous batching on a toy replica: iteration time = 10 ms + 1 ms per token in the pass.

Every expected time below is worked out by hand from that cost and the scheduler's rules.
"""

import pytest

from archsim.sim.serving.engine import Instance, run_serving
from archsim.sim.serving.requests import Request
from archsim.sim.serving.router import LeastLoaded, RoundRobin, make_router
from archsim.sim.serving.scheduler import ReplicaScheduler, SchedulerConfig


def toy_cost(batch) -> float:
    return 0.010 + 0.001 * batch.tokens


def replica(blocks=10_000, bs=16, chunked=False, max_tokens=8192, max_seqs=256, index=0,
            role="both"):
    cfg = SchedulerConfig(max_num_seqs=max_seqs, max_batched_tokens=max_tokens, block_size=bs,
                          chunked_prefill=chunked, total_blocks=blocks)
    return Instance(sched=ReplicaScheduler(index, cfg, role=role), cost=toy_cost,
                    name=f"r{index}")


def req(rid, at, prompt, gen):
    return Request(rid=rid, arrival_s=at, prompt_len=prompt, gen_len=gen)


def test_single_request_prefill_then_decode_rounds():
    r = req(0, 0.0, 100, 4)
    run_serving([r], [replica()], "round_robin")
    # prefill 100 tokens: 10 + 100 ms; then 3 decode rounds of 1 token: 11 ms each
    assert r.first_token_s == pytest.approx(0.110)
    assert r.finish_s == pytest.approx(0.110 + 3 * 0.011)
    assert r.first_scheduled_s == 0.0


def test_prefill_first_stalls_decoding_for_a_new_prompt():
    a, b = req(0, 0.0, 100, 3), req(1, 0.115, 50, 2)
    inst = replica()
    run_serving([a, b], [inst], "round_robin")
    # [0, .110] prefill A; [.110, .121] decode A (B not here yet); B arrives at .115;
    # [.121, .181] prefill B alone (A waits); [.181, .193] decode A+B: both finish
    assert a.first_token_s == pytest.approx(0.110)
    assert b.first_scheduled_s == pytest.approx(0.121)
    assert b.first_token_s == pytest.approx(0.181)
    assert a.finish_s == pytest.approx(0.193) and b.finish_s == pytest.approx(0.193)
    assert inst.sched.iterations == 4 and inst.sched.free == 10_000


def test_inter_token_gaps_show_the_stall_a_prefill_first_engine_puts_in_decoding():
    """The run above: A's second token comes .011 after its first (.110 → .121); B's prefill
    [.121, .181] stalls A, whose third token comes .072 after its second (.121 → .193); B's
    second token .012 after its first (.181 → .193). Per-request TPOT averages A's stall
    away ((.193 − .110)/2 = .0415); the gaps keep it."""
    a, b = req(0, 0.0, 100, 3), req(1, 0.115, 50, 2)
    inst = replica()
    run_serving([a, b], [inst], "round_robin")
    gaps = sorted(zip(inst.sched.itl_gaps, inst.sched.itl_weights, strict=True))
    assert [g for g, _ in gaps] == pytest.approx([0.011, 0.012, 0.072])
    assert [w for _, w in gaps] == [1, 1, 1]


def test_inter_token_gaps_under_chunked_prefill():
    """The run below: A's second token comes with B's prompt in [.120, .181] (.061 after its
    first); then A's third and B's second both .012 after their previous ones."""
    a, b = req(0, 0.0, 100, 3), req(1, 0.115, 50, 2)
    inst = replica(chunked=True, max_tokens=64)
    run_serving([a, b], [inst], "round_robin")
    gaps = sorted(zip(inst.sched.itl_gaps, inst.sched.itl_weights, strict=True))
    assert [g for g, _ in gaps] == pytest.approx([0.012, 0.012, 0.061])


def test_chunked_prefill_runs_decodes_every_iteration():
    a, b = req(0, 0.0, 100, 3), req(1, 0.115, 50, 2)
    inst = replica(chunked=True, max_tokens=64)
    run_serving([a, b], [inst], "round_robin")
    # [0, .074] A chunk 64; [.074, .120] A chunk 36 → first token; B arrived at .115;
    # [.120, .181] decode A (1) + B's whole prompt (50 ≤ 64 − 1); [.181, .193] decode A+B
    assert a.first_token_s == pytest.approx(0.120)
    assert b.first_token_s == pytest.approx(0.181)
    assert a.finish_s == pytest.approx(0.193) and b.finish_s == pytest.approx(0.193)


def test_batched_prefill_respects_the_token_budget_and_sequence_limit():
    rs = [req(i, 0.0, 40, 2) for i in range(3)]
    inst = replica(max_tokens=100, max_seqs=2)
    run_serving(rs, [inst], "round_robin")
    # two prompts fit (80 ≤ 100 tokens, 2 sequences): [0, .090]; decode both [.090, .102];
    # then the third: prefill [.102, .152], decode [.152, .163]
    assert rs[0].first_token_s == rs[1].first_token_s == pytest.approx(0.090)
    assert rs[0].finish_s == pytest.approx(0.102)
    assert rs[2].first_scheduled_s == pytest.approx(0.102)
    assert rs[2].finish_s == pytest.approx(0.163)


def test_kv_cache_full_preempts_the_newest_sequence_and_recomputes_it():
    """6 blocks of 4 tokens; two requests of 8 prompt + 9 output tokens arrive together.

    Prefill holds 2 + 2 blocks. Decode round k starts with 8 + k cached tokens; rounds 0 and 4
    need a new block each. Round 0: 2 free → fine. Round 4: none free → B (the newest) is
    preempted (frees 3), A takes 1. B waits (re-prefill of 8 + 4 + 1 = 13 tokens needs 4
    blocks, 2 free) until A finishes after round 7 and frees 4; then B re-prefills (its 6th
    token) and decodes 3 more rounds.
    """
    a, b = req(0, 0.0, 8, 9), req(1, 0.0, 8, 9)
    inst = replica(blocks=6, bs=4)
    run_serving([a, b], [inst], "round_robin")
    s = inst.sched
    assert s.preemptions == 1 and b.preemptions == 1 and a.preemptions == 0
    # 1 prefill (A+B) + 8 decode rounds for A + 1 re-prefill of B + 3 decode rounds
    assert s.iterations == 13
    assert b.finish_s > a.finish_s and s.free == 6 and s.n_dec == 0
    # B's first token is from its first prefill; the re-prefill ran 13 tokens
    assert b.first_token_s == a.first_token_s == pytest.approx(0.026)
    t_a = 0.026 + 4 * 0.012 + 4 * 0.011  # rounds 0-3 with A+B, 4-7 with A only
    assert a.finish_s == pytest.approx(t_a)
    assert b.finish_s == pytest.approx(t_a + 0.023 + 3 * 0.011)
    # B's longest inter-token gap is its stall: from its last token before the preemption
    # (end of round 3, .026 + 4 · .012) to its re-prefill's token
    assert max(s.itl_gaps) == pytest.approx(t_a + 0.023 - (0.026 + 4 * 0.012))


def test_decode_role_admits_transferred_requests_without_compute():
    inst = replica(role="decode")
    r = req(0, 0.0, 30, 3)
    r.target = r.done = 30
    r.generated = 1  # the prefill replica sampled the first token
    r.first_token_s = 0.0
    inst.sched.enqueue(r)
    batch = inst.sched.schedule()
    assert batch is not None and batch.n_decode == 1 and not batch.prefill
    assert batch.sum_kv == 31  # attends its 30 cached tokens and itself
    inst.sched.complete(batch, 0.0, 0.011)
    batch = inst.sched.schedule()
    inst.sched.complete(batch, 0.011, 0.022)
    assert r.finish_s == 0.022 and inst.sched.free == 10_000


def test_routers():
    reps = [replica(index=i).sched for i in range(3)]
    rr = make_router("round_robin")
    assert isinstance(rr, RoundRobin)
    assert [rr.pick(reps, req(i, 0, 1, 1)).index for i in range(4)] == [0, 1, 2, 0]
    reps[0].enqueue(req(10, 0, 1, 1))
    reps[1].enqueue(req(11, 0, 1, 1))
    ll = make_router("least_loaded")
    assert isinstance(ll, LeastLoaded)
    assert ll.pick(reps, req(12, 0, 1, 1)).index == 2
    with pytest.raises(ValueError, match="unknown router 'fastest'"):
        make_router("fastest")


def test_round_robin_splits_requests_over_replicas():
    rs = [req(i, 0.01 * i, 20, 2) for i in range(6)]
    insts = [replica(index=i) for i in range(2)]
    run_serving(rs, insts, "round_robin")
    assert [r.replica for r in rs] == [0, 1, 0, 1, 0, 1]
    assert all(r.finish_s > 0 for r in rs)


# ---------------------------------------------------------------- invariants under random load

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_request = st.tuples(st.floats(0, 0.5), st.integers(1, 40), st.integers(1, 12))


@settings(max_examples=60, deadline=None)
@given(reqs=st.lists(_request, min_size=1, max_size=12), chunked=st.booleans(),
       bs=st.sampled_from([1, 4, 16]), spare=st.integers(0, 8), max_tokens=st.integers(8, 64),
       max_seqs=st.integers(1, 6))
def test_every_request_finishes_and_every_block_comes_back(reqs, chunked, bs, spare,
                                                           max_tokens, max_seqs):
    """Whatever the load: each request gets all its tokens, its first token before its last,
    preempted ones included, and the KV cache is whole again at the end."""
    rs = [req(i, at, p, g) for i, (at, p, g) in
          enumerate(sorted(reqs, key=lambda r: r[0]))]
    longest = max(r.prompt_len + r.gen_len for r in rs)
    blocks = -(-longest // bs) + spare  # the largest request always fits alone
    if not chunked:
        max_tokens = max(max_tokens, longest)  # whole (re)prefills must fit the budget
    inst = replica(blocks=blocks, bs=bs, chunked=chunked, max_tokens=max_tokens,
                   max_seqs=max_seqs)
    run_serving(rs, [inst], "round_robin")
    s = inst.sched
    assert s.free == blocks and s.n_dec == 0 and not s.waiting and not s.prefilling
    # every output token after a request's first has one inter-token gap (a preempted
    # request's recomputed token included), and none is negative
    assert sum(s.itl_weights) == sum(r.gen_len - 1 for r in rs)
    assert all(g >= 0 for g in s.itl_gaps)
    for r in rs:
        assert r.finish_s > 0 and r.generated == r.gen_len
        # (SimPy's clock adds up the arrival gaps: equal up to rounding)
        assert r.first_scheduled_s >= r.arrival_s - 1e-12
        assert r.first_scheduled_s < r.first_token_s <= r.finish_s


@settings(max_examples=40, deadline=None)
@given(reqs=st.lists(_request, min_size=1, max_size=12), bs=st.sampled_from([1, 4]),
       spare=st.integers(0, 6), n_pre=st.integers(1, 2), n_dec=st.integers(1, 3))
def test_disaggregated_roles_hand_every_request_over_and_free_both_caches(reqs, bs, spare,
                                                                          n_pre, n_dec):
    rs = [req(i, at, p, g) for i, (at, p, g) in
          enumerate(sorted(reqs, key=lambda r: r[0]))]
    blocks = -(-max(r.prompt_len + r.gen_len for r in rs) // bs) + spare
    pre = [replica(blocks=blocks, bs=bs, index=i, role="prefill") for i in range(n_pre)]
    dec = [replica(blocks=blocks, bs=bs, index=i, role="decode") for i in range(n_dec)]
    run = run_serving(rs, pre, "least_loaded", decode=dec,
                      transfer=lambda r: (0.002 + 1e-5 * r.target, 100.0 * r.target))
    # one-token requests finish on the prefill replica; the others cross the link
    assert len(run.transfers.times_s) == sum(1 for r in rs if r.gen_len > 1)
    for inst in pre + dec:
        assert inst.sched.free == blocks and inst.sched.held == 0 and inst.sched.incoming == 0
        # a decode replica's first gap of a request runs from its prefill's token, the KV
        # transfer included
        assert all(g >= 0.002 for g in inst.sched.itl_gaps) or inst in pre
    assert sum(sum(i.sched.itl_weights) for i in pre + dec) == sum(r.gen_len - 1 for r in rs)
    for r in rs:
        assert r.generated == r.gen_len and r.first_token_s <= r.finish_s
        # the second token cannot come before the KV cache has crossed
        if r.gen_len > 1:
            assert r.finish_s >= r.first_token_s + 0.002
            assert r.first_token_s + 0.002 <= r.first_decode_s <= r.finish_s
        else:
            assert r.finish_s == r.first_token_s


def test_a_preempted_request_that_needs_all_but_the_watermark_is_readmitted_alone():
    """229 blocks of 16 tokens: the watermark keeps int(0.01·229) = 2 free. A 3608-token prompt
    (226 blocks) is admitted beside a small request; when decoding fills the cache it is the
    newest sequence, so it is preempted, and its recompute then needs 228 blocks: 229 − 228 = 1
    is below the watermark even in an empty cache. The watermark guards running sequences
    against immediate preemption, so with none running the cache takes it (it had waited
    forever: "1 of 2 requests never finished")."""
    small, big = req(0, 0.0, 8, 3000), req(1, 0.001, 3608, 57)
    inst = replica(blocks=229, bs=16, max_tokens=8192)
    run_serving([small, big], [inst], "round_robin")
    assert inst.sched.preemptions >= 1
    assert small.generated == small.gen_len and big.generated == big.gen_len
    assert inst.sched.free == 229
