"""Number formatting for report text and tables (SI floats in, short readable strings out)."""

from __future__ import annotations

from archsim.textfmt import human_bytes, human_time, pct

__all__ = ["count", "days", "human_bytes", "human_time", "kwh", "money", "pct", "rate"]


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


def money(x: float | None) -> str:
    if x is None:
        return "n/a (no price)"
    if abs(x) >= 100:
        return f"${x:,.0f}"
    return f"${x:,.3g}" if abs(x) < 1 else f"${x:,.2f}"


def days(x: float | None) -> str:
    if x is None:
        return "-"
    if x < 1:
        return f"{x * 24:.1f} hours"
    return f"{x:,.1f} days"


def kwh(x: float | None) -> str:
    if x is None:
        return "-"
    if abs(x) >= 1e3:
        return f"{x / 1e3:,.3g} MWh"
    return f"{x:,.3g} kWh"
