"""The sweep report: the best points by an objective, the Pareto front, and why points failed.

Input columns are the table's columns named by a scenario key (``plan.tp``,
``hardware.device``, ...); the rest are result metrics (archsim/sweep/columns.py). The objective
and the Pareto goals come from ``--objective`` or the ``<table>.summary.json`` that
``archsim sweep`` writes beside the table, else: maximise tokens_per_s; front of tokens_per_s
(max) against cost_per_million_tokens_usd (min). Goals must be table columns.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archsim.report import fmt, plots_compare
from archsim.report.capacity import J_PER_KWH, SECONDS_PER_DAY
from archsim.report.document import Plot, Report, Section
from archsim.report.fmt import metric_text as value_text
from archsim.report.inputs import ReportInput
from archsim.report.options import ReportOptions
from archsim.report.sections import sources_section, validation_section
from archsim.spec.errors import SpecError

DEFAULT_OBJECTIVE = "max tokens_per_s"
DEFAULT_FRONT = ("max tokens_per_s", "min cost_per_million_tokens_usd")
FALLBACK_FRONT = ("max tokens_per_s", "max memory_headroom")
SHOWN_METRICS = ("tokens_per_s", "step_time_s", "mfu", "memory.peak_bytes_per_device",
                 "memory_headroom", "cost_per_million_tokens_usd", "ttft_p99_s", "tpot_p99_s",
                 "requests_per_s", "slo_attainment")
TOP = 10
LABELS = {"tokens_per_s": "throughput (tokens/s)", "step_time_s": "step time (s)",
          "mfu": "MFU (fraction of peak)", "memory_headroom": "memory headroom (fraction)",
          "memory.peak_bytes_per_device": "peak memory per device (bytes)",
          "cost_per_million_tokens_usd": "cost per million tokens (USD)",
          "cost_usd": "cost (USD)", "requests_per_s": "requests per second",
          "slo_attainment": "SLO attainment (fraction)"}


@dataclass(frozen=True)
class Goal:
    column: str
    maximize: bool

    @property
    def label(self) -> str:
        return f"{'max' if self.maximize else 'min'} {self.column}"


def parse_goal(text: str, where: str) -> Goal:
    """``max COLUMN`` / ``min COLUMN`` (or with a colon) → Goal; SpecError otherwise."""
    head, sep, column = text.strip().replace(":", " ", 1).partition(" ")
    if not sep or head not in ("max", "min") or not column.strip():
        raise SpecError([f"{where}: objective {text!r}: expected 'max:COLUMN' or 'min:COLUMN', "
                         "e.g. max:tokens_per_s"])
    return Goal(column.strip(), head == "max")


def label(column: str) -> str:
    if column in LABELS:
        return LABELS[column]
    for suffix, unit in (("_s", "s"), ("_usd", "USD"), ("_bytes", "bytes"), ("_j", "J")):
        if column.endswith(suffix):
            return f"{column} ({unit})"
    return column


def input_columns(columns: list[str]) -> list[str]:
    from archsim.spec.scenario import ScenarioSpec

    return [c for c in columns if c.split(".")[0] in ScenarioSpec.model_fields]


def _summary(source: str) -> dict[str, Any] | None:
    path = Path(source)
    side = path.with_name(path.stem + ".summary.json")
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _goals(table: Any, opts: ReportOptions, summary: dict[str, Any] | None, source: str
           ) -> tuple[Goal, list[Goal], list[str]]:
    notes: list[str] = []
    if opts.objective:
        objective = parse_goal(opts.objective, "--objective")
    elif summary and isinstance(summary.get("objective"), str):
        objective = parse_goal(summary["objective"], str(source))
        notes.append("objective from the sweep's summary file")
    else:
        objective = parse_goal(DEFAULT_OBJECTIVE, "default")
    if objective.column not in table.columns:
        raise SpecError([f"{source}: objective column {objective.column!r} is not in the table "
                         f"(metric columns include {', '.join(SHOWN_METRICS[:6])})"])
    if not _numeric(table[objective.column]):
        example = table[objective.column].dropna().iloc[0]
        raise SpecError([f"{source}: objective column {objective.column!r} holds text such as "
                         f"{example!r}; expected a numeric column such as "
                         f"{', '.join(SHOWN_METRICS[:3])}"])
    texts = list(DEFAULT_FRONT)
    goals_in_summary = ((summary or {}).get("pareto") or {}).get("goals")
    if isinstance(goals_in_summary, list) and len(goals_in_summary) >= 2:
        texts = [str(g) for g in goals_in_summary]
        notes.append("Pareto goals from the sweep's summary file")
    goals = [parse_goal(t, source) for t in texts]
    usable = [g for g in goals if _has_numbers(table, g.column)]
    for g in goals:
        if g not in usable:
            notes.append(f"goal {g.label} left out: no numbers in the table")
    if len(usable) < 2:
        usable = [g for g in (parse_goal(t, "default") for t in FALLBACK_FRONT)
                  if _has_numbers(table, g.column)]
    return objective, usable, notes


def _numeric(column: Any) -> bool:
    """Numbers (or nothing yet): a column that can rank points."""
    from pandas.api.types import is_numeric_dtype

    return is_numeric_dtype(column) or column.isna().all()


def _has_numbers(table: Any, column: str) -> bool:
    return column in table.columns and _numeric(table[column]) and table[column].notna().any()


def _clean(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    return None if isinstance(v, float) and math.isnan(v) else v


def sweep_report(inp: ReportInput, opts: ReportOptions) -> Report:
    table = inp.table
    assert table is not None
    summary = _summary(inp.source)
    objective, goals, notes = _goals(table, opts, summary, inp.source)
    inputs = input_columns(list(table.columns))
    varied = [c for c in inputs if table[c].astype(str).nunique() > 1]
    ok = table["feasible"].fillna(False).astype(bool)
    if "error" in table.columns:
        ok &= table["error"].isna()
    feasible = table[ok]
    scored = feasible[feasible[objective.column].notna()].sort_values(
        objective.column, ascending=not objective.maximize, kind="stable")
    best = scored.iloc[0] if len(scored) else None
    name = (summary or {}).get("sweep") or Path(inp.source).stem
    omitted: list[tuple[str, str]] = []

    sections = [_answer(table, feasible, best, objective, varied, goals),
                _inputs(inp.source, table, inputs, varied, objective, goals, notes, summary)]
    devices = sorted(feasible["hardware.device"].dropna().astype(str).unique()) \
        if "hardware.device" in table.columns else []
    if devices:
        sections.append(sources_section(list(devices), []))
    else:
        omitted.append(("Sources of the profile numbers", "the table has no hardware.device "
                                                          "column naming the devices"))
    front = _front(feasible, goals)
    if front is not None and len(goals) >= 2:
        sections.append(_pareto(feasible, front, best, objective, goals, varied))
    else:
        omitted.append(("Pareto front", "fewer than two feasible points with values for the "
                                        "goals"))
    if best is not None:
        sections.append(_best(scored, objective, varied))
        category = _category(varied, table)
        if category:
            sections.append(_by_category(table, scored, category, objective))
        sections.append(_capacity(best, opts))
    else:
        omitted.append(("Best points and capacity", f"no feasible point has a value for "
                                                    f"{objective.column}"))
    sections.append(_failures(table, ok))
    for device in devices:
        sec = validation_section(device, str(_clean(best.get("mode")) if best is not None
                                             and "mode" in best else "training"))
        sec.id, sec.title = f"validation-{device}", f"Validation error of the {device} profile"
        sections.append(sec)
    return Report(f"Sweep report: {name}", f"{len(table)} points from {inp.source}; "
                  f"objective {objective.label}", sections, omitted)


def _point_text(row: Any, varied: list[str]) -> str:
    return ", ".join(f"{c} {value_text(c, _clean(row[c]))}" for c in varied) or "the base point"


def _answer(table: Any, feasible: Any, best: Any, objective: Goal, varied: list[str],
            goals: list[Goal]) -> Section:
    sec = Section("answer", "Question and answer")
    sec.text(f"Question: of the {len(table)} points of this sweep, which is best by "
             f"{objective.label}, and what do the others trade?")
    if best is None:
        sec.text(f"Answer: none: no feasible point has a value for {objective.column} "
                 f"({len(feasible)} feasible of {len(table)}).")
        return sec
    metrics = "; ".join(f"{label(c).split(' (')[0]} {value_text(c, _clean(best[c]))}"
                        for c in SHOWN_METRICS[:6] if c in best and _clean(best[c]) is not None)
    sec.text(f"Answer: the best feasible point is {_point_text(best, varied)} — {metrics}. "
             f"{len(feasible)} of {len(table)} points are feasible"
             + (f"; the Pareto front over {', '.join(g.label for g in goals)} is drawn below."
                if len(goals) >= 2 else "."))
    return sec


def _inputs(source: str, table: Any, inputs: list[str], varied: list[str], objective: Goal,
            goals: list[Goal], notes: list[str], summary: dict[str, Any] | None) -> Section:
    sec = Section("inputs", "Inputs and assumptions")
    rows = [("table", f"{source} ({len(table)} rows)"),
            ("objective", objective.label), ("Pareto goals", ", ".join(g.label for g in goals))]
    for c in inputs:
        values = [value_text(c, _clean(v)) for v in sorted(table[c].dropna().unique(),
                                                           key=_order)]
        shown = ", ".join(values[:12]) + (f", ... ({len(values)} values)" if len(values) > 12
                                          else "")
        rows.append((c + (" (varied)" if c in varied else ""), shown))
    sec.table(["part", "value"], rows)
    items = notes + (["no summary file beside the table; defaults used"] if summary is None
                     else [])
    items.append("Feasible means the plan divides and fits in memory, and the point did not "
                 "fail; only feasible points are ranked.")
    sec.bullets(items)
    return sec


def _front(feasible: Any, goals: list[Goal]) -> Any:
    from archsim.sweep.pareto import pareto_mask

    if len(goals) < 2:
        return None
    cols = [g.column for g in goals]
    complete = feasible.dropna(subset=cols)
    if len(complete) < 2:
        return None
    mask = pareto_mask(complete[cols].to_numpy(dtype=float).tolist(),
                       [g.maximize for g in goals])
    return complete.index[mask]


def _pareto(feasible: Any, front_index: Any, best: Any, objective: Goal, goals: list[Goal],
            varied: list[str]) -> Section:
    sec = Section("pareto", "Pareto front")
    ymax = next((g for g in goals if g.maximize), goals[0])
    xgoal = next((g for g in goals if g is not ymax), goals[1])
    pts = feasible.dropna(subset=[xgoal.column, ymax.column])
    on = [i in set(front_index) for i in pts.index]
    best_pos = list(pts.index).index(best.name) if best is not None and best.name in pts.index \
        else None
    xs = pts[xgoal.column].astype(float).tolist()
    ys = pts[ymax.column].astype(float).tolist()
    spread = (max(xs) / min(xs)) if min(xs) > 0 else 1.0
    title = f"{label(ymax.column).split(' (')[0]} against {label(xgoal.column).split(' (')[0]}"
    png = plots_compare.pareto_plot(xs, ys, on, best_pos, label(xgoal.column), label(ymax.column),
                            title[0].upper() + title[1:], log_x=spread > 50,
                            connect=len(goals) == 2)
    extra = "" if len(goals) == 2 else (
        f" The front is over {len(goals)} goals, so it is drawn as points, and some of them look "
        "dominated in this two-goal view.")
    sec.text(f"Every feasible point, with the points no other point beats on all of "
             f"{', '.join(g.label for g in goals)} joined as the front.{extra}")
    sec.add(Plot("pareto", f"{ymax.column} against {xgoal.column}: feasible points, the Pareto "
                           "front and the best point", png))
    front = feasible.loc[list(front_index)].sort_values(goals[0].column,
                                                        ascending=not goals[0].maximize)
    cols = varied + [g.column for g in goals]
    sec.table(cols, [[value_text(c, _clean(r[c])) for c in cols] for _, r in front.iterrows()],
              caption=f"The {len(front)} points on the Pareto front.")
    return sec


def _best(scored: Any, objective: Goal, varied: list[str]) -> Section:
    sec = Section("best", "Best points")
    metrics = [c for c in SHOWN_METRICS if c in scored.columns and scored[c].notna().any()
               and c not in varied]
    if objective.column not in metrics:
        metrics.insert(0, objective.column)
    cols = varied + metrics
    top = scored.head(TOP)
    sec.table(["#", *cols], [[str(i + 1)] + [value_text(c, _clean(r[c])) for c in cols]
                             for i, (_, r) in enumerate(top.iterrows())],
              caption=f"The {len(top)} best feasible points by {objective.label}.")
    return sec


def _order(v: Any) -> tuple[int, float, str]:
    """Numbers first in numeric order, then everything else by its text."""
    v = _clean(v)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return (0, float(v), "")
    return (1, 0.0, str(v))


def _category(varied: list[str], table: Any) -> str | None:
    """The input column to compare best points across: the device, else a named choice."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    if "hardware.device" in varied:
        return "hardware.device"
    for c in varied:
        col = table[c]
        if not is_numeric_dtype(col) and not is_bool_dtype(col) and 1 < col.nunique() <= 12:
            return c
    return None


