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


def new_figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def png_bytes(fig: Any) -> bytes:
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


def eng_axis(axis: Any, unit: str = "") -> None:
    from matplotlib.ticker import EngFormatter

    axis.set_major_formatter(EngFormatter(unit=unit, sep=" "))


def money_axis(axis: Any) -> None:
    """Dollar tick labels: $0.25, $12, $1.2k, $3.4M."""
    from matplotlib.ticker import FuncFormatter

    def text(v: float, _: Any) -> str:
        for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
            if abs(v) >= size:
                return f"${v / size:.3g}{suffix}"
        return f"${v:.3g}"

    axis.set_major_formatter(FuncFormatter(text))


# ----------------------------------------------------------------------------- time breakdown

def breakdown_plot(parts: Sequence[tuple[str, float]], total_s: float, title: str,
                   per: str = "step") -> bytes:
    """Horizontal bars of where the time goes, each labelled with its value and share."""
    scale, unit = time_unit(max(total_s, max((v for _, v in parts), default=0.0)))
    fig = new_figure(8.0, 0.55 * len(parts) + 1.4)
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
    return png_bytes(fig)


# ----------------------------------------------------------------------------- memory

def memory_plot(labels: Sequence[str], parts: dict[str, Sequence[float]], capacity: float,
                title: str, xlabel: str = "") -> bytes:
    """Stacked bars of memory per device (GiB) for each stage, against the capacity."""
    n = len(labels)
    fig = new_figure(max(7.0, min(12.0, 3.5 + 0.7 * n)), 4.4)
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
    return png_bytes(fig)


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
    fig = new_figure(11.0, 1.3 + 0.32 * len(rows))
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
    return png_bytes(fig)


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
    fig = new_figure(8.5, 5.2)
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
    return png_bytes(fig)
