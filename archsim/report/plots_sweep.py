"""Sweep-report figures: the Pareto front coloured by device (points without a value on the x
axis — e.g. no price — in a strip of their own beside it), per-device panels, and how the
cheapest point moves with prices. Conventions as plots.py."""

from __future__ import annotations

import math
from collections.abc import Sequence

from archsim.report.plots import PALETTE, eng_axis, money_axis, new_figure, png_bytes


def category_colors(categories: Sequence[str]) -> dict[str, str]:
    """One palette colour per distinct category, in sorted order (stable across plots)."""
    return {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(sorted(set(categories)))}


def _missing(v: float | None) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def pareto_plot(x: Sequence[float | None], y: Sequence[float], on_front: Sequence[bool],
                best: int | None, categories: Sequence[str], xlabel: str, ylabel: str,
                title: str, missing_x: str = "no price", log_x: bool = False,
                connect: bool = True, money_x: bool = False) -> bytes:
    """Feasible points coloured by category, Pareto-front points ringed (joined when the front
    is of exactly the two plotted goals), the best point starred; points without an x value
    are drawn in a strip at the right labelled ``missing_x``, at their y."""
    colors = category_colors(categories)
    has_missing = any(_missing(v) for v in x)
    fig = new_figure(9.0, 5.2)
    if has_missing:
        grid = fig.add_gridspec(1, 2, width_ratios=(6, 1), wspace=0.02)
        ax = fig.add_subplot(grid[0, 0])
        strip = fig.add_subplot(grid[0, 1], sharey=ax)
    else:
        ax, strip = fig.add_subplot(), None
    for cat in sorted(colors):
        for front in (False, True):
            pts = [(i, x[i], y[i]) for i in range(len(y))
                   if categories[i] == cat and on_front[i] == front]
            placed = [(xi, yi) for _, xi, yi in pts if not _missing(xi)]
            style = dict(s=70, edgecolors="black", linewidths=1.2, zorder=3) if front else \
                dict(s=22, alpha=0.55, linewidths=0, zorder=2)
            ax.scatter([a for a, _ in placed], [b for _, b in placed], color=colors[cat],
                       label=cat if not front else None, **style)
            if strip is not None:
                lost = [yi for _, xi, yi in pts if _missing(xi)]
                jitter = [(k % 5 - 2) * 0.12 for k in range(len(lost))]
                strip.scatter(jitter, lost, color=colors[cat], **style)
    front = sorted((x[i], y[i]) for i in range(len(y)) if on_front[i] and not _missing(x[i]))
    if connect and len(front) > 1:
        ax.plot([a for a, _ in front], [b for _, b in front], "-", color="#444444",
                linewidth=1, zorder=1)
    ax.scatter([], [], s=70, facecolors="none", edgecolors="black", linewidths=1.2,
               label="on the Pareto front" + ("" if connect else " (all goals)"))
    if best is not None:
        target = strip if _missing(x[best]) and strip is not None else ax
        bx = 0.0 if target is strip else x[best]
        target.scatter([bx], [y[best]], s=260, marker="*", color="gold", zorder=4,
                       edgecolors="black", linewidths=0.8)
        ax.scatter([], [], s=160, marker="*", color="gold", edgecolors="black",
                   linewidths=0.8, label="best by the objective")
    if log_x:
        ax.set_xscale("log")
    if money_x:
        money_axis(ax.xaxis)
    eng_axis(ax.yaxis)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    if strip is not None:
        strip.set_xlim(-0.6, 0.6)
        strip.set_xticks([0.0], [missing_x])
        strip.tick_params(axis="y", labelleft=False)
        strip.grid(axis="y", alpha=0.3)
        strip.set_facecolor("#f4f4f4")
    fig.suptitle(title)
    return png_bytes(fig)


def category_panels_plot(categories: Sequence[str],
                         panels: Sequence[tuple[str, str, Sequence[float | None], str]],
                         title: str) -> bytes:
    """One bar per category in each panel (column, ylabel, values, text where a value is
    missing); colours as in ``pareto_plot``; values written as report tables write them."""
    from archsim.labels import PERCENT_KEYS
    from archsim.report.fmt import metric_text

    colors = category_colors(categories)
    n = len(panels)
    fig = new_figure(min(12.0, 1.0 + 3.6 * n), 4.4)
    axes = fig.subplots(1, n, squeeze=False)[0]
    xs = list(range(len(categories)))
    for ax, (column, ylabel, values, missing) in zip(axes, panels, strict=True):
        scale = 100.0 if column in PERCENT_KEYS else 1.0
        shown = [0.0 if _missing(v) else float(v) * scale for v in values]
        ax.bar(xs, shown, color=[colors[c] for c in categories], width=0.6)
        top = max(shown, default=0.0) or 1.0
        for i, v in enumerate(values):
            text = missing if _missing(v) else metric_text(column, v)
            ax.text(i, shown[i] + 0.02 * top, text, ha="center", va="bottom", fontsize=8,
                    rotation=90 if _missing(v) else 0)
        ax.set_ylim(0, top * 1.25)
        ax.set_xticks(xs, list(categories), rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(ylabel)
        if column.endswith("_usd"):
            money_axis(ax.yaxis)
        elif scale == 1.0:
            eng_axis(ax.yaxis)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title)
    return png_bytes(fig)


def price_range_plot(categories: Sequence[str], cost: Sequence[float | None],
                     swing: float, cheapest: float, notes: Sequence[str],
                     xlabel: str) -> bytes:
    """Each category's cheapest cost as a bar with a whisker for prices ×(1 ± swing), beside
    the cheapest point's own range (shaded); categories without a price carry their note."""
    colors = category_colors(categories)
    fig = new_figure(9.0, 0.6 * len(categories) + 1.8)
    ax = fig.add_subplot()
    ys = list(range(len(categories)))[::-1]
    ax.axvspan(cheapest * (1 - swing), cheapest * (1 + swing), color="#dddddd",
               label=f"cheapest point, price ±{swing:.0%}")
    top = max([c for c in cost if c is not None] + [cheapest]) * (1 + swing)
    for y, cat, c, note in zip(ys, categories, cost, notes, strict=True):
        if c is None:
            ax.text(0.01 * top, y, note, va="center", fontsize=9)
            continue
        ax.barh(y, c, color=colors[cat], height=0.5)
        ax.errorbar(c, y, xerr=[[c * swing], [c * swing]], color="black", capsize=4,
                    linewidth=1)
    ax.set_yticks(ys, list(categories), fontsize=9)
    ax.set_ylim(-0.6, len(categories) - 0.4)
    ax.set_xlim(0, top * 1.1)
    money_axis(ax.xaxis)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(f"Cheapest point of each device, prices ±{swing:.0%}")
    return png_bytes(fig)
