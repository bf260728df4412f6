"""The worked scenarios of heterogeneous clusters, topologies, stragglers and I/O run, and their
numbers check out against hand arithmetic or hand-derived bounds."""

import pytest

import archsim
from archsim.spec.loader import load_spec_file


def run(name, overrides=None):
    return archsim.simulate(name, overrides).to_dict()


def test_gpt3_18b_pipeline_split_across_h100_and_a100_nodes():
    d = run("gpt3-18b-hetero-h100-a100")
    assert d["feasible"]
    pl = d["placement"]
    assert pl["stages"] == ["h100"] * 4 + ["a100"] * 4
    layers = pl["layers_per_stage"]
    assert sum(layers) == 40 and min(layers[:4]) > max(layers[4:])
    # a certificate that the split minimizes the slowest stage: moving one layer off the
    # slowest stage onto any other stage would make that one at least as slow
    times, per_layer = pl["stage_time_per_micro_batch_s"], pl["layer_time_s"]
    worst = max(range(8), key=lambda s: times[s])
    for s in range(8):
        if s != worst:
            assert times[s] + per_layer[s] >= times[worst] * (1 - 1e-9)
    assert pl["p2p_links"][3] == "h100→a100 via ib-hdr-200g"
    even = run("gpt3-18b-hetero-h100-a100", {"plan.placement.balance": "even"})
    assert even["placement"]["layers_per_stage"] == [5] * 8
    assert d["step_time_s"] < 0.8 * even["step_time_s"]


def test_llama2_7b_pipeline_over_a_tpu_slice_beside_an_h100_pool():
    """Each collective picks its topology's algorithm. The send between the pools crosses the
    TPU hosts' DCN, 3.125 GB/s × 0.8 per chip: 10 µs + 2·4096·4096/8 B / 2.5 GB/s (sequence
    parallelism: no all-gather on arrival)."""
    d = run("llama2-7b-hetero-tpu-v5e-h100")
    assert d["feasible"]
    algos = d["communication"]["algorithms"]
    # 8 chips: one axis of the 8×8 slice, a line (a v5e slice wraps only an axis as long as
    # the 16×16 pod's)
    assert algos["tpu/tp.reducescatter"] == "ring"
    assert algos["tpu/dp.allgather"] == "ring"  # stride 8: the other dimension
    assert algos["gpu/dp.allreduce"] in ("tree(inter)", "ring(inter)")
    assert d["placement"]["devices"] == ["h100-sxm5-80gb", "tpu-v5e"]
    dcn = load_spec_file("interconnects", "dcn-tpu-v5e")
    send = dcn.latency + 2 * 4096 * 4096 / 8 / (3.125e9 * 0.8)
    # two stages: whichever is critical sends one message per micro-batch (stage 0 the
    # activations, stage 1 the gradients)
    sends = d["parallel"]["micro_batches"]
    assert d["communication"]["by_kind"]["p2p"]["time_s"] == pytest.approx(sends * send)


def test_llama2_7b_prefill_on_h100_decode_on_inferentia2():
    """The KV cache of a 1024-token prompt: 2 (K, V) × 32 layers × 32 heads × 128 × 2 B × 1024."""
    d = run("llama2-7b-disagg-h100-inf2")
    assert d["feasible"] and d["completed"] == 200
    assert [g["device"] for g in d["groups"]] == ["h100-sxm5-80gb", "inferentia2"]
    assert d["kv_transfer"]["bytes_per_request_mean"] == 2 * 32 * 32 * 128 * 2 * 1024
    assert d["kv_transfer"]["bandwidth_bytes_per_s"] == pytest.approx(12.5e9 * 0.8)


