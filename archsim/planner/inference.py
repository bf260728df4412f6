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

from dataclasses import asdict, dataclass

from archsim.plan.inference import Degrees, degree_reasons, resolve_precision
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


def _divisors(n: int, cap: int) -> tuple[int, ...]:
    return tuple(d for d in range(1, min(n, cap) + 1) if n % d == 0)


def inference_points(sc: ScenarioSpec, space) -> tuple[list[InferencePoint], int,
                                                       list[tuple[InferencePoint, str]]]:
    """(plans that divide, how many do not, one example of each distinct first reason)."""
    fixed = [a for a in ("cp", "sp", "zero", "micro_batch", "recompute", "schedule",
                         "virtual_stages") if getattr(space, a) is not None]
    if fixed:
        raise SpecError([f"--axis {', '.join(fixed)}: not an axis of inference plans "
                         f"(axes: {', '.join(INFERENCE_AXES)})"])
    pool = sc.cluster.pools[0]
    model = resolve_precision(sc, pool.device).model
    count, batch = pool.count, sc.workload.batch
    tps = space.tp or _divisors(count, model.heads)
    pps = space.pp or _divisors(count, model.layers)
    eps = space.ep or (_divisors(model.moe.experts, model.moe.experts) if model.moe else (1,))
    valid: list[InferencePoint] = []
    rejected = 0
    examples: list[tuple[InferencePoint, str]] = []
    for tp in tps:
        for pp in pps:
            dp = max(1, count // (tp * pp))
            for ep in eps:
                point = InferencePoint(tp=tp, pp=pp, dp=dp, ep=ep)
                reasons = []
                if count % (tp * pp):
                    reasons.append(f"{count} devices are not divisible by tp·pp = {tp}·{pp} = "
                                   f"{tp * pp}")
                else:
                    reasons += degree_reasons(model, Degrees(tp=tp, pp=pp, ep=ep, dp=dp), None)
                    if batch % dp:
                        reasons.append(f"batch {batch} is not divisible by dp {dp}")
                if not reasons:
                    valid.append(point)
                    continue
                rejected += 1
                if len(examples) < 3 and all(r != reasons[0] for _, r in examples):
                    examples.append((point, reasons[0]))
    return valid, rejected, examples


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
