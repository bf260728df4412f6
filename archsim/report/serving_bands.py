"""The error bar on the serving capacity answer: each accepted deployment's calibrated intervals
(``uncertainty.intervals``, as ``archsim capacity`` prints them), whether its p99 bands stay
within the SLO, and whether two device types' cost bands overlap.

A p99 band that reaches past an objective means more than 1% of requests may miss it at the
band's slow end; an SLO for a smaller share (90%) may still hold there, but the model no longer
shows that it does. Two cost bands that overlap leave the ranking to the model's error.
"""

from __future__ import annotations

from typing import Any

from archsim.accuracy import is_widened
from archsim.report import fmt

OBJECTIVES = (("ttft_p99_s", "ttft_s", "TTFT p99"), ("tpot_p99_s", "tpot_s", "TPOT p99"))
COST = "cost_per_million_tokens_usd"


def band(row: dict[str, Any], key: str) -> tuple[float, float] | None:
    """The accepted probe's interval of ``key``, or None (no calibration, no such band)."""
    iv = ((row.get("uncertainty") or {}).get("intervals") or {}).get(key)
    return (float(iv[0]), float(iv[1])) if iv else None


def band_text(row: dict[str, Any], key: str) -> str:
    """'35.962 ms to 47.611 ms', '$0.306 to $0.405', or '-' without a band."""
    b = band(row, key)
    show = fmt.money if key == COST else fmt.human_time
    return "-" if b is None else f"{show(b[0])} to {show(b[1])}"


def likely(rows: list[dict[str, Any]]) -> str:
    """'likely (the wider reference band)' where every band shown was widened, else
    'likely (80%)'."""
    widened = [is_widened(r["uncertainty"], k, "serving") for r in rows
               for k in (COST, "ttft_p99_s", "tpot_p99_s") if band(r, k)]
    return "likely (the wider reference band)" if widened and all(widened) else "likely (80%)"


def past_objective(row: dict[str, Any], slo: dict[str, Any]) -> list[str]:
    """'its TPOT p99 band 35.962 ms to 47.611 ms straddles the 40 ms objective' for each p99
    band whose slow end lies past its objective."""
    out = []
    for key, goal, name in OBJECTIVES:
        b, limit = band(row, key), slo.get(goal)
        if b is not None and limit is not None and b[1] > limit:
            how = "straddles" if b[0] <= limit else "lies past"
            out.append(f"its {name} band {band_text(row, key)} {how} the "
                       f"{fmt.short_time(limit)} objective")
    return out


def verdict(row: dict[str, Any], slo: dict[str, Any]) -> str:
    """Whether an accepted deployment meets the SLO across its band."""
    if not any(band(row, key) for key, _, _ in OBJECTIVES):
        return "its error is unknown (no calibrated band)"
    past = past_objective(row, slo)
    if not past:
        return "within the SLO across its band"
    return "meets the SLO at the estimate, not across its band: " + "; ".join(past)


def overlaps(best: dict[str, Any], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The other priced accepted rows whose cost band overlaps ``best``'s."""
    mine = band(best, COST)
    if mine is None:
        return []
    return [r for r in rows if r is not best and (b := band(r, COST)) is not None
            and b[0] <= mine[1] and mine[0] <= b[1]]


def band_sentence(cap: dict[str, Any]) -> str | None:
    """The answer's error bar: the best deployment's cost band and SLO verdict, each other
    accepted deployment's verdict, and the device types whose cost bands overlap the best's."""
    rows = [r for r in cap.get("rows", []) if r.get("feasible")]
    best = next((r for r in rows if r["device"] == cap.get("best")), None)
    if best is None or not any(r.get("uncertainty") for r in rows):
        return None
    slo = cap.get("slo") or {}
    calibrated = [r for r in rows if r.get("uncertainty", {}).get("intervals")]
    parts = []
    for r in [best] + [r for r in rows if r is not best]:
        cost = f" at {band_text(r, COST)} per million output tokens" if band(r, COST) else ""
        parts.append(f"{r['devices']} × {r['device']}{cost}, {verdict(r, slo)}")
    text = f"Error bar of these deployments, {likely(calibrated)}: " + "; ".join(parts) + "."
    if cap.get("best_by") == "cost per million tokens":
        other = overlaps(best, rows)
        if other:
            text += (f" The cost band of {best['device']} overlaps that of "
                     + " and ".join(f"{r['device']} ({band_text(r, COST)})" for r in other)
                     + ": which is cheaper is within the model's error, not decided by it.")
        elif band(best, COST) and any(band(r, COST) for r in rows if r is not best):
            text += (f" {best['device']} stays the cheapest across the cost bands: its dearest "
                     "end is below every other device type's cheapest end.")
    return text


def band_rows(cap: dict[str, Any]) -> list[tuple[str, ...]]:
    """One table row per accepted deployment: its p99 and cost bands and the SLO verdict."""
    slo = cap.get("slo") or {}
    return [(r["device"], str(r["devices"]), band_text(r, "ttft_p99_s"),
             band_text(r, "tpot_p99_s"), band_text(r, COST) if r.get(COST) is not None
             else fmt.NO_PRICE, _short_verdict(r, slo))
            for r in cap.get("rows", []) if r.get("feasible")]


def _short_verdict(row: dict[str, Any], slo: dict[str, Any]) -> str:
    if not any(band(row, key) for key, _, _ in OBJECTIVES):
        return "unknown"
    late = [f"{name} up to {fmt.human_time(b[1])} > {fmt.short_time(slo[goal])}"
            for key, goal, name in OBJECTIVES
            if (b := band(row, key)) and slo.get(goal) is not None and b[1] > slo[goal]]
    return "no: " + ", ".join(late) if late else "yes"
