"""Serving layout: which replicas run where, and what each holds in memory.

Colocated serving (no ``plan.placement``): every pool of the cluster runs replicas of
``plan.tp`` × ``plan.pp`` devices that prefill and decode (``workload.replicas`` of them on a
single pool; default: as many as fit). Disaggregated serving::

    plan:
      placement:
        prefill: h100                       # a pool name, or
        decode: {pool: a100, tp: 2, replicas: 3}   # a mapping with pool, tp, pp, replicas

puts prefill replicas on one pool and decode replicas on another; the KV cache of each prompt
crosses the cluster's route between the two pools (``hardware.cluster.links``) and both ends'
NICs (archsim/plan/kv_path.py).

Memory per device (vLLM's rule): ``gpu_memory_utilization`` × capacity holds the weights, the
activations of a full batch (max_batched_tokens tokens) and the runtime reserve; what remains is
the paged KV cache, in blocks of ``block_size`` tokens (the same block count on every stage).
A pipeline-parallel replica keeps pp batches in flight (one per virtual engine,
archsim/sim/serving/virtual.py); they share these blocks, and each stage runs one batch at a
time, so one batch's activations are counted (the hidden states of the other batches, waiting
between stages, e·tokens·hidden each, are left out: an assumption, small beside the cache).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archsim.plan.inference import (
    Degrees,
    InferencePlan,
    build_inference_plan,
    degree_reasons,
    dtype_reasons,
    resolve_precision,
)
from archsim.plan.kv_path import KvPath, KvSide
from archsim.spec.errors import SpecError
from archsim.spec.hardware import PoolSpec
from archsim.spec.placement import PHASES, phase_entry, serving_placement_problems
from archsim.spec.scenario import ScenarioSpec
from archsim.spec.units import format_quantity
from archsim.spec.workload import ServingWorkload


@dataclass(frozen=True)
class Placement:
    """Identical replicas on one pool."""

    pool: PoolSpec
    tp: int
    pp: int
    replicas: int
    role: str  # both | prefill | decode


@dataclass
class ReplicaGroup:
    placement: Placement
    plan: InferencePlan
    kv_blocks: int
    memory: dict[str, float]

    @property
    def devices(self) -> int:
        p = self.placement
        return p.replicas * p.tp * p.pp


@dataclass
class ServingLayout:
    groups: list[ReplicaGroup]
    disaggregated: bool
    link: KvPath | None = None
    """Disaggregated runs: how the KV cache crosses from the prefill to the decode pool."""
    colocated: list[ReplicaGroup] | None = None
    """Disaggregated runs: the same devices serving colocated, for comparison."""
    colocated_reasons: list[str] = field(default_factory=list)
    """Why that colocated deployment cannot run (it is still simulated, and says so)."""


def parse_placement(sc: ScenarioSpec) -> dict[str, dict[str, Any]] | None:
    """``plan.placement`` as {phase: {pool, tp, pp, replicas}}, or None (colocated).

    Raises SpecError for unknown phases, keys or pool names (naming the known ones).
    """
    raw = sc.plan.placement
    if raw is None:
        return None
    problems = serving_placement_problems(raw, [p.name for p in sc.cluster.pools])
    if problems:  # the scenario's validation reports these with its file; a spec built
        raise SpecError(problems)  # without it still gets them
    return {phase: phase_entry(raw[phase]) for phase in PHASES}


def _kv_path(sc: ScenarioSpec, pre: Placement, dec: Placement) -> KvPath:
    """The route a prompt's KV cache takes from the prefill pool to the decode pool
    (archsim/plan/kv_path.py), through other pools where no link joins the two (the cluster
    is validated to join every pool)."""
    route = sc.cluster.route(pre.pool.name, dec.pool.name)
    return KvPath(route=tuple(route), sender=KvSide(pre.pool, pre.tp * pre.pp),
                  receiver=KvSide(dec.pool, dec.tp * dec.pp))


def resolve_serving_layout(sc: ScenarioSpec) -> tuple[ServingLayout | None, list[str]]:
    """Replica groups of ``sc`` and the reasons it cannot run (memory, divisibility)."""
    wl = sc.workload
    assert isinstance(wl, ServingWorkload)
    plan = sc.plan
    reasons: list[str] = []
    if plan.cp > 1:
        reasons.append(f"context parallelism (cp {plan.cp}) is not simulated for serving")
    if plan.ep > 1:
        reasons.append(f"expert parallelism (ep {plan.ep}) is simulated for static-batch "
                       "inference only; serve MoE models with tp")
    if reasons:  # the replicas' memory would be sized for a layout that does not run
        return None, reasons
    placement = parse_placement(sc)
    pools = {p.name: p for p in sc.cluster.pools}
    if placement is None:
        if wl.replicas is not None and len(pools) > 1:
            reasons.append("workload.replicas applies to a single pool; with several pools "
                           "each runs as many replicas as fit")
        wanted = [Placement(pool=p, tp=plan.tp, pp=plan.pp, role="both",
                            replicas=(wl.replicas if wl.replicas is not None and len(pools) == 1
                                      else p.count // (plan.tp * plan.pp)))
                  for p in pools.values()]
        groups = _groups(sc, wanted, reasons)
        return (ServingLayout(groups=groups, disaggregated=False) if not reasons else None,
                reasons)
    phases = []
    for phase in PHASES:
        e = placement[phase]
        pool = pools[e["pool"]]
        tp, pp = e.get("tp", plan.tp), e.get("pp", plan.pp)
        phases.append(Placement(pool=pool, tp=tp, pp=pp, role=phase,
                                replicas=e.get("replicas", pool.count // (tp * pp))))
    link = _kv_path(sc, phases[0], phases[1])
    groups = _groups(sc, phases, reasons)
    colocated_reasons: list[str] = []
    colocated = _groups(sc, [Placement(pool=p.pool, tp=p.tp, pp=p.pp, replicas=p.replicas,
                                       role="both") for p in phases], colocated_reasons)
    if reasons:
        return None, reasons
    return ServingLayout(groups=groups, disaggregated=True, link=link, colocated=colocated,
                         colocated_reasons=colocated_reasons), []


def _groups(sc: ScenarioSpec, wanted: list[Placement], reasons: list[str]
            ) -> list[ReplicaGroup]:
    wl = sc.workload
    assert isinstance(wl, ServingWorkload)
    out = []
    for pl in wanted:
        label = f"pool {pl.pool.name}" + (f" ({pl.role})" if pl.role != "both" else "")
        size = pl.tp * pl.pp
        if pl.replicas < 1 or pl.replicas * size > pl.pool.count:
            reasons.append(f"{label}: {pl.replicas} replicas of tp·pp = {pl.tp}·{pl.pp} need "
                           f"{max(pl.replicas, 1) * size} devices; the pool has {pl.pool.count}")
            continue
        device = pl.pool.device
        reasons.extend(f"{label}: {r}" for r in dtype_reasons(device, wl.dtype, sc))
        precision = resolve_precision(sc, device)
        reasons.extend(f"{label}: {r}" for r in precision.reasons)
        deg = Degrees(tp=pl.tp, pp=pl.pp)
        split = degree_reasons(precision.model, deg, sc.plan.layers_per_stage)
        if split:
            reasons.extend(f"{label}: {r}" for r in split)
            continue
        iplan = build_inference_plan(sc, pl.pool, deg, precision, stage_stride=pl.tp)
        blocks, memory, why = kv_blocks(iplan, wl)
        if why:
            reasons.append(f"{label}: {why}")
        out.append(ReplicaGroup(placement=pl, plan=iplan, kv_blocks=blocks, memory=memory))
    return out


def kv_blocks(iplan: InferencePlan, wl: ServingWorkload
              ) -> tuple[int, dict[str, float], str | None]:
    """KV-cache blocks per replica, the busiest device's memory, and why none fit."""
    device = iplan.device
    cap = device.memory.capacity
    budget = wl.gpu_memory_utilization * cap
    tokens = wl.max_batched_tokens
    model, tp = iplan.model, iplan.degrees.tp
    blocks = None
    worst: dict[str, float] = {}
    for s in range(iplan.degrees.pp):
        weights = iplan.weight_bytes[s]
        scores = (model.heads / tp) * tokens * model.max_seq_len
        act = iplan.activation_bytes(s, tokens, scores, min(wl.max_num_seqs, tokens))
        reserved = device.memory.reserved
        free = budget - weights - act - reserved
        per_block = iplan.kv_bytes_per_token[s] * wl.block_size
        n = int(free // per_block) if free > 0 else 0
        if blocks is None or n < blocks:
            blocks = n
            worst = {"weights": weights, "activations": act, "other": reserved,
                     "kv_block_bytes": per_block, "budget": budget, "capacity": cap}
    assert blocks is not None
    worst["kv_cache"] = blocks * worst["kv_block_bytes"]
    worst["peak"] = worst["weights"] + worst["activations"] + worst["other"] + \
        worst["kv_cache"]
    if blocks <= 0:
        fq = format_quantity
        return 0, worst, (f"weights {fq(worst['weights'], 'bytes')} + activations "
                          f"{fq(worst['activations'], 'bytes')} + reserve "
                          f"{fq(worst['other'], 'bytes')} exceed {wl.gpu_memory_utilization:g}"
                          f" × {fq(cap, 'bytes')} per device: no room for the KV cache")
    return blocks, worst, None
