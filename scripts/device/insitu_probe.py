"""Measure, on the local NVIDIA GPU, the micro-benchmarks behind the in-situ model's defaults.

The shipped profiles take their in-situ defaults from published micro-benchmarks (MAMF matmul
ceilings, Azure cuBLASLt sweeps, BabelStream triad, FlashAttention forward rates; see the
``insitu:`` block of hardware_profiles/devices/h200-sxm-141gb.yaml). This program measures the
same quantities on the GPU at hand, with PyTorch only, and writes the raw timings as JSON:

* sustained GEMM rate, bf16 and fp8 (``torch._scaled_mm``), square sizes and the GEMM shapes of
  a GPT-3 XL training step and of batch-1 prefill (M = 128 … 2048 tokens);
* HBM copy and triad bandwidth (1 GiB fp32 buffers, far beyond the 50 MB L2);
* fused attention forward (and forward + backward) through scaled_dot_product_attention, per
  backend (flash, cuDNN);
* per-kernel cost: eager dispatch of a tiny kernel, back-to-back launches, CUDA-graph replay.

Nothing is fitted from these numbers: scripts/device/compare_probe.py sets them beside the
shipped profile's values. Each timing is CUDA events around a loop of back-to-back calls
after warm-up (the median of 5 such loops), inputs random (zeros run faster on tensor cores).

Usage: python scripts/device/insitu_probe.py OUT.json
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import traceback

import torch
import torch.nn.functional as F

LOOP_TARGET_S = 0.03
"""Each timed loop runs at least this long (CUDA events resolve ~0.5 µs)."""


def timed(fn, target_s: float = LOOP_TARGET_S, loops: int = 5) -> float:
    """Median seconds per call of ``fn`` over ``loops`` loops of back-to-back calls."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    one = max(time.perf_counter() - t0, 1e-6)
    n = max(3, min(2000, int(target_s / one)))
    per_call = []
    for _ in range(loops):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(n):
            fn()
        end.record()
        torch.cuda.synchronize()
        per_call.append(start.elapsed_time(end) / 1e3 / n)
    return statistics.median(per_call)


def gemms(dtype: str) -> list[dict]:
    square = [1024, 2048, 4096, 8192, 16384]
    # GPT-3 XL (h = 2048, ffn 8192, vocab 50304) at 16K tokens per step, and prefill of
    # 128 / 512 / 2048 tokens through a 2048-wide and an 8192-wide (Llama-70B-class) layer
    llm = [(16384, 2048, 6144), (16384, 2048, 2048), (16384, 2048, 8192), (16384, 8192, 2048),
           (16384, 2048, 50304),
           (128, 2048, 6144), (128, 8192, 2048), (512, 2048, 6144), (2048, 2048, 6144),
           (128, 8192, 10240), (128, 8192, 28672), (128, 28672, 8192),
           (512, 8192, 28672), (2048, 8192, 28672)]
    shapes = [(s, s, s) for s in square] + llm
    out = []
    for m, k, n in shapes:
        a = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
        b = torch.randn(n, k, device="cuda", dtype=torch.bfloat16)  # (k, n) column-major
        if dtype == "fp8":
            a8, b8 = a.to(torch.float8_e4m3fn), b.to(torch.float8_e4m3fn)
            one = torch.tensor(1.0, device="cuda")

            def fn(a8=a8, b8=b8, one=one):
                return torch._scaled_mm(a8, b8.t(), scale_a=one, scale_b=one,
                                        out_dtype=torch.bfloat16)
        else:
            def fn(a=a, b=b):
                return a @ b.t()
        t = timed(fn)
        out.append({"dtype": dtype, "m": m, "k": k, "n": n, "time_s": t,
                    "tflops": 2.0 * m * k * n / t / 1e12})
        del a, b
    torch.cuda.empty_cache()
    return out


def _bandwidth() -> list[dict]:
    n = 2**28  # 1 GiB of fp32 per buffer
    a, b, c = (torch.randn(n, device="cuda") for _ in range(3))
    rows = []
    t = timed(lambda: a.copy_(b))
    rows.append({"kernel": "copy", "bytes": 8.0 * n, "time_s": t, "tb_s": 8.0 * n / t / 1e12})
    t = timed(lambda: torch.add(b, c, alpha=0.4, out=a))
    rows.append({"kernel": "triad", "bytes": 12.0 * n, "time_s": t,
                 "tb_s": 12.0 * n / t / 1e12})
    return rows


