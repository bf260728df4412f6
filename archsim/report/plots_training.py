"""Training-report figures: time to train and cost of the run against the device count, for
the scenario's plan and the planner's best plan. Conventions as plots.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from archsim.report.plots import PALETTE, eng_axis, money_axis, new_figure, png_bytes


@dataclass(frozen=True)
class Panel:
    """One panel: a y quantity for the scenario's plan (one value per device count, None where
    it does not run) and for the planner's best plan at its counts."""

    ylabel: str
    values: Sequence[float | None]
    planned: Sequence[tuple[int, float | None]]
    limit: tuple[float, str] | None = None
    """A horizontal line (value, label), e.g. the deadline."""
    log_y: bool = True
    money: bool = False
    """Dollar tick labels."""


def device_count_plot(devices: Sequence[int], panels: Sequence[Panel], base_devices: int,
                      answer_devices: int | None, title: str) -> bytes:
    """Panels side by side against the device count (log2 axis): the scenario's plan as a
    line, counts where it does not run as crosses on the axis, the planner's best plan as
    diamonds, the scenario's count dotted and the fewest devices that meet the target
    shaded."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    fig = new_figure(11.0, 4.4)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels, strict=True):
        ok = [(d, v) for d, v in zip(devices, panel.values, strict=True) if v is not None]
        bad = [d for d, v in zip(devices, panel.values, strict=True) if v is None]
        ax.plot([d for d, _ in ok], [v for _, v in ok], "o-", color=PALETTE[0], markersize=4,
                label="scenario's plan (tp, pp kept)")
        planned = [(d, v) for d, v in panel.planned if v is not None]
        if planned:
            ax.plot([d for d, _ in planned], [v for _, v in planned], "D", color=PALETTE[1],
                    markersize=7, markeredgecolor="black", markeredgewidth=0.5,
                    label="planner's best plan")
        if panel.log_y:
            ax.set_yscale("log")
        (money_axis if panel.money else eng_axis)(ax.yaxis)
        if bad:
            ax.plot(bad, [0.0] * len(bad), "x", color=PALETTE[3], markersize=8, clip_on=False,
                    transform=ax.get_xaxis_transform(), label="does not run")
        if panel.limit is not None:
            ax.axhline(panel.limit[0], color="black", linestyle="--", linewidth=1,
                       label=panel.limit[1])
        ax.axvline(base_devices, color="#777777", linestyle=":", linewidth=1,
                   label=f"scenario ({base_devices:,} devices)")
        if answer_devices is not None:
            ax.axvspan(answer_devices / 1.08, answer_devices * 1.08, color=PALETTE[2],
                       alpha=0.25, label=f"fewest that meet the target ({answer_devices:,})")
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(LogLocator(base=2, numticks=12))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.tick_params(axis="x", labelrotation=45)
        ax.set_xlabel("devices")
        ax.set_ylabel(panel.ylabel)
        ax.grid(alpha=0.3, which="major")
    axes[0].legend(fontsize=8, loc="best")
    fig.suptitle(title)
    return png_bytes(fig)
