"""Distillation ``teacher_dtype``: the teacher's forward pass quantized by the inference rules.

Llama-2-7B teacher (hidden 4096, ffn 11008, 32 layers, vocab 32000, untied: the model
profile), GPT-3 1.7B student, 8 GPUs, data parallel only (tp 1, pp 1), sequence 2048, global
batch 16, micro-batch 1: each device runs the teacher over two micro-batches of 2048 tokens,
one after the other, and holds one micro-batch's logits.
"""

import pytest

import archsim
from archsim.plan.compress import resolve_compression
from archsim.plan.layout import resolve_layout
from archsim.plan.training import build_training_plan

H, F, L, V, S = 4096, 11008, 32, 32000, 2048
# each layer: q, k, v, o (4·h²), gate, up, down (3·h·f), two norms (2·h)
LAYER_PARAMS = L * (4 * H * H + 3 * H * F + 2 * H)  # 6,476,267,520
END_PARAMS = 2 * V * H + H  # embedding, output layer and final norm: 262,148,096
LOGITS_BYTES = 2 * S * V  # one micro-batch's bf16 logits on the one stage

JOB = {"model": "llama2-7b",
       "hardware": {"device": "h100-sxm5-80gb", "count": 8},
       "workload": {"kind": "training", "seq_len": S, "global_batch": 16, "micro_batch": 1},
       "plan": {"tp": 1, "zero": 1}}


def distill(teacher_dtype, device="h100-sxm5-80gb", **compression):
    sc = {**JOB, "hardware": {"device": device, "count": 8},
          "compression": {"distill": {"student": "gpt3-1.7b", "teacher_dtype": teacher_dtype},
                          **compression}}
    return archsim.simulate(sc).to_dict()


@pytest.fixture(scope="module")
def bf16():
    return distill("bf16")


@pytest.fixture(scope="module")
def fp8():
    return distill("fp8")


def test_the_parameter_counts_are_llama2_7b():
    assert LAYER_PARAMS == 6_476_267_520
    assert LAYER_PARAMS + END_PARAMS == 6_738_415_616  # Llama-2-7B's published 6.74B


def test_bf16_teacher_holds_2_bytes_per_parameter(bf16):
    assert bf16["distillation"]["memory"]["teacher_bytes_per_device"] == \
        2 * (LAYER_PARAMS + END_PARAMS) + LOGITS_BYTES


def test_fp8_teacher_holds_1_byte_per_layer_weight_and_16_bit_ends(fp8):
    """FP8 as ModelOpt / TensorRT-LLM deploy it: the layers' linears in fp8 (1 B), the
    embedding, output layer and logits bf16: 6,476,267,520 + 2 · 262,148,096 + 2 · 2048 · 32000
    = 7,131,635,712 B."""
    assert fp8["feasible"]
    assert fp8["distillation"]["memory"]["teacher_bytes_per_device"] == \
        LAYER_PARAMS * 1 + END_PARAMS * 2 + LOGITS_BYTES == 7_131_635_712


def test_int4_teacher_has_group_scales_and_16_bit_ends():
    """Weight-only int4 g128 with fp16 scales: 0.5 + 2/128 B per layer weight (AWQ/GPTQ), the
    same 3,863,621,632 B of weights as the inference plan's; it had been 0.5 B for every
    parameter, ends included (3,401,975,808 B with 4-bit logits)."""
    r = distill("int4")
    weights = LAYER_PARAMS * (0.5 + 2 / 128) + END_PARAMS * 2
    assert weights == 3_863_621_632
    assert r["distillation"]["memory"]["teacher_bytes_per_device"] == weights + LOGITS_BYTES
    inference = archsim.simulate({
        "model": "llama2-7b", "hardware": {"device": "h100-sxm5-80gb", "count": 1},
        "workload": {"kind": "inference", "batch": 1, "prompt_len": 128, "gen_len": 2},
        "compression": {"weight_dtype": "int4"}}).to_dict()
    assert inference["memory"]["breakdown"]["weights"] == weights


def test_fp8_teacher_forward_runs_at_the_fp8_peak(bf16, fp8):
    """H100 SXM: fp8 dense 1978.9 TFLOPS, bf16 989.4 (the device profile). The 2048-token
    forward pass is compute-bound, so fp8 shortens it, by less than the peaks' 2× (the
    attention core, norms and the bf16 head do not speed up; 76.3 ms against 117.0 ms when
    written). It had been bf16's time."""
    t8 = fp8["distillation"]["teacher_forward_s"]
    t16 = bf16["distillation"]["teacher_forward_s"]
    assert t16 * 989.4 / 1978.9 < t8 < 0.75 * t16
    assert fp8["distillation"]["teacher_forward_flops_per_step"] == \
        bf16["distillation"]["teacher_forward_flops_per_step"]  # the model's FLOPs, unchanged


