"""Time the prefill GEMMs of the corpus's TTFT runs on the local GPU (cuBLAS through PyTorch).

    python scripts/measure_small_m_gemm.py OUT.csv

For each (K, N) weight shape of Llama-2-7B (TP1), Llama-2-70B (TP4) and Falcon-180B (TP4,
TP8) and each M (prompt tokens) in 128…2048, in bf16 and (where the GPU has it) fp8
(``torch._scaled_mm``), the mean time of one GEMM over timed back-to-back loops (CUDA
events) after warm-up. The k×n operand rotates through enough copies to exceed 240 MB, so
every call reads its weights from HBM as in a forward pass, not from L2. Square GEMMs are
added as a reference for the shipped FLOPs-keyed curves. Writes one row per GEMM:
gpu, sms, dtype, m, k, n, time_us, tflops. Needs torch with CUDA; used to check the
wave-quantisation model (archsim/cost/tiles.py), not imported by archsim.
"""

from __future__ import annotations

import csv
import math
import sys

SHAPES = [  # (k, n) of one GEMM's weight operand, per rank
    (4096, 12288), (4096, 4096), (4096, 22016), (11008, 4096),       # llama-2-7b tp1
    (8192, 2560), (2048, 8192), (8192, 14336), (7168, 8192),         # llama-2-70b tp4
    (14848, 3968), (3712, 14848), (14848, 14848),                    # falcon-180b tp4
    (14848, 1984), (1856, 14848), (14848, 7424), (7424, 14848),      # falcon-180b tp8
]
MS = (128, 256, 512, 1024, 2048)
SQUARE = (1024, 2048, 4096, 8192)


def main() -> int:
    import torch

    out = sys.argv[1]
    dev = torch.device("cuda")
    props = torch.cuda.get_device_properties(dev)
    sms = props.multi_processor_count
    rows = []
    fp8 = hasattr(torch, "float8_e4m3fn") and hasattr(torch, "_scaled_mm")

    def timed(call, copies: int, iters: int) -> float:
        """Mean time of one call, replayed as one captured CUDA graph of ``iters`` calls
        (no host launch cost between them: the GPU's own time per GEMM)."""
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for i in range(3):
                call(i % copies)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            for i in range(iters):
                call(i % copies)
        graph.replay()
        torch.cuda.synchronize()
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(3):
            graph.replay()
        stop.record()
        torch.cuda.synchronize()
        return start.elapsed_time(stop) * 1e3 / (3 * iters)  # us

    def run(dtype: str, m: int, k: int, n: int) -> None:
        elem = 1 if dtype == "fp8" else 2
        copies = max(2, math.ceil(240e6 / (k * n * elem)))
        a = torch.randn(m, k, device=dev, dtype=torch.bfloat16)
        bs = [torch.randn(n, k, device=dev, dtype=torch.bfloat16) for _ in range(copies)]
        if dtype == "fp8":
            a8 = a.to(torch.float8_e4m3fn)
            b8 = [b.to(torch.float8_e4m3fn) for b in bs]
            one = torch.tensor(1.0, device=dev)

            def call(i):
                torch._scaled_mm(a8, b8[i].t(), scale_a=one, scale_b=one,
                                 out_dtype=torch.bfloat16)
        else:
            def call(i):
                torch.matmul(a, bs[i].t())
        flops = 2.0 * m * k * n
        iters = max(8, min(100, int(2e13 / flops)))
        t = timed(call, copies, iters)
        rows.append({"gpu": props.name, "sms": sms, "dtype": dtype, "m": m, "k": k, "n": n,
                     "time_us": round(t, 2), "tflops": round(flops / t / 1e6, 1)})
        print(dtype, m, k, n, rows[-1]["time_us"], rows[-1]["tflops"], flush=True)
        torch.cuda.empty_cache()

    try:
        for dtype in ("bf16", "fp8") if fp8 else ("bf16",):
            for k, n in SHAPES:
                for m in MS:
                    try:
                        run(dtype, m, k, n)
                    except RuntimeError as exc:  # fp8 path missing in this build
                        print(f"skip {dtype} {m}x{k}x{n}: {exc}", flush=True)
            for s in SQUARE:
                try:
                    run(dtype, s, s, s)
                except RuntimeError as exc:
                    print(f"skip {dtype} {s}^3: {exc}", flush=True)
    finally:
        if rows:
            with open(out, "w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=list(rows[0]))
                w.writeheader()
                w.writerows(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
