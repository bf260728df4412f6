"""Training results: contract keys, metric definitions, memory read off the schedule."""

import pytest

import archsim

SC = {
    "model": "gpt3-1.7b",
    "hardware": {"device": "a100-sxm4-80gb", "count": 32},
    "workload": {"kind": "training", "seq_len": 2048, "global_batch": 64, "micro_batch": 2,
                 "dtype": "fp16"},
    "plan": {"tp": 2, "pp": 4, "recompute": "none", "flash_attention": False},
}


@pytest.fixture(scope="module")
def result():
    return archsim.simulate(SC).to_dict()


def test_contract_keys(result):
    for key in ("feasible", "infeasible_reasons", "mode", "step_time_s", "tokens_per_s", "mfu",
                "hfu", "tflops_per_device", "memory", "communication", "energy_joules",
                "cost_usd", "sim"):
        assert key in result
    assert set(result["memory"]["breakdown"]) == {"weights", "gradients", "optimizer_states",
                                                  "activations", "kv_cache", "other"}
    assert set(result["communication"]["by_kind"]) == {"allreduce", "allgather",
                                                       "reducescatter", "alltoall", "p2p"}
    assert result["sim"]["engine"] == "des" and result["sim"]["events"] > 0
    assert result["mode"] == "training" and result["feasible"]


def test_throughput_and_utilization_definitions(result):
    step = result["step_time_s"]
    assert result["tokens_per_s"] == pytest.approx(64 * 2048 / step)
    # MFU = model FLOPs / (step · devices · peak); model FLOPs = formulas.md eq. 7
    B, s, L, h, V = 64, 2048, 24, 2304, 51200
    model_flops = 72 * B * L * s * h * h * (1 + s / (6 * h) + V / (12 * h * L))
    assert result["mfu"] == pytest.approx(model_flops / (step * 32 * 312e12), rel=1e-6)
    assert result["hfu"] == pytest.approx(result["mfu"])  # no recomputation
    assert result["tflops_per_device"] == pytest.approx(result["hfu"] * 312, rel=1e-6)


def test_executed_utilization_leaves_out_the_causal_half_flash_attention_skips(result):
    """MFU/HFU count causal attention in full (Narayanan et al. 2021); a fused kernel skips
    the masked half. Per layer and sequence, QKᵀ and ·V are 4·s²·h FLOPs forward and twice
    that backward: 12·s²·h, half of it masked. GPT-3 1.7B (h 2304, 24 layers), 64 sequences
    of 2048, 32 A100s (312 TFLOPS fp16), no recomputation."""
    assert result["executed_utilization"] == pytest.approx(result["hfu"])  # unfused attention
    flash = archsim.simulate(SC, {"plan.flash_attention": True}).to_dict()
    B, s, L, h = 64, 2048, 24, 2304
    masked = 6 * s * s * h * L * B
    assert (flash["hfu"] - flash["executed_utilization"]) * flash["step_time_s"] * 32 \
        * 312e12 == pytest.approx(masked, rel=1e-9)
    # selective recomputation redoes the forward's attention: its masked half too
    sel = archsim.simulate(SC, {"plan.flash_attention": True,
                                "plan.recompute": "selective"}).to_dict()
    assert (sel["hfu"] - sel["executed_utilization"]) * sel["step_time_s"] * 32 * 312e12 \
        == pytest.approx(masked + 2 * s * s * h * L * B, rel=1e-9)


def test_recompute_raises_hfu_above_mfu():
    full = archsim.simulate(SC, {"plan.recompute": "full"}).to_dict()
    B, s, L, h, V = 64, 2048, 24, 2304, 51200
    hw = 96 * B * s * L * h * h * (1 + s / (6 * h) + V / (16 * L * h))  # formulas.md eq. 3
    assert full["hfu"] == pytest.approx(hw / (full["step_time_s"] * 32 * 312e12), rel=1e-6)
    assert full["hfu"] > full["mfu"]


