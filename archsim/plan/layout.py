"""Resolve a parallel plan into degrees and a layer layout; list why it cannot run.

Rank order is Megatron-LM's default: tensor parallel innermost, then context parallel, then
data parallel, then pipeline stages outermost. A data-parallel group therefore has stride
tp·cp, the gradient-reduction group (the dp·cp ranks holding the same parameters) stride tp,
and neighbouring pipeline stages are tp·cp·dp ranks apart. MoE: ep ranks are adjacent after
tp, and the expert-data-parallel group (dp·cp/ep ranks) has stride tp·ep.
"""

from __future__ import annotations

from dataclasses import dataclass

from archsim.spec.scenario import ScenarioSpec
from archsim.spec.workload import TrainingWorkload


@dataclass(frozen=True)
class Layout:
    """Degrees and the layers each (stage, chunk) holds."""

    dp: int
    tp: int
    pp: int
    cp: int
    ep: int
    chunks: int
    micro_batch: int
    micro_batches: int
    stage_layers: tuple[tuple[tuple[int, ...], ...], ...]
    """stage → chunk → layer indices."""

    @property
    def devices(self) -> int:
        return self.dp * self.tp * self.pp * self.cp

    @property
    def dp_shard(self) -> int:
        """Ranks the ZeRO / distributed-optimizer states are sharded over (dp × cp)."""
        return self.dp * self.cp

    @property
    def stage_stride(self) -> int:
        return self.tp * self.cp * self.dp


