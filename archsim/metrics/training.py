"""Training result: run the plan through the DES and turn the timeline into metrics.

On a heterogeneous cluster each stage has its own device: MFU divides the model FLOPs by the
sum of every device's peak, memory is checked per stage against that stage's device, energy
and cost add up per stage. Exposed input-pipeline time (archsim/plan/io.py) is part of the
step; a checkpoint's amortized cost is reported beside it (``io``).
"""

from __future__ import annotations

import time
from typing import Any

from archsim.cost.compute import matmul_peak
from archsim.cost.gradients import gradient_path
from archsim.cost.host import host_wait_s
from archsim.cost.insitu import factors
from archsim.metrics.common import (
    base_result,
    cost_usd,
    energy_joules,
    idle_power,
    infeasible_result,
    mfu_basis,
    mfu_peak,
    tight_memory_note,
)
from archsim.plan.balance import Balance, resolve_pipeline
from archsim.plan.compress import resolve_compression
from archsim.plan.io import checkpointing, data_loading, io_block
from archsim.plan.placement import Placement, slowed_devices
from archsim.plan.schedules import bubble_fraction
from archsim.plan.training import COMM_KINDS, TrainingPlan, build_training_plan, wire_bytes
from archsim.result import Result
from archsim.sim.engine import Span
from archsim.sim.training import TrainingTimeline, run_training
from archsim.spec.scenario import ScenarioSpec
from archsim.spec.units import BYTES_PER_ELEMENT, format_quantity


def simulate_training(sc: ScenarioSpec, trace: bool = False, runner=run_training) -> Result:
    """``runner(plan, trace=...)`` schedules the plan: the DES, or the sweep's fast path."""
    wall0 = time.perf_counter()
    comp = resolve_compression(sc)
    if comp.model is not sc.model:
        sc = sc.model_copy(update={"model": comp.model})
    layout, placement, balance, reasons = resolve_pipeline(sc, comp)
    reasons += _dtype_reasons(sc, placement) + list(comp.reasons)
    if layout is None or placement is None or reasons:
        return infeasible_result(sc, "training", reasons, wall0)
    plan = build_training_plan(sc, layout, comp, placement)
    timeline = runner(plan, trace=trace)
    return _assemble(sc, plan, timeline, wall0, balance, comp.matmul_dtype)


def _dtype_reasons(sc: ScenarioSpec, placement: Placement | None = None) -> list[str]:
    devices = ([s.device for s in placement.stages] if placement is not None
               else [sc.cluster.pools[0].device])
    dtype = sc.workload.dtype
    out = []
    for device in {d.name: d for d in devices}.values():
        if device.supports(dtype) or (dtype == "bf16" and device.supports("fp16")) or \
                (dtype == "fp32" and device.supports("tf32")):
            continue
        out.append(f"device {device.name} has no {dtype} support (its dtypes: "
                   f"{', '.join(device.peak)})")
    return out


def _host_wait_s(plan: TrainingPlan, device_step_s: float) -> float:
    """The device's wait for its host (archsim/cost/host.py): each stage's host issues the
    forward and backward ops (recomputation and gradient accumulation included) of every
    micro-batch of the step and the optimizer step (one op, as archsim costs it),
    ``host_op_cost`` each; the slowest stage's host bounds the step."""
    m = plan.layout.micro_batches
    waits = [host_wait_s(device_step_s,
                         m * sum(ck.fwd.kernels + ck.bwd.kernels for ck in row) + 1,
                         factors(plan.stage_device(s)).host_op_cost)
             for s, row in enumerate(plan.chunks)]
    return max(waits, default=0.0)