def test_first_stage_activation_memory_matches_korthikanti(result):
    """1F1B: the first stage holds p micro-batches of L/p layers = L layers' worth
    (formulas.md), each s·b·h·(10 + 24/t + 5·a·s/(h·t)) bytes, plus the embedding's
    dropout mask per micro-batch."""
    s, b, h, a, t, L, p = 2048, 2, 2304, 24, 2, 24, 4
    per_layer = s * b * h * (10 + 24 / t + 5 * a * s / (h * t))
    embedding_masks = p * s * b * h  # 1-byte dropout mask of the embedding output
    stage0 = result["memory"]["per_stage"][0]
    assert stage0["micro_batches_alive"] == p
    assert stage0["activations"] == pytest.approx(L * per_layer + embedding_masks, rel=0.02)


def test_model_states_follow_zero():
    base = archsim.simulate(SC, {"plan.zero": 0}).to_dict()["memory"]["per_stage"][1]
    z1 = archsim.simulate(SC, {"plan.zero": 1}).to_dict()["memory"]["per_stage"][1]
    dp = 32 // (2 * 4)
    assert z1["optimizer_states"] == pytest.approx(base["optimizer_states"] / dp)
    assert z1["weights"] == base["weights"]


def test_overlap_hides_gradient_reduction():
    on = archsim.simulate(SC, {"plan.overlap_comm": True}).to_dict()
    off = archsim.simulate(SC, {"plan.overlap_comm": False}).to_dict()
    assert on["communication"]["exposed_time_s"] < off["communication"]["exposed_time_s"]
    assert on["step_time_s"] < off["step_time_s"]


def test_p2p_counts_what_the_critical_stage_sends(result):
    """1F1B, p=4, m=64/(2·4)=8 per pipeline: the first stage sends m activations (and no
    gradients), the last m gradients, a middle stage both: 2m. One send is a micro-batch's
    activations split over the tp ranks: 2 B · b·s·h / t = 2·2·2048·2304/2 bytes."""
    m, per_send = 8, 2 * 2 * 2048 * 2304 / 2
    assert result["pipeline"]["p2p_bytes_per_send"] == per_send
    crit = result["time_breakdown"]["critical_stage"]
    sends = m if crit in (0, 3) else 2 * m
    assert result["communication"]["by_kind"]["p2p"]["bytes"] == sends * per_send


def test_cost_and_energy():
    r = archsim.simulate(SC).to_dict()
    assert r["cost_usd"] == pytest.approx(32 * 1.79 * r["step_time_s"] / 3600)
    # energy lies between all devices idle and all devices at TDP for the whole step
    assert 32 * 60 * r["step_time_s"] < r["energy_joules"] < 32 * 400 * r["step_time_s"]


def test_totals_repeat_the_step_workload_steps_times(result):
    r = archsim.simulate(SC, {"workload.steps": 1000}).to_dict()
    assert r["step_time_s"] == result["step_time_s"]
    assert r["totals"] == pytest.approx({
        "steps": 1000, "time_s": 1000 * r["step_time_s"], "tokens": 1000 * 64 * 2048,
        "energy_joules": 1000 * r["energy_joules"], "cost_usd": 1000 * r["cost_usd"],
        "checkpoint_s": 0.0})  # no storage modelled: no checkpoint pauses
    assert result["totals"]["steps"] == 1


def test_trace_spans_cover_the_step():
    res = archsim.simulate(SC, trace=True)
    assert max(s.end for s in res.spans) == pytest.approx(res["step_time_s"])


def test_energy_counts_the_tasks_and_the_optimizer_step_as_busy():
    """Data parallelism only (no blocking collectives, no bubble): each device draws TDP for
    its forward, backward and optimizer step, idle power for the rest of the step (the
    framework's fixed cost, the exposed gradient reduction)."""
    from archsim.spec.loader import load_spec_file

    r = archsim.simulate({"model": "llama2-7b",
                          "hardware": {"device": "h100-sxm5-80gb", "count": 8},
                          "workload": {"kind": "training", "seq_len": 4096, "global_batch": 16,
                                       "micro_batch": 1},
                          "plan": {"zero": 1}}).to_dict()
    h100 = load_spec_file("devices", "h100-sxm5-80gb")
    tb = r["time_breakdown"]
    busy = tb["compute_s"] + tb["recompute_s"] + tb["optimizer_s"]
    idle = r["step_time_s"] - busy
    assert r["energy_joules"] == pytest.approx(8 * (busy * h100.tdp + idle * h100.idle_power),
                                               rel=1e-9)


