"""Static-batch inference result: prefill (TTFT), decode steps (TPOT), memory, energy, cost.

Metric definitions (per sequence of the batch; every sequence of a static batch sees the same):

* ``ttft_s`` — time to first token: the prefill of ``prompt_len`` tokens through every stage,
  whose last position samples the first token.
* decode step i (i = 1 … gen_len−1) feeds token i back and attends over ``prompt_len + i``
  tokens; ``tpot_s`` is the mean decode step (``tpot_first_s`` / ``tpot_last_s`` the first and
  last: the context, and so the KV-cache read, grows every step). null when gen_len is 1.
* ``e2e_latency_s`` = ttft + Σ decode steps; ``tokens_per_s`` = batch · gen_len / e2e
  (generated tokens, all data-parallel replicas together).
* ``phases.<prefill|decode>.bound_by``: whether the phase's kernel time is mostly in ops whose
  roofline is set by FLOPs ("compute") or by bytes ("memory"); decode is judged at the mean
  context.
* ``memory``: weights + KV cache at the final context + the largest transient activations +
  the runtime reserve, on the busiest device; ``max_batch_that_fits`` is the largest batch for
  which that same sum fits every stage's device (activations grow with the batch too).
* Encoders (``model.encoder``, BERT style) run one forward pass per batch (gen_len 1): no
  first token, decode step or KV cache. ``e2e_latency_s`` is the latency per batch,
  ``sequences_per_s`` = batch / latency, ``tokens_per_s`` = batch · prompt_len / latency
  (tokens processed, not generated), ``phases.forward`` the pass's roofline profile, and
  ``ttft_s`` / ``tpot_s`` are null.

A pipeline may span pools (``plan.placement.stages`` on a cluster): each stage runs on its
pool's device and links, sends between pools cross the pool links (archsim/plan/links.py);
memory is checked per stage against its own device, energy and cost add up per pool. Layers
per stage are balanced by each stage's speed (archsim/plan/inference_balance.py) unless
``plan.layers_per_stage`` gives them; the precision plan is resolved on the first stage's
device.
"""

from __future__ import annotations

import time
from typing import Any

from archsim.cost.comm import collective_time
from archsim.cost.compute import bound_by, compute_time, matmul_peak
from archsim.metrics.common import (
    base_result,
    cost_usd,
    energy_joules,
    infeasible_result,
    mfu_basis,
    mfu_peak,
    tight_memory_note,
)
from archsim.plan.inference import (
    Degrees,
    InferencePlan,
    build_inference_plan,
    degree_reasons,
    dtype_reasons,
    resolve_precision,
)
from archsim.plan.inference_balance import balance_inference_layers
from archsim.plan.opcost import COMM_KINDS, PhaseCost
from archsim.plan.placement import resolve_placement
from archsim.result import Result
from archsim.sim.inference import run_generation
from archsim.spec.placement import stage_pool_names
from archsim.spec.scenario import ScenarioSpec
from archsim.spec.units import format_quantity
from archsim.spec.workload import InferenceWorkload


def device_split_reason(count: int, tp: int, pp: int) -> str | None:
    """Why ``count`` devices do not split into static-inference replicas of tp·pp devices
    (None when they do)."""
    if count % (tp * pp):
        return f"{count} devices are not divisible by tp·pp = {tp}·{pp} = {tp * pp}"
    return None


def replicas_reason(count: int, tp: int, pp: int, dp: int | None) -> str | None:
    """Why an explicit ``plan.dp`` does not make ``count`` devices into replicas of tp·pp
    (None when it does, or when dp is left to the device count)."""
    if dp is not None and dp * tp * pp != count:
        return f"dp·tp·pp = {dp}·{tp}·{pp} = {dp * tp * pp} does not equal the {count} devices"
    return None


