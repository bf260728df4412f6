"""MoE expert gradients and expert model states use the expert-data-parallel group.

A rank of an MoE layer holds experts/ep experts; only the dp·cp/ep ranks with the same ep index
hold the same ones (Megatron-core's expert_data_parallel group, DeepSpeed-MoE's expert data
parallel group), so their gradients are reduced, and under ZeRO their states sharded, over
those ranks; everything else (attention, norms, router, embedding, head) over all dp·cp ranks.

Toy cluster for hand counts: 8 devices, one per node, on a 1 GB/s NIC with no latency and
efficiency 1, so every group is a flat ring over the NIC: a reduce-scatter or all-gather of an
S-byte buffer over n ranks takes (n−1)/n · S / 1e9 s (reference/collectives.md, ring).

Toy MoE model (tp = 1, bf16: gradients are reduced in the training dtype, 2 B per parameter —
formulas.md), h = 64, 4 heads of 16, ffn 128, vocab 256, swiglu, rmsnorm, no biases, rope,
untied, 8 experts top-2, 2 layers, every layer MoE:
  dense part of a layer = ln_attn 64 + qkv 64·(4+4+4)·16 = 12288 + proj 64·64 = 4096
                          + ln_mlp 64 + router 64·8 = 512                       = 17024
  one expert            = swiglu fc1 64·2·128 = 16384 + fc2 128·64 = 8192       = 24576
  head = ln_final 64 + logits 64·256 = 16448;  embedding = 256·64 = 16384
"""

import pytest

import archsim
from archsim.cost.insitu import factors
from archsim.cost.memory import model_state_bytes
from archsim.plan.balance import resolve_pipeline
from archsim.plan.layout import Layout
from archsim.plan.stage_costs import rank_groups
from archsim.plan.training import build_training_plan
from archsim.sweep.fastpath import simulate_training_fast

TOY_MOE = {"name": "toy-moe", "layers": 2, "hidden": 64, "heads": 4, "ffn_hidden": 128,
           "vocab": 256, "max_seq_len": 64, "mlp": "swiglu", "norm": "rmsnorm", "bias": False,
           "position": "rope", "tied_embeddings": False, "moe": {"experts": 8, "top_k": 2}}
TOY_DENSE = {k: v for k, v in TOY_MOE.items() if k != "moe"} | {"name": "toy-dense"}
NIC = {"name": "toy-nic", "kind": "custom", "bandwidth": "1 GB/s", "latency": "0 s",
       "efficiency": 1.0}
B = 1e9  # bytes/s of the toy NIC

DENSE_LAYER, EXPERT, HEAD, EMBED, LAYERS, DP = 17024, 24576, 16448, 16384, 2, 8


def toy(ep=1, zero=1, model=TOY_MOE, network="analytic", **plan):
    return archsim.load_scenario({
        "model": model,
        "hardware": {"device": "a100-sxm4-80gb", "count": DP, "devices_per_node": 1,
                     "inter_node": NIC, "network": network},
        "workload": {"kind": "training", "seq_len": 64, "global_batch": DP, "micro_batch": 1},
        "plan": {"tp": 1, "pp": 1, "ep": ep, "zero": zero, **plan}})


def build(sc):
    layout, placement, _, reasons = resolve_pipeline(sc)
    assert not reasons
    return build_training_plan(sc, layout, None, placement)


def ring(n, nbytes):
    """Ring reduce-scatter / all-gather time on the toy NIC."""
    return (n - 1) / n * nbytes / B


