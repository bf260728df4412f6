"""Cheap lower bounds on a candidate's step time and memory per device, used to prune.

Both bounds start from per-layer costs computed once per layer shape and pool
(archsim.planner.profiles: the engine's op lists, cost functions and grouping) and replace the
discrete-event run by closed forms that can only under-estimate it. Given each stage's pool
and layer count:

* **memory** — model states per ZeRO stage (Rajbhandari et al. 2020: weights, gradients and
  Adam states sharded over dp·cp; MoE expert ones over the dp·cp/ep expert-DP ranks), plus
  the activations of the micro-batches the schedule holds when the stage starts its first
  backward pass (1F1B: min(p − s, m) on stage s; GPipe: m; interleaved: its warm-up count + 1,
  each at the smallest chunk's bytes), plus the runtime reserve, against the stage's own
  device. Exact for 1F1B and GPipe.
* **time** — per-task durations (compute + blocking tensor/context/expert-parallel
  collectives + recomputation, ZeRO-3 gathers and per-micro-batch gradient reduction where
  they block) and three facts of any pipeline schedule:
  (1) a stage runs its m·v tasks one after another;
  (2) the last stage's first forward waits for the first micro-batch's chunk-0 forwards on
      the p − 1 stages before it (pipeline fill), and after the last stage's final task (the
      last micro-batch's chunk-0 backward) that backward still has to pass through the
      p − 1 stages before it (pipeline drain);
  (3) after its last backward a stage still waits for the gradient reduction that cannot be
      hidden (the last bucket when overlapped, all of it when not), steps its optimizer and,
      with ZeRO-1/2 and no overlap, all-gathers the updated parameters.
  Point-to-point sends, the tied-embedding gradient sync, stragglers, input-pipeline stalls
  and waits between tasks are left out, which is why it is a *lower* bound.

When the layer split is not known in advance (heterogeneous pools, where the engine balances
layers by speed), :meth:`Bounder.split_free_bound` bounds every split at once: the slowest
stage of any split does at least m·T* of work, T* = min over real splits n_s ≥ v, Σ n_s = L
of max_s (n_s·t_s + g_s) = max(max_s (v·t_s + g_s), (L + Σ g_s/t_s) / Σ 1/t_s), with t_s one
layer's forward + backward + recomputation on stage s's pool and g_s its embedding / head
work plus one layer per earlier stage for the fill and drain, divided by m.

The bound is split into compute, recomputation, communication, bubble and optimizer parts so
that archsim.planner.why can say which part made a pruned plan lose.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from archsim.cost.comm import CommGroup
from archsim.cost.compute import compute_time
from archsim.cost.gradients import accumulated_params, gradient_path
from archsim.cost.insitu import factors
from archsim.cost.memory import (
    model_state_bytes,
    sharded_bytes,
    with_fp8_weight_copy,
    with_zero3_working_set,
)
from archsim.graph.backward import grad_accumulate_op
from archsim.plan.schedules import alive_at_first_backward
from archsim.plan.stage_costs import gather_unit
from archsim.plan.training import accumulation_passes
from archsim.planner.profiles import Profile, Profiles
from archsim.planner.space import Candidate
from archsim.spec.hardware import PoolSpec
from archsim.spec.scenario import ScenarioSpec


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
    buckets: tuple[tuple[int, float, bool], ...]
    """(count, bytes, expert?) of the gradient buckets (expert ones reduce over edp)."""
    last_bucket_bytes: float
    expert_params: float = 0.0
    end_params: float = 0.0
    """Of ``params``, the embedding's and the head's (with a tied table's copy)."""
    gathers: tuple[tuple[int, float, float, float, float], ...] = ()
    """ZeRO-3: per layer kind present, (count, dense bytes, expert bytes, forward and
    backward task time of one layer) — one gather per layer (a layer-sized gather is never
    slower than its tensors gathered one by one)."""
    end_gathers: tuple[float, ...] = ()
    """ZeRO-3: bytes of the embedding's and of the head's gathers (the head's with the tied
    embedding copy)."""
    device: Any = None
    """The device its costs were taken on (the gradient accumulation, priced per dp)."""
    gather_unit: float = 0.0
    """ZeRO-3: parameters of the largest unit one gather fetches (ChunkCost.gather_unit)."""


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
    """... of the bucket produced last (embedding on stage 0, else the chunk's first layer's
    dense part)."""
    expert_params: float = 0.0
    end_params: float = 0.0
    """Of ``params``, the embedding's and the head's (no fp8 copy in FP8 training)."""
    gather_unit: float = 0.0


@dataclass(frozen=True)
class PlanBound:
    """Lower bounds for one candidate; ``parts`` add up to ``step_time_s``."""

    step_time_s: float
    memory_bytes: float
    """Memory lower bound of the stage that fills its device the most (bound / capacity)."""
    capacity_bytes: float
    """That stage's device memory."""
    parts: dict[str, float]
    """compute_s, recompute_s, comm_s, bubble_s, optimizer_s of the bounding expression."""
    memory_parts: dict[str, float]

    @property
    def fits(self) -> bool:
        return self.memory_bytes <= self.capacity_bytes


class Bounder:
    """Lower bounds for candidates of one scenario (caches per layer shape and pool)."""

    def __init__(self, sc: ScenarioSpec, pool: PoolSpec | None = None):
        self.profiles = Profiles(sc)
        self.sc = self.profiles.sc  # with the compression plan's pruned model
        self.pool = pool or sc.cluster.pools[0]
        self.e = self.profiles.e
        self.grads = gradient_path(self.sc.plan.grad_accumulation, self.sc.workload.dtype)
        self._chunks: dict[tuple, _Chunk] = {}
        self._blocks: dict[tuple, _Block] = {}

    @property
    def compression(self):
        return self.profiles.compression

    # ------------------------------------------------------------------ known split
    def bound(self, c: Candidate, stage_pools: Sequence[PoolSpec] | None = None,
              layers_per_stage: Sequence[int] | None = None) -> PlanBound:
        """Lower bounds on step time and peak memory per device of ``c`` with each stage on
        ``stage_pools`` (default: all on this Bounder's pool) holding ``layers_per_stage``
        (default: an even split, which must divide)."""
        wl, model = self.sc.workload, self.sc.model
        overlap = self.sc.plan.overlap_comm
        p, v = c.pp, c.chunks
        m = wl.global_batch // (c.micro_batch * c.dp)
        uniform = stage_pools is None and layers_per_stage is None
        pools = list(stage_pools) if stage_pools is not None else [self.pool] * p
        counts = (list(layers_per_stage) if layers_per_stage is not None
                  else [model.layers // p] * p)
        sizes = [counts[k % p] // v for k in range(p * v)]  # layers of model chunk k
        starts = [0] * (p * v)
        for k in range(1, p * v):
            starts[k] = starts[k - 1] + sizes[k - 1]
        dp_shard = c.dp * c.cp
        dp_kind = "allreduce" if c.zero == 0 else "reducescatter"
        every = model.moe.every if model.moe is not None else 0
        shape_key = (c.tp, c.cp, c.ep, c.sp, c.micro_batch, c.recompute, p > 1)

        def chunk(s: int, ck: int) -> _Chunk:
            k = ck * p + s  # model chunk index (archsim.plan.layout._assign)
            n, first = sizes[k], starts[k]
            n_moe = ((first + n) // every - first // every) if every else 0
            pool = pools[s]
            key = (pool.name, *shape_key, n, n_moe, model.is_moe_layer(first),
                   s == 0 and ck == 0, s == p - 1 and ck == v - 1, c.dp, c.zero)
            got = self._chunks.get(key)
            if got is None:
                # the block's ZeRO-3 unit counts local experts only with an expert-dp group
                block = self._block(c, self.profiles.get(c, pool),
                                    (*key[:-2], max(1, dp_shard // c.ep) > 1), n - n_moe,
                                    n_moe, *key[-5:-2])
                got = self._chunks[key] = self._chunk(
                    c, block, self.profiles.dp_group(c, pool),
                    self.profiles.edp_group(c, pool), dp_kind, dp_shard, overlap)
            return got

        def stage(s: int) -> list[_Chunk]:
            return [chunk(s, ck) for ck in range(v)]

        first_stage, last_stage = stage(0), stage(p - 1)
        # fill / drain: chunk 0 of stages 0 .. p-2 (all alike but the first when uniform)
        hops = ([chunk(0, 0)] + [chunk(1, 0)] * (p - 2) if uniform and not every and p >= 3
                else [chunk(s, 0) for s in range(p - 1)])
        fill = sum(x.fwd_s for x in hops)
        drain = sum(x.bwd_s for x in hops)

        def work(chunks: list[_Chunk]) -> float:
            return m * sum(x.fwd_s + x.bwd_s for x in chunks)

        def tail(s: int, chunks: list[_Chunk]) -> tuple[float, float]:
            """(exposed data-parallel communication, optimizer) after the last backward."""
            params = sum(x.params for x in chunks)
            experts = sum(x.expert_params for x in chunks)
            local = (sharded_bytes(1.0, params, dp_shard, experts, max(1, dp_shard // c.ep))
                     if c.zero >= 1 else params)
            opt = self.profiles.optimizer_s(local, pools[s].device)
            if dp_shard <= 1:
                return 0.0, opt
            if overlap:
                comm = chunks[0].last_bucket_s  # chunk 0 runs the stage's last backward
            elif c.zero < 2:
                comm = sum(x.buckets_s for x in chunks)
            else:
                comm = 0.0  # reduced after every micro-batch, inside the backward tasks
            if c.zero in (1, 2) and not overlap:
                comm += self._gather(c, pools[s], params, experts)
            return comm, opt

        comm0, opt0 = tail(0, first_stage)
        comm_l, opt_l = tail(p - 1, last_stage)
        w0, w_last = work(first_stage), work(last_stage)
        options = [
            (fill + w_last + drain + comm0 + opt0, last_stage, fill + drain, comm0, opt0),
            (w0 + comm0 + opt0, first_stage, 0.0, comm0, opt0),
            (fill + w_last + comm_l + opt_l, last_stage, fill, comm_l, opt_l),
        ]
        if not uniform:
            # any stage s: the fill reaches it, it runs its tasks, the drain leaves it
            before = 0.0
            for s in range(1, p - 1):
                before += hops[s - 1].fwd_s + hops[s - 1].bwd_s
                chunks_s = stage(s)
                options.append((before + work(chunks_s) + comm0 + opt0, chunks_s, before,
                                comm0, opt0))
        slowest = min((st.speed for pool in {id(q): q for q in pools}.values()
                       for st in pool.stragglers),
                      default=1.0)
        if slowest < 1.0:
            # a straggler's stage runs its kernels at its slowest device's speed (the engine's
            # per-stage speed), and every plan puts the slow device in some stage: the step
            # lasts at least the lightest stage's kernels at that speed
            lightest = min(range(p), key=lambda s: sum(x.compute_s + x.recompute_s
                                                       for x in stage(s)))
            kernels = m * sum(x.compute_s + x.recompute_s for x in stage(lightest)) / slowest
            options.append((kernels, stage(lightest), 0.0, 0.0, 0.0))
        total, chunks, bubble, tail_comm, opt = max(options, key=lambda o: o[0])
        total += self._step_overhead(pools)
        parts = {"compute_s": m * sum(x.compute_s for x in chunks),
                 "recompute_s": m * sum(x.recompute_s for x in chunks),
                 "comm_s": m * sum(x.comm_s for x in chunks) + tail_comm,
                 "bubble_s": bubble, "optimizer_s": opt}
        # uniform stages: the first stage holds the most (embedding, most micro-batches)
        checked = [0, p - 1] if uniform else range(p)
        held = {0: first_stage, p - 1: last_stage}
        rows = []
        for s in checked:
            chunks_s = held.get(s) or stage(s)
            rows.append((s, pools[s], sum(x.params for x in chunks_s),
                         min(x.act_bytes for x in chunks_s),
                         min(x.working_bytes for x in chunks_s),
                         sum(x.expert_params for x in chunks_s),
                         sum(x.end_params for x in chunks_s),
                         max(x.gather_unit for x in chunks_s)))
        return PlanBound(step_time_s=total, parts=parts, **self._memory(c, rows, m))

    def _memory(self, c: Candidate,
                rows: list[tuple[int, PoolSpec, float, float, float, float, float, float]],
                m: int) -> dict:
        """Memory bound of the stage that fills its device the most; ``rows`` are
        (stage, pool, parameters, smallest chunk's activation bytes, working bytes, expert
        parameters among the parameters: their states shard over dp·cp/ep ranks only, the
        embedding's and head's parameters among them: no fp8 copy, the largest unit a ZeRO-3
        gather fetches)."""
        wl = self.sc.workload
        dp_shard = c.dp * c.cp
        edp = max(1, dp_shard // c.ep)
        worst: tuple | None = None
        for s, pool, params, act_bytes, working, experts, ends, unit in rows:
            states = model_state_bytes(params, wl.dtype, wl.optimizer, c.zero, dp_shard,
                                       expert_params=experts, expert_shard=edp,
                                       grad_bytes=self.grads.memory)
            if self.compression.fp8_training:  # as archsim.plan.training
                states = with_fp8_weight_copy(states, params, ends, c.zero, dp_shard, experts,
                                              edp)
            if c.zero >= 3 and dp_shard > 1:  # as the engine: the gathered units in full
                plan = self.sc.plan
                states = with_zero3_working_set(states, unit, self.e, self.grads.reduce,
                                                plan.zero3_prefetch if plan.overlap_comm else 0)
            alive = alive_at_first_backward(c.schedule, s, c.pp, m, c.chunks)
            act = alive * act_bytes + working
            device = pool.device
            need = states.total + act + device.memory.reserved
            over = need / device.memory.capacity  # the engine's order of stages, too
            if worst is None or over > worst[0]:
                worst = (over, need, device.memory.capacity, {
                    "stage": s, "pool": pool.name, "weights": states.weights,
                    "gradients": states.gradients,
                    "optimizer_states": states.optimizer_states, "activations": act,
                    "micro_batches_alive": alive / c.chunks})
        assert worst is not None
        return {"memory_bytes": worst[1], "capacity_bytes": worst[2],
                "memory_parts": worst[3]}

    # ------------------------------------------------------------------ unknown split
    def split_free_bound(self, c: Candidate, stage_pools: Sequence[PoolSpec]) -> PlanBound:
        """Lower bounds that hold for every split of the layers over ``stage_pools`` with at
        least one layer per model chunk (see the module docstring)."""
        wl, model = self.sc.workload, self.sc.model
        p, v, L = c.pp, c.chunks, model.layers
        m = wl.global_batch // (c.micro_batch * c.dp)
        profs = [self.profiles.get(c, pool) for pool in stage_pools]
        kinds = [min(pr.fwd, key=lambda k, pr=pr: pr.fwd[k].task_s + pr.bwd[k].task_s)
                 for pr in profs]  # the cheaper layer kind of each stage's pool
        t = [pr.fwd[k].task_s + pr.bwd[k].task_s for pr, k in zip(profs, kinds, strict=True)]
        extra = [0.0] * p
        extra[0] += profs[0].embed_fwd.task_s + profs[0].embed_bwd.task_s
        extra[-1] += profs[-1].head_fwd.task_s + profs[-1].head_bwd.task_s
        hop = [0.0] * p  # fill + drain before / after stage s: ≥ one layer per earlier stage
        for s in range(1, p):
            hop[s] = hop[s - 1] + t[s - 1]
            if s == 1:
                hop[s] += profs[0].embed_fwd.task_s + profs[0].embed_bwd.task_s
        g = [extra[s] + hop[s] / m for s in range(p)]
        pinned = max(v * t[s] + g[s] for s in range(p))
        level = (L + sum(g[s] / t[s] for s in range(p))) / sum(1 / ts for ts in t)
        per_mb = max(pinned, level)
        # stage 0's tail: its optimizer over at least one layer per chunk and the embedding
        pr0 = profs[0]
        params0 = v * min(f.params for f in pr0.fwd.values()) + pr0.embed_fwd.params
        opt = self.profiles.optimizer_s(params0 / (c.dp * c.cp if c.zero >= 1 else 1),
                                        stage_pools[0].device)
        last, k = profs[-1], kinds[-1]
        f, b = last.fwd[k], last.bwd[k]
        work = m * per_mb - hop[-1]  # the last stage's share, split like its layers' time
        parts = {"compute_s": work * (f.compute + b.compute) / t[-1],
                 "recompute_s": work * b.recompute / t[-1],
                 "comm_s": work * (f.comm + b.comm) / t[-1], "bubble_s": hop[-1],
                 "optimizer_s": opt}
        rows = []
        for s, pr in enumerate(profs):
            params = v * min(x.params for x in pr.fwd.values())
            act = min(x.saved for x in pr.fwd.values())
            ends = 0.0
            if s == 0:
                ends += pr.embed_fwd.params
            if s == p - 1:
                ends += pr.head_fwd.params
                if model.tied_embeddings and p > 1:
                    ends += model.vocab * model.hidden / c.tp  # the embedding copy
            params += ends
            working = min(x.working for x in pr.fwd.values())
            unit = min(x.unit_dense for x in pr.fwd.values())  # a bound: experts may be local
            # expert parameters counted as dense: their states shard over more ranks, so
            # the bound stays below what any split holds
            rows.append((s, stage_pools[s], params, act, working, 0.0, ends, unit))
        return PlanBound(step_time_s=m * per_mb + opt + self._step_overhead(stage_pools),
                         parts=parts, **self._memory(c, rows, m))

    @staticmethod
    def _step_overhead(pools: Sequence[PoolSpec]) -> float:
        """The in-situ fixed cost per step the engine adds (its slowest stage's device)."""
        return max(factors(p.device).step_overhead for p in pools)

    # ------------------------------------------------------------------ chunks
    def _block(self, c: Candidate, prof: Profile, key: tuple | None, n_dense: int,
               n_moe: int, first_moe: bool, embed: bool, head: bool) -> _Block:
        """The data-parallel-independent costs of one chunk's layers (cached by ``key``)."""
        got = self._blocks.get(key) if key is not None else None
        if got is not None:
            return got
        fwd, bwd = prof.fwd, prof.bwd
        f_comp = f_comm = b_comp = b_comm = rec = params = act = working = experts = 0.0
        unit = 0.0
        for moe, n in ((False, n_dense), (True, n_moe)):
            if n:
                f, b = fwd[moe], bwd[moe]
                unit = max(unit, f.unit if max(1, c.dp * c.cp // c.ep) > 1 else f.unit_dense)
                f_comp += n * f.compute
                f_comm += n * f.comm
                b_comp += n * b.compute
                b_comm += n * b.comm
                rec += n * b.recompute
                params += n * f.params
                experts += n * f.expert_params
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
        copy = 0.0
        if head and self.sc.model.tied_embeddings and c.pp > 1:
            copy = self.sc.model.vocab * self.sc.model.hidden / c.tp  # the embedding copy
            params += copy
            head_params += copy
        if embed:
            unit = max(unit, prof.embed_fwd.unit)
        if head:
            unit = max(unit, gather_unit([prof.head_fwd.unit, copy],
                                         self.sc.plan.zero3_granularity))
        e = self.e
        gathers = tuple((n, e * (fwd[moe].params - fwd[moe].expert_params),
                         e * fwd[moe].expert_params, fwd[moe].task_s, bwd[moe].task_s)
                        for moe, n in ((False, n_dense), (True, n_moe)) if n)
        end_gathers = (((e * prof.embed_fwd.params,) if embed else ())
                       + ((e * head_params,) if head else ()))
        # an MoE layer's experts are one bucket (over edp), its other parameters another
        # (over dp, produced after the experts in backward: archsim.plan.training)
        g = self.grads.reduce  # bytes per parameter of the gradient reduction
        buckets = []
        for moe, n in ((False, n_dense), (True, n_moe)):
            if n:
                if fwd[moe].expert_params:
                    buckets.append((n, g * fwd[moe].expert_params, True))
                buckets.append((n, g * (fwd[moe].params - fwd[moe].expert_params), False))
        if head:
            buckets.append((1, g * head_params, False))
        if embed:
            buckets.append((1, g * prof.embed_fwd.params, False))
        last = g * (prof.embed_fwd.params if embed
                    else fwd[first_moe].params - fwd[first_moe].expert_params)
        got = _Block(
            fwd_s=f_comp + f_comm, bwd_s=b_comp + b_comm + rec, compute_s=f_comp + b_comp,
            recompute_s=rec, comm_s=f_comm + b_comm, params=params, act_bytes=act,
            working_bytes=working, buckets=tuple(buckets), last_bucket_bytes=last,
            expert_params=experts, gathers=gathers, end_gathers=end_gathers,
            end_params=((prof.embed_fwd.params if embed else 0.0)
                        + (head_params if head else 0.0)), device=prof.pool.device,
            gather_unit=unit)
        if key is not None:
            self._blocks[key] = got
        return got

    def _gather(self, c: Candidate, pool: PoolSpec, params: float, experts: float) -> float:
        """All-gather of ``params``: dense ones over dp, the ``experts`` among them over edp."""
        t = self.profiles.collective
        dense = t("allgather", self.e * (params - experts), self.profiles.dp_group(c, pool))
        if not experts:
            return dense
        return dense + t("allgather", self.e * experts, self.profiles.edp_group(c, pool))

    def _chunk(self, c: Candidate, block: _Block, dp_group: CommGroup, edp_group: CommGroup,
               dp_kind: str, dp_shard: int, overlap: bool) -> _Chunk:
        """``block`` with its data-parallel communication for ``c``'s dp / expert-dp groups
        and ZeRO."""
        fwd_s, bwd_s, comm = block.fwd_s, block.bwd_s, block.comm_s
        compute_s = block.compute_s
        if self.grads.accumulate:  # as the engine: into the shard under ZeRO-2/3, m − 1
            # passes a step for native, m for the fp32 modes, spread over the m backwards
            m = self.sc.workload.global_batch // (c.micro_batch * c.dp)
            share = accumulation_passes(self.sc.plan.grad_accumulation, m) / m
            n = accumulated_params(block.params, c.zero, dp_shard, block.expert_params,
                                   max(1, dp_shard // c.ep))
            acc = share * compute_time(grad_accumulate_op(n, self.sc.workload.dtype,
                                                          bytes_per_param=self.grads.accumulate),
                                       block.device)
            bwd_s += acc
            compute_s += acc
        buckets = last_bucket = 0.0
        if dp_shard > 1:
            t = self.profiles.collective
            buckets = sum(n * t(dp_kind, nbytes, edp_group if expert else dp_group)
                          for n, nbytes, expert in block.buckets)
            last_bucket = t(dp_kind, block.last_bucket_bytes, dp_group)
            if c.zero >= 3:
                # layer by layer (archsim/plan/zero3.py): the embedding / head gathers, then
                # one per layer, each hidden behind the previous layer's compute at best
                per_layer = [(n, t("allgather", dense, dp_group)
                              + (t("allgather", expert, edp_group) if expert else 0.0), f, b)
                             for n, dense, expert, f, b in block.gathers]
                ends = sum(t("allgather", nbytes, dp_group) for nbytes in block.end_gathers)
                layers_g = sum(n * g for n, g, _, _ in per_layer)
                gather = ends + layers_g
                if overlap:
                    # the recurrence is at least max(Σc + g_first, Σg + c_last) after the
                    # end gathers (equal to it for identical layers; slowdown only adds);
                    # in backward the gradients' reduce-scatter shares the network
                    g_min = min(g for _, g, _, _ in per_layer)
                    f_new = ends + max(fwd_s + g_min,
                                       layers_g + min(f for _, _, f, _ in per_layer)
                                       + fwd_s - sum(n * f for n, _, f, _ in per_layer))
                    rs = buckets if c.zero >= 2 else 0.0
                    b_new = ends + max(bwd_s + g_min,
                                       layers_g + rs + min(b for _, _, _, b in per_layer)
                                       + bwd_s - sum(n * b for n, _, _, b in per_layer))
                    comm += (f_new - fwd_s) + (b_new - bwd_s)
                    fwd_s, bwd_s = f_new, b_new
                else:
                    comm += 2 * gather
                    fwd_s, bwd_s = fwd_s + gather, bwd_s + gather
            if c.zero >= 2 and not overlap:
                bwd_s += buckets  # blocking reduce-scatter after every micro-batch's backward
                comm += buckets
        return _Chunk(fwd_s=fwd_s, bwd_s=bwd_s, compute_s=compute_s,
                      recompute_s=block.recompute_s, comm_s=comm, params=block.params,
                      act_bytes=block.act_bytes, working_bytes=block.working_bytes,
                      buckets_s=buckets, last_bucket_s=last_bucket,
                      expert_params=block.expert_params, end_params=block.end_params,
                      gather_unit=block.gather_unit)
