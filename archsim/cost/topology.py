"""Where a communication group sits in a pool's topology: torus extents, mesh share, spine taper.

Rank order inside a pool is Megatron-LM's (tensor parallel innermost, pipeline stages
outermost); a group is ``size`` ranks spaced ``stride`` apart. On a torus (TPU ICI, NeuronLink)
ranks are laid out row-major over the torus dimensions, first dimension fastest.

Assumptions, each stated where it is used:
* Torus dimension *i* has two links per chip (one each way round); a group that covers the
  whole dimension runs a bidirectional ring on both (2·b per chip), a group that covers part of
  it runs a ring embedded in a line, which uses each link both ways (b per chip). ``stride``
  groups interleaved in one dimension share its links evenly. A dimension of a slice without
  wrap-around links (``PoolSpec.torus_wraps``) is a line even when the group covers it.
* A full mesh (every pair of devices of a node joined directly, e.g. 8× MI300X, Gaudi) splits
  a device's bandwidth over its n−1 peers: a subgroup of k devices reaches (k−1)/(n−1) of it.
* Fat-tree / rail spine taper: all groups of a leaf run the same collective at once
  (symmetry), so a leaf's up-links carry every device's spine-crossing share f of its
  inter-node traffic; with oversubscription o a device can send at most nic/(o·f).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from archsim.spec.hardware import PoolSpec


@dataclass(frozen=True, slots=True)
class TorusDim:
    """The part of one torus dimension a group covers."""

    index: int
    extent: int
    """Group members along this dimension."""
    wraps: bool
    """The members cover the whole dimension and it has wrap-around links (which close the
    ring)."""
    share: int = 1
    """Groups interleaved along this dimension that share its links."""


def torus_extents(dims: tuple[int, ...], size: int, stride: int,
                  wraps: tuple[bool, ...] | None = None) -> tuple[TorusDim, ...]:
    """Dimensions a group of ``size`` ranks spaced ``stride`` apart covers on a torus
    (``wraps``: which dimensions have wrap-around links; None: all).

    Ranks beyond one torus (several nodes) are left to the caller: the extents cover at most
    the torus's devices.
    """
    out: list[TorusDim] = []
    n, st = size, max(1, stride)
    for i, d in enumerate(dims):
        if n <= 1:
            break
        if st >= d:
            st = max(1, st // d)
            continue
        extent = min(n, max(1, d // st))
        closed = wraps is None or wraps[i]
        out.append(TorusDim(index=i, extent=extent, wraps=closed and extent * st == d,
                            share=st))
        n = math.ceil(n / extent)
        st = 1
    return tuple(d for d in out if d.extent > 1)


def mesh_peers(pool: PoolSpec) -> int:
    """Direct peers a device's mesh bandwidth is split over: the link's ``mesh_peers`` (its
    wiring), else the other devices of the pool's node."""
    link = pool.intra_node
    if link is not None and link.mesh_peers is not None:
        return link.mesh_peers
    return max(1, pool.node_size - 1)


def mesh_fraction(pool: PoolSpec, members: int) -> float:
    """Share of a device's mesh bandwidth that reaches ``members − 1`` peers of its node: a
    pair of MI300X in a node declared 2 wide still has one of its 7 xGMI links between them."""
    return min(1.0, max(members - 1, 0) / mesh_peers(pool)) if members > 1 else 1.0


@dataclass(frozen=True, slots=True)
class Spine:
    """Fat-tree / rail taper of an inter-node group: bandwidth multipliers (≤ 1) by pattern."""

    ring: float = 1.0
    """Ring, tree and point-to-point traffic (each node talks to a neighbour)."""
    alltoall: float = 1.0
    """All-to-all traffic (each node talks to every other)."""


def spine_taper(pool: PoolSpec, nodes: int, node_stride: int) -> Spine:
    """Spine taper of a group over ``nodes`` nodes spaced ``node_stride`` nodes apart.

    The group is assumed placed leaf by leaf (consecutive nodes under one leaf switch). A ring
    ordered by leaf crosses the spine once per leaf: f = leaves / nodes. In an all-to-all a node
    sends to every other: f = (nodes − members per leaf) / (nodes − 1).
    """
    o = pool.fabric.oversubscription
    if o <= 1.0 or nodes <= 1:
        return Spine()
    leaf = pool.nodes_per_leaf
    span = (nodes - 1) * node_stride + 1
    if span <= leaf:
        return Spine()
    per_leaf = max(1, min(nodes, math.ceil(leaf / node_stride)))
    leaves = math.ceil(nodes / per_leaf)
    f_ring = leaves / nodes
    f_a2a = (nodes - per_leaf) / (nodes - 1)
    return Spine(ring=min(1.0, 1.0 / (o * f_ring)), alltoall=min(1.0, 1.0 / (o * f_a2a)))
