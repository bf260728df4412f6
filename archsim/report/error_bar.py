"""The calibrated error bar in a report's answer (archsim/accuracy.py's ``uncertainty``)."""

from __future__ import annotations

from typing import Any

from archsim.report import fmt
from archsim.spec.errors import plural


def error_bar_sentence(r: dict[str, Any], days: float | None = None,
                       cost_usd: float | None = None) -> str | None:
    """One or two sentences: how far off the profile was on held-out measured runs of this
    kind, the headline as a range (a training run's ``days`` and ``cost_usd`` scale like its
    step time), and where the run lies outside what the profile was calibrated on."""
    u = r.get("uncertainty")
    if not u:
        return None
    if u.get("note"):
        return f"Error bar: {u['note']}."
    parts = []
    for group, err in u["errors"].items():
        proxy = "; " + err["method"].split("; ", 1)[1] if "; " in err["method"] else ""
        parts.append(f"{group.replace('_', ' ')} runs {100 * err['mape']:.1f}% mean absolute "
                     f"error over {plural(err['runs'], 'held-out published run')} from "
                     f"{err['sources']} source{'s' if err['sources'] != 1 else ''}, "
                     + (f"band widened to {100 * err['p10']:+.0f}% … {100 * err['p90']:+.0f}% "
                        f"({err['widened']})" if err.get("widened") else
                        f"80% of them within {100 * err['p10']:+.0f}% … "
                        f"{100 * err['p90']:+.0f}%") + proxy)
    text = ("Error bar (the profile's cross-validated error on measured runs: "
            + "; ".join(parts) + ")") if parts else "Error bar: no calibrated runs of this kind"
    step = r.get("step_time_s")
    interval = u["intervals"].get("step_time_s")
    if interval and step and days is not None:
        lo, hi = interval[0] / step, interval[1] / step
        text += f": likely {fmt.days(days * lo)} to {fmt.days(days * hi)}"
        if cost_usd is not None:
            text += f" and {fmt.money(cost_usd * lo)} to {fmt.money(cost_usd * hi)}"
    else:
        shown = [(k, v) for k, v in u["intervals"].items()
                 if k in ("ttft_s", "tpot_s", "ttft_p99_s", "tpot_p99_s", "e2e_latency_s")]
        if shown:
            text += ": likely " + ", ".join(
                f"{k.removesuffix('_s').replace('_', ' ')} {fmt.human_time(a)} to "
                f"{fmt.human_time(b)}" for k, (a, b) in shown)
    text += "."
    if u.get("out_of_range"):
        text += " Outside what the profile was calibrated on: " + "; ".join(
            u["out_of_range"]) + "."
    return text
