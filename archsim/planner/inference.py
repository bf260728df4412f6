"""The auto-planner for static-batch inference (``workload.kind: inference``).

The space is tensor-parallel × pipeline-parallel × expert-parallel degrees; data-parallel
replicas take the remaining devices (dp = devices / (tp · pp)) and split the batch. It holds
tens of plans, and one inference simulation takes milliseconds, so every plan that divides
is simulated: no bounds, nothing pruned. Plans are ranked by the objective: ``latency``
(end-to-end latency of the batch, TTFT + all decode steps), ``throughput`` (generated
tokens/s) or ``cost`` (USD per million generated tokens).

A plan that lost is classified by the part of its end-to-end latency in which it exceeds the
best plan the most: ``communication`` (collectives and pipeline hand-overs on the busiest
stage) or ``compute`` (the rest: kernels, memory-bound decode included); plans that do not
fit lose for ``memory``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from archsim.api import simulate
from archsim.plan.inference import Degrees, degree_reasons, resolve_precision
from archsim.planner import why
from archsim.planner.result import Loss, PlanRow, PlanSearch, rank
from archsim.planner.space import Enumeration, SearchSpace, divisors, tally
from archsim.spec.errors import SpecError
from archsim.spec.scenario import ScenarioSpec
from archsim.textfmt import human_time

INFERENCE_AXES = ("tp", "pp", "ep")


@dataclass(frozen=True, slots=True)
class InferencePoint:
    """One inference plan: degrees of a replica and the number of replicas."""

    tp: int
    pp: int
    dp: int
    ep: int

    def label(self) -> str:
        out = f"tp {self.tp} · pp {self.pp} · dp {self.dp}"
        return out + (f" · ep {self.ep}" if self.ep > 1 else "")

    def to_dict(self) -> dict:
        return asdict(self)


def point_of(sc: ScenarioSpec) -> InferencePoint:
    plan, count = sc.plan, sc.cluster.total_devices
    dp = plan.dp if plan.dp is not None else max(1, count // (plan.tp * plan.pp))
    return InferencePoint(tp=plan.tp, pp=plan.pp, dp=dp, ep=plan.ep)


def scenario_for_point(sc: ScenarioSpec, p: InferencePoint) -> ScenarioSpec:
    plan = sc.plan.model_copy(update={"tp": p.tp, "pp": p.pp, "dp": p.dp, "ep": p.ep,
                                      "layers_per_stage": None})
    return sc.model_copy(update={"plan": plan})


def inference_points(sc: ScenarioSpec, space: SearchSpace) -> Enumeration[InferencePoint]:
    """Every tp × pp × ep of the space (dp derived), and which of them divide.

    Raises SpecError when ``space`` fixes an axis of training plans."""
    fixed = [a for a in ("cp", "sp", "zero", "micro_batch", "recompute", "schedule",
                         "virtual_stages") if getattr(space, a) is not None]
    if fixed:
        raise SpecError([f"--axis {', '.join(fixed)}: not an axis of inference plans "
                         f"(axes: {', '.join(INFERENCE_AXES)})"])
    pool = sc.cluster.pools[0]
    model = resolve_precision(sc, pool.device).model
    count, batch = pool.count, sc.workload.batch
    tps = space.tp or divisors(count, model.heads)
    pps = space.pp or divisors(count, model.layers)
    eps = space.ep or (divisors(model.moe.experts) if model.moe else (1,))

    def problem(p: InferencePoint) -> str | None:
        if count % (p.tp * p.pp):
            return f"{count} devices are not divisible by tp·pp = {p.tp}·{p.pp} = {p.tp * p.pp}"
        reasons = degree_reasons(model, Degrees(tp=p.tp, pp=p.pp, ep=p.ep, dp=p.dp), None)
        if batch % p.dp:
            reasons.append(f"batch {batch} is not divisible by dp {p.dp}")
        return reasons[0] if reasons else None

    points = (InferencePoint(tp=tp, pp=pp, dp=max(1, count // (tp * pp)), ep=ep)
              for tp in tps for pp in pps for ep in eps)
    return tally((p, problem(p)) for p in points)


def rank_key(objective: str, result: dict) -> float:
    """Smaller is better."""
    if objective == "throughput":
        return -result["tokens_per_s"]
    if objective == "cost":
        return result["cost_per_million_tokens_usd"]
    return result["e2e_latency_s"]


def slower_reason(result: dict, best: dict) -> tuple[str, str]:
    """(reason, detail) for a feasible inference plan slower than the best one."""
    comm, best_comm = (r["communication"]["total_time_s"] for r in (result, best))
    rest = result["e2e_latency_s"] - comm
    best_rest = best["e2e_latency_s"] - best_comm
    detail = (f"e2e {human_time(result['e2e_latency_s'])} vs "
              f"{human_time(best['e2e_latency_s'])} (TTFT {human_time(result['ttft_s'])} vs "
              f"{human_time(best['ttft_s'])}, TPOT {human_time(result['tpot_s'])} vs "
              f"{human_time(best['tpot_s'])})")
    if comm - best_comm > rest - best_rest:
        return "communication", (f"communication {human_time(comm)} vs "
                                 f"{human_time(best_comm)} in the best plan; " + detail)
    return "compute", f"compute {human_time(rest)} vs {human_time(best_rest)}; " + detail


def search_inference(sc: ScenarioSpec, objective: str, top: int, space: SearchSpace,
                      wall0: float) -> PlanSearch:
    enum = inference_points(sc, space)
    points = enum.valid
    given_pt = point_of(sc)
    given = PlanRow(given_pt, "as given: " + given_pt.label(), simulate(sc).to_dict())
    t_enum = time.perf_counter()
    losses: dict[str, Loss] = {}

    def lose(reason: str, label: str, time_s: float | None, detail: str, count: int = 1
             ) -> None:
        losses.setdefault(reason, Loss(reason)).add(label, time_s, detail, False, count)

    for point, problem in enum.rejected_examples[:1]:
        lose("divisibility", point.label(), None, problem, enum.rejected)
    reuse = {given_pt: given.result} if sc.plan.layers_per_stage is None else {}
    feasible: list[PlanRow] = []
    for point in points:
        result = reuse.get(point) or simulate(scenario_for_point(sc, point)).to_dict()
        if result["feasible"]:
            feasible.append(PlanRow(point, point.label(), result))
        else:
            reason, detail = why.infeasible_reason(result)
            lose(reason, point.label(), result["e2e_latency_s"], detail)
    t_sim = time.perf_counter()
    ranked = rank(feasible, lambda result: rank_key(objective, result))
    best_rows = ranked[:top]
    for row in ranked[top:]:
        reason, detail = slower_reason(row.result, best_rows[0].result)
        lose(reason, row.label, row.result["e2e_latency_s"], detail)
    counts = {"plans": enum.total, "not_divisible": enum.rejected,
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
