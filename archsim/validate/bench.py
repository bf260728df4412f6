"""Micro-benchmarks of the local device (the programs behind ``archsim calibrate``).

Each benchmark times one kind of kernel over a grid of sizes and returns plain records
(dicts of sizes, dtype and the median time), which :mod:`archsim.validate.fit` turns into the
quantities archsim's cost model consumes. None of these programs is a model that does work:
calibration and validation stay apart. The one that runs a model (:func:`bench_framework`)
runs the validation suite's model code at a width of 16, where no kernel does measurable work,
to measure what the framework costs around the kernels (:mod:`archsim.validate.overheads`).

Needs torch: the functions import it when called.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from archsim.validate.deps import require_torch
from archsim.validate.measure import synchronize, time_callable

Record = dict


@dataclass(frozen=True)
class Grid:
    """Sizes each benchmark visits (see :func:`default_grid`)."""

    gemm_m: tuple[int, ...]
    gemm_kn: tuple[tuple[int, int], ...]
    gemm_layouts: tuple[str, ...]
    memory_elements: tuple[int, ...]
    vector_rows_cols: tuple[tuple[int, int], ...]
    loss_rows_cols: tuple[tuple[int, int], ...]
    attention: tuple[tuple[int, int, int, int, int, bool], ...]
    """(batch, heads, q_len, kv_len, head_dim, causal)."""
    optimizer_params: tuple[int, ...]
    dtypes: tuple[str, ...]
    """Dtypes whose GEMM peak is measured; the first one is the profile's primary dtype."""
    min_total_s: float = 0.05
    repeats: int = 5
    streaming_widths: tuple[int, ...] = ()
    """Widths of the decode steps whose per-op costs are timed op by op (a CPU only; see
    :func:`bench_streaming`)."""
    extra: dict = field(default_factory=dict)


def default_grid(device: str, quick: bool = False) -> Grid:
    """The calibration grid: shapes a transformer's linear layers, attention and elementwise
    kernels take on this kind of device (smaller on CPU, larger on CUDA); ``quick`` keeps a
    subset for CI."""
    if device == "cuda":
        return Grid(
            gemm_m=(16, 256, 1024, 4096, 16384),
            gemm_kn=((1024, 1024), (2048, 8192), (4096, 4096), (8192, 2048), (8192, 8192)),
            gemm_layouts=("nt", "nn", "tn"),
            memory_elements=(2**20, 2**22, 2**24, 2**26, 2**28),
            vector_rows_cols=((4096, 1024), (8192, 4096), (16384, 8192)),
            loss_rows_cols=((4096, 32000), (8192, 50304)),
            attention=((8, 16, 1024, 1024, 128, True), (4, 32, 2048, 2048, 128, True),
                       (8, 16, 1024, 1024, 128, False), (2, 32, 4096, 4096, 128, True),
                       (8, 32, 1, 2048, 128, False), (32, 32, 1, 4096, 128, False)),
            optimizer_params=(2**24, 2**27),
            dtypes=("bf16", "fp16", "fp32"),
            min_total_s=0.02, repeats=7)
    if quick:
        return Grid(
            gemm_m=(1, 64, 512, 2048),
            gemm_kn=((256, 256), (512, 1536), (1024, 1024), (1024, 4096)),
            gemm_layouts=("nt", "nn", "tn"),
            memory_elements=(2**16, 2**20, 2**23, 2**25),
            vector_rows_cols=((256, 256), (1024, 512), (4096, 1024)),
            loss_rows_cols=((512, 4096), (1024, 8192)),
            attention=((2, 4, 128, 128, 64, True), (2, 8, 256, 256, 64, True),
                       (2, 8, 256, 256, 64, False), (1, 8, 1024, 1024, 64, True),
                       (1, 8, 1, 512, 64, False), (4, 8, 1, 256, 64, False)),
            optimizer_params=(2**18, 2**22),
            dtypes=("fp32", "bf16"),
            min_total_s=0.03, repeats=5, streaming_widths=(16, 384))
    return Grid(
        gemm_m=(1, 4, 16, 64, 256, 1024, 4096),
        gemm_kn=((256, 256), (256, 1024), (512, 1536), (1024, 1024), (512, 2048), (2048, 512),
                 (1024, 4096), (4096, 1024), (768, 32000)),
        gemm_layouts=("nt", "nn", "tn"),
        memory_elements=(2**14, 2**16, 2**18, 2**20, 2**22, 2**24, 2**25, 2**26),
        vector_rows_cols=((64, 256), (256, 512), (1024, 512), (1024, 2048), (4096, 1024),
                          (4096, 4096)),
        loss_rows_cols=((256, 8192), (1024, 8192), (1024, 32000), (4096, 8192)),
        attention=((1, 4, 64, 64, 64, True), (4, 8, 128, 128, 64, True),
                   (4, 8, 128, 128, 64, False), (2, 8, 256, 256, 64, True),
                   (2, 8, 256, 256, 64, False), (2, 8, 512, 512, 64, True),
                   (2, 8, 512, 512, 64, False), (1, 8, 1024, 1024, 64, True),
                   (1, 8, 1024, 1024, 64, False), (1, 16, 2048, 2048, 64, True),
                   (1, 8, 1, 128, 64, False), (1, 8, 1, 1024, 64, False),
                   (8, 8, 1, 512, 64, False), (4, 16, 1, 2048, 64, False)),
        optimizer_params=(2**16, 2**20, 2**23),
        dtypes=("fp32", "bf16"),
        min_total_s=0.05, repeats=5, streaming_widths=(16, 128, 384, 1024, 2048))