def _assemble(sc: ScenarioSpec, plan: TrainingPlan, tl: TrainingTimeline, wall0: float,
              balance: Balance | None = None, matmul_dtype: str | None = None) -> Result:
    lay, wl, device = plan.layout, sc.workload, plan.device
    m = lay.micro_batches
    devices = lay.devices
    stage_devices = [plan.stage_device(s) for s in range(lay.pp)]
    homogeneous = len({d.name for d in stage_devices}) == 1
    # the in-situ fixed cost per step (framework, optimizer launch, logging): the slowest
    # stage's device sets it (archsim/spec/insitu.py); prefetched input overlaps it too
    overhead = max(factors(d).step_overhead for d in stage_devices)
    host_wait = _host_wait_s(plan, tl.step_time_s)
    data = data_loading(sc, lay, tl.step_time_s + host_wait + overhead)
    io_exposed = data.exposed_s if data is not None else 0.0
    step = tl.step_time_s + host_wait + io_exposed + overhead
    # MFU/HFU against the dense peak of the dtype the GEMMs run in (fp8 for FP8 training)
    gemm_dtype = matmul_dtype or wl.dtype
    peak = matmul_peak(device, gemm_dtype)

    model_flops = sum(ck.model_flops for row in plan.chunks for ck in row) * m / lay.pp
    hw_flops = sum(ck.fwd.executed_flops + ck.bwd.executed_flops
                   for row in plan.chunks for ck in row) * m / lay.pp
    # per-device FLOPs above are averaged over stages; MFU divides by one device's peak (on a
    # heterogeneous cluster: by the average of the stages' peaks)
    if not homogeneous:
        peak = sum(matmul_peak(d, gemm_dtype) for d in stage_devices) / lay.pp
    # causal attention's masked half: counted in MFU/HFU (the published convention), skipped
    # by fused kernels (executed_utilization counts what runs)
    masked = sum(ck.fwd.masked_flops + ck.bwd.masked_flops
                 for row in plan.chunks for ck in row) * m / lay.pp
    # MFU counts a 2:4 run's sparse forward GEMMs against the sparse peak (mfu_peak); HFU
    # counts the half they execute against the dense peak
    sparse = sum(ck.fwd.sparse_flops for row in plan.chunks for ck in row) * m / lay.pp
    mfu_denominator = mfu_peak(peak, model_flops, sparse, device)
    mfu = model_flops / (step * mfu_denominator)
    hfu = hw_flops / (step * peak)
    tokens = wl.global_batch * wl.seq_len

    # ---- memory: the stage with the largest peak
    per_stage = []
    for s, st in enumerate(plan.states):
        act = tl.stages[s].peak_activation_bytes
        reserved = stage_devices[s].memory.reserved
        total = st.total + act + reserved
        per_stage.append({"stage": s, "peak_bytes": total, "weights": st.weights,
                          "gradients": st.gradients, "optimizer_states": st.optimizer_states,
                          "activations": act, "other": reserved,
                          "micro_batches_alive": tl.stages[s].peak_inflight / lay.chunks,
                          "capacity_bytes": stage_devices[s].memory.capacity})
    if homogeneous:
        worst = max(per_stage, key=lambda d: d["peak_bytes"])
    else:
        worst = max(per_stage, key=lambda d: d["peak_bytes"] / d["capacity_bytes"])
    capacity = worst["capacity_bytes"]
    reasons = []
    if worst["peak_bytes"] > capacity:
        reasons.append(
            f"stage {worst['stage']} needs {format_quantity(worst['peak_bytes'], 'bytes')} per "
            f"device, has {format_quantity(capacity, 'bytes')} (weights "
            f"{format_quantity(worst['weights'], 'bytes')}, gradients "
            f"{format_quantity(worst['gradients'], 'bytes')}, optimizer states "
            f"{format_quantity(worst['optimizer_states'], 'bytes')}, activations "
            f"{format_quantity(worst['activations'], 'bytes')}, runtime reserve "
            f"{format_quantity(worst['other'], 'bytes')})")

    # ---- communication of the busiest stage (the one that ends last)
    crit = max(range(lay.pp), key=lambda s: tl.stages[s].end_s)
    # bytes: each collective's buffer size S (nccl-tests' size); wire_bytes: what this rank
    # sends of it on a ring of the collective's n ranks (archsim/plan/opcost.py wire_bytes)
    by_kind: dict[str, dict[str, float]] = {k: {"time_s": 0.0, "bytes": 0.0, "wire_bytes": 0.0}
                                            for k in COMM_KINDS}

    def count(kind: str, time_s: float, nbytes: float, wire: float) -> None:
        by_kind[kind]["time_s"] += time_s
        by_kind[kind]["bytes"] += nbytes
        by_kind[kind]["wire_bytes"] += wire

    for row in plan.chunks[crit:crit + 1]:
        for ck in row:
            for phase in (ck.fwd, ck.bwd):
                for kind, (t, b, w) in phase.comm_by_kind.items():
                    count(kind, t * m, b * m, w * m)
    st_crit = tl.stages[crit]
    dp_bytes = sum(sum(ck.grad_buckets) for ck in plan.chunks[crit])
    dp_times = 1 if not plan.dp_reduce_per_microbatch else m
    if lay.dp_shard > 1:
        count(plan.dp_kind, st_crit.dp_comm_s, dp_bytes * dp_times,
              _bucket_wire(plan, crit, plan.dp_kind) * dp_times)
        if plan.param_gather_s[crit]:
            # ZeRO-1/2 gathers the updated 16-bit parameters: the gradient buckets' elements
            # at the parameters' size (an fp32 gradient reduction sends 4 B, the gather 2)
            ratio = BYTES_PER_ELEMENT[wl.dtype] / gradient_path(sc.plan.grad_accumulation,
                                                                wl.dtype).reduce
            count("allgather", plan.param_gather_s[crit], dp_bytes * ratio,
                  _bucket_wire(plan, crit, "allgather") * ratio)
        # ZeRO-3: every forward and backward task gathers its chunk's parameters
        count("allgather", st_crit.zero3_comm_s,
              m * sum(ck.zero3_gather_bytes for ck in plan.chunks[crit]),
              m * sum(ck.zero3_gather_wire_bytes for ck in plan.chunks[crit]))
    p2p_s, p2p_bytes = _p2p_sent(plan, crit)
    count("p2p", p2p_s, p2p_bytes, p2p_bytes)
    if plan.embedding_sync_s and crit in (0, lay.pp - 1):
        # the first and last stage's pair: 2(2 − 1)/2 · S = S on the wire
        count("allreduce", plan.embedding_sync_s, plan.embedding_sync_bytes,
              wire_bytes("allreduce", plan.embedding_sync_bytes, 2))
    total_comm = sum(v["time_s"] for v in by_kind.values())
    # exposed: blocking collectives, ZeRO-3 gathers not hidden and compute slowed by
    # overlapped collectives (interference), the gradient reduction's tail, tied-embedding
    # sync and what the next step's first forward does not hide of the ZeRO-1/2 parameter
    # all-gather (all of it without overlap)
    exposed = (st_crit.blocking_comm_s + st_crit.interference_s + st_crit.exposed_dp_s
               + st_crit.blocked_reduce_s
               + (plan.embedding_sync_s if crit in (0, lay.pp - 1) else 0.0)
               + min(plan.param_gather_exposed_s[crit], plan.param_gather_s[crit]))

    def stage_compute(t) -> float:
        return t.compute_busy_s - t.blocking_comm_s - t.interference_s - t.blocked_reduce_s

    # every stage's compute (recomputation in) and idle time up to its last backward: the
    # imbalance the critical stage's bubble holds
    stages = [{"compute_s": stage_compute(t),
               "bubble_s": max(0.0, t.backward_end_s - t.compute_busy_s)} for t in tl.stages]
    compute_busy, bubble_s = stages[crit]["compute_s"], stages[crit]["bubble_s"]
    # busy at TDP: the tasks and the optimizer step on the compute stream; the pipeline
    # bubble, exposed waits and the framework's fixed cost per step idle
    busy = [t.compute_busy_s + plan.optimizer_s[s] for s, t in enumerate(tl.stages)]
    per_stage_devices = devices // lay.pp
    # a straggler slows its stage's pace, but only its own tp·cp group computes longer: the
    # stage's other devices are busy for the kernels at nominal speed and idle the rest
    energy = 0.0
    for s, (d, b, t) in enumerate(zip(stage_devices, busy, tl.stages, strict=True)):
        hw = plan.stages[s]
        slow = slowed_devices(hw, lay.tp * lay.cp)
        nominal = b - (stage_compute(t) + plan.optimizer_s[s]) * (1.0 - hw.speed)
        energy += energy_joules(d, step, [b], devices_per_stage=slow) + energy_joules(
            d, step, [nominal], devices_per_stage=per_stage_devices - slow)
    if homogeneous:
        cost = cost_usd(device, devices, step)
    else:
        costs = [cost_usd(d, per_stage_devices, step) for d in stage_devices]
        cost = None if any(c is None for c in costs) else sum(costs)
    stage_params = [(sum(ck.params for ck in row), sum(ck.expert_params for ck in row))
                    for row in plan.chunks]
    ckpt = checkpointing(sc, lay, stage_params, step, plan.pool.devices_per_node)
    result = base_result(sc, "training")
    result.update({
        "feasible": not reasons,
        "infeasible_reasons": reasons,
        "step_time_s": step,
        "tokens_per_s": tokens / step,
        "samples_per_s": wl.global_batch / step,
        "mfu": mfu,
        "hfu": hfu,
        "gemm_dtype": gemm_dtype,
        "mfu_peak_tflops": mfu_denominator / 1e12,
        "mfu_basis": mfu_basis(gemm_dtype, peak, mfu_denominator),
        "tflops_per_device": hw_flops / step / 1e12,
        "executed_utilization": (hw_flops - masked) / (step * peak),
        "model_flops_per_step": model_flops * devices,
        "hardware_flops_per_step": hw_flops * devices,
        "devices": devices,
        "parallel": {"dp": lay.dp, "tp": lay.tp, "pp": lay.pp, "cp": lay.cp, "ep": lay.ep,
                     "sp": sc.plan.sp, "zero": sc.plan.zero, "schedule": sc.plan.schedule,
                     "virtual_stages": lay.chunks, "micro_batch": lay.micro_batch,
                     "micro_batches": m, "recompute": sc.plan.recompute,
                     "layers_per_stage": [sum(len(c) for c in st) for st in lay.stage_layers]},
        "time_breakdown": {
            "compute_s": compute_busy - st_crit.recompute_s,
            "recompute_s": st_crit.recompute_s,
            "exposed_comm_s": exposed,
            "bubble_s": bubble_s,
            "optimizer_s": plan.optimizer_s[crit],
            "io_s": io_exposed,
            "overhead_s": overhead,
            "host_wait_s": host_wait,
            "critical_stage": crit,
        },
        "placement": _placement_block(plan, balance),
        "io": io_block(sc, data, ckpt, step),
        "pipeline": {"bubble_fraction": bubble_s / step,
                     # on the ideal's basis: the critical stage's compute, recomputation in
                     "bubble_over_compute": bubble_s / compute_busy if compute_busy > 0 else 0.0,
                     "ideal_bubble_fraction": bubble_fraction(lay.pp, m, lay.chunks)
                     if lay.pp > 1 else 0.0,
                     "stages": stages,
                     "p2p_bytes_per_send": plan.p2p_bytes, "p2p_link": plan.p2p_link},
        "memory": {"peak_bytes_per_device": worst["peak_bytes"], "capacity_bytes": capacity,
                   "breakdown": {"weights": worst["weights"], "gradients": worst["gradients"],
                                 "optimizer_states": worst["optimizer_states"],
                                 "activations": worst["activations"], "kv_cache": 0.0,
                                 "other": worst["other"]},
                   "per_stage": per_stage},
        "communication": {"total_time_s": total_comm, "exposed_time_s": exposed,
                          "bytes_per_device": sum(v["bytes"] for v in by_kind.values()),
                          "wire_bytes_per_device": sum(v["wire_bytes"]
                                                       for v in by_kind.values()),
                          "by_kind": by_kind, "algorithms": plan.algorithms},
        "energy_joules": energy,
        "energy_per_token_j": energy / tokens,
        "cost_usd": cost,
        "sim": {"events": tl.events, "wall_s": time.perf_counter() - wall0, "engine": "des"},
    })
    notes = plan_notes(sc)
    if tight := tight_memory_note(worst):
        notes.append(tight)
    if notes:
        result["notes"] = notes
    cost = result["cost_usd"]
    result["cost_per_million_tokens_usd"] = None if cost is None else cost / tokens * 1e6
    # the writes' pauses, amortized per step: every device held (paid) and idle meanwhile
    wait = ckpt.amortized_s_per_step if ckpt is not None else 0.0
    wait_energy = wait * per_stage_devices * sum(idle_power(d) for d in stage_devices)
    result["totals"] = run_totals(wl.steps, step, tokens, energy, cost, wait, wait_energy)
    if wait > 0 and result.get("io"):
        result["io"].update(checkpoint_costs(step, tokens, energy, cost, wait, wait_energy))
    spans = tl.spans
    if spans and overhead > 0:
        # the fixed cost closes the step on the critical stage's row of the trace
        spans = [*spans, Span(f"stage {crit}", "step overhead (framework)", step - overhead,
                              step, "overhead")]
    return Result(result, spans=spans)


