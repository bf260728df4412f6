"""Predicted vs measured: errors, MAPE, and the report writers (JSON, Markdown, plot).

Error = (predicted − measured) / measured (positive: archsim predicts slower than measured).
MAPE = mean of |error|. The end-to-end metric of a case is its training step time or its
inference end-to-end latency; TTFT and TPOT are reported beside it.

Per-op rows sum an op over the layers (``L0.qkv`` + ``L1.qkv`` … → ``qkv``). On CPU, measured
per-op times (the median of profiled runs) are scaled by (un-profiled wall time / profiled
span) so that the profiler's own overhead is not counted against the prediction; ``other`` is
what ran outside every op range (Python and autograd-engine overhead, views between ops). On
CUDA they are GPU kernel times, unscaled.
"""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archsim.io import write_bytes_atomic, write_text_atomic

MATMUL_OPS = ("qkv", "attn", "proj", "fc1", "fc2", "logits")
"""Matrix-class ops of the op graph (the issue's per-op target is for these)."""
E2E_METRIC = {"training": "step_time_s", "inference": "e2e_latency_s"}
MIN_OP_SECONDS = 20e-6
"""Per-op rows shorter than this (measured) are listed but left out of per-op MAPE: at that
scale the profiler's own per-range overhead (a few µs) is the measurement."""


def error(predicted: float, measured: float) -> float:
    return (predicted - measured) / measured


def mape(errors: list[float]) -> float | None:
    return statistics.fmean(abs(e) for e in errors) if errors else None


def sum_layers(ops: dict[str, float]) -> dict[str, float]:
    """``L3.fc1.bwd`` → ``fc1.bwd``: each op summed over the layers."""
    out: dict[str, float] = {}
    for name, seconds in ops.items():
        key = re.sub(r"^L\d+\.", "", name)
        out[key] = out.get(key, 0.0) + seconds
    return out


@dataclass
class CaseResult:
    name: str
    mode: str
    model: str
    params: int
    measured: dict[str, float]
    predicted: dict[str, float]
    spread: dict[str, float]
    ops: list[dict[str, Any]] = field(default_factory=list)
    contention: float = 0.0
    error_bar: dict[str, Any] | None = None
    """The interval the profile states for each metric (archsim.validate.predict)."""
    case: dict[str, Any] | None = None
    """The case's fields (model, mode, batch, seq_len, gen_len, dtype), so that a report can
    be predicted again with another profile (archsim.validate.rescore)."""
    machine: dict[str, float] | None = None
    """Right before the case: each cheap probe's time now over its time at calibration
    (archsim.validate.drift; None when not checked)."""
    rounds: dict[str, list[float]] | None = None
    """With ``validate --rounds N`` (N > 1): each metric's median in each round, in order;
    ``measured`` holds their median (None with one round)."""

    @property
    def errors(self) -> dict[str, float]:
        return {k: error(self.predicted[k], v) for k, v in self.measured.items()
                if k in self.predicted and v > 0}

    @property
    def e2e_error(self) -> float:
        return self.errors[E2E_METRIC[self.mode]]


def op_rows(measured: dict[str, dict[str, float]], predicted: dict[str, dict[str, float]],
            wall_s: dict[str, float], scale_to_wall: bool = True) -> list[dict[str, Any]]:
    """Per-op rows for one case: phase, op, measured (scaled to the wall time when
    ``scale_to_wall``: CPU profiles, whose ranges the profiler itself stretches), predicted,
    error."""
    rows = []
    for phase, meas in measured.items():
        span = meas.get("total", 0.0)
        scale = (wall_s[phase] / span if scale_to_wall and span > 0 and phase in wall_s
                 else 1.0)
        m = sum_layers({k: v * scale for k, v in meas.items() if k != "total"})
        p = sum_layers(predicted.get(phase, {}))
        for op in sorted(set(m) | set(p)):
            base = op.removesuffix(".bwd")
            row = {"phase": phase, "op": op, "measured_s": m.get(op), "predicted_s": p.get(op),
                   "matmul": base in MATMUL_OPS}
            if m.get(op) and p.get(op) is not None:
                row["error"] = error(p[op], m[op])
            rows.append(row)
    return rows


