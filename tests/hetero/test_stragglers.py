"""Stragglers and degraded links: what one slow device, node or NIC costs the whole job."""

import copy

import pytest
from hetero_toys import MODEL, SLOW

import archsim
from archsim.plan.balance import resolve_pipeline
from archsim.plan.training import build_training_plan

HALF = {**copy.deepcopy(SLOW), "name": "half", "peak": {"bf16": "50 TFLOPS"},
        "vector_peak": "5 TFLOPS", "memory": {"capacity": "80 GiB", "bandwidth": "0.5 TB/s"}}
P = 24 * (12 * 1024**2 + 13 * 1024) + 1024 * 1024 + 1024 * 1024 + 2 * 1024  # parameters


def dp_job(device=SLOW, stragglers=(), count=8, per_node=8, **plan):
    hw = {"device": copy.deepcopy(device), "count": count, "devices_per_node": per_node,
          "stragglers": list(stragglers)}
    if per_node > 1:
        hw["intra_node"] = "nvlink3-nvswitch"
    if count > per_node:
        hw["inter_node"] = "ib-hdr-200g"
    return {"model": dict(MODEL), "hardware": hw,
            "workload": {"kind": "training", "seq_len": 1024, "global_batch": 4 * count},
            "plan": {"overlap_comm": False, **plan}}


def test_one_straggler_at_half_speed_sets_the_pace_of_synchronous_data_parallelism():
    """Eight replicas, one device at 0.5×: every step waits for it at the gradient
    all-reduce, so the step is the step of eight half-speed devices (same links), and it
    exceeds the nominal step by exactly the nominal compute + optimizer time (kernels take
    twice as long; communication does not change)."""
    base = archsim.simulate(dp_job()).to_dict()
    slow = archsim.simulate(dp_job(stragglers=[{"device": 5, "speed": 0.5}])).to_dict()
    all_half = archsim.simulate(dp_job(HALF)).to_dict()
    assert slow["step_time_s"] == pytest.approx(all_half["step_time_s"], rel=1e-9)
    tb = base["time_breakdown"]
    assert slow["step_time_s"] - base["step_time_s"] == pytest.approx(
        tb["compute_s"] + tb["recompute_s"] + tb["optimizer_s"], rel=1e-9)
    assert slow["placement"]["stragglers"] == {"0": {"speed": 0.5, "nic_speed": 1.0,
                                                     "intra_speed": 1.0}}


def test_a_slow_node_slows_only_the_stage_on_it():
    """Four one-node stages; node 2 at 0.5×: stage 2's kernels take exactly twice as long,
    its collectives and the other stages do not change; the pipeline waits for stage 2."""
    job = dp_job(count=32, pp=4, tp=8)
    base_sc = archsim.load_scenario(job)
    job["hardware"]["stragglers"] = [{"node": 2, "speed": 0.5}]
    slow_sc = archsim.load_scenario(job)
    plans = []
    for sc in (base_sc, slow_sc):
        layout, placement, _, reasons = resolve_pipeline(sc)
        assert not reasons
        plans.append(build_training_plan(sc, layout, None, placement))
    base, slow = plans
    for s in range(4):
        b, w = base.chunks[s][0], slow.chunks[s][0]
        factor = 2.0 if s == 2 else 1.0
        assert w.fwd.compute_s == pytest.approx(factor * b.fwd.compute_s)
        assert w.bwd.compute_s == pytest.approx(factor * b.bwd.compute_s)
        assert w.fwd.comm_s == pytest.approx(b.fwd.comm_s)
    r_base = archsim.simulate(base_sc)["step_time_s"]
    r_slow = archsim.simulate(slow_sc).to_dict()
    assert r_slow["placement"]["stragglers"].keys() == {"2"}
    all_half = archsim.simulate(dp_job(HALF, count=32, pp=4, tp=8))["step_time_s"]
    assert r_base < r_slow["step_time_s"] < all_half


def test_a_degraded_nic_slows_the_gradient_all_reduce_by_the_hand_computed_amount():
    """Two one-GPU nodes, data parallel. Each gradient bucket of S bytes is a two-rank ring
    all-reduce over HDR: 2α + S/B with B = 25 GB/s × 0.86. One node's NIC at half rate halves
    B for the ring: the step grows by Σ S / B = 2 bytes × P parameters / B."""
    base = archsim.simulate(dp_job(count=2, per_node=1))["step_time_s"]
    slow = archsim.simulate(dp_job(count=2, per_node=1,
                                   stragglers=[{"node": 1, "nic_speed": 0.5}]))["step_time_s"]
    assert slow - base == pytest.approx(2 * P / (25e9 * 0.86), rel=1e-9)


def test_a_slow_node_bills_the_longer_compute_to_its_own_devices_only():
    """gpt3-175b-one-slow-node: node 17 (8 A100s, one tensor-parallel group of stage 1) at
    half speed. Its 8 devices compute 26.1 s longer; stage 1's other 120 devices compute at
    nominal speed and then wait, idle, like every other device, for the longer step. By hand
    from the run without the straggler: E = E₀ + 1024 · ΔT · 60 W + 8 · Δcompute · (400 −
    60) W. All 128 devices of stage 1 had been billed the slow node's compute at TDP (+7.5%)."""
    from archsim.spec.loader import load_spec_file

    slow = archsim.simulate("gpt3-175b-one-slow-node").to_dict()
    base = archsim.simulate("gpt3-175b-one-slow-node", {"hardware.stragglers": []}).to_dict()
    a100 = load_spec_file("devices", "a100-sxm4-80gb")
    assert (a100.tdp, a100.idle_power) == (400.0, 60.0)
    longer = (slow["pipeline"]["stages"][1]["compute_s"]
              - base["pipeline"]["stages"][1]["compute_s"])
    assert longer == pytest.approx(base["pipeline"]["stages"][1]["compute_s"], rel=1e-6)
    hand = (base["energy_joules"] + 1024 * (slow["step_time_s"] - base["step_time_s"]) * 60.0
            + 8 * longer * (400.0 - 60.0))
    # the slowed optimizer step (milliseconds) is the only part left out by hand
    assert slow["energy_joules"] == pytest.approx(hand, rel=1e-4)
