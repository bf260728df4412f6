"""Collective and point-to-point times: alpha-beta models with nccl-tests' bus bandwidth.

For a buffer of S bytes over n ranks with achieved per-rank bandwidth B (line rate × the
profile's efficiency, which comes from nccl-tests bus-bandwidth measurements) and per-step
latency α (reference/collectives.md):

* ring all-reduce:                 2(n−1)·α + 2(n−1)/n · S/B
* ring all-gather / reduce-scatter: (n−1)·α +  (n−1)/n · S/B
* tree all-reduce (across nodes only, as NCCL does): 2·⌈log2 n⌉·α + 2(n−1)/n · S/B
  (double binary tree; the same β term as the ring)
* in-network (NVLS/SHARP) all-reduce: 2·α + 2(n−1)/n · S/B_nvls, B_nvls = line × nvls efficiency
* all-to-all: (n−1)·α + max(intra, inter) bytes / bandwidth over the links each part uses
* point-to-point: α + S/B

A group whose ranks span nodes runs hierarchically (NCCL's behaviour with several GPUs of a
group per node): reduce-scatter inside the node, all-reduce of the 1/r shard across nodes on
each rank's own NIC share, all-gather inside the node. With one rank per node it is a flat
ring (or tree) over the NICs. The algorithm with the lower time is chosen, and its name is
returned so the result can show it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from archsim.spec.hardware import InterconnectSpec, PoolSpec


@dataclass(frozen=True, slots=True)
class CommGroup:
    """Where the n ranks of a collective sit: r per node over n/r nodes of one pool."""

    size: int
    per_node: int
    intra: InterconnectSpec | None
    inter: InterconnectSpec | None
    nic_bandwidth: float
    """Achieved scale-out bandwidth per device (its share of the node's NICs), bytes/s."""

    @property
    def nodes(self) -> int:
        return max(1, self.size // self.per_node)


@dataclass(frozen=True, slots=True)
class CommCost:
    time_s: float
    algorithm: str


def group_in_pool(pool: PoolSpec, size: int, stride: int) -> CommGroup:
    """A group of ``size`` ranks spaced ``stride`` apart in rank order (Megatron order: the
    tensor-parallel group is innermost, stride 1; data-parallel groups stride tp·cp)."""
    node = pool.node_size
    per_node = 1 if stride >= node else max(1, min(size, node // stride))
    return CommGroup(size=size, per_node=per_node, intra=pool.intra_node,
                     inter=pool.inter_node, nic_bandwidth=pool.nic_bandwidth_per_device)


def _ring(steps: int, n: int, nbytes: float, bw: float, alpha: float) -> float:
    return steps * (n - 1) * alpha + steps * (n - 1) / n * nbytes / bw


def _flat(kind: str, n: int, nbytes: float, bw: float, alpha: float,
          link: InterconnectSpec | None, tree: bool = True) -> CommCost:
    if kind == "allreduce":
        options = [CommCost(_ring(2, n, nbytes, bw, alpha), "ring")]
        if n > 2 and tree:
            tree = 2 * math.ceil(math.log2(n)) * alpha + 2 * (n - 1) / n * nbytes / bw
            options.append(CommCost(tree, "tree"))
        if link is not None and link.in_network_reduction and link.in_network_efficiency:
            nvls_bw = link.bandwidth * link.in_network_efficiency
            options.append(CommCost(2 * alpha + 2 * (n - 1) / n * nbytes / nvls_bw,
                                    "nvls" if link.kind == "nvlink" else "in-network"))
        return min(options, key=lambda c: c.time_s)
    if kind in ("allgather", "reducescatter"):
        return CommCost(_ring(1, n, nbytes, bw, alpha), "ring")
    if kind == "alltoall":
        return CommCost((n - 1) * alpha + (n - 1) / n * nbytes / bw, "pairwise")
    raise ValueError(f"unknown collective {kind!r}")


def collective_time(kind: str, nbytes: float, group: CommGroup) -> CommCost:
    """Time of collective ``kind`` on an S=``nbytes`` buffer over ``group``."""
    n = group.size
    if n <= 1 or nbytes <= 0:
        return CommCost(0.0, "none")
    intra, inter = group.intra, group.inter
    if kind == "p2p":
        raise ValueError("use p2p_time for point-to-point transfers")
    if group.nodes == 1:
        assert intra is not None, "a multi-device node needs an intra-node interconnect"
        # inside a node NCCL runs rings (or NVLS); trees are for crossing nodes
        return _flat(kind, n, nbytes, intra.achieved_bandwidth, intra.latency, intra,
                     tree=False)
    assert inter is not None, "a multi-node group needs an inter-node interconnect"
    nic = group.nic_bandwidth
    if group.per_node == 1:
        cost = _flat(kind, n, nbytes, nic, inter.latency, inter)
        return CommCost(cost.time_s, f"{cost.algorithm}(inter)")
    r, nodes = group.per_node, group.nodes
    assert intra is not None
    bw_in, a_in = intra.achieved_bandwidth, intra.latency
    if kind == "alltoall":
        # each rank sends S/n to every other rank: (r−1) peers over NVLink, (n−r) over the NIC
        t_intra = (r - 1) / n * nbytes / bw_in
        t_inter = (n - r) / n * nbytes / nic
        return CommCost((n - 1) * inter.latency + max(t_intra, t_inter), "hierarchical")
    shard = nbytes / r
    if kind == "allreduce":
        t = (_ring(1, r, nbytes, bw_in, a_in)
             + _flat("allreduce", nodes, shard, nic, inter.latency, inter).time_s
             + _ring(1, r, nbytes, bw_in, a_in))
    else:  # all-gather / reduce-scatter: one pass inside, one across
        t = _ring(1, r, nbytes, bw_in, a_in) + _ring(1, nodes, shard, nic, inter.latency)
    return CommCost(t, "hierarchical")


def p2p_time(nbytes: float, link: InterconnectSpec | None, bandwidth: float | None = None
             ) -> float:
    """Point-to-point send of ``nbytes`` over ``link`` (achieved bandwidth unless given)."""
    if nbytes <= 0 or link is None:
        return 0.0
    bw = bandwidth if bandwidth is not None else link.achieved_bandwidth
    return link.latency + nbytes / bw


def bus_bandwidth(kind: str, nbytes: float, n: int, time_s: float) -> float:
    """nccl-tests bus bandwidth of a measured collective (reference/collectives.md)."""
    factor = {"allreduce": 2 * (n - 1) / n, "allgather": (n - 1) / n,
              "reducescatter": (n - 1) / n, "alltoall": (n - 1) / n,
              "broadcast": 1.0, "reduce": 1.0}[kind]
    return nbytes / time_s * factor
