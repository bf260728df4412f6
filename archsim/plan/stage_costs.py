"""Costed templates of one pipeline stage's hardware: one layer of each kind, the embedding
and the head, for one micro-batch on one representative rank.

Symmetry: the members of a tensor-parallel group and the data-parallel replicas do identical
work, so one rank is costed and its collectives are costed for the whole group. Layers of the
same kind share one template per stage hardware (pool and straggler factors); a straggler
stage (speed < 1) runs its kernels 1/speed times longer. Recomputation: full redoes the
layer's forward and keeps only its input; selective redoes the attention core and drops its
s×s tensors (Korthikanti et al. 2022).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from archsim.cost.comm import CommGroup, group_in_pool
from archsim.cost.insitu import run_device
from archsim.graph.backward import backward_ops
from archsim.graph.ops import Op
from archsim.graph.transformer import Shape, embedding_forward, head_forward, layer_forward
from archsim.plan.compress import Compression
from archsim.plan.layout import Layout
from archsim.plan.opcost import PhaseCost, cost_ops
from archsim.plan.placement import StageHardware
from archsim.plan.zero3 import layer_gather_s
from archsim.spec.hardware import PoolSpec
from archsim.spec.model import ModelSpec
from archsim.spec.scenario import ScenarioSpec


@dataclass
class LayerCost:
    fwd: PhaseCost
    bwd: PhaseCost
    recompute: PhaseCost
    params: float
    """All parameters of the layer on one rank (dense and expert)."""
    saved: float
    all_saved: float
    model_flops: float
    expert_params: float = 0.0
    """The part of ``params`` in this rank's local MoE experts (replicated only over the
    expert-data-parallel group); 0 for a dense layer."""
    gather_s: float = 0.0
    """ZeRO-3: all-gather time of the layer's parameters (archsim/plan/zero3.py); else 0."""
    gather_unit: float = 0.0
    """ZeRO-3: parameters one all-gather fetches at most (the layer; its largest weight
    tensor under ``zero3_granularity: tensor``), held in full while used."""
    gather_unit_dense: float = 0.0
    """The same without the local experts' weights: what is gathered when the expert-data-
    parallel group is one rank (its experts are neither sharded nor gathered)."""

    def unit_for(self, expert_group: int) -> float:
        return self.gather_unit if expert_group > 1 else self.gather_unit_dense

    def working_for(self, recompute: str) -> float:
        """Bytes the layer's recomputation brings back to life during its backward, beside
        the stored activations: all it saves under full recomputation; under selective, the
        attention core's s×s tensors it dropped (softmax output, dropout mask and output,
        5·a·s²·b/t bytes per Korthikanti et al. 2022 — none with a fused attention kernel);
        nothing without recomputation. Selective had counted none: GPT-3 175B at t 8, b 1,
        s 2048 holds 5·96·2048²/8 = 252 MB more while a layer's backward runs."""
        if recompute == "full":
            return self.all_saved
        if recompute == "selective":
            return max(0.0, self.all_saved - self.saved)
        return 0.0


@dataclass
class StageCosts:
    """Costed templates (one layer of each kind, embedding, head) on one stage's hardware."""

    hw: StageHardware
    groups: dict[str, CommGroup]
    layers: dict[bool, LayerCost]
    embed_f: PhaseCost
    embed_b: PhaseCost
    head_f: PhaseCost
    head_b: PhaseCost
    embed_params: float = 0.0
    head_params: float = 0.0
    """Without the tied embedding's copy on the last stage."""
    embed_saved: float = 0.0
    head_saved: float = 0.0
    """Activation bytes kept for the backward pass, per micro-batch."""
    embed_model_flops: float = 0.0
    head_model_flops: float = 0.0
    """Model FLOPs of forward + backward (3× the forward's matrix FLOPs), per micro-batch."""
    embed_gather_s: float = 0.0
    head_gather_s: float = 0.0
    """ZeRO-3: all-gather time of the embedding's / head's parameters (with the last stage's
    tied embedding copy)."""
    embed_unit: float = 0.0
    head_unit: float = 0.0
    """ZeRO-3: the largest unit the embedding's / head's gathers fetch (LayerCost.gather_unit;
    the head's without the last stage's tied embedding copy)."""


def tied_embedding_copy(model: ModelSpec, layout: Layout) -> float:
    """Parameters of the last stage's copy of a tied input embedding (Megatron-LM keeps one
    there when pp > 1 and all-reduces its gradient with the first stage's)."""
    return model.vocab * model.hidden / layout.tp if model.tied_embeddings and layout.pp > 1 \
        else 0.0