def plan_notes(sc: ScenarioSpec) -> list[str]:
    """What a training result should say of its plan that its numbers do not: options the run
    cannot take (they change nothing) and a sequence the model was not trained for."""
    plan, model, wl = sc.plan, sc.model, sc.workload
    notes = []
    if plan.attention_kernel == "flash3":
        lacking = sorted({p.device.name for p in sc.cluster.pools
                          if p.device.insitu is None
                          or p.device.insitu.attention_ceiling_flash3 is None})
        if lacking:
            notes.append(f"attention_kernel flash3: {', '.join(lacking)} has no measured "
                         "FlashAttention-3 rate (a Hopper kernel): FlashAttention-2's is used")
    if plan.tp_comm_overlap and not (plan.sp and plan.tp > 1):
        notes.append("tp_comm_overlap overlaps the all-gathers and reduce-scatters of sequence "
                     "parallelism: without sp and tp > 1 it changes nothing")
    if plan.ep > 1 and plan.tp > 1 and not plan.sp:
        # megatron/training/arguments.py: "When using expert parallelism and tensor
        # parallelism, sequence parallelism must be used"
        notes.append("ep > 1 with tp > 1 and no sequence parallelism: Megatron-LM refuses "
                     "this plan (it requires sp with expert and tensor parallelism); it is "
                     "priced as a framework that allows it would run it")
    if plan.cp > 1 and not plan.flash_attention:
        # megatron/core/transformer/dot_product_attention.py: "Context parallelism is only
        # supported by TEDotProductAttention!" (Transformer Engine's fused attention)
        notes.append("cp > 1 without flash attention: Megatron-core runs context parallelism "
                     "only with Transformer Engine's fused attention; the unfused s×s "
                     "attention is priced as a framework that allows it would run it")
    from archsim.plan.inference_setup import fp8_rate_note

    notes += [n for n in dict.fromkeys(fp8_rate_note(sc, p.device) for p in sc.cluster.pools)
              if n]
    if model.position != "learned" and wl.seq_len > model.max_seq_len:
        notes.append(f"seq_len {wl.seq_len:,} is beyond {model.name}'s max_seq_len "
                     f"{model.max_seq_len:,}: a context-extension run ({model.position} "
                     "positions); archsim times it and does not judge the model's quality there")
    return notes


