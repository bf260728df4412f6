"""Cheap lower bounds on a candidate's step time and memory per device, used to prune.

Both bounds cost the same ops with the same functions as the engine (the op lists of
``archsim.graph.transformer``, ``cost_ops`` / ``collective_time`` / ``compute_time`` and the
engine's own grouping and activation-accounting helpers in ``archsim.plan.training``), but
once per distinct layer shape instead of once per plan, and replace the discrete-event run by
closed forms that can only under-estimate it:

* **memory** — model states of the first and last pipeline stage per ZeRO stage
  (Rajbhandari et al. 2020: weights, gradients and Adam states sharded over dp·cp), plus the
  activations of the micro-batches a schedule must hold at its first backward pass
  (1F1B: min(p − s, m) on stage s; GPipe: m; interleaved: its warm-up count + 1, each at the
  smallest chunk's bytes), plus the runtime reserve. Exact for 1F1B and GPipe.
* **time** — per-task durations (compute + blocking tensor/context/expert-parallel
  collectives + recomputation, ZeRO-3 gathers and per-micro-batch gradient reduction where
  they block) then three facts of any pipeline schedule:
  (1) a stage runs its m·v tasks one after another;
  (2) the last stage's first forward waits for the first micro-batch's chunk-0 forwards on
      the p − 1 stages before it (pipeline fill), and after the last stage's final task (the
      last micro-batch's chunk-0 backward) that backward still has to pass through the
      p − 1 stages before it (pipeline drain);
  (3) after its last backward a stage still waits for the gradient reduction that cannot be
      hidden (the last bucket when overlapped, all of it when not), steps its optimizer and,
      with ZeRO-1/2 and no overlap, all-gathers the updated parameters.
  Point-to-point sends, the tied-embedding gradient sync and waits between tasks are left
  out, which is why it is a *lower* bound: ``step_time_lb ≤`` the simulated step time.

The bound is split into compute, recomputation, communication, bubble and optimizer parts so
that archsim.planner.why can say which part made a pruned plan lose.
"""

from __future__ import annotations

from dataclasses import dataclass

from archsim.cost.comm import CommGroup, collective_time
from archsim.cost.compute import compute_time
from archsim.cost.memory import ModelStates, model_state_bytes
from archsim.graph.transformer import (
    backward_ops,
    embedding_forward,
    grad_accumulate_op,
    head_forward,
    layer_forward,
    optimizer_op,
)
from archsim.plan.compress import resolve_compression
from archsim.plan.layout import Layout

# The engine's own helpers: the bound must group ranks and count saved activations exactly as
# the simulation does, or it stops being a bound.
from archsim.plan.training import (
    _first_layer_of_kind,
    _groups,
    _input_bytes,
    _saved,
    cost_ops,
    training_shape,
)
from archsim.planner.space import Candidate, scenario_for
from archsim.spec.hardware import PoolSpec
from archsim.spec.scenario import ScenarioSpec
from archsim.spec.units import BYTES_PER_ELEMENT


@dataclass(frozen=True, slots=True)
class OpsCost:
    """Compute, blocking communication and recomputation of a run of ops on one rank."""

    compute: float = 0.0
    comm: float = 0.0
    recompute: float = 0.0
    params: float = 0.0
    saved: float = 0.0
    working: float = 0.0


@dataclass(frozen=True, slots=True)
class _Profile:
    """Per-micro-batch costs of one layer kind and of the embedding / head, for one shape."""

    fwd: dict[bool, OpsCost]
    """MoE layer? → forward cost of one layer."""
    bwd: dict[bool, OpsCost]
    embed_fwd: OpsCost
    embed_bwd: OpsCost
    head_fwd: OpsCost
    head_bwd: OpsCost


@dataclass(frozen=True, slots=True)
class _Block:
    """One chunk's layers (with embedding / head) for one micro-batch, before data-parallel
    communication: task times, parts, state and gradient-bucket sizes."""

    fwd_s: float
    bwd_s: float
    compute_s: float
    recompute_s: float
    comm_s: float
    params: float
    act_bytes: float
    working_bytes: float
    buckets: tuple[tuple[int, float], ...]
    """(count, bytes) of the gradient buckets."""
    last_bucket_bytes: float


@dataclass(frozen=True, slots=True)
class _Chunk:
    fwd_s: float
    bwd_s: float
    compute_s: float
    recompute_s: float
    comm_s: float
    """Per micro-batch: compute (without recomputation), recomputation, blocking comm."""
    params: float
    act_bytes: float
    working_bytes: float
    buckets_s: float
    """Data-parallel reduction time of all this chunk's gradient buckets."""
    last_bucket_s: float
    """... of the bucket produced last (embedding on stage 0, else the chunk's first layer)."""


