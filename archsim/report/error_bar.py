"""The calibrated error bar in a report's answer (archsim/accuracy.py's ``uncertainty``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archsim.accuracy import band_clause, is_composed, is_widened, mape_clause
from archsim.report import fmt
from archsim.spec.errors import plural

# result keys shown as intervals (when the result has one), in this order: name, format
_TIME = fmt.human_time
SHOWN: dict[str, tuple[str, Callable[[float], str]]] = {
    "step_time_s": ("step time", _TIME), "ttft_s": ("TTFT", _TIME), "tpot_s": ("TPOT", _TIME),
    "e2e_latency_s": ("end-to-end latency", _TIME), "ttft_p99_s": ("TTFT p99", _TIME),
    "tpot_p99_s": ("TPOT p99", _TIME), "e2e_p50_s": ("end-to-end p50", _TIME),
    "e2e_p99_s": ("end-to-end p99", _TIME),
    "tokens_per_s": ("throughput", lambda x: fmt.rate(x, "tokens/s")),
    "cost_per_million_tokens_usd": ("$ per million tokens", fmt.money)}


def error_bar_sentence(r: dict[str, Any], days: float | None = None,
                       cost_usd: float | None = None) -> str | None:
    """One or more sentences: a device whose error is unknown, how far off the profile was on
    held-out measured runs of this kind, the headline numbers as ranges (a training run's
    ``days`` and ``cost_usd`` scale like its step time), and where the run lies outside what
    the profile was calibrated on."""
    u = r.get("uncertainty")
    if not u:
        return None
    shipped = u.get("calibration", "shipped profiles") == "shipped profiles"
    run_word = "held-out published run" if shipped else "held-out measured run"
    parts = []
    for group, err in u["errors"].items():
        if err.get("composed"):
            parts.append(f"{group.replace('_', ' ')}: {err['method']}, {band_clause(err)}")
            continue
        proxy = " (" + err["method"].split("; ", 1)[1] + ")" if "; " in err["method"] else ""
        parts.append(f"{group.replace('_', ' ')} runs: {mape_clause(err)} over "
                     f"{plural(err['runs'], run_word)} from {err['sources']} "
                     f"source{'s' if err['sources'] != 1 else ''}{proxy}, {band_clause(err)}")
    if u.get("note") and not parts:
        return f"Error bar: {u['note']}."
    what = ("the profile's" if shipped else f"the calibration {u['calibration']}'s") + \
        " cross-validated error on measured runs: " + "; ".join(parts)
    text = (f"Error bar: {u['note']}. Where calibrated ({what})" if u.get("note")
            else f"Error bar ({what})" if parts else "Error bar: no calibrated runs of this kind")
    text += _ranges(r, u, days, cost_usd) + "."
    if u.get("out_of_range"):
        text += " Outside what the profile was calibrated on: " + "; ".join(
            u["out_of_range"]) + "."
    return text


def _ranges(r: dict[str, Any], u: dict[str, Any], days: float | None,
            cost_usd: float | None) -> str:
    """': likely (80%) …' — the result's intervals (a training run's days and cost); 'likely
    (the wider reference band)' where every band shown was widened, else those marked."""
    mode = r.get("mode", "")
    step, interval = r.get("step_time_s"), u["intervals"].get("step_time_s")
    if interval and step and days is not None:
        lo, hi = interval[0] / step, interval[1] / step
        text = f"{fmt.days(days * lo)} to {fmt.days(days * hi)}"
        if cost_usd is not None:
            text += f" and {fmt.money(cost_usd * lo)} to {fmt.money(cost_usd * hi)}"
        return f": {_likely([is_widened(u, 'step_time_s', mode)])} {text}"
    shown = [(k, u["intervals"][k]) for k in SHOWN if k in u["intervals"]]
    if not shown:
        return ""
    widened = [is_widened(u, k, mode) for k, _ in shown]
    mixed = any(widened) and not all(widened)
    return f": {_likely(widened)} " + ", ".join(
        f"{SHOWN[k][0]} {SHOWN[k][1](a)} to {SHOWN[k][1](b)}"
        + (" (widened band)" if mixed and w else "")
        + (" (from the TTFT and TPOT bands)" if not w and is_composed(u, k, mode) else "")
        for (k, (a, b)), w in zip(shown, widened, strict=True))


def _likely(widened: list[bool]) -> str:
    return "likely (the wider reference band)" if all(widened) else "likely (80%)"
