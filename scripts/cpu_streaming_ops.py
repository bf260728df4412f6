"""Write reports/validation/cpu/streaming_ops.md: why a CPU's small ops cost more inside a model
than alone (a diagnostic; needs torch; about 30 s on 2 cores).

1. One GeLU (3072 wide), one LayerNorm (768) and one add, timed right after GEMMs that streamed
   0 … 128 MB of distinct weights, after reading as many bytes, and after writing them.
2. The streaming benchmark's records from the committed profile (``archsim calibrate``): the
   in-model cost per op that is not a weight GEMM by the weight bytes a pass streams, and the
   weight GEMMs' in-model time against archsim's prediction.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import yaml

from archsim.io import write_text_atomic

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "reports" / "validation" / "cpu" / "cpu-local-example.yaml"
OUT = ROOT / "reports" / "validation" / "cpu" / "streaming_ops.md"
SIZES_MB = (0, 4, 16, 32, 64, 128)
SAMPLES = 150


def after_streaming() -> list[tuple[int, dict[str, dict[str, float]]]]:
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(2)
    y, x = torch.randn(1, 1, 3072), torch.randn(1, 1, 768)
    ln = torch.nn.LayerNorm(768)
    small = {"gelu": lambda: F.gelu(y), "layernorm": lambda: ln(x), "add": lambda: x + x}
    rows = []
    with torch.inference_mode():
        for mb in SIZES_MB:
            n = max(1, round(mb * 1e6 / (768 * 3072 * 4))) if mb else 0
            weights = [torch.randn(3072, 768) for _ in range(n)]
            buf = torch.empty(mb * 262144) if mb else None
            streams = {"GEMMs": lambda weights=weights: [F.linear(x, w) for w in weights],
                       "reads": lambda buf=buf: buf.sum() if buf is not None else None,
                       "writes": lambda buf=buf: buf.fill_(1.0) if buf is not None else None}
            got: dict[str, dict[str, float]] = {}
            for stream, run in streams.items():
                got[stream] = {}
                for name, op in small.items():
                    ts = []
                    for _ in range(SAMPLES):
                        run()
                        t0 = time.perf_counter()
                        op()
                        ts.append(time.perf_counter() - t0)
                    got[stream][name] = statistics.median(ts[20:])
            rows.append((mb, got))
    return rows


def main() -> None:
    import torch

    rows = after_streaming()
    lines = ["# Small ops inside a model on this CPU cost more than alone",
             "",
             f"Measured {time.strftime('%Y-%m-%d')} on this VM (torch {torch.__version__}, "
             "2 threads, fp32) by `python scripts/cpu_streaming_ops.py`; nothing here is fitted.",
             "",
             "## 1. One small op right after streaming N MB",
             "",
             "Median µs of one op timed right after GEMMs (1×768 · 768×3072, distinct weights) "
             "that streamed N MB, after reading N MB (`sum`), after writing N MB (`fill_`):",
             "",
             "| N MB | GeLU after GEMMs | reads | writes | LayerNorm after GEMMs | reads | writes "
             "| add after GEMMs | reads | writes |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for mb, got in rows:
        cells = [f"{got[s][op] * 1e6:.1f}" for op in ("gelu", "layernorm", "add")
                 for s in ("GEMMs", "reads", "writes")]
        lines.append(f"| {mb} | " + " | ".join(cells) + " |")
    lines += ["",
              "The op's own work is the same in every row (0.3 µs of memory traffic); what "
              "changes is what ran before it. Reading the same bytes leaves it nearly as fast "
              "as alone; GEMMs and writes do not — likely the dirty lines their output and "
              "packing buffers leave in the caches (UNVERIFIED: not measured with hardware "
              "counters).",
              ""]
    data = yaml.safe_load(PROFILE.read_text())
    fit = data["calibration"].get("streaming_fit", [])
    curve = data["insitu"].get("inference_op_overhead_by_pass_bytes", [])
    lines += ["## 2. The streaming benchmark of the committed profile",
              "",
              "Decode steps (1 token, 16 of context) of 2-layer GPT and Llama models, each op "
              "range timed in place (`archsim calibrate`, archsim/validate/bench.py "
              "`bench_streaming`; fit: archsim/validate/overheads.py `fit_streaming`). "
              "'cost per op': the step outside the weight GEMMs' ranges, less the predicted "
              "work of the 16 other ops and the per-pass cost, per op. The weight GEMMs are "
              "timed, not predicted, in that difference; their prediction is shown beside.",
              "",
              "| model | width | pass weights (MB) | step (µs) | weight GEMMs measured (µs) "
              "| predicted (µs) | cost per other op (µs) |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for r in fit:
        predicted = r.get("weight_gemms_predicted_s")
        lines.append(f"| {r['model']} | {r['width']} | {r['pass_weight_bytes'] / 1e6:.2f} | "
                     f"{r['measured_s'] * 1e6:.0f} | {r['weight_gemms_s'] * 1e6:.0f} | "
                     + (f"{predicted * 1e6:.0f}" if predicted is not None else "–")
                     + f" | {r['cost_per_op_s'] * 1e6:.1f} |")
    lines += ["",
              "The profile's `inference_op_overhead_by_pass_bytes` (one point per width, the "
              "two families averaged): "
              + ", ".join(f"{b / 1e6:.3g} MB → {c}" for b, c in curve) + ".",
              ""]
    write_text_atomic(OUT, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
