"""A training plan's transfers as flows over named resources (the flow-level network model).

Resources are one direction of one port of a stage's representative device (symmetry: its TP
and DP peers do the same at the same time, each on its own port or NIC share):

* ``s<k>.intra.tx|rx``      the scale-up port (NVLink, PCIe, mesh links; on a torus: the link
  a pipeline send uses), capacity = achieved bandwidth × degradation;
* ``s<k>.intra.d<i>.tx|rx`` torus dimension i (both links of the dimension: 2·b achieved);
* ``s<k>.inter.tx|rx``      the device's share of its node's NICs;
* ``pool<j>.a>b``           pool link j in the direction a → b (per device, as its profile).

On PCIe-only nodes the NIC hangs off the same PCIe link as the device, so inter-node phases
also occupy the ``intra`` port. Latencies and any part of a cost that is not a flow on a link
(the hidden-then-exposed remainder of an overlappable collective) are kept as fixed time, so a
transfer alone takes exactly its contention-free time. Not modelled: contention inside the
spine between different stages' traffic (the fat-tree taper is per device, analytic) and
between stages that share a node's PCIe switch.
"""

from __future__ import annotations

from dataclasses import dataclass

from archsim.cost.comm import CommCost, Phase, torus_link_bandwidth
from archsim.cost.transfer import FlowPhase, Transfer
from archsim.plan.links import intra_peer_bandwidth
from archsim.plan.opcost import PhaseCost
from archsim.plan.placement import StageHardware
from archsim.spec.hardware import ClusterSpec


@dataclass
class FlowPlan:
    capacity: dict[str, float]
    p2p_fwd: list[Transfer]
    """Stage s → s+1 (index s)."""
    p2p_bwd: list[Transfer]
    """Stage s+1 → s (index s)."""
    buckets: list[list[list[Transfer]]]
    """stage → chunk → gradient bucket reductions, each costed on its own group (dp·cp ranks;
    the expert-data-parallel dp·cp/ep ranks for MoE expert buckets) and run on the stage's
    ports."""
    tasks: list[list[tuple[Transfer, Transfer, int]]]
    """stage → chunk → (forward, backward, segments): a task runs as ``segments`` rounds of
    its kernels' share then its blocking collectives' share (one round per layer), each
    transfer being one round's collectives."""


def stage_capacity(hw: StageHardware) -> dict[str, float]:
    """Capacities (bytes/s) of the resources of stage ``hw``."""
    pool, s = hw.pool, hw.stage
    out: dict[str, float] = {}
    link = pool.intra_node
    if link is not None:
        port = (intra_peer_bandwidth(pool) if pool.torus_dims else link.achieved_bandwidth)
        for d in ("tx", "rx"):
            out[f"s{s}.intra.{d}"] = port * hw.intra_scale
            for i, _ in enumerate(pool.torus_dims):
                out[f"s{s}.intra.d{i}.{d}"] = 2 * torus_link_bandwidth(link) * hw.intra_scale
    if pool.inter_node is not None:
        for d in ("tx", "rx"):
            out[f"s{s}.inter.{d}"] = pool.nic_bandwidth_per_device * hw.nic_scale
    return out


def _resources(hw: StageHardware, link: str) -> tuple[str, ...]:
    s = hw.stage
    res = (f"s{s}.{link}.tx", f"s{s}.{link}.rx")
    intra = hw.pool.intra_node
    if link == "inter" and intra is not None and intra.topology == "pcie":
        res += (f"s{s}.intra.tx", f"s{s}.intra.rx")
    return res


def _flow_phase(ph: Phase, resources: tuple[str, ...]) -> FlowPhase:
    return FlowPhase(ph.latency_s, ph.nbytes, resources, ph.bandwidth)


def collective_transfer(cost: CommCost, hw: StageHardware) -> Transfer:
    return Transfer(cost.time_s, tuple(_flow_phase(ph, _resources(hw, ph.link))
                                       for ph in cost.phases))


def task_transfer(phase: PhaseCost, hw: StageHardware, segments: int = 1) -> Transfer:
    """1/``segments`` of a task's blocking collectives: per link, their phases back to back."""
    phases = []
    for link, (latency, nbytes, busy) in phase.comm_links.items():
        if nbytes > 0 and busy > 0:
            phases.append(FlowPhase(latency / segments, nbytes / segments,
                                    _resources(hw, link), nbytes / busy))
        elif latency > 0:
            phases.append(FlowPhase(latency / segments, 0.0, (), 1.0))
    return Transfer(phase.comm_s / segments, tuple(phases))


def _p2p_transfer(send: CommCost, gather: CommCost, a: StageHardware, b: StageHardware,
                  cluster: ClusterSpec) -> Transfer:
    phases = []
    for ph in send.phases:
        if ph.link == "pool":
            res = [f"s{a.stage}.inter.tx"] if a.pool.inter_node is not None else []
            if b.pool.inter_node is not None:
                res.append(f"s{b.stage}.inter.rx")
            for lk in cluster.route(a.pool.name, b.pool.name):
                j = cluster.links.index(lk)
                res.append(f"pool{j}.{a.pool.name}>{b.pool.name}")
            phases.append(_flow_phase(ph, tuple(res)))
        else:
            phases.append(_flow_phase(ph, (f"s{a.stage}.{ph.link}.tx",
                                           f"s{b.stage}.{ph.link}.rx")))
    phases.extend(_flow_phase(ph, _resources(b, ph.link)) for ph in gather.phases)
    return Transfer(send.time_s + gather.time_s, tuple(phases))


def build_flow_plan(hws: tuple[StageHardware, ...], sends_fwd: list[tuple[CommCost, CommCost]],
                    sends_bwd: list[tuple[CommCost, CommCost]],
                    bucket_costs: list[list[list[CommCost]]],
                    tasks: list[list[tuple[PhaseCost, PhaseCost, int]]],
                    cluster: ClusterSpec) -> FlowPlan:
    capacity: dict[str, float] = {}
    for hw in hws:
        capacity.update(stage_capacity(hw))
    for j, lk in enumerate(cluster.links):
        a, b = lk.between
        capacity[f"pool{j}.{a}>{b}"] = capacity[f"pool{j}.{b}>{a}"] = lk.achieved_bandwidth
    p2p_fwd = [_p2p_transfer(c, g, hws[s], hws[s + 1], cluster)
               for s, (c, g) in enumerate(sends_fwd)]
    p2p_bwd = [_p2p_transfer(c, g, hws[s + 1], hws[s], cluster)
               for s, (c, g) in enumerate(sends_bwd)]
    buckets = [[[collective_transfer(c, hws[s]) for c in ck] for ck in row]
               for s, row in enumerate(bucket_costs)]
    task_tr = [[(task_transfer(f, hws[s], n), task_transfer(b, hws[s], n), n)
                for f, b, n in row] for s, row in enumerate(tasks)]
    return FlowPlan(capacity=capacity, p2p_fwd=p2p_fwd, p2p_bwd=p2p_bwd, buckets=buckets,
                    tasks=task_tr)