def _by_category(table: Any, scored: Any, category: str, objective: Goal) -> Section:
    sec = Section("by-" + category.replace(".", "-"), f"Best point for each {category}")
    firsts = scored.groupby(category, sort=False).head(1)
    labels = [str(v) for v in firsts[category]]
    values = firsts[objective.column].astype(float).tolist()
    png = plots_compare.bars_plot(labels, {objective.label: values}, label(objective.column),
                          f"Best {objective.column} for each {category}")
    missing = sorted(set(table[category].dropna().astype(str)) - set(labels))
    sec.text(f"The best feasible point of each {category} by {objective.label}."
             + (f" Without a feasible point that has a value for {objective.column}: "
                f"{', '.join(missing)}." if missing else ""))
    sec.add(Plot("by_category", f"Best {objective.column} for each {category}", png))
    return sec


def _capacity(best: Any, opts: ReportOptions) -> Section:
    sec = Section("capacity", "Capacity at the best point")
    tps = _clean(best.get("tokens_per_s")) if "tokens_per_s" in best else None
    cpm = _clean(best.get("cost_per_million_tokens_usd")) \
        if "cost_per_million_tokens_usd" in best else None
    ept = _clean(best.get("energy_per_token_j")) if "energy_per_token_j" in best else None
    rows = [("devices", value_text("devices", _clean(best.get("devices")))),
            ("throughput", fmt.rate(tps, "tokens/s")),
            ("tokens per day", f"{fmt.count(tps * SECONDS_PER_DAY)} tokens" if tps else "-"),
            ("cost per million tokens", fmt.money(cpm)),
            ("energy per million tokens", fmt.kwh(ept * 1e6 / J_PER_KWH) if ept else "-")]
    if opts.train_tokens and tps:
        rows.append((f"time to train {fmt.count(opts.train_tokens)} tokens",
                     fmt.days(opts.train_tokens / tps / SECONDS_PER_DAY)))
        rows.append(("cost of that run", fmt.money(cpm * opts.train_tokens / 1e6
                                                   if cpm is not None else None)))
    sec.table(["at the best point", "value"], rows)
    return sec


def _failures(table: Any, ok: Any) -> Section:
    sec = Section("failures", "Points that did not run")
    bad = table[~ok]
    if bad.empty:
        sec.text("Every point is feasible.")
        return sec
    counts: dict[str, list] = {}  # reason with numbers masked → [points, an example]
    for _, r in bad.iterrows():
        err = _clean(r.get("error")) if "error" in r else None
        text = str(err) if err else str(_clean(r.get("infeasible_reasons")) or "no reason")
        # each reason once per point, in the point's order (a set's order varies per run)
        for reason in dict.fromkeys(t.strip() for t in re.split(r" \| |; ", text) if t.strip()):
            key = re.sub(r"[0-9]+(\.[0-9]+)?", "#", reason.split(" (")[0])
            entry = counts.setdefault(key, [0, reason])
            entry[0] += 1
    rows = sorted(counts.values(), key=lambda e: -e[0])
    sec.table(["reason (one example of each kind)", "points"],
              [(example[:160], str(n)) for n, example in rows[:10]],
              caption=f"{len(bad)} of {len(table)} points are infeasible or failed; a point "
                      "with several reasons counts under each"
                      + (f"; {len(rows) - 10} more kinds not shown" if len(rows) > 10 else "")
                      + ".")
    return sec
