"""Plain-text tables and human-readable numbers for CLI summaries."""

from __future__ import annotations

from collections.abc import Sequence


def table(headers: Sequence[str], rows: Sequence[Sequence[object]],
          align: str | None = None) -> str:
    """A fixed-width table; ``align`` is one of 'l'/'r' per column (default: first left)."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r]
                                           for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    align = align or ("l" + "r" * (len(headers) - 1))
    lines = []
    for n, row in enumerate(cells):
        parts = [c.ljust(w) if a == "l" else c.rjust(w)
                 for c, w, a in zip(row, widths, align, strict=True)]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def human_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit, f in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= f:
            return f"{n / f:.2f} {unit}"
    return f"{n:.0f} B"


def human_time(s: float | None) -> str:
    if s is None:
        return "-"
    if s >= 3600:
        return f"{s / 3600:.2f} h"
    if s >= 1:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3f} ms"
    return f"{s * 1e6:.1f} us"


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def num(x: float | None, digits: int = 4) -> str:
    if x is None:
        return "-"
    if abs(x) >= 1e6:
        return f"{x:.3e}"
    return f"{x:.{digits}g}"


def _sig(x: float, digits: int = 3) -> str:
    """``x`` with ``digits`` significant digits, thousands separators and no exponent."""
    if x == 0:
        return "0"
    import math

    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    return f"{x:,.{decimals}f}"


def usd(x: float | None) -> str:
    """Dollars readable at any size: $1,234 · $12.35 · $0.39 · $0.00123 (never $0.00)."""
    if x is None:
        return "-"
    if abs(x) >= 100:
        return f"${x:,.0f}"
    if abs(x) >= 1:
        return f"${x:,.2f}"
    return f"${_sig(x)}"


ENERGY_UNITS = (("GWh", 3.6e12), ("MWh", 3.6e9), ("kWh", 3.6e6), ("Wh", 3.6e3), ("J", 1.0))


def human_energy(joules: float | None) -> str:
    """Energy in the largest of GWh, MWh, kWh, Wh, J that keeps a digit before the point,
    three significant digits, no exponent: 2.9e12 J → '806 MWh'."""
    if joules is None:
        return "-"
    for unit, size in ENERGY_UNITS:
        if abs(joules) >= size:
            return f"{_sig(joules / size)} {unit}"
    return f"{_sig(joules)} J"
