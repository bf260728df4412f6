"""Collective and point-to-point times: alpha-beta models per topology, algorithm chosen by time.

For a buffer of S bytes over n ranks with achieved per-rank bandwidth B (line rate × the
profile's efficiency, from nccl-tests bus-bandwidth measurements) and per-step latency α
(reference/collectives.md):

* ring all-reduce:                 2(n−1)·α + 2(n−1)/n · S/B
* ring all-gather / reduce-scatter: (n−1)·α +  (n−1)/n · S/B
* tree all-reduce (across nodes only, as NCCL does): 2·⌈log2 n⌉·α + 2(n−1)/n · S/B
  (double binary tree; the same β term as the ring)
* in-network (NVLS/SHARP) all-reduce, n ≥ 5: 2(n−1)·α + S/A_nvls, A_nvls = line × nvls
  efficiency × 8/14 (the efficiency is the 8-rank bus bandwidth; the algorithm bandwidth does
  not depend on n; latency as the ring's: measured small all-reduces are no faster)
* all-to-all: (n−1)·α + max(intra, inter) bytes / bandwidth over the links each part uses
* point-to-point: α + S/B

Topology of the scale-up domain (the interconnect profile's ``topology``):

* ``switch`` (NVSwitch), ``pcie``: every device reaches the switch at B; ring, or NVLS where
  the profile has ``in_network_reduction``.
* ``mesh`` (each pair of devices joined directly): a group of k of the node's n devices uses
  its k−1 direct links, (k−1)/(n−1) of B; "direct" algorithm (all peers at once: one α per
  reduce-scatter or all-gather step).
* ``ring``, ``torus2d``, ``torus3d`` (profile bandwidth per link, one way; a ring profile's is
  per device and split over its two links): dimension-ordered — reduce-scatter along each
  dimension the group covers, then all-gather back (Chan et al. 2007's bucket algorithm), each
  dimension a ring at 2·b per chip when it wraps, b when the group covers part of it
  (archsim/cost/topology.py); over k dimensions the buffer goes in k parts, part r starting at
  dimension r, so every dimension's links carry a part at every step (on a 16×16 torus an
  all-reduce then takes 2(N−1)/N·S/(4b), the bound of a chip's four links). All-to-all
  routes dimension by dimension, each dimension bound by its bisection:
  max((e−1)/e, e/4) · S / B_dim.

A group with r ranks in each of several nodes runs NCCL's rings through all its ranks, each
ring crossing a node boundary once on its own NIC: per rank min(scale-up bandwidth, r × the
device's NIC share), as measured across A100 and B200 nodes (``_multi_node_rings``); an
all-reduce may take NCCL's tree instead (the same bandwidth, fewer latency steps), and with
in-network reduction across nodes (SHARP: CollNet) the hierarchical form: reduce-scatter inside
the node, all-reduce of the 1/r shard across nodes, all-gather inside. Torus and mesh pools run
that hierarchical form (dimension-ordered). With one rank per node it is a flat ring (or tree,
or in-network) over the NICs. Fat-tree / rail oversubscription tapers the NIC
share by the group's spine-crossing traffic (topology.py). The algorithm with the lower time
is chosen, and its name is returned so the result can show it.

Inside a node a link with a measured size sweep (``size_efficiency``) runs a collective of S
bytes at that fraction of its large-message bandwidth (nccl-tests: 16 MB all-reduces reach
about half the bus bandwidth of 1 GB ones on 8 A100s).

Each cost also lists its *phases* (link, latency, bytes, bandwidth) so that the flow-level
network model (archsim/sim/network.py) can run it as flows that share links with others.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from functools import lru_cache
from itertools import permutations

from archsim.cost.insitu import factors
from archsim.cost.topology import Spine, TorusDim, mesh_fraction, spine_taper, torus_extents
from archsim.spec.hardware import InterconnectSpec, PoolSpec

NO_TAPER = Spine()

IN_NETWORK_REFERENCE_RANKS = 8
"""Ranks at which the interconnect profiles' ``in_network_efficiency`` (all-reduce bus
bandwidth / line rate) was measured: a node of 8 H100s / H200s / B200s."""
IN_NETWORK_MIN_RANKS = 5
"""Fewest ranks NCCL runs an NVLS all-reduce on: at 4 GPUs of an 8 × H200 node NCCL 2.27.7
picks the ring (reference/calibration/micro.csv mleng-h200-allreduce-4gpu-nvls); at 5 NVLS."""


@dataclass(frozen=True, slots=True)
class CommGroup:
    """Where the n ranks of a collective sit: r per node over n/r nodes of one pool."""

    size: int
    per_node: int
    intra: InterconnectSpec | None
    inter: InterconnectSpec | None
    nic_bandwidth: float
    """Achieved scale-out bandwidth per device (its share of the node's NICs), bytes/s."""
    torus: tuple[TorusDim, ...] = ()
    """Torus / ring dimensions the group covers inside a node (torus topologies only)."""
    mesh_fraction: float = 1.0
    """Mesh topologies: share of a device's scale-up bandwidth that reaches its peers."""
    spine: Spine = NO_TAPER
    intra_scale: float = 1.0
    """Scale-up bandwidth / nominal (degraded links, stragglers, in-situ efficiency)."""
    collective_scale: float = 1.0
    """In-situ collective bandwidth / nccl-tests (the device's ``collective_efficiency``),
    already part of ``intra_scale`` and ``nic_bandwidth``; scales in-network reduction too."""
    spans: int = 0
    """Nodes the group spans where that is not size / per_node (a group straddling a node
    boundary: tp 12 on 8-GPU nodes spans 2 with 4 ranks in the smaller piece); 0: derived."""

    @property
    def nodes(self) -> int:
        return self.spans or max(1, self.size // self.per_node)

    @property
    def intra_bandwidth(self) -> float:
        """Achieved ring bandwidth per device inside a node (switch / mesh / pcie)."""
        assert self.intra is not None
        return self.intra.achieved_bandwidth * self.mesh_fraction * self.intra_scale


@dataclass(frozen=True, slots=True)
class Phase:
    """One sequential part of a transfer: a latency, then bytes over a link at a bandwidth."""

    link: str
    """'intra', 'intra.d<i>' (torus dimension i), 'inter' (scale-out NIC) or 'pool'."""
    latency_s: float
    nbytes: float
    bandwidth: float

    @property
    def time_s(self) -> float:
        return self.latency_s + (self.nbytes / self.bandwidth if self.nbytes > 0 else 0.0)


@dataclass(frozen=True, slots=True)
class CommCost:
    time_s: float
    algorithm: str
    phases: tuple[Phase, ...] = ()


def _cost(algorithm: str, phases: list[Phase] | tuple[Phase, ...]) -> CommCost:
    return CommCost(sum(p.time_s for p in phases), algorithm, tuple(phases))


def group_in_pool(pool: PoolSpec, size: int, stride: int, intra_scale: float = 1.0,
                  nic_scale: float = 1.0) -> CommGroup:
    """A group of ``size`` ranks spaced ``stride`` apart in rank order (Megatron order: the
    tensor-parallel group is innermost, stride 1; the dp·cp gradient-reduction group stride tp;
    see archsim/plan/layout.py). Its bandwidths are the in-situ ones: × the device's
    ``collective_efficiency`` (archsim/cost/insitu.py)."""
    ce = factors(pool.device).collective_efficiency
    intra_scale *= ce
    nic_scale *= ce
    node = pool.node_size
    per_node, spans = _node_spread(size, stride, node, pool.count)
    torus: tuple[TorusDim, ...] = ()
    dims = pool.torus_dims
    if dims and per_node > 1:
        torus = torus_extents(dims, per_node, stride, pool.torus_wraps)
    mesh = 1.0
    if pool.intra_node is not None and pool.intra_node.topology == "mesh":
        mesh = mesh_fraction(pool, per_node)
    nodes = spans
    node_stride = max(1, stride * per_node // node) if nodes > 1 else 1
    return CommGroup(size=size, per_node=per_node, spans=spans, intra=pool.intra_node,
                     inter=pool.inter_node, nic_bandwidth=pool.nic_bandwidth_per_device * nic_scale,
                     torus=torus, mesh_fraction=mesh, spine=spine_taper(pool, nodes, node_stride),
                     intra_scale=intra_scale, collective_scale=ce)


@lru_cache(maxsize=1024)
def _node_spread(size: int, stride: int, node: int, count: int) -> tuple[int, int]:
    """(fewest ranks in one node, most nodes) over the groups of ``size`` ranks ``stride``
    apart (Megatron order: the groups tile consecutive blocks of size·stride ranks of the
    pool's ``count``) on nodes of ``node`` devices; (size, 1) when every group fits in one
    node. A group that straddles a node boundary (tp 3 or 12 on 8-device nodes) runs at the
    pace of its smallest piece, as its rings cross there."""
    span = size * stride
    if count <= node or (span <= node and node % span == 0):
        return size, 1
    if stride >= node:
        return 1, size
    if span % node == 0 and node % stride == 0:
        return node // stride, span // node  # whole nodes, as many of the group's in each
    fewest, most = size, 1
    blocks = math.lcm(span, node) // span  # the pattern repeats after lcm(span, node) ranks
    for block in range(max(1, min(blocks, node, count // span))):
        for offset in range(stride):
            counts: dict[int, int] = {}
            for k in range(size):
                rank = block * span + offset + k * stride
                counts[rank // node] = counts.get(rank // node, 0) + 1
            if len(counts) > 1:
                fewest = min(fewest, min(counts.values()))
                most = max(most, len(counts))
    return fewest, most


def torus_link_bandwidth(link: InterconnectSpec) -> float:
    """Achieved bandwidth of one link, one way (a ring profile gives its device's two links)."""
    per_link = link.bandwidth / 2 if link.topology == "ring" else link.bandwidth
    return per_link * link.efficiency


def _ring(steps: int, n: int, nbytes: float, bw: float, alpha: float) -> float:
    return steps * (n - 1) * alpha + steps * (n - 1) / n * nbytes / bw


def _ring_phases(steps: int, n: int, nbytes: float, bw: float, alpha: float, link: str
                 ) -> list[Phase]:
    return [Phase(link, (n - 1) * alpha, (n - 1) / n * nbytes, bw) for _ in range(steps)]


@lru_cache(maxsize=64)
def _size_curve(points: tuple[tuple[float, float], ...]) -> tuple[list[float], list[float]]:
    return [math.log10(b) for b, _ in points], [f for _, f in points]


def size_fraction(link: InterconnectSpec | None, nbytes: float) -> float:
    """The link's bus bandwidth at an ``nbytes`` collective / at large messages (its
    ``size_efficiency`` sweep, interpolated in log10 bytes; 1 without one)."""
    if link is None or not link.size_efficiency or nbytes <= 0:
        return 1.0
    logs, fracs = _size_curve(link.size_efficiency)
    x = math.log10(nbytes)
    if x <= logs[0]:
        return fracs[0]
    if x >= logs[-1]:
        return fracs[-1]
    i = bisect.bisect_right(logs, x)
    w = (x - logs[i - 1]) / (logs[i] - logs[i - 1])
    return fracs[i - 1] + w * (fracs[i] - fracs[i - 1])


def _flat(kind: str, n: int, nbytes: float, bw: float, alpha: float,
          link: InterconnectSpec | None, tree: bool = True, where: str = "intra",
          nvls_scale: float = 1.0) -> CommCost:
    """Ring / tree / in-network collective with every rank at bandwidth ``bw`` (in-network
    reduction at the link's own rate × ``nvls_scale``)."""
    if kind == "allreduce":
        beta = 2 * (n - 1) / n * nbytes
        options = [_cost("ring", _ring_phases(2, n, nbytes, bw, alpha, where))]
        if n > 2 and tree:
            steps = 2 * math.ceil(math.log2(n))
            options.append(_cost("tree", [Phase(where, steps * alpha, beta, bw)]))
        if (link is not None and link.in_network_reduction and link.in_network_efficiency
                and n >= IN_NETWORK_MIN_RANKS):
            # the switch reduces: each rank sends and receives S once whatever n, so the
            # algorithm bandwidth is constant and the bus bandwidth 2(n−1)/n of it; the
            # profile's in_network_efficiency is the bus bandwidth at 8 ranks (IN_NETWORK_
            # REFERENCE_RANKS). Measured on 8 H200s, algbw 259, 261, 268, 270 GB/s at 5–8
            # GPUs (reference/calibration/micro.csv mleng-h200-allreduce-*-nvls).
            # Its latency is taken as the ring's: nccl-tests measures no faster small
            # all-reduce on NVLS hardware (26 µs at 1 KB on 8 H100s, reference/calibration/
            # micro.csv nccl-allreduce-h100-8gpu-1K, as the ring's 14 steps of 1.8 µs)
            ref = IN_NETWORK_REFERENCE_RANKS
            algbw = (link.bandwidth * link.in_network_efficiency * nvls_scale
                     * ref / (2 * (ref - 1)))
            options.append(_cost("nvls" if link.kind == "nvlink" else "in-network",
                                 [Phase(where, 2 * (n - 1) * alpha, nbytes * bw / algbw, bw)]))
        return min(options, key=lambda c: c.time_s)
    if kind in ("allgather", "reducescatter"):
        return _cost("ring", _ring_phases(1, n, nbytes, bw, alpha, where))
    if kind == "alltoall":
        return _cost("pairwise", [Phase(where, (n - 1) * alpha, (n - 1) / n * nbytes, bw)])
    raise ValueError(f"unknown collective {kind!r}")


def _torus(kind: str, nbytes: float, group: CommGroup) -> CommCost:
    """Dimension-ordered collective over the torus dimensions the group covers."""
    link = group.intra
    assert link is not None
    b = torus_link_bandwidth(link) * group.intra_scale
    alpha = link.latency
    name = "ring" if len(group.torus) == 1 else "dim-ordered"
    dim_bw = {d.index: b * (2 if d.wraps else 1) / d.share for d in group.torus}
    if kind == "alltoall":
        phases = [Phase(f"intra.d{d.index}", (d.extent - 1) * alpha,
                        max((d.extent - 1) / d.extent, d.extent / 4) * nbytes, dim_bw[d.index])
                  for d in group.torus]
        return _cost(name, phases)
    if kind not in ("allreduce", "allgather", "reducescatter"):
        raise ValueError(f"unknown collective {kind!r}")

    def ordered(dims: tuple, part: float) -> list[Phase]:
        scatter, shard = [], part
        for d in dims:
            e = d.extent
            scatter.append(Phase(f"intra.d{d.index}", (e - 1) * alpha, (e - 1) / e * shard,
                                 dim_bw[d.index]))
            shard /= e
        if kind == "reducescatter":
            return scatter
        gather = scatter[::-1]
        return gather if kind == "allgather" else scatter + gather

    # k dimensions: the buffer in k parts, part r starting at dimension r, so that at every
    # step each part is on another dimension's links and all of them carry data at once; or
    # the whole buffer in one order of the dimensions (faster where one dimension is much
    # slower than the others: it then carries only the shard left after the fast ones)
    k = len(group.torus)
    dims = tuple(group.torus)
    rotations = [ordered(dims[r:] + dims[:r], nbytes / k) for r in range(k)]
    steps = [max((rot[j] for rot in rotations), key=lambda p: p.time_s)
             for j in range(len(rotations[0]))]
    options = [_cost(name, steps)]
    if k > 1:
        options += [_cost(name, ordered(order, nbytes)) for order in permutations(dims)]
    return min(options, key=lambda c: c.time_s)


def _intra(kind: str, r: int, nbytes: float, group: CommGroup) -> CommCost:
    """Collective over the ``r`` ranks of one node, its bytes at the link's bandwidth for
    an ``nbytes`` message (``size_efficiency``)."""
    cost = _intra_at_large_size(kind, r, nbytes, group)
    frac = size_fraction(group.intra, nbytes)
    if frac == 1.0:
        return cost
    return _cost(cost.algorithm, [Phase(p.link, p.latency_s, p.nbytes, p.bandwidth * frac)
                                  for p in cost.phases])


def _intra_at_large_size(kind: str, r: int, nbytes: float, group: CommGroup) -> CommCost:
    link = group.intra
    assert link is not None, "a multi-device node needs an intra-node interconnect"
    if group.torus:
        return _torus(kind, nbytes, group)
    bw, alpha = group.intra_bandwidth, link.latency
    if link.topology == "mesh":
        steps = {"allreduce": 2, "allgather": 1, "reducescatter": 1}.get(kind)
        if steps is None:
            if kind != "alltoall":
                raise ValueError(f"unknown collective {kind!r}")
            return _cost("direct", [Phase("intra", alpha, (r - 1) / r * nbytes, bw)])
        return _cost("direct", [Phase("intra", alpha, (r - 1) / r * nbytes, bw)
                                for _ in range(steps)])
    # inside a node NCCL runs rings (or NVLS); trees are for crossing nodes
    return _flat(kind, r, nbytes, bw, alpha, link, tree=False, nvls_scale=group.intra_scale)


def _injection_bandwidth(group: CommGroup) -> float:
    """Bandwidth a device can push into its node's scale-up links (all-to-all bound)."""
    if group.torus:
        assert group.intra is not None
        b = torus_link_bandwidth(group.intra) * group.intra_scale
        return sum(b * (2 if d.wraps else 1) / d.share for d in group.torus)
    return group.intra_bandwidth


def collective_time(kind: str, nbytes: float, group: CommGroup) -> CommCost:
    """Time of collective ``kind`` on an S=``nbytes`` buffer over ``group``."""
    n = group.size
    if n <= 1 or nbytes <= 0:
        return CommCost(0.0, "none")
    if kind == "p2p":
        raise ValueError("use p2p_time for point-to-point transfers")
    if group.nodes == 1:
        return _intra(kind, n, nbytes, group)
    inter = group.inter
    assert inter is not None, "a multi-node group needs an inter-node interconnect"
    spine = group.spine.alltoall if kind == "alltoall" else group.spine.ring
    nic = group.nic_bandwidth * spine
    if group.per_node == 1:
        cost = _flat(kind, n, nbytes, nic, inter.latency, inter, where="inter",
                     nvls_scale=group.collective_scale)
        return CommCost(cost.time_s, f"{cost.algorithm}(inter)", cost.phases)
    r = group.per_node
    if kind == "alltoall":
        # each rank sends S/n to every other rank: (r−1) peers in the node, (n−r) over the NIC
        t_intra = (r - 1) / n * nbytes / _injection_bandwidth(group)
        t_inter = (n - r) / n * nbytes / nic
        latency = (n - 1) * inter.latency
        if t_inter >= t_intra:
            phase = Phase("inter", latency, (n - r) / n * nbytes, nic)
        else:
            phase = Phase("intra", latency, (r - 1) / n * nbytes, _injection_bandwidth(group))
        return _cost("hierarchical", [phase])
    if kind not in ("allreduce", "allgather", "reducescatter"):
        raise ValueError(f"unknown collective {kind!r}")
    if group.torus or (group.intra is not None and group.intra.topology == "mesh"):
        return _hierarchical(kind, nbytes, group, nic)
    options = _multi_node_rings(kind, nbytes, group, nic)
    if inter.in_network_reduction:  # CollNet: reduce in the node, SHARP across, gather
        options.append(_hierarchical(kind, nbytes, group, nic))
    return min(options, key=lambda c: c.time_s)


def neighbour_ring_time(kind: str, nbytes: float, group: CommGroup) -> CommCost:
    """An all-gather or reduce-scatter of an S=``nbytes`` buffer run as one ring of
    point-to-point sends, each rank to its neighbour (ring attention: Transformer Engine's
    ``AttnFuncWithCPAndKVP2P`` sends each K/V block on to the next rank, n − 1 steps of S/n).

    Inside a node it is the ring collective. Across nodes every step waits for its slowest
    hop, and a hop that crosses a node boundary runs on the sending rank's own NIC share: per
    rank min(scale-up ring bandwidth, one NIC share), where NCCL's all-gather spreads its
    channels over all r NICs of a node (:func:`_multi_node_rings`: r × the NIC share). With
    r ranks of the ring in a node that is up to r× slower: 4 H100s of a cp-8 ring per node
    send each 33.5 MB block over one 46 GB/s NDR port (0.73 ms a step), not 4 × 46 GB/s.
    Transformer Engine's own answer for rings across nodes is its hierarchical
    ``a2a+p2p`` mode (not modelled)."""
    if kind not in ("allgather", "reducescatter"):
        raise ValueError(f"a neighbour ring runs an all-gather or a reduce-scatter, not {kind!r}")
    n = group.size
    if n <= 1 or nbytes <= 0 or group.nodes == 1 or group.per_node == 1:
        return collective_time(kind, nbytes, group)  # one rank per node: the ring's hops
    intra, inter = group.intra, group.inter
    assert intra is not None and inter is not None
    nic = group.nic_bandwidth * group.spine.ring
    bw_intra = group.intra_bandwidth * size_fraction(intra, nbytes)
    alpha = max(intra.latency, inter.latency)
    volume = (n - 1) / n * nbytes  # what each rank sends, one block a step
    phase = (Phase("inter", (n - 1) * alpha, volume, nic) if nic < bw_intra
             else Phase("intra", (n - 1) * alpha, volume, bw_intra))
    return _cost("p2p-ring(multi-node)", [phase])


def _multi_node_rings(kind: str, nbytes: float, group: CommGroup, nic: float
                      ) -> list[CommCost]:
    """NCCL's ring (and, for all-reduce, tree) through all n ranks of a group with r of them
    in each node: each ring crosses a node boundary once, on its own NIC (a channel per
    NIC), and runs at its slowest hop: per rank min(scale-up ring bandwidth, r × the device's
    NIC share). Measured: 2 × 8 A100 with 4 HDR NICs per node, 86 GB/s all-reduce bus
    bandwidth (min(232, 8 × 12.5 × 0.86)); 4 × 8 B200 with 8 × 50 GB/s EFA, 381.8 GB/s
    (reference/collectives.md; reference/calibration/micro.csv mleng-b200-allreduce-4node)."""
    n, r, nodes = group.size, group.per_node, group.nodes
    intra, inter = group.intra, group.inter
    assert intra is not None and inter is not None
    alpha = max(intra.latency, inter.latency)
    bw_intra = group.intra_bandwidth * size_fraction(intra, nbytes)
    steps = 2 if kind == "allreduce" else 1
    volume = steps * (n - 1) / n * nbytes  # what each rank sends
    # the bottleneck link: the device's NIC share carries 1/r of it (the other r − 1 hops of
    # each ring are in the node)
    phase = (Phase("inter", 0.0, volume / r, nic) if r * nic < bw_intra
             else Phase("intra", 0.0, volume, bw_intra))

    def at(latency: float) -> list[Phase]:
        return [Phase(phase.link, latency, phase.nbytes, phase.bandwidth)]

    options = [_cost("ring(multi-node)", at(steps * (n - 1) * alpha))]
    if kind == "allreduce" and nodes >= 2:
        # double binary tree across nodes, a chain inside each (NCCL's tree)
        tree = 2 * math.ceil(math.log2(nodes)) * inter.latency + 2 * (r - 1) * intra.latency
        options.append(_cost("tree(multi-node)", at(tree)))
    return options


def _hierarchical(kind: str, nbytes: float, group: CommGroup, nic: float) -> CommCost:
    """In the node, then across nodes on each rank's NIC share, then in the node again: the
    dimension-ordered collective of a torus or mesh pool, and NCCL's CollNet with in-network
    reduction across nodes."""
    r, nodes, inter = group.per_node, group.nodes, group.inter
    assert inter is not None
    shard = nbytes / r
    if kind == "allreduce":
        inside = _intra("reducescatter", r, nbytes, group).phases
        across = _flat("allreduce", nodes, shard, nic, inter.latency, inter, where="inter",
                       nvls_scale=group.collective_scale)
        outside = _intra("allgather", r, nbytes, group).phases
        return _cost("hierarchical", [*inside, *across.phases, *outside])
    # all-gather / reduce-scatter: one pass inside, one across
    inside = _intra(kind, r, nbytes, group).phases
    across = _ring_phases(1, nodes, shard, nic, inter.latency, "inter")
    return _cost("hierarchical", [*inside, *across])


def p2p_cost(nbytes: float, link: InterconnectSpec | None, bandwidth: float | None = None,
             where: str = "intra") -> CommCost:
    """Point-to-point send of ``nbytes`` over ``link`` (achieved bandwidth unless given)."""
    if nbytes <= 0 or link is None:
        return CommCost(0.0, "none")
    bw = bandwidth if bandwidth is not None else link.achieved_bandwidth
    return _cost("p2p", [Phase(where, link.latency, nbytes, bw)])


def p2p_time(nbytes: float, link: InterconnectSpec | None, bandwidth: float | None = None
             ) -> float:
    """Point-to-point send of ``nbytes`` over ``link`` (achieved bandwidth unless given)."""
    return p2p_cost(nbytes, link, bandwidth).time_s


def bus_bandwidth(kind: str, nbytes: float, n: int, time_s: float) -> float:
    """nccl-tests bus bandwidth of a measured collective (reference/collectives.md)."""
    factor = {"allreduce": 2 * (n - 1) / n, "allgather": (n - 1) / n,
              "reducescatter": (n - 1) / n, "alltoall": (n - 1) / n,
              "broadcast": 1.0, "reduce": 1.0}[kind]
    return nbytes / time_s * factor
