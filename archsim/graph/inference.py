"""Op lists of a transformer layer during inference (prefill and decode with a KV cache).

Built on :func:`archsim.graph.transformer.layer_forward` with the inference-only parts added:

* ``kv_write``: the new tokens' K and V are written into the cache (vLLM's
  ``reshape_and_cache`` kernel): reads them in the activation dtype, writes them in the KV dtype.
* Standard (non-flash) attention reads K and V from the cache: the Q·Kᵀ and A·V GEMMs read their
  K/V operand in the KV-cache dtype. Each query head reads its K/V (no sharing across a GQA group:
  eager PyTorch repeats K/V per query head).
* The head computes logits for the sampled positions only (one per sequence that emits a token),
  gathers the vocab-parallel logits over the tensor-parallel group (as vLLM does before sampling),
  and has no loss.
"""

from __future__ import annotations

from dataclasses import replace

from archsim.graph.ops import Comm, Op
from archsim.graph.transformer import Shape, head_forward, layer_forward
from archsim.spec.model import ModelSpec


def kv_heads_per_rank(model: ModelSpec, tp: int) -> float:
    """K/V heads on one tensor-parallel rank: split when tp divides them, else replicated."""
    return max(model.n_kv_heads / tp, 1.0)


def kv_write_op(model: ModelSpec, s: Shape, layer: int = 0) -> Op:
    """Writing the K and V of the ``s.tokens`` new tokens into the cache."""
    elements = 2.0 * s.tokens * kv_heads_per_rank(model, s.tp) * model.d_head
    return Op(name=f"L{layer}.kv_write", kind="elementwise", phase="fwd", flops=0.0,
              bytes=elements * (s.e + s.kve), dtype=s.dtype)


def inference_layer(model: ModelSpec, s: Shape, layer: int = 0) -> list[Op]:
    """Forward ops of layer ``layer`` on one tensor-parallel rank, reading/writing the KV cache.

    ``s.seq`` is the new tokens per sequence (the prompt or a chunk of it in prefill, 1 in
    decode) and ``s.kv_seq`` the context they attend to, themselves included.
    """
    s = replace(s, training=False, dropout=False)
    if s.flash:
        ops = layer_forward(model, replace(s, kv_cache=True), layer)
    else:
        ops = [_read_kv_from_cache(op, s) for op in
               layer_forward(model, replace(s, kv_cache=False), layer)]
    # the cache keeps K after its rotary embedding, so the write follows the rope op
    after = f"L{layer}.rope" if model.position == "rope" else f"L{layer}.qkv"
    out: list[Op] = []
    for op in ops:
        out.append(op)
        if op.name == after and not model.encoder:  # an encoder keeps no KV cache
            out.append(kv_write_op(model, s, layer))
    return out


def _read_kv_from_cache(op: Op, s: Shape) -> Op:
    """Q·Kᵀ / A·V of standard attention with the K/V operand read in the KV-cache dtype."""
    if op.shape is None or not op.name.endswith((".qk", ".av")) or s.kve == s.e:
        return op
    batch, _m, k, n = op.shape  # the k×n operand is K (d×kv) or V (kv×d)
    return replace(op, bytes=op.bytes + batch * k * n * (s.kve - s.e))


def inference_head(model: ModelSpec, s: Shape) -> list[Op]:
    """Final norm and logits for ``s.batch`` sampled positions, gathered over tp for sampling."""
    s = replace(s, seq=1, kv_seq=1, training=False, dropout=False, sp=False)
    ops = head_forward(model, s)
    if s.tp > 1:
        ops.append(Op(name="gather_logits", kind="comm", phase="fwd", dtype=s.dtype,
                      comm=Comm(kind="allgather", group="tp",
                                bytes=s.e * s.batch * model.vocab)))
    return ops


def pass_weight_elements(model: ModelSpec, s: Shape, layers: bool = True) -> float:
    """Weight elements one forward pass's weight GEMMs read on one device (every layer's, then
    the head's; ``layers`` False: the head's alone): each k×n weight operand once per GEMM, so
    tied logits count though they hold no parameters of their own, every expert of a
    mixture-of-experts layer counts, and the embedding lookup (a gather) does not."""
    ops = ([op for i in range(model.layers) for op in inference_layer(model, s, i)]
           if layers else [])
    ops += inference_head(model, s)
    return float(sum(op.shape[0] * op.shape[2] * op.shape[3]
                     for op in ops if op.layout is not None and op.shape is not None))
