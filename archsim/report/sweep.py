"""The sweep report: the best points by an objective, the Pareto front (devices without a price
still on it, marked "no price"), the best point of each device, how the cheapest point moves
with prices, and why points failed. Goals and columns: archsim/report/sweep_goals.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from archsim.labels import header, short_label, with_unit
from archsim.report import fmt, sweep_bands, sweep_calibration
from archsim.report.capacity import J_PER_KWH, SECONDS_PER_DAY
from archsim.report.document import Report, Section
from archsim.report.fmt import metric_text as value_text
from archsim.report.inputs import ReportInput
from archsim.report.options import ReportOptions
from archsim.report.sections import sources_section, validation_section
from archsim.report.sweep_front import (
    by_category_section,
    cell,
    front_index,
    pareto_section,
    pick_best,
)
from archsim.report.sweep_goals import (
    SHOWN_METRICS,
    Goal,
    clean,
    goals,
    input_columns,
    parse_goal,
    read_summary,
    shown_inputs,
)
from archsim.report.sweep_prices import price_section

__all__ = ["parse_goal", "sweep_report"]
TOP = 10
_clean = clean


def sweep_report(inp: ReportInput, opts: ReportOptions) -> Report:
    table = inp.table
    assert table is not None
    summary = read_summary(inp.source)
    objective, front_goals, notes = goals(table, opts, summary, inp.source)
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
    category = _category(varied, table)
    shown = shown_inputs(feasible if len(feasible) else table, varied)

    front = front_index(feasible, front_goals) if len(front_goals) >= 2 and len(feasible) \
        else []
    front_rows = [r for _, r in feasible.loc[list(front)].iterrows()]
    sections = [_answer(table, feasible, scored, objective, shown, front_goals, category,
                        front_rows),
                _inputs(inp.source, table, inputs, varied, objective, front_goals, notes,
                        summary)]
    devices = sorted(feasible["hardware.device"].dropna().astype(str).unique()) \
        if "hardware.device" in table.columns else []
    if devices:
        sections.append(sources_section(list(devices), []))
    else:
        omitted.append(("Sources of the profile numbers", "the table has no hardware.device "
                                                          "column naming the devices"))
    if len(front) and len(front_goals) >= 2:
        sections.append(pareto_section(feasible, front, best, front_goals, shown, category,
                                       _front_columns))
    else:
        omitted.append(("Pareto front", "fewer than two feasible points with values for the "
                                        "goals"))
    if best is not None:
        sections.append(_best(feasible, scored, objective, shown, front_goals, category))
        if category:
            sections.append(by_category_section(feasible, category, objective, front_goals))
        prices = price_section(feasible) if "hardware.device" in feasible.columns else None
        if prices is not None:
            sections.append(prices)
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
    return ", ".join(f"{short_label(c)} {value_text(c, _clean(row[c]))}" for c in varied) \
        or "the base point"


def _answer(table: Any, feasible: Any, scored: Any, objective: Goal, shown: list[str],
            goals_: list[Goal], category: str | None, front: list[Any]) -> Section:
    sec = Section("answer", "Question and answer")
    best = scored.iloc[0] if len(scored) else None
    sec.text(f"Question: of the {len(table)} points of this sweep, which has "
             f"{objective.text}, and what do the others trade?")
    if best is None:
        sec.text(f"Answer: none: no feasible point has a value for {objective.column} "
                 f"({len(feasible)} feasible of {len(table)}).")
        return sec
    metrics = "; ".join(f"{short_label(c)} {with_unit(c, cell(c, best[c]))}"
                        for c in SHOWN_METRICS[:6] if c in best and _clean(best[c]) is not None)
    sec.text(f"Answer: the best feasible point is {_point_text(best, shown)} — {metrics}. "
             f"{len(feasible)} of {len(table)} points are feasible"
             + (f"; the Pareto front over {', '.join(short_label(g.column) for g in goals_)} "
                "is drawn below." if len(goals_) >= 2 else "."))
    if (mixed := mixed_rate_bases(feasible)) is not None:
        sec.text(mixed)
    bar = sweep_bands.band_sentence(best, objective)
    if bar:
        other = sweep_bands.rival(scored, category)
        rest = [c for c in shown if c != category]
        name = (f"the best {other[category]} point"
                + (f" ({_point_text(other, rest)})" if rest else "")
                if category is not None and other is not None else
                f"the second point ({_point_text(other, shown)})" if other is not None else "")
        ranking = sweep_bands.ranking_sentence(best, other, objective, name) \
            if other is not None else None
        if ranking and category is not None:
            ranking += (f" (Points of one {short_label(category)} share its profile's error, "
                        f"so the best point is compared with the next {short_label(category)}'s.)")
        sec.text(bar + (" " + ranking if ranking else ""))
    if (calibration := sweep_calibration.sentence(best, front, category)) is not None:
        sec.text(calibration)
    if category is not None:
        lacking = sorted(set(feasible[category].dropna().astype(str))
                         - set(feasible.loc[feasible[objective.column].notna(), category]
                               .astype(str)))
        if lacking:
            why = "have no price" if objective.is_price else \
                f"have no {short_label(objective.column)}"
            sec.text(f"Not ranked by {short_label(objective.column)}, because they {why}: "
                     f"{', '.join(lacking)}. Their points are still shown, on the Pareto "
                     "front of the other goals and in the tables below.")
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
    if (old := sweep_calibration.predates(table.columns)) is not None:
        items.append(old)
    items.append("Feasible means the plan divides and fits in memory, and the point did not "
                 "fail; only feasible points are ranked.")
    sec.bullets(items)
    return sec


def _best(feasible: Any, scored: Any, objective: Goal, shown: list[str], goals_: list[Goal],
          category: str | None) -> Section:
    sec = Section("best", "Best points")
    metrics = [c for c in SHOWN_METRICS if c in scored.columns and feasible[c].notna().any()
               and c not in shown]
    if mixed_rate_bases(feasible) is not None:
        metrics.append(RATE_BASIS)
    if objective.column not in metrics:
        metrics.insert(0, objective.column)
    cols = shown + metrics
    top = scored.head(TOP)
    listed = [(str(i + 1), r) for i, (_, r) in enumerate(top.iterrows())]
    extra = []
    if category is not None:
        ranked = set(scored[category].astype(str))
        for name in sorted(set(feasible[category].dropna().astype(str)) - ranked):
            found = pick_best(feasible[feasible[category].astype(str) == name], objective,
                              [g for g in goals_ if g != objective])
            if found is not None:
                row, by = found
                listed.append((fmt.NO_PRICE if objective.is_price else "not ranked", row))
                extra.append(f"{name} (its best by {by.text})")
    sec.table(["#", *(header(c) for c in cols)],
              [[mark] + [cell(c, r[c]) for c in cols] for mark, r in listed],
              caption=f"The {len(top)} best feasible points by {objective.text}"
                      + (f"; then, unranked for lack of {short_label(objective.column)}: "
                         f"{', '.join(extra)}" if extra else "") + ".")
    _bands_table(sec, listed, objective, category)
    return sec


def _bands_table(sec: Section, listed: list[tuple[str, Any]], objective: Goal,
                 category: str | None) -> None:
    """The model's band of each point listed, where the table holds one."""
    banded = [c for c in dict.fromkeys([sweep_bands.RATE, objective.column])
              if any(sweep_bands.band(r, c) for _, r in listed)]
    if not banded:
        return
    first = [category] if category is not None else []
    rows = [r for _, r in listed]
    state = sweep_calibration.recorded(rows[0].index)
    sec.table(["#", *(header(c) for c in first), *(f"{short_label(c)}, likely" for c in banded),
               *([sweep_calibration.HEADER] if state else [])],
              [[mark] + [cell(c, r[c]) for c in first]
               + [_banded(r, c, unit=True) for c in banded]
               + ([sweep_calibration.cell(r)] if state else []) for mark, r in listed],
              caption="The same points with the model's calibrated interval "
                      "(tokens_per_s_low … _high in the table; a cost or a step time scales "
                      "like time)" + (f"; {legend}" if (legend := sweep_calibration.legend(rows))
                                      else "") + ".")


