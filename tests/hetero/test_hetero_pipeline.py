"""Pipelines across pools: placement, layers balanced by speed (memory permitting), pool links."""

import copy

import pytest
from hetero_toys import FAST, MODEL, SLOW, two_pools

import archsim
from archsim.plan.balance import resolve_pipeline
from archsim.plan.training import build_training_plan
from archsim.spec.loader import load_spec_file

M = 8  # micro-batches


def test_a_pool_twice_as_fast_gets_twice_the_layers_and_the_balanced_step_time():
    """The fast device runs every op in half the time. Per micro-batch the model's forward +
    backward costs W on the slow device (W from a one-device run: (step − optimizer) / m), so
    the balanced split puts 2/3 of the work (in slow time) on the fast stage: each stage takes
    W/3, and a two-stage 1F1B step is (m + p − 1)·W/3, plus each stage's optimizer (1/3 of the
    one-device optimizer's, by the same split), plus the two sends on the critical path
    (2 MiB of activations, 5 µs + 2 MiB / (25 GB/s · 0.86) each over HDR)."""
    d = archsim.simulate(two_pools()).to_dict()
    assert d["placement"]["layers_per_stage"] == [16, 8]
    assert d["placement"]["devices"] == ["fast", "slow"]
    assert d["placement"]["balanced"] is True
    one = archsim.simulate({"model": MODEL, "hardware": {"device": SLOW, "count": 1},
                            "workload": {"kind": "training", "seq_len": 1024,
                                         "global_batch": M}}).to_dict()
    opt = one["time_breakdown"]["optimizer_s"]
    w = (one["step_time_s"] - opt) / M
    send = 5e-6 + 2 * 1024 * 1024 / (25e9 * 0.86)
    hand = (M + 1) * w / 3 + opt / 3 + 2 * send
    assert d["step_time_s"] == pytest.approx(hand, rel=0.05)
    # the same pools in the other order: the slow stage first gets the fewer layers
    d = archsim.simulate(two_pools(SLOW, FAST)).to_dict()
    assert d["placement"]["layers_per_stage"] == [8, 16]


def test_balanced_is_faster_than_even_and_given_layers_win():
    balanced = archsim.simulate(two_pools())["step_time_s"]
    even = archsim.simulate(two_pools(placement={"stages": ["a", "b"], "balance": "even"}))
    assert even["placement"]["layers_per_stage"] == [12, 12]
    assert even["step_time_s"] > 1.2 * balanced
    given = archsim.simulate(two_pools(layers_per_stage=[20, 4]))
    assert given["placement"]["layers_per_stage"] == [20, 4]
    assert given["placement"]["balanced"] is False


def test_memory_caps_the_fast_stage():
    """The fast device holds only 3 GiB: each layer keeps 16 B × 12.6 M parameters (201 MB of
    model states) plus its activations for 2 micro-batches in flight, so speed alone (16
    layers) does not fit; the balance gives the fast stage what fits and the DES-measured peak
    stays within capacity."""
    small = copy.deepcopy(FAST)
    small["memory"]["capacity"] = "3 GiB"
    d = archsim.simulate(two_pools(small, SLOW, recompute="full")).to_dict()
    pl = d["placement"]
    assert pl["memory_limited"] is True
    assert pl["layers_per_stage"][0] == pl["memory_cap_layers"][0] < 16
    assert d["feasible"]
    stage0 = d["memory"]["per_stage"][0]
    assert stage0["peak_bytes"] <= 3 * 2**30


def test_placement_forms_name_pools_per_stage():
    """A list (one pool per stage) or a mapping (stages per pool, in order); without one, the
    pools take stages in their order, as many as their devices hold."""
    sc = two_pools(pp=4, placement={"stages": ["b", "b", "a", "a"]})
    for pool in sc["hardware"]["cluster"]["pools"]:
        pool["count"] = pool["devices_per_node"] = 2
        pool["intra_node"] = "nvlink3-nvswitch"
    sc["workload"]["global_batch"] = 8
    listed = archsim.simulate(sc)
    assert listed["placement"]["stages"] == ["b", "b", "a", "a"]
    sc["plan"]["placement"] = {"stages": {"b": 2, "a": 2}}
    assert archsim.simulate(sc)["placement"]["stages"] == ["b", "b", "a", "a"]
    del sc["plan"]["placement"]
    assert archsim.simulate(sc)["placement"]["stages"] == ["a", "a", "b", "b"]