Progress = Callable[[str], None]


def _timing(fn, device: str, grid: Grid, inner: int = 1) -> dict:
    t = time_callable(fn, device, warmup=2, repeats=grid.repeats, inner=inner,
                      min_total_s=grid.min_total_s)
    return {"time_s": t.median_s, "spread": round(t.spread, 4), "repeats": len(t.samples),
            "contention": t.contention}


def _dtype(name: str):
    from archsim.validate.torch_model import torch_dtype

    return torch_dtype(name)


def bench_overhead(device: str, grid: Grid, step: Progress) -> list[Record]:
    """Per-op dispatch overhead: each kind of op of the op graph (linear, norm, activation,
    residual add, attention with its head reshapes, KV-cache write, embedding lookup) on
    tensors too small to do measurable work, called the way a model calls it, per call."""
    torch = require_torch()
    import torch.nn.functional as F

    x = torch.randn(1, 1, 8, device=device)
    lin = torch.nn.Linear(8, 8, device=device)
    ln = torch.nn.LayerNorm(8, device=device)
    emb = torch.nn.Embedding(16, 8, device=device)
    tok = torch.zeros(1, 1, dtype=torch.long, device=device)
    qkv = torch.randn(1, 1, 24, device=device)
    cache = torch.zeros(1, 2, 4, 4, device=device)

    def attention():
        q, k, v = qkv.view(1, 1, 6, 4).split([2, 2, 2], dim=2)
        o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2),
                                           v.transpose(1, 2))
        return o.transpose(1, 2).reshape(1, 1, 8)

    def kv_write():
        cache[:, :, 1:2] = qkv.view(1, 1, 6, 4)[:, :, :2].transpose(1, 2)

    cases = {"linear": lambda: lin(x), "layer_norm": lambda: ln(x),
             "gelu": lambda: F.gelu(x), "add": lambda: x + x, "attention": attention,
             "kv_write": kv_write, "embedding": lambda: emb(tok)}
    out = []
    with torch.no_grad():
        for name, fn in cases.items():
            step(f"overhead {name}")
            out.append({"op": name, **_timing(fn, device, grid, inner=100)})
    return out


