"""Placement: which pool (and which devices of it) runs each pipeline stage.

A pipeline stage is ``tp·cp·dp`` devices (all replicas of that stage). Stages placed on a pool
take consecutive blocks of its devices in rank order (Megatron order: pipeline stages
outermost), so stage j of a pool holds devices [j·S, (j+1)·S) and the nodes under them.

Each stage gets a :class:`StageHardware`: its pool's device and links plus the worst straggler
among its devices — a synchronous step waits for the slowest member of every tensor-parallel
group and every data-parallel reduction, so the stage runs at its slowest device's pace and its
collectives at its slowest link's. Stragglers in different replicas of different stages are
combined per stage (conservative: one pipeline that has all of them).
"""

from __future__ import annotations

from dataclasses import dataclass

from archsim.spec.device import DeviceSpec
from archsim.spec.hardware import PoolSpec
from archsim.spec.placement import balance_mode, stage_pool_names
from archsim.spec.scenario import ScenarioSpec


@dataclass(frozen=True)
class StageHardware:
    """The devices and links one pipeline stage runs on."""

    stage: int
    pool: PoolSpec
    first_device: int
    """Index in the pool of the stage's first device."""
    devices: int
    speed: float = 1.0
    """Compute speed / nominal of the stage's slowest device."""
    nic_scale: float = 1.0
    intra_scale: float = 1.0

    @property
    def device(self) -> DeviceSpec:
        return self.pool.device

    @property
    def key(self) -> tuple:
        """Stages with equal keys cost the same (used to share costed templates)."""
        return (self.pool.name, self.speed, self.nic_scale, self.intra_scale)

    @property
    def nodes(self) -> range:
        per = self.pool.devices_per_node
        return range(self.first_device // per, (self.first_device + self.devices - 1) // per + 1)


@dataclass(frozen=True)
class Placement:
    stages: tuple[StageHardware, ...]
    devices: int
    """Devices of the pools the stages use."""
    balance: bool
    """Layers per stage are to be balanced by speed (the stages' pools differ, or asked)."""

    @property
    def pools(self) -> list[str]:
        return [s.pool.name for s in self.stages]

    @property
    def heterogeneous(self) -> bool:
        return len({s.pool.name for s in self.stages}) > 1


def devices_used(sc: ScenarioSpec) -> int:
    """Devices of the pools the training pipeline runs on (all pools without a placement)."""
    cluster = sc.cluster
    names = stage_pool_names(sc.plan.placement, sc.plan.pp)
    if names is None:
        return cluster.total_devices
    return sum(cluster.pool(n).count for n in dict.fromkeys(names))


def resolve_placement(sc: ScenarioSpec, stage_devices: int
                      ) -> tuple[Placement | None, list[str]]:
    """Stage → pool for ``sc`` with ``stage_devices`` (= tp·cp·dp) devices per stage."""
    cluster, pp = sc.cluster, sc.plan.pp
    names = stage_pool_names(sc.plan.placement, pp)
    reasons: list[str] = []
    if names is not None and len(names) != pp:
        return None, [f"plan.placement.stages places {len(names)} stage"
                      f"{'s' if len(names) != 1 else ''}, but plan.pp is {pp}"]
    if names is None:
        names = []
        for pool in cluster.pools:
            if pool.count % stage_devices:
                reasons.append(f"pool {pool.name!r} has {pool.count} devices, not a multiple "
                               f"of the {stage_devices} devices of a pipeline stage "
                               f"(tp·cp·dp); give plan.placement.stages")
                continue
            names.extend([pool.name] * (pool.count // stage_devices))
        if not reasons and len(names) != pp:
            reasons.append(f"the pools hold {len(names)} pipeline stages of {stage_devices} "
                           f"devices, plan.pp is {pp}")
        if reasons:
            return None, reasons
    per_pool: dict[str, int] = {}
    for name in names:
        per_pool[name] = per_pool.get(name, 0) + 1
    for name, n in per_pool.items():
        count = cluster.pool(name).count
        if n * stage_devices != count:
            reasons.append(f"pool {name!r} has {count} devices, but holds {n} stage"
                           f"{'s' if n > 1 else ''} × {stage_devices} devices (tp·cp·dp) = "
                           f"{n * stage_devices}")
    if reasons:
        return None, reasons
    seen: dict[str, int] = {}
    stages = []
    for s, name in enumerate(names):
        pool = cluster.pool(name)
        j = seen.get(name, 0)
        seen[name] = j + 1
        stages.append(_stage_hardware(s, pool, j * stage_devices, stage_devices))
    mixed = len(set(names)) > 1
    explicit = isinstance(sc.plan.placement, dict) and "balance" in sc.plan.placement
    balance = (balance_mode(sc.plan.placement) == "speed" and (mixed or explicit)
               and sc.plan.layers_per_stage is None)
    used = sum(cluster.pool(n).count for n in per_pool)
    return Placement(stages=tuple(stages), devices=used, balance=balance), []


def slowed_devices(hw: StageHardware, group: int) -> int:
    """Devices of stage ``hw`` that run at its slowed compute pace: those of each synchronous
    group (``group`` = tp·cp consecutive ranks, Megatron order) holding a device slower than
    nominal; the stage's other replicas run at nominal speed and wait, idle, at the
    data-parallel reduction (0 when no straggler slows the stage's compute)."""
    if hw.speed >= 1.0:
        return 0
    per_node = hw.pool.devices_per_node
    slowed = 0
    for start in range(hw.first_device, hw.first_device + hw.devices, group):
        last = start + group - 1
        if any(s.speed < 1.0 and (start <= s.device <= last if s.device is not None else
                                  start // per_node <= s.node <= last // per_node)
               for s in hw.pool.stragglers):
            slowed += group
    return slowed


def _stage_hardware(stage: int, pool: PoolSpec, first: int, count: int) -> StageHardware:
    per_node = pool.devices_per_node
    last = first + count - 1
    speed = nic = intra = 1.0
    for s in pool.stragglers:
        if s.device is not None:
            hit = first <= s.device <= last
        else:
            hit = first // per_node <= s.node <= last // per_node
        if hit:
            speed, nic, intra = (min(speed, s.speed), min(nic, s.nic_speed),
                                 min(intra, s.intra_speed))
    return StageHardware(stage=stage, pool=pool, first_device=first, devices=count,
                         speed=speed, nic_scale=nic, intra_scale=intra)
