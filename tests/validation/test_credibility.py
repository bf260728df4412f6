"""Credibility checks: no shipped answer claims more than any published run reached, network
effects show where the traffic crosses the network, and ZeRO-3's gathers are communication.

The best published utilisation per device and GEMM dtype comes from the calibration corpus
(archsim/published/utilization.py: MosaicML llm-foundry's tables, e.g. A100 bf16 MFU 64.2%,
H100 bf16 46.4%; and every corpus run's MFU from its measured throughput: H100 fp8 44.9% of
the fp8 peak).
"""

import pytest

import archsim
from archsim.published.utilization import best_for
from archsim.spec.registry import list_names


def training_results():
    for name in list_names("scenarios"):
        sc = archsim.load_scenario(name)
        if sc.workload.kind != "training":
            continue
        yield name, sc, archsim.simulate(sc).to_dict()


@pytest.fixture(scope="module")
def shipped_training():
    return list(training_results())


def test_no_shipped_training_scenario_above_the_best_published_utilisation(shipped_training):
    checked = 0
    for name, sc, d in shipped_training:
        if not d["feasible"]:
            continue
        devices = {p.device.name for p in sc.cluster.pools}
        dtype = "fp8" if sc.compression is not None and \
            sc.compression.activation_dtype == "fp8" else sc.workload.dtype
        for device in devices:
            best = best_for(device, dtype)
            if best is None:
                continue
            checked += 1
            assert d["mfu"] <= best.mfu, (name, device, d["mfu"], best)
            if best.hfu is not None:  # MaxText's TPU tables state MFU only
                assert d["hfu"] <= best.hfu, (name, device, d["hfu"], best)
    assert checked >= 4  # the GPT-3 175B family on A100s and the H100 / A100 pipeline


def test_a_device_without_published_runs_borrows_its_siblings_best():
    """The H200 (no bf16 run with stated MFU in the corpus) is the H100's compute die at the
    same 989 TFLOPS bf16 peak (its profile's prior_from): its ceiling is the H100's; a device
    with neither runs nor a sibling has none."""
    from archsim.published.utilization import best_source

    assert best_source("h200-sxm-141gb", "bf16") == ("h100-sxm5-80gb",
                                                     best_for("h100-sxm5-80gb", "bf16"))
    assert best_for("h200-sxm-141gb", "bf16").mfu == pytest.approx(0.4644)  # MPT-7B, s2048
    assert best_source("l40s", "bf16") is None


def test_the_planner_answer_stays_below_the_best_published_a100_utilisation():
    from archsim.planner.search import search_plans

    result = search_plans(archsim.load_scenario("gpt3-175b-1024xa100"), top=1)
    best = best_for("a100-sxm4-80gb", "fp16")
    top = result.best.result
    assert top["mfu"] <= best.mfu and top["hfu"] <= best.hfu


def test_zero3_gathers_are_communication_not_compute():
    """The same FSDP plan with ZeRO-1 and ZeRO-3: the kernels (compute_s) are the same; the
    parameter all-gathers appear in by_kind with their bytes — each forward and backward
    task gathers the rank's parameters, 2 · m · 2 B · parameters — and what they do not hide
    is exposed communication."""
    base = {"model": "llama2-7b", "hardware": {"device": "h100-sxm5-80gb", "count": 64},
            "workload": {"kind": "training", "seq_len": 4096, "global_batch": 256,
                         "micro_batch": 2, "dtype": "bf16"},
            "plan": {"recompute": "selective"}}
    z1 = archsim.simulate(base, {"plan.zero": 1}).to_dict()
    z3 = archsim.simulate(base, {"plan.zero": 3}).to_dict()
    m = 256 // (2 * 64)
    params = 6_738_415_616  # llama2-7b (tests/spec/test_models.py)
    # the same kernels, except that ZeRO-3 adds the micro-batches' gradients into the rank's
    # 1/64 shard, not into all of them (archsim/cost/gradients.py); native accumulation makes
    # m − 1 passes, the first gradient being kept as it is (archsim/plan/training.py
    # accumulation_passes)
    assert z1["time_breakdown"]["compute_s"] - z3["time_breakdown"]["compute_s"] == \
        pytest.approx((m - 1) * (_accumulate(params) - _accumulate(params / 64)), rel=1e-6)
    gathered = z3["communication"]["by_kind"]["allgather"]["bytes"]
    assert gathered == pytest.approx(2 * m * 2 * params, rel=1e-9)
    assert z3["time_breakdown"]["exposed_comm_s"] > z1["time_breakdown"]["exposed_comm_s"]
    assert sum(v["time_s"] for v in z3["communication"]["by_kind"].values()) == \
        pytest.approx(z3["communication"]["total_time_s"])