def test_gpt3_175b_with_one_slow_node():
    """Node 17 holds devices 136–143: stage 1 (128 devices per stage). The step lies between
    the nominal one and that of every node at half speed, and above twice the nominal
    kernel time of one stage (the slow stage's kernels alone)."""
    slow = run("gpt3-175b-one-slow-node")
    base = run("gpt3-175b-one-slow-node", {"hardware.stragglers": []})
    every = run("gpt3-175b-one-slow-node",
                {"hardware.stragglers": [{"node": i, "speed": 0.5} for i in range(128)]})
    assert slow["placement"]["stragglers"] == {"1": {"speed": 0.5, "nic_speed": 1.0,
                                                     "intra_speed": 1.0}}
    tb = base["time_breakdown"]
    assert slow["step_time_s"] > 2 * (tb["compute_s"] + tb["recompute_s"])
    assert base["step_time_s"] < slow["step_time_s"] < every["step_time_s"]


def test_gpt3_175b_checkpoint_to_lustre():
    """14 B per parameter (SC21 eq. 2: P = 12·l·h²·(1 + 13/(12h) + (V+s)/(12·l·h)), l = 96,
    h = 12288, V = 51200, s = 2048; within 1%: the copy of the tied embedding on the last
    stage and norms replicated over tensor-parallel ranks are written too). All 128 nodes
    write at 20 GB/s each (2.56 TB/s, under the 5 TB/s aggregate)."""
    d = run("gpt3-175b-checkpoint-lustre")
    ck = d["io"]["checkpoint"]
    layers, h, v, s = 96, 12288, 51200, 2048
    params = 12 * layers * h**2 * (1 + 13 / (12 * h) + (v + s) / (12 * layers * h))
    assert ck["bytes"] == pytest.approx(14 * params, rel=0.01)
    assert ck["writer_nodes"] == 128
    assert ck["write_s"] == pytest.approx(1e-3 + ck["bytes"] / (128 * 20e9))
    assert ck["amortized_s_per_step"] == pytest.approx(ck["write_s"] / 500)
    assert d["io"]["data"]["exposed_s"] == 0.0


def test_gpt3_175b_oversubscribed_fat_tree_with_flows():
    flow = run("gpt3-175b-fattree-flow")
    analytic = run("gpt3-175b-fattree-flow", {"hardware.network": "analytic"})
    flat = run("gpt3-175b-fattree-flow", {"hardware.network": "analytic",
                                          "hardware.fabric": {}})
    assert flow["placement"]["network"] == "flow"
    assert flow["sim"]["events"] > 5 * analytic["sim"]["events"]  # every transfer is flows
    # sharing a port can only delay a transfer; a tapered spine only slows the reduction
    assert flow["step_time_s"] >= analytic["step_time_s"] * (1 - 1e-12)
    assert analytic["step_time_s"] > flat["step_time_s"]


def test_a_plan_on_one_pool_of_two_is_judged_on_that_pools_calibration():
    """The 18B scenario's cluster holds H100s and A100s. A plan of cp 2 on the H100s alone
    leaves the A100s idle: its error bar names the H100 only, whose calibrated cp reaches 2,
    and not the A100's (cp 1 only, its profile's calibrated_range), which had widened its
    band; the scenario's own pipeline over both pools is judged on both."""
    a100 = load_spec_file("devices", "a100-sxm4-80gb").insitu.calibrated_range
    h100 = load_spec_file("devices", "h100-sxm5-80gb").insitu.calibrated_range
    assert tuple(a100.cp) == (1, 1) and h100.cp[1] >= 2
    alone = run("gpt3-18b-hetero-h100-a100", {
        "plan.tp": 1, "plan.pp": 1, "plan.zero": 3, "plan.cp": 2, "workload.micro_batch": 4,
        "plan.recompute": "none", "plan.placement.stages": ["h100"]})
    assert alone["feasible"] and alone["placement"]["devices"] == ["h100-sxm5-80gb"]
    assert alone["uncertainty"]["devices"] == ["h100-sxm5-80gb"]
    assert not any("a100" in line for line in alone["uncertainty"]["out_of_range"])
    both = run("gpt3-18b-hetero-h100-a100")
    assert both["uncertainty"]["devices"] == ["a100-sxm4-80gb", "h100-sxm5-80gb"]
