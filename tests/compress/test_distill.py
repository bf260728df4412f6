"""Distillation training: teacher forward + student step on the same devices."""

import pytest

import archsim

SC = {
    "model": "llama2-13b",  # teacher
    "hardware": {"device": "h100-sxm5-80gb", "count": 16},
    "workload": {"kind": "training", "seq_len": 4096, "global_batch": 64},
    "plan": {"tp": 4, "pp": 2, "recompute": "selective", "zero": 1},
    "compression": {"distill": {"student": "llama2-7b"}},
}


@pytest.fixture(scope="module")
def result():
    return archsim.simulate(SC).to_dict()


def test_step_is_teacher_forward_plus_student_step(result):
    d = result["distillation"]
    assert (d["teacher"], d["student"]) == ("llama2-13b", "llama2-7b")
    student = archsim.simulate({**SC, "model": "llama2-7b", "compression": None}).to_dict()
    assert d["student_step_s"] == pytest.approx(student["step_time_s"])
    assert result["step_time_s"] == pytest.approx(d["teacher_forward_s"] + d["student_step_s"])
    assert result["tokens_per_s"] == pytest.approx(64 * 4096 / result["step_time_s"])


def test_energy_is_the_student_step_plus_the_teacher_forward(result):
    """The teacher's forward runs on the same 16 devices for teacher_forward_s: at most all of
    them at TDP (700 W, H100 SXM) all that time; pp = 2 leaves a bubble, so less. Totals are
    workload.steps (1) such steps."""
    d = result["distillation"]
    student = archsim.simulate({**SC, "model": "llama2-7b", "compression": None}).to_dict()
    teacher_j = result["energy_joules"] - student["energy_joules"]
    assert 0 < teacher_j < 16 * 700 * d["teacher_forward_s"]
    assert result["totals"] == pytest.approx({
        "steps": 1, "time_s": result["step_time_s"], "tokens": 64 * 4096,
        "energy_joules": result["energy_joules"], "cost_usd": result["cost_usd"],
        "checkpoint_s": 0.0})


def test_teacher_forward_flops(result):
    """Llama-2-13B forward per sequence: each layer 2·s·(h·(h + 2h) + h·h + 3·h·f) + 4·s²·h
    (MHA: kv heads = heads), plus the logits 2·s·h·V; 64 sequences."""
    h, f, L, V, s, B = 5120, 13824, 40, 32000, 4096, 64
    per_seq = L * (2 * s * (h * 3 * h + h * h + 3 * h * f) + 4 * s * s * h) + 2 * s * h * V
    assert result["distillation"]["teacher_forward_flops_per_step"] == \
        pytest.approx(B * per_seq, rel=1e-9)


def test_memory_adds_the_teacher_weights(result):
    """The teacher, Llama-2-13B (h 5120, f 13824, V 32000, 40 layers, MHA; 13,015,864,320
    parameters = 40·(4h² + 3hf + 2h) + 2Vh + h), in bf16 (2 B) over tp 4 · pp 2 with
    micro-batch 1: each stage holds 20 layers, whose q, k, v, o (4h²) and MLP (3hf) weights are
    split over tp and whose two norms (2h) are whole on each rank. Stage 0 adds the embedding
    (Vh / 4); stage 1 the output layer (Vh / 4), the final norm (h) and the teacher logits of up
    to pp = 2 micro-batches in flight, 2 B · 1 · 4096 · V / 4 · 2 = 131,072,000 B:
    stage 0: 2·(20·(4h² + 3hf)/4 + 20·2h + Vh/4) = 2·(1,585,971,200 + 204,800 + 40,960,000)
    = 3,254,272,000 B; stage 1: 2·(1,627,136,000 + 5,120) + 131,072,000 = 3,385,354,240 B
    (close to the 2·13,015,864,320 / 8 = 3,253,966,080 B of an even split)."""
    assert result["parallel"]["micro_batch"] == 1
    stages = result["memory"]["per_stage"]
    assert [s["teacher"] for s in stages] == [3_254_272_000, 3_385_354_240]
    mem = result["distillation"]["memory"]
    assert mem["peak_bytes_per_device"] == pytest.approx(
        mem["teacher_bytes_per_device"] + mem["student_peak_bytes_per_device"])
    # the figure is the stage with the most bytes, teacher and student together
    worst = max(stages, key=lambda s: s["peak_bytes"])
    assert mem["teacher_bytes_per_device"] == worst["teacher"]
    assert mem["peak_bytes_per_device"] == worst["peak_bytes"]
    assert result["memory"]["peak_bytes_per_device"] == mem["peak_bytes_per_device"]


def test_teacher_that_does_not_divide_is_a_reason():
    """tp 16 divides the student's 32 heads but not the teacher's 40."""
    r = archsim.simulate({**SC, "plan": {**SC["plan"], "tp": 16, "pp": 1}}).to_dict()
    assert r["feasible"] is False
    assert r["infeasible_reasons"] == [
        "teacher llama2-13b: heads 40 are not divisible by tp 16",
        "teacher llama2-13b: kv_heads 40 and tp 16: one must divide the other"]


