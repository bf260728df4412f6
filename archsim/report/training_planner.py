"""The planner's best plan at a handful of device counts, beside the scenario's own plan.

At a fixed device count the plan with the most tokens/s is also the cheapest per token (cost
is devices × price × time), so one search by throughput answers both. To keep a report quick
the search runs on a restricted space (``PLANNER_SPACE``: ZeRO-1, sequence parallelism,
micro-batch 1 or 2, selective or full recomputation, 1F1B or interleaved with 2 virtual
stages, no context parallelism, tp within a node as Megatron-LM runs it, pp over every divisor
the planner allows) and at most
``PLANNER_COUNTS`` device counts: the scenario's, the fewest that meet the target, and others
evenly spaced (in log) over the scaling curve. The planner prunes with its own bounds
(archsim/planner/bounds.py) and simulates the survivors with the same DES.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from archsim.planner.space import SearchSpace, divisors
from archsim.report.scaling import scaled_hardware, step_time_high
from archsim.spec.errors import SpecError
from archsim.spec.scenario import ScenarioSpec

PLANNER_SPACE = SearchSpace(zero=(1,), sp=(True,), micro_batch=(1, 2),
                            recompute=("selective", "full"), schedule=("1f1b", "interleaved"),
                            virtual_stages=(2,), cp=(1,))
PLANNER_COUNTS = 8
SPACE_TEXT = ("ZeRO-1, sequence parallelism, micro-batch 1 or 2, selective or full "
              "recomputation, 1F1B or interleaved (2 virtual stages), no context parallelism, "
              "tp within a node, pp over every divisor of the device count")


@dataclass(frozen=True)
class PlannedPoint:
    """The planner's best plan at one device count (``plan`` None: none found, see
    ``reason``)."""

    devices: int
    plan: str | None
    tokens_per_s: float | None = None
    """Sustained (checkpoint pauses included where modelled)."""
    step_time_s: float | None = None
    cost_per_million_tokens_usd: float | None = None
    energy_per_token_j: float | None = None
    reason: str = ""
    step_time_high_s: float | None = None
    """Upper end of the step time's calibrated interval (None: no error bar)."""


def planner_counts(counts: list[int], keep: list[int], limit: int = PLANNER_COUNTS
                   ) -> list[int]:
    """At most ``limit`` of ``counts``: those in ``keep`` and others evenly spaced in log."""
    counts = sorted(set(counts))
    chosen = {c for c in keep if c in counts}
    rest = [c for c in counts if c not in chosen]
    slots = max(0, limit - len(chosen))
    if len(rest) <= slots:
        return sorted(chosen | set(rest))
    lo, hi = math.log(rest[0]), math.log(rest[-1])
    for i in range(slots):
        want = lo + (hi - lo) * i / max(1, slots - 1)
        chosen.add(min(rest, key=lambda c: abs(math.log(c) - want)))
    return sorted(chosen)


def best_plan_at(sc: ScenarioSpec, devices: int) -> PlannedPoint:
    """Search ``PLANNER_SPACE`` for the fastest plan of ``sc``'s model on ``devices`` of its
    device (the scenario's links, node size, workload and kernels kept)."""
    from archsim.planner.search import search_plans
    from archsim.report.capacity import sustained
    from archsim.spec.loader import load_scenario

    overrides = {**scaled_hardware(sc, devices), "plan.dp": None}
    try:
        spec = load_scenario(sc.model_dump(mode="json"), overrides)
        node = spec.cluster.pools[0].node_size
        tp = tuple(t for t in divisors(min(node, devices)) if spec.model.heads % t == 0)
        found = search_plans(spec, "throughput", 1, replace(PLANNER_SPACE, tp=tp))
    except SpecError as exc:
        return PlannedPoint(devices, None, reason="; ".join(exc.problems))
    if found.best is None:
        return PlannedPoint(devices, None, reason="no plan in the searched space fits")
    r = found.best.result
    tps, cpm = sustained(r)
    return PlannedPoint(devices, found.best.label, tps, r.get("step_time_s"), cpm,
                        r.get("energy_per_token_j"), step_time_high_s=step_time_high(r))