def run_totals(steps: int, step_s: float, tokens: int, energy: float, cost: float | None,
               wait_s: float = 0.0, wait_energy: float = 0.0) -> dict[str, Any]:
    """The result's ``totals``: ``steps`` identical steps (``workload.steps``) and the pauses
    for checkpoint writes between them, ``wait_s`` per step amortized (``checkpoint_s`` in
    all), during which the devices are held and paid and draw ``wait_energy`` per step at
    idle. They had been left out: a synchronous write to NFS every 10 steps of GPT-3 175B
    takes 245.7 s amortized per 33.8 s step, and the totals of 1,000 steps read $17,192 where
    the devices are paid $142,271."""
    per_step_cost = None if cost is None else cost * (1.0 + wait_s / step_s)
    return {"steps": steps, "time_s": steps * (step_s + wait_s), "tokens": steps * tokens,
            "energy_joules": steps * (energy + wait_energy),
            "cost_usd": None if per_step_cost is None else steps * per_step_cost,
            "checkpoint_s": steps * wait_s}


def checkpoint_costs(step_s: float, tokens: int, energy: float, cost: float | None,
                     wait_s: float, wait_energy: float) -> dict[str, float | None]:
    """Cost per million tokens and energy per token over a long run, checkpoint pauses
    included (the result's ``io``; its headline ones are per step, without them)."""
    per_step_cost = None if cost is None else cost * (1.0 + wait_s / step_s)
    return {"cost_per_million_tokens_with_checkpoint_usd":
            None if per_step_cost is None else per_step_cost / tokens * 1e6,
            "energy_per_token_with_checkpoint_j": (energy + wait_energy) / tokens}