def _accumulate(params: float) -> float:
    """One micro-batch's gradient accumulation pass over ``params`` bf16 parameters on an
    H100 (archsim/graph/backward.py grad_accumulate_op: 3 × 2 B each)."""
    from archsim.cost.compute import compute_time
    from archsim.cost.insitu import run_device
    from archsim.graph.backward import grad_accumulate_op

    sc = archsim.load_scenario({"model": "llama2-7b", "hardware": {
        "device": "h100-sxm5-80gb", "count": 8}, "workload": {"kind": "training"}})
    return compute_time(grad_accumulate_op(params, "bf16"),
                        run_device(sc.hardware.device, sc.plan, sc.workload))


@pytest.mark.parametrize("network", ["analytic", "flow"])
def test_a_blocking_gradient_reduce_scatter_is_exposed_communication(network):
    """ZeRO-2 without overlap: after each micro-batch's backward the stream waits for the
    gradients' reduce-scatter. That wait is exposed communication, not compute: compute_s is
    that of the same plan with the reduction overlapped, and the parts still add up."""
    base = {"model": "llama2-7b", "hardware": {"device": "h100-sxm5-80gb", "count": 64,
                                               "network": network},
            "workload": {"kind": "training", "seq_len": 4096, "global_batch": 256,
                         "micro_batch": 1, "dtype": "bf16"},
            "plan": {"tp": 2, "pp": 2, "recompute": "selective", "overlap_comm": False}}
    # the kernels of the same plan with the reduction overlapped (on the contention-free
    # network: under the flow model overlapped flows also stretch the tasks they share links
    # with)
    z1 = archsim.simulate(base, {"plan.zero": 2, "plan.overlap_comm": True,
                                 "hardware.network": "analytic"}).to_dict()
    z2 = archsim.simulate(base, {"plan.zero": 2}).to_dict()
    assert z2["time_breakdown"]["compute_s"] == pytest.approx(
        z1["time_breakdown"]["compute_s"], rel=1e-9)
    assert z2["time_breakdown"]["exposed_comm_s"] > z1["time_breakdown"]["exposed_comm_s"]
    parts = sum(v for k, v in z2["time_breakdown"].items() if k.endswith("_s"))
    assert parts == pytest.approx(z2["step_time_s"], rel=1e-9)
    assert z2["time_breakdown"]["exposed_comm_s"] <= z2["communication"]["total_time_s"]


def fattree(o, base, overrides):
    return archsim.simulate(base, {**overrides, "hardware.fabric": {
        "topology": "fattree", "oversubscription": o, "switch_radix": 64}}).to_dict()


def test_oversubscription_slows_a_plan_whose_traffic_crosses_the_spine():
    """A 64-expert MoE (Mixtral 8x7B's layers with 64 experts) on 256 H100s with expert
    parallelism 64, gradients reduced after the backward pass. Each expert's gradients reduce
    over the dp/ep = 4 ranks that hold it, 64 ranks (8 nodes) apart: at 4:1 a 64-port leaf
    holds 6 nodes, so those 4 ranks sit in 4 leaves and every hop of their ring crosses the
    spine at 1/4 of the NIC rate (archsim/cost/topology.py), and the all-to-all over 8 nodes
    sends 2 of them across the spine too. The step is more than a fifth slower."""
    base = {"model": "mixtral-8x7b",
            "hardware": {"device": "h100-sxm5-80gb", "count": 256},
            "workload": {"kind": "training", "seq_len": 4096, "global_batch": 512,
                         "micro_batch": 1},
            "plan": {"tp": 1, "ep": 64, "zero": 1, "recompute": "full",
                     "overlap_comm": False}}
    overrides = {"model.moe.experts": 64}
    one, four = fattree(1, base, overrides), fattree(4, base, overrides)
    assert four["step_time_s"] > 1.2 * one["step_time_s"]
    assert four["communication"]["by_kind"]["alltoall"]["time_s"] > \
        one["communication"]["by_kind"]["alltoall"]["time_s"]


def test_megatron_rings_cross_each_leaf_once():
    """GPT-3 175B's Megatron plan (tp 8 in the node, pp 8, dp 16): each data-parallel ring of
    16 nodes, leaf by leaf, crosses a leaf's up-links once per direction, and the 8 rings of
    a node's GPUs need 8 NICs' worth of the leaf's up-links: a 4:1 leaf of 6 nodes (64-port
    switch: 51 down ports, 6 nodes of 8 NICs) keeps 48 / 4 = 12 — more than the 8 needed. So
    4:1 oversubscription barely moves this plan (the pipeline sends, which do cross the spine
    at 1/4 rate, are mostly hidden by the schedule)."""
    one = archsim.simulate("gpt3-175b-fattree-flow",
                           {"hardware.fabric.oversubscription": 1}).to_dict()
    four = archsim.simulate("gpt3-175b-fattree-flow",
                            {"hardware.fabric.oversubscription": 4}).to_dict()
    assert 1.0 <= four["step_time_s"] / one["step_time_s"] < 1.01
    p2p1 = one["communication"]["by_kind"]["p2p"]["time_s"]
    p2p4 = four["communication"]["by_kind"]["p2p"]["time_s"]
    assert p2p4 > 2 * p2p1  # the sends themselves do slow down