def test_deployment_scenario_compares_student_with_teacher():
    r = archsim.simulate({
        "model": "llama2-70b",
        "hardware": {"device": "h100-sxm5-80gb", "count": 8},
        "workload": {"kind": "inference", "batch": 8, "prompt_len": 512, "gen_len": 64},
        "plan": {"tp": 8},
        "compression": {"distill": {"student": "llama2-7b"}}}).to_dict()
    assert r["model"] == "llama2-7b"
    c = r["compression"]
    assert (c["baseline"]["model"], c["compressed"]["model"]) == ("llama2-70b", "llama2-7b")
    # weights: 6.74e9 vs 68.98e9 parameters (published counts)
    assert c["ratios"]["memory.breakdown.weights"] == pytest.approx(6.74 / 68.98, rel=0.02)
    assert c["ratios"]["tpot_s"] < 0.5
    d = r["distillation"]
    assert d["assumed_training"]["global_batch"] == 256 and d["feasible"]
    assert d["step_time_s"] == pytest.approx(d["teacher_forward_s"] + d["student_step_s"])


def test_the_teacher_is_named_in_the_breakdowns(result):
    """The step's parts add up to the whole step, the teacher's forward one of them, and the
    teacher's bytes have their own memory row (they are not hidden under "other")."""
    tb = result["time_breakdown"]
    assert tb["teacher_forward_s"] == result["distillation"]["teacher_forward_s"]
    parts = sum(v for k, v in tb.items() if k.endswith("_s"))
    assert parts == pytest.approx(result["step_time_s"], rel=0.01)
    mem = result["memory"]
    assert mem["breakdown"]["teacher"] == result["distillation"]["memory"][
        "teacher_bytes_per_device"]
    assert sum(mem["breakdown"].values()) == pytest.approx(mem["peak_bytes_per_device"])


def test_summary_says_distillation_and_shows_the_teacher(result):
    from archsim.result import Result
    from archsim.summary import render_summary

    text = render_summary(Result(result))
    assert text.splitlines()[0].endswith(
        "distillation training of llama2-7b from teacher llama2-13b on 16× h100-sxm5-80gb")
    assert "teacher forward" in text and "teacher weights + logits" in text


def test_the_teacher_runs_its_forward_pass_only():
    """Teacher and student the same model on one stage, one micro-batch: the teacher's pass is
    that micro-batch's forward task, about a third of the student's forward + backward (the
    backward does twice the forward's GEMM FLOPs) — not the whole training task."""
    from archsim.plan.layout import resolve_layout
    from archsim.plan.training import build_training_plan

    same = {"model": "llama2-7b", "hardware": {"device": "h100-sxm5-80gb", "count": 8},
            "workload": {"kind": "training", "seq_len": 1024, "global_batch": 8,
                         "micro_batch": 1},
            "plan": {"tp": 1, "pp": 1, "recompute": "none", "zero": 0},
            "compression": {"distill": {"student": "llama2-7b"}}}
    r = archsim.simulate(same).to_dict()
    teacher = archsim.load_scenario({k: v for k, v in same.items() if k != "compression"})
    layout, _ = resolve_layout(teacher)
    chunk = build_training_plan(teacher, layout).chunks[0][0]
    assert r["distillation"]["teacher_forward_s"] == pytest.approx(chunk.fwd.time_s, rel=1e-9)
    share = r["distillation"]["teacher_forward_s"] / r["time_breakdown"]["compute_s"]
    assert 0.25 < share < 0.4


def test_a_student_larger_than_its_teacher_is_a_warning_in_the_summary():
    """The warning had reached the JSON only: the text printed warnings of a compression block,
    which a distillation training job does not have."""
    from archsim.summary import render_summary

    result = archsim.simulate({**SC, "model": "llama2-7b",
                               "compression": {"distill": {"student": "llama2-13b"}}})
    warning = "the student llama2-13b is larger than its teacher llama2-7b"
    assert warning in result.to_dict()["warnings"]
    assert f"WARNING: {warning}" in render_summary(result).splitlines()


def test_an_fp8_teacher_counts_against_the_fp8_peak():
    """MFU blends the peaks by FLOPs: the student's (bf16) against 989.4 TFLOPS, the fp8
    teacher's forward against 1978.9 (H100 SXM dense, hardware.csv)."""
    r = archsim.simulate({**SC, "compression": {"distill": {"student": "llama2-7b",
                                                             "teacher_dtype": "fp8"}}}).to_dict()
    teacher = r["distillation"]["teacher_forward_flops_per_step"]
    student = r["model_flops_per_step"] - teacher
    blend = (student + teacher) / (student / 989.4 + teacher / 1978.9)
    assert r["mfu_peak_tflops"] == pytest.approx(blend, rel=1e-6)
    assert r["mfu"] == pytest.approx(r["model_flops_per_step"]
                                     / (r["step_time_s"] * 16 * blend * 1e12), rel=1e-6)
    assert r["mfu_basis"].startswith("the student's GEMMs at the bf16 peak, the teacher's at "
                                     "the fp8 peak")
