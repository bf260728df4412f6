"""Report figures: matplotlib (object API on the Agg canvas, no pyplot state), returned as PNG.

Every plot has labelled axes with units and a legend where more than one thing is drawn;
layouts are constrained so labels do not overlap. matplotlib is imported inside the functions.
PNG metadata carries no software version or date, so a report rebuilt from the same input is
byte-identical.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

DPI = 100
GIB = 2.0**30
# tab10, the default matplotlib cycle: distinguishable, colour-blind-tolerant enough for 8 hues
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def time_unit(seconds: float) -> tuple[float, str]:
    """(divisor, unit) that shows ``seconds`` with 1-3 digits before the point."""
    if seconds >= 1.0:
        return 1.0, "s"
    if seconds >= 1e-3:
        return 1e-3, "ms"
    return 1e-6, "µs"


def _eng_axis(axis: Any, unit: str = "") -> None:
    from matplotlib.ticker import EngFormatter

    axis.set_major_formatter(EngFormatter(unit=unit, sep=" "))


# ----------------------------------------------------------------------------- time breakdown

def breakdown_plot(parts: Sequence[tuple[str, float]], total_s: float, title: str,
                   per: str = "step") -> bytes:
    """Horizontal bars of where the time goes, each labelled with its value and share."""
    scale, unit = time_unit(max(total_s, max((v for _, v in parts), default=0.0)))
    fig = _figure(8.0, 0.55 * len(parts) + 1.4)
    ax = fig.add_subplot()
    labels = [name for name, _ in parts][::-1]
    values = [v / scale for _, v in parts][::-1]
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(parts))][::-1]
    bars = ax.barh(labels, values, color=colors)
    top = max(values, default=0.0) or 1.0
    for bar, (_, v) in zip(bars, list(parts)[::-1], strict=True):
        share = f" ({100 * v / total_s:.1f}%)" if total_s > 0 else ""
        ax.text(bar.get_width() + 0.01 * top, bar.get_y() + bar.get_height() / 2,
                f"{v / scale:.3g} {unit}{share}", va="center", fontsize=9)
    ax.set_xlim(0, top * 1.3)
    ax.set_xlabel(f"time per {per} ({unit})")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


# ----------------------------------------------------------------------------- memory

def memory_plot(labels: Sequence[str], parts: dict[str, Sequence[float]], capacity: float,
                title: str, xlabel: str = "") -> bytes:
    """Stacked bars of memory per device (GiB) for each stage, against the capacity."""
    n = len(labels)
    fig = _figure(max(7.0, min(12.0, 3.5 + 0.7 * n)), 4.4)
    ax = fig.add_subplot()
    xs = list(range(n))
    bottom = [0.0] * n
    for i, (name, values) in enumerate(parts.items()):
        gib = [v / GIB for v in values]
        if not any(gib):
            continue
        ax.bar(xs, gib, bottom=bottom, label=name, color=PALETTE[i % len(PALETTE)], width=0.7)
        bottom = [b + g for b, g in zip(bottom, gib, strict=True)]
    ax.axhline(capacity / GIB, color="black", linestyle="--", linewidth=1.2,
               label=f"capacity {capacity / GIB:.0f} GiB")
    stride = max(1, math.ceil(n / 16))  # at most 16 tick labels
    ax.set_xticks(xs[::stride], list(labels)[::stride])
    if xlabel:
        ax.set_xlabel(xlabel)
    ax.set_ylabel("memory per device (GiB)")
    ax.set_ylim(0, max(max(bottom, default=0.0), capacity / GIB) * 1.15)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    return _png(fig)


# ----------------------------------------------------------------------------- timeline

@dataclass(frozen=True)
class Bar:
    row: int
    start: float
    end: float
    category: str


def gantt_plot(rows: Sequence[str], bars: Sequence[Bar], categories: Sequence[str],
               title: str, origin: str = "the step started") -> bytes:
    """One row per timeline track; bars coloured by category (legend), time in s/ms/µs."""
    end = max((b.end for b in bars), default=1.0)
    scale, unit = time_unit(end)
    fig = _figure(11.0, 1.3 + 0.32 * len(rows))
    ax = fig.add_subplot()
    for i, cat in enumerate(categories):
        for r in range(len(rows)):
            segs = [(b.start / scale, (b.end - b.start) / scale) for b in bars
                    if b.row == r and b.category == cat]
            if segs:
                ax.broken_barh(segs, (r - 0.38, 0.76), facecolors=PALETTE[i % len(PALETTE)],
                               edgecolor="white", linewidth=0.2,
                               label=cat if not any(h.get_label() == cat
                                                    for h in ax.collections) else None)
    ax.set_yticks(range(len(rows)), rows, fontsize=8 if len(rows) > 16 else 9)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(0, end / scale)
    ax.set_xlabel(f"time since {origin} ({unit})")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    return _png(fig)


# ----------------------------------------------------------------------------- roofline

@dataclass(frozen=True)
class RooflinePoint:
    label: str
    group: str
    intensity: float
    """FLOPs per byte of device-memory traffic."""
    flops_per_s: float
    """Achieved FLOP/s of the op under the cost model."""


def roofline_plot(points: Sequence[RooflinePoint], ceilings: Sequence[tuple[str, float]],
                  bandwidth: float, effective_bandwidth: float | None, title: str) -> bytes:
    """Log-log roofline: achieved TFLOP/s vs arithmetic intensity, with peak ceilings."""
    fig = _figure(8.5, 5.2)
    ax = fig.add_subplot()
    xs = [p.intensity for p in points if p.intensity > 0 and p.flops_per_s > 0]
    lo = min([*xs, 0.1]) / 2
    hi = max([*xs, max(c for _, c in ceilings) / bandwidth * 4 if ceilings else 1000.0]) * 2
    grid = [lo * (hi / lo) ** (i / 200) for i in range(201)]
    styles = ["-", "-.", ":"]
    for i, (name, peak) in enumerate(ceilings):
        ax.plot(grid, [min(peak, bandwidth * x) / 1e12 for x in grid], color="black",
                linestyle=styles[i % len(styles)], linewidth=1.3,
                label=f"{name} {peak / 1e12:.4g} TFLOP/s")
    if effective_bandwidth:
        top = max(c for _, c in ceilings) if ceilings else bandwidth * hi
        ax.plot([x for x in grid if effective_bandwidth * x <= top],
                [effective_bandwidth * x / 1e12 for x in grid if effective_bandwidth * x <= top],
                color="#555555", linestyle="--", linewidth=1.0,
                label=f"achieved memory bandwidth {effective_bandwidth / 1e12:.3g} TB/s")
    groups = list(dict.fromkeys(p.group for p in points))
    markers = "osD^vP*Xh<>"
    for i, group in enumerate(groups):
        sel = [p for p in points if p.group == group and p.intensity > 0 and p.flops_per_s > 0]
        ax.scatter([p.intensity for p in sel], [p.flops_per_s / 1e12 for p in sel],
                   color=PALETTE[i % len(PALETTE)], marker=markers[i % len(markers)], s=36,
                   label=group, zorder=3, edgecolors="white", linewidths=0.5)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    top = max([c for _, c in ceilings] + [p.flops_per_s for p in points]) / 1e12
    bottom = min([p.flops_per_s for p in points if p.flops_per_s > 0] + [bandwidth * lo]) / 1e12
    ax.set_ylim(bottom / 2, top * 2.5)
    ax.set_xlabel("arithmetic intensity (FLOP per byte of memory traffic)")
    ax.set_ylabel("achieved (TFLOP/s)")
    ax.set_title(title)
    ax.grid(which="major", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    return _png(fig)


# ----------------------------------------------------------------------------- scaling

def scaling_plot(devices: Sequence[int], throughput: Sequence[float | None],
                 feasible: Sequence[bool], base_devices: int, unit: str, title: str) -> bytes:
    """Throughput and scaling efficiency against device count (log2 axis)."""
    fig = _figure(11.0, 4.2)
    left, right = fig.subplots(1, 2)
    base = dict(zip(devices, throughput, strict=True)).get(base_devices)
    ok = [(d, t) for d, t, f in zip(devices, throughput, feasible, strict=True)
          if t is not None and f]
    bad = [(d, t) for d, t, f in zip(devices, throughput, feasible, strict=True)
           if t is not None and not f]
    left.plot([d for d, _ in ok], [t for _, t in ok], "o-", color=PALETTE[0], label="simulated")
    if bad:
        left.plot([d for d, _ in bad], [t for _, t in bad], "x", color=PALETTE[3],
                  markersize=9, label="does not fit in memory")
    if base:
        left.plot(devices, [base * d / base_devices for d in devices], "--", color="#777777",
                  label=f"linear from {base_devices} devices")
        eff = [(d, 100 * (t / d) / (base / base_devices)) for d, t in ok]
        right.plot([d for d, _ in eff], [e for _, e in eff], "o-", color=PALETTE[1],
                   label="per-device throughput\nrelative to the base")
        right.axhline(100, color="#777777", linestyle="--", linewidth=1, label="ideal (100%)")
        right.legend(fontsize=9, loc="lower left")
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(LogLocator(base=2, numticks=12))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.tick_params(axis="x", labelrotation=45)
        ax.set_xlabel("devices")
        ax.grid(alpha=0.3)
    left.set_yscale("log")
    _eng_axis(left.yaxis)
    left.set_ylabel(f"throughput ({unit})")
    left.legend(fontsize=9, loc="upper left")
    right.set_ylabel("scaling efficiency (%)")
    right.set_ylim(0, 110)
    fig.suptitle(title)
    return _png(fig)


# ----------------------------------------------------------------------------- sweeps

def pareto_plot(x: Sequence[float], y: Sequence[float], on_front: Sequence[bool],
                best: int | None, xlabel: str, ylabel: str, title: str,
                log_x: bool = False, log_y: bool = False, connect: bool = True) -> bytes:
    """Scatter of feasible sweep points with the Pareto front marked (joined by a line when it
    is a front of exactly the two plotted goals) and the best point starred."""
    fig = _figure(8.0, 5.0)
    ax = fig.add_subplot()
    rest = [(a, b) for a, b, f in zip(x, y, on_front, strict=True) if not f]
    front = sorted((a, b) for a, b, f in zip(x, y, on_front, strict=True) if f)
    ax.scatter([a for a, _ in rest], [b for _, b in rest], s=18, color="#9a9a9a", alpha=0.7,
               label="feasible points")
    ax.plot([a for a, _ in front], [b for _, b in front], "o-" if connect else "o",
            color=PALETTE[3], markersize=6,
            label="Pareto front" if connect else "Pareto front (all goals)")
    if best is not None:
        ax.scatter([x[best]], [y[best]], s=180, marker="*", color=PALETTE[1], zorder=4,
                   edgecolors="black", linewidths=0.6, label="best by the objective")
    if log_x:
        ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    _eng_axis(ax.yaxis)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="best")
    return _png(fig)


def bars_plot(labels: Sequence[str], series: dict[str, Sequence[float]], ylabel: str,
              title: str) -> bytes:
    """Grouped bars (one group per label, one bar per series)."""
    n, k = len(labels), max(1, len(series))
    fig = _figure(max(6.0, min(12.0, 2.0 + 0.5 * n * k)), 4.2)
    ax = fig.add_subplot()
    width = 0.8 / k
    for i, (name, values) in enumerate(series.items()):
        ax.bar([j + (i - (k - 1) / 2) * width for j in range(n)], values, width=width,
               label=name, color=PALETTE[i % len(PALETTE)])
    ax.set_xticks(range(n), labels, rotation=30 if n > 4 else 0,
                  ha="right" if n > 4 else "center")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    if k > 1:
        ax.legend(fontsize=9)
    return _png(fig)


def ratio_plot(labels: Sequence[str], ratios: Sequence[float], better: Sequence[bool],
               title: str) -> bytes:
    """Horizontal bars of ratios against 1 (no change), green where better, red where worse."""
    fig = _figure(8.5, 0.45 * len(labels) + 1.5)
    ax = fig.add_subplot()
    ys = list(range(len(labels)))[::-1]
    colors = [PALETTE[2] if b else PALETTE[3] for b in better]
    ax.barh(ys, [r - 1.0 for r in ratios], left=1.0, color=colors, height=0.6)
    ax.axvline(1.0, color="black", linewidth=1)
    span = max([abs(r - 1.0) for r in ratios] + [0.05])
    for y, r in zip(ys, ratios, strict=True):
        ax.text(r + (0.02 if r >= 1 else -0.02) * span * 4, y, f"{r:.2f}×", va="center",
                ha="left" if r >= 1 else "right", fontsize=9)
    ax.set_xlim(max(0.0, 1 - span * 1.5), 1 + span * 1.5)
    ax.set_yticks(ys, labels, fontsize=9)
    ax.set_xlabel("compressed / baseline (1 = unchanged)")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def batch_plot(batches: Sequence[int], throughput: Sequence[float | None],
               tpot: Sequence[float | None], feasible: Sequence[bool], base: int) -> bytes:
    """Throughput (left) and time per output token (right) against the batch size."""
    fig = _figure(11.0, 4.2)
    left, right = fig.subplots(1, 2)
    for ax, values, ylabel, color in ((left, throughput, "throughput (generated tokens/s)",
                                       PALETTE[0]),
                                      (right, tpot, "time per output token (ms)", PALETTE[1])):
        scale = 1e3 if ax is right else 1.0
        ok = [(b, v * scale) for b, v, f in zip(batches, values, feasible, strict=True)
              if v is not None and f]
        bad = [(b, v * scale) for b, v, f in zip(batches, values, feasible, strict=True)
               if v is not None and not f]
        ax.plot([b for b, _ in ok], [v for _, v in ok], "o-", color=color, label="fits")
        if bad:
            ax.plot([b for b, _ in bad], [v for _, v in bad], "x", color=PALETTE[3],
                    markersize=9, label="does not fit in memory")
        ax.axvline(base, color="#777777", linestyle="--", linewidth=1,
                   label=f"scenario batch {base}")
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(batches), [str(b) for b in batches])
        ax.minorticks_off()
        ax.set_xlabel("batch size (sequences)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9, loc="upper left")
    _eng_axis(left.yaxis)
    fig.suptitle("Batch size: throughput against latency")
    return _png(fig)


def percentile_plot(labels: Sequence[str], series: dict[str, Sequence[float]],
                    limits: dict[str, float | None], title: str) -> bytes:
    """Grouped bars of latency percentiles (ms, log scale) per latency kind, SLO limits dashed."""
    n, k = len(labels), len(series)
    fig = _figure(9.0, 4.4)
    ax = fig.add_subplot()
    width = 0.8 / k
    for i, (name, values) in enumerate(series.items()):
        ax.bar([j + (i - (k - 1) / 2) * width for j in range(n)],
               [max(v, 1e-9) * 1e3 for v in values], width=width, label=name,
               color=PALETTE[i % len(PALETTE)])
    drawn = False
    for j, name in enumerate(labels):
        limit = limits.get(name)
        if limit:
            ax.hlines(limit * 1e3, j - 0.45, j + 0.45, colors="black", linestyles="--",
                      label=None if drawn else "SLO")
            drawn = True
    ax.set_yscale("log")
    ax.set_xticks(range(n), labels)
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3, which="both")
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _png(fig)


def slo_scaling_plot(devices: Sequence[int], attainment: Sequence[float | None],
                     ttft_p99: Sequence[float | None], tpot_p99: Sequence[float | None],
                     slo: dict, base_devices: int) -> bytes:
    """SLO attainment (left) and p99 TTFT / TPOT (right, ms) against the device count."""
    fig = _figure(11.0, 4.2)
    left, right = fig.subplots(1, 2)
    pts = [(d, 100 * a) for d, a in zip(devices, attainment, strict=True) if a is not None]
    left.plot([d for d, _ in pts], [a for _, a in pts], "o-", color=PALETTE[0],
              label="requests within the SLO")
    if slo.get("attainment") is not None:
        left.axhline(100 * slo["attainment"], color="black", linestyle="--", linewidth=1,
                     label=f"target {100 * slo['attainment']:.0f}%")
    left.set_ylim(0, 105)
    left.set_ylabel("SLO attainment (%)")
    for values, name, key, color in ((ttft_p99, "p99 TTFT", "ttft_s", PALETTE[1]),
                                     (tpot_p99, "p99 TPOT", "tpot_s", PALETTE[2])):
        pts = [(d, v * 1e3) for d, v in zip(devices, values, strict=True) if v is not None]
        right.plot([d for d, _ in pts], [v for _, v in pts], "o-", color=color, label=name)
        if slo.get(key):
            right.axhline(slo[key] * 1e3, color=color, linestyle="--", linewidth=1,
                          label=f"{name.split()[1]} SLO")
    right.set_yscale("log")
    right.set_ylabel("latency (ms, log scale)")
    for ax in (left, right):
        ax.axvline(base_devices, color="#777777", linestyle=":", linewidth=1,
                   label=f"scenario ({base_devices})")
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(devices), [str(d) for d in devices])
        ax.minorticks_off()
        ax.set_xlabel("devices")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    fig.suptitle("Serving the same requests with more or fewer replicas")
    return _png(fig)