def bench_gemm(device: str, grid: Grid, dtype: str, step: Progress,
               shapes: list[tuple[int, int, int]] | None = None) -> list[Record]:
    """GEMMs m×k·k×n in the three layouts a linear layer uses: ``nt`` forward (x·Wᵀ),
    ``nn`` data gradient (dy·W), ``tn`` weight gradient (dyᵀ·x); the second operand cold
    (``ROTATE_BYTES``) and, in the forward layout, the output too (``_gemm_call``)."""
    torch = require_torch()
    dt = _dtype(dtype)
    out = []
    shapes = shapes or [(m, k, n) for m in grid.gemm_m for k, n in grid.gemm_kn]
    with torch.no_grad():
        for m, k, n in shapes:
            for layout in grid.gemm_layouts:
                step(f"gemm {dtype} {m}x{k}x{n} {layout}")
                fn = _gemm_call(torch, layout, m, k, n, device, dt)
                out.append({"m": m, "k": k, "n": n, "layout": layout, "dtype": dtype,
                            **_timing(fn, device, grid)})
                del fn
    return out


ROTATE_BYTES = 256 * 2**20
"""A GEMM's second operand (the weight, in a model) cycles through copies adding up to at least
this many bytes, more than any cache measured here (a 64 MiB CPU L3, a 50–60 MB GPU L2):
inside a model a layer's weights were evicted by the layers that ran since, so a GEMM reads
them from memory. Timing one operand over and over would read it from cache and price
decode's matrix-vector products (m = 1) several times too fast (seen on a 2-core AMD EPYC VM:
fp32 GEMVs streamed weights at ~10 GB/s in a model, ~35 GB/s from cache)."""
MAX_COPIES = 64


