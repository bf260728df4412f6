"""The model's error bar on a sweep's best points, where the table holds it: the throughput's
calibrated interval ``tokens_per_s_low`` … ``tokens_per_s_high`` (archsim/sweep/columns.py).

The band scales time, so a column that scales like time (step time, cost per token) spans
value × tokens/s / high … value × tokens/s / low. Points of one device share its profile's
error, so the ranking is checked against the best point of the next category (device type)
where the sweep varies one, else against the second point.
"""

from __future__ import annotations

from typing import Any

from archsim.labels import short_label
from archsim.report import fmt
from archsim.report.sweep_front import cell
from archsim.report.sweep_goals import Goal, clean

LOW, HIGH, RATE = "tokens_per_s_low", "tokens_per_s_high", "tokens_per_s"
TIME_LIKE = ("step_time_s", "cost_per_million_tokens_usd", "cost_usd")


def has_band(columns: Any) -> bool:
    return LOW in columns and HIGH in columns


def band(row: Any, column: str) -> tuple[float, float] | None:
    """The interval of ``column`` at ``row``, or None (no band for it, or none recorded)."""
    lo, hi, tps = (clean(row.get(c)) if c in row else None for c in (LOW, HIGH, RATE))
    value = clean(row.get(column)) if column in row else None
    if lo is None or hi is None or not tps or value is None or lo <= 0:
        return None
    if column == RATE:
        return float(lo), float(hi)
    if column in TIME_LIKE:
        return value * tps / hi, value * tps / lo
    return None


def band_cell(row: Any, column: str, unit: bool = False) -> str:
    """'62,863 to 84,366' ('… tokens/s' with ``unit``), '$0.0788 to $0.106', or '-'."""
    b = band(row, column)
    if b is None:
        return "-"
    if unit and column == RATE:
        return f"{fmt.rate(b[0], 'tokens/s')} to {fmt.rate(b[1], 'tokens/s')}"
    return f"{cell(column, b[0])} to {cell(column, b[1])}"


def likely(row: Any) -> str:
    widened = clean(row.get("tokens_per_s_widened")) if "tokens_per_s_widened" in row else None
    return "likely (the wider reference band)" if widened else "likely (80%)"


def band_sentence(best: Any, objective: Goal) -> str | None:
    """'Error bar: likely (80%) throughput 62,863 to 84,366 tokens/s, cost … $0.0788 to …'."""
    columns = [RATE] + ([objective.column] if objective.column != RATE else [])
    shown = [f"{short_label(c)} {band_cell(best, c, unit=True)}" for c in columns
             if band(best, c)]
    if not shown:
        return None
    return f"Error bar of the best point: {likely(best)} " + ", ".join(shown) + "."


def rival(scored: Any, category: str | None) -> Any | None:
    """The point to rank the best against: the best of the next category, else the second."""
    if len(scored) < 2:
        return None
    best = scored.iloc[0]
    if category is None or category not in scored.columns:
        return scored.iloc[1]
    others = scored[scored[category].astype(str) != str(best[category])]
    return others.iloc[0] if len(others) else None


def ranking_sentence(best: Any, other: Any, objective: Goal, name: str) -> str | None:
    """Whether ``best`` still beats ``other`` (named ``name``) at the ends of their bands."""
    mine, theirs = band(best, objective.column), band(other, objective.column)
    if mine is None or theirs is None:
        return None
    col = objective.column
    if objective.maximize:
        worst, their_best, word = mine[0], theirs[1], ("at least", "at most")
        holds = worst >= their_best
    else:
        worst, their_best, word = mine[1], theirs[0], ("at most", "at least")
        holds = worst <= their_best
    show = (lambda v: fmt.rate(v, "tokens/s")) if col == RATE else (lambda v: cell(col, v))
    return (f"Ranking at the band ends ({short_label(col)}): {word[0]} {show(worst)} for the "
            f"best point against {word[1]} {show(their_best)} for {name}"
            + (": the ranking holds across the bands." if holds else
               ": the bands overlap, so which is better is within the model's error, not "
               "decided by it."))