def bandwidth() -> list[dict]:
    rows = _bandwidth()
    torch.cuda.empty_cache()
    return rows


def attention() -> list[dict]:
    from torch.nn.attention import SDPBackend, sdpa_kernel

    rows = []
    for backend in (SDPBackend.FLASH_ATTENTION, SDPBackend.CUDNN_ATTENTION):
        for b, h, s, d, causal in ((4, 32, 4096, 128, True), (4, 32, 4096, 128, False),
                                   (8, 16, 2048, 128, True), (1, 32, 1024, 128, True)):
            q, k, v = (torch.randn(b, h, s, d, device="cuda", dtype=torch.bfloat16,
                                   requires_grad=True) for _ in range(3))
            flops = 4.0 * b * h * s * s * d * (0.5 if causal else 1.0)
            row = {"backend": backend.name, "b": b, "h": h, "s": s, "d": d, "causal": causal,
                   "flops_fwd": flops}
            try:
                with sdpa_kernel(backend):
                    row["fwd_s"] = timed(lambda q=q, k=k, v=v, c=causal:
                                         F.scaled_dot_product_attention(q, k, v, is_causal=c))
                    out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                    grad = torch.randn_like(out)

                    def fwd_bwd(q=q, k=k, v=v, c=causal, grad=grad):
                        o = F.scaled_dot_product_attention(q, k, v, is_causal=c)
                        o.backward(grad)
                    row["fwd_bwd_s"] = timed(fwd_bwd)
                row["fwd_tflops"] = flops / row["fwd_s"] / 1e12
                row["fwd_bwd_tflops"] = 3.5 * flops / row["fwd_bwd_s"] / 1e12
            except RuntimeError as exc:  # backend not available for this shape / build
                row["error"] = str(exc).splitlines()[0][:200]
            rows.append(row)
            del q, k, v
    torch.cuda.empty_cache()
    return rows


def kernel_costs() -> dict:
    x = torch.zeros(1, device="cuda")
    n = 20000
    for _ in range(100):
        x.add_(1.0)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(n):
        x.add_(1.0)
    torch.cuda.synchronize()
    eager = (time.perf_counter() - t0) / n
    out = {"eager_dispatch_s": eager,
           "note": "eager: wall time per x.add_(1) on one element, 20000 calls (the host's "
                   "dispatch rate, the GPU idles); graph: per kernel of a replayed CUDA graph"}
    try:
        out["graph_replay_per_kernel_s"] = _graph_per_kernel(x)
    except RuntimeError as exc:
        out["graph_error"] = str(exc).splitlines()[0][:200]
    return out


def _graph_per_kernel(x) -> float:
    g = torch.cuda.CUDAGraph()
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            x.add_(1.0)
    torch.cuda.current_stream().wait_stream(s)
    per_graph = 1000
    with torch.cuda.graph(g):
        for _ in range(per_graph):
            x.add_(1.0)
    return timed(g.replay) / per_graph


def main(path: str) -> int:
    props = torch.cuda.get_device_properties(0)
    result: dict = {"device": props.name, "sms": props.multi_processor_count,
                    "memory_bytes": props.total_memory, "torch": torch.__version__,
                    "cuda": torch.version.cuda, "errors": {}}
    torch.backends.cuda.matmul.allow_tf32 = False
    sections = {"gemm_bf16": lambda: gemms("bf16"), "gemm_fp8": lambda: gemms("fp8"),
                "bandwidth": bandwidth, "attention": attention, "kernel": kernel_costs}
    for name, fn in sections.items():
        t0 = time.perf_counter()
        try:
            result[name] = fn()
        except Exception:  # record and go on: one broken section must not lose the others
            result["errors"][name] = traceback.format_exc()[-2000:]
        print(f"{name}: {time.perf_counter() - t0:.1f} s", flush=True)
        with open(path, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