def test_expert_gradients_reduce_over_dp_over_ep_ranks():
    """ep = 2: 4 local experts per rank (98304 params per layer), expert-DP group 8/2 = 4."""
    plan = build(toy(ep=2))
    ck = plan.chunks[0][0]
    local = 4 * EXPERT
    # backward order: head, layer 1 (experts, then the rest), layer 0 (same), embedding
    assert ck.grad_buckets == [2 * HEAD, 2 * local, 2 * DENSE_LAYER, 2 * local,
                               2 * DENSE_LAYER, 2 * EMBED]
    assert ck.bucket_groups == ["dp", "edp", "dp", "edp", "dp", "dp"]
    assert ck.expert_params == 2 * local
    assert ck.params == HEAD + EMBED + LAYERS * (DENSE_LAYER + local)
    assert plan.edp_group.size == 4
    expected = [ring(8, 2 * HEAD), ring(4, 2 * local), ring(8, 2 * DENSE_LAYER),
                ring(4, 2 * local), ring(8, 2 * DENSE_LAYER), ring(8, 2 * EMBED)]
    assert plan.bucket_times[0][0] == pytest.approx(expected, rel=1e-12)


def test_no_expert_reduction_when_ep_equals_dp():
    """ep = dp·cp = 8: one expert per rank, held by no other rank: nothing to reduce."""
    plan = build(toy(ep=8))
    ck = plan.chunks[0][0]
    assert plan.edp_group.size == 1
    assert ck.expert_params == LAYERS * EXPERT
    assert ck.grad_buckets == [2 * HEAD, 2 * DENSE_LAYER, 2 * DENSE_LAYER, 2 * EMBED]
    assert set(ck.bucket_groups) == {"dp"}
    # ZeRO-1's parameter all-gather after the step: dense parameters over 8 ranks only
    dense_total = HEAD + EMBED + LAYERS * DENSE_LAYER
    assert plan.param_gather_s[0] == pytest.approx(ring(8, 2 * dense_total), rel=1e-12)


