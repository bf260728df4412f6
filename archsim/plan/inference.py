"""Inference cost tables: the time of one forward pass of a pipeline stage over a batch mix.

A forward pass over a batch mix — prefill chunks of some sequences and one decode token of
others, as continuous batching runs them — costs, on one tensor-parallel rank of a stage:

    Σ_layers [ linear ops(T) + attention(each sequence group) ] + embedding(T) [first stage]
    + final norm and logits of the n_out sampled positions [last stage]

where T is the number of new tokens in the pass. Every term is the op graph
(archsim.graph.inference) costed with the training cost model (archsim.cost.compute roofline +
efficiency curve, archsim.cost.comm alpha-beta collectives) through
:func:`archsim.plan.training.cost_ops`. So that a serving simulation can price thousands of
iterations, the terms are cached: linear ops by T, heads by n_out, prefill attention by
(sequences, new tokens, context); decode attention over n sequences is affine in their summed
context (FLOPs and bytes of the attention kernel are), so two costed points per n price any
context exactly.

A device that runs asynchronously from a slow host (the profile's ``inference_host_op_cost``,
measured by ``archsim calibrate``'s framework benchmark) takes at least the pass's op count ×
that cost (archsim/cost/host.py); the pass's fixed cost (``iteration_overhead``) adds after it.

Assumptions: symmetric ranks (one tensor-parallel rank stands for its group); layers of one kind
(dense or MoE) cost the same; decode sequences of one pass share one batched attention kernel
(vLLM's paged attention); the prefill sequences of one pass share one variable-length
attention kernel per op (vLLM, SGLang, TensorRT-LLM), priced at their summed FLOPs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from itertools import pairwise

from archsim.cost.comm import CommGroup, collective_time
from archsim.cost.compute import attention_work, compute_time
from archsim.cost.host import host_wait_s
from archsim.cost.insitu import factors, run_device
from archsim.graph.inference import (
    inference_head,
    inference_layer,
    kv_heads_per_rank,
    pass_weight_elements,
)
from archsim.graph.ops import Op
from archsim.graph.transformer import Shape, embedding_forward
from archsim.plan.inference_setup import (
    Degrees,
    Precision,
    comm_groups,
    degree_reasons,
    dtype_reasons,
    resolve_precision,
    split_layers,
)
from archsim.plan.links import stage_p2p
from archsim.plan.opcost import PhaseCost, cost_ops
from archsim.plan.placement import Placement, StageHardware
from archsim.spec.device import DeviceSpec
from archsim.spec.hardware import ClusterSpec, PoolSpec
from archsim.spec.model import ModelSpec
from archsim.spec.scenario import ScenarioSpec

__all__ = ["Degrees", "InferencePlan", "Precision", "StageCost", "base_shape",
           "build_inference_plan", "comm_groups", "degree_reasons", "dtype_reasons",
           "params_per_device", "resolve_precision", "runtime_device", "split_layers"]

# Enough tokens that balanced top-k routing touches every expert (used to count parameters).
_ALL_EXPERTS_TOKENS = 1 << 20


class _OpAt:
    """A mutable stand-in for one attention Op whose FLOPs and bytes are set per call, so the
    serving loop prices decode attention with :func:`compute_time` without building an Op per
    iteration (it carries every field of the template Op, ``is_matmul`` included)."""

    def __init__(self, op: Op):
        for f in fields(op):
            setattr(self, f.name, getattr(op, f.name))
        self.is_matmul = op.is_matmul


class StageCost:
    """One pipeline stage's forward pass on one rank, priced from the op graph (cached)."""

    def __init__(self, model: ModelSpec, device: DeviceSpec, groups: dict[str, CommGroup],
                 layers: tuple[int, ...], first: bool, last: bool, base: Shape):
        self.model, self.device, self.groups = model, device, groups
        self.layers, self.first, self.last, self.base = layers, first, last, base
        kinds: dict[bool, list[int]] = {}
        for i in layers:
            kinds.setdefault(model.is_moe_layer(i), []).append(i)
        self.kinds = [(idx[0], len(idx)) for idx in kinds.values()]
        self.n_layers = len(layers)
        self.iteration_overhead_s = factors(device).iteration_overhead
        """The in-situ fixed cost of a forward pass (scheduling, sampling), on the last stage."""
        self.host_op_cost = factors(device).host_op_cost
        """The host's time to issue one op (None: the host never sets the pace)."""
        self._linear: dict[int, PhaseCost] = {}
        self._linear_s: dict[int, float] = {}
        self._head: dict[int, PhaseCost] = {}
        self._head_s: dict[int, float] = {}
        self._attn: dict[tuple[int, int, int], PhaseCost] = {}
        self._prefill: dict[tuple[int, int, int], list[tuple[float, float, float]]] = {}
        self._decode: dict[int, list[tuple[_OpAt, float, float, float, float]]] = {}

    def shape(self, batch: int, seq: int, kv_seq: int) -> Shape:
        return replace(self.base, batch=batch, seq=seq, kv_seq=kv_seq)

    # ---- op lists (used for costing and for the bound-by breakdown)
    def linear_ops(self, tokens: int) -> list[tuple[Op, int]]:
        """Non-attention ops of every layer of the stage (+ embedding) for ``tokens`` tokens."""
        s = self.shape(1, tokens, tokens)
        out: list[tuple[Op, int]] = []
        if self.first:
            out.extend((op, 1) for op in embedding_forward(self.model, s))
        for layer, count in self.kinds:
            out.extend((op, count) for op in inference_layer(self.model, s, layer)
                       if not op.attention_core)
        return out

    def attention_ops(self, batch: int, q: int, kv: int) -> list[tuple[Op, int]]:
        s = self.shape(batch, q, kv)
        layer = self.kinds[0][0]
        return [(op, self.n_layers) for op in inference_layer(self.model, s, layer)
                if op.attention_core]

    def head_ops(self, n_out: int) -> list[tuple[Op, int]]:
        if not self.last or n_out <= 0:
            return []
        return [(op, 1) for op in inference_head(self.model, self.shape(n_out, 1, 1))]

    def _price(self, weighted: list[tuple[Op, int]]) -> PhaseCost:
        total = PhaseCost()
        by_count: dict[int, list[Op]] = {}
        for op, count in weighted:
            by_count.setdefault(count, []).append(op)
        for count, ops in by_count.items():
            total.add(cost_ops(ops, self.device, self.groups), count)
        return total

    # ---- cached prices
    def linear(self, tokens: int) -> PhaseCost:
        if tokens not in self._linear:
            self._linear[tokens] = self._price(self.linear_ops(tokens))
            self._linear_s[tokens] = self._linear[tokens].time_s
        return self._linear[tokens]

    def linear_s(self, tokens: int) -> float:
        t = self._linear_s.get(tokens)
        return t if t is not None else self.linear(tokens).time_s

    def head(self, n_out: int) -> PhaseCost:
        if n_out not in self._head:
            self._head[n_out] = self._price(self.head_ops(n_out))
            self._head_s[n_out] = self._head[n_out].time_s
        return self._head[n_out]

    def head_s(self, n_out: int) -> float:
        t = self._head_s.get(n_out)
        return t if t is not None else self.head(n_out).time_s

    def attention(self, batch: int, q: int, kv: int) -> PhaseCost:
        """Attention of ``batch`` sequences with ``q`` new tokens over ``kv`` context each."""
        key = (batch, q, kv)
        if key not in self._attn:
            self._attn[key] = self._price(self.attention_ops(batch, q, kv))
        return self._attn[key]

    def prefill_attention_s(self, prefill: Sequence[tuple[int, int]]) -> float:
        """Attention of a pass's prefill sequences ((new tokens, context) each) as one kernel
        per op, as vLLM's and SGLang's variable-length attention and TensorRT-LLM's packed
        context attention run them: the sequences' work in one call (read off the efficiency
        curve at their summed FLOPs) and one fixed cost per op, not one per sequence."""
        if len(prefill) <= 1:
            return sum(self.attention(1, q, kv).time_s for q, kv in prefill)
        sums: list[list[float]] | None = None
        for q, kv in prefill:
            terms = self._prefill_terms(q, kv)
            if sums is None:
                sums = [list(t) for t in terms]
                continue
            for acc, term in zip(sums, terms, strict=True):
                acc[0] += term[0]
                acc[1] += term[1]
                acc[2] += term[2]
        assert sums is not None
        q0, kv0 = prefill[0]
        total = 0.0
        for (op, count), (flops, nbytes, work) in zip(self._prefill_templates(q0, kv0), sums,
                                                      strict=True):
            op.flops, op.bytes = flops, nbytes
            op.work_fraction = work / flops if flops else 1.0
            op.masked = 0.0  # each sequence's causal skip is in ``work`` already
            total += count * compute_time(op, self.device)  # type: ignore[arg-type]
        return total

    def _prefill_terms(self, q: int, kv: int) -> list[tuple[float, float, float]]:
        """(FLOPs, bytes, executed work) of each attention op of one prefill sequence."""
        key = (1, q, kv)
        got = self._prefill.get(key)
        if got is None:
            got = self._prefill[key] = [
                (op.flops, op.bytes, op.flops * (attention_work(op, self.device)
                                                 if op.is_matmul else op.work_fraction))
                for op, _ in self.attention_ops(1, q, kv)]
        return got

    def _prefill_templates(self, q: int, kv: int) -> list[tuple[_OpAt, int]]:
        return [(_OpAt(op), count) for op, count in self.attention_ops(1, q, kv)]

    def decode_attention_s(self, n: int, sum_kv: float) -> float:
        """Attention of ``n`` decode tokens over contexts summing to ``sum_kv`` (seconds).

        The attention kernels' FLOPs and bytes are affine in the context length, so each op is
        priced at the mean context from two costed points; the roofline is applied as usual.
        """
        if n <= 0:
            return 0.0
        terms = self._decode.get(n)
        if terms is None:
            a = self.attention_ops(n, 1, 2)
            b = self.attention_ops(n, 1, 3)
            terms = [(_OpAt(op_a), op_a.flops, op_a.bytes, op_b.flops - op_a.flops,
                      op_b.bytes - op_a.bytes)
                     for (op_a, _), (op_b, _) in zip(a, b, strict=True)]
            self._decode[n] = terms
        dk = sum_kv / n - 2.0
        total = 0.0
        device = self.device
        for op, flops, nbytes, dflops, dbytes in terms:
            op.flops = flops + dk * dflops
            op.bytes = nbytes + dk * dbytes
            total += compute_time(op, device)  # type: ignore[arg-type]
        return total * self.n_layers

    def decode_attention(self, n: int, sum_kv: float) -> PhaseCost:
        return PhaseCost(compute_s=self.decode_attention_s(n, sum_kv),
                         kernels=self.decode_attention_kernels(n))

    def decode_attention_kernels(self, n: int) -> int:
        """Kernels of the batched decode attention of ``n`` sequences (all layers)."""
        if n <= 0:
            return 0
        terms = self._decode.get(n)  # costed by decode_attention_s
        count = len(terms) if terms is not None else len(self.attention_ops(n, 1, 2))
        return count * self.n_layers

    def host_wait_s(self, device_s: float, kernels: float) -> float:
        """Time the device waits for the host in a pass of ``kernels`` ops that keeps it
        busy ``device_s`` (archsim/cost/host.py)."""
        return host_wait_s(device_s, kernels, self.host_op_cost)

    # ---- memory
    def activation_bytes(self, tokens: int, scores: float, n_out: int) -> float:
        """Transient activations of one forward pass of ``tokens`` tokens on this stage
        (``scores``: elements of the attention score matrices; ``n_out`` positions sampled).

        Assumption (no published oracle): layers run one at a time and free their
        intermediates, so the peak is the hidden states in and out (2·e·T·h) plus the largest
        intermediate of a layer — QKV output, MLP up/gate/activation outputs, or (standard
        attention) the score matrix and its softmax — plus fp32 logits on the last stage.
        An MoE layer's MLP term is the dense rule over the expert slots whose intermediates
        exist at once: all T·top_k of them under a grouped GEMM (the default; inference routes
        without a capacity factor), one local expert's share of them when experts run one
        after another.
        """
        m, base = self.model, self.base
        e, tp = base.e, base.tp
        qkv = e * tokens * (m.heads / tp + 2 * kv_heads_per_rank(m, tp)) * m.d_head
        ffn, mlp_tokens = m.ffn, float(tokens)
        if m.moe is not None:
            ffn = m.moe.expert_ffn_hidden or m.ffn
            # Balanced routing: this rank's experts receive T·top_k token copies (with ep > 1
            # too: each ep rank brings T tokens, as in the op graph); dropless, no padding.
            mlp_tokens = tokens * m.moe.top_k
            if not base.moe_grouped:
                # plan.moe_grouped_gemm false (eager per-expert loop: HF eager, Megatron's
                # SequentialMLP): local experts run one after another and free their
                # intermediates, so only one expert's share exists at a time. A grouped GEMM
                # (vLLM fused_moe, TensorRT-LLM, Megatron grouped GEMM) holds them all.
                mlp_tokens /= max(m.moe.experts // base.ep, 1)
        mlp = e * mlp_tokens * (ffn / tp) * (3.0 if m.mlp == "swiglu" else 2.0)
        attn = 0.0 if base.flash else 2.0 * e * scores
        logits = 4.0 * n_out * m.vocab / tp if self.last else 0.0
        return 2.0 * e * tokens * m.hidden + max(qkv, mlp, attn) + logits

    def generation_activation_bytes(self, batch: int, prompt: int, context: int) -> float:
        """The larger of a static batch's prefill and of a decode step attending
        ``context`` tokens (standard attention's scores grow with the context)."""
        heads = self.model.heads / self.base.tp
        return max(self.activation_bytes(batch * prompt, batch * heads * prompt * prompt, batch),
                   self.activation_bytes(batch, batch * heads * context, batch))


PASS_CACHE_SIZE = 1 << 16
"""Forward passes an InferencePlan keeps the time of (a bounded cache: cleared when full)."""


@dataclass
class InferencePlan:
    """Everything the inference and serving simulations need about one model replica."""

    model: ModelSpec
    pool: PoolSpec
    degrees: Degrees
    stages: list[StageCost]
    precision: Precision
    stage_params: list[float]
    """Parameters held by one device of each stage."""
    kv_bytes_per_token: list[float]
    """KV-cache bytes per cached token on one device of each stage."""
    p2p_link: str
    stage_stride: int
    stage_hw: tuple[StageHardware, ...]
    """The pool, devices and link speeds of each stage (archsim/plan/placement.py)."""
    cluster: ClusterSpec
    placement: Placement | None = None
    """Stages on several pools (``plan.placement.stages``): each stage's pool; None when the
    replica runs on ``pool`` alone."""
    stage_end_params: list[float] = field(default_factory=list)
    """Of ``stage_params``, the embedding's and the output layer's (stored unquantized)."""
    _p2p: dict[int, list[float]] = field(default_factory=dict, repr=False)
    """tokens → send time at each stage boundary (cached)."""
    _passes: dict[tuple, tuple[float, tuple[float, ...]]] = field(default_factory=dict,
                                                                  repr=False)
    """A forward pass's arguments → its seconds and each stage's own (cached, at most
    PASS_CACHE_SIZE: a stream served one request at a time repeats the same single-sequence
    decode steps over and over)."""

    @property
    def device(self) -> DeviceSpec:
        return self.pool.device

    def stage_device(self, s: int) -> DeviceSpec:
        return self.stages[s].device

    @property
    def weight_bytes(self) -> list[float]:
        ends = self.stage_end_params or [0.0] * len(self.stage_params)
        wb, eb = self.precision.weight_bytes, self.precision.end_bytes
        return [(p - u) * wb + u * eb for p, u in zip(self.stage_params, ends, strict=True)]

    def _boundaries(self, tokens: int) -> list[float]:
        if self.degrees.pp == 1 or tokens <= 0:
            return [0.0] * (self.degrees.pp - 1)
        out = self._p2p.get(tokens)
        if out is None:
            act = self.stages[0].base.e * tokens * self.model.hidden
            tp, hws = self.degrees.tp, self.stage_hw
            out = []
            for s in range(self.degrees.pp - 1):
                cost, _ = stage_p2p(self.cluster, self.stage_stride, hws[s], hws[s + 1],
                                    act / tp)
                t = cost.time_s
                if tp > 1:
                    t += collective_time("allgather", act,
                                         self.stages[s + 1].groups["tp"]).time_s
                out.append(t)
            self._p2p[tokens] = out
        return out

    def p2p_boundaries_s(self, tokens: int) -> list[float]:
        """Send time of ``tokens`` tokens' activations at each stage boundary s → s+1: split
        over tp and all-gathered on arrival (Megatron-LM), over the links training's
        pipeline sends use (archsim/plan/links.py: a node's link to one peer, the NIC share,
        or the pool links of a pipeline across pools)."""
        return list(self._boundaries(tokens))

    def p2p_s(self, tokens: int) -> float:
        """The slowest boundary's send time (all are alike on one pool)."""
        return max(self._boundaries(tokens), default=0.0)

    def p2p_bytes(self, tokens: int) -> float:
        return self.stages[0].base.e * tokens * self.model.hidden / self.degrees.tp

    def forward_s(self, tokens: int, prefill: Sequence[tuple[int, int]], n_decode: int,
                  sum_decode_kv: float, n_out: int, stage_busy: list[float] | None = None
                  ) -> float:
        """Seconds of one forward pass through all stages (no overlap between stages).

        ``prefill``: (new tokens, context) per prefill sequence; ``n_decode`` decode tokens over
        contexts summing to ``sum_decode_kv``; ``n_out`` positions sampled. ``stage_busy``:
        each stage's own time (sends and its wait for the host excluded: an idle device) is
        added to its entry.
        """
        key = (tokens, tuple(prefill), n_decode, sum_decode_kv, n_out)
        hit = self._passes.get(key)
        if hit is None:
            if len(self._passes) >= PASS_CACHE_SIZE:
                self._passes.clear()
            busy = [0.0] * len(self.stages)
            hit = self._passes[key] = (self._forward_s(tokens, prefill, n_decode,
                                                       sum_decode_kv, n_out, busy),
                                       tuple(busy))
        if stage_busy is not None:
            for s, t in enumerate(hit[1]):
                stage_busy[s] += t
        return hit[0]

    def _forward_s(self, tokens: int, prefill: Sequence[tuple[int, int]], n_decode: int,
                   sum_decode_kv: float, n_out: int, stage_busy: list[float]) -> float:
        """:meth:`forward_s` computed."""
        total = 0.0
        for s, st in enumerate(self.stages):
            before = total
            total += st.linear_s(tokens)
            total += st.prefill_attention_s(prefill)
            if n_decode:
                total += st.decode_attention_s(n_decode, sum_decode_kv)
            if st.last:
                total += st.head_s(n_out)
            wait = 0.0
            if st.host_op_cost:
                kernels = (st.linear(tokens).kernels
                           + (st.attention(1, *prefill[0]).kernels if prefill else 0)
                           + st.decode_attention_kernels(n_decode)
                           + (st.head(n_out).kernels if st.last else 0))
                wait = st.host_wait_s(total - before, kernels)
                total += wait
            if st.last:
                total += st.iteration_overhead_s
            stage_busy[s] += total - before - wait
        return total + sum(self._boundaries(tokens)) if self.degrees.pp > 1 else total

    def stage_step(self, s: int, batch: int, q: int, kv: int, n_out: int) -> PhaseCost:
        """One stage's forward pass for ``batch`` sequences of ``q`` new tokens over ``kv``."""
        st = self.stages[s]
        cost = PhaseCost()
        cost.add(st.linear(batch * q))
        if q == 1:
            cost.add(st.decode_attention(batch, batch * kv))
        else:
            cost.add(st.attention(batch, q, kv))
        if st.last:
            cost.add(st.head(n_out))
        cost.host_s = st.host_wait_s(cost.time_s, cost.kernels)
        if st.last:
            cost.compute_s += st.iteration_overhead_s
        return cost

    def step_ops(self, s: int, batch: int, q: int, kv: int, n_out: int
                 ) -> list[tuple[Op, int]]:
        st = self.stages[s]
        return st.linear_ops(batch * q) + st.attention_ops(batch, q, kv) + st.head_ops(n_out)

    def activation_bytes(self, s: int, tokens: int, scores: float, n_out: int) -> float:
        """Transient activations of one forward pass on a device of stage ``s``
        (:meth:`StageCost.activation_bytes`)."""
        return self.stages[s].activation_bytes(tokens, scores, n_out)


def runtime_device(device: DeviceSpec, sc: ScenarioSpec) -> DeviceSpec:
    """The device as an inference or serving run sees it (archsim/cost/insitu.py)."""
    ins = device.insitu
    streamed = (pass_weight_bytes(sc, device) if ins is not None and (
        ins.inference_op_overhead_by_pass_bytes
        or ins.inference_weight_read_scale_by_pass_bytes) else None)
    return run_device(device, sc.plan, sc.workload, streamed)


def pass_weight_bytes(sc: ScenarioSpec, device: DeviceSpec) -> float:
    """Weight bytes one forward pass streams on one device of ``sc``
    (:func:`archsim.graph.inference.pass_weight_elements` of its tensor-parallel shard, over
    the pipeline stages, at the stored precision)."""
    precision = resolve_precision(sc, device)
    shape = Shape(batch=1, seq=1, kv_seq=1, tp=sc.plan.tp, ep=sc.plan.ep,
                  dtype=sc.workload.dtype, causal=not precision.model.encoder, training=False,
                  kv_cache=True, **precision.shape_fields)
    elements = pass_weight_elements(precision.model, shape)
    head = pass_weight_elements(precision.model, shape, layers=False)
    return ((elements - head) * precision.weight_bytes + head * precision.end_bytes) \
        / sc.plan.pp


def base_shape(sc: ScenarioSpec, precision: Precision, deg: Degrees) -> Shape:
    fields = dict(precision.shape_fields)
    return Shape(batch=1, seq=1, kv_seq=1, tp=deg.tp, ep=deg.ep, flash=sc.plan.flash_attention,
                 dtype=sc.workload.dtype, causal=not precision.model.encoder, dropout=False,
                 training=False, kv_cache=True, moe_grouped=sc.plan.moe_grouped_gemm,
                 **fields)


def build_inference_plan(sc: ScenarioSpec, pool: PoolSpec, deg: Degrees,
                         precision: Precision, stage_stride: int | None = None,
                         placement: Placement | None = None) -> InferencePlan:
    """Cost tables of one replica of ``sc``'s model split ``deg`` ways on ``pool``.

    ``stage_stride``: ranks between neighbouring pipeline stages (default tp·dp, Megatron
    order); stages closer than a node talk over the intra-node link. ``placement``: the
    stages' pools when the pipeline spans pools (each stage on its own device and links).
    """
    model = precision.model
    base = base_shape(sc, precision, deg)
    layer_split = split_layers(model, deg.pp, sc.plan.layers_per_stage)
    pools = ([hw.pool for hw in placement.stages] if placement is not None
             else [pool] * deg.pp)
    groups_of = {p.name: comm_groups(p, deg) for p in pools}
    stages = [StageCost(model, runtime_device(pools[i].device, sc), groups_of[pools[i].name],
                        layers, first=i == 0, last=i == deg.pp - 1, base=base)
              for i, layers in enumerate(layer_split)]
    kv_t = kv_heads_per_rank(model, deg.tp)
    kv_per_token = [2.0 * len(st.layers) * kv_t * model.d_head * precision.kv_bytes
                    for st in stages]
    params = [params_per_device(st, deg) for st in stages]
    ends = [end_params_per_device(st, deg) for st in stages]
    stride = stage_stride if stage_stride is not None else deg.tp * deg.dp
    hws = placement.stages if placement is not None else tuple(
        StageHardware(stage=s, pool=pool, first_device=s * stride, devices=stride)
        for s in range(deg.pp))
    p2p_link = ", ".join(dict.fromkeys(
        stage_p2p(sc.cluster, stride, a, b, 1.0)[1] for a, b in pairwise(hws)
    )) or "none"
    return InferencePlan(model=model, pool=pools[0], degrees=deg, stages=stages,
                         precision=precision, stage_params=params, stage_end_params=ends,
                         kv_bytes_per_token=kv_per_token, p2p_link=p2p_link,
                         stage_stride=stride, stage_hw=hws, cluster=sc.cluster,
                         placement=placement)


def params_per_device(st: StageCost, deg: Degrees) -> float:
    """Parameters on one device of the stage: every local expert counts, used or not."""
    s = st.shape(1, _ALL_EXPERTS_TOKENS, 1)
    total = end_params_per_device(st, deg)
    for layer, count in st.kinds:
        total += count * sum(op.params for op in inference_layer(st.model, s, layer))
    return total


def end_params_per_device(st: StageCost, deg: Degrees) -> float:
    """Of them, the embedding's (first stage) and the final norm's and output layer's (last
    stage; with tied embeddings and pp > 1 its copy of the table)."""
    total = 0.0
    if st.first:
        total += sum(op.params for op in embedding_forward(st.model, st.shape(1, 1, 1)))
    if st.last:
        total += sum(op.params for op in inference_head(st.model, st.shape(1, 1, 1)))
        if st.model.tied_embeddings and deg.pp > 1:
            total += st.model.vocab * st.model.hidden / deg.tp  # the head's copy of the table
    return total