def gather_unit(params: Sequence[float], granularity: str) -> float:
    """Parameters of the largest unit a ZeRO-3 all-gather fetches from tensors of ``params``:
    all of them (``granularity`` layer) or the largest one (tensor)."""
    return max(params, default=0.0) if granularity == "tensor" else sum(params)


def rank_groups(pool: PoolSpec, layout: Layout, hw: StageHardware | None = None
                ) -> dict[str, CommGroup]:
    """The collective groups of one rank on ``pool`` in Megatron order, at the link speeds of
    ``hw`` (nominal when None): tp (stride 1), cp (stride tp), dp (the dp·cp ranks that reduce
    dense gradients, stride tp), and for MoE layers ep and edp, which split that dp·cp group
    into ep (stride tp: the ranks that exchange tokens) × edp (stride tp·ep: the dp·cp/ep ranks
    that hold the same experts and reduce their gradients). Megatron-core lays expert layers
    out as tp-ep-dp-pp (megatron/core/parallel_state.py, the expert rank generator with cp=1:
    expert_data_parallel_size = dp·cp·tp / (expert_tp·ep), expert_tp = tp here)."""
    scales = (hw.intra_scale, hw.nic_scale) if hw is not None else (1.0, 1.0)
    return {
        "tp": group_in_pool(pool, layout.tp, 1, *scales),
        "cp": group_in_pool(pool, layout.cp, layout.tp, *scales),
        "ep": group_in_pool(pool, layout.ep, layout.tp, *scales),
        "dp": group_in_pool(pool, layout.dp * layout.cp, layout.tp, *scales),
        "edp": group_in_pool(pool, expert_dp(layout), layout.tp * layout.ep, *scales),
    }


