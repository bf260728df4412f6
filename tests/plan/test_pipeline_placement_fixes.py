"""Pipeline sends by node, interleaved memory caps per stage (hand counts)."""

import pytest

import archsim
from archsim.plan.balance import _in_flight

SC = {"name": "p2p", "model": {"layers": 8, "hidden": 4096, "heads": 32, "ffn_hidden": 16384,
                               "vocab": 32, "mlp": "gelu", "max_seq_len": 8192},
      "hardware": {"device": "h100-sxm5-80gb", "count": 16, "devices_per_node": 8,
                   "intra_node": "nvlink4-nvswitch", "inter_node": "eth-100g"},
      "workload": {"kind": "training", "seq_len": 8192, "global_batch": 16, "micro_batch": 1},
      "plan": {"tp": 4, "pp": 4}}


def test_a_send_crosses_the_network_where_the_stages_are_on_two_nodes():
    """tp 4, pp 4 on two 8-GPU nodes: stage s holds ranks 4s … 4s+3, so stages 0–1 are on
    node 0 and 2–3 on node 1: the 1 → 2 send crosses Ethernet although the stages are
    neighbours (it had been priced on NVLink, as every send one stage apart)."""
    r = archsim.simulate(SC).to_dict()
    assert r["placement"]["p2p_links"] == ["nvlink4-nvswitch", "eth-100g", "nvlink4-nvswitch"]


def test_the_interleaved_wrap_crosses_nodes_too():
    """Interleaved (v 2): the last stage's chunk sends to the first stage's next chunk, node 1
    → node 0, as slow as the 1 → 2 send; it had reused the stage 0 → 1 (NVLink) time."""
    from archsim.plan.balance import resolve_pipeline
    from archsim.plan.training import build_training_plan

    sc = archsim.load_scenario({**SC, "plan": {**SC["plan"], "schedule": "interleaved",
                                               "virtual_stages": 2}})
    layout, placement, _, reasons = resolve_pipeline(sc)
    assert not reasons
    plan = build_training_plan(sc, layout, None, placement)
    assert plan.p2p_wrap_s == (plan.p2p_fwd_s[1], plan.p2p_bwd_s[1])
    assert plan.p2p_fwd_s[1] > 2 * plan.p2p_fwd_s[0]


@pytest.mark.parametrize(("s", "chunks"), [(0, 19), (1, 17), (2, 15), (3, 13)])
def test_interleaved_memory_cap_counts_each_stages_chunks(s, chunks):
    """p 4, v 4, m 16: stage s holds 2(p − s − 1) + (v − 1)p + 1 chunks at its first backward
    (megatron-core's warm-up), each a quarter of its layers. The balancer had applied the first
    stage's factor min(m, p − s)(1 + (p − 1)/(pv)) to every stage (1.19 layers' worth on the
    last instead of 3.25) and split layers into stages that then did not fit."""
    assert _in_flight("interleaved", 4, 16, 4, s) == pytest.approx(chunks / 4)


def test_a_stage_pair_across_nodes_all_reduces_across_nodes():
    """Stages of 4 ranks starting at ranks 4 and 8 on 8-GPU nodes are on two nodes, though a
    group of two ranks 4 apart would tile one node: the pair's group must span two nodes (its
    node count had stayed at one when only the per-node count was corrected)."""
    from archsim.plan.links import pair_group
    from archsim.plan.placement import StageHardware

    pool = archsim.load_scenario(SC).cluster.pools[0]
    a = StageHardware(stage=1, pool=pool, first_device=4, devices=4)
    b = StageHardware(stage=2, pool=pool, first_device=8, devices=4)
    group = pair_group(archsim.load_scenario(SC).cluster, 4, a, b)
    assert (group.per_node, group.nodes) == (1, 2)
    same = pair_group(archsim.load_scenario(SC).cluster, 4,
                      StageHardware(stage=0, pool=pool, first_device=0, devices=4), a)
    assert same.nodes == 1