def simulate_inference(sc: ScenarioSpec, trace: bool = False) -> Result:
    """Simulate ``sc`` (workload.kind inference); infeasible plans come back as results."""
    wall0 = time.perf_counter()
    wl = sc.workload
    assert isinstance(wl, InferenceWorkload)
    cluster = sc.cluster
    names = stage_pool_names(sc.plan.placement, sc.plan.pp)
    across = names is not None and len(cluster.pools) > 1
    pool = cluster.pool(names[0]) if across else cluster.pools[0]
    reasons: list[str] = []
    if len(cluster.pools) > 1 and not across:
        reasons.append(f"without plan.placement.stages static-batch inference runs on one "
                       f"pool; the cluster has pools "
                       f"{', '.join(p.name for p in cluster.pools)} (for prefill and decode on "
                       "different pools use workload.kind serving with plan.placement; for a "
                       "pipeline across pools, plan.placement.stages)")
    used = [cluster.pool(n) for n in dict.fromkeys(names)] if across else [pool]
    for p in used:
        reasons += dtype_reasons(p.device, wl.dtype, sc)
    precision = resolve_precision(sc, pool.device)
    reasons += list(precision.reasons)
    model = precision.model
    plan = sc.plan
    if plan.cp > 1:
        reasons.append(f"context parallelism (cp {plan.cp}) is not simulated for inference")
    tp, pp = plan.tp, plan.pp
    count = sum(p.count for p in used)
    split = device_split_reason(count, tp, pp)
    if split:
        reasons.append(split)
        return infeasible_result(sc, "inference", reasons, wall0)
    dp = plan.dp if plan.dp is not None else count // (tp * pp)
    mismatch = replicas_reason(count, tp, pp, plan.dp)
    if mismatch:
        reasons.append(mismatch)
    deg = Degrees(tp=tp, pp=pp, ep=plan.ep, dp=dp)
    reasons += degree_reasons(model, deg, plan.layers_per_stage)
    if wl.batch % dp:
        reasons.append(f"batch {wl.batch} is not divisible by dp {dp} (data-parallel replicas "
                       "split the batch)")
    context = wl.prompt_len + wl.gen_len
    if model.encoder and wl.gen_len > 1:
        reasons.append(f"{model.name} is an encoder (model.encoder: true): it runs one forward "
                       f"pass over each batch and generates nothing; gen_len {wl.gen_len} "
                       "must be 1")
    if context > model.max_seq_len:
        reasons.append(f"prompt_len {wl.prompt_len} + gen_len {wl.gen_len} = {context} tokens "
                       f"exceed the model's max_seq_len {model.max_seq_len}")
    placement = None
    if across and not reasons:
        placement, more = resolve_placement(sc, tp * dp)
        reasons += more
    if reasons:
        return infeasible_result(sc, "inference", reasons, wall0)

    b = wl.batch // dp
    if placement is not None and placement.balance and plan.layers_per_stage is None:
        counts = balance_inference_layers(sc, deg, precision, placement, b, wl.prompt_len,
                                          wl.gen_len)
        if counts is not None:
            sc = sc.model_copy(update={"plan": plan.model_copy(
                update={"layers_per_stage": counts})})
    iplan = build_inference_plan(sc, pool, deg, precision, placement=placement)
    steps = _step_costs(iplan, b, wl.prompt_len, wl.gen_len)
    stage_times = [[c.time_s for c in row] for row, _ in steps]
    p2p = [t for _, t in steps]
    labels = ["prefill"] + [f"decode {i}" for i in range(1, wl.gen_len)]
    tl = run_generation(stage_times, p2p, labels=labels, trace=trace)
    return _assemble(sc, iplan, b, steps, tl, wall0)


def _step_costs(iplan: InferencePlan, b: int, prompt: int, gen: int
                ) -> list[tuple[list[PhaseCost], list[float]]]:
    """Per step: each stage's cost and the send time at each stage boundary."""
    pp = iplan.degrees.pp
    out = [([iplan.stage_step(s, b, prompt, prompt, n_out=b) for s in range(pp)],
            iplan.p2p_boundaries_s(b * prompt))]
    send = iplan.p2p_boundaries_s(b)
    for i in range(1, gen):
        out.append(([iplan.stage_step(s, b, 1, prompt + i, n_out=b) for s in range(pp)], send))
    return out


