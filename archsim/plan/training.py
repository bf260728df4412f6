"""Training execution plan: per (stage, chunk) task times, transfers, gradient reduction, memory.

One representative rank per pipeline stage, built from its stage's costed templates
(archsim/plan/stage_costs.py): stages on different pools of a heterogeneous cluster are costed
on their own devices and links (archsim/plan/placement.py).

Where each part of a task's time goes:
* forward task  = Σ op compute + tensor/context/expert-parallel collectives (blocking, as in
  Megatron-LM) [+ ZeRO-3 parameter all-gathers, hidden behind compute when overlap_comm]
* backward task = backward ops + their collectives + recomputation (full: the whole forward
  of the chunk again; selective: the attention core's forward) + the gradient-accumulation
  pass (archsim/cost/gradients.py; ``native``: (m − 1)/m of one, :func:`accumulation_passes`)
* after the last backward of a chunk: data-parallel gradient reduction, per layer bucket
  (overlapped with the remaining backward when overlap_comm), then the optimizer step. An MoE
  layer has two buckets, in backward order: its local experts' gradients, reduced over the
  expert-data-parallel group (dp·cp/ep ranks that hold the same experts; none when that is
  one rank), then the rest (attention, norms, router) over all dp·cp ranks. ZeRO shards
  expert states, gathers and optimizer work over the expert-data-parallel group likewise.
* a straggler stage (speed < 1) runs its kernels 1/speed times longer; its links run at the
  degraded bandwidth of its slowest member.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archsim.cost.comm import CommCost, CommGroup, collective_time
from archsim.cost.compute import compute_time
from archsim.cost.gradients import accumulated_params, gradient_path
from archsim.cost.insitu import factors
from archsim.cost.memory import (
    ModelStates,
    model_state_bytes,
    sharded_bytes,
    with_fp8_weight_copy,
    with_zero3_working_set,
)
from archsim.graph.backward import grad_accumulate_op, optimizer_op
from archsim.plan.compress import Compression
from archsim.plan.flows import FlowPlan, build_flow_plan
from archsim.plan.layout import Layout
from archsim.plan.links import pair_allreduce_s, same_node, stage_p2p
from archsim.plan.opcost import COMM_KINDS, PhaseCost, cost_ops, wire_bytes
from archsim.plan.placement import Placement, StageHardware, resolve_placement
from archsim.plan.stage_costs import (
    StageCosts,
    expert_dp,
    gather_unit,
    stage_costs,
    tied_embedding_copy,
    training_shape,
)
from archsim.plan.zero3 import gather_beyond_s, reducing_backward_s, task_with_gathers
from archsim.spec.device import DeviceSpec
from archsim.spec.hardware import PoolSpec
from archsim.spec.scenario import ScenarioSpec
from archsim.spec.units import BYTES_PER_ELEMENT

__all__ = ["COMM_KINDS", "ChunkCost", "PhaseCost", "TrainingPlan", "accumulation_passes",
           "build_training_plan", "cost_ops", "wire_bytes"]


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
    expert_params: float = 0.0
    """The part of ``params`` in local MoE experts."""
    end_params: float = 0.0
    """The part of ``params`` in the embedding and the head (with a tied table's copy): FP8
    training keeps no fp8 copy of them (archsim/graph/transformer.py ``unquantized``)."""
    bucket_groups: list[str] = field(default_factory=list)
    """Group that reduces each of ``grad_buckets``: 'dp' (dp·cp ranks) or 'edp' (the
    expert-data-parallel dp·cp/ep ranks)."""
    fwd_task_s: float = -1.0
    bwd_task_s: float = -1.0
    """Duration of the forward / backward task: ``fwd`` / ``bwd`` plus ZeRO-3 parameter
    gathers not hidden behind compute and compute slowed while they run (plan/zero3.py);
    default (negative): ``fwd.time_s`` / ``bwd.time_s``."""
    bwd_reduce_task_s: float = -1.0
    """The backward task during which the chunk's gradient buckets reduce (overlap_comm):
    its kernels slowed by the in-situ overlap slowdown while the reduction runs; default:
    ``bwd_task_s``."""
    zero3_gather_s: float = 0.0
    """ZeRO-3: network time of the parameter gathers of one forward plus one backward task
    (the backward's reduce-scatters sharing the network not included)."""
    zero3_gather_bytes: float = 0.0
    """ZeRO-3: buffer bytes S all-gathered per forward plus backward task (the full
    parameters, twice)."""
    zero3_gather_wire_bytes: float = 0.0
    """ZeRO-3: the bytes a rank sends for those gathers, (n−1)/n of each gather's S over its
    group of n (dense parameters over dp·cp, experts over the expert-data-parallel ranks)."""
    gather_unit: float = 0.0
    """ZeRO-3: parameters of the largest unit one of its gathers fetches (a layer, the
    embedding or the head; a weight tensor under ``zero3_granularity: tensor``)."""

    def __post_init__(self) -> None:
        if self.fwd_task_s < 0:
            self.fwd_task_s = self.fwd.time_s
        if self.bwd_task_s < 0:
            self.bwd_task_s = self.bwd.time_s
        if self.bwd_reduce_task_s < 0:
            self.bwd_reduce_task_s = self.bwd_task_s


@dataclass
class TrainingPlan:
    scenario: ScenarioSpec
    layout: Layout
    pool: PoolSpec
    """The first stage's pool (the only one on a homogeneous cluster)."""
    chunks: list[list[ChunkCost]]
    p2p_fwd_s: list[float]
    """Send time of one micro-batch's activations from stage s to s+1 (index s)."""
    p2p_bwd_s: list[float]
    """Send time of one micro-batch's gradients from stage s+1 to s (index s)."""
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
    param_gather_exposed_s: list[float]
    """The part of ``param_gather_s`` the step waits for: all of it without ``overlap_comm``;
    with it, what outlasts the next step's first micro-batch forward on the stage (Megatron-LM's
    overlapped parameter all-gather: each bucket is needed by that forward's layer), its
    kernels slowed by the in-situ overlap slowdown meanwhile. A later stage also idles while
    the pipeline fills; that window is not counted (stage 0, which has none, sets the step
    when the stages are balanced)."""
    embedding_sync_s: float
    states: list[ModelStates]
    algorithms: dict[str, str]
    tp_group: CommGroup
    stages: tuple[StageHardware, ...] = ()
    """The hardware of each stage (pool, straggler factors)."""
    p2p_wrap_s: tuple[float, float] | None = None
    """Interleaved schedule, last stage → first stage (forward, backward); None: as stage 0→1."""
    embedding_sync_bytes: float = 0.0
    """Bytes of the tied embedding's gradient all-reduced between the first and last stage."""
    p2p_links: list[str] = field(default_factory=list)
    """Link name of each stage boundary s → s+1."""
    network_model: str = "analytic"
    flows: FlowPlan | None = None
    """Transfers as flows over named resources (network_model 'flow' only)."""
    edp_group: CommGroup | None = None
    """The expert-data-parallel group (dp·cp/ep ranks) that reduces MoE expert gradients."""

    @property
    def device(self) -> DeviceSpec:
        return self.pool.device

    def stage_device(self, s: int) -> DeviceSpec:
        return self.stages[s].device if self.stages else self.pool.device


def build_training_plan(sc: ScenarioSpec, layout: Layout,
                        compression: Compression | None = None,
                        placement: Placement | None = None) -> TrainingPlan:
    """Cost every (stage, chunk) of ``sc`` under ``layout``, each stage on its own pool.

    ``compression`` (from archsim.plan.compress) changes GEMM dtypes and weight bytes; its
    pruned model must already be ``sc.model``. ``placement`` defaults to
    :func:`~archsim.plan.placement.resolve_placement` (ValueError if it does not fit)."""
    if placement is None:
        placement, reasons = resolve_placement(sc, layout.tp * layout.cp * layout.dp)
        if placement is None:
            raise ValueError("; ".join(reasons))
    hws = placement.stages
    model, plan, wl = sc.model, sc.plan, sc.workload
    shape = training_shape(sc, layout, compression)
    e = BYTES_PER_ELEMENT[wl.dtype]
    costs: dict[tuple, StageCosts] = {}
    for hw in hws:
        if hw.key not in costs:
            costs[hw.key] = stage_costs(sc, layout, shape, hw)
    stage_cost = [costs[hw.key] for hw in hws]
    dp_kind = "allreduce" if plan.zero == 0 else "reducescatter"
    algorithms = _algorithms(stage_cost, placement.heterogeneous, dp_kind)
    last_stage = layout.pp - 1
    grads = gradient_path(plan.grad_accumulation, wl.dtype)
    grad_e = grads.reduce  # bytes per parameter the data-parallel reduction sends
    edp = expert_dp(layout)
    slowdown = max(factors(hw.device).overlap_slowdown for hw in hws)
    memo: dict[tuple[int, float, str], CommCost] = {}  # buckets repeat: one per layer

    def reduce(s: int, nbytes: float, group: str) -> CommCost:
        if layout.dp_shard <= 1:
            return CommCost(0.0, "none")
        key = (id(stage_cost[s]), nbytes, group)
        if key not in memo:
            memo[key] = collective_time(dp_kind, nbytes, stage_cost[s].groups[group])
        return memo[key]

    chunks: list[list[ChunkCost]] = []
    for s, stage_chunks in enumerate(layout.stage_layers):
        sc_s, device = stage_cost[s], hws[s].device
        row = []
        for c, layers in enumerate(stage_chunks):
            fwd, bwd, rec = PhaseCost(), PhaseCost(), PhaseCost()
            params = experts = ends = act = work = mflops = unit = 0.0
            buckets: list[float] = []
            groups: list[str] = []
            first = s == 0 and c == 0
            last = s == last_stage and c == layout.chunks - 1
            if first:
                fwd.add(sc_s.embed_f)
                params += sc_s.embed_params
                ends += sc_s.embed_params
                unit = sc_s.embed_unit
                act += sc_s.embed_saved
                mflops += sc_s.embed_model_flops
            for layer in layers:
                lc = sc_s.layers[model.is_moe_layer(layer)]
                fwd.add(lc.fwd)
                bwd.add(lc.bwd)
                rec.add(lc.recompute)
                params += lc.params
                experts += lc.expert_params
                act += lc.saved
                work = max(work, lc.working_for(plan.recompute))
                unit = max(unit, lc.unit_for(edp))
                mflops += lc.model_flops
            if last:
                fwd.add(sc_s.head_f)
                head_params = sc_s.head_params + tied_embedding_copy(model, layout)
                params += head_params
                ends += head_params
                unit = max(unit, gather_unit([sc_s.head_unit, tied_embedding_copy(model, layout)],
                                             plan.zero3_granularity))
                act += sc_s.head_saved
                mflops += sc_s.head_model_flops
                # the loss gradient is produced first in backward: head bucket first
                bwd = _prepend(sc_s.head_b, bwd)
                buckets.append(grad_e * head_params)
                groups.append("dp")
            # backward order: head, layers from last to first (an MoE layer's experts before
            # its attention), embedding
            for i in reversed(layers):
                lc = sc_s.layers[model.is_moe_layer(i)]
                if lc.expert_params and edp > 1:
                    buckets.append(grad_e * lc.expert_params)
                    groups.append("edp")
                buckets.append(grad_e * (lc.params - lc.expert_params))
                groups.append("dp")
            if first:
                bwd.add(sc_s.embed_b)
                buckets.append(grad_e * sc_s.embed_params)
                groups.append("dp")
            bwd.add(rec)
            passes = accumulation_passes(plan.grad_accumulation, layout.micro_batches)
            if grads.accumulate and passes:
                acc = accumulated_params(params, plan.zero, layout.dp_shard, experts, edp)
                bwd.add(cost_ops([grad_accumulate_op(acc, wl.dtype,
                                                     bytes_per_param=grads.accumulate)],
                                 device, sc_s.groups).slowed(hws[s].speed),
                        passes / layout.micro_batches)
            reduce_s = sum(reduce(s, b, g).time_s
                           for b, g in zip(buckets, groups, strict=True))
            tasks = _task_times(sc, layout, sc_s, layers, fwd, bwd, first, last, reduce_s,
                                slowdown)
            row.append(ChunkCost(stage=s, chunk=c, layers=layers, fwd=fwd, bwd=bwd,
                                 recompute_s=rec.compute_s, act_bytes=act, working_bytes=work,
                                 params=params, grad_buckets=buckets, model_flops=mflops,
                                 expert_params=experts, end_params=ends,
                                 bucket_groups=groups, gather_unit=unit, **tasks))
        chunks.append(row)

    # pipeline sends: one micro-batch's activations, split over the tensor-parallel ranks
    # (Megatron's scatter/gather optimization) and all-gathered on arrival when not SP
    act_bytes = e * layout.micro_batch * (wl.seq_len // layout.cp) * model.hidden
    p2p_bytes = act_bytes / layout.tp
    cluster = sc.cluster

    def send(a: int, b: int) -> tuple[CommCost, CommCost, str]:
        cost, name = stage_p2p(cluster, layout, hws[a], hws[b], p2p_bytes)
        gather = CommCost(0.0, "none")
        if layout.tp > 1 and not plan.sp:
            gather = collective_time("allgather", act_bytes, stage_cost[b].groups["tp"])
        return cost, gather, name

    sends_fwd = [send(s, s + 1) for s in range(layout.pp - 1)]
    sends_bwd = [send(s + 1, s) for s in range(layout.pp - 1)]
    p2p_fwd = [a.time_s + g.time_s for a, g, _ in sends_fwd]
    p2p_bwd = [a.time_s + g.time_s for a, g, _ in sends_bwd]
    wrap = None
    if layout.chunks > 1:  # the interleaved wrap, last stage → first (often across nodes)
        wf, wb = send(layout.pp - 1, 0), send(0, layout.pp - 1)
        wrap = (wf[0].time_s + wf[1].time_s, wb[0].time_s + wb[1].time_s)
    links = [name for _, _, name in sends_fwd]

    bucket_costs = [[[reduce(s, b, g) for b, g in zip(ck.grad_buckets, ck.bucket_groups,
                                                       strict=True)]
                     for ck in row] for s, row in enumerate(chunks)]
    bucket_times = [[[c.time_s for c in ck] for ck in row] for row in bucket_costs]

    states, opt_times, gathers, exposed_gathers = [], [], [], []
    for s, row in enumerate(chunks):
        stage_params = sum(ck.params for ck in row)
        stage_experts = sum(ck.expert_params for ck in row)
        st = model_state_bytes(stage_params, wl.dtype, wl.optimizer, plan.zero,
                               layout.dp_shard, expert_params=stage_experts,
                               expert_shard=edp, grad_bytes=grads.memory)
        if compression is not None and compression.fp8_training:
            st = with_fp8_weight_copy(st, stage_params, sum(ck.end_params for ck in row),
                                      plan.zero, layout.dp_shard, stage_experts, edp)
        if plan.zero >= 3 and layout.dp_shard > 1:
            st = with_zero3_working_set(st, max(ck.gather_unit for ck in row), e, grad_e,
                                        plan.zero3_prefetch if plan.overlap_comm else 0)
        states.append(st)
        local = (sharded_bytes(1.0, stage_params, layout.dp_shard, stage_experts, edp)
                 if plan.zero >= 1 else stage_params)
        opt_times.append(compute_time(optimizer_op(local, wl.optimizer, wl.dtype),
                                      hws[s].device) / hws[s].speed)
        gather = 0.0
        if plan.zero in (1, 2) and layout.dp_shard > 1:
            gather = _gather_s(e, stage_params, stage_experts, stage_cost[s])
        gathers.append(gather)
        exposed_gathers.append(_exposed_gather(row, gather, slowdown,
                                               min(layout.pp, layout.micro_batches))
                               if plan.overlap_comm else gather)

    sync = sync_bytes = 0.0
    if tied_embedding_copy(model, layout):
        # first and last stage all-reduce the shared embedding's gradient (Megatron-LM)
        emb = grad_e * tied_embedding_copy(model, layout)
        sync = pair_allreduce_s(cluster, layout, hws[0], hws[-1], emb)
        sync_bytes = emb

    flows = None
    if cluster.network == "flow":
        flows = build_flow_plan(hws, [(a, g) for a, g, _ in sends_fwd],
                                [(a, g) for a, g, _ in sends_bwd], bucket_costs,
                                [[(ck.fwd, ck.bwd, max(1, len(ck.layers))) for ck in row]
                                 for row in chunks],
                                cluster)
    return TrainingPlan(
        scenario=sc, layout=layout, pool=hws[0].pool, chunks=chunks, p2p_fwd_s=p2p_fwd,
        p2p_bwd_s=p2p_bwd, p2p_bytes=p2p_bytes,
        p2p_link=", ".join(dict.fromkeys(links)) if links else _local_link(hws[0].pool, layout),
        dp_group=stage_cost[0].groups["dp"], dp_kind=dp_kind, bucket_times=bucket_times,
        dp_reduce_per_microbatch=plan.zero >= 2, optimizer_s=opt_times, param_gather_s=gathers,
        param_gather_exposed_s=exposed_gathers,
        embedding_sync_s=sync, embedding_sync_bytes=sync_bytes,
        states=states, algorithms=algorithms,
        tp_group=stage_cost[0].groups["tp"], stages=hws, p2p_wrap_s=wrap, p2p_links=links,
        network_model=cluster.network, flows=flows, edp_group=stage_cost[0].groups["edp"])


def accumulation_passes(mode: str, micro_batches: int) -> int:
    """Gradient-accumulation passes a step makes over each parameter's gradient.

    ``native``: m − 1. PyTorch's autograd ``AccumulateGrad`` hands the first micro-batch's
    gradient to ``.grad`` without a copy ("steals" it when ``.grad`` is None, as after
    ``zero_grad(set_to_none=True)``, the default since PyTorch 2.0) and adds the later ones in
    place; FSDP keeps the first micro-batch's reduced shard likewise. The fp32 modes add every
    micro-batch's gradient into a zeroed fp32 buffer: m (Megatron-LM's ``main_grad.add_``,
    DeepSpeed's ``update_hp_grads``; ``fp32-fused`` makes its m adds inside the GEMM).

    One backward task stands for all m of a chunk in the DES, so the plan spreads the m − 1
    passes evenly over them, (m − 1)/m of a pass each: the step's work is exact; only the
    first backward, which would run one pass shorter, is not."""
    return micro_batches - 1 if mode == "native" else micro_batches


def _task_times(sc: ScenarioSpec, layout: Layout, sc_s: StageCosts, layers: tuple[int, ...],
                fwd: PhaseCost,
                bwd: PhaseCost, first: bool, last: bool, reduce_s: float, slowdown: float
                ) -> dict[str, float]:
    """Task durations of one chunk (ChunkCost's ``*_task_s`` and ZeRO-3 fields): ZeRO-3
    gathers layer by layer (archsim/plan/zero3.py), and the backward whose gradients reduce
    beside it slowed by the in-situ overlap slowdown."""
    plan, model = sc.plan, sc.model
    overlap = plan.overlap_comm
    out = {"fwd_task_s": fwd.time_s, "bwd_task_s": bwd.time_s,
           "bwd_reduce_task_s": reducing_backward_s(bwd.time_s, reduce_s, slowdown)
           if overlap else bwd.time_s}
    costs = [sc_s.layers[model.is_moe_layer(i)] for i in layers]
    if not any(lc.gather_s for lc in costs) and not (sc_s.embed_gather_s or
                                                     sc_s.head_gather_s):
        return out
    extra = (sc_s.embed_gather_s if first else 0.0) + (sc_s.head_gather_s if last else 0.0)
    per_layer = [lc.fwd.time_s for lc in costs]
    nets = [lc.gather_s for lc in costs]
    f = task_with_gathers(per_layer, nets, extra, fwd.time_s - sum(per_layer),
                          plan.zero3_prefetch, overlap, slowdown)
    # backward: layers last to first, each gathered again; its gradients' reduce-scatter
    # (spread evenly over the layers) shares the network when it overlaps
    back = [lc.bwd.time_s + lc.recompute.time_s for lc in reversed(costs)]
    rs = reduce_s / len(costs) if overlap and costs else 0.0
    b = task_with_gathers(back, [n + rs for n in reversed(nets)], extra,
                          bwd.time_s - sum(back), plan.zero3_prefetch, overlap, slowdown)
    e = BYTES_PER_ELEMENT[sc.workload.dtype]
    # experts are sharded, so gathered, over the expert-data-parallel ranks only: with one
    # (ep = dp·cp) each rank holds its experts whole and gathers none of them
    keeps_experts = expert_dp(layout) <= 1
    experts = 0.0 if keeps_experts else sum(lc.expert_params for lc in costs)
    dense = sum(lc.params - lc.expert_params for lc in costs)
    if first:
        dense += sc_s.embed_params
    if last:
        dense += sc_s.head_params + tied_embedding_copy(model, layout)
    wire = (wire_bytes("allgather", 2 * e * dense, sc_s.groups["dp"].size)
            + wire_bytes("allgather", 2 * e * experts, sc_s.groups["edp"].size))
    bwd_task = max(b.duration_s, bwd.time_s)
    out.update(fwd_task_s=max(f.duration_s, fwd.time_s), bwd_task_s=bwd_task,
               bwd_reduce_task_s=bwd_task, zero3_gather_s=f.gather_s + b.gather_s - rs *
               len(costs), zero3_gather_bytes=2 * e * (dense + experts),
               zero3_gather_wire_bytes=wire)
    return out


def _exposed_gather(row: list[ChunkCost], gather_s: float, slowdown: float,
                    group: int) -> float:
    """What the next step's forward does not hide of an overlapped ZeRO-1/2 parameter
    all-gather of ``gather_s`` over the stage's chunks ``row`` (bucketed in layer order, each
    chunk's share by its parameters): chunk c's parameters are needed when its first forward
    starts, after ``group`` micro-batches of each earlier chunk (Megatron-LM's interleaved
    schedule runs the chunks in groups of pp micro-batches), and its layers' as that forward
    goes. The pipeline's fill, which delays a later stage's first forward, is not counted."""
    total = sum(ck.params for ck in row)
    if gather_s <= 0 or total <= 0:
        return gather_s
    arrived = start = worst = 0.0
    for ck in row:
        arrived += gather_s * ck.params / total
        worst = max(worst, gather_beyond_s(start + ck.fwd_task_s, arrived, slowdown))
        start += group * ck.fwd_task_s
    return worst


def _gather_s(e: float, params: float, experts: float, sc_s: StageCosts) -> float:
    """All-gather of ``params`` (ZeRO-1/2 after the step, ZeRO-3 before use): dense ones over
    the dp group, the ``experts`` among them over the expert-data-parallel group."""
    dense = collective_time("allgather", e * (params - experts), sc_s.groups["dp"]).time_s
    if not experts:
        return dense
    return dense + collective_time("allgather", e * experts, sc_s.groups["edp"]).time_s


def _local_link(pool: PoolSpec, layout: Layout) -> str:
    link = pool.intra_node if same_node(pool, layout, 1) else pool.inter_node
    return link.name if link is not None else "none"


def _algorithms(stage_cost: list[StageCosts], heterogeneous: bool, dp_kind: str
                ) -> dict[str, str]:
    """Collective → algorithm chosen (per pool when the stages' pools differ)."""
    out: dict[str, str] = {}
    for sc_s in stage_cost:
        prefix = f"{sc_s.hw.pool.name}/" if heterogeneous else ""
        for lc in sc_s.layers.values():
            for key, algo in lc.fwd.algorithms.items():
                out[prefix + key] = algo
        expert = any(lc.expert_params for lc in sc_s.layers.values()) \
            and sc_s.groups["edp"].size > 1
        for kind in (dp_kind, "allgather"):
            out[f"{prefix}dp.{kind}"] = collective_time(kind, 1e9, sc_s.groups["dp"]).algorithm
            if expert:
                out[f"{prefix}edp.{kind}"] = collective_time(kind, 1e9,
                                                             sc_s.groups["edp"]).algorithm
    return out


def _prepend(first: PhaseCost, rest: PhaseCost) -> PhaseCost:
    out = PhaseCost()
    out.add(first)
    out.add(rest)
    return out
