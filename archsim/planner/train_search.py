"""Search training plans: enumerate, bound, simulate the survivors best bound first.

1. Enumerate every combination of the axes (archsim.planner.space; on a cluster of several
   pools also every placement, archsim.planner.placements); those that do not divide lose for
   ``divisibility`` without any costing.
2. Bound every remaining plan (archsim.planner.bounds): a plan whose memory lower bound
   exceeds its devices' memory loses for ``memory`` without simulation.
3. Simulate the rest with ``archsim.simulate`` (the full discrete-event run) in order of the
   lower bound of their objective, best first. Once a bound is no better than the K-th best
   simulated plan, neither it nor any plan after it can enter the top K: all are pruned. So
   pruning never changes the top K (tests compare it with simulating every plan).
   Where the engine balances layers over stages by speed (several pools, or
   ``placement.balance``), the first bound holds for every split; before simulating, the
   engine's own split is computed (archsim.plan.balance) and the tighter bound of that split
   gets a second chance to prune.
4. Rank and say why each other plan lost (archsim.planner.why).

Objectives: ``throughput`` (tokens/s) and ``latency`` (step time) rank alike — every plan runs
the same tokens per step; ``cost`` (USD per million tokens) also weighs the devices a
placement uses, and their price.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Mapping
from dataclasses import replace

from archsim.api import simulate
from archsim.metrics.distill import student_scenario
from archsim.plan.balance import resolve_pipeline
from archsim.planner import why
from archsim.planner.bounds import Bounder, PlanBound
from archsim.planner.placements import enumerate_placed, stage_pools
from archsim.planner.result import Loss, PlanRow, PlanSearch, rank
from archsim.planner.space import (
    Candidate,
    SearchSpace,
    candidate_of,
    enumerate_space,
    scenario_for,
)
from archsim.spec.hardware import PoolSpec
from archsim.spec.scenario import ScenarioSpec

# A simulated value below its bound by more than this fraction is reported as a bound
# violation (the two use the same cost functions, so only rounding may separate them).
BOUND_TOLERANCE = 1e-6


def search_training(sc: ScenarioSpec, objective: str, top: int, space: SearchSpace,
                    wall0: float) -> PlanSearch:
    distill = sc.compression is not None and sc.compression.distill is not None
    # distillation: a step is the teacher's forward pass plus the student's training step, so
    # the student's bounds bound it from below (time and memory); the plans are those that
    # divide the student, and a plan the teacher's forward cannot take comes back from the
    # simulation infeasible, with the teacher's reason (archsim/metrics/distill.py)
    bounder = Bounder(student_scenario(sc) if distill else sc)
    cluster = sc.cluster
    multi = len(cluster.pools) > 1
    balanced = multi or (isinstance(sc.plan.placement, Mapping)
                         and "balance" in sc.plan.placement)
    model = bounder.sc.model
    enum = (enumerate_placed(sc, space, model) if multi
            else enumerate_space(sc, space, model=model))
    given_cand = candidate_of(sc)
    given = PlanRow(given_cand, "as given: " + given_cand.label(), simulate(sc).to_dict())
    t_enum = time.perf_counter()
    tokens = sc.workload.global_batch * sc.workload.seq_len

    def pools_of(c: Candidate) -> list[PoolSpec]:
        return stage_pools(cluster, c) if c.placement is not None else \
            [cluster.pools[0]] * c.pp

    def scale(c: Candidate) -> float:
        """Objective per second of step: USD per million tokens (cost) or 1."""
        if objective != "cost":
            return 1.0
        size = c.tp * c.cp * c.dp
        usd_per_s = sum(size * p.device.price_per_hour for p in pools_of(c)) / 3600
        return usd_per_s / tokens * 1e6

    def key(result: dict) -> float:
        return result["cost_per_million_tokens_usd"] if objective == "cost" else \
            result["step_time_s"]

    losses: dict[str, Loss] = {}

    def lose(reason: str, label: str, time_s: float | None, detail: str, bound: bool,
             count: int = 1) -> None:
        losses.setdefault(reason, Loss(reason)).add(label, time_s, detail, bound, count)

    for cand, problem in enum.rejected_examples[:1]:
        lose("divisibility", cand.label(), None, problem, False, enum.rejected)

    bounded: list[tuple[float, int, Candidate, PlanBound]] = []
    memory_pruned = 0
    teacher = _TeacherForwardBound(sc) if distill else None

    def with_teacher(cand: Candidate, b: PlanBound) -> PlanBound:
        if teacher is None:
            return b
        t = teacher(cand, pools_of(cand)[0])
        parts = {**b.parts, "compute_s": b.parts.get("compute_s", 0.0) + t}
        return replace(b, step_time_s=b.step_time_s + t, parts=parts)

    for i, cand in enumerate(enum.valid):
        b = with_teacher(cand, bounder.split_free_bound(cand, pools_of(cand)) if balanced
                         else bounder.bound(cand))
        if b.fits:
            bounded.append((scale(cand) * b.step_time_s, i, cand, b))
        else:
            memory_pruned += 1
            lose("memory", cand.label(), b.step_time_s, why.memory_detail_from_bound(b), True)
    bounded.sort(key=lambda x: (x[0], x[1]))
    t_bound = time.perf_counter()

    # the given plan, when it is a point of the space, need not be simulated twice
    reuse = {given_cand: given.result} if sc.plan.layers_per_stage is None else {}
    simulated: list[PlanRow] = []
    feasible: list[PlanRow] = []
    best: list[float] = []  # max-heap (negated) of the K best simulated objective values
    violations: list[str] = []
    time_pruned: list[tuple[Candidate, PlanBound]] = []
    for n, (lb, _i, cand, b) in enumerate(bounded):
        if len(best) >= top and lb >= -best[0]:
            # no better than the K-th best simulated plan, nor is any plan after it
            time_pruned.extend((c, bb) for _, _, c, bb in bounded[n:])
            break
        if balanced and cand not in reuse:
            tight = _split_bound(bounder, cand)
            if tight is not None:
                tight = with_teacher(cand, tight)
                b, lb = tight, scale(cand) * tight.step_time_s
                if not b.fits:
                    memory_pruned += 1
                    lose("memory", cand.label(), b.step_time_s,
                         why.memory_detail_from_bound(b), True)
                    continue
                if len(best) >= top and lb >= -best[0]:
                    time_pruned.append((cand, b))
                    continue
        result = reuse.get(cand) or simulate(scenario_for(sc, cand)).to_dict()
        row = PlanRow(cand, cand.label(), result)
        simulated.append(row)
        step = result["step_time_s"]
        # a plan that does not run has no step to bound (a distillation whose teacher cannot
        # take the plan reports its student's step alone)
        if (result["feasible"] and step is not None
                and step < b.step_time_s * (1 - BOUND_TOLERANCE)):
            violations.append(f"{cand.label()}: simulated {step:.6g} s < bound "
                              f"{b.step_time_s:.6g} s")
        if result["feasible"]:
            feasible.append(row)
            heapq.heappush(best, -key(result))
            if len(best) > top:
                heapq.heappop(best)
        else:
            reason, detail = why.infeasible_reason(result)
            lose(reason, row.label, step, detail, False)

    t_sim = time.perf_counter()
    ranked = rank(feasible, key)
    best_rows, others = ranked[:top], ranked[top:]
    if best_rows:
        top_result = best_rows[0].result
        best_parts = why.result_parts(top_result)
        best_step = top_result["step_time_s"]

        def costlier(step: float, usd: float, devices: int, bound: bool) -> str:
            return why.costlier_detail(step, usd, devices, best_step,
                                       top_result["cost_per_million_tokens_usd"],
                                       top_result["devices"], bound)

        for row in others:
            r = row.result
            if objective == "cost" and r["step_time_s"] <= best_step:
                lose("cost", row.label, row.step_time_s,
                     costlier(r["step_time_s"], r["cost_per_million_tokens_usd"], r["devices"],
                              False), False)
                continue
            reason, detail = why.slower_reason(why.result_parts(r), best_parts)
            lose(reason, row.label, row.step_time_s, detail, False)
        for cand, b in time_pruned:
            if objective == "cost" and b.step_time_s <= best_step:
                devices = cand.tp * cand.cp * cand.dp * cand.pp
                lose("cost", cand.label(), b.step_time_s,
                     costlier(b.step_time_s, scale(cand) * b.step_time_s, devices, True), True)
                continue
            reason, detail = why.slower_reason(b.parts, best_parts, bound=True)
            lose(reason, cand.label(), b.step_time_s, detail, True)

    counts = {"plans": enum.total, "not_divisible": enum.rejected,
              "pruned_by_memory_bound": memory_pruned,
              "pruned_by_time_bound": len(time_pruned), "simulated": len(simulated),
              "simulated_infeasible": len(simulated) - len(feasible)}
    notes = []
    if multi:
        notes.append("placements: every ordered choice of pools; layers per stage balanced "
                     "by the engine (archsim.plan.balance)")
    if not best_rows:
        notes.append("no plan in the space is feasible")
    elif (used := best_rows[0].result.get("devices")) and used < cluster.total_devices:
        # a placement may leave pools out: priced as released, not as idle hardware
        notes.append(f"the best plan runs on {used} of the cluster's {cluster.total_devices} "
                     f"devices: its cost and energy count those {used} only, as if the pools "
                     "it leaves out were released (kept idle, they would still be paid for)")
    hw = ", ".join(f"{p.count}× {p.device.name}" for p in cluster.pools)
    timings = {"enumerate_s": t_enum - wall0, "bound_s": t_bound - t_enum,
               "simulate_s": t_sim - t_bound}
    return PlanSearch(scenario=sc.name, objective=objective, top=best_rows, given=given,
                      counts=counts, losses=losses, wall_s=time.perf_counter() - wall0,
                      hardware=hw, bound_violations=violations, notes=notes,
                      timings=timings)


def _split_bound(bounder: Bounder, cand: Candidate) -> PlanBound | None:
    """The bound of the layer split the engine will use (None if the plan does not run:
    the simulation then says why)."""
    sc = scenario_for(bounder.sc, cand)
    layout, placement, _, reasons = resolve_pipeline(sc, bounder.compression)
    if layout is None or placement is None or reasons:
        return None
    counts = [sum(len(chunk) for chunk in stage) for stage in layout.stage_layers]
    return bounder.bound(cand, [hw.pool for hw in placement.stages], counts)


class _TeacherForwardBound:
    """A lower bound on a distillation step's teacher forward pass for a plan: every stage
    runs each micro-batch's forward over its layers, so the step takes at least micro-batches
    × layers / pp × the cheaper layer kind's forward (kernels and blocking collectives) on the
    teacher's profile; 0 where the teacher cannot take the plan (the simulation says why)."""

    def __init__(self, sc: ScenarioSpec):
        from archsim.metrics.distill import teacher_scenario
        from archsim.planner.profiles import Profiles

        teacher = teacher_scenario(sc)
        self.teacher = teacher.model_copy(update={"plan": teacher.plan.model_copy(
            update={"recompute": "none", "zero": 0})})
        self.profiles = Profiles(self.teacher)
        self.cache: dict[tuple, float] = {}

    def __call__(self, c: Candidate, pool: PoolSpec) -> float:
        wl, model = self.teacher.workload, self.teacher.model
        key = (pool.name, c.tp, c.cp, c.ep, c.sp, c.micro_batch, c.pp, c.dp)
        got = self.cache.get(key)
        if got is None:
            try:
                prof = self.profiles.get(replace(c, recompute="none", zero=0), pool)
            except (ValueError, ZeroDivisionError, KeyError):
                got = 0.0
            else:
                per_layer = min(f.compute + f.comm for f in prof.fwd.values())
                micro_batches = wl.global_batch // (c.micro_batch * c.dp)
                got = micro_batches * model.layers / c.pp * per_layer
            self.cache[key] = got
        return got