def test_every_accelerator_is_held_to_a_published_utilisation():
    """MaxText's TPU v5p table states MFU 68.53% for its 128B model (corpus notes, no HFU):
    that is the v5p's best and the best of any device in bf16. A GPU with no published run of
    its own or of a sibling (the MI250X) is held to the GPUs' best, MosaicML's MPT-7B on 8
    A100s (MFU 64.23% in the corpus notes); an accelerator whose kind has no published run
    (Gaudi, an ASIC) to the best of any device; a CPU is not held (its peak is the best GEMM
    it measured, not a datasheet's)."""
    from archsim.accuracy import above_published
    from archsim.published.utilization import best_any, best_source, caution

    v5p = best_source("tpu-v5p", "bf16")
    assert v5p[0] == "tpu-v5p" and v5p[1].mfu == pytest.approx(0.6853) and v5p[1].hfu is None
    assert best_any("bf16")[1].mfu == pytest.approx(0.6853)
    assert best_any("bf16", "gpu")[1].mfu == pytest.approx(0.6423)
    assert caution("mi250x", "bf16", 0.66) == (
        "MFU 66.0% is above the best published run on any GPU (64.2%, "
        "mpt-7b_A100-SXM4-80GB_amp_bf16_s2048_g8 on a100-sxm4-80gb); no published mi250x "
        "run states its MFU")
    assert caution("mi250x", "bf16", 0.60) is None
    assert caution("gaudi2", "bf16", 0.70) == (
        "MFU 70.0% is above the best published run on any device (68.5%, "
        "maxtext-128B_TPU_v5p-512 on tpu-v5p); no published gaudi2 run states its MFU")
    assert caution("gaudi2", "bf16", 0.66) is None
    assert caution("cpu-generic", "fp32", 0.90) is None
    # an HFU above the device's best HFU is a claim too, with an MFU below its best MFU
    h100 = best_for("h100-sxm5-80gb", "bf16")
    assert caution("h100-sxm5-80gb", "bf16", h100.mfu - 0.01, h100.hfu + 0.01).startswith(
        f"HFU {100 * (h100.hfu + 0.01):.1f}% is above the best published h100-sxm5-80gb run")
    sc = archsim.load_scenario({"model": "llama2-7b", "hardware": {"device": "tpu-v5p",
                                "count": 64}, "workload": {"kind": "training"}})
    assert above_published({"mfu": 0.75, "hfu": 0.8, "gemm_dtype": "bf16"}, sc) == [
        "MFU 75.0% is above the best published tpu-v5p run (68.5%, "
        "maxtext-128B_TPU_v5p-512)"]
    assert above_published({"mfu": 0.60, "hfu": 0.8, "gemm_dtype": "bf16"}, sc) == []


def test_a_simulated_claim_above_every_published_run_is_printed():
    """The summary of a simulated run prints the caution under its error bar."""
    from archsim.accuracy import uncertainty_lines

    d = {"mode": "training", "uncertainty": {"errors": {}, "intervals": {}, "out_of_range": [],
                                             "above_published": ["MFU 80.0% is above X"]}}
    assert "  CAUTION: MFU 80.0% is above X" in uncertainty_lines(d)


def test_throughput_only_runs_count_among_the_published_bests():
    """NeMo 24.07's GPT-3 175B on 512 H100s in FP8 measured 825 tokens/s per GPU, a source that
    states no MFU. By hand: 6 × 174.6e9 parameters + 12 · 96 layers · 12288 · 2048 attention
    FLOPs per token = 1.0766e12, × 825 / 1979e12 fp8 peak = 44.9% — the H100's best fp8 MFU,
    which the H200 (its compute die) shares; MosaicML's stated fp8 MFU tops out at 30.3%."""
    from archsim.published.utilization import best_source

    best = best_for("h100-sxm5-80gb", "fp8")
    flops_per_token = 6 * 174.6e9 + 12 * 96 * 12288 * 2048
    assert best.mfu_run == "nemo2407-gpt3-175b-512"
    assert best.mfu == pytest.approx(flops_per_token * 825 / 1979e12, abs=0.003)
    assert best_source("h200-sxm-141gb", "fp8") == ("h100-sxm5-80gb", best)


