"""What a sweep report ranks by: the objective and the Pareto goals, and the table's columns.

Input columns are the table's columns named by a scenario key (``plan.tp``,
``hardware.device``, ...); the rest are result metrics (archsim/sweep/columns.py). The objective
and the Pareto goals come from ``--objective`` or the ``<table>.summary.json`` that
``archsim sweep`` writes beside the table, else: maximise tokens_per_s; front of tokens_per_s
(max) against cost_per_million_tokens_usd (min). Goals must be table columns.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archsim.report.options import ReportOptions
from archsim.spec.errors import SpecError

DEFAULT_OBJECTIVE = "max tokens_per_s"
DEFAULT_FRONT = ("max tokens_per_s", "min cost_per_million_tokens_usd")
FALLBACK_FRONT = ("max tokens_per_s", "max memory_headroom")
SHOWN_METRICS = ("tokens_per_s", "step_time_s", "mfu", "memory.peak_bytes_per_device",
                 "memory_headroom", "cost_per_million_tokens_usd", "ttft_p99_s", "tpot_p99_s",
                 "requests_per_s", "slo_attainment")


@dataclass(frozen=True)
class Goal:
    column: str
    maximize: bool

    @property
    def label(self) -> str:
        return f"{'max' if self.maximize else 'min'} {self.column}"

    @property
    def text(self) -> str:
        """For prose: 'the highest throughput', 'the lowest cost per million tokens'."""
        from archsim.labels import short_label

        return f"the {'highest' if self.maximize else 'lowest'} {short_label(self.column)}"

    @property
    def is_price(self) -> bool:
        """A money column: missing where a device has no price."""
        return self.column.endswith("_usd")


def parse_goal(text: str, where: str) -> Goal:
    """``max COLUMN`` / ``min COLUMN`` (or with a colon) → Goal; SpecError otherwise."""
    head, sep, column = text.strip().replace(":", " ", 1).partition(" ")
    if not sep or head not in ("max", "min") or not column.strip():
        raise SpecError([f"{where}: objective {text!r}: expected 'max:COLUMN' or 'min:COLUMN', "
                         "e.g. max:tokens_per_s"])
    return Goal(column.strip(), head == "max")


def input_columns(columns: list[str]) -> list[str]:
    from archsim.spec.scenario import ScenarioSpec

    return [c for c in columns if c.split(".")[0] in ScenarioSpec.model_fields]


def shown_inputs(table: Any, varied: list[str]) -> list[str]:
    """The varied inputs worth a column: those that an earlier one does not fix (a device's
    own links, ``plan.sp`` derived from tp: one value for each value of the other, with at
    least two points per value). The inputs section still lists every column."""
    keep: list[str] = []
    for c in varied:
        values = table[c].astype(str)
        fixed = any(values.groupby(table[d].astype(str)).nunique().max() == 1
                    and len(table) >= 2 * table[d].astype(str).nunique()
                    and values.nunique() <= table[d].astype(str).nunique() for d in keep)
        if not fixed:
            keep.append(c)
    return keep


def summary_path(table: Path) -> Path:
    """Where a sweep table's summary is (and ``archsim sweep`` writes it):
    ``<stem>.summary.json`` beside the table, unless that file records another table of the
    same stem (``plans.csv`` beside ``plans.parquet``) — then ``<name>.summary.json``
    (``plans.parquet.summary.json``), which stays the table's once written."""
    own = table.with_name(table.name + ".summary.json")
    if own.exists():
        return own
    stem = table.with_name(table.stem + ".summary.json")
    data = read_summary_file(stem)
    other = data is not None and data.get("table") not in (None, table.name)
    return own if other else stem


def read_summary(source: str) -> dict[str, Any] | None:
    """The summary of a sweep table (:func:`summary_path`), or None."""
    return read_summary_file(summary_path(Path(source)))


def read_summary_file(side: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # unreadable, not JSON, nested too deeply
        return None
    return data if isinstance(data, dict) else None


def numeric(column: Any) -> bool:
    """Numbers (or nothing yet): a column that can rank points."""
    from pandas.api.types import is_numeric_dtype

    return is_numeric_dtype(column) or column.isna().all()


def has_numbers(table: Any, column: str) -> bool:
    return column in table.columns and numeric(table[column]) and table[column].notna().any()


def clean(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    return None if isinstance(v, float) and math.isnan(v) else v


def _first_text(table: Any, column: str) -> str:
    """The first cell of ``column`` that is not a number, with its point (or row)."""
    from archsim.report.table_fields import as_number, row_label

    for i, v in enumerate(table[column].tolist()):
        if v is not None and not (isinstance(v, float) and math.isnan(v)) \
                and as_number(v) is None:
            return f"{v!r} at {row_label(table, i)}"
    return "none found"


def goals(table: Any, opts: ReportOptions, summary: dict[str, Any] | None, source: str
          ) -> tuple[Goal, list[Goal], list[str]]:
    """(objective, Pareto goals with numbers in the table, notes on where they came from)."""
    notes: list[str] = []
    if opts.objective:
        objective = parse_goal(opts.objective, "--objective")
    elif summary and isinstance(summary.get("objective"), str):
        objective = parse_goal(summary["objective"], str(source))
        notes.append("objective from the sweep's summary file")
    else:
        objective = parse_goal(DEFAULT_OBJECTIVE, "default")
    numbers = [c for c in SHOWN_METRICS if has_numbers(table, c)]
    such_as = (f"numeric columns of this table include {', '.join(numbers[:6])}" if numbers
               else "this table has none of the metric columns such as "
               f"{', '.join(SHOWN_METRICS[:3])}")
    if objective.column not in table.columns:
        raise SpecError([f"{source}: objective column {objective.column!r} is not in the table "
                         f"({such_as})"])
    if not numeric(table[objective.column]):
        raise SpecError([f"{source}: objective column {objective.column!r} holds text, e.g. "
                         f"{_first_text(table, objective.column)}; expected a numeric column "
                         f"({such_as})"])
    texts = list(DEFAULT_FRONT)
    goals_in_summary = ((summary or {}).get("pareto") or {}).get("goals")
    if isinstance(goals_in_summary, list) and len(goals_in_summary) >= 2:
        texts = [str(g) for g in goals_in_summary]
        notes.append("Pareto goals from the sweep's summary file")
    wanted = [parse_goal(t, source) for t in texts]
    usable = [g for g in wanted if has_numbers(table, g.column)]
    for g in wanted:
        if g not in usable:
            notes.append(f"goal {g.label} left out: no numbers in the table")
    if len(usable) < 2:
        usable = [g for g in (parse_goal(t, "default") for t in FALLBACK_FRONT)
                  if has_numbers(table, g.column)]
    return objective, usable, notes
