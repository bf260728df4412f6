"""Knowledge distillation: the cost of training a student from a teacher, and what it buys.

Model: each distillation step runs the teacher's forward pass over the step's batch (weights
only, no activations kept, its logits kept for the distillation loss) and then the student's
ordinary training step, on the same devices with the same parallel plan (Hinton et al. 2015;
the usual offline-teacher set-up). Both parts are simulated by the training DES: the teacher's
forward pass as a forward-only pipeline (backward tasks of zero time), the student's step as
usual. The two run one after the other, so their times and energies add (the teacher's
pipeline bubble at idle power); memory adds the teacher's weights and its logits buffer to the
student's peak.

``distill.teacher_dtype`` narrower than the workload's quantizes the teacher by the rules of an
inference compression plan (archsim.plan.compress, inference's rules): fp8 / fp6 / fp4 as
weights and activations (GEMMs at the device's peak for that dtype, which the device must have
or ``compression.fallback`` replace), int8 / int4 as weight-only (``group_size`` scales of
``scale_dtype``, 16-bit GEMMs that pay the dequantization); the embedding and the output layer
stay in the workload's dtype, and so do the logits. A wider teacher_dtype (fp32 on a bf16 job)
runs the teacher in that dtype, which the device must support.

The result names both: ``time_breakdown.teacher_forward_s`` beside the student's parts (so the
parts add up to the whole step) and ``memory.breakdown.teacher`` (the teacher's weights and
logits on the busiest device) beside the student's memory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from archsim.cost.compute import matmul_peak
from archsim.metrics.common import cost_usd, energy_joules, idle_power, mfu_basis
from archsim.metrics.training import checkpoint_costs, run_totals, simulate_training
from archsim.plan.compress import Compression, has_effect, resolve_compression
from archsim.plan.inference_setup import dtype_reasons
from archsim.plan.layout import resolve_layout
from archsim.plan.training import PhaseCost, build_training_plan
from archsim.result import METRIC_KEYS, Result
from archsim.sim.training import run_training
from archsim.spec.model import ModelSpec
from archsim.spec.plan import CompressionPlan
from archsim.spec.scenario import ScenarioSpec
from archsim.spec.units import BYTES_PER_ELEMENT, format_quantity
from archsim.spec.workload import TrainingWorkload


def student_scenario(sc: ScenarioSpec) -> ScenarioSpec:
    """The scenario with the student as its model (other compression fields kept for it)."""
    assert sc.compression is not None and sc.compression.distill is not None
    student = ModelSpec.model_validate(sc.compression.distill.student)
    rest = sc.compression.model_copy(update={"distill": None})
    return sc.model_copy(update={"model": student,
                                 "compression": rest if has_effect(rest) else None})


def teacher_scenario(sc: ScenarioSpec) -> ScenarioSpec:
    return sc.model_copy(update={"compression": None})


def teacher_precision(sc: ScenarioSpec) -> tuple[ScenarioSpec, Compression | None, list[str],
                                                 list[str]]:
    """The teacher's scenario in its ``teacher_dtype`` (no compression plan of its own), the
    compression that dtype amounts to (None: the teacher runs unquantized), notes, and reasons
    the device cannot run it (phrased as the equivalent inference plan's, see the module
    docstring)."""
    teacher = teacher_scenario(sc)
    wl = sc.workload
    dist = sc.compression.distill if sc.compression is not None else None
    dtype = (dist.teacher_dtype if dist is not None else None) or wl.dtype
    if dtype == wl.dtype:
        return teacher, None, [], []
    label = f"teacher {sc.model.name} (compression.distill.teacher_dtype {dtype})"
    if BYTES_PER_ELEMENT[dtype] >= BYTES_PER_ELEMENT[wl.dtype]:
        teacher = teacher.model_copy(update={"workload": wl.model_copy(update={"dtype": dtype})})
        reasons = dtype_reasons(sc.cluster.pools[0].device, dtype)
        return teacher, None, [], [f"{label}: {r}" for r in reasons]
    plan = sc.compression
    quantized = teacher.model_copy(update={"compression": CompressionPlan(
        weight_dtype=dtype, activation_dtype=None if dtype.startswith("int") else dtype,
        group_size=plan.group_size, scale_dtype=plan.scale_dtype, fallback=plan.fallback)})
    comp = resolve_compression(quantized, inference=True)
    return (teacher, comp, [f"{label}: {n}" for n in comp.notes],
            [f"{label}: {r}" for r in comp.reasons])


@dataclass(frozen=True)
class TeacherForward:
    """The teacher's forward-only pipeline over one global batch."""

    step_s: float | None
    """None when it cannot run with the plan (see ``reasons``)."""
    bytes_per_stage: list[float]
    """Weights + logits bytes per device, per pipeline stage."""
    flops: float
    """Forward FLOPs per step, all devices."""
    busy_s: list[float]
    """Time each stage's devices compute (the rest of ``step_s`` is pipeline bubble)."""
    reasons: list[str]
    notes: tuple[str, ...] = ()
    """How ``teacher_dtype`` quantizes the teacher (empty when it runs unquantized)."""
    gemm_dtype: str = "bf16"
    """The dtype the teacher's GEMMs run in (its peak is what MFU counts them against)."""


