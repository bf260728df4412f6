"""Write reports/validation/cpu-m167/attention_layout_probe.md: PyTorch's CPU attention called
on contiguous q, k, v (as the calibration's attention records time it,
archsim/validate/bench.py ``bench_attention``) and in the layout of the validation models
(archsim/validate/torch_model.py ``Attention``: q, k, v as strided views of the packed qkv
projection, the output transposed back and reshaped, which copies it).

A diagnostic, not a model input: on the third CPU (Intel Xeon model 167) the in-model
attention of every training case ran 3–43% longer than archsim predicted (forward 8–43%,
reports/validation/cpu-m167/output-rotation-final/validation.md), most at 128 tokens per
sequence. Forward only, causal, fp32, 2 threads, 8 heads of 64; median of 5 rounds of 10 calls,
the ways alternating. Needs torch; under a minute.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from alternating import alternate

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "reports/validation/cpu-m167/attention_layout_probe.md"
SHAPES = ((8, 128), (4, 256), (2, 512))  # (batch, tokens): the validation's training shapes
HEADS, HEAD_DIM, ROUNDS, CALLS = 8, 64, 5, 10


def probe(b: int, s: int) -> dict[str, list[float]]:
    """Seconds per call of each way, by name."""
    import torch
    import torch.nn.functional as F

    a, d = HEADS, HEAD_DIM
    q, k, v = (torch.randn(b, a, s, d) for _ in range(3))
    qkv = torch.randn(b, s, 3 * a * d)

    def views():
        qq, kk, vv = qkv.view(b, s, 3 * a, d).split([a, a, a], dim=2)
        return qq.transpose(1, 2), kk.transpose(1, 2), vv.transpose(1, 2)

    ways = {
        "contiguous": lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        "strided views": lambda: F.scaled_dot_product_attention(*views(), is_causal=True),
        "model layout": lambda: F.scaled_dot_product_attention(
            *views(), is_causal=True).transpose(1, 2).reshape(b, s, a * d),
    }
    return alternate(ways, ROUNDS, calls=CALLS)


def main() -> None:
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(0)
    rows = []
    for b, s in SHAPES:
        times = probe(b, s)
        base = statistics.median(times["contiguous"])
        cells = [f"{1e3 * statistics.median(t):.2f} ms ({statistics.median(t) / base:.2f})"
                 for t in times.values()]
        rows.append(f"| {b} × {s} | " + " | ".join(cells) + " |")
        print(rows[-1])
    lines = ["# Attention on contiguous tensors vs in the models' layout (CPU)", "",
             "Written by `python scripts/cpu_attention_layout_probe.py` on "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} (its docstring says "
             f"what each column times): causal forward, fp32, 2 threads, {HEADS} heads of "
             f"{HEAD_DIM}; median of {ROUNDS} rounds × {CALLS} calls, the ways alternating; in "
             "brackets the ratio to `contiguous`, the way the calibration times it.", "",
             "| batch × tokens | contiguous | strided views | model layout |",
             "|---|---:|---:|---:|", *rows, ""]
    OUT.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
