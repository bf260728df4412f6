"""Each sweep point's calibration state, as its table records it (archsim/sweep/columns.py):
the same words as the sweep's console table (archsim/cli/sweep.py) — "in range", "out of
range", "uncalibrated", "no band" — a * on a band that is the wider reference band
(``tokens_per_s_widened``), and "MFU above published" where ``uncertainty.above_published``
says so. A table written before these columns gets no marks and one line saying why.
"""

from __future__ import annotations

from typing import Any

from archsim.report import sweep_bands
from archsim.report.sweep_goals import clean

CALIBRATED, IN_RANGE = "uncertainty.calibrated", "uncertainty.in_range"
WIDENED, ABOVE = "tokens_per_s_widened", "uncertainty.above_published"
COLUMNS = (CALIBRATED, IN_RANGE, WIDENED)
HEADER = "calibration"
IN, OUT, UNCALIBRATED, NO_BAND = "in range", "out of range", "uncalibrated", "no band"
ABOVE_TEXT = "MFU above published"
LEGEND = ("calibration: in range; out of range (extrapolated: outside the runs the profile was "
          "calibrated on; the table does not record which values, archsim simulate on the "
          "point lists them); uncalibrated (error unknown); no band (no runs of this kind)")
WIDENED_LEGEND = "a * marks the wider reference band, not an 80% one (tokens_per_s_widened)"
ABOVE_LEGEND = ("MFU above published: its MFU (or HFU) is above any published run on the "
                "device (uncertainty.above_published)")


def _flag(row: Any, column: str) -> Any:
    return clean(row.get(column)) if column in row else None


def state(row: Any) -> str | None:
    """'in range', 'out of range', 'uncalibrated', 'no band', or None (not recorded)."""
    calibrated, in_range = _flag(row, CALIBRATED), _flag(row, IN_RANGE)
    banded = sweep_bands.band(row, sweep_bands.RATE) is not None
    if calibrated is False:
        return UNCALIBRATED
    if calibrated is True and not banded:
        return NO_BAND
    if in_range is False:
        return OUT
    if in_range is True:
        return IN
    return None


def widened(row: Any) -> bool:
    return _flag(row, WIDENED) is True


def mark(row: Any) -> str:
    """' *' after a widened band's cell, else ''."""
    return " *" if widened(row) else ""


def cell(row: Any) -> str:
    """The calibration cell: the state ('-' if none), then ', MFU above published'."""
    text = state(row) or "-"
    return text + (f", {ABOVE_TEXT}" if _flag(row, ABOVE) is True else "")


def recorded(columns: Any) -> bool:
    """Whether the table records calibration states (a column of them is worth showing)."""
    return CALIBRATED in columns or IN_RANGE in columns


def legend(rows: list[Any]) -> str:
    """What the calibration column and the marks on ``rows`` mean ('' if nothing to say)."""
    parts = ([LEGEND] if rows and recorded(rows[0].index) else []) \
        + ([WIDENED_LEGEND] if any(widened(r) for r in rows) else []) \
        + ([ABOVE_LEGEND] if any(_flag(r, ABOVE) is True for r in rows) else [])
    return "; ".join(parts)


def predates(columns: Any) -> str | None:
    """The line for a table written before (some of) the calibration columns, else None."""
    missing = [c for c in COLUMNS if c not in columns]
    if not missing:
        return None
    return (f"The table predates the calibration columns ({', '.join(missing)}): its points "
            "carry no " + ("calibration state" if CALIBRATED in missing or IN_RANGE in missing
                           else "widened-band mark") + " in this report.")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _by(rows: list[Any], category: str | None) -> str:
    """' (4 h200-sxm-141gb, 2 h100-sxm5-80gb)': how many of ``rows`` each category has."""
    if category is None:
        return ""
    counts: dict[str, int] = {}
    for r in rows:
        name = str(clean(r.get(category)))
        counts[name] = counts.get(name, 0) + 1
    return " (" + ", ".join(f"{n} {name}" for name, n in
                            sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))) + ")"


def sentence(best: Any, front: list[Any], category: str | None) -> str | None:
    """What the answer says when the best point or Pareto-front points are out of range,
    widened or without a band, e.g. 'Calibration: 6 of the 9 Pareto-front points (4
    h200-sxm-141gb, 2 h100-sxm5-80gb) lie outside the calibrated range, and their bands are the
    wider reference band (marked * in the tables); the best point lies inside the calibrated range,
    with an 80% band.'; else None."""
    names = {r.name for r in front}
    best_on_front = best is not None and best.name in names

    def clause(rows: list[Any], verb: tuple[str, str], what: str) -> str:
        including = ", including the best," if best_on_front and \
            best.name in {r.name for r in rows} else ""
        return (f"{len(rows)} of the {_plural(len(front), 'Pareto-front point')}"
                f"{_by(rows, category)}{including} {verb[len(rows) != 1]} {what}")

    out = [r for r in front if state(r) == OUT]
    wide = [r for r in front if widened(r)]
    bare = [r for r in front if state(r) in (UNCALIBRATED, NO_BAND)]
    parts = []
    if out:
        parts.append(clause(out, ("lies", "lie"), "outside the calibrated range"))
        if {r.name for r in wide} == {r.name for r in out}:
            parts[-1] += (", and " + ("its band is" if len(out) == 1 else "their bands are")
                          + " the wider reference band (marked * in the tables)")
            wide = []
    if wide:
        parts.append(clause(wide, ("carries", "carry"), "the wider reference band (marked * "
                                                        "in the tables)"))
    if bare:
        parts.append(clause(bare, ("has", "have"), "no band (uncalibrated, or no runs of this "
                                                   "kind)"))
    best_state = state(best) if best is not None else None
    if best is not None and not best_on_front:
        if best_state == OUT:
            parts.append("the best point lies outside the calibrated range"
                         + (" too" if out else "")
                         + (", with the wider reference band" if widened(best) else ""))
        elif best_state in (UNCALIBRATED, NO_BAND):
            parts.append("the best point has no band (uncalibrated, or no runs of this kind)")
        elif widened(best):
            parts.append("the best point carries the wider reference band")
    if parts and best_state == IN and not widened(best):
        parts.append("the best point lies inside the calibrated range, with an 80% band")
    if not parts:
        return None
    text = "; ".join(parts)
    return f"Calibration: {text[0].upper()}{text[1:]}."
