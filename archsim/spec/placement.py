"""``plan.placement``: which pool of a cluster runs which pipeline stages (or serving phases).

The placement is a mapping so that its forms coexist:

* ``stages: [a100, a100, h100, h100]`` — one pool per pipeline stage, in stage order; or
  ``stages: {a100: 2, h100: 2}`` — stages per pool, in that order;
* ``balance: speed | even`` — layers per stage when ``plan.layers_per_stage`` is not given:
  ``speed`` (default) balances them by each pool's speed for the model, memory permitting;
  ``even`` splits them evenly;
* ``prefill: <pool>``, ``decode: <pool>`` — disaggregated serving (the inference engine).

Without a placement, a cluster of several pools runs its stages on the pools in the order they
are listed, each pool taking as many stages as its devices hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archsim.spec.hardware import ClusterSpec

PLACEMENT_KEYS = ("stages", "balance", "prefill", "decode")
BALANCE_MODES = ("speed", "even")
PHASES = ("prefill", "decode")
PHASE_KEYS = ("pool", "tp", "pp", "replicas")


def phase_entry(value: Any) -> Any:
    """A serving phase's placement as a mapping: a bare pool name is ``{pool: name}``."""
    return {"pool": value} if isinstance(value, str) else value


def serving_placement_problems(raw: Any, pools: list[str]) -> list[str]:
    """Why ``plan.placement`` is not a disaggregated serving placement {prefill, decode} on
    pools ``pools`` (empty when it is); each value a pool name or {pool, tp, pp, replicas}."""
    if not isinstance(raw, Mapping):
        return [f"plan.placement: expected a mapping {{prefill: <pool>, decode: <pool>}} for "
                f"serving; got {raw!r}"]
    problems = [f"plan.placement.{k}: unknown key for serving; expected prefill and decode"
                for k in raw if k not in PHASES]
    problems += [f"plan.placement.{k}: required for disaggregated serving (a pool name)"
                 for k in PHASES if k not in raw]
    if problems:
        return problems
    chosen = []
    for phase in PHASES:
        value = raw[phase]
        entry = phase_entry(value)
        where = f"plan.placement.{phase}"
        if not isinstance(entry, Mapping) or "pool" not in entry:
            problems.append(f"{where}: expected a pool name or a mapping with pool (and tp, "
                            f"pp, replicas); got {value!r}")
            continue
        problems += [f"{where}.{k}: unknown key; expected one of: {', '.join(PHASE_KEYS)}"
                     for k in entry if k not in PHASE_KEYS]
        if entry["pool"] not in pools:
            problems.append(f"{where}: unknown pool {entry['pool']!r}; the cluster's pools "
                            f"are: {', '.join(pools)}")
        for key in ("tp", "pp", "replicas"):
            v = entry.get(key)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                problems.append(f"{where}.{key}: expected a whole number ≥ 1; got {v!r}")
        chosen.append(entry["pool"])
    if len(chosen) == 2 and chosen[0] == chosen[1]:
        problems.append(f"plan.placement: prefill and decode name the same pool {chosen[0]!r}; "
                        "disaggregated serving needs two pools")
    return problems


def stage_pool_names(placement: Any, pp: int) -> list[str] | None:
    """Pool name per pipeline stage from a *valid* placement, or None if it names no stages."""
    if not isinstance(placement, Mapping) or placement.get("stages") is None:
        return None
    stages = placement["stages"]
    if isinstance(stages, Mapping):
        return [name for name, n in stages.items() for _ in range(n)]
    return list(stages)


def balance_mode(placement: Any) -> str:
    if isinstance(placement, Mapping):
        return placement.get("balance", "speed")
    return "speed"


def placement_problems(placement: Any, cluster: ClusterSpec, pp: int) -> list[str]:
    """Why ``placement`` is not a placement on ``cluster`` (empty when it is). A number of
    stages other than ``pp`` is a plan that cannot run, as a pp that does not divide the
    devices: archsim/plan/placement.py makes it an infeasible result, not an input error."""
    if placement is None:
        return []
    names = [p.name for p in cluster.pools]
    known = ", ".join(names)
    if not isinstance(placement, Mapping):
        return [f"plan.placement: expected a mapping such as {{stages: [{names[0]}, ...]}} "
                f"(got {placement!r})"]
    problems = []
    for key in placement:
        if key not in PLACEMENT_KEYS:
            problems.append(f"plan.placement.{key}: unknown key; expected one of: "
                            f"{', '.join(PLACEMENT_KEYS)}")
    for phase in ("prefill", "decode"):
        pool = placement.get(phase)
        if isinstance(pool, Mapping):  # {pool, tp, pp, replicas}: see archsim/plan/serving.py
            pool = pool.get("pool")
        if pool is not None and pool not in names:
            problems.append(f"plan.placement.{phase}: pool {pool!r} does not exist "
                            f"(pools: {known})")
    balance = placement.get("balance", "speed")
    if balance not in BALANCE_MODES:
        problems.append(f"plan.placement.balance: {balance!r} is not one of "
                        f"{', '.join(BALANCE_MODES)}")
    stages = placement.get("stages")
    if stages is None:
        return problems
    if isinstance(stages, (Mapping, list, tuple)) and not stages:
        problems.append(f"plan.placement.stages: expected at least one stage: a pool per "
                        f"pipeline stage, or stages per pool (pools: {known})")
        return problems
    if isinstance(stages, Mapping):
        for pool, n in stages.items():
            if pool not in names:
                problems.append(f"plan.placement.stages.{pool}: pool {pool!r} does not exist "
                                f"(pools: {known})")
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                problems.append(f"plan.placement.stages.{pool}: expected a number of stages "
                                f"≥ 1 (got {n!r})")
    elif isinstance(stages, (list, tuple)):
        for i, pool in enumerate(stages):
            if pool not in names:
                problems.append(f"plan.placement.stages[{i}]: pool {pool!r} does not exist "
                                f"(pools: {known})")
    else:
        return [*problems, f"plan.placement.stages: expected a list of pool names, one per "
                           f"pipeline stage, or a mapping pool → stages (got {stages!r})"]
    return problems
