"""Set a GPU check's measurements (scripts/device/gpu_check.sh) beside a profile's values.

Reads probe.json (micro-benchmarks) and measured.json (real training steps) of one GPU and
writes a Markdown report: each in-situ default of the profile against what the GPU measured,
archsim's time for every probed GEMM against the measured one, and the rate the GEMMs of the
GPU-sized training cases reached inside a real step (their FLOPs over their profiled kernel
time). Nothing is fitted.

Usage: python scripts/device/compare_probe.py DIR [PROFILE]   (DIR holds probe.json and
measured.json; PROFILE defaults to h200-sxm-141gb; writes DIR/probe.md)
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from archsim.cost.compute import compute_time
from archsim.cost.insitu import factors
from archsim.graph.backward import backward_of
from archsim.graph.ops import Op
from archsim.graph.transformer import Shape, embedding_forward, head_forward, layer_forward
from archsim.spec.loader import load_spec_file
from archsim.spec.registry import load_registry_mapping
from archsim.validate.cases import Case
from archsim.validate.compare import sum_layers
from archsim.validate.predict import forward_label

MATMUL_OPS = ("qkv", "proj", "fc1", "fc2", "logits")


def gemm_op(m: int, k: int, n: int, dtype: str) -> Op:
    """One m×k·k×n GEMM as the op graph writes a weight GEMM (bf16 out)."""
    e_in = 1.0 if dtype == "fp8" else 2.0
    return Op(name="gemm", kind="matmul", phase="fwd", flops=2.0 * m * k * n,
              bytes=e_in * (m * k + k * n) + 2.0 * m * n, dtype=dtype, shape=(1, m, k, n))


def step_flops(case: Case) -> dict[str, float]:
    """FLOPs per op name of a training case's step (forward; ``.bwd`` for backward)."""
    model = case.spec
    shape = Shape(batch=case.batch, seq=case.seq_len, kv_seq=case.seq_len, dtype=case.dtype,
                  flash=True, causal=not model.encoder, dropout=model.dropout > 0,
                  training=True)
    fwd = embedding_forward(model, shape)
    for i in range(model.layers):
        fwd += layer_forward(model, shape, i)
    fwd += head_forward(model, shape)
    out: dict[str, float] = defaultdict(float)
    for op in fwd:
        if op.kind == "comm":
            continue
        out[forward_label(op.name)] += op.flops
        for b in backward_of(op):
            if b.kind != "comm":
                out[forward_label(b.name) + ".bwd"] += b.flops
    return sum_layers(dict(out))


def _pct(x: float) -> str:
    return f"{x * 100:+.0f}%"