def test_pool_link_bandwidth_is_the_slowest_hop_or_nic():
    """H100 pool (NDR 400G NICs, 47 GB/s) and A100 pool (HDR 200G, 21.5 GB/s) joined by HDR:
    a send of one micro-batch's activations (2·s·h bytes, tp 1) takes
    5 µs + 2·1024·2048 B / (25 GB/s × 0.86)."""
    sc = {"model": {"layers": 4, "hidden": 2048, "heads": 16, "vocab": 1024,
                    "max_seq_len": 1024},
          "hardware": {"cluster": "h100-a100-ib"},
          "workload": {"kind": "training", "seq_len": 1024, "global_batch": 32},
          "plan": {"pp": 2, "tp": 1}}
    spec = archsim.load_scenario(sc)
    layout, placement, _, reasons = resolve_pipeline(spec)
    assert not reasons
    plan = build_training_plan(spec, layout, None, placement)
    hdr = load_spec_file("interconnects", "ib-hdr-200g")
    assert plan.p2p_fwd_s == pytest.approx([hdr.latency + 2 * 1024 * 2048 / (25e9 * 0.86)])
    assert plan.p2p_links == ["h100→a100 via ib-hdr-200g"]


def test_heterogeneous_metrics_add_up_per_pool():
    """MFU divides by the average of the stages' peaks; cost needs every pool's price."""
    d = archsim.simulate(two_pools()).to_dict()
    avg_peak = (200e12 + 100e12) / 2
    flops_per_device = d["model_flops_per_step"] / d["devices"]
    assert d["mfu"] == pytest.approx(flops_per_device / (d["step_time_s"] * avg_peak))
    assert d["cost_usd"] is None  # the toy devices have no price
    assert d["memory"]["per_stage"][0]["capacity_bytes"] == 80 * 2**30


def test_pool_sizes_that_do_not_hold_the_stages_are_infeasible():
    """Pool a has 2 devices, b has 1; three one-device stages placed a, b, b: b is short."""
    sc = two_pools(pp=3, placement={"stages": ["a", "b", "b"]})
    pool_a = sc["hardware"]["cluster"]["pools"][0]
    pool_a["count"] = pool_a["devices_per_node"] = 2
    pool_a["intra_node"] = "nvlink3-nvswitch"
    d = archsim.simulate(sc).to_dict()
    assert not d["feasible"]
    assert d["infeasible_reasons"] == [
        "pool 'a' has 2 devices, but holds 1 stage × 1 devices (tp·cp·dp) = 1",
        "pool 'b' has 1 devices, but holds 2 stages × 1 devices (tp·cp·dp) = 2"]


def _mixed(stages):
    return {"model": "gpt3-39.1b",
            "hardware": {"cluster": {
                "pools": [{"name": "h100", "device": "h100-sxm5-80gb", "count": 8},
                          {"name": "a100", "device": "a100-sxm4-40gb", "count": 8}],
                "links": [{"between": ["h100", "a100"], "interconnect": "ib-hdr-200g"}]}},
            "workload": {"kind": "training", "seq_len": 2048, "global_batch": 32,
                         "micro_batch": 1},
            "plan": {"tp": 8, "pp": 2, "sp": True, "recompute": "full",
                     "placement": {"stages": stages}}}


def test_a_placement_with_too_few_stages_says_so_first():
    """One stage named for pp 2: the reason is the count, not the 8 devices of the one pool
    named being indivisible by tp·pp = 16 (which it had said)."""
    d = archsim.simulate(_mixed(["h100"])).to_dict()
    assert d["infeasible_reasons"] == ["plan.placement.stages places 1 stage, but plan.pp is 2"]


def test_a_placement_on_too_few_devices_names_the_pools_it_counts():
    d = archsim.simulate(_mixed(["h100", "h100"])).to_dict()
    assert d["infeasible_reasons"] == [
        "8 devices are not divisible by tp·pp·cp = 8·2·1 = 16",
        "the pipeline runs on the 8 devices of the pool plan.placement.stages names (h100)"]
