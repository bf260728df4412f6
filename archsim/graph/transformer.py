"""Forward op lists of a transformer stack, per device (backward ops: archsim/graph/backward.py).

The layer is Megatron-LM's (Shoeybi et al. 2019; Korthikanti et al. 2022): pre-norm attention
and MLP blocks, tensor parallel as column-parallel QKV / FC1 and row-parallel output projection
/ FC2, with two all-reduces per layer in the forward pass (two in the backward pass), or with
sequence parallelism an all-gather before and a reduce-scatter after each block. A parallel
block (``model.parallel_attention``: GPT-J, PaLM, Falcon) sums the attention and MLP outputs
into the residual once: one all-reduce (or all-gather + reduce-scatter) and one residual add.

Assumptions (each affects bytes, not FLOPs):
* Kernels are fused as in Megatron-LM: bias+GeLU, bias+dropout+residual-add, scale+mask+softmax
  (in causal training its upper-triangular kernel reads only the scores on and below the
  diagonal), and rotary position embeddings as one kernel over this rank's query and key heads
  (Megatron-core's fused RoPE, vLLM's rotary kernel; an eager model's several ops are one op).
* ``saved_bytes`` follow Korthikanti et al. 2022 §4.1 so that a layer's total reproduces their
  Table 2 (34·sbh + 5·as²b bytes without parallelism) exactly for GPT layers; flash attention
  keeps Q, K, V (and the output, counted as the projection's input) instead of the s×s tensors.
* A matmul reads both operands and writes its result once (no re-reads from tiling).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from archsim.graph.ops import Comm, Op
from archsim.spec.model import ModelSpec
from archsim.spec.units import BYTES_PER_ELEMENT

# FLOPs per element of elementwise kernels (rough operation counts; these kernels are
# memory-bound on every device in hardware_profiles/, so the counts barely matter).
_NORM_FLOPS_PER_ELEMENT = 7.0
_GELU_FLOPS_PER_ELEMENT = 8.0
_SOFTMAX_FLOPS_PER_ELEMENT = 5.0
_ROPE_FLOPS_PER_ELEMENT = 3.0  # x·cos + rotate_half(x)·sin: two multiplies and an add
_TWO_FOUR_KEPT = 0.5  # 2:4 structured sparsity keeps two weights of every four


@dataclass(frozen=True, slots=True)
class Shape:
    """Per-rank problem size and sharding of a layer.

    ``seq`` is the query tokens of one sequence on this rank (s/cp in training, 1 in decode);
    ``kv_seq`` the keys it attends to (s in training, the context length in decode).
    """

    batch: int
    seq: int
    kv_seq: int
    tp: int = 1
    sp: bool = False
    cp: int = 1
    ep: int = 1
    flash: bool = True
    dtype: str = "bf16"
    causal: bool = True
    dropout: bool = False
    training: bool = True
    weight_dtype: str | None = None
    """Storage dtype of the weights (compression); default: ``dtype``."""
    weight_bytes: float | None = None
    """Bytes per weight element including quantization scales / sparse-format metadata."""
    matmul_dtype: str | None = None
    """Dtype whose tensor-core peak the GEMMs run at (int8/fp8 for W8A8/FP8); default ``dtype``.
    When it is narrower than ``dtype`` the GEMM inputs are quantized activations."""
    sparse_speedup: float = 1.0
    """Achieved speedup of weight GEMMs with 2:4 structured sparsity (1: dense)."""
    dequant: bool = False
    """Weight-only quantization: weights are dequantized to ``dtype`` inside the GEMM."""
    kv_cache: bool = False
    """Decode/prefill with a KV cache: attention reads K and V of ``kv_seq`` tokens from it."""
    kv_dtype: str | None = None
    kv_element_bytes: float | None = None
    """Bytes per KV-cache element with its quantization scales (None: ``kv_dtype``'s width)."""
    moe_grouped: bool = True
    """MoE experts as grouped kernels (``plan.moe_grouped_gemm``): experts after the first
    carry ``Op.grouped``."""
    tp_overlap: bool = False
    """Sequence-parallel all-gathers / reduce-scatters overlapped with their GEMMs
    (``plan.tp_comm_overlap``)."""
    quantize_head: bool = False
    """The output layer is quantized with the rest (a device without the 16-bit dtype, such as
    an int8-only FPGA, runs every GEMM quantized); False: :func:`unquantized` applies."""

    @property
    def tokens(self) -> int:
        return self.batch * self.seq

    @property
    def e(self) -> float:
        return BYTES_PER_ELEMENT[self.dtype]

    @property
    def we(self) -> float:
        return BYTES_PER_ELEMENT[self.weight_dtype or self.dtype]

    @property
    def kve(self) -> float:
        if self.kv_element_bytes is not None:
            return self.kv_element_bytes
        return BYTES_PER_ELEMENT[self.kv_dtype or self.dtype]

    @property
    def wbytes(self) -> float:
        """Bytes per weight element as stored (with scales / metadata)."""
        return self.weight_bytes if self.weight_bytes is not None else self.we

    @property
    def gemm_dtype(self) -> str:
        return self.matmul_dtype or self.dtype

    @property
    def ae(self) -> float:
        """Bytes per element of GEMM activation inputs (quantized under W8A8 / FP8)."""
        return min(self.e, BYTES_PER_ELEMENT[self.gemm_dtype])


def _matmul(name: str, m: float, k: int, n: int, s: Shape, *, batch: int = 1,
            weight: bool = True, bias: bool = False, saved: float = 0.0,
            core: bool = False) -> Op:
    """A (batched) GEMM m×k·k×n; ``weight`` means the k×n operand is a parameter.

    Weight GEMMs carry the compression plan: weights read at their stored size, quantized
    activation inputs under W8A8/FP8, 2:4 sparsity as a time divisor, and weight-only
    dequantization as 2 vector FLOPs per weight element (scale and convert, fused). ``m`` may
    be an expected count (an MoE expert's share of the routed tokens): FLOPs and bytes use it
    as is, the shape the efficiency curves read rounds it."""
    e = s.e
    shape = (batch, m if isinstance(m, int) else max(1, round(m)), k, n)
    if weight:
        nbytes = batch * (s.ae * m * k + s.wbytes * k * n + e * m * n)
        saved *= s.ae / e  # FP8 training keeps the fp8-cast GEMM input for backward
        return Op(name=name, kind="matmul", phase="fwd", flops=2.0 * batch * m * k * n,
                  bytes=nbytes, dtype=s.gemm_dtype, shape=shape, layout="nt",
                  params=k * n + (n if bias else 0), saved_bytes=saved, attention_core=core,
                  work_fraction=1.0 / s.sparse_speedup,
                  executed=_TWO_FOUR_KEPT if s.sparse_speedup > 1 else 1.0,
                  vector_flops=2.0 * k * n if s.dequant else 0.0)
    nbytes = batch * (e * m * k + e * k * n + e * m * n)
    return Op(name=name, kind="matmul", phase="fwd", flops=2.0 * batch * m * k * n,
              bytes=nbytes, dtype=s.dtype, shape=shape, params=0,
              saved_bytes=saved, attention_core=core)


def _elementwise(name: str, kind: str, elements: float, s: Shape, *, reads: float = 1.0,
                 writes: float = 1.0, flops_per: float = 1.0, extra_bytes: float = 0.0,
                 params: float = 0.0, saved: float = 0.0, core: bool = False,
                 variant: str | None = None) -> Op:
    return Op(name=name, kind=kind, phase="fwd", flops=flops_per * elements,
              bytes=s.e * elements * (reads + writes) + extra_bytes, dtype=s.dtype,
              params=params, saved_bytes=saved, attention_core=core, variant=variant)


def _collective(name: str, kind: str, group: str, nbytes: float, s: Shape,
                overlappable: bool = False, backward: bool = True,
                neighbours_only: bool = False) -> Op:
    gemm = s.tp_overlap and group == "tp" and kind in ("allgather", "reducescatter")
    return Op(name=name, kind="comm", phase="fwd", dtype=s.dtype,
              comm=Comm(kind=kind, group=group, bytes=nbytes, overlappable=overlappable,
                        overlap_gemm=gemm, backward=backward, neighbours_only=neighbours_only))


def _regathered(op: Op, s: Shape, tok: float, h: int) -> Op:
    """``op`` (a column-parallel GEMM reading the all-gathered ``tok`` × ``h`` input of a
    sequence-parallel training layer) with the backward re-gather of that input
    (Op.regather; Megatron-core ``LinearWithGradAccumulationAndAsyncCommunication``)."""
    if s.tp <= 1 or not s.sp or not s.training:
        return op
    return replace(op, regather=Comm(kind="allgather", group="tp", bytes=s.e * tok * h,
                                     overlappable=True, backward=False))


def _norm(name: str, model: ModelSpec, s: Shape, tokens_sp: float, h: int) -> Op:
    saved = s.e * tokens_sp * h if s.training else 0.0
    params = h * (2 if (model.norm == "layernorm" and model.bias) else 1)
    return _elementwise(name, "norm", tokens_sp * h, s, flops_per=_NORM_FLOPS_PER_ELEMENT,
                        params=params, saved=saved, variant=model.norm)


def _bias_dropout_add(name: str, model: ModelSpec, s: Shape, tokens_sp: float, h: int) -> Op:
    """Fused bias + dropout + residual add: reads x and the residual, writes the sum (+ mask)."""
    mask = tokens_sp * h if (s.dropout and s.training) else 0.0
    params = h if model.bias else 0.0  # the row-parallel layer's bias, added here
    op = _elementwise(name, "elementwise", tokens_sp * h, s, reads=2.0, writes=1.0,
                      flops_per=3.0, extra_bytes=mask, params=params, saved=mask)
    # backward: reads dy (and the mask), writes the branch gradient; the residual passes dy on
    return replace(op, bwd_bytes=(2 * s.e) * tokens_sp * h + mask)


def _rope(name: str, model: ModelSpec, s: Shape, heads_t: float, kv_t: float) -> Op:
    """Rotary position embedding (Su et al. 2021) of this rank's query and key heads: reads
    and writes each element once, and reads the cos and sin tables of the ``s.seq`` positions
    (shared by the batch and the heads). Its backward rotates the gradient back (the same
    traffic); it keeps nothing for backward (the tables are recomputed or cached)."""
    elements = s.tokens * (heads_t + kv_t) * model.d_head
    tables = 2 * s.e * s.seq * model.d_head
    op = _elementwise(name, "elementwise", elements, s, flops_per=_ROPE_FLOPS_PER_ELEMENT,
                      extra_bytes=tables, variant="rope")
    return replace(op, bwd_bytes=op.bytes)


def layer_forward(model: ModelSpec, s: Shape, layer: int = 0) -> list[Op]:
    """Forward ops of transformer layer ``layer`` on one tensor-parallel rank."""
    h, t = model.hidden, s.tp
    a, g, d = model.heads, model.n_kv_heads, model.d_head
    tok = s.tokens
    tok_sp = tok / t if s.sp else tok
    e = s.e
    train = s.training
    p = f"L{layer}."
    ops: list[Op] = []

    # ---- attention block
    ops.append(_norm(p + "ln_attn", model, s, tok_sp, h))
    if t > 1 and s.sp:
        ops.append(_collective(p + "ag_attn", "allgather", "tp", e * tok * h, s))
    # K/V heads are split over tp ranks, or replicated when there are fewer than tp of them
    heads_t, kv_t = a / t, max(g / t, 1.0)
    qkv_out = int((heads_t + 2 * kv_t) * d)
    ops.append(_regathered(_matmul(p + "qkv", tok, h, qkv_out, s, bias=model.bias,
                                   saved=(e * tok_sp * h if train else 0.0)), s, tok, h))
    if model.position == "rope":
        ops.append(_rope(p + "rope", model, s, heads_t, kv_t))
    ops.extend(_attention_core(p, model, s, heads_t, kv_t))
    ops.append(_matmul(p + "proj", tok, a * d // t, h, s,
                       saved=(e * tok * a * d / t if train else 0.0)))
    parallel = model.parallel_attention and not model.is_moe_layer(layer)
    if not parallel:
        # sequential block: the attention output joins the residual before the MLP's norm;
        # a parallel block sums it with the MLP output after the MLP's row-parallel FC2
        if t > 1:
            kind = "reducescatter" if s.sp else "allreduce"
            ops.append(_collective(p + ("rs_attn" if s.sp else "ar_attn"), kind, "tp",
                                   e * tok * h, s))
        ops.append(_bias_dropout_add(p + "bda_attn", model, s, tok_sp, h))

    # ---- MLP block (a parallel block normalises the same layer input as the attention)
    ops.append(_norm(p + "ln_mlp", model, s, tok_sp, h))
    if model.is_moe_layer(layer):
        ops.extend(_moe_mlp(p, model, s, tok, tok_sp))
    else:
        if t > 1 and s.sp and not parallel:
            ops.append(_collective(p + "ag_mlp", "allgather", "tp", e * tok * h, s))
        mlp = _dense_mlp(p, model, s, tok, tok_sp, model.ffn)
        ops.extend([_regathered(mlp[0], s, tok, h), *mlp[1:]])
        if t > 1:
            kind = "reducescatter" if s.sp else "allreduce"
            ops.append(_collective(p + ("rs_mlp" if s.sp else "ar_mlp"), kind, "tp",
                                   e * tok * h, s))
    bda = _bias_dropout_add(p + "bda_mlp", model, s, tok_sp, h)
    if parallel:
        # x + attn + mlp in one fused kernel: one more input read (and both biases)
        bda = replace(bda, bytes=bda.bytes + s.e * tok_sp * h, params=2 * bda.params)
    ops.append(bda)
    return ops


def _causal_fraction(s: Shape, q: int, kv: int) -> float:
    """Share of the q×kv score block a causal fused kernel computes (it skips masked tiles).

    The q queries are the last q of the kv positions, so the masked part is a q×q triangle:
    1 − q/(2·kv) — one half for a whole prefix (training, prefill), more for a prompt chunk
    after earlier chunks (chunked prefill). Under context parallelism each rank holds q = s/cp
    queries against all s keys; Megatron-LM's load-balanced split (2·cp chunks, rank i taking
    chunks i and 2·cp−1−i) gives every rank 1/cp of the causal work: half its q×s block. One
    query (decode) reads the whole cache: 1.
    """
    if not s.causal or q <= 1:
        return 1.0
    if s.cp > 1:
        return 0.5 if q * s.cp == kv else 1.0
    return 1.0 - q / (2.0 * kv) if q <= kv else 1.0


def _attention_core(p: str, model: ModelSpec, s: Shape, heads_t: float,
                    kv_t: float) -> list[Op]:
    """QKᵀ, softmax, dropout and ·V for ``heads_t`` query heads on this rank."""
    b, q, kv, d, e = s.batch, s.seq, s.kv_seq, model.d_head, s.e
    train = s.training
    ops: list[Op] = []
    if s.cp > 1:
        # ring attention: K and V of the other cp-1 chunks pass through this rank
        kv_bytes = 2 * e * b * kv * kv_t * d
        ops.append(_collective(p + "cp_kv", "allgather", "cp", kv_bytes, s, overlappable=True,
                               neighbours_only=True))
    flops = 4.0 * b * heads_t * q * kv * d
    kv_read = 2 * b * kv * kv_t * d * (s.kve if s.kv_cache else e)
    if s.flash or s.kv_cache:
        # fused kernel: reads Q, K, V (K/V from the cache when decoding), writes O
        nbytes = e * b * q * heads_t * d * 2 + kv_read
        saved = e * b * q * (heads_t * d + 2 * kv_t * d) if train else 0.0
        causal = _causal_fraction(s, q, kv)
        ops.append(Op(name=p + "attn", kind="attention", phase="fwd", flops=flops,
                      bytes=nbytes, dtype=s.dtype, shape=(int(b * heads_t), q, d, kv),
                      saved_bytes=saved, work_fraction=causal, attention_core=True,
                      masked=1.0 - causal))
        return ops
    bh = int(b * heads_t)
    scores = b * heads_t * q * kv
    dropout = s.dropout and train
    # Q·Kᵀ: keeps Q and K for backward (4·sbh/t bytes for MHA)
    ops.append(_matmul(p + "qk", q, d, kv, s, batch=bh, weight=False, core=True,
                       saved=(e * b * q * (heads_t + kv_t) * d if train else 0.0)))
    # Megatron-LM's causal training kernel (scaled_upper_triang_masked_softmax) reads only
    # row i's first i+1 scores and writes the whole row (zeros above the diagonal); its
    # backward reads those of dy and y and writes all of dx. Elsewhere every score is read.
    read = (kv + 1) / (2.0 * kv) if (train and s.causal and q == kv and s.cp == 1) else 1.0
    ops.append(replace(_elementwise(p + "softmax", "softmax", scores, s, reads=read,
                                    flops_per=_SOFTMAX_FLOPS_PER_ELEMENT, core=True,
                                    saved=(e * scores if train else 0.0)),
                       bwd_bytes=e * scores * (2.0 * read + 1.0)))
    if dropout:
        # dropout: reads x, writes y and a 1-byte mask; backward reads dy and the mask,
        # writes dx (the same 2e + 1 bytes per element)
        ops.append(replace(_elementwise(p + "attn_dropout", "elementwise", scores, s,
                                        flops_per=2.0, extra_bytes=scores, core=True,
                                        saved=(e + 1.0) * scores),
                           bwd_bytes=(2 * e + 1.0) * scores))
    ops.append(_matmul(p + "av", q, kv, d, s, batch=bh, weight=False, core=True,
                       saved=(e * b * kv * kv_t * d if train else 0.0)))
    return ops


def _dense_mlp(p: str, model: ModelSpec, s: Shape, tok: float, tok_sp: float,
               ffn: int, prefix: str = "") -> list[Op]:
    h, t, e = model.hidden, s.tp, s.e
    train = s.training
    f_t = ffn // t
    gated = model.mlp == "swiglu"
    up = 2 * f_t if gated else f_t
    ops = [_matmul(p + prefix + "fc1", tok, h, up, s, bias=model.bias,
                   saved=(e * tok_sp * h if train else 0.0))]
    if gated:
        # SiLU(gate) · up: reads both halves, writes one; keeps both for backward
        ops.append(_elementwise(p + prefix + "swiglu", "elementwise", tok * f_t, s, reads=2.0,
                                flops_per=_GELU_FLOPS_PER_ELEMENT, variant="swiglu",
                                saved=(2 * e * tok * f_t if train else 0.0)))
    else:
        ops.append(_elementwise(p + prefix + "gelu", "elementwise", tok * f_t, s,
                                flops_per=_GELU_FLOPS_PER_ELEMENT, variant=model.mlp,
                                saved=(e * tok * f_t if train else 0.0)))
    ops.append(_matmul(p + prefix + "fc2", tok, f_t, h, s,
                       saved=(e * tok * f_t if train else 0.0)))
    return ops


def _moe_mlp(p: str, model: ModelSpec, s: Shape, tok: float, tok_sp: float) -> list[Op]:
    """Router, all-to-all dispatch, local experts, all-to-all combine (balanced routing).

    With sequence parallelism (Megatron-core's all-to-all token dispatcher) a rank routes its
    s/tp tokens: the all-to-all moves those, and the tensor-parallel ranks of an expert
    all-gather the tokens it received (and reduce-scatter its outputs) instead of the layer's
    hidden states. In training experts compute ``capacity_factor`` × the routed tokens: above
    1 the padding executes but is not model work (``model_share``); below 1 the dropped token
    copies skip the experts (GShard, Switch, Megatron-core token dropping), so what runs is
    all model work. Inference routes without a capacity (vLLM fused_moe, SGLang, TensorRT-LLM
    are dropless): every routed copy runs, no padding."""
    assert model.moe is not None
    moe = model.moe
    h, e, t = model.hidden, s.e, s.tp
    ffn = moe.expert_ffn_hidden or model.ffn
    sp = t > 1 and s.sp
    own = tok_sp if sp else tok  # tokens this rank routes
    ops = [_matmul(p + "router", own, h, moe.experts, s,
                   saved=(e * own * h if s.training else 0.0))]
    ops.append(_elementwise(p + "topk", "router", own * moe.experts, s,
                            flops_per=_SOFTMAX_FLOPS_PER_ELEMENT))
    cf = moe.capacity_factor if s.training else 1.0
    slots = moe.top_k * cf  # expert slots per token, padding included
    if s.ep > 1:
        ops.append(_collective(p + "a2a_dispatch", "alltoall", "ep", e * own * slots * h, s))
    if sp:
        ops.append(_collective(p + "ag_experts", "allgather", "tp", e * tok * slots * h, s))
    local_experts = max(moe.experts // s.ep, 1)
    # only experts that receive a token run (and read their weights): with few tokens, as in
    # decode, balanced top-k routing of the ep group's tokens touches E·(1 − (1 − k/E)^n) of
    # them, an expected count: the last one listed stands for its fractional part
    active = _active_experts(local_experts, moe.experts, moe.top_k, tok * s.ep)
    tokens_per_expert = tok * slots / active  # balanced: each rank receives ~tok·slots copies
    whole = int(active + 1e-9)
    groups = [(x, 1.0) for x in range(whole)]
    if active - whole > 1e-9:
        groups.append((whole, active - whole))
    for x, share in groups:
        for op in _dense_mlp(p, model, s, tokens_per_expert, tokens_per_expert, ffn,
                             prefix=f"e{x}."):
            op = _expert_op(op, share, min(1.0, 1.0 / cf))
            ops.append(replace(op, grouped=True) if s.moe_grouped and x > 0 else op)
    if sp:
        ops.append(_collective(p + "rs_experts", "reducescatter", "tp",
                               e * tok * slots * h, s))
    elif t > 1:
        ops.append(_collective(p + "ar_mlp", "allreduce", "tp", e * tok * h, s))
    if s.ep > 1:
        ops.append(_collective(p + "a2a_combine", "alltoall", "ep", e * own * slots * h, s))
    return ops


def _expert_op(op: Op, share: float, model_share: float) -> Op:
    """An expert's op: its FLOPs counted as model work by ``model_share`` (capacity padding is
    not), and, for the expected fraction ``share`` of an expert, that share of its work and
    traffic — its parameters stay whole (the rank holds the expert either way)."""
    if share == 1.0:
        return replace(op, model_share=model_share) if op.is_matmul else op
    return replace(op, flops=op.flops * share, bytes=op.bytes * share,
                   vector_flops=op.vector_flops * share, saved_bytes=op.saved_bytes * share,
                   bwd_bytes=op.bwd_bytes * share if op.bwd_bytes is not None else None,
                   model_share=model_share if op.is_matmul else op.model_share)


def _active_experts(local: int, experts: int, top_k: int, tokens: float) -> float:
    """Expected local experts hit by ``tokens`` tokens, each routed uniformly to top_k of
    ``experts``: local · (1 − (1 − k/E)^n), at least one (every local expert for
    training-sized batches)."""
    hit = 1.0 - (1.0 - top_k / experts) ** tokens
    return min(float(local), max(1.0, local * hit))


def embedding_forward(model: ModelSpec, s: Shape) -> list[Op]:
    """Token (+ learned position) embedding; vocab-parallel over tp as in Megatron-LM."""
    h, t, e = model.hidden, s.tp, s.e
    tok = s.tokens
    params = model.vocab * h / t + (model.max_seq_len * h if model.position == "learned" else 0)
    reads = 2.0 if model.position == "learned" else 1.0
    ops = [Op(name="embed", kind="embedding", phase="fwd", flops=tok * h,
              bytes=e * tok * h * (reads + 1) + 8.0 * tok, dtype=s.dtype, params=params)]
    if t > 1:
        kind = "reducescatter" if s.sp else "allreduce"
        # without SP, Megatron-LM's g alone: its backward is the identity
        ops.append(_collective("ar_embed", kind, "tp", e * tok * h, s, backward=s.sp))
    if s.dropout and s.training:
        tok_sp = tok / t if s.sp else tok
        ops.append(_elementwise("embed_dropout", "elementwise", tok_sp * h, s, flops_per=2.0,
                                extra_bytes=tok_sp * h, saved=tok_sp * h))
    return ops


def unquantized(s: Shape) -> Shape:
    """``s`` without its quantization, for the output layer: quantization leaves it (and the
    embedding) in the 16-bit dtype by default. FP8 training: Megatron-core builds it as a plain
    ColumnParallelLinear, not a Transformer Engine module; torchao's float8 conversion skips it
    (TorchTitan's filter of "output"); MosaicML's tied head is F.linear on the embedding.
    Inference: NVIDIA ModelOpt's FP8 / INT8 / INT4-AWQ configs disable the "*lm_head*"
    quantizers (TensorRT-LLM), AutoAWQ and AutoGPTQ quantize only the decoder layers' linears.
    Pruning leaves it dense too (SparseGPT, Wanda: every linear layer except the embedding and
    the head). So the head is left out of all compression (dense, 16-bit weights) unless the
    device has no 16-bit GEMMs (``quantize_head``)."""
    if s.quantize_head or (s.weight_dtype is None and s.matmul_dtype is None
                           and not s.dequant and s.weight_bytes is None
                           and s.sparse_speedup == 1.0):
        return s
    return replace(s, matmul_dtype=None, weight_dtype=None, weight_bytes=None, dequant=False,
                   sparse_speedup=1.0)


def head_forward(model: ModelSpec, s: Shape) -> list[Op]:
    """Final norm, logits (vocab-parallel; or a replicated classifier over ``num_labels``)
    and cross-entropy loss (training only)."""
    h, t, e = model.hidden, s.tp, s.e
    tok = s.tokens
    tok_sp = tok / t if s.sp else tok
    ops = [_norm("ln_final", model, s, tok_sp, h)]
    if t > 1 and s.sp:
        ops.append(_collective("ag_head", "allgather", "tp", e * tok * h, s))
    classifier = model.num_labels is not None
    v_t = model.num_labels if classifier else model.vocab // t
    logits = _regathered(_matmul("logits", tok, h, v_t, unquantized(s),
                                 bias=classifier and model.bias,
                                 saved=(e * tok_sp * h if s.training else 0.0)), s, tok, h)
    if model.tied_embeddings and not classifier:
        logits = replace(logits, params=0.0)  # shares the embedding table
    if t > 1 and not s.sp and not classifier and s.training:
        # Megatron-LM's f before the vocab-parallel logits: identity forward, all-reduce of the
        # input gradient in backward (with sequence parallelism ag_head's reduce-scatter is it)
        logits = replace(logits, dgrad_comm=Comm(kind="allreduce", group="tp",
                                                 bytes=e * tok * h))
    ops.append(logits)
    if s.training:
        # vocab-parallel cross entropy in fp32 (Megatron-LM vocab_parallel_cross_entropy),
        # bytes per logit: cast (e read, 4 write), max (4), subtract (4+4), exp (4+4), sum (4),
        # normalise (4+4) = e + 36; backward: scale the saved softmax (4+4), cast (4+e)
        ops.append(Op(name="loss", kind="loss", phase="fwd",
                      flops=_SOFTMAX_FLOPS_PER_ELEMENT * tok * v_t,
                      bytes=tok * v_t * (e + 36.0), bwd_bytes=tok * v_t * (e + 12.0),
                      dtype=s.dtype, saved_bytes=4.0 * tok * v_t))
        if t > 1 and not classifier:
            # max, sum and target-logit reductions (fp32); the backward needs none
            ops.append(_collective("ar_loss", "allreduce", "tp", 3 * 4.0 * tok, s,
                                   backward=False))
    return ops
