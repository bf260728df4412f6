"""Training execution plan: per (stage, chunk) task times, transfers, gradient reduction, memory.

Symmetry: the members of a tensor-parallel group and the data-parallel replicas do identical
work, so one representative rank per pipeline stage is costed; its collectives are costed for
the whole group. Layers of the same kind share one costed template.

Where each part of a task's time goes:
* forward task  = Σ op compute + tensor/context/expert-parallel collectives (blocking, as in
  Megatron-LM) [+ ZeRO-3 parameter all-gathers, hidden behind compute when overlap_comm]
* backward task = backward ops + their collectives + recomputation (full: the whole forward
  of the chunk again; selective: the attention core's forward)
* after the last backward of a chunk: data-parallel gradient reduction, per layer bucket
  (overlapped with the remaining backward when overlap_comm), then the optimizer step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from archsim.cost.comm import CommGroup, collective_time, group_in_pool, p2p_time
from archsim.cost.compute import compute_time
from archsim.cost.memory import ModelStates, model_state_bytes
from archsim.graph.ops import Op
from archsim.graph.transformer import (
    Shape,
    backward_ops,
    embedding_forward,
    grad_accumulate_op,
    head_forward,
    layer_forward,
    optimizer_op,
)
from archsim.plan.compress import Compression
from archsim.plan.layout import Layout
from archsim.spec.hardware import DeviceSpec, PoolSpec
from archsim.spec.model import ModelSpec
from archsim.spec.scenario import ScenarioSpec
from archsim.spec.units import BYTES_PER_ELEMENT

COMM_KINDS = ("allreduce", "allgather", "reducescatter", "alltoall", "p2p")


@dataclass
class PhaseCost:
    """Time of a run of ops on one rank, split into compute and blocking communication."""

    compute_s: float = 0.0
    comm_s: float = 0.0
    flops: float = 0.0
    """Nominal FLOPs of the matrix ops (the convention of MFU/HFU)."""
    comm_by_kind: dict[str, list[float]] = field(default_factory=dict)
    """kind → [time_s, bytes] of blocking collectives."""
    algorithms: dict[str, str] = field(default_factory=dict)

    @property
    def time_s(self) -> float:
        return self.compute_s + self.comm_s

    def add(self, other: PhaseCost, times: float = 1.0) -> None:
        self.compute_s += other.compute_s * times
        self.comm_s += other.comm_s * times
        self.flops += other.flops * times
        for kind, (t, b) in other.comm_by_kind.items():
            acc = self.comm_by_kind.setdefault(kind, [0.0, 0.0])
            acc[0] += t * times
            acc[1] += b * times
        self.algorithms.update(other.algorithms)

    def scaled(self, times: float) -> PhaseCost:
        out = PhaseCost()
        out.add(self, times)
        return out


@dataclass
class ChunkCost:
    """One model chunk on one pipeline stage, for one micro-batch."""

    stage: int
    chunk: int
    layers: tuple[int, ...]
    fwd: PhaseCost
    bwd: PhaseCost
    recompute_s: float
    act_bytes: float
    """Activation bytes kept from this chunk's forward until its backward (one micro-batch)."""
    working_bytes: float
    """Transient bytes during its backward (recomputed activations, gradient buffers)."""
    params: float
    grad_buckets: list[float]
    """Gradient bytes per bucket in the order backward produces them (last layer first)."""
    model_flops: float
    """Model FLOPs of forward + backward for one micro-batch (no recomputation)."""
    zero3_gather_s: float = 0.0


@dataclass
class TrainingPlan:
    scenario: ScenarioSpec
    layout: Layout
    pool: PoolSpec
    chunks: list[list[ChunkCost]]
    p2p_fwd_s: list[float]
    """Send time of one micro-batch's activations from stage s to s+1 (index s)."""
    p2p_bwd_s: list[float]
    p2p_bytes: float
    p2p_link: str
    dp_group: CommGroup
    dp_kind: str
    bucket_times: list[list[list[float]]]
    """stage → chunk → time of each gradient bucket's data-parallel reduction."""
    dp_reduce_per_microbatch: bool
    optimizer_s: list[float]
    param_gather_s: list[float]
    """ZeRO-1/2: all-gather of updated parameters after the optimizer step, per stage."""
    embedding_sync_s: float
    states: list[ModelStates]
    algorithms: dict[str, str]
    tp_group: CommGroup

    @property
    def device(self) -> DeviceSpec:
        return self.pool.device


