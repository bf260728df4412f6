"""Time the prefill GEMMs of the corpus's TTFT runs on the local GPU (cuBLAS through PyTorch),
and compare small-GEMM time models with such measurements.

    python scripts/measure_small_m_gemm.py OUT.csv                      # on a GPU
    python scripts/measure_small_m_gemm.py --compare CSV [--probe JSON]  # anywhere

For each (K, N) weight shape of Llama-2-7B (TP1), Llama-2-70B (TP4) and Falcon-180B (TP4,
TP8) and each M (prompt tokens) in 128…2048, in bf16 and (where the GPU has it) fp8
(``torch._scaled_mm``), the mean time of one GEMM over timed back-to-back loops (CUDA
events) after warm-up. The k×n operand rotates through enough copies to exceed 240 MB, so
every call reads its weights from HBM as in a forward pass, not from L2. Square GEMMs are
added as a reference for the shipped FLOPs-keyed curves. Writes one row per GEMM:
gpu, sms, dtype, m, k, n, time_us, tflops. Needs torch with CUDA; not imported by archsim.

``--compare`` reads such a CSV (and optionally a probe JSON of the GPU validation, whose
``gemm_bf16`` / ``gemm_fp8`` lists hold {m, k, n, time_s} of eager back-to-back loops) and
prints the per-GEMM error, by dtype and m, of the candidate models of
reports/calibration/small_m_gemm.md, with the shipped H200 profile's roofs at micro-benchmark
conditions (in-situ curves at sustained_compute 1, memory at the profile's BabelStream
default); each candidate's shape constant and a common compute scale are fitted to the CSV
by least mean absolute relative error.
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


GRAPH_LAUNCH_S = 0.93e-6
"""GPU time between kernels of a replayed CUDA graph on the H200 (reports/validation/h200/
probe.json, kernel.graph_replay_per_kernel_s): part of every measured GEMM time."""


def _measured(csv_path: str, probe_path: str | None) -> dict[str, list[tuple]]:
    """Data set name -> [(dtype, m, k, n, seconds)]."""
    import json

    with open(csv_path, newline="") as fh:
        sets = {"csv": [(r["dtype"], int(r["m"]), int(r["k"]), int(r["n"]),
                         float(r["time_us"]) * 1e-6) for r in csv.DictReader(fh)]}
    if probe_path:
        with open(probe_path) as fh:
            probe = json.load(fh)
        rows = [(key[5:], r["m"], r["k"], r["n"], r["time_s"])
                for key in ("gemm_bf16", "gemm_fp8") for r in probe.get(key, [])]
        sets["probe"] = rows
        # eager loops: a call shorter than ~40 us is bound by the host's dispatch, and small
        # weights stay in L2 (the same weights every call), so only longer calls time the GPU
        sets["probe, > 40 us"] = [r for r in rows if r[4] > 40e-6]
    return sets


def _roofs(rows, device):
    import numpy as np

    from archsim.cost.compute import _flop_time, memory_time
    from archsim.graph.ops import Op

    tc, tm = [], []
    for dtype, m, k, n, _ in rows:
        elem = 1 if dtype == "fp8" else 2
        op = Op(name="g", kind="matmul", phase="fwd", flops=2.0 * m * k * n,
                bytes=float((m * k + k * n) * elem + m * n * 2), dtype=dtype,
                shape=(1, m, k, n))
        tc.append(_flop_time(op, device))
        tm.append(memory_time(op, device))
    return np.array(tc), np.array(tm), np.array([r[4] for r in rows])


def _groups(rows):
    out = {}
    for i, (dtype, m, k, n, _) in enumerate(rows):
        bucket = "m=128" if m == 128 else ("m=256..2048" if m <= 2048 and not m == k == n
                                           else "square/large m")
        out.setdefault(f"{dtype} {bucket}", []).append(i)
    return out


def _candidates():
    """name -> (time(t_c, t_m, theta), start theta (the compute scale first), what theta[1:]
    are)."""
    import numpy as np

    return {
        "a: max(t_c, t_m)": (lambda tc, tm, th: np.maximum(tc / th[0], tm), [1.0], ""),
        "b: (t_c^p + t_m^p)^(1/p)": (
            lambda tc, tm, th: ((tc / th[0]) ** th[1] + tm ** th[1]) ** (1 / th[1]),
            [1.0, 3.0], "p"),
        "c: max(t_c, t_m + c)": (
            lambda tc, tm, th: np.maximum(tc / th[0], tm + th[1] * 1e-6), [1.0, 4.0],
            "c (us)"),
        "b+c: ((t_m + c)^p + t_c^p)^(1/p)": (
            lambda tc, tm, th: ((tc / th[0]) ** th[1] + (tm + th[2] * 1e-6) ** th[1])
            ** (1 / th[1]), [1.0, 3.0, 4.0], "p, c (us)"),
    }


def compare(csv_path: str, probe_path: str | None) -> None:
    """Print each candidate's fitted constants and per-GEMM MAPE / bias by dtype and m."""
    import numpy as np
    from scipy.optimize import minimize

    from archsim.spec.loader import load_spec_file

    h200 = load_spec_file("devices", "h200-sxm-141gb")
    ins = h200.insitu
    micro = h200.model_copy(update={"insitu": ins.model_copy(update={
        "sustained_compute": 1.0, "memory_efficiency": ins.defaults["memory_efficiency"],
        "gemm_knee": None})})
    sets = _measured(csv_path, probe_path)
    roofs = {name: _roofs(rows, micro) for name, rows in sets.items()}
    tc, tm, t = roofs["csv"]
    for name, (model, start, what) in _candidates().items():
        def time(tc_, tm_, th, model=model):
            return model(tc_, tm_, th) + GRAPH_LAUNCH_S

        th = minimize(lambda th, time=time: float(np.mean(np.abs(time(tc, tm, th) / t - 1))),
                      start, method="Nelder-Mead").x
        print(f"\n{name}: compute scale {th[0]:.3f}"
              + (f", {what} = {', '.join(f'{v:.2f}' for v in th[1:])}" if what else ""))
        for set_name, rows in sets.items():
            tc_, tm_, t_ = roofs[set_name]
            err = time(tc_, tm_, th) / t_ - 1
            cells = [f"all {len(rows)}: {100 * np.mean(np.abs(err)):.1f}% "
                     f"({100 * np.mean(err):+.1f}%)"]
            for group, idx in sorted(_groups(rows).items()):
                e = err[idx]
                cells.append(f"{group} {len(idx)}: {100 * np.mean(np.abs(e)):.1f}% "
                             f"({100 * np.mean(e):+.1f}%)")
            print(f"  {set_name:15s} " + " | ".join(cells))


def main() -> int:
    if sys.argv[1:2] == ["--compare"]:
        args = sys.argv[2:]
        probe = args[args.index("--probe") + 1] if "--probe" in args else None
        compare(args[0], probe)
        return 0
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
