"""The Pareto front of a sweep when some points lack a goal (a device without a price has no
cost), and the sections that draw it: the front and the best point of each device.

A point is on the front when no other point is at least as good on every goal the point has a
value for, and better on one — compared only with points that have those goals too. A point
missing one goal is thus still on the front of the others: the fastest device stays on a
(throughput, cost) front without a price, shown "no price" rather than dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from archsim.labels import header, label, short_label
from archsim.report import plots_sweep
from archsim.report.document import Plot, Section
from archsim.report.fmt import NO_PRICE
from archsim.report.fmt import metric_text as value_text
from archsim.report.sweep_goals import Goal, clean


def front_mask(values: np.ndarray, maximize: list[bool]) -> np.ndarray:
    """Pareto membership of each row of ``values`` (points × goals, NaN where missing)."""
    v = np.where(np.asarray(maximize), values, -values).astype(float)
    have = ~np.isnan(v)
    out = np.zeros(len(v), dtype=bool)
    for i in range(len(v)):
        cols = have[i]
        if not cols.any():
            continue
        mine, others = v[i, cols], v[:, cols]
        comparable = ~np.isnan(others).any(axis=1)
        comparable[i] = False
        beats = (others >= mine).all(axis=1) & (others > mine).any(axis=1)
        out[i] = not (comparable & beats).any()
    return out


def front_index(feasible: Any, goals: list[Goal]) -> Any:
    """Index of the feasible rows on the front of ``goals`` (missing values allowed)."""
    cols = [g.column for g in goals]
    values = feasible[cols].apply(lambda c: c.astype(float)).to_numpy()
    return feasible.index[front_mask(values, [g.maximize for g in goals])]


def cell(column: str, value: Any) -> str:
    """A table cell; a missing money value reads "no price"."""
    value = clean(value)
    if value is None and column.endswith("_usd"):
        return NO_PRICE
    return value_text(column, value)


def categories_of(rows: Any, category: str | None) -> list[str]:
    if category is None or category not in rows.columns:
        return ["all points"] * len(rows)
    return [str(v) for v in rows[category]]


def pareto_section(feasible: Any, front: Any, best: Any, goals: list[Goal], shown: list[str],
                   category: str | None,
                   more_columns: Callable[[list[Any]], tuple[list[str], list[list[str]], str]]
                   | None = None) -> Section:
    """The front drawn and listed; ``more_columns(rows)`` gives more columns for its table (headers,
    each row's cells, a caption legend), as the sweep report's band and calibration state."""
    sec = Section("pareto", "Pareto front")
    ymax = next((g for g in goals if g.maximize), goals[0])
    xgoal = next((g for g in goals if g is not ymax and g.is_price),
                 next(g for g in goals if g is not ymax))
    pts = feasible[feasible[ymax.column].notna()]
    on = [i in set(front) for i in pts.index]
    best_pos = list(pts.index).index(best.name) if best is not None and best.name in pts.index \
        else None
    xs = [clean(v) for v in pts[xgoal.column]]
    known = [x for x in xs if x is not None]
    spread = (max(known) / min(known)) if known and min(known) > 0 else 1.0
    missing_x = NO_PRICE if xgoal.is_price else "no value"
    title = f"{short_label(ymax.column)} against {short_label(xgoal.column)}"
    png = plots_sweep.pareto_plot(xs, pts[ymax.column].astype(float).tolist(), on, best_pos,
                                  categories_of(pts, category), label(xgoal.column),
                                  label(ymax.column), title[0].upper() + title[1:],
                                  missing_x=missing_x, log_x=spread > 50,
                                  connect=len(goals) == 2, money_x=xgoal.is_price)
    lacking = int(sum(x is None for x in xs))
    extra = "" if len(goals) == 2 else (
        f" The front is over {len(goals)} goals, so some of its points look dominated in this "
        "two-goal view.")
    sec.text(f"Every feasible point, coloured by {short_label(category) if category else 'point'}"
             f"; ringed: the points no other point beats on all of "
             f"{', '.join(g.text for g in goals)}.{extra}"
             + (f" {lacking} {'point has' if lacking == 1 else 'points have'} no "
                f"{short_label(xgoal.column)} ({missing_x}): drawn in the strip at the right "
                "and compared on the other goals only." if lacking else ""))
    sec.add(Plot("pareto", f"{label(ymax.column)} against {label(xgoal.column)}: feasible "
                           "points by device, the Pareto front and the best point", png))
    rows = feasible.loc[list(front)].sort_values(goals[0].column,
                                                 ascending=not goals[0].maximize,
                                                 na_position="last")
    cols = shown + [g.column for g in goals]
    listed = [r for _, r in rows.iterrows()]
    more, cells, legend = more_columns(listed) if more_columns is not None \
        else ([], [[] for _ in listed], "")
    sec.table([header(c) for c in cols] + more,
              [[cell(c, r[c]) for c in cols] + add for r, add in zip(listed, cells, strict=True)],
              caption=f"The {len(rows)} points on the Pareto front"
                      + (f"; {legend}" if legend else "") + ".")
    return sec


def pick_best(rows: Any, objective: Goal, fallbacks: list[Goal]) -> tuple[Any, Goal] | None:
    """The best row by ``objective``, or by the first fallback goal with values when no row
    has the objective (a device without a price, ranked by cost)."""
    for goal in [objective, *fallbacks]:
        scored = rows[rows[goal.column].notna()] if goal.column in rows.columns else rows[:0]
        if len(scored):
            top = scored.sort_values(goal.column, ascending=not goal.maximize, kind="stable")
            return top.iloc[0], goal
    return None


def by_category_section(feasible: Any, category: str, objective: Goal, goals: list[Goal]
                        ) -> Section:
    """The best point of each category (device) and its value on each goal."""
    sec = Section("by-" + category.replace(".", "-"),
                  f"Best point for each {short_label(category)}")
    names, picks, notes = [], [], []
    for name in sorted(feasible[category].dropna().astype(str).unique()):
        rows = feasible[feasible[category].astype(str) == name]
        found = pick_best(rows, objective, [g for g in goals if g != objective])
        if found is None:
            continue
        row, by = found
        names.append(name)
        picks.append(row)
        if by != objective:
            notes.append(f"{name} has no {short_label(objective.column)}"
                         + (" (no price)" if objective.is_price else "")
                         + f": its best point by {by.text} is shown")
    columns = list(dict.fromkeys([objective.column] + [g.column for g in goals]))
    panels = [(c, label(c), [clean(r[c]) for r in picks],
               NO_PRICE if c.endswith("_usd") else "no value") for c in columns[:3]]
    png = plots_sweep.category_panels_plot(names, panels,
                                           f"Best point of each {short_label(category)} "
                                           f"(by {objective.text})")
    sec.text(f"The best feasible point of each {short_label(category)} by {objective.text}, "
             "and its value on each goal." + (" " + "; ".join(notes) + "." if notes else ""))
    sec.add(Plot("by_category", f"Best point of each {short_label(category)}: "
                                + ", ".join(short_label(c) for c in columns[:3]), png))
    return sec