@pytest.mark.parametrize("ep", [1, 2, 4, 8])
def test_zero1_states_shard_experts_over_the_expert_dp_group(ep):
    """ZeRO-1 (formulas.md): 2 B weights + 2 B gradients per local parameter, 12 B of Adam
    state per parameter sharded: dense over dp·cp = 8, experts over 8/ep. Expert state per rank
    is then the same for every ep: 8·24576·2 layers / 8 = 49152 parameters' worth."""
    plan = build(toy(ep=ep))
    dense = HEAD + EMBED + LAYERS * DENSE_LAYER           # 66880
    experts = LAYERS * (8 // ep) * EXPERT
    st = plan.states[0]
    assert st.weights == 2 * (dense + experts)
    assert st.gradients == 2 * (dense + experts)
    assert st.optimizer_states == pytest.approx(12 * (dense / 8 + experts / (8 // ep)),
                                                rel=1e-12)
    assert st.optimizer_states == pytest.approx(12 * (8360 + 49152), rel=1e-12)


def test_zero3_shards_every_state_of_the_experts_over_the_expert_dp_group():
    plan = build(toy(ep=2, zero=3))
    dense, experts = HEAD + EMBED + LAYERS * DENSE_LAYER, LAYERS * 4 * EXPERT
    st = plan.states[0]
    # beside the shards, the largest unit gathered in full: a layer with its 4 local experts,
    # 17024 + 4·24576 = 115328 parameters (above the embedding's and head's), twice (computing
    # and prefetched, overlap_comm) in bf16, and its unsharded bf16 gradient
    unit = DENSE_LAYER + 4 * EXPERT
    assert st.weights == pytest.approx(2 * (dense / 8 + experts / 4) + 2 * 2 * unit, rel=1e-12)
    assert st.gradients == pytest.approx(2 * (dense / 8 + experts / 4) + 2 * unit, rel=1e-12)
    assert st.optimizer_states == pytest.approx(12 * (dense / 8 + experts / 4), rel=1e-12)
    # the parameters are gathered before use in the forward and again in the backward task:
    # dense over 8 ranks, experts over 4 (at the device's in-situ collective bandwidth)
    ce = factors(plan.device).collective_efficiency
    assert plan.chunks[0][0].zero3_gather_s == pytest.approx(
        2 * (ring(8, 2 * dense) + ring(4, 2 * experts)) / ce, rel=1e-12)
    assert plan.chunks[0][0].zero3_gather_bytes == 2 * 2 * (dense + experts)  # 4 local experts


def test_model_state_bytes_with_experts_by_hand():
    """1e9 dense + 2e9 expert parameters, dp·cp = 16, ep = 4 → expert shard 4."""
    st = model_state_bytes(3e9, "bf16", "adam", 2, 16, expert_params=2e9, expert_shard=4)
    assert st.weights == 2 * 3e9
    assert st.gradients == pytest.approx(2 * (1e9 / 16 + 2e9 / 4), rel=1e-12)
    assert st.optimizer_states == pytest.approx(12 * (1e9 / 16 + 2e9 / 4), rel=1e-12)


def test_result_json_communication_adds_up_and_names_the_expert_dp_group():
    """ZeRO-1 reduce-scatters every bucket once and all-gathers the parameters once."""
    r = archsim.simulate(toy(ep=2)).to_dict()
    comm = r["communication"]
    dense, experts = HEAD + EMBED + LAYERS * DENSE_LAYER, LAYERS * 4 * EXPERT
    rs, ag = comm["by_kind"]["reducescatter"], comm["by_kind"]["allgather"]
    assert rs["bytes"] == 2 * (dense + experts)
    assert ag["bytes"] == 2 * (dense + experts)
    one_way = ring(8, 2 * dense) + ring(4, 2 * experts)
    assert rs["time_s"] == pytest.approx(one_way, rel=1e-9)
    assert ag["time_s"] == pytest.approx(one_way, rel=1e-9)
    assert comm["bytes_per_device"] == sum(v["bytes"] for v in comm["by_kind"].values())
    assert comm["algorithms"]["edp.reducescatter"] == "ring(inter)"
    assert comm["algorithms"]["edp.allgather"] == "ring(inter)"
    assert r["memory"]["breakdown"]["optimizer_states"] == pytest.approx(
        12 * (dense / 8 + experts / 4), rel=1e-12)

    none = archsim.simulate(toy(ep=8)).to_dict()["communication"]
    assert none["by_kind"]["reducescatter"]["bytes"] == 2 * dense
    assert not any(k.startswith("edp.") for k in none["algorithms"])


def test_flow_model_buckets_move_the_expert_dp_ring_bytes():
    """Under the flow-level network each bucket's ring phase carries (n−1)/n of its buffer,
    n = 4 for expert buckets and 8 for dense ones."""
    plan = build(toy(ep=2, network="flow"))
    transfers = plan.flows.buckets[0][0]
    moved = [sum(ph.nbytes for ph in tr.phases) for tr in transfers]
    local = 4 * EXPERT
    assert moved == pytest.approx([7 / 8 * 2 * HEAD, 3 / 4 * 2 * local,
                                   7 / 8 * 2 * DENSE_LAYER, 3 / 4 * 2 * local,
                                   7 / 8 * 2 * DENSE_LAYER, 7 / 8 * 2 * EMBED], rel=1e-12)
    assert [tr.time_s for tr in transfers] == plan.bucket_times[0][0]
    r = archsim.simulate(toy(ep=2, network="flow"))
    dense, experts = HEAD + EMBED + LAYERS * DENSE_LAYER, LAYERS * local
    assert r["communication"]["by_kind"]["reducescatter"]["bytes"] == 2 * (dense + experts)


def test_dense_model_buckets_and_states_are_the_hand_counts():
    """No MoE: one bucket per layer, all over the 8-rank dp group, ZeRO-1 states as before."""
    plan = build(toy(model=TOY_DENSE))
    ck = plan.chunks[0][0]
    # dense MLP layer: attention 12288 + 4096 + 2 norms 128 + swiglu 16384 + 8192
    layer = 12288 + 4096 + 128 + 16384 + 8192
    assert ck.grad_buckets == [2 * HEAD, 2 * layer, 2 * layer, 2 * EMBED]
    assert set(ck.bucket_groups) == {"dp"} and ck.expert_params == 0.0
    assert plan.bucket_times[0][0] == pytest.approx(
        [ring(8, 2 * HEAD), ring(8, 2 * layer), ring(8, 2 * layer), ring(8, 2 * EMBED)],
        rel=1e-12)
    total = HEAD + EMBED + 2 * layer
    assert plan.states[0] == model_state_bytes(total, "bf16", "adam", 1, 8)
    assert plan.states[0].optimizer_states == 12 * total / 8


def test_expert_params_of_mixtral_per_rank():
    """Mixtral-8x7B (workloads/models), tp = 2, ep = 4 on 8 devices: 2 local experts, each
    split over tp: 2 · 3·4096·14336 / 2 = 176160768 per layer; the dense part per layer
    is 2 rmsnorms 8192 + qkv 4096·(16 + 4 + 4)·128 = 12582912 + proj 16·128·4096 = 8388608
    + router 4096·8 = 32768 = 21012480. Expert-DP group: dp 4 / ep 4 = 1 rank."""
    sc = archsim.load_scenario({
        "model": "mixtral-8x7b",
        "hardware": {"device": "h100-sxm5-80gb", "count": 8, "devices_per_node": 8,
                     "intra_node": "nvlink4-nvswitch"},
        "workload": {"kind": "training", "seq_len": 4096, "global_batch": 8},
        "plan": {"tp": 2, "pp": 1, "ep": 4, "zero": 1}}, {"model.layers": 2})
    plan = build(sc)
    ck = plan.chunks[0][0]
    assert ck.expert_params == 2 * 176160768
    assert ck.params - ck.expert_params == 2 * 21012480 + 32000 * 4096 / 2 + (
        4096 + 32000 * 4096 / 2)
    assert plan.edp_group.size == 1
    assert "edp" not in ck.bucket_groups


def test_expert_groups_split_dp_cp_into_ep_by_expert_dp():
    """Megatron-core's expert layout (tp-ep-dp): ep ranks adjacent after tp, expert-DP ranks
    tp·ep apart. tp 1, cp 2, dp 2, ep 2 on nodes of 2: the ep pair shares a node, the
    expert-DP pair spans two."""
    sc = toy(ep=2, cp=2)
    pool = sc.cluster.pools[0].model_copy(update={"devices_per_node": 2})
    layout = Layout(dp=2, tp=1, pp=1, cp=2, ep=2, chunks=1, micro_batch=1, micro_batches=1,
                    stage_layers=())
    groups = rank_groups(pool, layout)
    assert (groups["ep"].size, groups["ep"].per_node) == (2, 2)
    assert (groups["edp"].size, groups["edp"].per_node) == (2, 1)
    assert (groups["dp"].size, groups["dp"].per_node) == (4, 2)


def test_fast_path_matches_the_des_for_moe():
    sc = toy(ep=2, zero=0)
    des = archsim.simulate(sc)["step_time_s"]
    assert simulate_training_fast(sc)["step_time_s"] == pytest.approx(des, rel=0.02)


def test_zero3_gathers_no_experts_when_each_rank_holds_its_own():
    """ep = dp = 8: every rank holds one expert whose expert-data-parallel group is itself, so
    its weights are neither sharded nor gathered: the unit held in full is the layer's dense
    part, 17024 parameters (above the head's 16448 and the embedding's 16384)."""
    plan = build(toy(ep=8, zero=3))
    dense, experts = HEAD + EMBED + LAYERS * DENSE_LAYER, LAYERS * 1 * EXPERT
    st = plan.states[0]
    assert st.weights == pytest.approx(2 * (dense / 8 + experts) + 2 * 2 * DENSE_LAYER,
                                       rel=1e-12)
    assert st.gradients == pytest.approx(2 * (dense / 8 + experts) + 2 * DENSE_LAYER, rel=1e-12)