def teacher_forward(sc: ScenarioSpec) -> TeacherForward:
    """The teacher's forward pass over one global batch with ``sc``'s plan (DES), in its
    ``teacher_dtype`` (:func:`teacher_precision`)."""
    teacher, comp, notes, dtype_problems = teacher_precision(sc)
    teacher = teacher.model_copy(
        update={"plan": sc.plan.model_copy(update={"recompute": "none", "zero": 0})})
    layout, reasons = resolve_layout(teacher)
    reasons = [f"teacher {sc.model.name}: {r}" for r in reasons] + dtype_problems
    if layout is None or reasons:
        return TeacherForward(None, [], 0.0, [], reasons, tuple(notes))
    plan = build_training_plan(teacher, layout, comp)
    for row in plan.chunks:
        for ck in row:
            ck.bwd = PhaseCost()
            ck.bwd_task_s = ck.bwd_reduce_task_s = 0.0  # the DES runs these durations
            ck.act_bytes = ck.working_bytes = ck.recompute_s = 0.0
    plan.bucket_times = [[[] for _ in row] for row in plan.chunks]
    plan.p2p_bwd_s = [0.0] * len(plan.p2p_bwd_s)
    plan.optimizer_s = [0.0] * layout.pp
    plan.param_gather_s = [0.0] * layout.pp
    plan.param_gather_exposed_s = [0.0] * layout.pp
    plan.embedding_sync_s = 0.0
    plan.dp_reduce_per_microbatch = False
    timeline = run_training(plan, trace=False)
    wl = teacher.workload
    e = BYTES_PER_ELEMENT[wl.dtype]  # the unquantized parts, the logits among them
    layer_e = e if comp is None else comp.weight_storage_bytes
    end_e = e if comp is None or comp.ends_unquantized else layer_e
    logits = (e * layout.micro_batch * wl.seq_len * sc.model.vocab / layout.tp
              * layout.pp)  # up to p micro-batches' teacher logits alive on the last stage
    per_stage = []
    for s, row in enumerate(plan.chunks):
        weights = sum(layer_e * (ck.params - ck.end_params) + end_e * ck.end_params
                      for ck in row)
        per_stage.append(weights + (logits if s == layout.pp - 1 else 0.0))
    flops = sum(ck.model_flops for row in plan.chunks for ck in row) / 3.0 \
        * layout.micro_batches * layout.devices / layout.pp
    gemm = (comp.matmul_dtype if comp is not None else None) or wl.dtype
    return TeacherForward(timeline.step_time_s, per_stage, flops,
                          [st.compute_busy_s for st in timeline.stages], [], tuple(notes),
                          gemm_dtype=gemm)