def _groups(pool: PoolSpec, layout: Layout) -> dict[str, CommGroup]:
    return {
        "tp": group_in_pool(pool, layout.tp, 1),
        "cp": group_in_pool(pool, layout.cp, layout.tp),
        "ep": group_in_pool(pool, layout.ep, layout.tp * layout.cp),
        "dp": group_in_pool(pool, layout.dp * layout.cp, layout.tp),
    }


def cost_ops(ops: Sequence[Op], device: DeviceSpec, groups: dict[str, CommGroup]
             ) -> PhaseCost:
    """Compute and blocking-communication time of ``ops`` run in order on one rank.

    An overlappable collective (ring attention's K/V exchange) is hidden behind the next
    compute op; only what exceeds it is exposed.
    """
    cost = PhaseCost()
    pending_overlap, pending_kind = 0.0, "allgather"
    for op in ops:
        if op.kind == "comm":
            assert op.comm is not None
            c = collective_time(op.comm.kind, op.comm.bytes, groups[op.comm.group])
            if op.comm.overlappable:
                pending_overlap += c.time_s
                pending_kind = op.comm.kind
                exposed = 0.0
            else:
                exposed = c.time_s
            cost.comm_s += exposed
            acc = cost.comm_by_kind.setdefault(op.comm.kind, [0.0, 0.0])
            acc[0] += exposed
            acc[1] += op.comm.bytes
            cost.algorithms[f"{op.comm.group}.{op.comm.kind}"] = c.algorithm
            continue
        t = compute_time(op, device)
        if pending_overlap:
            extra = max(0.0, pending_overlap - t)
            cost.comm_s += extra
            # charged to the collective's own kind (ring attention's K/V all-gather in the
            # forward pass is a reduce-scatter of their gradients in the backward pass)
            cost.comm_by_kind.setdefault(pending_kind, [0.0, 0.0])[0] += extra
            pending_overlap = 0.0
        cost.compute_s += t
        if op.is_matmul:
            cost.flops += op.flops
    return cost


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


def training_shape(sc: ScenarioSpec, layout: Layout,
                   compression: Compression | None = None) -> Shape:
    wl = sc.workload
    extra = compression.shape_fields if compression is not None else {}
    return Shape(batch=layout.micro_batch, seq=wl.seq_len // layout.cp, kv_seq=wl.seq_len,
                 tp=layout.tp, sp=sc.plan.sp, cp=layout.cp, ep=layout.ep,
                 flash=sc.plan.flash_attention, dtype=wl.dtype, causal=not sc.model.encoder,
                 dropout=sc.model.dropout > 0, training=True, **extra)


def _saved(ops: Sequence[Op], recompute: str) -> float:
    if recompute == "selective":
        # selective recomputation drops the s×s tensors (softmax output, dropout mask/output)
        return sum(op.saved_bytes for op in ops
                   if not (op.attention_core and op.kind in ("softmax", "elementwise")))
    return sum(op.saved_bytes for op in ops)