def test_the_teacher_is_the_inference_plan_forward(fp8):
    """One stage, two micro-batches per device: the teacher's pass is two forward tasks of a
    micro-batch, costed with the compression an inference scenario with fp8 weights and
    activations resolves to on the same device."""
    teacher = archsim.load_scenario({**JOB, "plan": {"tp": 1, "zero": 0}})
    inference = archsim.load_scenario({
        "model": "llama2-7b", "hardware": {"device": "h100-sxm5-80gb", "count": 1},
        "workload": {"kind": "inference", "batch": 1, "prompt_len": 128, "gen_len": 2},
        "compression": {"weight_dtype": "fp8", "activation_dtype": "fp8"}})
    comp = resolve_compression(inference)
    assert comp.matmul_dtype == "fp8" and comp.ends_unquantized
    layout, _ = resolve_layout(teacher)
    chunk = build_training_plan(teacher, layout, comp).chunks[0][0]
    assert fp8["distillation"]["teacher_forward_s"] == pytest.approx(2 * chunk.fwd.time_s,
                                                                     rel=1e-12)


def test_a_teacher_dtype_the_device_lacks_is_the_inference_plans_reason():
    r = distill("fp8", device="a100-sxm4-80gb")
    assert r["feasible"] is False
    assert r["infeasible_reasons"] == [
        "teacher llama2-7b (compression.distill.teacher_dtype fp8): device a100-sxm4-80gb has "
        "no fp8 support (its dtypes: fp64, fp32, tf32, bf16, fp16, int8, int4); set "
        "compression.fallback (e.g. bf16) to run in another dtype"]
    assert r["step_time_s"] is None


def test_a_fallback_runs_the_fp8_teacher_in_bf16_with_its_fp8_weights():
    """As inference falls back: the weights stay stored in fp8 and are converted for each bf16
    GEMM like weight-only quantization, with an fp16 scale per 128 (1 + 2/128 B per layer
    weight); the pass is no faster than bf16's and pays the conversion."""
    r = distill("fp8", device="a100-sxm4-80gb", fallback="bf16")
    plain = distill("bf16", device="a100-sxm4-80gb")
    assert r["feasible"]
    assert r["distillation"]["memory"]["teacher_bytes_per_device"] == \
        LAYER_PARAMS * (1 + 2 / 128) + END_PARAMS * 2 + LOGITS_BYTES
    assert r["distillation"]["teacher_forward_s"] >= plain["distillation"]["teacher_forward_s"]
    assert ("teacher llama2-7b (compression.distill.teacher_dtype fp8): a100-sxm4-80gb has no "
            "fp8 tensor cores: computing in bf16 (compression.fallback)") in r["notes"]


def test_a_wider_teacher_dtype_runs_the_teacher_in_it(bf16):
    """fp32: 4 B per parameter and fp32 logits, GEMMs at the H100's fp32 peak (66.9 TFLOPS,
    against bf16's 989.4), as an fp32 workload runs."""
    r = distill("fp32")
    assert r["distillation"]["memory"]["teacher_bytes_per_device"] == \
        4 * (LAYER_PARAMS + END_PARAMS) + 2 * LOGITS_BYTES
    assert r["distillation"]["teacher_forward_s"] > \
        5 * bf16["distillation"]["teacher_forward_s"]


def test_training_distillation_accuracy_note_goes_in_the_distillation_block():
    """A training job has no baseline to compare with: the note sits beside the job's other
    distillation figures, and the text summary renders (a ``compression`` block of the note
    alone had raised KeyError: 'baseline' in it)."""
    from archsim.result import Result
    from archsim.summary import render_summary

    sc = {**JOB, "compression": {"distill": {"student": "gpt3-1.7b"},
                                 "accuracy_note": "KD loss within 1% (our runs)"}}
    result = archsim.simulate(sc)
    d = result.to_dict()
    assert d["distillation"]["accuracy_note"] == {
        "text": "KD loss within 1% (our runs)",
        "source": "user-supplied; archsim does not simulate model quality"}
    assert d.get("compression") is None
    assert render_summary(Result(d)).startswith(
        "scenario — distillation training of gpt3-1.7b from teacher llama2-7b")
