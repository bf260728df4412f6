"""The readable report of a plan search (what ``archsim plan`` prints without --json)."""

from __future__ import annotations

from archsim.planner.search import PlanRow, PlanSearch
from archsim.textfmt import human_bytes, human_time, pct, table

_REASON_WORDS = {
    "memory": "does not fit in memory",
    "bubbles": "more pipeline bubble",
    "communication": "more exposed communication",
    "recomputation": "more recomputation",
    "compute": "slower compute",
    "optimizer": "slower optimizer step",
    "divisibility": "does not divide evenly",
    "infeasible": "cannot run",
}


def _metrics_row(row: PlanRow) -> list[str]:
    r = row.result
    cost = r.get("cost_per_million_tokens_usd")
    step = r.get("step_time_s")
    latency = step if step is not None else r.get("e2e_latency_s")
    return [human_time(latency), f"{r['tokens_per_s']:,.0f}", pct(r.get("mfu")),
            human_bytes(r["memory"]["peak_bytes_per_device"]),
            "-" if cost is None else f"{cost:,.3f}"]


def render_plan_search(ps: PlanSearch) -> str:
    """Top plans as a table, the given plan beside the best, and why the others lost."""
    c = ps.counts
    latency_name = "step time" if ps.best is None or ps.best.result.get("step_time_s") \
        is not None else "e2e latency"
    lines = [f"Plan search for {ps.scenario} on {ps.hardware} — objective {ps.objective}",
             f"{c['plans']:,} plans: {c['not_divisible']:,} do not divide, "
             f"{c['pruned_by_memory_bound']:,} pruned by the memory bound, "
             f"{c['pruned_by_time_bound']:,} pruned by the time bound, {c['simulated']:,} "
             f"simulated ({c['simulated_infeasible']:,} of them infeasible) in "
             f"{human_time(ps.wall_s)}", ""]
    headers = ["#", "plan", latency_name, "tokens/s", "MFU", "memory/device", "$/Mtok"]
    rows = [[str(i + 1), row.label, *_metrics_row(row)] for i, row in enumerate(ps.top)]
    if rows:
        lines += [f"Top {len(rows)}", table(headers, rows, align="rlrrrrr")]
    else:
        lines.append("No feasible plan in the space.")
    lines.append("")
    g = ps.given
    if g.result["feasible"]:
        lines.append(f"Scenario's own plan ({g.label.removeprefix('as given: ')}): "
                     + ", ".join(f"{h} {v}" for h, v in zip(headers[2:], _metrics_row(g),
                                                           strict=True)))
        best = ps.best
        gt = g.result.get("step_time_s") or g.result.get("e2e_latency_s")
        bt = None if best is None else (best.result.get("step_time_s")
                                        or best.result.get("e2e_latency_s"))
        if bt:
            lines.append(f"  the best plan is {gt / bt:.2f}× as fast")
    else:
        lines.append(f"Scenario's own plan ({g.label.removeprefix('as given: ')}) is "
                     "infeasible: " + "; ".join(g.result["infeasible_reasons"]))
    if ps.losses:
        lines += ["", "Why the others lost (plans per reason; the best plan that lost for it)"]
        for loss in sorted(ps.losses.values(), key=lambda x: -x.count):
            when = ""
            if loss.best_time_s is not None:
                when = (" (step ≥ " if loss.best_time_is_bound else " (step ") + \
                    human_time(loss.best_time_s) + ")"
            lines.append(f"  {_REASON_WORDS.get(loss.reason, loss.reason)}: {loss.count:,}"
                         f" — best: {loss.best_label}{when}")
            lines.append(f"      {loss.detail}")
    for v in ps.bound_violations[:5]:
        lines.append(f"WARNING: a lower bound exceeded the simulated value — {v}")
    lines += [f"note: {n}" for n in ps.notes]
    return "\n".join(lines)
