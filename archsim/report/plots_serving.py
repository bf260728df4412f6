"""Serving-report figures: cost against p99 latency across device types and replica counts,
and the load over a run. Conventions as plots.py."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from archsim.report.plots import money_axis, new_figure, png_bytes, time_unit
from archsim.report.plots_sweep import category_colors


def _front(points: Sequence[tuple[float, float]]) -> set[tuple[float, float]]:
    """Points no other point beats on both coordinates (both smaller is better)."""
    return {p for p in points
            if not any(q[0] <= p[0] and q[1] <= p[1] and q != p for q in points)}


def cost_latency_plot(deployments: Sequence[Any], slo: dict) -> bytes:
    """Two panels (p99 TTFT, p99 TPOT; log x) of cost per million tokens against latency:
    colour = device type, filled = meets the SLO, ringed = on the panel's cost–latency front,
    label = replica count; device types without a price in a strip on top."""
    from matplotlib.ticker import FuncFormatter

    colors = category_colors([d.device for d in deployments])
    unpriced = any(d.cost_per_million_tokens_usd is None for d in deployments)
    fig = new_figure(11.0, 5.4)
    grid = fig.add_gridspec(2 if unpriced else 1, 2, height_ratios=(1, 6) if unpriced else (1,),
                            hspace=0.03)
    for col, (key, name) in enumerate((("ttft_p99_s", "p99 TTFT"), ("tpot_p99_s", "p99 TPOT"))):
        ax = fig.add_subplot(grid[-1, col])
        strip = fig.add_subplot(grid[0, col], sharex=ax) if unpriced else None
        pts = [(getattr(d, key), d) for d in deployments if getattr(d, key) is not None]
        scale, unit = time_unit(max(v for v, _ in pts))
        priced = [(v / scale, d.cost_per_million_tokens_usd) for v, d in pts
                  if d.cost_per_million_tokens_usd is not None]
        front = _front(priced)
        for v, d in pts:
            x, c = v / scale, d.cost_per_million_tokens_usd
            target, y = (ax, c) if c is not None else (strip, 0.0)
            if target is None:
                continue
            target.scatter([x], [y], s=36, zorder=3,
                           facecolors=colors[d.device] if d.met else "white",
                           edgecolors=colors[d.device], linewidths=1.2)
            if c is not None and (x, c) in front:
                target.scatter([x], [y], s=130, zorder=2, facecolors="none",
                               edgecolors="black", linewidths=1.0)
            target.annotate(str(d.replicas), (x, y), textcoords="offset points",
                            xytext=(4, 4), fontsize=7, color="#333333")
        limit = slo.get(key.replace("_p99", ""))
        if limit:
            for a in (ax, strip):
                if a is not None:
                    a.axvline(limit / scale, color="black", linestyle="--", linewidth=1)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(FuncFormatter(
            lambda v, _: f"{v:g}" if f"{v:g}"[0] in "25" else ""))
        ax.set_xlabel(f"{name} ({unit})")
        ax.grid(alpha=0.3, which="both")
        money_axis(ax.yaxis)
        if col == 0:
            ax.set_ylabel("cost per million output tokens (USD)")
        if strip is not None:
            strip.set_yticks([0.0], ["no price"] if col == 0 else [""])
            strip.tick_params(axis="x", which="both", labelbottom=False)
            strip.set_facecolor("#f4f4f4")
            strip.set_ylim(-1, 1)
    handles = [fig.axes[0].scatter([], [], s=36, color=c, label=dev)
               for dev, c in colors.items()]
    handles.append(fig.axes[0].scatter([], [], s=36, facecolors="white", edgecolors="#555555",
                                       label="misses the SLO"))
    handles.append(fig.axes[0].scatter([], [], s=130, facecolors="none", edgecolors="black",
                                       linewidths=1.0, label="cheapest for its latency"))
    fig.legend(handles=handles, loc="outside lower center", ncol=min(6, len(handles)),
               fontsize=8, frameon=False)
    fig.suptitle("Cost against p99 latency (labels: replicas; dashed: the SLO)")
    return png_bytes(fig)


def load_plot(series: dict[str, list[float]], window: tuple[float, float] | None) -> bytes:
    """Waiting and running requests (top) and KV-cache use (bottom) over the run."""
    fig = new_figure(11.0, 5.2)
    top, bottom = fig.subplots(2, 1, sharex=True)
    t = series["t_s"]
    scale, unit = time_unit(max(t) if t else 1.0)
    xs = [v / scale for v in t]
    top.plot(xs, series["running"], color="#1f77b4", label="in flight (prefill or decode)")
    top.plot(xs, series["waiting"], color="#d62728", label="waiting for a first prefill")
    top.set_ylabel("requests")
    kv = series.get("kv_cache_used")
    if kv:
        bottom.plot(xs, [100 * v for v in kv], color="#2ca02c", label="KV cache held")
        bottom.set_ylim(0, 105.0)
        bottom.axhline(100, color="black", linestyle="--", linewidth=1, label="capacity")
    bottom.set_ylabel("KV cache used (%)")
    bottom.set_xlabel(f"time since the first arrival ({unit})")
    for ax in (top, bottom):
        if window is not None:
            ax.axvspan(window[0] / scale, window[1] / scale, color="#dddddd", zorder=0,
                       label="steady-state window" if ax is top else None)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.suptitle("Load over the run")
    return png_bytes(fig)