def simulate_distillation_training(sc: ScenarioSpec, trace: bool = False) -> Result:
    """Distillation training job: the result's top-level metrics describe the whole job."""
    wall0 = time.perf_counter()
    result = simulate_training(student_scenario(sc), trace=trace)
    teacher = teacher_forward(sc)
    fwd_s, teacher_bytes, reasons = teacher.step_s, teacher.bytes_per_stage, teacher.reasons
    d = result.data
    block: dict[str, Any] = {"teacher": sc.model.name,
                             "student": d.get("model"),
                             "teacher_forward_s": fwd_s,
                             "student_step_s": d.get("step_time_s")}
    if teacher.notes:
        d["notes"] = list(d.get("notes") or []) + list(teacher.notes)
    if reasons or not d["feasible"] or fwd_s is None:
        d["feasible"] = False
        d["infeasible_reasons"] = list(d["infeasible_reasons"]) + reasons
        d["distillation"] = block
        if fwd_s is None:  # no job step without the teacher: the student's alone is not one
            d.update(dict.fromkeys(METRIC_KEYS))
        return result
    wl, device = sc.workload, sc.cluster.pools[0].device
    student_step = d["step_time_s"]
    step = student_step + fwd_s
    tokens = wl.global_batch * wl.seq_len
    per_stage = d["memory"]["per_stage"]
    worst, peak = 0, 0.0
    for s, stage in enumerate(per_stage):
        total = stage["peak_bytes"] + (teacher_bytes[s] if s < len(teacher_bytes) else 0.0)
        if total > peak:
            worst, peak = s, total
    capacity = d["memory"]["capacity_bytes"]
    if peak > capacity:
        d["feasible"] = False
        d["infeasible_reasons"].append(
            f"stage {worst} needs {format_quantity(peak, 'bytes')} per device with the "
            f"teacher's weights ({format_quantity(teacher_bytes[worst], 'bytes')}), has "
            f"{format_quantity(capacity, 'bytes')}")
    devices = d["devices"]
    energy = d["energy_joules"] + energy_joules(device, fwd_s, teacher.busy_s,
                                                devices_per_stage=devices // len(per_stage))
    cost = cost_usd(device, devices, step)
    block.update({
        "teacher_forward_flops_per_step": teacher.flops,
        "step_time_s": step,
        "tokens_per_s": tokens / step,
        "teacher_share_of_step": fwd_s / step,
        "cost_per_million_tokens_usd": None if cost is None else cost / tokens * 1e6,
        "memory": {"teacher_bytes_per_device": teacher_bytes[worst],
                   "student_peak_bytes_per_device": per_stage[worst]["peak_bytes"],
                   "peak_bytes_per_device": peak, "capacity_bytes": capacity},
    })
    # checkpoint writes (the student's states) pause the job: devices held and idle
    io = d.get("io")
    ckpt = (io or {}).get("checkpoint")
    wait = ckpt["amortized_s_per_step"] if ckpt else 0.0
    wait_energy = wait * devices * idle_power(device)
    # MFU/HFU: the student's FLOPs against the peaks its own result used, the teacher's
    # against its GEMM dtype's (an fp8 teacher's at the fp8 peak), blended by FLOPs
    student_model, student_hw = d["model_flops_per_step"], d["hardware_flops_per_step"]
    student_dense = matmul_peak(device, d.get("gemm_dtype") or wl.dtype)
    student_mfu_peak = (d.get("mfu_peak_tflops") or student_dense / 1e12) * 1e12
    teacher_peak = matmul_peak(device, teacher.gemm_dtype)
    mfu_peak = ((student_model + teacher.flops)
                / (student_model / student_mfu_peak + teacher.flops / teacher_peak))
    hfu_peak = ((student_hw + teacher.flops)
                / (student_hw / student_dense + teacher.flops / teacher_peak))
    if teacher_peak != student_dense:
        d["mfu_basis"] = (f"the student's GEMMs at the {d.get('gemm_dtype') or wl.dtype} "
                          f"peak, the teacher's at the {teacher.gemm_dtype} peak: MFU of "
                          f"{mfu_peak / 1e12:,.0f}, HFU of {hfu_peak / 1e12:,.0f} TFLOP/s")
    else:
        d["mfu_basis"] = mfu_basis(d.get("gemm_dtype") or wl.dtype, hfu_peak, mfu_peak)
    d.update({"step_time_s": step, "tokens_per_s": tokens / step,
              "samples_per_s": wl.global_batch / step,
              "mfu": (student_model + teacher.flops) / (step * devices * mfu_peak),
              "hfu": (student_hw + teacher.flops) / (step * devices * hfu_peak),
              "mfu_peak_tflops": mfu_peak / 1e12,
              "model_flops_per_step": d["model_flops_per_step"] + teacher.flops,
              "hardware_flops_per_step": d["hardware_flops_per_step"] + teacher.flops,
              "tflops_per_device": (d["hardware_flops_per_step"] + teacher.flops)
              / (step * devices) / 1e12,
              "energy_joules": energy, "energy_per_token_j": energy / tokens,
              "cost_usd": cost,
              "cost_per_million_tokens_usd": block["cost_per_million_tokens_usd"],
              "distillation": block,
              "totals": run_totals(wl.steps, step, tokens, energy, cost, wait, wait_energy)})
    if io:  # the job's step, not the student's alone, between checkpoint writes
        io["step_time_with_checkpoint_s"] = step + wait
        if wait > 0:
            io.update(checkpoint_costs(step, tokens, energy, cost, wait, wait_energy))
    d["memory"]["peak_bytes_per_device"] = peak
    d["memory"]["breakdown"]["teacher"] = teacher_bytes[worst]
    for s, stage in enumerate(per_stage):
        stage["teacher"] = teacher_bytes[s] if s < len(teacher_bytes) else 0.0
        stage["peak_bytes"] += stage["teacher"]
    # the student's breakdown parts add up to its step; the teacher's forward runs before it
    d["time_breakdown"] = {"teacher_forward_s": fwd_s, **d["time_breakdown"]}
    d["pipeline"]["bubble_fraction"] = d["time_breakdown"]["bubble_s"] / step
    d["sim"]["wall_s"] = time.perf_counter() - wall0
    return result


def simulate_distillation(sc: ScenarioSpec, trace: bool = False) -> Result:
    """Training workload: the distillation job itself. Inference/serving workloads: the
    student deployed, compared with the teacher (``compression`` block), plus the cost of
    distilling it (``distillation`` block, with a default training set-up)."""
    from archsim.metrics import simulate_workload
    from archsim.metrics.compression import compression_block

    comp = resolve_compression(sc)
    note = sc.compression.accuracy_note
    if sc.workload.kind == "training":
        result = simulate_distillation_training(sc, trace)
        if note:
            # beside the job's other distillation figures: a training job has no baseline to
            # compare with, so no ``compression`` block (a block of the note alone had broken
            # the text summary, which prints a compression block's comparison table)
            result.data["distillation"]["accuracy_note"] = {
                "text": note, "source": "user-supplied; archsim does not simulate model quality"}
    else:
        result = simulate_workload(student_scenario(sc), trace)
        teacher = simulate_workload(teacher_scenario(sc), False)
        result.data["compression"] = compression_block(teacher, result, comp, note)
        result.data["distillation"] = distillation_cost(sc)
    if comp.warnings:
        result.data.setdefault("warnings", []).extend(comp.warnings)
    return result


# The training set-up assumed when a deployment scenario asks what distilling would cost:
# sequences of the student's context (capped at 4096) in global batches of 256 sequences
# (a common fine-tuning batch), micro-batch 1, selective recomputation.
DEFAULT_DISTILL_BATCH = 256
DEFAULT_DISTILL_SEQ_CAP = 4096


def distillation_cost(sc: ScenarioSpec) -> dict[str, Any]:
    """The ``distillation`` block for a deployment scenario (default training set-up)."""
    student = ModelSpec.model_validate(sc.compression.distill.student)
    seq = min(student.max_seq_len, sc.model.max_seq_len, DEFAULT_DISTILL_SEQ_CAP)
    fp8 = sc.workload.dtype == "fp8"  # FP8 training: a bf16 model with fp8 GEMMs
    workload = {"kind": "training", "seq_len": seq, "global_batch": DEFAULT_DISTILL_BATCH,
                "micro_batch": 1, "dtype": "bf16" if fp8 else sc.workload.dtype}
    plan = sc.plan.model_copy(update={"recompute": "selective", "dp": None})
    comp = (sc.compression.model_copy(update={"weight_dtype": "fp8", "activation_dtype": "fp8"})
            if fp8 else sc.compression)
    train = sc.model_copy(update={"workload": TrainingWorkload(**workload), "plan": plan,
                                  "compression": comp})
    res = simulate_distillation_training(train).to_dict()
    block = dict(res.get("distillation", {}))
    block.update({"feasible": res["feasible"], "infeasible_reasons": res["infeasible_reasons"],
                  "assumed_training": workload})
    return block
