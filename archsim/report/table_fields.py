"""The metric cells of a sweep table that ``archsim report`` reads, checked when it is loaded.

``archsim sweep`` writes each metric column (archsim/sweep/columns.py) with one type; a
hand-edited or foreign table gets one line per bad column — the first bad cell's point (or
row), the value, what was expected — instead of a crash or a report of text as numbers.
Numbers are finite and ≥ 0 (the memory headroom columns may be negative: a plan that does
not fit), counts are whole numbers, flags true or false, ``mode`` one of the modes; an empty
cell is a metric the point does not have.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from archsim.spec.errors import SpecError, plural

SIGNED = ("memory_headroom", "memory_headroom_bytes")


def check_cells(table: Any, path: Path, modes: tuple[str, ...]) -> None:
    """SpecError with one line per metric column of ``table`` holding a bad cell."""
    from archsim.sweep.columns import METRIC_TYPES

    problems = []
    for column, kind in METRIC_TYPES.items():
        if column == "feasible" or column not in table.columns:
            continue  # feasible: checked by the loader
        bad = [(i, v) for i, v in enumerate(table[column].tolist())
               if not _missing(v) and _problem(column, kind, v, modes)]
        if not bad:
            continue
        i, value = bad[0]
        more = f" (and {plural(len(bad) - 1, 'more row')})" if len(bad) > 1 else ""
        problems.append(f"{path}: {row_label(table, i)}, column {column}: {_show(value)}: expected "
                        f"{_problem(column, kind, value, modes)}{more}")
    if problems:
        raise SpecError(problems)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _problem(column: str, kind: str, v: Any, modes: tuple[str, ...]) -> str | None:
    """What ``v`` should have been, or None when it is fine."""
    if kind == "bool":
        ok = isinstance(v, bool) or str(v).lower() in ("true", "false") or type(v).__name__ \
            == "bool_"
        return None if ok else "true or false (or an empty cell)"
    if kind == "str":
        return None if column != "mode" or v in modes else \
            f"one of {', '.join(modes)} (or an empty cell)"
    number = as_number(v)
    if kind == "int":
        ok = number is not None and number.is_integer() and number >= 0
        return None if ok else "a whole number ≥ 0 (or an empty cell)"
    if number is None or not math.isfinite(number):
        return "a finite number (or an empty cell)"
    if number < 0 and column not in SIGNED:
        return "a number ≥ 0 (or an empty cell)"
    return None


def as_number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def row_label(table: Any, i: int) -> str:
    """``point P`` (the sweep's own index of the point), else ``row N`` of the table."""
    if "point" in table.columns:
        point = as_number(table["point"].iloc[i])
        if point is not None and point.is_integer():
            return f"point {int(point)}"
    return f"row {i + 1}"


def _show(v: Any) -> str:
    if hasattr(v, "item"):
        v = v.item()
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."
