"""The training report's scaling section: time to train and cost of the run against the device
count — the scenario's plan at every data-parallel degree that divides the batch
(archsim/report/scaling.py) and the planner's best plan at a handful of those counts
(archsim/report/training_planner.py)."""

from __future__ import annotations

from typing import Any

from archsim.report import fmt
from archsim.report.capacity import (
    SECONDS_PER_DAY,
    TrainingTarget,
    run_estimate,
    slow_tokens_per_s,
)
from archsim.report.document import Plot, Section
from archsim.report.plots_training import Panel, device_count_plot
from archsim.report.scaling import ScalePoint
from archsim.report.training_answer import band_end_clause
from archsim.report.training_planner import SPACE_TEXT, PlannedPoint


def _days(tps: float | None, target: TrainingTarget | None) -> float | None:
    if not tps or target is None:
        return None
    return target.tokens / tps / SECONDS_PER_DAY


def _run_cost(cpm: float | None, target: TrainingTarget | None) -> float | None:
    return None if cpm is None or target is None else cpm * target.tokens / 1e6


def _panels(points: list[ScalePoint], planned: list[PlannedPoint],
            target: TrainingTarget | None) -> list[Panel]:
    def ok(p: ScalePoint, v: float | None) -> float | None:
        return v if p.feasible else None

    plan_ok = [q for q in planned if q.plan is not None]
    priced = any(p.cost_per_million_tokens_usd is not None for p in points)
    if target is None:
        panels = [Panel("throughput (tokens/s)", [ok(p, p.tokens_per_s) for p in points],
                        [(q.devices, q.tokens_per_s) for q in plan_ok])]
        if priced:
            panels.append(Panel("cost per million tokens (USD)",
                                [ok(p, p.cost_per_million_tokens_usd) for p in points],
                                [(q.devices, q.cost_per_million_tokens_usd) for q in plan_ok],
                                money=True))
        return panels
    panels = [Panel(f"days to train {fmt.count(target.tokens)} tokens",
                    [ok(p, _days(p.tokens_per_s, target)) for p in points],
                    [(q.devices, _days(q.tokens_per_s, target)) for q in plan_ok],
                    limit=(target.days, f"deadline ({fmt.days(target.days)})"))]
    if priced:
        panels.append(Panel("cost of the run (USD)",
                            [ok(p, _run_cost(p.cost_per_million_tokens_usd, target))
                             for p in points],
                            [(q.devices, _run_cost(q.cost_per_million_tokens_usd, target))
                             for q in plan_ok], log_y=False, money=True))
    else:
        panels.append(Panel("throughput (tokens/s)", [ok(p, p.tokens_per_s) for p in points],
                            [(q.devices, q.tokens_per_s) for q in plan_ok]))
    return panels


def scaling_section(r: dict[str, Any], points: list[ScalePoint], devices: int,
                    target: TrainingTarget | None, best: ScalePoint | None,
                    planned: list[PlannedPoint]) -> Section:
    """Time to train and cost of the run (or throughput and $ per M tokens without a target)
    against the device count, with both tables."""
    sec = Section("scaling", "Time to train and cost against the number of devices")
    base = next((p for p in points if p.devices == devices), None)
    sec.text(f"The scenario simulated at every data-parallel degree that divides the global "
             f"batch into whole micro-batches and fills whole nodes ({len(points)} device "
             f"counts, {points[0].devices:,} to {points[-1].devices:,}), with its tp, pp, "
             "micro-batch and global batch kept: more replicas mean fewer micro-batches per "
             "pipeline, so the pipeline bubble grows. "
             + (f"Beside it, the planner's best plan at {len(planned)} of these counts, "
                f"searched over {SPACE_TEXT}." if planned else ""))
    title = ("Time to train and cost of the run" if target is not None
             else "Throughput and cost per token") + " against the device count"
    png = device_count_plot([p.devices for p in points], _panels(points, planned, target),
                            devices, best.devices if best is not None else None, title)
    sec.add(Plot("scaling", title + ": the scenario's plan and the planner's best plan", png))
    rows = []
    for p in points:
        eff = (p.tokens_per_s / p.devices) / (base.tokens_per_s / base.devices) \
            if base and base.tokens_per_s and p.tokens_per_s and p.feasible else None
        days = _days(p.tokens_per_s, target) if p.feasible else None
        rows.append((f"{p.devices:,}", str(p.dp), fmt.human_time(p.step_time_s),
                     fmt.rate(p.tokens_per_s, "tokens/s") if p.feasible else "-",
                     fmt.pct(eff), fmt.days(days),
                     fmt.money(_run_cost(p.cost_per_million_tokens_usd, target))
                     if p.feasible and target is not None else "-",
                     "yes" if p.feasible else "no: " + "; ".join(p.reasons)))
    sec.table(["devices", "dp", "step time", "throughput", "scaling efficiency",
               "time to train", "cost of the run", "runs"], rows,
              caption="The scenario's plan at each device count; efficiency is throughput "
                      "per device relative to the scenario as given.")
    if planned:
        by_devices = {p.devices: p for p in points}
        prow = []
        for q in planned:
            mine = by_devices.get(q.devices)
            gain = (f"{q.tokens_per_s / mine.tokens_per_s:.2f}×" if q.tokens_per_s and mine
                    and mine.feasible and mine.tokens_per_s else "-")
            prow.append((f"{q.devices:,}", q.plan or f"none: {q.reason}",
                         fmt.human_time(q.step_time_s), fmt.days(_days(q.tokens_per_s, target)),
                         fmt.money(_run_cost(q.cost_per_million_tokens_usd, target))
                         if q.plan and target is not None else "-", gain))
        sec.table(["devices", "planner's best plan", "step time", "time to train",
                   "cost of the run", "speed vs the scenario's plan"], prow,
                  caption="The fastest plan the planner finds at each count (which is also "
                          "the cheapest per token there: cost = devices × price × time).")
    return sec


def planner_sentence(planned: list[PlannedPoint], target: TrainingTarget | None,
                     best: ScalePoint | None) -> str | None:
    """What the planner's plans change in the answer, or None when nothing is known."""
    if target is None or not planned:
        return None
    meets = [q for q in planned if q.plan and q.tokens_per_s
             and q.tokens_per_s >= target.tokens_per_s]
    if not meets:
        return (f"None of the {len(planned)} device counts searched with the planner meets "
                f"the target either.")
    q = min(meets, key=lambda x: x.devices)
    est = run_estimate(q.devices, q.tokens_per_s or 0.0, q.cost_per_million_tokens_usd,
                       q.energy_per_token_j, target.tokens)
    fewer = best is None or q.devices < best.devices
    fix = min((p for p in planned if p.plan and (slow_tokens_per_s(p) or 0.0)
               >= target.tokens_per_s), key=lambda p: p.devices, default=None)
    band = band_end_clause(q, target, fix, "devices of the counts searched")
    return (f"With the planner's best plan ({q.plan}), {q.devices:,} devices "
            + ("are enough" if fewer else "are the fewest of the counts searched that meet it")
            + f": {fmt.days(est.days)}, {fmt.money(est.cost_usd)}"
            + (" (only the counts searched with the planner are known)" if fewer else "")
            + (f"; {band}" if band else "") + ".")