def phase_profile(iplan: InferencePlan, b: int, q: int, kv: int) -> dict[str, Any]:
    """One step's kernel time split by roofline bound (one tensor-parallel rank of each stage,
    summed over the stages a step passes through) and its FLOPs and bytes per device (the
    stages' mean: a device of one stage holds 1/pp of the layers)."""
    mem = comp = comm = flops = nbytes = 0.0
    for s, st in enumerate(iplan.stages):
        device = st.device
        for op, n in iplan.step_ops(s, b, q, kv, n_out=b):
            if op.kind == "comm":
                assert op.comm is not None
                comm += n * collective_time(op.comm.kind, op.comm.bytes,
                                            st.groups[op.comm.group]).time_s
                continue
            t = n * compute_time(op, device)
            if bound_by(op, device) == "compute":
                comp += t
            else:
                mem += t
            flops += n * (op.flops - op.skipped_flops)
            nbytes += n * op.bytes
    return {"bound_by": "compute" if comp >= mem else "memory",
            "compute_bound_s": comp, "memory_bound_s": mem, "communication_s": comm,
            "flops_per_device": flops / len(iplan.stages),
            "bytes_per_device": nbytes / len(iplan.stages),
            "arithmetic_intensity": flops / nbytes if nbytes else None}


def stage_memory(iplan: InferencePlan, s: int, b: int, prompt: int, context: int
                 ) -> dict[str, Any]:
    """Memory of one device of stage ``s`` running ``b`` sequences of ``prompt`` tokens to
    ``context`` tokens: weights + KV cache (none for an encoder) + the largest transient
    activations + the runtime reserve. The one rule for whether a batch fits."""
    weights = iplan.weight_bytes[s]
    kv = 0.0 if iplan.model.encoder else iplan.kv_bytes_per_token[s] * b * context
    act = iplan.stages[s].generation_activation_bytes(b, prompt, context)
    other = iplan.stage_device(s).memory.reserved
    return {"stage": s, "peak_bytes": weights + kv + act + other, "weights": weights,
            "kv_cache": kv, "activations": act, "other": other,
            "capacity_bytes": iplan.stage_device(s).memory.capacity}


MAX_BATCH_SEARCH = 1 << 24
"""Largest batch per replica the search tries (a bound, not a limit anyone reaches)."""


def max_batch_per_replica(iplan: InferencePlan, prompt: int, context: int) -> int:
    """The largest batch b for which every stage's :func:`stage_memory` fits its device —
    the same rule that decides whether a run at batch b is feasible (memory grows with b)."""
    def fits(b: int) -> bool:
        return all(m["peak_bytes"] <= m["capacity_bytes"]
                   for m in (stage_memory(iplan, s, b, prompt, context)
                             for s in range(iplan.degrees.pp)))

    if not fits(1):
        return 0
    lo, hi = 1, 2
    while hi <= MAX_BATCH_SEARCH and fits(hi):
        lo, hi = hi, 2 * hi
    if hi > MAX_BATCH_SEARCH:
        return lo
    while hi - lo > 1:  # fits(lo), not fits(hi)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def _host_notes(host_waits: list[float], e2e: float) -> list[str]:
    """A note when the host's dispatch, not the device, sets part of the run's pace."""
    wait = sum(host_waits)
    if wait <= 0:
        return []
    return [f"host-bound: the device waits {wait / e2e:.0%} of the run for its host to issue "
            "ops (the profile's in-situ inference_host_op_cost, eager dispatch); CUDA graphs "
            "(workload.cuda_graphs) or a serving engine remove that wait"]


