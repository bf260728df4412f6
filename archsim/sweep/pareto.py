"""Pareto fronts and the end-of-sweep summary (best points by the objective, the front).

A point is on the Pareto front of goals g₁..g_k when no other point is at least as good in every
goal and strictly better in one. Points that tie in every goal are all kept. Points with a
missing value for some goal (an infeasible plan's throughput, a device without a price) are left
out of the front and counted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from archsim.sweep.expr import Expression, ExprEvalError
from archsim.sweep.spec import Goal, Sweep

# Result columns shown beside the inputs in the summary rows.
SUMMARY_METRICS = ("feasible", "step_time_s", "tokens_per_s", "mfu",
                   "memory.peak_bytes_per_device", "memory_headroom", "cost_usd",
                   "cost_per_million_tokens_usd", "tokens_per_s_low", "tokens_per_s_high",
                   "tokens_per_s_widened", "uncertainty.calibrated", "uncertainty.in_range")


def pareto_mask(values: Sequence[Sequence[float]], maximize: Sequence[bool]) -> list[bool]:
    """True for each row of ``values`` that no other row dominates."""
    import numpy as np

    if len(values) == 0:
        return []
    if len(maximize) == 0:
        return [True] * len(values)  # with no goals no row is better than another
    signs = np.where(np.asarray(maximize, dtype=bool), -1.0, 1.0)
    costs = np.asarray(values, dtype=float) * signs  # every goal as "smaller is better"
    order = np.lexsort(costs.T[::-1])
    # in lexicographic order a later row can never dominate an earlier one
    front: list[int] = []
    for i in order:
        c = costs[i]
        if front:
            f = costs[front]
            if np.any(np.all(f <= c, axis=1) & np.any(f < c, axis=1)):
                continue
        front.append(int(i))
    mask = [False] * len(values)
    for i in front:
        mask[i] = True
    return mask


def _clean(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _value(expr: Expression, row: dict[str, Any]) -> float | None:
    names = expr.names()
    if len(names) == 1 and expr.text.strip() == names[0]:
        v = row.get(names[0])
    else:
        def lookup(name: str) -> Any:
            v = row.get(name)
            if v is None:
                raise ExprEvalError(f"{name} is null")
            return v

        try:
            v = expr.evaluate(lookup)
        except ExprEvalError:
            return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v):
        return None
    return float(v)


def _passes(sweep: Sweep, row: dict[str, Any]) -> bool:
    if row.get("error") is not None:
        return False
    filters = sweep.spec.filters
    if filters.feasible_only and row.get("feasible") is not True:
        return False
    if filters.min_memory_headroom is not None:
        headroom = row.get("memory_headroom")
        if headroom is None or headroom < filters.min_memory_headroom:
            return False
    for expr in sweep.where:
        try:
            if expr.evaluate(lambda n: row.get(n)) is not True:
                return False
        except ExprEvalError:
            return False
    return True


def _record(sweep: Sweep, row: dict[str, Any], goals: Iterable[Goal]) -> dict[str, Any]:
    out = {"hash": row.get("hash"), "point": row.get("point")}
    out.update({k: row.get(k) for k in sweep.input_columns})
    out.update({k: row.get(k) for k in SUMMARY_METRICS})
    for goal in goals:
        out[goal.expr.text] = _value(goal.expr, row)
    return out


def summarize(sweep: Sweep, frame: Any, hashes: Iterable[str] | None = None) -> dict[str, Any]:
    """The summary of a results table: counts, best points, Pareto front (JSON-ready).

    ``frame`` is the table as a pandas DataFrame; ``hashes`` limits it to one sweep's points.
    """
    records = [{k: _clean(v) for k, v in r.items()} for r in frame.to_dict("records")]
    if hashes is not None:
        keep = set(hashes)
        records = [r for r in records if r.get("hash") in keep]
    failed = sum(1 for r in records if r.get("error") is not None)
    feasible = sum(1 for r in records if r.get("error") is None and r.get("feasible") is True)
    candidates = [r for r in records if _passes(sweep, r)]

    objective = sweep.objective
    scored = [(v, r) for r in candidates if (v := _value(objective.expr, r)) is not None]
    scored.sort(key=lambda vr: vr[0], reverse=objective.maximize)
    best = [_record(sweep, r, [objective, *sweep.pareto]) for _, r in scored[: sweep.spec.top]]

    goals = sweep.pareto
    complete = []
    for r in candidates:
        vals = [_value(g.expr, r) for g in goals]
        if all(v is not None for v in vals):
            complete.append((vals, r))
    front = []
    if goals:  # ``pareto: []`` in the sweep file asks for no front
        mask = pareto_mask([v for v, _ in complete], [g.maximize for g in goals])
        front = [(v, r) for (v, r), on in zip(complete, mask, strict=True) if on]
        front.sort(key=lambda vr: vr[0][0], reverse=goals[0].maximize)
    return {
        "sweep": sweep.name,
        "points": {"in_table": len(records), "feasible": feasible,
                   "infeasible": len(records) - feasible - failed, "failed": failed,
                   "after_filters": len(candidates)},
        "filters": sweep.spec.filters.model_dump(),
        "objective": objective.label,
        "best": best,
        "pareto": {"goals": [g.label for g in goals],
                   "left_out_missing_values": len(candidates) - len(complete),
                   "front": [_record(sweep, r, goals) for _, r in front]},
    }