def report(folder: Path, profile: str) -> str:
    probe = json.loads((folder / "probe.json").read_text())
    validation = json.loads((folder / "measured.json").read_text())
    mapping, path = load_registry_mapping("devices", profile)
    path = os.path.relpath(path)
    spec = load_spec_file("devices", mapping)
    f = factors(spec)
    ins = spec.insitu
    peak = {dt: spec.peak_for(dt) for dt in ("bf16", "fp8")}
    bw = spec.memory.bandwidth
    lines = [f"# {probe['device']}: micro-benchmarks against `{profile}`", "",
             f"Measured with PyTorch {probe['torch']} (CUDA {probe['cuda']}), "
             f"{probe['sms']} SMs, by scripts/device/insitu_probe.py; compared by "
             "scripts/device/compare_probe.py with the profile in " + path + ". Nothing here "
             "is fitted. Each timing is the median of 5 loops of back-to-back calls "
             "(≥ 30 ms each) after warm-up: rates sustained under the power cap, not bursts.",
             "", "## In-situ defaults against this GPU", "",
             "| quantity | profile | measured here | note |", "|---|---|---|---|"]
    best = {dt: max(r["tflops"] for r in probe[f"gemm_{dt}"]) for dt in ("bf16", "fp8")}
    for dt in ("bf16", "fp8"):
        ceiling = ins.matmul_ceiling.get(dt) if ins else None
        lines.append(f"| {dt} matmul ceiling (of {peak[dt] / 1e12:.0f} TFLOP/s) | "
                     f"{ceiling if ceiling is not None else '–'} | "
                     f"{best[dt] * 1e12 / peak[dt]:.3f} ({best[dt]:.0f} TFLOP/s, best probed "
                     "shape) | MAMF searches many shapes for its maximum |")
    bwrows = {r["kernel"]: r for r in probe["bandwidth"]}
    default_mem = ins.defaults.get("memory_efficiency") if ins and ins.defaults else None
    lines.append(f"| memory efficiency (of {bw / 1e12:.2f} TB/s) | default {default_mem}, "
                 f"fitted {f.memory_efficiency:.3f} | triad "
                 f"{bwrows['triad']['tb_s'] * 1e12 / bw:.3f}, copy "
                 f"{bwrows['copy']['tb_s'] * 1e12 / bw:.3f} | 1 GiB fp32 buffers |")
    att = defaultdict(list)
    for r in probe["attention"]:
        if "fwd_tflops" in r and r["s"] >= 2048:
            att[r["backend"]].append(r["fwd_tflops"] * 1e12 / peak["bf16"])
    if ins is not None:
        for backend, name, value in (("FLASH_ATTENTION", "attention_ceiling (FA2)",
                                      ins.attention_ceiling),
                                     ("CUDNN_ATTENTION", "attention_ceiling_flash3",
                                      ins.attention_ceiling_flash3)):
            got = att.get(backend)
            lines.append(f"| {name} | {value} | "
                         + (f"{min(got):.3f}–{max(got):.3f} (SDPA {backend.split('_')[0]}, "
                            "forward, 2K–4K tokens)" if got else "not measured")
                         + " | |")
    k = probe["kernel"]
    lines.append(f"| launch_overhead (eager) | {spec.launch_overhead * 1e6:.1f} µs | "
                 f"{k['eager_dispatch_s'] * 1e6:.1f} µs per tiny op | the host's dispatch "
                 "rate: depends on the CPU |")
    if "graph_replay_per_kernel_s" in k:
        graph = spec.graph_launch_overhead
        lines.append(f"| graph_launch_overhead | "
                     f"{graph * 1e6 if graph is not None else '–'} µs | "
                     f"{k['graph_replay_per_kernel_s'] * 1e6:.2f} µs per replayed kernel | |")
    lines += ["", "## Probed GEMMs: archsim's in-situ time against the measured time", "",
              "archsim's time is what the profile charges for that GEMM inside a training step "
              "(compute_time, kernel overhead included).", "",
              "| dtype | M×K×N | measured TFLOP/s | of peak | archsim TFLOP/s | error |",
              "|---|---|---|---|---|---|"]
    errors = defaultdict(list)
    for dt in ("bf16", "fp8"):
        for r in probe[f"gemm_{dt}"]:
            op = gemm_op(r["m"], r["k"], r["n"], dt)
            predicted = compute_time(op, spec)
            err = (predicted - r["time_s"]) / r["time_s"]
            errors[(dt, r["m"] <= 2048 and r["m"] != r["k"])].append(err)
            lines.append(f"| {dt} | {r['m']}×{r['k']}×{r['n']} | {r['tflops']:.0f} | "
                         f"{r['tflops'] * 1e12 / peak[dt]:.3f} | "
                         f"{op.flops / predicted / 1e12:.0f} | {_pct(err)} |")
    lines.append("")
    for (dt, small), errs in sorted(errors.items()):
        what = "small-M (prefill) shapes" if small else "training and square shapes"
        lines.append(f"- {dt}, {what}: mean error {_pct(statistics.fmean(errs))}, MAPE "
                     f"{statistics.fmean(abs(e) for e in errs) * 100:.0f}% over {len(errs)}")
    lines += ["", "## GEMMs inside real training steps (measured.json)", "",
              "FLOPs of the op graph over the profiled kernel time of the same op in a real "
              "eager PyTorch step (forward; backward = dgrad + wgrad).", "",
              "| case | op | measured TFLOP/s | of bf16 peak | archsim |",
              "|---|---|---|---|---|"]
    for c in validation["cases"]:
        if c["mode"] != "training" or "case" not in c or c["params"] < 5e8:
            continue
        case = Case(**c["case"])
        flops = step_flops(case)
        for row in c["ops"]:
            base = row["op"].removesuffix(".bwd")
            if base in MATMUL_OPS and row.get("measured_s") and row.get("predicted_s"):
                fl = flops.get(row["op"], 0.0)
                rate = fl / row["measured_s"] / 1e12
                lines.append(f"| {c['name']} | {row['op']} | {rate:.0f} | "
                             f"{rate * 1e12 / peak['bf16']:.3f} | "
                             f"{fl / row['predicted_s'] / 1e12:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    folder = Path(argv[0])
    profile = argv[1] if len(argv) > 1 else "h200-sxm-141gb"
    text = report(folder, profile)
    (folder / "probe.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