def expert_dp(layout: Layout) -> int:
    """Ranks of the expert-data-parallel group: dp·cp/ep (layout checks that ep divides
    dp·cp), the ranks that hold the same experts."""
    return max(1, layout.dp_shard // layout.ep)


@lru_cache(maxsize=1024)
def _layer_ops(model: ModelSpec, shape: Shape, moe_layer: bool) -> tuple[list[Op], list[Op]]:
    layer = _first_layer_of_kind(model, moe_layer)
    fwd = layer_forward(model, shape, layer)
    return fwd, backward_ops(fwd)


def _first_layer_of_kind(model: ModelSpec, moe_layer: bool) -> int:
    for i in range(model.layers):
        if model.is_moe_layer(i) == moe_layer:
            return i
    return 0


def training_shape(sc: ScenarioSpec, layout: Layout | None = None,
                   compression: Compression | None = None) -> Shape:
    """One rank's problem size for a training micro-batch under ``layout``'s degrees (default:
    the degrees ``sc`` asks for, even when they do not divide)."""
    wl, plan = sc.workload, sc.plan
    extra = compression.shape_fields if compression is not None else {}
    micro_batch, tp, cp, ep = ((layout.micro_batch, layout.tp, layout.cp, layout.ep)
                               if layout is not None else
                               (wl.micro_batch, plan.tp, plan.cp, plan.ep))
    return Shape(batch=micro_batch, seq=wl.seq_len // cp, kv_seq=wl.seq_len,
                 tp=tp, sp=plan.sp, cp=cp, ep=ep,
                 flash=sc.plan.flash_attention, dtype=wl.dtype, causal=not sc.model.encoder,
                 dropout=sc.model.dropout > 0, training=True,
                 tp_overlap=sc.plan.tp_comm_overlap and plan.sp,
                 moe_grouped=sc.plan.moe_grouped_gemm, **extra)


def saved_activation_bytes(ops: Sequence[Op], recompute: str) -> float:
    """Bytes ``ops`` keep for the backward pass under ``recompute`` (none / selective)."""
    if recompute == "selective":
        # selective recomputation drops the s×s tensors (softmax output, dropout mask/output)
        return sum(op.saved_bytes for op in ops
                   if not (op.attention_core and op.kind in ("softmax", "elementwise")))
    return sum(op.saved_bytes for op in ops)


def stage_costs(sc: ScenarioSpec, layout: Layout, shape: Shape, hw: StageHardware
                ) -> StageCosts:
    """Cost one layer of each kind, the embedding and the head on ``hw``."""
    model, plan = sc.model, sc.plan
    device, speed = run_device(hw.device, plan, sc.workload), hw.speed
    groups = rank_groups(hw.pool, layout, hw)
    gathering = plan.zero >= 3 and layout.dp_shard > 1

    def gather_s(ops: list[Op], extra: float = 0.0) -> float:
        if not gathering:
            return 0.0
        return layer_gather_s(ops, shape.e, groups["dp"], groups["edp"],
                              lambda op: _EXPERT_OP.match(op.name) is not None,
                              plan.zero3_granularity, extra)

    def unit(ops: list[Op], experts: bool = True) -> float:
        return gather_unit([op.params for op in ops
                            if experts or _EXPERT_OP.match(op.name) is None],
                           plan.zero3_granularity)

    layers: dict[bool, LayerCost] = {}
    for moe_layer in {model.is_moe_layer(i) for i in range(model.layers)}:
        fwd_ops, bwd_ops = _layer_ops(model, shape, moe_layer)
        fwd = cost_ops(fwd_ops, device, groups).slowed(speed)
        bwd = cost_ops(bwd_ops, device, groups).slowed(speed)
        if plan.recompute == "full":
            recompute = fwd
        elif plan.recompute == "selective":
            recompute = cost_ops([op for op in fwd_ops if op.attention_core], device,
                                 groups).slowed(speed)
        else:
            recompute = PhaseCost()
        saved = (_input_bytes(model, shape) if plan.recompute == "full"
                 else saved_activation_bytes(fwd_ops, plan.recompute))
        dense, expert = split_expert_params(model, fwd_ops, layout.ep)
        layers[moe_layer] = LayerCost(
            fwd=fwd, bwd=bwd, recompute=recompute, params=dense + expert,
            saved=saved, all_saved=saved_activation_bytes(fwd_ops, "none"),
            model_flops=sum(op.flops * op.model_share for op in fwd_ops if op.is_matmul) * 3.0,
            expert_params=expert, gather_s=gather_s(fwd_ops), gather_unit=unit(fwd_ops),
            gather_unit_dense=unit(fwd_ops, experts=False))
    embed_ops = embedding_forward(model, shape)
    head_ops = head_forward(model, shape)
    return StageCosts(
        hw=hw, groups=groups, layers=layers,
        embed_f=cost_ops(embed_ops, device, groups).slowed(speed),
        embed_b=cost_ops(backward_ops(embed_ops), device, groups).slowed(speed),
        head_f=cost_ops(head_ops, device, groups).slowed(speed),
        head_b=cost_ops(backward_ops(head_ops), device, groups).slowed(speed),
        embed_params=sum(op.params for op in embed_ops),
        head_params=sum(op.params for op in head_ops),
        embed_saved=sum(op.saved_bytes for op in embed_ops),
        head_saved=sum(op.saved_bytes for op in head_ops),
        embed_model_flops=3.0 * sum(op.flops for op in embed_ops if op.is_matmul),
        head_model_flops=sum(op.flops for op in head_ops if op.is_matmul) * 3.0,
        embed_gather_s=gather_s(embed_ops),
        head_gather_s=gather_s(head_ops, tied_embedding_copy(model, layout)),
        embed_unit=unit(embed_ops), head_unit=unit(head_ops))


_EXPERT_OP = re.compile(r"^L\d+\.e(\d+)\.")
"""Names of the ops of local expert x (archsim/graph/transformer.py: ``L<layer>.e<x>.fc1``)."""


def split_expert_params(model: ModelSpec, ops: Sequence[Op], ep: int) -> tuple[float, float]:
    """(dense, expert) parameters of one layer's forward ``ops`` on one rank.

    The op list holds only the local experts that receive tokens (every one for training-sized
    batches); the rank still keeps the weights of all experts/ep of them, so the expert part
    is scaled from the experts listed to all local experts."""
    dense = expert = 0.0
    listed: set[str] = set()
    for op in ops:
        hit = _EXPERT_OP.match(op.name)
        if hit is None:
            dense += op.params
        else:
            expert += op.params
            listed.add(hit.group(1))
    if listed and model.moe is not None:
        local = max(model.moe.experts // ep, 1)
        if len(listed) != local:
            expert *= local / len(listed)
    return dense, expert


def _input_bytes(model: ModelSpec, shape: Shape) -> float:
    """Full recomputation keeps only each layer's input (2·sbh bytes; /t with SP)."""
    tokens = shape.tokens / (shape.tp if shape.sp else 1)
    return shape.e * tokens * model.hidden
