"""Knowledge distillation: the cost of training a student from a teacher, and what it buys.

Model: each distillation step runs the teacher's forward pass over the step's batch (weights
only, no activations kept, its logits kept for the distillation loss) and then the student's
ordinary training step, on the same devices with the same parallel plan (Hinton et al. 2015;
the usual offline-teacher set-up). Both parts are simulated by the training DES: the teacher's
forward pass as a forward-only pipeline (backward tasks of zero time), the student's step as
usual. The two run one after the other, so their times and energies add (the teacher's
pipeline bubble at idle power); memory adds the teacher's 16-bit weights and its logits
buffer to the student's peak.

The result names both: ``time_breakdown.teacher_forward_s`` beside the student's parts (so the
parts add up to the whole step) and ``memory.breakdown.teacher`` (the teacher's weights and
logits on the busiest device) beside the student's memory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from archsim.cost.compute import matmul_peak
from archsim.metrics.common import cost_usd, energy_joules
from archsim.metrics.training import run_totals, simulate_training
from archsim.plan.compress import has_effect
from archsim.plan.layout import resolve_layout
from archsim.plan.training import PhaseCost, build_training_plan
from archsim.result import METRIC_KEYS, Result
from archsim.sim.training import run_training
from archsim.spec.model import ModelSpec
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


def teacher_forward(sc: ScenarioSpec) -> TeacherForward:
    """The teacher's forward pass over one global batch with ``sc``'s plan (DES)."""
    teacher = teacher_scenario(sc).model_copy(
        update={"plan": sc.plan.model_copy(update={"recompute": "none", "zero": 0})})
    layout, reasons = resolve_layout(teacher)
    if layout is None:
        return TeacherForward(None, [], 0.0, [],
                              [f"teacher {sc.model.name}: {r}" for r in reasons])
    plan = build_training_plan(teacher, layout)
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
    wl = sc.workload
    e = BYTES_PER_ELEMENT[(sc.compression.distill.teacher_dtype if sc.compression
                           and sc.compression.distill else None) or wl.dtype]
    logits = (e * layout.micro_batch * wl.seq_len * sc.model.vocab / layout.tp
              * layout.pp)  # up to p micro-batches' teacher logits alive on the last stage
    per_stage = []
    for s, row in enumerate(plan.chunks):
        weights = e * sum(ck.params for ck in row)
        per_stage.append(weights + (logits if s == layout.pp - 1 else 0.0))
    flops = sum(ck.model_flops for row in plan.chunks for ck in row) / 3.0 \
        * layout.micro_batches * layout.devices / layout.pp
    return TeacherForward(timeline.step_time_s, per_stage, flops,
                          [st.compute_busy_s for st in timeline.stages], [])


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
    d.update({"step_time_s": step, "tokens_per_s": tokens / step,
              "samples_per_s": wl.global_batch / step,
              "mfu": (d["model_flops_per_step"] + teacher.flops)
              / (step * devices * matmul_peak(device, wl.dtype)),
              "hfu": (d["hardware_flops_per_step"] + teacher.flops)
              / (step * devices * matmul_peak(device, wl.dtype)),
              "model_flops_per_step": d["model_flops_per_step"] + teacher.flops,
              "hardware_flops_per_step": d["hardware_flops_per_step"] + teacher.flops,
              "tflops_per_device": (d["hardware_flops_per_step"] + teacher.flops)
              / (step * devices) / 1e12,
              "energy_joules": energy, "energy_per_token_j": energy / tokens,
              "cost_usd": cost,
              "cost_per_million_tokens_usd": block["cost_per_million_tokens_usd"],
              "distillation": block,
              "totals": run_totals(wl.steps, step, tokens, energy, cost)})
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
    from archsim.plan.compress import resolve_compression

    comp = resolve_compression(sc)
    if sc.workload.kind == "training":
        result = simulate_distillation_training(sc, trace)
    else:
        result = simulate_workload(student_scenario(sc), trace)
        teacher = simulate_workload(teacher_scenario(sc), False)
        result.data["compression"] = compression_block(teacher, result, comp,
                                                       sc.compression.accuracy_note)
        result.data["distillation"] = distillation_cost(sc)
    if comp.warnings:
        result.data.setdefault("warnings", []).extend(comp.warnings)
    if sc.compression.accuracy_note:
        result.data.setdefault("compression", {})["accuracy_note"] = {
            "text": sc.compression.accuracy_note,
            "source": "user-supplied; archsim does not simulate model quality"}
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
