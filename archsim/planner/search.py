"""The auto-planner's entry point: check the request, search training or inference plans.

Training (archsim.planner.train_search): enumerate the plan space — and, on a cluster of
several pools, placements of the pipeline stages on the pools — prune with lower bounds on
memory and step time, simulate the survivors best first, rank, say why the others lost.
Inference (archsim.planner.inference): tp × pp × ep, every plan simulated.
"""

from __future__ import annotations

import time

from archsim.planner.result import OBJECTIVES, PlanSearch
from archsim.planner.space import SearchSpace
from archsim.spec.errors import SpecError
from archsim.spec.scenario import ScenarioSpec

# Most plans one search returns: each is simulated with the DES (~0.04 s for GPT-3 175B on
# 1024 GPUs), so --top 10**9 would simulate the whole space (tens of thousands of plans, over
# an hour); 100 is more than a table anyone reads.
MAX_TOP = 100


def search_plans(sc: ScenarioSpec, objective: str = "throughput", top: int = 5,
                 space: SearchSpace | None = None) -> PlanSearch:
    """Search the plan space of ``sc`` for the ``top`` best plans by ``objective``.

    Raises SpecError for an unknown objective, a cost objective without a device price, a
    workload kind the planner does not search (serving), an axis that does not apply, or a
    static-batch inference scenario on several pools.
    """
    wall0 = time.perf_counter()
    _check(sc, objective, top)
    space = space or SearchSpace()
    if sc.workload.kind == "inference":
        from archsim.planner.inference import search_inference

        return search_inference(sc, objective, top, space, wall0)
    from archsim.planner.train_search import search_training

    return search_training(sc, objective, top, space, wall0)


def top_problems(top: int, label: str = "top") -> list[str]:
    """What is wrong with showing ``top`` plans (``label``: how the caller names it)."""
    if top < 1:
        return [f"{label} {top}: expected at least 1"]
    if top > MAX_TOP:
        return [f"{label} {top}: expected at most {MAX_TOP} (each plan shown is simulated)"]
    return []


def _check(sc: ScenarioSpec, objective: str, top: int) -> None:
    problems = []
    if objective not in OBJECTIVES:
        problems.append(f"objective {objective!r} is not one of: {', '.join(OBJECTIVES)}")
    problems.extend(top_problems(top))
    kind = sc.workload.kind
    if kind not in ("training", "inference"):
        problems.append(f"workload.kind: the planner searches training and inference plans; "
                        f"got {kind!r}")
    if kind == "inference" and len(sc.cluster.pools) > 1:
        problems.append("hardware.cluster: the planner searches static-batch inference plans "
                        f"on one pool; this cluster has {len(sc.cluster.pools)} pools (simulate "
                        "a pipeline across them with plan.placement.stages)")
    if objective == "cost":
        missing = [p.device.name for p in sc.cluster.pools if p.device.price_per_hour is None]
        if missing:
            problems.append(f"objective cost needs price_per_hour in the device profile; "
                            f"{', '.join(missing)} has none")
    if problems:
        raise SpecError(problems)
