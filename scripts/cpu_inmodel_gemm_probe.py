"""Write reports/validation/cpu-m167/inmodel_gemm_probe.md: why a training step's forward weight
GEMMs on a CPU take longer inside a model than the GEMM benchmark's records say.

A diagnostic, not a model input: on the third CPU (Intel Xeon model 167) every training case of
the validation came out too fast, and summed over those cases the forward weight GEMMs took
12-16% longer in the model than predicted, the backward ones 5-8%. Here one forward GEMM shape
of the validation's models (2 x 512 tokens through a 512 -> N linear layer, fp32, 2 threads) is
timed in the ways that differ between the benchmark and the model, in alternation, each the
median of many calls:

* ``mm hot``: ``F.linear(x, W)`` on the same operands every call (as the benchmark times it);
* ``mm cold``: the same on copies rotated through 256 MB, so its operands come from DRAM;
* ``addmm hot``: with the bias (GPT and BERT layers have one; PyTorch's CPU addmm writes the
  broadcast bias into the output and accumulates the product onto it);
* ``out rotated``: hot operands, the output written into buffers rotated through 256 MB
  (``torch.mm(..., out=)``), as a model writes each activation into memory the ops since have
  evicted, where ``mm hot`` rewrites the buffer its last call freed;
* ``benchmark``: the calibration's forward (``nt``) GEMM record as it is timed now
  (archsim/validate/bench.py ``_gemm_call``): weights and outputs both rotated;
* ``module, no grad`` / ``module, grad``: an ``nn.Linear`` (with bias) called inside a
  fc1 -> GeLU -> fc2 sequence on a 3-D activation, without and with autograd recording (and
  the backward run after each call, as in a training step).

Needs torch; about a minute. Run again on 2026-12-06 with the two output columns added (the
first run's table had the other five): rotated outputs account for most of the gap between
``mm hot`` and ``module, grad``, and the benchmark's forward records were changed to time them
so (archsim/validate/bench.py ``_gemm_call``).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "reports/validation/cpu-m167/inmodel_gemm_probe.md"
SHAPES = {"gpt-small fc1 (512 -> 2048)": 2048, "gpt-small qkv (512 -> 1536)": 1536,
          "llama-small fc1 (512 -> 2816)": 2816}
TOKENS, HIDDEN, ROUNDS, CALLS = 1024, 512, 5, 15
ROTATE_BYTES = 256 * 2**20


def probe(n: int) -> dict[str, list[float]]:
    """Seconds per call of each way of running the TOKENS × HIDDEN → n forward GEMM."""
    import torch
    import torch.nn.functional as F

    x = torch.randn(TOKENS, HIDDEN)
    w, b = torch.randn(n, HIDDEN), torch.randn(n)
    per_copy = 4 * (TOKENS * HIDDEN + n * HIDDEN)
    copies = [(torch.randn(TOKENS, HIDDEN), torch.randn(n, HIDDEN))
              for _ in range(max(2, ROTATE_BYTES // per_copy))]
    up, down = torch.nn.Linear(HIDDEN, n), torch.nn.Linear(n, HIDDEN)
    x3 = torch.randn(2, TOKENS // 2, HIDDEN, requires_grad=True)
    turn = [0]

    def mm_hot():
        F.linear(x, w)

    def mm_cold():
        xx, ww = copies[turn[0] % len(copies)]
        turn[0] += 1
        F.linear(xx, ww)

    def addmm_hot():
        F.linear(x, w, b)

    outs = [torch.zeros(TOKENS, n) for _ in range(max(2, ROTATE_BYTES // (4 * TOKENS * n)))]

    def out_rotated():
        turn[0] += 1
        torch.mm(x, w.t(), out=outs[turn[0] % len(outs)])

    def benchmark():
        turn[0] += 1
        torch.mm(x, copies[turn[0] % len(copies)][1].t(), out=outs[turn[0] % len(outs)])

    def in_module(grad: bool):
        def run() -> float:
            with torch.enable_grad() if grad else torch.no_grad():
                start = time.perf_counter()
                h = up(x3)
                took = time.perf_counter() - start
                out = down(F.gelu(h))
                if grad:
                    out.sum().backward()
            return took
        return run

    ways = {"mm hot": mm_hot, "mm cold": mm_cold, "addmm hot": addmm_hot,
            "out rotated": out_rotated, "benchmark": benchmark,
            "module, no grad": in_module(False), "module, grad": in_module(True)}
    times: dict[str, list[float]] = {k: [] for k in ways}
    for _ in range(ROUNDS):  # the ways alternate, so a drifting machine hits them alike
        for name, fn in ways.items():
            for _ in range(3):
                fn()  # warm-up
            for _ in range(CALLS):
                start = time.perf_counter()
                inner = fn()
                times[name].append(inner if inner is not None else time.perf_counter() - start)
    return times


def main() -> None:
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(0)
    rows = []
    for label, n in SHAPES.items():
        times = probe(n)
        base = statistics.median(times["mm hot"])
        cells = [f"{1e3 * statistics.median(v):.2f} ms ({statistics.median(v) / base:.2f})"
                 for v in times.values()]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
        print(rows[-1])
    lines = ["# Forward weight GEMMs inside a model vs alone (CPU)", "",
             "Written by `python scripts/cpu_inmodel_gemm_probe.py` on "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} (the docstring says what "
             f"each column times). {TOKENS} tokens × {HIDDEN} → N, fp32, 2 threads; median of "
             f"{ROUNDS} rounds × {CALLS} calls, the ways alternating; in brackets the ratio to "
             "`mm hot`, the way the calibration's GEMM records were timed before 2026-12-06 "
             "(`benchmark`: as they are now).", "",
             "| shape | mm hot | mm cold | addmm hot (bias) | out rotated | benchmark "
             "| module, no grad | module, grad |", "|---|---:|---:|---:|---:|---:|---:|---:|",
             *rows, ""]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
