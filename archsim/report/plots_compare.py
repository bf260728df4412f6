"""Report figures that compare: scaling curves, Pareto fronts, grouped and ratio bars,
latency percentiles. Same conventions as plots.py (object API, Agg canvas, PNG bytes, labelled
axes with units, legends, constrained layout)."""

from __future__ import annotations

from collections.abc import Sequence

from archsim.report.plots import PALETTE, eng_axis, new_figure, png_bytes

# ----------------------------------------------------------------------------- scaling

def scaling_plot(devices: Sequence[int], throughput: Sequence[float | None],
                 feasible: Sequence[bool], base_devices: int, unit: str, title: str) -> bytes:
    """Throughput and scaling efficiency against device count (log2 axis)."""
    fig = new_figure(11.0, 4.2)
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
    eng_axis(left.yaxis)
    left.set_ylabel(f"throughput ({unit})")
    left.legend(fontsize=9, loc="upper left")
    right.set_ylabel("scaling efficiency (%)")
    right.set_ylim(0, 110)
    fig.suptitle(title)
    return png_bytes(fig)


# ----------------------------------------------------------------------------- sweeps

def pareto_plot(x: Sequence[float], y: Sequence[float], on_front: Sequence[bool],
                best: int | None, xlabel: str, ylabel: str, title: str,
                log_x: bool = False, log_y: bool = False, connect: bool = True) -> bytes:
    """Scatter of feasible sweep points with the Pareto front marked (joined by a line when it
    is a front of exactly the two plotted goals) and the best point starred."""
    fig = new_figure(8.0, 5.0)
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
    eng_axis(ax.yaxis)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="best")
    return png_bytes(fig)


def bars_plot(labels: Sequence[str], series: dict[str, Sequence[float]], ylabel: str,
              title: str) -> bytes:
    """Grouped bars (one group per label, one bar per series)."""
    n, k = len(labels), max(1, len(series))
    fig = new_figure(max(6.0, min(12.0, 2.0 + 0.5 * n * k)), 4.2)
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
    return png_bytes(fig)


def ratio_plot(labels: Sequence[str], ratios: Sequence[float], better: Sequence[bool],
               title: str) -> bytes:
    """Horizontal bars from 1 (no change) to each ratio on a log axis (×0.25 and ×4 equally
    far from 1), green where better, red where worse, each labelled beyond its end; the axis
    leaves room for the labels on both sides."""
    import math

    fig = new_figure(8.5, 0.45 * len(labels) + 1.6)
    ax = fig.add_subplot()
    ys = list(range(len(labels)))[::-1]
    colors = [PALETTE[2] if b else PALETTE[3] for b in better]
    ax.barh(ys, [r - 1.0 for r in ratios], left=1.0, color=colors, height=0.6)
    ax.axvline(1.0, color="black", linewidth=1)
    lo = min([*ratios, 1.0])
    hi = max([*ratios, 1.0])
    span = max(math.log10(hi / lo), 0.3)
    pad = 10 ** (0.22 * span)  # room for a label such as "0.26×" beyond a bar's end
    for y, r in zip(ys, ratios, strict=True):
        ax.text(r * 1.03 if r >= 1 else r / 1.03, y, f"{r:.2f}×", va="center",
                ha="left" if r >= 1 else "right", fontsize=9)
    ax.set_xscale("log")
    ax.set_xlim(lo / pad, hi * pad)
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(ys, labels, fontsize=9)
    ax.set_xlabel("compressed / baseline (log scale; 1 = unchanged)")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return png_bytes(fig)


def batch_plot(batches: Sequence[int], throughput: Sequence[float | None],
               tpot: Sequence[float | None], feasible: Sequence[bool], base: int,
               encoder: bool = False) -> bytes:
    """Throughput (left) and time per output token — or, for an encoder, latency per batch —
    (right) against the batch size."""
    fig = new_figure(11.0, 4.2)
    left, right = fig.subplots(1, 2)
    speed = "throughput (sequences/s)" if encoder else "throughput (generated tokens/s)"
    latency = "latency per batch (ms)" if encoder else "time per output token (ms)"
    for ax, values, ylabel, color in ((left, throughput, speed, PALETTE[0]),
                                      (right, tpot, latency, PALETTE[1])):
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
    eng_axis(left.yaxis)
    fig.suptitle("Batch size: throughput against latency")
    return png_bytes(fig)


def percentile_plot(labels: Sequence[str], series: dict[str, Sequence[float]],
                    limits: dict[str, float | None], title: str) -> bytes:
    """Grouped bars of latency percentiles (ms, log scale) per latency kind, SLO limits dashed."""
    n, k = len(labels), len(series)
    fig = new_figure(9.0, 4.4)
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
    return png_bytes(fig)


def slo_scaling_plot(devices: Sequence[int], attainment: Sequence[float | None],
                     ttft_p99: Sequence[float | None], tpot_p99: Sequence[float | None],
                     slo: dict, base_devices: int) -> bytes:
    """SLO attainment (left) and p99 TTFT / TPOT (right, ms) against the device count."""
    fig = new_figure(11.0, 4.2)
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
    return png_bytes(fig)

