"""Layers per pipeline stage balanced by each stage's speed for the model, memory permitting.

Each stage s is costed on its own hardware (pool, straggler factor): t_s, the forward +
backward + recomputation time of one layer for one micro-batch, and e_s, its extra work (the
embedding on the first stage, the LM head on the last). With n_s layers the stage's time per
micro-batch is n_s·t_s + e_s; the balanced split minimizes the slowest stage,

    minimize max_s (n_s·t_s + e_s)  subject to  Σ n_s = L,  v ≤ n_s ≤ cap_s,  v | n_s

(v = virtual stages per device), where cap_s is the most layers whose model states and
activations fit in the stage's device memory. Solved exactly: the optimum is one of the values
k·v·t_s + e_s, and for a candidate T the largest counts that meet it are monotone in T, so the
smallest feasible T is found by bisection over the sorted candidates.

Memory per layer (closed form, like the planner's bounds): model states (ZeRO-sharded) plus
saved activations × micro-batches in flight at stage s (1F1B: min(m, p − s); GPipe: m;
interleaved: × (1 + (p−1)/(p·v)), Korthikanti et al. 2022 §4.2.3). The DES measures the real
peak afterwards; if no split fits, memory is ignored here and the result reports it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from archsim.cost.gradients import gradient_path
from archsim.cost.memory import model_state_bytes
from archsim.plan.compress import Compression
from archsim.plan.layout import Layout, resolve_layout
from archsim.plan.placement import Placement, devices_used, resolve_placement
from archsim.plan.schedules import alive_at_first_backward
from archsim.plan.stage_costs import expert_dp, stage_costs, tied_embedding_copy, training_shape
from archsim.spec.placement import stage_pool_names
from archsim.spec.scenario import ScenarioSpec


@dataclass(frozen=True)
class Balance:
    layers_per_stage: list[int]
    layer_s: list[float]
    """Forward + backward + recompute time of one layer for one micro-batch, per stage."""
    extra_s: list[float]
    """Embedding / head time per micro-batch, per stage."""
    memory_cap_layers: list[int | None]
    """Most layers that fit in each stage's memory (None: not computed)."""
    memory_limited: bool
    """Memory moved layers away from where speed alone would put them."""

    @property
    def stage_s(self) -> list[float]:
        """Time per micro-batch of each stage with the balanced split."""
        return [n * t + e for n, t, e in
                zip(self.layers_per_stage, self.layer_s, self.extra_s, strict=True)]


def near_even(layers: int, pp: int, unit: int = 1) -> list[int] | None:
    """An even split in multiples of ``unit`` (None if there are too few layers)."""
    units = layers // unit
    if layers % unit or units < pp:
        return None
    base, extra = divmod(units, pp)
    return [(base + (1 if i < extra else 0)) * unit for i in range(pp)]