def summarize(results: list[CaseResult]) -> dict[str, Any]:
    """MAPE end to end (and per metric, per mode) and per op (matmul-class, all)."""
    e2e = [r.e2e_error for r in results]
    by_metric: dict[str, list[float]] = {}
    for r in results:
        for k, e in r.errors.items():
            by_metric.setdefault(k, []).append(e)
    mm = [row["error"] for r in results for row in r.ops
          if row["matmul"] and "error" in row and row["measured_s"] >= MIN_OP_SECONDS]
    all_rows = [row for r in results for row in r.ops
                if "error" in row and row["measured_s"] >= MIN_OP_SECONDS
                and row["op"] != "other"]
    all_ops = [row["error"] for row in all_rows]
    modes = sorted({r.mode for r in results})
    inside = [lo <= r.measured[k] <= hi for r in results if r.error_bar
              for k, (lo, hi) in r.error_bar["intervals"].items() if k in r.measured]
    return {
        "inside_error_bar": {"metrics": len(inside), "inside": sum(inside)},
        "cases": len(results),
        "models": sorted({r.model for r in results}),
        "e2e_mape": mape(e2e),
        "e2e_max_abs_error": max((abs(e) for e in e2e), default=None),
        "e2e_mape_by_mode": {m: mape([r.e2e_error for r in results if r.mode == m])
                             for m in modes},
        "mape_by_metric": {k: mape(v) for k, v in by_metric.items()},
        "matmul_op_mape": mape(mm),
        "matmul_op_rows": len(mm),
        "all_op_mape": mape(all_ops),
        "all_op_rows": len(all_ops),
        "all_op_weighted_error": weighted_error(all_rows),
        **({"rounds_apart_beyond_error": sum(map(_moved_more_than_missed, timed))}
           if (timed := [r for r in results if r.rounds]) else {}),
    }


def _moved_more_than_missed(r: CaseResult) -> bool:
    """Whether the case's end-to-end rounds lay further apart than its end-to-end error."""
    spread = round_spread((r.rounds or {}).get(E2E_METRIC[r.mode], []))
    return spread is not None and spread > abs(r.e2e_error)


def weighted_error(rows: list[dict[str, Any]]) -> float | None:
    """Σ |predicted − measured| / Σ measured over per-op rows: each op's error weighted by its
    measured time. The per-op MAPE weighs a 20 µs op predicted at 2 ms (100× off) like a
    100 ms GEMM 100× off; this says how much of the measured time the per-op predictions
    misplace."""
    total = sum(row["measured_s"] for row in rows)
    if not rows or total <= 0:
        return None
    return sum(abs(row["predicted_s"] - row["measured_s"]) for row in rows) / total


def report_dict(results: list[CaseResult], meta: dict[str, Any]) -> dict[str, Any]:
    return {"meta": meta, "summary": summarize(results),
            "cases": [{"name": r.name, "mode": r.mode, "model": r.model, "params": r.params,
                       "measured": r.measured, "predicted": r.predicted, "errors": r.errors,
                       "spread": r.spread, "contention": r.contention, "ops": r.ops,
                       **({"error_bar": r.error_bar} if r.error_bar is not None else {}),
                       **({"case": r.case} if r.case is not None else {}),
                       **({"machine": r.machine} if r.machine is not None else {}),
                       **({"rounds": r.rounds} if r.rounds is not None else {})}
                      for r in results]}


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1e3:.3f}"


def _pct(e: float | None) -> str:
    return "—" if e is None else f"{e * 100:+.1f}%"


def _mape(e: float | None) -> str:
    """A mean absolute error: unsigned (a '+' would read as a bias)."""
    return "—" if e is None else f"{e * 100:.1f}%"


