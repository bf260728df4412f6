"""The training DES on toy pipelines with fixed task times: timelines checked by hand.

Each test builds a real plan for a small scenario, then replaces every task time with round
numbers so the expected step time can be traced by hand (traces in the docstrings).
"""

import pytest

import archsim
from archsim.plan.layout import resolve_layout
from archsim.plan.training import PhaseCost, build_training_plan
from archsim.sim.training import run_training


def toy_plan(pp, m, schedule="1f1b", chunks=1, dp=1, overlap=True, F=1.0, B=2.0, p2p=0.0):
    sc = archsim.load_scenario({
        "model": {"layers": 24, "hidden": 256, "heads": 4, "vocab": 1000},
        "hardware": {"device": "a100-sxm4-80gb", "count": pp * dp},
        "workload": {"kind": "training", "seq_len": 128, "global_batch": m * dp,
                     "micro_batch": 1},
        "plan": {"pp": pp, "schedule": schedule, "virtual_stages": chunks,
                 "overlap_comm": overlap},
    })
    layout, reasons = resolve_layout(sc)
    assert not reasons
    plan = build_training_plan(sc, layout)
    for row in plan.chunks:
        for ck in row:
            ck.fwd, ck.bwd = PhaseCost(compute_s=F), PhaseCost(compute_s=B)
            ck.fwd_task_s, ck.bwd_task_s, ck.bwd_reduce_task_s = F, B, B
            ck.act_bytes, ck.working_bytes, ck.recompute_s = 1.0, 0.0, 0.0
    plan.p2p_fwd_s = [p2p] * (pp - 1)
    plan.p2p_bwd_s = [p2p] * (pp - 1)
    plan.p2p_wrap_s = (p2p, p2p) if chunks > 1 else None
    plan.optimizer_s = [0.0] * pp
    plan.param_gather_s = [0.0] * pp
    plan.embedding_sync_s = 0.0
    return plan


def test_1f1b_two_stages_four_micro_batches():
    """S0: F0[0,1] F1[1,2] B0[4,6] F2[6,7] B1[7,9] F3[9,10] B2[10,12] B3[13,15];
    S1: F0[1,2] B0[2,4] F1[4,5] B1[5,7] F2[7,8] B2[8,10] F3[10,11] B3[11,13] → 15 s,
    i.e. (m + p − 1)(F + B)."""
    tl = run_training(toy_plan(pp=2, m=4))
    assert tl.step_time_s == pytest.approx(15.0)
    assert [s.peak_inflight for s in tl.stages] == [2, 1]


def test_gpipe_same_time_but_all_micro_batches_alive():
    tl = run_training(toy_plan(pp=2, m=4, schedule="gpipe"))
    assert tl.step_time_s == pytest.approx(15.0)
    assert [s.peak_inflight for s in tl.stages] == [4, 4]


def test_p2p_delay_on_the_critical_path():
    """p=2, m=2, d=0.5: S0 F0[0,1] F1[1,2]; S1 F0[1.5,2.5] B0[2.5,4.5]; S0 B0[5,7];
    S1 F1[4.5,5.5] B1[5.5,7.5]; S0 B1[8,10] → 10 = (m+p−1)(F+B) + 2(p−1)d."""
    tl = run_training(toy_plan(pp=2, m=2, p2p=0.5))
    assert tl.step_time_s == pytest.approx(10.0)
    assert tl.p2p_time_s == pytest.approx(4 * 0.5)


@pytest.mark.parametrize(("p", "m"), [(4, 8), (8, 32), (3, 5)])
def test_uniform_1f1b_matches_the_closed_form(p, m):
    tl = run_training(toy_plan(pp=p, m=m))
    assert tl.step_time_s == pytest.approx((m + p - 1) * 3.0)
    # the bubble is (p−1)/m of the ideal m·(F+B) (formulas.md)
    ideal = m * 3.0
    assert (tl.step_time_s - ideal) / ideal == pytest.approx((p - 1) / m)
    # memory from the schedule: stage s holds p − s micro-batches (first stage: p)
    assert [s.peak_inflight for s in tl.stages] == [min(p - s, m) for s in range(p)]


def test_interleaved_shrinks_the_bubble_by_v():
    """p=4, v=2, m=8, chunk tasks F=0.5, B=1: step = m·v·1.5 + (p−1)·1.5 → bubble (p−1)/(v·m)."""
    tl = run_training(toy_plan(pp=4, m=8, schedule="interleaved", chunks=2, F=0.5, B=1.0))
    ideal = 8 * 2 * 1.5
    assert (tl.step_time_s - ideal) / ideal == pytest.approx(3 / (2 * 8))


def test_interleaved_first_stage_activation_memory():
    """First stage keeps 2(p−1) + (v−1)p + 1 chunk activations (Megatron's warm-up + 1), i.e.
    L layers × (1 + (p−1)/(p·v)) — Korthikanti et al. 2022 §4.2.3. (reference/formulas.md
    writes the factor with m; with the warm-up above it is v.)"""
    p, v = 4, 2
    tl = run_training(toy_plan(pp=p, m=8, schedule="interleaved", chunks=v))
    chunks_alive = tl.stages[0].peak_inflight
    assert chunks_alive == 2 * (p - 1) + (v - 1) * p + 1
    layers_alive = chunks_alive * (24 / (p * v))
    assert layers_alive == pytest.approx(24 * (1 + (p - 1) / (p * v)))


def test_dp_reduction_overlapped_with_backward():
    """p=1, m=1, F=1, B=2, two buckets of 1.5 s each: bucket 0 ready at 2, runs [2, 3.5];
    bucket 1 ready at 3, runs [3.5, 5] → step 5 (2 s exposed). Without overlap: [3, 6]."""
    plan = toy_plan(pp=1, m=1, dp=2)
    plan.bucket_times = [[[1.5, 1.5]]]
    tl = run_training(plan)
    assert tl.step_time_s == pytest.approx(5.0)
    assert tl.stages[0].exposed_dp_s == pytest.approx(2.0)
    plan = toy_plan(pp=1, m=1, dp=2, overlap=False)
    plan.bucket_times = [[[1.5, 1.5]]]
    tl = run_training(plan)
    assert tl.step_time_s == pytest.approx(6.0)


def test_trace_has_a_span_per_task():
    tl = run_training(toy_plan(pp=2, m=4))
    compute = [s for s in tl.spans if s.category in ("forward", "backward")]
    assert len(compute) == 2 * 2 * 4
    assert all(s.end > s.start for s in compute)