def _banded(row: Any, column: str, unit: bool = False) -> str:
    """The band's cell, with * where it is the wider reference band."""
    text = sweep_bands.band_cell(row, column, unit=unit)
    return text if text == "-" else text + sweep_calibration.mark(row)


def _front_columns(rows: list[Any]) -> tuple[list[str], list[list[str]], str]:
    """The Pareto table's throughput band and calibration columns, where the table has them."""
    banded = any(sweep_bands.band(r, sweep_bands.RATE) for r in rows)
    state = bool(rows) and sweep_calibration.recorded(rows[0].index)
    headers = ([f"{short_label(sweep_bands.RATE)}, likely (tokens/s)"] if banded else []) \
        + ([sweep_calibration.HEADER] if state else [])
    cells = [([_banded(r, sweep_bands.RATE)] if banded else [])
             + ([sweep_calibration.cell(r)] if state else []) for r in rows]
    return headers, cells, sweep_calibration.legend(rows)


RATE_BASIS = "rate_basis"


def mixed_rate_bases(feasible: Any) -> str | None:
    """A sentence when the feasible serving points' rates were measured on more than one basis
    (archsim/sweep/columns.py ``rate_basis``: a burst's whole run, a steady-state window, an
    overloaded stretch), which makes their tokens/s and costs not comparable; else None."""
    if RATE_BASIS not in feasible.columns:
        return None  # a table written before the column existed
    counts = feasible[RATE_BASIS].dropna().astype(str).value_counts()
    if len(counts) < 2:
        return None
    parts = ", ".join(f"{n} {'point' if n == 1 else 'points'} {basis}"
                      for basis, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return (f"The serving points' rates were measured on different bases ({parts}): a rate "
            "over a whole run counts the ramp-up and the tail, a steady-state rate does not, "
            "and an overloaded one is what the queue allowed, so these rates, and the costs "
            "per million tokens made from them, are not comparable across bases (the table's "
            "rate_basis column says each point's).")


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