def markdown(report: dict[str, Any]) -> str:
    s, meta = report["summary"], report["meta"]
    gpu = meta.get("device") == "cuda"
    where = (f"{meta.get('gpu', 'a GPU')}, torch {meta.get('torch', '')}" if gpu else
             f"{meta.get('cpu', '')}, {meta.get('threads')} threads, torch "
             f"{meta.get('torch', '')}")
    lines = [f"# archsim validation on {meta.get('device_name', meta.get('device'))}", "",
             f"Measured {meta.get('taken_at', '')} on `{meta.get('host', '')}` ({where}); "
             f"profile `{meta.get('profile', '')}`."
             + (f" Predictions made again from {meta['rescored_from']}'s measurements "
                "(`archsim validate --measured`)." if meta.get("rescored_from") else ""), "",
             "Error = (predicted − measured) / measured. Nothing below was fitted to these "
             "measurements.", "",
             "## Summary", "",
             "| quantity | value |", "|---|---|",
             f"| cases (models) | {s['cases']} ({len(s['models'])}: {', '.join(s['models'])}) |",
             f"| end-to-end MAPE | {_mape(s['e2e_mape'])} |",
             f"| worst end-to-end error (abs) | {_mape(s['e2e_max_abs_error'])} |"]
    for mode, v in s["e2e_mape_by_mode"].items():
        lines.append(f"| end-to-end MAPE, {mode} | {_mape(v)} |")
    for metric, v in s["mape_by_metric"].items():
        lines.append(f"| MAPE of {metric} | {_mape(v)} |")
    if "rounds_apart_beyond_error" in s:
        lines.append("| cases whose rounds lay further apart than their end-to-end error | "
                     f"{s['rounds_apart_beyond_error']} of {s['cases']} |")
    eb = s.get("inside_error_bar") or {}
    if eb.get("metrics"):
        lines.append(f"| measured inside the stated error bar | {eb['inside']} of "
                     f"{eb['metrics']} metrics |")
    lines += [f"| per-op MAPE, matmul-class ({s['matmul_op_rows']} rows) | "
              f"{_mape(s['matmul_op_mape'])} |",
              f"| per-op MAPE, all ops ({s['all_op_rows']} rows) | {_mape(s['all_op_mape'])} |"]
    if s.get("all_op_weighted_error") is not None:
        lines.append("| per-op error weighted by time, all ops (Σ\\|predicted − measured\\| "
                     f"/ Σ measured) | {s['all_op_weighted_error'] * 100:.1f}% |")
    from archsim.validate.drift import case_label, drift_markdown, sustained_drift

    drifted = sustained_drift(report.get("machine_drift") or {})
    if drifted:
        lines.append("| machine drifted for the whole run (see below) | "
                     + ", ".join(r["probe"] for r in drifted) + " |")

    if report.get("machine_drift"):
        lines += ["", *drift_markdown(report["machine_drift"])]
    checked = any(c.get("machine") for c in report["cases"])
    rounds = any(c.get("rounds") for c in report["cases"])
    if rounds:
        lines += ["", "Each case was timed in every round (the rounds run all cases in turn); "
                  "its measured time is the median of its rounds' medians, and `rounds` is how "
                  "far they lay apart ((max − min) / median): where it exceeds the case's "
                  "error, the machine moved more than the model missed."]
    lines += ["", "## Cases", "",
              "| case | params | metric | measured ms | predicted ms | error | spread | "
              "error bar ms |" + (" rounds |" if rounds else "")
              + (" machine now / then |" if checked else ""),
              "|---|---:|---|---:|---:|---:|---:|---|" + ("---:|" if rounds else "")
              + ("---|" if checked else "")]
    for c in report["cases"]:
        for k, v in c["measured"].items():
            lines.append(f"| {c['name']} | {c['params'] / 1e6:.1f}M | {k} | {_ms(v)} | "
                         f"{_ms(c['predicted'].get(k))} | {_pct(c['errors'].get(k))} | "
                         f"{c['spread'].get(k, 0) * 100:.0f}% | {_bar(c, k, v)} |"
                         + (f" {_round_spread(c, k)} |" if rounds else "")
                         + (f" {case_label(c.get('machine'))} |" if checked else ""))
    lines += ["", "## Per op (summed over layers)", "",
              ("Measured per-op times are the profiled GPU kernel times of each op's ranges"
               if gpu else "Measured per-op times are scaled so that they add up to the "
               "un-profiled wall time") + "; `other` ran outside every op range.", ""]
    for c in report["cases"]:
        lines += [f"### {c['name']}", "", "| phase | op | measured ms | predicted ms | error |",
                  "|---|---|---:|---:|---:|"]
        for row in c["ops"]:
            lines.append(f"| {row['phase']} | {row['op']}{' *' if row['matmul'] else ''} | "
                         f"{_ms(row['measured_s'])} | {_ms(row['predicted_s'])} | "
                         f"{_pct(row.get('error'))} |")
        lines.append("")
    lines.append("`*` matmul-class op.")
    if report.get("distributed"):
        lines += ["", *distributed_markdown(report["distributed"])]
    return "\n".join(lines) + "\n"


def round_spread(values: list[float]) -> float | None:
    """(max − min) / median of one metric's per-round medians (None for fewer than 2)."""
    if len(values) < 2 or statistics.median(values) <= 0:
        return None
    return (max(values) - min(values)) / statistics.median(values)


def _round_spread(case: dict[str, Any], metric: str) -> str:
    spread = round_spread((case.get("rounds") or {}).get(metric, []))
    return "–" if spread is None else f"{spread * 100:.0f}%"