def _copies(torch, shape: tuple[int, int], device: str, dt, *, random: bool = True) -> list:
    """Copies of a ``shape`` tensor adding up to at least ``ROTATE_BYTES`` (at most
    ``MAX_COPIES``): random values, or zeros (written, so their pages exist) for outputs."""
    per = shape[0] * shape[1] * torch.empty((), dtype=dt).element_size()
    count = max(1, min(MAX_COPIES, -(-ROTATE_BYTES // max(per, 1))))
    make = torch.randn if random else torch.zeros
    return [make(*shape, device=device, dtype=dt) for _ in range(count)]


def _rotation(copies: list) -> Callable[[], Any]:
    """The next of ``copies`` at each call, cycling."""
    turn = [0]

    def nxt():
        turn[0] = (turn[0] + 1) % len(copies)
        return copies[turn[0]]

    return nxt


FRESH_MAPPING_BYTES = 32 * 2**20
"""Outputs of at least this many bytes are allocated afresh by each call on a CPU: glibc's
malloc serves them with a new mmap (its dynamic mmap threshold stops at 32 MiB on 64-bit,
``DEFAULT_MMAP_THRESHOLD_MAX``, mallopt(3)), so a model pays their page faults every time, and
so does the benchmark (1024 and 4096 × 768 × 32000 in fp32, 125 and 500 MiB outputs: 1.17× and
1.21× a call into written buffers, reports/validation/cpu-m167/output_rotation_ablation.md)."""


def rotates_output(device: str, m: int, n: int, element_size: int) -> bool:
    """Whether a forward GEMM record writes into rotated, already written buffers (below
    ``FRESH_MAPPING_BYTES`` on a CPU; always on a GPU, whose caching allocator reuses its
    blocks) rather than into a fresh allocation per call."""
    return device != "cpu" or m * n * element_size < FRESH_MAPPING_BYTES


def _gemm_call(torch, layout: str, m: int, k: int, n: int, device: str, dt) -> Callable:
    """One GEMM call per invocation, the second operand rotating through ROTATE_BYTES. The
    forward layout (``nt``) also writes its output into buffers rotating through
    ROTATE_BYTES (up to ``MAX_COPIES``): inside a model a forward GEMM writes a new activation
    into memory that the ops since have evicted, and writing into memory the cache no longer
    holds costs more than rewriting the buffer the last call freed (on a 2-vCPU Xeon, model
    167, fp32 GEMMs with k ≤ 512 and 1–24 MiB outputs ran 3–11% longer with rotated outputs,
    with k ≥ 768 −2 … +5%: reports/validation/cpu-m167/output_rotation_ablation.md; a
    training step's forward GEMMs had run 12–17% longer than the one-buffer records
    predicted, reports/validation/cpu-m167/). Outputs a CPU allocates afresh
    (``rotates_output``) are allocated afresh here too. The backward layouts keep what they
    had, a new output per call: their in-model time was at or below their records' in every
    per-op table of that CPU, and what sets it was not measured."""
    if layout == "nt":
        a = torch.randn(m, k, device=device, dtype=dt)
        weight = _rotation(_copies(torch, (n, k), device, dt))
        if not rotates_output(device, m, n, a.element_size()):
            return lambda: torch.nn.functional.linear(a, weight())
        output = _rotation(_copies(torch, (m, n), device, dt, random=False))
        return lambda: torch.mm(a, weight().t(), out=output())
    if layout == "nn":
        a, bs = torch.randn(m, k, device=device, dtype=dt), _copies(torch, (k, n), device, dt)
        nxt = _rotation(bs)
        return lambda: a @ nxt()
    a, bs = torch.randn(k, m, device=device, dtype=dt), _copies(torch, (k, n), device, dt)
    nxt = _rotation(bs)
    return lambda: a.t() @ nxt()


def bench_memory(device: str, grid: Grid, dtype: str, step: Progress) -> list[Record]:
    """Streaming kernels: ``copy`` (dst.copy_(src): read n, write n into an existing buffer)
    and ``add`` (a + b into a new tensor: read 2n, write n), as eager models run them."""
    torch = require_torch()
    dt = _dtype(dtype)
    out = []
    with torch.no_grad():
        for n in grid.memory_elements:
            a = torch.randn(n, device=device).to(dt)
            b = torch.randn(n, device=device).to(dt)
            dst = torch.empty_like(a)
            step(f"memory copy {n}")
            out.append({"kernel": "copy", "elements": n, "dtype": dtype,
                        **_timing(lambda a=a, dst=dst: dst.copy_(a), device, grid)})
            step(f"memory add {n}")
            out.append({"kernel": "add", "elements": n, "dtype": dtype,
                        **_timing(lambda a=a, b=b: a + b, device, grid)})
            del a, b, dst
    return out


def bench_vector(device: str, grid: Grid, dtype: str, step: Progress) -> list[Record]:
    """Non-matrix kernels of a transformer layer, forward and backward, on rows×cols
    activations: GeLU, SiLU·mul (SwiGLU), softmax over the last dimension, layer norm, RMS
    norm, and the rotary embedding of rows tokens' queries and keys of cols / ROPE_HEAD_DIM
    heads each (:func:`_rope_kernel`; the backward time is fwd+bwd minus fwd)."""
    torch = require_torch()
    import torch.nn.functional as F

    dt = _dtype(dtype)
    out = []
    for rows, cols in grid.vector_rows_cols:
        x = torch.randn(rows, cols, device=device, dtype=dt, requires_grad=True)
        x2 = torch.randn(rows, 2 * cols, device=device, dtype=dt, requires_grad=True)
        w = torch.ones(cols, device=device, dtype=dt, requires_grad=True)
        b = torch.zeros(cols, device=device, dtype=dt, requires_grad=True)

        def swiglu(x2=x2):
            g, u = x2.chunk(2, dim=-1)
            return F.silu(g) * u

        kernels = {
            "gelu": lambda x=x: F.gelu(x),
            "swiglu": swiglu,
            "softmax": lambda x=x: torch.softmax(x, dim=-1),
            "layer_norm": lambda x=x, w=w, b=b: F.layer_norm(x, (x.shape[-1],), w, b),
            "rms_norm": lambda x=x, w=w: F.rms_norm(x, (x.shape[-1],), w),
        }
        leaves = {"swiglu": [x2], "layer_norm": [x, w, b], "rms_norm": [x, w]}
        kernels["rope"], leaves["rope"] = _rope_kernel(rows, cols, device, dt)
        for name, fn in kernels.items():
            step(f"vector {name} {rows}x{cols}")
            extra = {"head_dim": ROPE_HEAD_DIM} if name == "rope" else {}
            out.extend(_fwd_bwd_records(fn, leaves.get(name, [x]), device, grid,
                                        {"kernel": name, "rows": rows, "cols": cols,
                                         "dtype": dtype, **extra}))
    return out


ROPE_HEAD_DIM = 64
"""Head size of the rotary-embedding records (the validation models' heads: cases.py)."""


def _rope_kernel(rows: int, cols: int, device: str, dt) -> tuple[Callable[[], Any], list]:
    """The rotary embedding as the validation model runs it (torch_model.apply_rope): the
    queries and keys of ``rows`` tokens, cols / ROPE_HEAD_DIM heads each, are transposed views
    of one packed qkv projection; the tables are the model's. Returns the kernel and the
    tensors its backward stops at (the q and k views: the split's backward is the attention's
    in the model)."""
    torch = require_torch()
    from archsim.validate.torch_model import apply_rope, rope_tables

    heads = cols // ROPE_HEAD_DIM
    packed = torch.randn(1, rows, 3 * heads, ROPE_HEAD_DIM, device=device, dtype=dt,
                         requires_grad=True)
    q, k, _ = packed.split([heads] * 3, dim=2)
    q, k = q.transpose(1, 2), k.transpose(1, 2)
    tables = rope_tables(ROPE_HEAD_DIM, rows, torch.device(device), dt)
    return (lambda: apply_rope(q, k, tables, 0)), [q, k]


def bench_loss(device: str, grid: Grid, dtype: str, step: Progress) -> list[Record]:
    """Cross entropy over rows×classes logits (log-softmax + NLL), forward and backward."""
    torch = require_torch()
    import torch.nn.functional as F

    dt = _dtype(dtype)
    out = []
    for rows, cols in grid.loss_rows_cols:
        x = torch.randn(rows, cols, device=device, dtype=dt, requires_grad=True)
        y = torch.randint(0, cols, (rows,), device=device)
        step(f"loss {rows}x{cols}")
        out.extend(_fwd_bwd_records(lambda x=x, y=y: F.cross_entropy(x, y), [x], device,
                                    grid, {"kernel": "cross_entropy", "rows": rows,
                                           "cols": cols, "dtype": dtype}))
        del x
    return out


def _fwd_bwd_records(fn, leaves: list, device: str, grid: Grid, base: dict) -> list[Record]:
    """A forward record and a backward one (fwd+bwd minus fwd) of ``fn``, differentiated
    with respect to ``leaves``, the tensors that stand for its inputs and parameters.

    The gradients are returned (``torch.autograd.grad``), not accumulated into the leaves'
    ``.grad``: inside a model an activation's gradient flows on to the op before it, while
    ``.backward()`` on a leaf adds every call's gradient into the one kept from the call
    before — one more read-read-write pass over the input, which made the backward records
    too long on a 2-vCPU Intel Xeon by a median 1.58× (softmax), 1.28× (LayerNorm), 1.14×
    (cross entropy), 1.13× (GeLU), 1.11× (SwiGLU), 1.05× (RMSNorm) and 1.03× (attention), at
    most 2.6× (reports/validation/cpu-intel/leaf_grad_artifact.md)."""
    torch = require_torch()
    with torch.no_grad():
        fwd = _timing(fn, device, grid)
    probe = fn()
    grads = [torch.ones_like(o) for o in (probe if isinstance(probe, tuple) else (probe,))]
    del probe

    def fwd_bwd():
        outs = fn()
        torch.autograd.grad(outs if isinstance(outs, tuple) else (outs,), leaves, grads)

    both = _timing(fwd_bwd, device, grid)
    bwd = max(both["time_s"] - fwd["time_s"], 0.0)
    return [{**base, "phase": "fwd", **fwd},
            {**base, "phase": "bwd", "time_s": bwd, "spread": both["spread"],
             "repeats": both["repeats"], "fwd_bwd_time_s": both["time_s"]}]


def bench_attention(device: str, grid: Grid, dtype: str, step: Progress) -> list[Record]:
    """PyTorch's fused scaled-dot-product attention, forward (and backward for q_len > 1).

    Self-attention over a prompt (q = kv > 1) is timed as a model calls it
    (archsim/validate/torch_model.py ``Attention``, ``_packed_attention``): q, k and v are
    strided views of one packed qkv projection, and the output is transposed back to tokens
    and reshaped (a copy); the backward returns the packed tensor's gradient. On a 2-vCPU
    Xeon (model 167) that layout took 1.05–1.19× the time of the same call on contiguous
    q, k, v (reports/validation/cpu-m167/attention_layout_probe.md), and the validation
    models' in-model attention had run 3–43% longer than the contiguous records predicted.
    Decode records (one query against a cache) keep contiguous tensors."""
    torch = require_torch()
    import torch.nn.functional as F

    dt = _dtype(dtype)
    out = []
    for b, h, q, kv, d, causal in grid.attention:
        step(f"attention {b}x{h} q{q} kv{kv} d{d}{' causal' if causal else ''}")
        base = {"batch": b, "heads": h, "q": q, "kv": kv, "head_dim": d, "causal": causal,
                "dtype": dtype}
        if q > 1 and q == kv:
            packed = torch.randn(b, q, 3 * h * d, device=device, dtype=dt, requires_grad=True)
            fn = _packed_attention(packed, h, d, causal)
            out.extend(_fwd_bwd_records(fn, [packed], device, grid,
                                        {**base, "layout": "packed"}))
            continue
        qt = torch.randn(b, h, q, d, device=device, dtype=dt, requires_grad=True)
        kt = torch.randn(b, h, kv, d, device=device, dtype=dt, requires_grad=True)
        vt = torch.randn(b, h, kv, d, device=device, dtype=dt, requires_grad=True)

        def fn(qt=qt, kt=kt, vt=vt, c=causal):
            return F.scaled_dot_product_attention(qt, kt, vt, is_causal=c)

        if q == 1:
            with torch.no_grad():
                out.append({**base, "phase": "fwd", **_timing(fn, device, grid)})
        else:
            out.extend(_fwd_bwd_records(fn, [qt, kt, vt], device, grid, base))
    return out


def _packed_attention(packed, heads: int, head_dim: int, causal: bool) -> Callable[[], Any]:
    """Attention over ``packed`` (batch, tokens, 3·heads·head_dim) as a model's layer runs it:
    q, k, v split off as views and transposed to (batch, heads, tokens, head_dim), the output
    transposed back and reshaped to (batch, tokens, heads·head_dim)."""
    import torch.nn.functional as F

    b, s, _ = packed.shape

    def fn():
        q, k, v = packed.view(b, s, 3 * heads, head_dim).split([heads] * 3, dim=2)
        o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2),
                                           v.transpose(1, 2), is_causal=causal)
        return o.transpose(1, 2).reshape(b, s, heads * head_dim)

    return fn


def bench_optimizer(device: str, grid: Grid, step: Progress) -> list[Record]:
    """One fused AdamW step over n fp32 parameters (in 8 tensors, as a layer holds them)."""
    torch = require_torch()
    out = []
    for n in grid.optimizer_params:
        step(f"optimizer adamw {n}")
        params = [torch.nn.Parameter(torch.randn(n // 8, device=device)) for _ in range(8)]
        for p in params:
            p.grad = torch.randn_like(p)
        opt = torch.optim.AdamW(params, lr=1e-4, fused=True)
        out.append({"optimizer": "adamw", "params": n, "tensors": 8, "dtype": "fp32",
                    **_timing(opt.step, device, grid)})
        del params, opt
    return out


def bench_framework(device: str, grid: Grid, step: Progress) -> list[Record]:
    """Decode steps and training steps (zero the gradients, forward with the loss, backward,
    fused AdamW — as the validation runner does) of GPT- and Llama-style models of width
    :data:`~archsim.validate.overheads.WIDTH` with 1 and 3 layers, in the primary dtype: what
    a layer and a step cost inside a model beyond their kernels' work."""
    from archsim.validate.overheads import FAMILIES, LAYERS

    return [rec for family in FAMILIES for layers in LAYERS
            for rec in _framework_steps(family, layers, device, grid, step)]


def _framework_steps(family: str, layers: int, device: str, grid: Grid,
                     step: Progress) -> list[Record]:
    torch = require_torch()
    from archsim.validate.overheads import TOKENS, framework_spec
    from archsim.validate.torch_model import build_model, random_targets, random_tokens

    dtype = grid.dtypes[0]
    spec = framework_spec(family, layers)
    model = build_model(spec, device, dtype)
    prompt = random_tokens(spec, 1, TOKENS, device)
    # training first: tensors a model caches under inference_mode (RoPE tables) cannot be
    # saved for a backward pass afterwards
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device in ("cpu", "cuda"))
    targets = random_targets(model, 1, TOKENS, device)

    def train() -> None:
        opt.zero_grad(set_to_none=True)
        model(prompt, targets).backward()
        opt.step()

    step(f"framework {family} {layers} layers train")
    training = _timing(train, device, grid)
    model.eval()
    decode = _decoder(model, prompt)
    step(f"framework {family} {layers} layers decode")
    with torch.inference_mode():
        decoding = _timing(decode, device, grid)
    base = {"model": family, "layers": layers, "dtype": dtype}
    return [{**base, "phase": "decode", **decoding}, {**base, "phase": "train", **training}]


def _decoder(model: Any, prompt: Any) -> Callable[[], None]:
    """One decode step of ``model`` (eval mode) after ``prompt`` (one sequence), prefilled
    here once into a fresh cache; each call rewinds the cache and decodes the prompt's last
    token again. Call it under ``torch.inference_mode()``."""
    torch = require_torch()
    tokens = prompt.shape[1]
    cache = model.new_cache(1, tokens + 1)
    last = prompt[:, -1:]
    with torch.inference_mode():
        model.next_token(prompt, cache)

    def decode() -> None:
        cache.length = tokens
        model.next_token(last, cache)

    return decode


def bench_streaming(device: str, grid: Grid, step: Progress) -> list[Record]:
    """Decode steps of 2-layer GPT- and Llama-style models at each of
    ``grid.streaming_widths``, timed whole and op by op (each op range's wall time; the ops of
    a CPU return when done): how an op's in-model cost grows with the weight bytes each layer
    streams through the caches (archsim/validate/overheads.py). Then as many steps on copies
    of the model cycled through ``ROTATE_BYTES`` (its weights cold, as the GEMM benchmark
    reads them): the ratio of the two weight-GEMM times is the read scale. Nothing on a GPU,
    whose ops run after their host has issued them."""
    from archsim.validate.overheads import FAMILIES

    if device != "cpu":
        return []
    return [_streaming_step(family, width, device, grid, step)
            for width in grid.streaming_widths for family in FAMILIES]


def _streaming_step(family: str, width: int, device: str, grid: Grid,
                    step: Progress) -> Record:
    torch = require_torch()
    from archsim.validate.overheads import (
        STREAMING_LAYERS,
        STREAMING_MAX_RUNS,
        STREAMING_MIN_RUNS,
        STREAMING_MIN_S,
        TOKENS,
        framework_spec,
    )
    from archsim.validate.torch_model import build_model, random_tokens

    dtype = grid.dtypes[0]
    spec = framework_spec(family, STREAMING_LAYERS, width)
    model = build_model(spec, device, dtype).eval()
    prompt = random_tokens(spec, 1, TOKENS, device)
    decode = _decoder(model, prompt)
    # copies of the model with their own weights, cycled through for the cold steps: between
    # two uses of one copy the others stream at least ROTATE_BYTES, as in the GEMM benchmark
    pass_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    copies = [build_model(spec, device, dtype).eval()
              for _ in range(min(MAX_COPIES, -(-ROTATE_BYTES // max(pass_bytes, 1))) + 1)]
    cold = [_decoder(m, prompt) for m in copies]
    step(f"streaming {family} width {width} decode")
    with torch.inference_mode():
        timing = _timing(decode, device, grid)
        # the same steps with each op range timed: the step's own time comes from these runs
        # too, so that the time outside the weight GEMMs is a difference within one run
        watch: dict[str, float] = {}
        for m in (model, *copies):
            m.labels.stopwatch = watch
        try:
            decode()  # one untimed step with the stopwatch in place
            runs: list[list[float]] = []  # [step, time inside the weight GEMMs' ranges]
            cold_runs: list[list[float]] = []  # the same, each step on the next copy
            per_op: dict[str, list[float]] = {}
            total = 0.0
            while len(runs) < STREAMING_MIN_RUNS or (total < STREAMING_MIN_S
                                                     and len(runs) < STREAMING_MAX_RUNS):
                took, inside = _watched(decode, watch)
                total += took
                runs.append([float(f"{took:.5g}"), float(f"{inside:.5g}")])
                for name, t in watch.items():
                    per_op.setdefault(name, []).append(t)
            # then as many cold steps, right after (not interleaved with the hot ones: a cold
            # step between two hot ones would evict the weights the hot steps find cached)
            for i in range(len(runs)):
                took, inside = _watched(cold[i % len(cold)], watch)
                cold_runs.append([float(f"{took:.5g}"), float(f"{inside:.5g}")])
        finally:
            for m in (model, *copies):
                m.labels.stopwatch = None
    weight_bytes = sum(p.numel() * p.element_size() for p in model.blocks[0].parameters())
    return {"model": family, "width": width, "layers": STREAMING_LAYERS, "phase": "decode",
            "dtype": dtype, "layer_weight_bytes": weight_bytes, **timing,
            "ops": {name: float(f"{statistics.median(ts):.4g}")
                    for name, ts in sorted(per_op.items())}, "runs": runs,
            "cold_runs": cold_runs, "cold_copies": len(copies), "model_weight_bytes": pass_bytes}


def _watched(decode: Callable[[], None], watch: dict[str, float]) -> tuple[float, float]:
    """One decode step: its wall time and the time spent inside its weight GEMMs' op ranges."""
    from archsim.validate.overheads import WEIGHT_GEMM_LABELS

    watch.clear()
    t0 = time.perf_counter()
    decode()
    took = time.perf_counter() - t0
    return took, sum(t for name, t in watch.items() if name in WEIGHT_GEMM_LABELS)


def count_steps(grid: Grid) -> int:
    """How many progress steps :func:`run_all` reports (for a progress bar)."""
    from archsim.validate.overheads import FAMILIES, LAYERS, PHASES

    gemm = len(grid.gemm_m) * len(grid.gemm_kn) * len(grid.gemm_layouts)
    other_dtypes = (len(grid.dtypes) - 1) * min(4, len(grid.gemm_kn)) * len(grid.gemm_layouts)
    framework = len(FAMILIES) * len(LAYERS) * len(PHASES)
    framework += len(FAMILIES) * len(grid.streaming_widths)
    return (7 + framework + gemm + other_dtypes + 2 * len(grid.memory_elements)
            + 6 * len(grid.vector_rows_cols) + len(grid.loss_rows_cols) + len(grid.attention)
            + len(grid.optimizer_params))


def run_all(device: str, grid: Grid, step: Progress) -> dict[str, list[Record]]:
    """Every micro-benchmark; the primary dtype gets the full GEMM grid, the other dtypes the
    largest shapes (enough for their peak)."""
    primary = grid.dtypes[0]
    raw: dict[str, list[Record]] = {"overhead": bench_overhead(device, grid, step)}
    raw["gemm"] = bench_gemm(device, grid, primary, step)
    big_m = max(grid.gemm_m)
    big = sorted(grid.gemm_kn, key=lambda kn: kn[0] * kn[1])[-4:]
    for dtype in grid.dtypes[1:]:
        raw["gemm"] += bench_gemm(device, grid, dtype, step,
                                  shapes=[(big_m, k, n) for k, n in big])
    raw["memory"] = bench_memory(device, grid, primary, step)
    raw["vector"] = bench_vector(device, grid, primary, step)
    raw["loss"] = bench_loss(device, grid, primary, step)
    raw["attention"] = bench_attention(device, grid, primary, step)
    raw["optimizer"] = bench_optimizer(device, grid, step)
    raw["framework"] = bench_framework(device, grid, step)
    raw["streaming"] = bench_streaming(device, grid, step)
    synchronize(device)
    return raw