def _split_even(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def resolve_layout(sc: ScenarioSpec, devices: int | None = None,
                   layers_per_stage: list[int] | None = None
                   ) -> tuple[Layout | None, list[str]]:
    """The layout of ``sc``'s plan, or None with the reasons it does not divide.

    ``devices``: the devices the plan runs on (default: the whole cluster);
    ``layers_per_stage``: a split to use instead of ``plan.layers_per_stage`` (e.g. balanced by
    speed, archsim.plan.balance)."""
    plan, model = sc.plan, sc.model
    count = sc.cluster.total_devices if devices is None else devices
    reasons: list[str] = []
    tp, pp, cp, ep = plan.tp, plan.pp, plan.cp, plan.ep
    if count % (tp * pp * cp):
        reasons.append(f"{count} devices are not divisible by tp·pp·cp = {tp}·{pp}·{cp} = "
                       f"{tp * pp * cp}")
        return None, reasons
    dp = plan.dp if plan.dp is not None else count // (tp * pp * cp)
    if dp * tp * pp * cp != count:
        reasons.append(f"dp·tp·pp·cp = {dp}·{tp}·{pp}·{cp} = {dp * tp * pp * cp} does not "
                       f"equal the {count} devices")
    if model.heads % tp:
        reasons.append(f"heads {model.heads} are not divisible by tp {tp}")
    kv = model.n_kv_heads
    if kv % tp and tp % kv:
        reasons.append(f"kv_heads {kv} and tp {tp}: one must divide the other")
    if model.ffn % tp:
        reasons.append(f"ffn_hidden {model.ffn} is not divisible by tp {tp}")
    expert_ffn = model.moe.expert_ffn_hidden if model.moe is not None else None
    if expert_ffn is not None and expert_ffn % tp:
        reasons.append(f"moe.expert_ffn_hidden {expert_ffn} is not divisible by tp {tp}")
    if model.moe is not None:
        if model.moe.experts % ep:
            reasons.append(f"experts {model.moe.experts} are not divisible by ep {ep}")
        if (dp * cp) % ep:
            reasons.append(f"ep {ep} must divide dp·cp = {dp * cp}")
    elif ep > 1:
        reasons.append(f"ep {ep} > 1 needs an MoE model (model has no moe block)")

    chunks = plan.virtual_stages if plan.schedule == "interleaved" else 1
    if plan.schedule != "interleaved" and plan.virtual_stages > 1:
        reasons.append(f"virtual_stages {plan.virtual_stages} needs schedule: interleaved")
    if plan.schedule == "interleaved" and pp == 1:
        reasons.append("the interleaved schedule needs pp > 1")
    if plan.schedule == "interleaved" and plan.virtual_stages < 2:
        # one chunk per device is 1F1B with twice its warm-up: as slow, with up to twice the
        # micro-batches in flight (GPT-3 175B, pp 8: 15 on stage 0 where 1F1B holds 8)
        reasons.append(f"the interleaved schedule needs virtual_stages ≥ 2 (model chunks per "
                       f"device; got {plan.virtual_stages}): set plan.virtual_stages, or "
                       "schedule: 1f1b")

    stage_layers: list[list[tuple[int, ...]]] = []
    lps = layers_per_stage if layers_per_stage is not None else plan.layers_per_stage
    if lps is not None:
        if len(lps) != pp:
            reasons.append(f"layers_per_stage has {len(lps)} entries for pp {pp}")
        elif sum(lps) != model.layers:
            reasons.append(f"layers_per_stage sums to {sum(lps)}, the model has "
                           f"{model.layers} layers")
        elif any(n < 1 for n in lps):
            reasons.append("every stage needs at least one layer in layers_per_stage")
        elif chunks > 1 and any(n % chunks for n in lps):
            reasons.append(f"layers_per_stage {lps} are not divisible by virtual_stages "
                           f"{chunks}")
        else:
            per_stage_chunk = [[n // chunks] * chunks for n in lps]
            stage_layers = _assign(per_stage_chunk, pp, chunks)
    elif model.layers % (pp * chunks):
        reasons.append(f"layers {model.layers} are not divisible by pp·virtual_stages = "
                       f"{pp}·{chunks} = {pp * chunks}")
    else:
        per = model.layers // (pp * chunks)
        stage_layers = _assign([[per] * chunks for _ in range(pp)], pp, chunks)

    micro_batch, micro_batches = 1, 1
    wl = sc.workload
    if isinstance(wl, TrainingWorkload):
        micro_batch = wl.micro_batch
        if wl.global_batch % (micro_batch * dp):
            reasons.append(f"global_batch {wl.global_batch} is not divisible by "
                           f"micro_batch·dp = {micro_batch}·{dp} = {micro_batch * dp}")
        micro_batches = max(1, wl.global_batch // (micro_batch * dp))
        if plan.schedule == "interleaved" and micro_batches % pp:
            reasons.append(f"the interleaved schedule needs micro-batches per pipeline "
                           f"({micro_batches}) divisible by pp {pp}")
        if wl.seq_len % cp:
            reasons.append(f"seq_len {wl.seq_len} is not divisible by cp {cp}")
        elif cp > 1 and not model.encoder and wl.seq_len % (2 * cp):
            # the causal work is balanced by 2·cp chunks, rank i taking i and 2·cp−1−i
            # (megatron-core get_batch_on_this_cp_rank), which the half-work model assumes
            reasons.append(f"seq_len {wl.seq_len} is not divisible by 2·cp = {2 * cp}: causal "
                           f"context parallelism splits the sequence into 2·cp chunks")
        if model.position == "learned" and wl.seq_len > model.max_seq_len:
            reasons.append(f"seq_len {wl.seq_len} exceeds the model's learned positions "
                           f"(max_seq_len {model.max_seq_len})")
        if plan.sp and wl.seq_len * micro_batch % tp:
            reasons.append(f"sequence parallelism needs micro_batch·seq_len divisible by tp {tp}")
    if reasons:
        return None, reasons
    layout = Layout(dp=dp, tp=tp, pp=pp, cp=cp, ep=ep, chunks=chunks, micro_batch=micro_batch,
                    micro_batches=micro_batches,
                    stage_layers=tuple(tuple(c) for c in stage_layers))
    return layout, []


def _assign(per_stage_chunk: list[list[int]], pp: int, chunks: int
            ) -> list[list[tuple[int, ...]]]:
    """Layer indices per (stage, chunk): chunk c of stage s holds model chunk c·pp + s."""
    out: list[list[tuple[int, ...]]] = [[() for _ in range(chunks)] for _ in range(pp)]
    nxt = 0
    for c in range(chunks):
        for s in range(pp):
            n = per_stage_chunk[s][c]
            out[s][c] = tuple(range(nxt, nxt + n))
            nxt += n
    return out