def build_training_plan(sc: ScenarioSpec, layout: Layout,
                        compression: Compression | None = None) -> TrainingPlan:
    """Cost every (stage, chunk) of ``sc`` under ``layout`` on the cluster's first pool.

    ``compression`` (from archsim.plan.compress) changes GEMM dtypes and weight bytes; its
    pruned model must already be ``sc.model``."""
    pool = sc.cluster.pools[0]
    device = pool.device
    model, plan, wl = sc.model, sc.plan, sc.workload
    groups = _groups(pool, layout)
    shape = training_shape(sc, layout, compression)
    e = BYTES_PER_ELEMENT[wl.dtype]
    algorithms: dict[str, str] = {}

    layer_cost: dict[bool, tuple[PhaseCost, PhaseCost, PhaseCost, float, float, float, float]] = {}
    for moe_layer in {model.is_moe_layer(i) for i in range(model.layers)}:
        fwd_ops, bwd_ops = _layer_ops(model, shape, moe_layer)
        fwd = cost_ops(fwd_ops, device, groups)
        bwd = cost_ops(bwd_ops, device, groups)
        if plan.recompute == "full":
            recompute = fwd
        elif plan.recompute == "selective":
            recompute = cost_ops([op for op in fwd_ops if op.attention_core], device, groups)
        else:
            recompute = PhaseCost()
        params = sum(op.params for op in fwd_ops)
        all_saved = _saved(fwd_ops, "none")
        saved = (_input_bytes(model, shape) if plan.recompute == "full"
                 else _saved(fwd_ops, plan.recompute))
        model_flops = sum(op.flops for op in fwd_ops if op.is_matmul) * 3.0
        layer_cost[moe_layer] = (fwd, bwd, recompute, params, saved, all_saved, model_flops)
        algorithms.update(fwd.algorithms)

    embed_ops = embedding_forward(model, shape)
    head_ops = head_forward(model, shape)
    embed_f = cost_ops(embed_ops, device, groups)
    embed_b = cost_ops(backward_ops(embed_ops), device, groups)
    head_f = cost_ops(head_ops, device, groups)
    head_b = cost_ops(backward_ops(head_ops), device, groups)
    last_stage = layout.pp - 1
    grad_e = e  # gradients are reduced in the training dtype (formulas.md: 2 B per parameter)

    chunks: list[list[ChunkCost]] = []
    for s, stage_chunks in enumerate(layout.stage_layers):
        row = []
        for c, layers in enumerate(stage_chunks):
            fwd, bwd, rec = PhaseCost(), PhaseCost(), PhaseCost()
            params = act = work = mflops = 0.0
            buckets: list[float] = []
            first = s == 0 and c == 0
            last = s == last_stage and c == layout.chunks - 1
            if first:
                fwd.add(embed_f)
                params += sum(op.params for op in embed_ops)
                act += sum(op.saved_bytes for op in embed_ops)
                mflops += 3.0 * sum(op.flops for op in embed_ops if op.is_matmul)
            for layer in layers:
                lf, lb, lr, lp, ls, la, lm = layer_cost[model.is_moe_layer(layer)]
                fwd.add(lf)
                bwd.add(lb)
                rec.add(lr)
                params += lp
                act += ls
                work = max(work, la if plan.recompute == "full" else 0.0)
                mflops += lm
            if last:
                fwd.add(head_f)
                head_params = sum(op.params for op in head_ops)
                if model.tied_embeddings and layout.pp > 1:
                    head_params += model.vocab * model.hidden / layout.tp  # embedding copy
                params += head_params
                act += sum(op.saved_bytes for op in head_ops)
                mflops += sum(op.flops for op in head_ops if op.is_matmul) * 3.0
                # the loss gradient is produced first in backward: head bucket first
                bwd_head = head_b
            # backward order: head, layers from last to first, embedding
            if last:
                bwd = _prepend(bwd_head, bwd)
                buckets.append(grad_e * head_params)
            per_layer = [layer_cost[model.is_moe_layer(i)][3] for i in reversed(layers)]
            buckets.extend(grad_e * p for p in per_layer)
            if first:
                bwd.add(embed_b)
                buckets.append(grad_e * sum(op.params for op in embed_ops))
            bwd.add(rec)
            bwd.add(cost_ops([grad_accumulate_op(params, wl.dtype)], device, groups))
            zero3 = 0.0
            if plan.zero >= 3 and layout.dp_shard > 1:
                zero3 = collective_time("allgather", e * params, groups["dp"]).time_s
            row.append(ChunkCost(stage=s, chunk=c, layers=layers, fwd=fwd, bwd=bwd,
                                 recompute_s=rec.time_s, act_bytes=act, working_bytes=work,
                                 params=params, grad_buckets=buckets, model_flops=mflops,
                                 zero3_gather_s=zero3))
        chunks.append(row)

    # pipeline sends: one micro-batch's activations, split over the tensor-parallel ranks
    # (Megatron's scatter/gather optimization) and all-gathered on arrival when not SP
    act_bytes = e * layout.micro_batch * (wl.seq_len // layout.cp) * model.hidden
    p2p_bytes = act_bytes / layout.tp
    same_node = layout.stage_stride < pool.node_size
    link = pool.intra_node if same_node else pool.inter_node
    bw = None if same_node else pool.nic_bandwidth_per_device
    send = p2p_time(p2p_bytes, link, bw) if layout.pp > 1 else 0.0
    if layout.pp > 1 and layout.tp > 1 and not plan.sp:
        send += collective_time("allgather", act_bytes, groups["tp"]).time_s
    p2p_fwd = [send] * max(layout.pp - 1, 0)

    dp_group = groups["dp"]
    dp_kind = "allreduce" if plan.zero == 0 else "reducescatter"
    bucket_times = [[[collective_time(dp_kind, b, dp_group).time_s for b in ck.grad_buckets]
                     for ck in row] for row in chunks]
    for kind in (dp_kind, "allgather"):
        algorithms[f"dp.{kind}"] = collective_time(kind, 1e9, dp_group).algorithm

    states, opt_times, gathers = [], [], []
    for row in chunks:
        stage_params = sum(ck.params for ck in row)
        st = model_state_bytes(stage_params, wl.dtype, wl.optimizer, plan.zero,
                               layout.dp_shard)
        if compression is not None and compression.fp8_training:
            # Transformer Engine's fp8 copy of the weights, sharded like the weights
            fp8_copy = stage_params / (layout.dp_shard if plan.zero >= 3 else 1)
            st = ModelStates(st.weights + fp8_copy, st.gradients, st.optimizer_states)
        states.append(st)
        local = stage_params / (layout.dp_shard if plan.zero >= 1 else 1)
        opt_times.append(compute_time(optimizer_op(local, wl.optimizer, wl.dtype), device))
        gather = 0.0
        if plan.zero in (1, 2) and layout.dp_shard > 1:
            gather = collective_time("allgather", e * stage_params, dp_group).time_s
        gathers.append(gather)

    sync = 0.0
    if model.tied_embeddings and layout.pp > 1:
        # first and last stage all-reduce the shared embedding's gradient (Megatron-LM)
        emb = grad_e * model.vocab * model.hidden / layout.tp
        ends_share_node = (layout.pp - 1) * layout.stage_stride < pool.node_size
        pair = CommGroup(size=2, per_node=2 if ends_share_node else 1,
                         intra=pool.intra_node, inter=pool.inter_node,
                         nic_bandwidth=pool.nic_bandwidth_per_device)
        sync = collective_time("allreduce", emb, pair).time_s

    return TrainingPlan(
        scenario=sc, layout=layout, pool=pool, chunks=chunks, p2p_fwd_s=p2p_fwd,
        p2p_bwd_s=list(p2p_fwd), p2p_bytes=p2p_bytes,
        p2p_link=(link.name if link is not None else "none"), dp_group=dp_group,
        dp_kind=dp_kind, bucket_times=bucket_times, dp_reduce_per_microbatch=plan.zero >= 2,
        optimizer_s=opt_times, param_gather_s=gathers, embedding_sync_s=sync, states=states,
        algorithms=algorithms, tp_group=groups["tp"])


def _prepend(first: PhaseCost, rest: PhaseCost) -> PhaseCost:
    out = PhaseCost()
    out.add(first)
    out.add(rest)
    return out


def _input_bytes(model: ModelSpec, shape: Shape) -> float:
    """Full recomputation keeps only each layer's input (2·sbh bytes; /t with SP)."""
    tokens = shape.tokens / (shape.tp if shape.sp else 1)
    return shape.e * tokens * model.hidden