def _assemble(sc: ScenarioSpec, iplan: InferencePlan, b: int,
              steps: list[tuple[list[PhaseCost], list[float]]], tl, wall0: float
              ) -> Result:
    wl = sc.workload
    deg, device = iplan.degrees, iplan.device
    prompt, gen = wl.prompt_len, wl.gen_len
    ends = tl.step_end_s
    ttft = ends[0]
    decode = [ends[i] - ends[i - 1] for i in range(1, len(ends))]
    e2e = ends[-1]
    # an encoder generates nothing: its throughput counts the tokens it processes
    tokens = wl.batch * (prompt if iplan.model.encoder else gen)

    # ---- memory on the busiest stage
    context = prompt + gen
    encoder = iplan.model.encoder
    per_stage = [stage_memory(iplan, s, b, prompt, context) for s in range(deg.pp)]
    worst = max(per_stage, key=lambda d: d["peak_bytes"] / d["capacity_bytes"])
    capacity = worst["capacity_bytes"]
    max_batch = max_batch_per_replica(iplan, prompt, context) * deg.dp
    reasons = []
    if worst["peak_bytes"] > capacity:
        fq = format_quantity
        reasons.append(
            f"stage {worst['stage']} needs {fq(worst['peak_bytes'], 'bytes')} per device, has "
            f"{fq(capacity, 'bytes')} (weights {fq(worst['weights'], 'bytes')}, KV cache "
            f"{fq(worst['kv_cache'], 'bytes')} for {b} sequences × {context} tokens, "
            f"activations {fq(worst['activations'], 'bytes')}, runtime reserve "
            f"{fq(worst['other'], 'bytes')})")

    # ---- communication and FLOPs of the busiest stage over the whole run
    crit = max(range(deg.pp), key=lambda s: tl.stage_busy_s[s])
    # bytes: buffer size S of each collective; wire_bytes: what this rank sends of it
    # (archsim/plan/opcost.py wire_bytes)
    by_kind = {k: {"time_s": 0.0, "bytes": 0.0, "wire_bytes": 0.0} for k in COMM_KINDS}
    flops = executed = sparse = 0.0
    for row, _ in steps:
        cost = row[crit]
        # the work done: a causal prompt's masked attention half is not (see masked_flops)
        flops += cost.flops - cost.masked_flops
        executed += cost.executed_flops - cost.masked_flops
        sparse += cost.sparse_flops
        for kind, (t, nb, wire) in cost.comm_by_kind.items():
            by_kind[kind]["time_s"] += t
            by_kind[kind]["bytes"] += nb
            by_kind[kind]["wire_bytes"] += wire
    if deg.pp > 1:
        # one hand-over per step on this stage's link (sent, or received by the last stage)
        for k, (_, send) in enumerate(steps):
            by_kind["p2p"]["time_s"] += send[min(crit, deg.pp - 2)]
            sent = iplan.p2p_bytes(b * (prompt if k == 0 else 1))
            by_kind["p2p"]["bytes"] += sent
            by_kind["p2p"]["wire_bytes"] += sent
    comm_total = sum(v["time_s"] for v in by_kind.values())
    algorithms: dict[str, str] = {}
    for row, _ in steps[:2]:
        algorithms.update(row[crit].algorithms)
    # MFU/HFU against the dense peak of the dtype the GEMMs run in (int8 / fp8 under W8A8 or
    # FP8 compression), as in training
    gemm_dtype = iplan.precision.shape_fields.get("matmul_dtype") or wl.dtype
    peak = matmul_peak(iplan.stage_device(crit), gemm_dtype)
    stage_devices = [iplan.stage_device(s) for s in range(deg.pp)]
    if len({d.name for d in stage_devices}) > 1:
        # stages on different devices: every stage's work over the stages' mean peak, as in
        # training (the busiest stage's FLOPs over its own device's peak had read a mixed
        # H100 + A100 pipeline 2.1× too busy)
        flops, executed, sparse = (sum(getattr(row[s], a) - (row[s].masked_flops if m else 0)
                                       for row, _ in steps for s in range(deg.pp)) / deg.pp
                                   for a, m in (("flops", True), ("executed_flops", True),
                                                ("sparse_flops", False)))
        peak = sum(matmul_peak(d, gemm_dtype) for d in stage_devices) / deg.pp
    mfu_denominator = mfu_peak(peak, flops, sparse, iplan.stage_device(crit))
    mid = prompt + max(1, gen // 2)
    prefill = phase_profile(iplan, b, prompt, prompt)
    # the device's wait for its host to issue ops (archsim/cost/host.py), on the busiest stage
    host_waits = [row[crit].host_s for row, _ in steps]
    prefill.update(time_s=ttft, tokens_per_s=wl.batch * prompt / ttft,
                   host_wait_s=host_waits[0])
    dec: dict[str, Any] = {"time_s": e2e - ttft, "steps": len(decode),
                           "host_wait_s": sum(host_waits[1:])}
    if decode:
        dec.update(phase_profile(iplan, b, 1, mid))
        dec["context_for_bound"] = mid

    if encoder:  # one forward pass per batch: no first token, no decode steps
        dec = {}
        prefill["time_s"] = e2e

    # a device waiting for its host to issue ops idles: not busy for energy
    busy_s = [busy - sum(row[s].host_s for row, _ in steps)
              for s, busy in enumerate(tl.stage_busy_s)]
    if iplan.placement is None:
        energy = energy_joules(device, e2e, busy_s, devices_per_stage=deg.tp * deg.dp)
        cost = cost_usd(device, deg.devices, e2e)
    else:  # a pipeline across pools: each stage on its own device type
        energy = sum(energy_joules(iplan.stage_device(s), e2e, [busy],
                                   devices_per_stage=deg.tp * deg.dp)
                     for s, busy in enumerate(busy_s))
        costs = [cost_usd(iplan.stage_device(s), deg.tp * deg.dp, e2e) for s in range(deg.pp)]
        cost = None if any(c is None for c in costs) else sum(costs)
    result = base_result(sc, "inference")
    result["model"] = iplan.model.name  # a pruned model's derived name
    result.update({
        "feasible": not reasons,
        "infeasible_reasons": reasons,
        "step_time_s": None,
        "ttft_s": None if encoder else ttft,
        "tpot_s": sum(decode) / len(decode) if decode else None,
        "tpot_mean_s": sum(decode) / len(decode) if decode else None,
        "tpot_first_s": decode[0] if decode else None,
        "tpot_last_s": decode[-1] if decode else None,
        "e2e_latency_s": e2e,
        "tokens_per_s": tokens / e2e,
        "sequences_per_s": wl.batch / e2e,
        "tokens_per_s_per_sequence": None if encoder else gen / e2e,
        "encoder": encoder,
        "gemm_dtype": gemm_dtype,
        # 2:4-sparse GEMMs against the sparse peak (mfu_peak); HFU: what executes, dense peak
        "mfu": flops / (e2e * mfu_denominator),
        "mfu_peak_tflops": mfu_denominator / 1e12,
        "mfu_basis": mfu_basis(gemm_dtype, peak, mfu_denominator),
        "hfu": executed / (e2e * peak),
        "tflops_per_device": executed / e2e / 1e12,
        "devices": deg.devices,
        "batch": wl.batch,
        "prompt_len": prompt,
        "gen_len": gen,
        "parallel": {"tp": deg.tp, "pp": deg.pp, "ep": deg.ep, "dp": deg.dp,
                     "batch_per_replica": b, "flash_attention": sc.plan.flash_attention,
                     "layers_per_stage": [len(st.layers) for st in iplan.stages]},
        **({"placement": {"stages": [hw.pool.name for hw in iplan.placement.stages],
                          "devices": [hw.device.name for hw in iplan.placement.stages],
                          "layers_per_stage": [len(st.layers) for st in iplan.stages],
                          "balanced": iplan.placement.balance}}
           if iplan.placement is not None else {}),
        "phases": {"forward": prefill} if encoder else {"prefill": prefill, "decode": dec},
        "kv_cache_bytes_per_token": 0.0 if encoder else sum(iplan.kv_bytes_per_token) * deg.tp,
        "max_batch_that_fits": max_batch,
        "memory": {"peak_bytes_per_device": worst["peak_bytes"], "capacity_bytes": capacity,
                   "breakdown": {"weights": worst["weights"], "gradients": 0.0,
                                 "optimizer_states": 0.0, "activations": worst["activations"],
                                 "kv_cache": worst["kv_cache"], "other": worst["other"]},
                   "per_stage": per_stage},
        "communication": {"total_time_s": comm_total, "exposed_time_s": comm_total,
                          "bytes_per_device": sum(v["bytes"] for v in by_kind.values()),
                          "wire_bytes_per_device": sum(v["wire_bytes"]
                                                       for v in by_kind.values()),
                          "by_kind": by_kind, "algorithms": algorithms},
        "energy_joules": energy,
        "energy_per_token_j": energy / tokens,
        "cost_usd": cost,
        "cost_per_million_tokens_usd": None if cost is None else cost / tokens * 1e6,
        "notes": (list(iplan.precision.notes) + _host_notes(host_waits, e2e)
                  + [n for n in [tight_memory_note(worst)] if n]),
        "sim": {"events": tl.events, "wall_s": time.perf_counter() - wall0, "engine": "des"},
    })
    return Result(result, spans=tl.spans)