@dataclass(frozen=True)
class PlanBound:
    """Lower bounds for one candidate; ``parts`` add up to ``step_time_s``."""

    step_time_s: float
    memory_bytes: float
    capacity_bytes: float
    parts: dict[str, float]
    """compute_s, recompute_s, comm_s, bubble_s, optimizer_s of the bounding expression."""
    memory_parts: dict[str, float]

    @property
    def fits(self) -> bool:
        return self.memory_bytes <= self.capacity_bytes


class Bounder:
    """Lower bounds for candidates of one homogeneous scenario (caches per layer shape)."""

    def __init__(self, sc: ScenarioSpec, pool: PoolSpec | None = None):
        self.pool = pool or sc.cluster.pools[0]
        self.device = self.pool.device
        self.compression = resolve_compression(sc, self.device)
        if self.compression.model is not sc.model:  # structured pruning: a smaller model
            sc = sc.model_copy(update={"model": self.compression.model})
        self.sc = sc
        self.e = BYTES_PER_ELEMENT[sc.workload.dtype]
        self._profiles: dict[tuple, _Profile] = {}
        self._comm: dict[tuple, float] = {}
        self._chunks: dict[tuple, _Chunk] = {}
        self._blocks: dict[tuple, _Block] = {}
        self._dp_groups: dict[tuple, CommGroup] = {}
        self._optimizer: dict[float, float] = {}

    def _collective(self, kind: str, nbytes: float, group: CommGroup) -> float:
        # groups of one pool differ only in size and ranks per node
        key = (kind, nbytes, group.size, group.per_node)
        got = self._comm.get(key)
        if got is None:
            got = self._comm[key] = collective_time(kind, nbytes, group).time_s
        return got

    def _dp_group(self, c: Candidate) -> CommGroup:
        key = (c.tp, c.cp, c.dp)
        got = self._dp_groups.get(key)
        if got is None:
            got = self._dp_groups[key] = _groups(self.pool, _layout(c))["dp"]
        return got

    def _optimizer_s(self, local_params: float) -> float:
        got = self._optimizer.get(local_params)
        if got is None:
            wl = self.sc.workload
            got = self._optimizer[local_params] = compute_time(
                optimizer_op(local_params, wl.optimizer, wl.dtype), self.device)
        return got

    # ------------------------------------------------------------------ per-shape costs
    def _profile(self, c: Candidate) -> _Profile:
        key = (c.tp, c.cp, c.ep, c.sp, c.micro_batch, c.recompute)
        prof = self._profiles.get(key)
        if prof is None:
            prof = self._profiles[key] = self._build_profile(c)
        return prof

    def _build_profile(self, c: Candidate) -> _Profile:
        sc = scenario_for(self.sc, c)
        layout = _layout(c)
        shape = training_shape(sc, layout, self.compression)
        groups = _groups(self.pool, layout)
        device, model = self.device, sc.model
        fwd: dict[bool, OpsCost] = {}
        bwd: dict[bool, OpsCost] = {}
        for moe in {model.is_moe_layer(i) for i in range(model.layers)}:
            f_ops = layer_forward(model, shape, _first_layer_of_kind(model, moe))
            f = cost_ops(f_ops, device, groups)
            b = cost_ops(backward_ops(f_ops), device, groups)
            if c.recompute == "full":
                rec = f.time_s
                saved = _input_bytes(model, shape)
                working = _saved(f_ops, "none")
            elif c.recompute == "selective":
                rec = cost_ops([op for op in f_ops if op.attention_core], device,
                               groups).time_s
                saved, working = _saved(f_ops, "selective"), 0.0
            else:
                rec, saved, working = 0.0, _saved(f_ops, "none"), 0.0
            fwd[moe] = OpsCost(compute=f.compute_s, comm=f.comm_s,
                               params=sum(op.params for op in f_ops), saved=saved,
                               working=working)
            bwd[moe] = OpsCost(compute=b.compute_s, comm=b.comm_s, recompute=rec)
        e_ops, h_ops = embedding_forward(model, shape), head_forward(model, shape)
        return _Profile(
            fwd=fwd, bwd=bwd,
            embed_fwd=_ops_cost(e_ops, device, groups, params=True),
            embed_bwd=_ops_cost(backward_ops(e_ops), device, groups),
            head_fwd=_ops_cost(h_ops, device, groups, params=True),
            head_bwd=_ops_cost(backward_ops(h_ops), device, groups))

    # ------------------------------------------------------------------ per-candidate
    def bound(self, c: Candidate) -> PlanBound:
        """Lower bounds on step time and on the peak memory per device of ``c``."""
        sc, e = self.sc, self.e
        wl, model = sc.workload, sc.model
        overlap = sc.plan.overlap_comm
        prof = self._profile(c)
        p, v = c.pp, c.chunks
        m = wl.global_batch // (c.micro_batch * c.dp)
        per_chunk = model.layers // (p * v)
        dp_shard = c.dp * c.cp
        dp_group = self._dp_group(c)
        dp_kind = "allreduce" if c.zero == 0 else "reducescatter"
        every = model.moe.every if model.moe is not None else 0
        cache = self._chunks
        block_key = (c.tp, c.cp, c.ep, c.sp, c.micro_batch, c.recompute, per_chunk, p > 1)
        base_key = (*block_key, c.dp, c.zero)

        def chunk(s: int, ck: int) -> _Chunk:
            k = ck * p + s  # model chunk index (archsim.plan.layout._assign)
            first, last = k * per_chunk, (k + 1) * per_chunk
            n_moe = (last // every - first // every) if every else 0
            key = (*base_key, n_moe, model.is_moe_layer(first), s == 0 and ck == 0,
                   s == p - 1 and ck == v - 1)
            got = cache.get(key)
            if got is None:
                block = self._block(c, prof, (*block_key, *key[-4:]), per_chunk - n_moe,
                                    n_moe, *key[-3:])
                got = cache[key] = self._chunk(c, block, dp_group, dp_kind, dp_shard,
                                               overlap)
            return got

        def stage(s: int) -> list[_Chunk]:
            return [chunk(s, ck) for ck in range(v)]

        first_stage, last_stage = stage(0), stage(p - 1)
        # fill / drain: chunk 0 of stages 0 .. p-2 (all alike but the first in a dense model)
        hops = ([chunk(s, 0) for s in range(p - 1)] if every or p < 3
                else [chunk(0, 0)] + [chunk(1, 0)] * (p - 2))
        fill = sum(x.fwd_s for x in hops)
        drain = sum(x.bwd_s for x in hops)

        def work(chunks: list[_Chunk]) -> float:
            return m * sum(x.fwd_s + x.bwd_s for x in chunks)

        def tail(chunks: list[_Chunk]) -> tuple[float, float]:
            """(exposed data-parallel communication, optimizer) after the last backward."""
            params = sum(x.params for x in chunks)
            local = params / (dp_shard if c.zero >= 1 else 1)
            opt = self._optimizer_s(local)
            if dp_shard <= 1:
                return 0.0, opt
            if overlap:
                comm = chunks[0].last_bucket_s  # chunk 0 runs the stage's last backward
            elif c.zero < 2:
                comm = sum(x.buckets_s for x in chunks)
            else:
                comm = 0.0  # reduced after every micro-batch, inside the backward tasks
            if c.zero in (1, 2) and not overlap:
                comm += self._collective("allgather", e * params, dp_group)
            return comm, opt

        comm0, opt0 = tail(first_stage)
        comm_l, opt_l = tail(last_stage)
        w0, wl_ = work(first_stage), work(last_stage)
        options = [
            (fill + wl_ + drain + comm0 + opt0, last_stage, fill + drain, comm0, opt0),
            (w0 + comm0 + opt0, first_stage, 0.0, comm0, opt0),
            (fill + wl_ + comm_l + opt_l, last_stage, fill, comm_l, opt_l),
        ]
        total, chunks, bubble, tail_comm, opt = max(options, key=lambda o: o[0])
        parts = {"compute_s": m * sum(x.compute_s for x in chunks),
                 "recompute_s": m * sum(x.recompute_s for x in chunks),
                 "comm_s": m * sum(x.comm_s for x in chunks) + tail_comm,
                 "bubble_s": bubble, "optimizer_s": opt}

        mem, mem_parts = 0.0, {}
        for s, chunks_s in ((0, first_stage), (p - 1, last_stage)):
            params = sum(x.params for x in chunks_s)
            states = model_state_bytes(params, wl.dtype, wl.optimizer, c.zero, dp_shard)
            if self.compression.fp8_training:  # the fp8 weight copy (archsim.plan.training)
                fp8_copy = params / (dp_shard if c.zero >= 3 else 1)
                states = ModelStates(states.weights + fp8_copy, states.gradients,
                                     states.optimizer_states)
            alive = _alive_at_first_backward(c.schedule, s, p, m, v)
            act = (alive * min(x.act_bytes for x in chunks_s)
                   + min(x.working_bytes for x in chunks_s))
            need = states.total + act + self.device.memory.reserved
            if need > mem:
                mem = need
                mem_parts = {"stage": s, "weights": states.weights,
                             "gradients": states.gradients,
                             "optimizer_states": states.optimizer_states,
                             "activations": act, "micro_batches_alive": alive}
        return PlanBound(step_time_s=total, memory_bytes=mem,
                         capacity_bytes=self.device.memory.capacity, parts=parts,
                         memory_parts=mem_parts)

    def _block(self, c: Candidate, prof: _Profile, key: tuple, n_dense: int, n_moe: int,
               first_moe: bool, embed: bool, head: bool) -> _Block:
        """The data-parallel-independent costs of one chunk's layers (cached by ``key``)."""
        got = self._blocks.get(key)
        if got is not None:
            return got
        fwd, bwd = prof.fwd, prof.bwd
        f_comp = f_comm = b_comp = b_comm = rec = params = act = working = 0.0
        for moe, n in ((False, n_dense), (True, n_moe)):
            if n:
                f, b = fwd[moe], bwd[moe]
                f_comp += n * f.compute
                f_comm += n * f.comm
                b_comp += n * b.compute
                b_comm += n * b.comm
                rec += n * b.recompute
                params += n * f.params
                act += n * f.saved
                working = max(working, f.working)
        ends = ([(prof.embed_fwd, prof.embed_bwd)] if embed else []) + \
            ([(prof.head_fwd, prof.head_bwd)] if head else [])
        for f, b in ends:
            f_comp += f.compute
            f_comm += f.comm
            b_comp += b.compute
            b_comm += b.comm
            params += f.params
            act += f.saved
        head_params = prof.head_fwd.params
        if head and self.sc.model.tied_embeddings and c.pp > 1:
            copy = self.sc.model.vocab * self.sc.model.hidden / c.tp  # the embedding copy
            params += copy
            head_params += copy
        b_comp += compute_time(grad_accumulate_op(params, self.sc.workload.dtype), self.device)
        e = self.e
        buckets = [(n, e * fwd[moe].params) for moe, n in ((False, n_dense), (True, n_moe))
                   if n]
        if head:
            buckets.append((1, e * head_params))
        if embed:
            buckets.append((1, e * prof.embed_fwd.params))
        last = e * (prof.embed_fwd.params if embed else fwd[first_moe].params)
        got = self._blocks[key] = _Block(
            fwd_s=f_comp + f_comm, bwd_s=b_comp + b_comm + rec, compute_s=f_comp + b_comp,
            recompute_s=rec, comm_s=f_comm + b_comm, params=params, act_bytes=act,
            working_bytes=working, buckets=tuple(buckets), last_bucket_bytes=last)
        return got

    def _chunk(self, c: Candidate, block: _Block, dp_group: CommGroup, dp_kind: str,
               dp_shard: int, overlap: bool) -> _Chunk:
        """``block`` with its data-parallel communication for ``c``'s dp group and ZeRO."""
        fwd_s, bwd_s, comm = block.fwd_s, block.bwd_s, block.comm_s
        buckets = last_bucket = 0.0
        if dp_shard > 1:
            t = self._collective
            buckets = sum(n * t(dp_kind, nbytes, dp_group) for n, nbytes in block.buckets)
            last_bucket = t(dp_kind, block.last_bucket_bytes, dp_group)
            if c.zero >= 3:
                gather = t("allgather", self.e * block.params, dp_group)
                if overlap:
                    comm += max(0.0, gather - fwd_s) + max(0.0, gather - bwd_s)
                    fwd_s, bwd_s = max(fwd_s, gather), max(bwd_s, gather)
                else:
                    comm += 2 * gather
                    fwd_s, bwd_s = fwd_s + gather, bwd_s + gather
            if c.zero >= 2 and not overlap:
                bwd_s += buckets  # blocking reduce-scatter after every micro-batch's backward
                comm += buckets
        return _Chunk(fwd_s=fwd_s, bwd_s=bwd_s, compute_s=block.compute_s,
                      recompute_s=block.recompute_s, comm_s=comm, params=block.params,
                      act_bytes=block.act_bytes, working_bytes=block.working_bytes,
                      buckets_s=buckets, last_bucket_s=last_bucket)


def _ops_cost(ops: list, device, groups: dict, params: bool = False) -> OpsCost:
    cost = cost_ops(ops, device, groups)
    return OpsCost(compute=cost.compute_s, comm=cost.comm_s,
                   params=sum(op.params for op in ops) if params else 0.0,
                   saved=sum(op.saved_bytes for op in ops))


def _layout(c: Candidate) -> Layout:
    return Layout(dp=c.dp, tp=c.tp, pp=c.pp, cp=c.cp, ep=c.ep, chunks=c.chunks,
                  micro_batch=c.micro_batch, micro_batches=1, stage_layers=())


def _alive_at_first_backward(schedule: str, s: int, p: int, m: int, v: int) -> int:
    """Micro-batch chunks whose forward has run when stage ``s`` starts its first backward
    (archsim.plan.schedules)."""
    if schedule == "gpipe":
        return m
    if schedule == "interleaved":
        return min((p - s - 1) * 2 + (v - 1) * p + 1, m * v)
    return min(p - s, m)