def test_energy_counts_blocking_collectives_as_busy():
    """Tensor parallelism without overlap: its all-reduces run on the compute stream, which
    the energy counts at TDP (archsim/result.py: an upper bound), so the busy time is the
    step less the framework's fixed cost; the bubble-free, dp-free step has nothing else."""
    from archsim.spec.loader import load_spec_file

    r = archsim.simulate({"model": "llama2-7b",
                          "hardware": {"device": "h100-sxm5-80gb", "count": 8},
                          "workload": {"kind": "training", "seq_len": 4096, "global_batch": 4,
                                       "micro_batch": 1},
                          "plan": {"tp": 8, "zero": 0}}).to_dict()
    h100 = load_spec_file("devices", "h100-sxm5-80gb")
    tb = r["time_breakdown"]
    assert tb["exposed_comm_s"] > 0.05 * r["step_time_s"]  # the case tests something
    busy = r["step_time_s"] - tb["overhead_s"]
    assert r["energy_joules"] == pytest.approx(
        8 * (busy * h100.tdp + tb["overhead_s"] * h100.idle_power), rel=1e-6)


def test_overlapping_tp_collectives_hides_them_but_they_still_run():
    """tp_comm_overlap (with sp) hides the tensor-parallel all-gathers and reduce-scatters
    behind their GEMMs: the exposed communication drops, the network time and bytes of the
    collectives (communication.total_time_s, by_kind) stay what they were."""
    base = {"model": "llama2-7b", "hardware": {"device": "h100-sxm5-80gb", "count": 16},
            "workload": {"kind": "training", "seq_len": 4096, "global_batch": 64,
                         "micro_batch": 1},
            "plan": {"tp": 8, "sp": True, "zero": 1}}
    plain = archsim.simulate(base).to_dict()["communication"]
    hidden = archsim.simulate(base, {"plan.tp_comm_overlap": True}).to_dict()["communication"]
    assert hidden["exposed_time_s"] < plain["exposed_time_s"]
    assert hidden["total_time_s"] == pytest.approx(plain["total_time_s"], rel=1e-9)
    for kind in ("allgather", "reducescatter"):
        assert hidden["by_kind"][kind] == pytest.approx(plain["by_kind"][kind], rel=1e-9)
    assert hidden["exposed_time_s"] <= hidden["total_time_s"]


def test_options_the_run_cannot_take_and_a_longer_sequence_are_noted(capsys):
    """flash3 on an A100 (no FlashAttention-3 rate: it is a Hopper kernel) and tp_comm_overlap
    without sequence parallelism change nothing; Llama-2-7B (RoPE, max_seq_len 4096) at 16K is
    a context-extension run. Each is said; a plain run says nothing."""
    from archsim.cli import main

    r = archsim.simulate({
        "model": "llama2-7b", "hardware": {"device": "a100-sxm4-80gb", "count": 16},
        "workload": {"kind": "training", "seq_len": 16384, "global_batch": 16,
                     "micro_batch": 1},
        "plan": {"cp": 2, "attention_kernel": "flash3", "tp_comm_overlap": True}}).to_dict()
    assert r["notes"] == [
        "attention_kernel flash3: a100-sxm4-80gb has no measured FlashAttention-3 rate (a "
        "Hopper kernel): FlashAttention-2's is used",
        "tp_comm_overlap overlaps the all-gathers and reduce-scatters of sequence parallelism: "
        "without sp and tp > 1 it changes nothing",
        "seq_len 16,384 is beyond llama2-7b's max_seq_len 4,096: a context-extension run (rope "
        "positions); archsim times it and does not judge the model's quality there"]
    flash2 = archsim.simulate({
        "model": "llama2-7b", "hardware": {"device": "a100-sxm4-80gb", "count": 16},
        "workload": {"kind": "training", "seq_len": 16384, "global_batch": 16,
                     "micro_batch": 1},
        "plan": {"cp": 2, "attention_kernel": "flash2"}}).to_dict()
    assert flash2["step_time_s"] == pytest.approx(r["step_time_s"], rel=1e-12)
    assert "notes" not in archsim.simulate(SC).to_dict()
    assert main(["simulate", "--set", "plan.tp_comm_overlap=true"]) == 0
    assert ("note: tp_comm_overlap overlaps the all-gathers and reduce-scatters of sequence "
            "parallelism") in capsys.readouterr().out
