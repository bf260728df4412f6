"""The flow-level network inside the training DES: DP gradients and PP sends share a NIC."""

import pytest

import archsim
from archsim.cost.transfer import FlowPhase, Transfer
from archsim.plan.balance import resolve_pipeline
from archsim.plan.flows import FlowPlan
from archsim.plan.training import PhaseCost, build_training_plan
from archsim.sim.training import run_training

SMALL = {"layers": 4, "hidden": 256, "heads": 4, "vocab": 1000, "max_seq_len": 128}
# big enough that collectives are bandwidth-bound (a 256-wide layer's are all latency)
MEDIUM = {"layers": 4, "hidden": 2048, "heads": 16, "vocab": 32000, "max_seq_len": 1024}


def scenario(network, pp, dp, tp=1, per_node=1, overlap=True, m=1, model=SMALL, **plan):
    seq = model["max_seq_len"]
    return archsim.load_scenario({
        "model": model,
        "hardware": {"device": "a100-sxm4-80gb", "count": pp * dp * tp,
                     "devices_per_node": per_node, "network": network},
        "workload": {"kind": "training", "seq_len": seq, "global_batch": m * dp},
        "plan": {"pp": pp, "tp": tp, "overlap_comm": overlap, **plan},
        # the network model alone: no in-situ step overhead diluting the differences
        "calibration": "isolated"})


def build(sc):
    layout, placement, _, reasons = resolve_pipeline(sc)
    assert not reasons
    return build_training_plan(sc, layout, None, placement)


def on_nic(src, dst=None):
    """1 byte over the NIC of stage src (to stage dst, or a ring collective of src's group):
    1 s on a 1 B/s port."""
    res = (f"s{src}.inter.tx", f"s{dst if dst is not None else src}.inter.rx")
    return Transfer(1.0, (FlowPhase(0.0, 1.0, res, 1.0),))


def toy(network):
    """Two stages on two single-GPU nodes, two replicas, one micro-batch: F = 1 s, B = 2 s,
    each send and each stage's single gradient bucket 1 s over its 1 B/s NIC."""
    plan = build(scenario(network, pp=2, dp=2))
    for row in plan.chunks:
        for ck in row:
            ck.fwd, ck.bwd = PhaseCost(compute_s=1.0), PhaseCost(compute_s=2.0)
            ck.fwd_task_s, ck.bwd_task_s, ck.bwd_reduce_task_s = 1.0, 2.0, 2.0
            ck.act_bytes, ck.working_bytes, ck.recompute_s = 1.0, 0.0, 0.0
    plan.p2p_fwd_s, plan.p2p_bwd_s = [1.0], [1.0]
    plan.bucket_times = [[[1.0]], [[1.0]]]
    plan.optimizer_s, plan.param_gather_s, plan.embedding_sync_s = [0.0, 0.0], [0.0, 0.0], 0.0
    if network == "flow":
        plan.flows = FlowPlan(
            capacity={f"s{s}.inter.{d}": 1.0 for s in (0, 1) for d in ("tx", "rx")},
            p2p_fwd=[on_nic(0, 1)], p2p_bwd=[on_nic(1, 0)],
            buckets=[[[on_nic(0)]], [[on_nic(1)]]],
            tasks=[[(Transfer(0.0), Transfer(0.0), 1)] for _ in range(2)])
    return plan


def test_dp_gradients_and_the_pipeline_send_share_the_nic_by_the_hand_computed_amount():
    """Contention-free: S0 F[0,1], act [1,2], S1 F[2,3] B[3,5]; at 5 S1's gradient bucket
    and its gradient send to S0 both start, each alone 1 s → S0 B[6,8], bucket [8,9]: 9 s.
    Flow-level: at 5 both flows leave through S1's NIC at 1/2 B/s → both end at 7;
    S0 B[7,9], bucket [9,10]: 10 s. The difference, 1 s, is the send's share lost to the
    gradients."""
    free = run_training(toy("analytic"))
    shared = run_training(toy("flow"))
    assert free.step_time_s == pytest.approx(9.0)
    assert shared.step_time_s == pytest.approx(10.0)
    assert shared.stages[1].dp_end_s == pytest.approx(7.0)
    assert shared.p2p_time_s == pytest.approx(1.0 + 2.0)  # act alone, grad shared


def test_a_pipeline_whose_transfers_never_share_a_port_agrees_exactly():
    """Two stages, one replica, no tensor parallelism: stage 0 only sends activations and
    receives gradients, stage 1 the reverse — no port carries two flows at once."""
    free = archsim.simulate(scenario("analytic", pp=2, dp=1, m=8))
    flow = archsim.simulate(scenario("flow", pp=2, dp=1, m=8))
    assert flow["step_time_s"] == pytest.approx(free["step_time_s"], rel=1e-12)
    assert flow["sim"]["events"] > free["sim"]["events"]  # the flows are simulated


def test_tp_collectives_and_overlapped_dp_reduction_slow_each_other_on_nvlink():
    """TP 2 × DP 4 in one 8-GPU node: gradient buckets on NVLink overlap the backward pass's
    TP all-reduces. Sharing can only delay transfers: the flow model's step is longer."""
    kw = {"pp": 1, "dp": 4, "tp": 2, "per_node": 8, "m": 2, "model": MEDIUM}
    free = archsim.simulate(scenario("analytic", **kw))
    flow = archsim.simulate(scenario("flow", **kw))
    assert flow["step_time_s"] > free["step_time_s"] * (1 + 1e-4)
    # without overlap nothing shares NVLink: identical
    free = archsim.simulate(scenario("analytic", overlap=False, **kw))
    flow = archsim.simulate(scenario("flow", overlap=False, **kw))
    assert flow["step_time_s"] == pytest.approx(free["step_time_s"], rel=1e-12)


def test_network_model_is_in_the_result():
    d = archsim.simulate(scenario("flow", pp=2, dp=1)).to_dict()
    assert d["placement"]["network"] == "flow"
