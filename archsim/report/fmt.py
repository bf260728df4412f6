"""Number formatting for report text and tables (SI floats in, short readable strings out)."""

from __future__ import annotations

import math
from typing import Any

from archsim.textfmt import human_bytes, human_energy, human_time, pct, usd

__all__ = ["NO_PRICE", "count", "days", "human_bytes", "human_time", "kwh", "metric_text", "money",
           "pct", "rate", "short_time"]


def count(x: float | None) -> str:
    """1.23e12 → '1.23 T' (trillion, B billion, M million, k thousand)."""
    if x is None:
        return "-"
    for factor, prefix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= factor:
            return f"{x / factor:.3g} {prefix}"
    return f"{x:.3g}"


def rate(x: float | None, unit: str) -> str:
    """Tokens/s and the like with thousands separators."""
    if x is None:
        return "-"
    return f"{x:,.0f} {unit}" if x >= 100 else f"{x:.3g} {unit}"


NO_PRICE = "no price"
"""What a cost cell says when the device profile has no price (the point is still shown)."""


def money(x: float | None) -> str:
    return NO_PRICE if x is None else usd(x)


def days(x: float | None) -> str:
    if x is None:
        return "-"
    if x < 1:
        return f"{x * 24:.1f} hours"
    return f"{x:,.1f} days"


def short_time(s: float | None) -> str:
    """A round duration as a person writes it: 0.5 → '500 ms', 2.0 → '2 s'."""
    if s is None:
        return "-"
    return f"{s * 1e3:g} ms" if s < 1 else f"{s:g} s"


def kwh(x: float | None) -> str:
    """Energy given in kWh, written in the unit that suits it (Wh … GWh, no exponent)."""
    return "-" if x is None else human_energy(x * 3.6e6)


def metric_text(column: str, v: Any) -> str:
    """A table cell for the value ``v`` of the result metric or table column ``column``."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if not isinstance(v, (int, float)):
        return str(v)
    if column in ("tokens_per_s", "requests_per_s"):
        return f"{float(v):,.0f}" if float(v) >= 100 else f"{float(v):.3g}"
    if column.endswith("_usd"):
        return money(float(v))
    if column.endswith("_s") and column != "tokens_per_s" and column != "requests_per_s":
        return human_time(float(v))
    if "bytes" in column:
        return human_bytes(float(v))
    if column in ("mfu", "hfu", "memory_headroom", "slo_attainment"):
        return pct(float(v))
    if isinstance(v, int) or float(v).is_integer():
        return f"{int(v):,}"
    return f"{float(v):,.4g}"
