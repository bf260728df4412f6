"""Point-to-point links between pipeline stages, inside a pool or across pools.

Stages on the same pool talk over the node's scale-up link when their peer ranks share a node
(Megatron order: rank i of a stage sends to rank i of the next; a stage of ``stage_stride``
ranks that fills a node or more shares none), else over the NICs. Stages on different pools
talk over the cluster's pool links (fewest hops); a transfer is limited by the slowest of those
links and of the two ends' NIC shares, and pays every hop's latency.
"""

from __future__ import annotations

from dataclasses import replace

from archsim.cost.comm import (
    CommCost,
    CommGroup,
    Phase,
    collective_time,
    group_in_pool,
    p2p_cost,
    torus_link_bandwidth,
)
from archsim.cost.insitu import factors
from archsim.cost.topology import mesh_peers, spine_taper
from archsim.plan.layout import Layout
from archsim.plan.placement import StageHardware
from archsim.spec.hardware import ClusterSpec, PoolLinkSpec, PoolSpec


def intra_peer_bandwidth(pool: PoolSpec) -> float:
    """Achieved bandwidth from one device to one peer of its node."""
    link = pool.intra_node
    assert link is not None
    if link.topology == "mesh":
        return link.achieved_bandwidth / mesh_peers(pool)
    if pool.torus_dims:
        return torus_link_bandwidth(link)
    return link.achieved_bandwidth


def _stride(layout: Layout | int) -> int:
    return layout if isinstance(layout, int) else layout.stage_stride


def same_node(pool: PoolSpec, layout: Layout | int, distance: int) -> bool:
    """Stages ``distance`` apart share a node (``layout``: a training layout or the ranks
    between neighbouring stages)."""
    return distance * _stride(layout) < pool.node_size


def peers_share_node(pool: PoolSpec, layout: Layout | int, a: StageHardware,
                     b: StageHardware) -> bool:
    """Whether every rank of stage ``a`` shares a node with its peer in stage ``b`` (same
    pool; rank i with rank i): the first and the last pair do (the ranks between lie in the
    same nodes). Stages 1 and 2 of tp 4 on 8-GPU nodes are one apart but on two nodes; stages
    of 6 ranks on 8-GPU nodes have some pairs across (a send goes at its slowest pair's pace)."""
    n, stride = pool.node_size, _stride(layout)
    last_a, last_b = a.first_device + stride - 1, b.first_device + stride - 1
    return (stride < n and a.first_device // n == b.first_device // n
            and last_a // n == last_b // n)


def stage_p2p(cluster: ClusterSpec, layout: Layout | int, a: StageHardware, b: StageHardware,
              nbytes: float) -> tuple[CommCost, str]:
    """Send of ``nbytes`` from a rank of stage ``a`` to its peer in stage ``b`` (and link name);
    ``layout``: a training layout or the ranks between neighbouring stages."""
    if a.pool.name == b.pool.name:
        pool = a.pool
        if peers_share_node(pool, layout, a, b):
            link = pool.intra_node
            if link is None:
                return CommCost(0.0, "none"), "none"
            bw = (intra_peer_bandwidth(pool) * min(a.intra_scale, b.intra_scale)
                  * factors(pool.device).collective_efficiency)
            return p2p_cost(nbytes, link, bw, "intra"), link.name
        link = pool.inter_node
        per = pool.devices_per_node
        nodes_apart = max(1, abs(b.first_device // per - a.first_device // per))
        taper = spine_taper(pool, 2, nodes_apart).ring
        bw = (pool.nic_bandwidth_per_device * min(a.nic_scale, b.nic_scale) * taper
              * factors(pool.device).collective_efficiency)
        name = link.name if link is not None else "none"
        return p2p_cost(nbytes, link, bw, "inter"), name
    route = cluster.route(a.pool.name, b.pool.name)
    bw, latency = route_bandwidth(route, a, b)
    name = f"{a.pool.name}→{b.pool.name} via " + ", ".join(lk.interconnect.name for lk in route)
    if nbytes <= 0:
        return CommCost(0.0, "none"), name
    phase = Phase("pool", latency, nbytes, bw)
    return CommCost(phase.time_s, "p2p", (phase,)), name


def route_bandwidth(route: list[PoolLinkSpec], a: StageHardware, b: StageHardware
                    ) -> tuple[float, float]:
    """(bandwidth, latency) of a route between pools: the slowest link or end NIC share."""
    bws = [lk.achieved_bandwidth for lk in route]
    for hw in (a, b):
        if hw.pool.inter_node is not None:
            bws.append(hw.pool.nic_bandwidth_per_device * hw.nic_scale)
    return min(bws), sum(lk.interconnect.latency for lk in route)


def pair_group(cluster: ClusterSpec, layout: Layout, a: StageHardware, b: StageHardware
               ) -> CommGroup:
    """The two ranks of stages ``a`` and ``b`` as a collective group (tied embeddings)."""
    if a.pool.name == b.pool.name:
        # two ranks of one pool: the group their distance makes (mesh share, in-situ
        # collective efficiency and fat-tree taper included), on the same node or not
        pool = a.pool
        group = group_in_pool(pool, 2, max(1, abs(b.first_device - a.first_device)),
                              intra_scale=min(a.intra_scale, b.intra_scale),
                              nic_scale=min(a.nic_scale, b.nic_scale))
        share = peers_share_node(pool, layout, a, b)
        if (group.nodes == 1) != share:  # the stages' own placement decides
            group = replace(group, per_node=2 if share else 1, spans=1 if share else 2)
        return group
    route = cluster.route(a.pool.name, b.pool.name)
    bw, latency = route_bandwidth(route, a, b)
    link = route[0].interconnect.model_copy(update={"latency": latency,
                                                    "in_network_reduction": False})
    return CommGroup(size=2, per_node=1, intra=None, inter=link, nic_bandwidth=bw)


def pair_allreduce_s(cluster: ClusterSpec, layout: Layout, a: StageHardware,
                     b: StageHardware, nbytes: float) -> float:
    return collective_time("allreduce", nbytes, pair_group(cluster, layout, a, b)).time_s
