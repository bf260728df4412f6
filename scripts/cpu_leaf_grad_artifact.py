"""Write reports/validation/cpu-intel/leaf_grad_artifact.md: how much longer the calibration's
backward records were while they were timed with ``.backward()`` on leaf tensors.

Until 2026-12-06 ``archsim calibrate`` timed the backward of GeLU, SwiGLU, LayerNorm, RMSNorm,
cross entropy and fused attention as (forward + ``out.backward(grad)``) − forward, on inputs
that were leaf tensors: every call after the first added its input gradient into the ``.grad``
kept from the call before, one more read-read-write pass over the input that a model's
activations never pay (their gradient flows on to the op before). The benchmark now returns
the gradients (``torch.autograd.grad``) instead (archsim/validate/bench.py
``_fwd_bwd_records``). This script times both ways on the CPU grid of ``archsim calibrate``
(vector, loss and training-attention shapes), alternating the two in every round so that a
change of machine speed hits both, and writes the ratio of the backward times.

    python scripts/cpu_leaf_grad_artifact.py          # 2-5 minutes on 2 vCPUs; needs torch
"""

from __future__ import annotations

import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import torch
import torch.nn.functional as F

from archsim.io import write_text_atomic
from archsim.validate.bench import default_grid

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "reports/validation/cpu-intel/leaf_grad_artifact.md"
ROUNDS = 7
MIN_SAMPLE_S = 0.02
"""Each sample repeats the call until it has run this long (short kernels)."""


def sample(fn) -> float:
    """Seconds per call of ``fn``, over enough calls to last MIN_SAMPLE_S."""
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= MIN_SAMPLE_S:
            return elapsed / n


def compare(fn, leaves: list) -> tuple[float, float, float]:
    """Median forward, backward with accumulation into .grad, backward returned (seconds)."""
    grad = torch.ones_like(fn())
    for leaf in leaves:
        leaf.grad = None

    def accumulate():
        fn().backward(grad)

    def returned():
        torch.autograd.grad(fn(), leaves, grad)

    def forward():
        with torch.no_grad():
            fn()

    for warm in (forward, accumulate, returned):
        warm()
        warm()
    fwd, acc, ret = [], [], []
    for r in range(ROUNDS):
        order = [(acc, accumulate), (ret, returned)]
        if r % 2:
            order.reverse()
        fwd.append(sample(forward))
        for out, f in order:
            out.append(sample(f))
    f = statistics.median(fwd)
    return f, statistics.median(acc) - f, statistics.median(ret) - f


def cases() -> list[tuple[str, str, object, list]]:
    grid = default_grid("cpu")
    out = []
    for rows, cols in grid.vector_rows_cols:
        x = torch.randn(rows, cols, requires_grad=True)
        x2 = torch.randn(rows, 2 * cols, requires_grad=True)
        w = torch.ones(cols, requires_grad=True)
        b = torch.zeros(cols, requires_grad=True)

        def swiglu(x2=x2):
            g, u = x2.chunk(2, dim=-1)
            return F.silu(g) * u

        shape = f"{rows}×{cols}"
        out += [("gelu", shape, lambda x=x: F.gelu(x), [x]),
                ("swiglu", shape, swiglu, [x2]),
                ("softmax", shape, lambda x=x: torch.softmax(x, dim=-1), [x]),
                ("layer_norm", shape, lambda x=x, w=w, b=b: F.layer_norm(x, (x.shape[-1],), w, b),
                 [x, w, b]),
                ("rms_norm", shape, lambda x=x, w=w: F.rms_norm(x, (x.shape[-1],), w), [x, w])]
    for rows, cols in grid.loss_rows_cols:
        x = torch.randn(rows, cols, requires_grad=True)
        y = torch.randint(0, cols, (rows,))
        out.append(("cross_entropy", f"{rows}×{cols}", lambda x=x, y=y: F.cross_entropy(x, y),
                    [x]))
    for bsz, h, q, kv, d, causal in grid.attention:
        if q == 1:
            continue
        qt, kt, vt = (torch.randn(bsz, h, n, d, requires_grad=True) for n in (q, kv, kv))
        out.append(("attention", f"{bsz}×{h}×{q}×{d}{' causal' if causal else ''}",
                    lambda qt=qt, kt=kt, vt=vt, c=causal:
                    F.scaled_dot_product_attention(qt, kt, vt, is_causal=c), [qt, kt, vt]))
    return out


def main() -> None:
    torch.set_num_threads(2)
    rows, ratios = [], {}
    for kernel, shape, fn, leaves in cases():
        f, acc, ret = compare(fn, leaves)
        ratio = acc / ret if ret > 0 else float("nan")
        ratios.setdefault(kernel, []).append(ratio)
        rows.append(f"| {kernel} | {shape} | {1e6 * f:,.0f} | {1e6 * acc:,.0f} | "
                    f"{1e6 * ret:,.0f} | {ratio:.2f} |")
        print(rows[-1], flush=True)
    summary = [f"| {k} | {len(v)} | {min(v):.2f} | {statistics.median(v):.2f} | {max(v):.2f} |"
               for k, v in ratios.items()]
    lines = [
        "# Backward records timed with and without accumulation into a leaf's .grad", "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.processor() or 'cpu'} "
        f"({torch.get_num_threads()} threads, torch {torch.__version__}) by "
        "`python scripts/cpu_leaf_grad_artifact.py`; medians of "
        f"{ROUNDS} rounds, the two ways alternating within each round. backward = (forward + "
        "backward) − forward. `accumulated`: `out.backward(grad)` on leaf inputs, as the "
        "calibration timed it until 2026-12-06 (each call adds into the .grad of the call "
        "before); `returned`: `torch.autograd.grad(out, leaves, grad)`, as it does now and as "
        "an activation's gradient flows inside a model.", "",
        "| kernel | shapes timed | accumulated ÷ returned: min | median | max |",
        "|---|---:|---:|---:|---:|", *summary, "",
        "| kernel | shape | forward µs | backward µs, accumulated | backward µs, returned "
        "| ratio |", "|---|---|---:|---:|---:|---:|", *rows, ""]
    write_text_atomic(OUT, "\n".join(lines))


if __name__ == "__main__":
    main()