def _bucket_wire(plan: TrainingPlan, s: int, kind: str) -> float:
    """Wire bytes of one ``kind`` collective over each of stage ``s``'s gradient buckets: a
    dense bucket over the dp·cp ranks, an expert one over the expert-data-parallel ranks."""
    sizes = {"dp": plan.dp_group.size,
             "edp": plan.edp_group.size if plan.edp_group is not None else plan.dp_group.size}
    return sum(wire_bytes(kind, b, sizes[g]) for ck in plan.chunks[s]
               for b, g in zip(ck.grad_buckets, ck.bucket_groups, strict=True))


def _p2p_sent(plan: TrainingPlan, s: int) -> tuple[float, float]:
    """(seconds, bytes) stage ``s`` sends on its pipeline links in one step: activations to
    the next stage for each of its m·v forward tasks but the last chunk's on the last stage
    (they feed its own backward), gradients to the previous stage for each backward task but
    the first chunk's on the first stage. What the DES queues on the stage's outgoing links."""
    lay = plan.layout
    p, v, m = lay.pp, lay.chunks, lay.micro_batches
    if p == 1:
        return 0.0, 0.0
    wrap_f, wrap_b = plan.p2p_wrap_s or (plan.p2p_fwd_s[0], plan.p2p_bwd_s[0])
    fwd_sends, fwd_s = (m * v, plan.p2p_fwd_s[s]) if s < p - 1 else (m * (v - 1), wrap_f)
    bwd_sends, bwd_s = (m * v, plan.p2p_bwd_s[s - 1]) if s > 0 else (m * (v - 1), wrap_b)
    return fwd_sends * fwd_s + bwd_sends * bwd_s, (fwd_sends + bwd_sends) * plan.p2p_bytes


def _placement_block(plan: TrainingPlan, balance: Balance | None) -> dict[str, Any]:
    """Which pool each stage ran on, its layers, and how they were chosen."""
    lay = plan.layout
    out: dict[str, Any] = {
        "stages": [hw.pool.name for hw in plan.stages],
        "devices": [hw.device.name for hw in plan.stages],
        "layers_per_stage": [sum(len(c) for c in st) for st in lay.stage_layers],
        "balanced": balance is not None,
        "p2p_links": plan.p2p_links,
        "network": plan.network_model,
    }
    slow = {hw.stage: {"speed": hw.speed, "nic_speed": hw.nic_scale,
                       "intra_speed": hw.intra_scale}
            for hw in plan.stages if (hw.speed, hw.nic_scale, hw.intra_scale) != (1, 1, 1)}
    if slow:
        out["stragglers"] = slow
    if balance is not None:
        out["layer_time_s"] = balance.layer_s
        out["stage_time_per_micro_batch_s"] = balance.stage_s
        out["memory_cap_layers"] = balance.memory_cap_layers
        out["memory_limited"] = balance.memory_limited
    return out


def stage_summary(result: Result) -> list[dict[str, Any]]:
    return result["memory"]["per_stage"]