def test_a_corpus_run_predicted_no_faster_than_measured_is_not_flagged():
    """Its simulated MFU is at most its measured MFU, which is at most the published best of its
    device: the caution must stay silent on it (it had fired on 18 of the 55 corpus runs, every
    H100 FP8 run among them, while only MosaicML's stated MFUs counted)."""
    from archsim.insitu.overlay import measured_step_s
    from archsim.insitu.predict import load_runs
    from archsim.insitu.runs import read_runs
    from archsim.spec.registry import data_roots

    path = next(r / "reference/calibration/runs.csv" for r in data_roots()
                if (r / "reference/calibration/runs.csv").is_file())
    checked = 0
    for ld in load_runs([r for r in read_runs(path) if r.kind == "training"]):
        d = archsim.simulate(ld.scenario).to_dict()
        measured = measured_step_s(ld)
        if not d["feasible"] or measured is None or d["step_time_s"] < measured:
            continue
        checked += 1
        assert d["uncertainty"]["above_published"] == [], (ld.run.id, d["mfu"])
    assert checked >= 20


def test_a_device_from_the_users_own_file_is_held_to_the_published_utilisation(tmp_path):
    """The H100's datasheet profile without its in-situ block, in the user's own file (how a
    new accelerator is added): its kernels run at isolated micro-benchmark speed with no fixed
    costs, so Llama-2-7B trains faster than on the calibrated H100 — and the result says why
    and cautions against an MFU above the best published GPU run (MPT-7B on A100s, 64.2%).
    The check had looked the device's kind up by name in the registry, where a file's device
    is not, and said nothing."""
    import yaml

    from archsim.spec.registry import load_registry_mapping

    profile = dict(load_registry_mapping("devices", "h100-sxm5-80gb")[0])
    profile.pop("insitu")
    profile["name"] = "myh100"
    path = tmp_path / "myh100.yaml"
    path.write_text(yaml.safe_dump(profile))

    def run(device: str) -> dict:
        return archsim.simulate({
            "model": "llama2-7b", "hardware": {"device": device, "count": 8},
            "workload": {"kind": "training", "seq_len": 4096, "global_batch": 64,
                         "micro_batch": 1, "dtype": "bf16"},
            "plan": {"zero": 1}}).to_dict()

    mine, h100 = run(str(path)), run("h100-sxm5-80gb")
    assert mine["step_time_s"] < h100["step_time_s"]
    assert mine["mfu"] > 0.642
    (claim,) = mine["uncertainty"]["above_published"]
    assert claim.startswith(f"MFU {100 * mine['mfu']:.1f}% is above the best published run on "
                            "any GPU (64.2%, mpt-7b_A100-SXM4-80GB_amp_bf16_s2048_g8 on "
                            "a100-sxm4-80gb)")
    assert any(line.startswith("myh100: no in-situ parameters (insitu): its kernels run at "
                               "isolated micro-benchmark speed")
               for line in mine["uncertainty"]["out_of_range"])
    assert not any("no in-situ parameters" in line
                   for line in h100["uncertainty"]["out_of_range"])


def test_a_fitted_value_far_from_its_prior_is_named():
    """The shipped MI300X fit (6 decode-latency runs) puts its memory efficiency at 0.5195,
    where the prior is 0.925 with a spread of 0.1 (archsim/insitu/fit.py PARAMS):
    (0.925 − 0.5195)/0.1 = 4.06 spreads, beyond 2.5. Its collective efficiency, 0.5034 since
    xGMI borrows NVLink 4's size sweep (it had been 0.3637, 2.55 spreads, taking in the small
    all-reduces' slowness), lies (1 − 0.5034)/0.25 = 1.99 spreads away: not named. Its results
    say so; the A100's and H100's, whose fitted values lie within 1.8 spreads, do not."""
    from archsim.accuracy import far_fitted_line
    from archsim.spec.loader import load_spec_file

    line = far_fitted_line(load_spec_file("devices", "mi300x"))
    assert line.startswith("mi300x: fitted memory_efficiency 0.519 against its prior 0.925 "
                           "(4.06 prior spreads away): the fit leaned on it")
    assert far_fitted_line(load_spec_file("devices", "a100-sxm4-80gb")) is None
    assert far_fitted_line(load_spec_file("devices", "h100-sxm5-80gb")) is None
    d = archsim.simulate({"model": "llama2-70b",
                          "hardware": {"device": "mi300x", "count": 8},
                          "workload": {"kind": "inference", "batch": 8, "prompt_len": 128,
                                       "gen_len": 16, "dtype": "bf16"},
                          "plan": {"tp": 8}}).to_dict()
    assert line in d["uncertainty"]["out_of_range"]
