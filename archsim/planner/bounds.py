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

    def _collective(self, kind: str, nbytes: float, group: CommGroup) -> float:
        # groups of one pool differ only in size and ranks per node
        key = (kind, nbytes, group.size, group.per_node)
        got = self._comm.get(key)
        if got is None:
            got = self._comm[key] = collective_time(kind, nbytes, group).time_s
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
        dp_group = _groups(self.pool, _layout(c))["dp"]
        dp_kind = "allreduce" if c.zero == 0 else "reducescatter"
        every = model.moe.every if model.moe is not None else 0
        cache = self._chunks
        base_key = (c.tp, c.cp, c.ep, c.sp, c.micro_batch, c.recompute, c.dp, c.zero,
                    per_chunk, p > 1)

        def chunk(s: int, ck: int) -> _Chunk:
            k = ck * p + s  # model chunk index (archsim.plan.layout._assign)
            first, last = k * per_chunk, (k + 1) * per_chunk
            n_moe = (last // every - first // every) if every else 0
            key = (*base_key, n_moe, model.is_moe_layer(first), s == 0 and ck == 0,
                   s == p - 1 and ck == v - 1)
            got = cache.get(key)
            if got is None:
                got = cache[key] = self._chunk(c, prof, per_chunk - n_moe, n_moe, *key[-3:],
                                               dp_group, dp_kind, dp_shard, overlap)
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
            opt = compute_time(optimizer_op(local, wl.optimizer, wl.dtype), self.device)
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

    def _chunk(self, c: Candidate, prof: _Profile, n_dense: int, n_moe: int, first_moe: bool,
               embed: bool, head: bool, dp_group: CommGroup, dp_kind: str, dp_shard: int,
               overlap: bool) -> _Chunk:
        e, wl = self.e, self.sc.workload
        parts_f = [(prof.fwd.get(False), n_dense), (prof.fwd.get(True), n_moe)]
        parts_b = [(prof.bwd.get(False), n_dense), (prof.bwd.get(True), n_moe)]
        if embed:
            parts_f.append((prof.embed_fwd, 1))
            parts_b.append((prof.embed_bwd, 1))
        if head:
            parts_f.append((prof.head_fwd, 1))
            parts_b.append((prof.head_bwd, 1))
        f_comp = sum(x.compute * n for x, n in parts_f if n)
        f_comm = sum(x.comm * n for x, n in parts_f if n)
        b_comp = sum(x.compute * n for x, n in parts_b if n)
        b_comm = sum(x.comm * n for x, n in parts_b if n)
        rec = sum(x.recompute * n for x, n in parts_b if n)
        layer_params = {moe: prof.fwd[moe].params for moe in prof.fwd}
        params = sum(x.params * n for x, n in parts_f if n)
        head_params = prof.head_fwd.params
        if head and self.sc.model.tied_embeddings and c.pp > 1:
            copy = self.sc.model.vocab * self.sc.model.hidden / c.tp
            params += copy
            head_params += copy
        act = sum(x.saved * n for x, n in parts_f if n)
        working = max((prof.fwd[moe].working for moe, n in ((False, n_dense), (True, n_moe))
                       if n), default=0.0)
        b_comp += compute_time(grad_accumulate_op(params, wl.dtype), self.device)

        buckets = last_bucket = 0.0
        if dp_shard > 1:
            def t(nbytes: float) -> float:
                return self._collective(dp_kind, nbytes, dp_group)

            buckets = ((n_dense * t(e * layer_params[False]) if n_dense else 0.0)
                       + (n_moe * t(e * layer_params[True]) if n_moe else 0.0)
                       + (t(e * head_params) if head else 0.0)
                       + (t(e * prof.embed_fwd.params) if embed else 0.0))
            last_bucket = (t(e * prof.embed_fwd.params) if embed
                           else t(e * layer_params[first_moe]))

        fwd_s = f_comp + f_comm
        bwd_s = b_comp + b_comm + rec
        comm = f_comm + b_comm
        if c.zero >= 3 and dp_shard > 1:
            gather = self._collective("allgather", e * params, dp_group)
            if overlap:
                comm += max(0.0, gather - fwd_s) + max(0.0, gather - bwd_s)
                fwd_s, bwd_s = max(fwd_s, gather), max(bwd_s, gather)
            else:
                comm += 2 * gather
                fwd_s, bwd_s = fwd_s + gather, bwd_s + gather
        if c.zero >= 2 and not overlap and dp_shard > 1:
            bwd_s += buckets  # blocking reduce-scatter after every micro-batch's backward
            comm += buckets
        return _Chunk(fwd_s=fwd_s, bwd_s=bwd_s, compute_s=f_comp + b_comp, recompute_s=rec,
                      comm_s=comm, params=params, act_bytes=act, working_bytes=working,
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
