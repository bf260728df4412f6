"""The auto-planner: search the plan space, prune with lower bounds, simulate the survivors.

1. Enumerate every combination of the axes (archsim.planner.space); those that do not divide
   evenly lose for ``divisibility`` without any costing.
2. Bound every remaining plan (archsim.planner.bounds): a plan whose memory lower bound
   exceeds the device's capacity loses for ``memory`` without simulation.
3. Simulate the rest with ``archsim.simulate`` (the full discrete-event run) in order of
   their step-time lower bound, best first. Once a plan's bound is no better than the K-th
   best simulated plan, neither it nor any plan after it can enter the top K: all are
   pruned. Pruning therefore never changes the top K (tests compare it with simulating
   every plan).
4. Rank by the objective and say why each other plan lost (archsim.planner.why).

Objectives (training): ``throughput`` (tokens/s, higher is better), ``latency`` (step time)
and ``cost`` (USD per million tokens; needs ``price_per_hour`` in the device profile). Every
plan uses all devices of the scenario and processes the same tokens per step, so the three
rank plans identically; they differ in the number shown.

Inference scenarios are searched by archsim.planner.inference (tp × pp × ep, every plan
simulated).
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from archsim.api import simulate
from archsim.planner import inference, why
from archsim.planner.bounds import Bounder, PlanBound
from archsim.planner.space import (
    Candidate,
    SearchSpace,
    candidate_of,
    enumerate_space,
    scenario_for,
)
from archsim.spec.errors import SpecError
from archsim.spec.scenario import ScenarioSpec

OBJECTIVES = ("throughput", "latency", "cost")
# A simulated step shorter than its bound by more than this fraction is reported as a bound
# violation (the two use the same cost functions, so only rounding may separate them).
BOUND_TOLERANCE = 1e-6


@dataclass
class PlanRow:
    """One simulated plan with the metrics the planner ranks and shows."""

    candidate: Candidate | None
    label: str
    result: dict[str, Any]

    @property
    def step_time_s(self) -> float:
        return self.result["step_time_s"]

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "plan": self.candidate.to_dict() if self.candidate else r.get("parallel"),
            "label": self.label,
            "feasible": r["feasible"],
            "step_time_s": r.get("step_time_s"),
            "ttft_s": r.get("ttft_s"), "tpot_s": r.get("tpot_s"),
            "e2e_latency_s": r.get("e2e_latency_s"),
            "tokens_per_s": r["tokens_per_s"],
            "mfu": r["mfu"],
            "memory_per_device_bytes": r["memory"]["peak_bytes_per_device"],
            "capacity_bytes": r["memory"]["capacity_bytes"],
            "cost_per_million_tokens_usd": r.get("cost_per_million_tokens_usd"),
            "time_breakdown": r.get("time_breakdown"),
            "infeasible_reasons": r["infeasible_reasons"],
        }


@dataclass
class Loss:
    """Plans that lost for one reason, and the best of them."""

    reason: str
    count: int = 0
    best_label: str = ""
    best_time_s: float | None = None
    best_time_is_bound: bool = False
    detail: str = ""

    def add(self, label: str, time_s: float | None, detail: str, bound: bool,
            count: int = 1) -> None:
        self.count += count
        better = time_s is not None and (self.best_time_s is None or time_s < self.best_time_s)
        if not self.best_label or better:
            self.best_label, self.best_time_s = label, time_s
            self.best_time_is_bound, self.detail = bound, detail

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "count": self.count, "best_plan": self.best_label,
                "best_step_time_s": self.best_time_s,
                "best_step_time_is_lower_bound": self.best_time_is_bound,
                "detail": self.detail}


@dataclass
class PlanSearch:
    """What ``archsim plan`` reports: the top plans, the given plan, and why others lost."""

    scenario: str
    objective: str
    top: list[PlanRow]
    given: PlanRow
    counts: dict[str, int]
    losses: dict[str, Loss]
    wall_s: float
    hardware: str = ""
    bound_violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    """Wall seconds of enumeration (with the given plan's simulation), bounding and
    simulating the survivors."""

    @property
    def best(self) -> PlanRow | None:
        return self.top[0] if self.top else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario, "hardware": self.hardware,
            "objective": self.objective,
            "top": [dict(row.to_dict(), rank=i + 1,
                         objective_value=objective_value(self.objective, row.result))
                    for i, row in enumerate(self.top)],
            "given_plan": self.given.to_dict(),
            "counts": dict(self.counts),
            "why_others_lost": [self.losses[r].to_dict() for r in why.REASONS
                                if r in self.losses and self.losses[r].count],
            "bound_violations": list(self.bound_violations),
            "notes": list(self.notes),
            "wall_s": self.wall_s,
            "timings_s": dict(self.timings),
        }


def objective_value(objective: str, result: Mapping[str, Any]) -> float | None:
    """The number the objective ranks by, as shown (tokens/s, seconds or USD/Mtok); latency is
    the step time in training and the end-to-end latency in inference."""
    if objective == "throughput":
        return result["tokens_per_s"]
    if objective == "latency":
        step = result.get("step_time_s")
        return step if step is not None else result.get("e2e_latency_s")
    return result.get("cost_per_million_tokens_usd")


def search_plans(sc: ScenarioSpec, objective: str = "throughput", top: int = 5,
                 space: SearchSpace | None = None) -> PlanSearch:
    """Search the plan space of ``sc`` for the ``top`` best plans by ``objective``.

    Raises SpecError for an unknown objective, a cost objective without a device price, a
    workload kind the planner does not search (serving), an axis that does not apply, or a
    heterogeneous cluster.
    """
    wall0 = time.perf_counter()
    _check(sc, objective, top)
    space = space or SearchSpace()
    if sc.workload.kind == "inference":
        return _search_inference(sc, objective, top, space, wall0)
    bounder = Bounder(sc)
    enum = enumerate_space(sc, space, model=bounder.sc.model)
    given_cand = candidate_of(sc)
    given = PlanRow(given_cand, "as given: " + given_cand.label(), simulate(sc).to_dict())
    t_enum = time.perf_counter()

    losses: dict[str, Loss] = {}

    def lose(reason: str, label: str, time_s: float | None, detail: str, bound: bool,
             count: int = 1) -> None:
        losses.setdefault(reason, Loss(reason)).add(label, time_s, detail, bound, count)

    for cand, problem in enum.rejected_examples[:1]:
        lose("divisibility", cand.label(), None, problem, False, enum.rejected)

    bounded: list[tuple[float, int, Candidate, PlanBound]] = []
    memory_pruned = 0
    for i, cand in enumerate(enum.valid):
        b = bounder.bound(cand)
        if b.fits:
            bounded.append((b.step_time_s, i, cand, b))
        else:
            memory_pruned += 1
            lose("memory", cand.label(), b.step_time_s, why.memory_detail_from_bound(b), True)
    bounded.sort(key=lambda x: (x[0], x[1]))
    t_bound = time.perf_counter()

    # the given plan, when it is a point of the space, need not be simulated twice
    reuse = {given_cand: given.result} if sc.plan.layers_per_stage is None else {}
    simulated: list[PlanRow] = []
    feasible: list[PlanRow] = []
    best_times: list[float] = []  # max-heap (negated) of the K best simulated step times
    violations: list[str] = []
    time_pruned: list[tuple[Candidate, PlanBound]] = []
    for n, (lb, _i, cand, _b) in enumerate(bounded):
        if len(best_times) >= top and lb >= -best_times[0]:
            # no better than the K-th best simulated plan, nor is any plan after it
            time_pruned.extend((c, bb) for _, _, c, bb in bounded[n:])
            break
        result = reuse.get(cand) or simulate(scenario_for(sc, cand)).to_dict()
        row = PlanRow(cand, cand.label(), result)
        simulated.append(row)
        step = result["step_time_s"]
        if step is not None and step < lb * (1 - BOUND_TOLERANCE):
            violations.append(f"{cand.label()}: simulated {step:.6g} s < bound {lb:.6g} s")
        if result["feasible"]:
            feasible.append(row)
            heapq.heappush(best_times, -step)
            if len(best_times) > top:
                heapq.heappop(best_times)
        else:
            reason, detail = why.infeasible_reason(result)
            lose(reason, row.label, step, detail, False)

    t_sim = time.perf_counter()
    ranked = sorted(feasible, key=lambda r: r.step_time_s)
    best_rows, others = ranked[:top], ranked[top:]
    if best_rows:
        best_parts = why.result_parts(best_rows[0].result)
        for row in others:
            reason, detail = why.slower_reason(why.result_parts(row.result), best_parts)
            lose(reason, row.label, row.step_time_s, detail, False)
        for cand, b in time_pruned:
            reason, detail = why.slower_reason(b.parts, best_parts, bound=True)
            lose(reason, cand.label(), b.step_time_s, detail, True)

    counts = {"plans": enum.total, "not_divisible": enum.rejected,
              "pruned_by_memory_bound": memory_pruned,
              "pruned_by_time_bound": len(time_pruned), "simulated": len(simulated),
              "simulated_infeasible": len(simulated) - len(feasible)}
    notes = []
    if not best_rows:
        notes.append("no plan in the space is feasible")
    hw = ", ".join(f"{p.count}× {p.device.name}" for p in sc.cluster.pools)
    timings = {"enumerate_s": t_enum - wall0, "bound_s": t_bound - t_enum,
               "simulate_s": t_sim - t_bound}
    return PlanSearch(scenario=sc.name, objective=objective, top=best_rows, given=given,
                      counts=counts, losses=losses, wall_s=time.perf_counter() - wall0,
                      hardware=hw, bound_violations=violations, notes=notes,
                      timings=timings)


def _search_inference(sc: ScenarioSpec, objective: str, top: int, space: SearchSpace,
                      wall0: float) -> PlanSearch:
    points, rejected, examples = inference.inference_points(sc, space)
    given_pt = inference.point_of(sc)
    given = PlanRow(given_pt, "as given: " + given_pt.label(), simulate(sc).to_dict())
    t_enum = time.perf_counter()
    losses: dict[str, Loss] = {}

    def lose(reason: str, label: str, time_s: float | None, detail: str, count: int = 1
             ) -> None:
        losses.setdefault(reason, Loss(reason)).add(label, time_s, detail, False, count)

    for point, problem in examples[:1]:
        lose("divisibility", point.label(), None, problem, rejected)
    reuse = {given_pt: given.result} if sc.plan.layers_per_stage is None else {}
    feasible: list[PlanRow] = []
    for point in points:
        result = reuse.get(point) or simulate(inference.scenario_for_point(sc, point)).to_dict()
        if result["feasible"]:
            feasible.append(PlanRow(point, point.label(), result))
        else:
            reason, detail = why.infeasible_reason(result)
            lose(reason, point.label(), result["e2e_latency_s"], detail)
    t_sim = time.perf_counter()
    ranked = sorted(feasible, key=lambda r: inference.rank_key(objective, r.result))
    best_rows = ranked[:top]
    for row in ranked[top:]:
        reason, detail = inference.slower_reason(row.result, best_rows[0].result)
        lose(reason, row.label, row.result["e2e_latency_s"], detail)
    counts = {"plans": len(points) + rejected, "not_divisible": rejected,
              "pruned_by_memory_bound": 0, "pruned_by_time_bound": 0,
              "simulated": len(points), "simulated_infeasible": len(points) - len(feasible)}
    notes = ["inference: every plan that divides is simulated (a small space; no bounds)"]
    if not best_rows:
        notes.append("no plan in the space is feasible")
    hw = ", ".join(f"{p.count}× {p.device.name}" for p in sc.cluster.pools)
    return PlanSearch(scenario=sc.name, objective=objective, top=best_rows, given=given,
                      counts=counts, losses=losses, wall_s=time.perf_counter() - wall0,
                      hardware=hw, notes=notes,
                      timings={"enumerate_s": t_enum - wall0, "bound_s": 0.0,
                               "simulate_s": t_sim - t_enum})


def _check(sc: ScenarioSpec, objective: str, top: int) -> None:
    problems = []
    if objective not in OBJECTIVES:
        problems.append(f"objective {objective!r} is not one of: {', '.join(OBJECTIVES)}")
    if top < 1:
        problems.append(f"top {top}: expected at least 1")
    kind = sc.workload.kind
    if kind not in ("training", "inference"):
        problems.append(f"workload.kind: the planner searches training and inference plans; "
                        f"got {kind!r}")
    if len(sc.cluster.pools) > 1:
        problems.append("hardware.cluster: the planner searches plans on one pool of devices; "
                        f"this cluster has {len(sc.cluster.pools)} pools")
    if objective == "cost":
        missing = [p.device.name for p in sc.cluster.pools if p.device.price_per_hour is None]
        if missing:
            problems.append(f"objective cost needs price_per_hour in the device profile; "
                            f"{', '.join(missing)} has none")
    if problems:
        raise SpecError(problems)
