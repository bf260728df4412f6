"""Per-shape costs the planner's bounds are built from, cached across plans.

A profile is one layer of each kind (dense / MoE), the embedding and the head, for one
micro-batch on one tensor-parallel rank of one pool: the engine's own costed templates
(archsim.plan.training.stage_costs — the same op lists, cost functions, rank groups and
activation accounting), taken at the pool's nominal speed. Stragglers only slow the engine
down, so ignoring them keeps every bound a lower bound.
"""

from __future__ import annotations

from dataclasses import dataclass

from archsim.cost.comm import CommGroup, collective_time
from archsim.cost.compute import compute_time
from archsim.graph.backward import optimizer_op
from archsim.plan.compress import resolve_compression
from archsim.plan.layout import Layout
from archsim.plan.opcost import PhaseCost
from archsim.plan.placement import StageHardware
from archsim.plan.stage_costs import rank_groups, stage_costs, training_shape
from archsim.planner.space import Candidate, scenario_for
from archsim.spec.device import DeviceSpec
from archsim.spec.hardware import PoolSpec
from archsim.spec.scenario import ScenarioSpec
from archsim.spec.units import BYTES_PER_ELEMENT


@dataclass(frozen=True, slots=True)
class OpsCost:
    """Compute, blocking communication and recomputation of a run of ops on one rank."""

    compute: float = 0.0
    comm: float = 0.0
    recompute: float = 0.0
    params: float = 0.0
    saved: float = 0.0
    working: float = 0.0
    expert_params: float = 0.0
    """The part of ``params`` in local MoE experts (reduced over the expert-DP group)."""
    unit: float = 0.0
    """Parameters of the largest unit a ZeRO-3 gather fetches (LayerCost.gather_unit)."""
    unit_dense: float = 0.0
    """The same without local experts (LayerCost.gather_unit_dense)."""

    @property
    def task_s(self) -> float:
        return self.compute + self.comm + self.recompute


@dataclass(frozen=True, slots=True)
class Profile:
    """Per-micro-batch costs of one layer of each kind, the embedding and the head."""

    pool: PoolSpec
    fwd: dict[bool, OpsCost]
    """MoE layer? → forward cost of one layer (params, saved and working bytes too)."""
    bwd: dict[bool, OpsCost]
    """MoE layer? → backward cost of one layer, recomputation included."""
    embed_fwd: OpsCost
    embed_bwd: OpsCost
    head_fwd: OpsCost
    head_bwd: OpsCost


class Profiles:
    """Profiles, data-parallel groups, collective and optimizer times of one scenario."""

    def __init__(self, sc: ScenarioSpec):
        self.compression = resolve_compression(sc, sc.cluster.pools[0].device)
        if self.compression.model is not sc.model:  # structured pruning: a smaller model
            sc = sc.model_copy(update={"model": self.compression.model})
        self.sc = sc
        self.e = BYTES_PER_ELEMENT[sc.workload.dtype]
        self._profiles: dict[tuple, Profile] = {}
        self._comm: dict[tuple, float] = {}
        self._dp_groups: dict[tuple, CommGroup] = {}
        self._optimizer: dict[tuple, float] = {}

    def get(self, c: Candidate, pool: PoolSpec) -> Profile:
        key = (pool.name, c.tp, c.cp, c.ep, c.sp, c.micro_batch, c.recompute)
        prof = self._profiles.get(key)
        if prof is None:
            prof = self._profiles[key] = self._build(c, pool)
        return prof

    def dp_group(self, c: Candidate, pool: PoolSpec) -> CommGroup:
        """The data-parallel group (dp·cp ranks) of ``c`` on ``pool``."""
        return self._group(c, pool, "dp")

    def edp_group(self, c: Candidate, pool: PoolSpec) -> CommGroup:
        """The expert-data-parallel group (dp·cp/ep ranks) of ``c`` on ``pool``."""
        return self._group(c, pool, "edp")

    def _group(self, c: Candidate, pool: PoolSpec, name: str) -> CommGroup:
        key = (name, pool.name, c.tp, c.cp, c.dp, c.ep)
        got = self._dp_groups.get(key)
        if got is None:
            got = self._dp_groups[key] = rank_groups(pool, layout_of(c))[name]
        return got

    def collective(self, kind: str, nbytes: float, group: CommGroup) -> float:
        """Time of a collective on a group from :meth:`dp_group` or :meth:`edp_group`
        (cached; groups are kept alive by that cache, so their id is a safe key)."""
        key = (kind, nbytes, id(group))
        got = self._comm.get(key)
        if got is None:
            got = self._comm[key] = collective_time(kind, nbytes, group).time_s
        return got

    def optimizer_s(self, local_params: float, device: DeviceSpec) -> float:
        key = (device.name, local_params)
        got = self._optimizer.get(key)
        if got is None:
            wl = self.sc.workload
            got = self._optimizer[key] = compute_time(
                optimizer_op(local_params, wl.optimizer, wl.dtype), device)
        return got

    def _build(self, c: Candidate, pool: PoolSpec) -> Profile:
        sc = scenario_for(self.sc, c)
        layout = layout_of(c)
        hw = StageHardware(stage=0, pool=pool, first_device=0, devices=c.tp * c.cp * c.dp)
        costs = stage_costs(sc, layout, training_shape(sc, layout, self.compression), hw)
        fwd = {moe: OpsCost(compute=lc.fwd.compute_s, comm=lc.fwd.comm_s, params=lc.params,
                            saved=lc.saved, working=lc.working_for(c.recompute),
                            expert_params=lc.expert_params, unit=lc.gather_unit,
                            unit_dense=lc.gather_unit_dense)
               for moe, lc in costs.layers.items()}
        bwd = {moe: OpsCost(compute=lc.bwd.compute_s, comm=lc.bwd.comm_s,
                            recompute=lc.recompute.time_s)
               for moe, lc in costs.layers.items()}
        return Profile(
            pool=pool, fwd=fwd, bwd=bwd,
            embed_fwd=_ops_cost(costs.embed_f, costs.embed_params, costs.embed_saved,
                                costs.embed_unit),
            embed_bwd=_ops_cost(costs.embed_b),
            head_fwd=_ops_cost(costs.head_f, costs.head_params, costs.head_saved,
                               costs.head_unit),
            head_bwd=_ops_cost(costs.head_b))


def _ops_cost(cost: PhaseCost, params: float = 0.0, saved: float = 0.0, unit: float = 0.0
              ) -> OpsCost:
    return OpsCost(compute=cost.compute_s, comm=cost.comm_s, params=params, saved=saved,
                   unit=unit, unit_dense=unit)


def layout_of(c: Candidate) -> Layout:
    """The degrees of ``c`` as a Layout (enough for shapes and groups; no layer split)."""
    return Layout(dp=c.dp, tp=c.tp, pp=c.pp, cp=c.cp, ep=c.ep, chunks=c.chunks,
                  micro_batch=c.micro_batch, micro_batches=1, stage_layers=())