def balance_layers(sc: ScenarioSpec, layout: Layout, placement: Placement,
                   compression: Compression | None = None) -> Balance:
    """The split of ``sc.model``'s layers over ``placement``'s stages that minimizes the
    slowest stage (``layout`` gives the degrees and micro-batches; its split is ignored)."""
    model, plan, wl = sc.model, sc.plan, sc.workload
    shape = training_shape(sc, layout, compression)
    grads = gradient_path(plan.grad_accumulation, wl.dtype)
    costs = {}
    for hw in placement.stages:
        if hw.key not in costs:
            costs[hw.key] = stage_costs(sc, layout, shape, hw)
    p, v, m, L = layout.pp, layout.chunks, layout.micro_batches, model.layers
    kinds = [model.is_moe_layer(i) for i in range(L)]
    layer_s, extra_s, caps = [], [], []
    for s, hw in enumerate(placement.stages):
        c = costs[hw.key]
        per = [c.layers[k] for k in kinds]
        layer_s.append(sum(lc.fwd.time_s + lc.bwd.time_s + lc.recompute.time_s
                           for lc in per) / L)
        extra, extra_params, extra_saved = 0.0, 0.0, 0.0
        if s == 0:
            extra += c.embed_f.time_s + c.embed_b.time_s
            extra_params += c.embed_params
            extra_saved += c.embed_saved
        if s == p - 1:
            extra += c.head_f.time_s + c.head_b.time_s
            extra_params += c.head_params
            extra_saved += c.head_saved
            extra_params += tied_embedding_copy(model, layout)
        extra_s.append(extra)

        def state_bytes(params: float, experts: float = 0.0) -> float:
            return model_state_bytes(params, wl.dtype, wl.optimizer, plan.zero,
                                     layout.dp_shard, expert_params=experts,
                                     expert_shard=expert_dp(layout),
                                     grad_bytes=grads.memory).total

        states = state_bytes(sum(lc.params for lc in per) / L,
                             sum(lc.expert_params for lc in per) / L)
        alive = _in_flight(plan.schedule, p, m, v, s)
        act = sum(lc.saved for lc in per) / L * alive
        # what the recomputation of one layer brings back during its backward (selective's
        # s×s tensors too: the split had been chosen without them and then did not fit)
        work = max(lc.working_for(plan.recompute) for lc in per)
        free = (hw.device.usable_memory - work - state_bytes(extra_params)
                - extra_saved * alive)
        caps.append(max(0, int(free // (states + act))) if states + act > 0 else None)
    counts = min_max_split(layer_s, extra_s, L, v, caps)
    limited = False
    if counts is None:  # no split fits in memory: balance by speed, let the result say so
        counts = min_max_split(layer_s, extra_s, L, v, [None] * p)
    else:
        free_counts = min_max_split(layer_s, extra_s, L, v, [None] * p)
        limited = free_counts != counts
    assert counts is not None
    return Balance(layers_per_stage=counts, layer_s=layer_s, extra_s=extra_s,
                   memory_cap_layers=caps, memory_limited=limited)


def _in_flight(schedule: str, p: int, m: int, v: int, s: int) -> float:
    """Stage ``s``'s activations at its first backward in units of all its layers' for one
    micro-batch: the chunks alive then (each 1/v of its layers). Interleaving keeps
    2(p − s − 1) + (v − 1)p + 1 chunks, not Korthikanti's first-stage factor on every stage."""
    return alive_at_first_backward(schedule, s, p, m, v) / v


def min_max_split(t: list[float], e: list[float], layers: int, unit: int,
                  caps: list[int | None]) -> list[int] | None:
    """Counts (multiples of ``unit``, ≥ unit, ≤ cap) summing to ``layers`` that minimize
    max(n_s·t_s + e_s); None if the caps do not allow any split."""
    p = len(t)
    units = layers // unit
    cap_units = [units if c is None else min(units, c // unit) for c in caps]
    if any(c < 1 for c in cap_units) or sum(cap_units) < units or units < p:
        return None

    def counts_for(limit: float) -> list[int] | None:
        out = []
        for s in range(p):
            k = math.floor((limit - e[s]) / (unit * t[s]) + 1e-9) if t[s] > 0 else cap_units[s]
            k = min(k, cap_units[s])
            if k < 1:
                return None
            out.append(k)
        return out if sum(out) >= units else None

    candidates = sorted({k * unit * t[s] + e[s] for s in range(p)
                         for k in range(1, cap_units[s] + 1)})
    lo, hi = 0, len(candidates) - 1
    if counts_for(candidates[hi]) is None:
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if counts_for(candidates[mid]) is None:
            lo = mid + 1
        else:
            hi = mid
    best = counts_for(candidates[lo])
    assert best is not None
    # trim the surplus from the slowest stages first (keeps the maximum at the optimum)
    while sum(best) > units:
        s = max((i for i in range(p) if best[i] > 1),
                key=lambda i: best[i] * unit * t[i] + e[i])
        best[s] -= 1
    return [k * unit for k in best]


def resolve_pipeline(sc: ScenarioSpec, compression: Compression | None = None
                     ) -> tuple[Layout | None, Placement | None, Balance | None, list[str]]:
    """Layout, placement and (where the stages' pools differ or it is asked for) the layer
    balance of ``sc``; or Nones with the reasons the plan does not run."""
    plan, model = sc.plan, sc.model
    devices = devices_used(sc)
    chunks = plan.virtual_stages if plan.schedule == "interleaved" else 1
    may_balance = (plan.layers_per_stage is None and
                   (len(sc.cluster.pools) > 1 or
                    (isinstance(plan.placement, Mapping) and "balance" in plan.placement)))
    provisional = near_even(model.layers, plan.pp, chunks) if may_balance else None
    names = stage_pool_names(plan.placement, plan.pp)
    if names is not None and len(names) != plan.pp:  # before the devices they hold are counted
        return None, None, None, [f"plan.placement.stages places {len(names)} stage"
                                  f"{'s' if len(names) != 1 else ''}, but plan.pp is {plan.pp}"]
    layout, reasons = resolve_layout(sc, devices, provisional)
    if layout is None:
        if names is not None and devices != sc.cluster.total_devices:
            pools = list(dict.fromkeys(names))
            reasons = [*reasons, f"the pipeline runs on the {devices} devices of the pool"
                                 f"{'s' if len(pools) > 1 else ''} plan.placement.stages "
                                 f"names ({', '.join(pools)})"]
        return None, None, None, reasons
    placement, reasons = resolve_placement(sc, layout.tp * layout.cp * layout.dp)
    if placement is None:
        return None, None, None, reasons
    balance = None
    if placement.balance:
        balance = balance_layers(sc, layout, placement, compression)
        layout, reasons = resolve_layout(sc, devices, balance.layers_per_stage)
    return layout, placement, balance, reasons
