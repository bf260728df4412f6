"""Micro-benchmark records → the ops archsim's graph emits for the same kernels (no torch).

Each record of :mod:`archsim.validate.bench` (sizes, dtype, measured time) becomes the
:class:`~archsim.graph.ops.Op` that archsim.graph.transformer builds for that kernel — using
the graph's own functions, so that FLOP and byte conventions cannot drift between the op graph
and its calibration — paired with the measured time.
"""

from __future__ import annotations

from collections.abc import Iterable

from archsim.graph.backward import backward_of, optimizer_op
from archsim.graph.ops import Op
from archsim.graph.transformer import Shape, head_forward, layer_forward
from archsim.spec.model import ModelSpec
from archsim.spec.units import BYTES_PER_ELEMENT

VECTOR_KINDS = ("elementwise", "norm", "softmax", "loss", "optimizer")

Sample = tuple[Op, float]
"""An op and its measured time (seconds)."""


def _find(ops: Iterable[Op], name: str) -> Op:
    for op in ops:
        if op.name == name:
            return op
    raise KeyError(name)


def _model(hidden: int, heads: int = 1, ffn: int | None = None, mlp: str = "gelu",
           vocab: int = 8, norm: str = "layernorm", encoder: bool = False,
           position: str = "learned") -> ModelSpec:
    return ModelSpec(name="calibration", layers=1, hidden=hidden, heads=heads, ffn_hidden=ffn,
                     vocab=vocab, mlp=mlp, norm=norm, encoder=encoder, bias=True,
                     max_seq_len=max(hidden, 8), position=position)


def _with_bwd(fwd: Op, rec: dict) -> Op:
    return fwd if rec.get("phase", "fwd") == "fwd" else backward_of(fwd)[0]


def vector_op(rec: dict) -> Op:
    """The op graph's op for a vector-kernel record (rows × cols activations)."""
    rows, cols, dtype, kernel = rec["rows"], rec["cols"], rec["dtype"], rec["kernel"]
    shape = Shape(batch=1, seq=rows, kv_seq=rows, dtype=dtype, training=True)
    if kernel == "gelu":
        op = _find(layer_forward(_model(8, ffn=cols), shape), "L0.gelu")
    elif kernel == "swiglu":
        op = _find(layer_forward(_model(8, ffn=cols, mlp="swiglu"), shape), "L0.swiglu")
    elif kernel in ("layer_norm", "rms_norm"):
        norm = "rmsnorm" if kernel == "rms_norm" else "layernorm"
        op = _find(layer_forward(_model(cols, norm=norm), shape), "L0.ln_attn")
    elif kernel == "softmax":
        # the unfused attention's softmax over (batch·heads·q) rows of kv scores
        sm = Shape(batch=1, seq=rows, kv_seq=cols, dtype=dtype, flash=False, training=True,
                   causal=False)
        op = _find(layer_forward(_model(8, encoder=True), sm), "L0.softmax")
    elif kernel == "rope":
        # queries and keys of cols / head_dim heads each (bench._rope_kernel)
        model = _model(cols, heads=cols // rec["head_dim"], position="rope")
        op = _find(layer_forward(model, shape), "L0.rope")
    elif kernel == "cross_entropy":
        op = _find(head_forward(_model(8, vocab=cols), shape), "loss")
    else:
        raise ValueError(f"unknown vector kernel {kernel!r}")
    return _with_bwd(op, rec)


def memory_op(rec: dict) -> Op:
    """A streaming kernel: copy reads and writes n elements; add is the residual add."""
    n, dtype = rec["elements"], rec["dtype"]
    e = BYTES_PER_ELEMENT[dtype]
    if rec["kernel"] == "copy":
        return Op(name="copy", kind="elementwise", phase="fwd", flops=0.0, bytes=2 * e * n,
                  dtype=dtype)
    shape = Shape(batch=1, seq=n, kv_seq=1, dtype=dtype, training=False)
    return _find(layer_forward(_model(1), shape), "L0.bda_attn")


def gemm_op(rec: dict) -> Op:
    m, k, n, dtype = rec["m"], rec["k"], rec["n"], rec["dtype"]
    e = BYTES_PER_ELEMENT[dtype]
    layout = rec.get("layout")
    # nn (dy·W) and tn (xᵀ·dy) are the backward pass's layouts (bench.bench_gemm)
    phase = "bwd" if layout in ("nn", "tn") else "fwd"
    return Op(name=f"gemm {m}x{k}x{n}" + (f" {layout}" if layout else ""), kind="matmul",
              phase=phase, flops=2.0 * m * k * n, layout=layout,
              bytes=e * (m * k + k * n + m * n), dtype=dtype, shape=(1, m, k, n))


def attention_op(rec: dict) -> Op:
    """The op graph's fused attention op (flash) for an SDPA record."""
    b, h, q, kv, d = rec["batch"], rec["heads"], rec["q"], rec["kv"], rec["head_dim"]
    decode = q != kv
    shape = Shape(batch=b, seq=q, kv_seq=kv, dtype=rec["dtype"], flash=True,
                  causal=bool(rec["causal"]), training=not decode, kv_cache=decode)
    model = _model(h * d, heads=h, encoder=not rec["causal"])
    return _with_bwd(_find(layer_forward(model, shape), "L0.attn"), rec)


def optimizer_sample_op(rec: dict) -> Op:
    return optimizer_op(rec["params"], "adam", rec["dtype"])


FIT_MAX_CONTENTION = 0.3
"""Records measured while other processes kept more than this many cores busy (after the
harness's retries) are left out of the fit; they stay in the profile's raw records."""


def samples_from(raw: dict[str, list[dict]]) -> dict[str, list[Sample]]:
    """Records → (op, time) per fitting section (contended records left out)."""
    out: dict[str, list[Sample]] = {"memory": [], "gemm": [], "attention": []}
    out.update({k: [] for k in VECTOR_KINDS})
    raw = {section: [r for r in records if r.get("contention", 0.0) <= FIT_MAX_CONTENTION]
           for section, records in raw.items()}
    for rec in raw.get("memory", []):
        out["memory"].append((memory_op(rec), rec["time_s"]))
    for rec in raw.get("gemm", []):
        out["gemm"].append((gemm_op(rec), rec["time_s"]))
    for rec in raw.get("vector", []) + raw.get("loss", []):
        if rec["time_s"] > 0:
            op = vector_op(rec)
            out[op.kind].append((op, rec["time_s"]))
    for rec in raw.get("attention", []):
        if rec["time_s"] > 0:
            out["attention"].append((attention_op(rec), rec["time_s"]))
    for rec in raw.get("optimizer", []):
        out["optimizer"].append((optimizer_sample_op(rec), rec["time_s"]))
    return out