def _bar(case: dict[str, Any], metric: str, measured: float) -> str:
    """The stated interval of ``metric`` and whether the measurement fell inside it."""
    bar = (case.get("error_bar") or {}).get("intervals", {}).get(metric)
    if not bar:
        return "–"
    inside = bar[0] <= measured <= bar[1]
    return (f"{_ms(bar[0])}–{_ms(bar[1])} {'inside' if inside else 'OUTSIDE'}"
            + ("" if case["error_bar"].get("in_range") else " (extrapolated)"))


def distributed_markdown(d: dict[str, Any]) -> list[str]:
    if "skipped" in d:
        return ["## Two processes (torch.distributed)", "", f"Skipped: {d['skipped']}."]
    if "failed" in d:
        return ["## Two processes (torch.distributed)", "",
                f"No result: {d['failed']}. Nothing was predicted for the data-parallel step."]
    link, step = d["interconnect"], d["dp_step"]
    lines = ["## Two processes (torch.distributed)", "",
             f"{d['info'].get('backend')} between two local processes, "
             f"{d['threads_per_rank']} thread(s) each. The all-reduce sweep is the link's "
             "calibration: the alpha-beta fit gives the `loopback` interconnect "
             f"(bandwidth {link['bandwidth']}, latency {link['latency']}); the data-parallel "
             "step is the validation (DistributedDataParallel, gradients all-reduced in "
             "buckets during the backward pass).", "",
             "Each size's time is the 20th percentile of the slower rank's samples "
             "(the median beside it): on a small machine a rank descheduled for a timer "
             "tick adds milliseconds to some samples, which is the scheduler, not the link.",
             "",
             "| all-reduce bytes | measured ms (20th pct) | median ms | alpha-beta fit ms "
             "| error |",
             "|---:|---:|---:|---:|---:|"]
    for r in d["allreduce"]:
        median = _ms(r["median_s"]) if "median_s" in r else "n/a"
        lines.append(f"| {r['bytes']} | {_ms(r['measured_s'])} | {median} | "
                     f"{_ms(r['predicted_s'])} | "
                     f"{_pct(error(r['predicted_s'], r['measured_s']))} |")
    lines += ["", f"Fit MAPE over the sweep: {_mape(d['allreduce_mape'])}.", "",
              "| data-parallel step | ms |", "|---|---:|",
              f"| measured: {step['case']} | {_ms(step['measured_s'])} |",
              f"| archsim, overlapped gradient all-reduce | {_ms(step['predicted_s'])} "
              f"({_pct(step['error'])}) |",
              f"| archsim, all-reduce after the backward pass | "
              f"{_ms(step['predicted_no_overlap_s'])} |",
              f"| archsim, one rank alone (no communication) | "
              f"{_ms(step['predicted_single_rank_s'])} |"]
    return lines


def plot_png(report: dict[str, Any]) -> bytes:
    """Predicted vs measured end-to-end time per case (log-log, y = x line)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5), dpi=110)
    for mode, marker in (("training", "o"), ("inference", "s")):
        pts = [(c["measured"][E2E_METRIC[mode]], c["predicted"][E2E_METRIC[mode]])
               for c in report["cases"] if c["mode"] == mode]
        if pts:
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=marker, label=mode)
    vals = [v for c in report["cases"] for v in (c["measured"][E2E_METRIC[c["mode"]]],
                                                 c["predicted"][E2E_METRIC[c["mode"]]])]
    if vals:
        lo, hi = min(vals) / 1.5, max(vals) * 1.5
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="predicted = measured")
        for f in (0.85, 1.15):
            ax.plot([lo, hi], [lo * f, hi * f], "k:", lw=0.7,
                    label="±15%" if f > 1 else None)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("measured end-to-end time (s)")
    ax.set_ylabel("archsim predicted (s)")
    mape_txt = report["summary"]["e2e_mape"]
    ax.set_title(f"archsim vs PyTorch on {report['meta'].get('device', '')}: "
                 f"MAPE {mape_txt * 100:.1f}%" if mape_txt is not None else "archsim vs PyTorch")
    ax.legend(loc="upper left")
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def write_report(report: dict[str, Any], out_dir: Path, plot: bool = True) -> list[Path]:
    """validation.json, validation.md (and validation.png) in ``out_dir``, atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "validation.json", out_dir / "validation.md"]
    write_text_atomic(paths[0], json.dumps(report, indent=1, allow_nan=False) + "\n")
    write_text_atomic(paths[1], markdown(report))
    if plot and report["cases"]:
        paths.append(out_dir / "validation.png")
        write_bytes_atomic(paths[2], plot_png(report))
    return paths
