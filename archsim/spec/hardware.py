"""Hardware specs: interconnects, fabrics, stragglers, pools, storage and clusters.

Devices are in archsim/spec/device.py (re-exported here). Every quantity is written with its
unit in the YAML and held as an SI float here.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator, model_validator

from archsim.spec.base import StrictModel
from archsim.spec.device import (  # re-exported: the device half of the hardware specs
    DeviceSpec,
)
from archsim.spec.interconnect import (  # re-exported: the link half of the hardware specs
    InterconnectSpec,
    link_size_problem,
    link_vendor_problem,
)
from archsim.spec.units import (
    BYTES_PER_ELEMENT,
    Bandwidth,
    DurationOrZero,
)

# Most devices in one cluster: 2**20 = 1,048,576, five times the largest GPU clusters built
# (about 200,000); beyond it a "feasible" answer would describe no machine anyone can rent.
MAX_DEVICES = 2**20

class FabricSpec(StrictModel):
    """The scale-out fabric the nodes of a pool hang off (fat-tree or rail-optimized).

    A leaf switch joins ``nodes_per_leaf`` nodes at full bandwidth; traffic between leaves goes
    through the spine, whose bandwidth is the leaves' down-link bandwidth / ``oversubscription``.
    In a rail-optimized fabric NIC *i* of every node goes to rail switch *i*, so the "leaf" of
    same-index GPUs is the rail switch and it holds as many nodes as it has down ports; in a
    fat-tree all NICs of a node go to one leaf, which holds down ports / nics_per_node nodes.
    """

    topology: Literal["fattree", "rail"] | None = None
    """Default: the inter_node interconnect's topology (fattree unless it says rail)."""
    oversubscription: float = Field(default=1.0, ge=1)
    """Down-link / up-link bandwidth of a leaf switch (1 = non-blocking)."""
    nodes_per_leaf: int | None = Field(default=None, ge=1)
    """Nodes under one leaf (rail) switch; derived from ``switch_radix`` when not given."""
    switch_radix: int | None = Field(default=None, ge=2)
    """Ports per leaf switch: down ports = radix · o / (1 + o)."""


class StragglerSpec(StrictModel):
    """A slow device or node: compute speed and link bandwidth factors (1 = nominal)."""

    device: int | None = Field(default=None, ge=0)
    """Index of the device in its pool (0-based, rank order)."""
    node: int | None = Field(default=None, ge=0)
    """Index of the node in its pool (0-based): every device of that node."""
    speed: float = Field(default=1.0, gt=0, le=1)
    """Compute speed / nominal (0.5 = every kernel takes twice as long)."""
    nic_speed: float = Field(default=1.0, gt=0, le=1)
    """Scale-out (NIC) bandwidth / nominal: a degraded link or a NIC running at a lower rate."""
    intra_speed: float = Field(default=1.0, gt=0, le=1)
    """Scale-up (NVLink, ICI) bandwidth / nominal."""

    @model_validator(mode="after")
    def _one_target(self) -> StragglerSpec:
        if (self.device is None) == (self.node is None):
            raise ValueError("give exactly one of device or node (an index in the pool)")
        return self


class PoolSpec(StrictModel):
    """Devices of one type with their links (a homogeneous part of a cluster)."""

    name: str = "main"
    device: DeviceSpec
    count: int = Field(le=MAX_DEVICES)
    devices_per_node: int = Field(ge=1, le=MAX_DEVICES)
    intra_node: InterconnectSpec | None = None
    inter_node: InterconnectSpec | None = None
    nics_per_node: int | None = Field(default=None, ge=1)
    """Scale-out NICs per node; default one per device."""
    torus: tuple[int, ...] | None = None
    """Shape of the torus (or ring) a node's devices form, e.g. [16, 16] for a TPU v5e pod;
    default: the most nearly cubic shape of devices_per_node (torus intra_node only)."""
    fabric: FabricSpec = FabricSpec()
    stragglers: list[StragglerSpec] = Field(default_factory=list)

    @field_validator("count")
    @classmethod
    def _positive_count(cls, count: int) -> int:
        if count < 1:
            raise ValueError("a pool needs at least one device")
        return count

    @model_validator(mode="after")
    def _check_counts(self) -> PoolSpec:
        if self.count > self.devices_per_node and self.count % self.devices_per_node:
            raise ValueError(f"count {self.count} is not a multiple of devices_per_node "
                             f"{self.devices_per_node}")
        if min(self.count, self.devices_per_node) > 1 and self.intra_node is None:
            raise ValueError(f"{min(self.count, self.devices_per_node)} devices per node need "
                             "an intra_node interconnect")
        if self.count > self.devices_per_node and self.inter_node is None:
            raise ValueError(f"{self.count} devices span several nodes of "
                             f"{self.devices_per_node}: inter_node interconnect is required")
        self._check_links()
        self._check_torus()
        self._check_mesh()
        self._check_fabric()
        for i, s in enumerate(self.stragglers):
            if s.device is not None and s.device >= self.count:
                raise ValueError(f"stragglers[{i}].device {s.device} is outside the pool "
                                 f"({self.count} devices: 0..{self.count - 1})")
            if s.node is not None and s.node >= self.nodes:
                raise ValueError(f"stragglers[{i}].node {s.node} is outside the pool "
                                 f"({self.nodes} nodes: 0..{self.nodes - 1})")
        return self

    def _check_links(self) -> None:
        """Raise ValueError if a link cannot join this pool's devices: another vendor's, or a
        domain larger than it joins (archsim/spec/interconnect.py)."""
        problems = [link_vendor_problem("intra_node", self.intra_node, self.device),
                    link_vendor_problem("inter_node", self.inter_node, self.device),
                    link_size_problem("intra_node", self.intra_node, "devices_per_node",
                                      self.devices_per_node),
                    link_size_problem("inter_node", self.inter_node, "count", self.count)]
        for problem in problems:
            if problem is not None:
                raise ValueError(problem)

    def _check_torus(self) -> None:
        topo = self.intra_node.topology if self.intra_node is not None else None
        if self.torus is None:
            return
        want = TORUS_DIMS.get(topo or "")
        if want is None:
            raise ValueError(f"torus {list(self.torus)} needs a ring, torus2d or torus3d "
                             f"intra_node interconnect (intra_node "
                             f"{self.intra_node.name if self.intra_node else None!r} is "
                             f"{topo or 'absent'})")
        if len(self.torus) != want:
            raise ValueError(f"torus {list(self.torus)} has {len(self.torus)} dimensions; "
                             f"intra_node {self.intra_node.name!r} is a {topo} "
                             f"({want} dimension{'s' if want > 1 else ''})")
        if any(d < 1 for d in self.torus):
            raise ValueError(f"torus {list(self.torus)}: every dimension must be at least 1")
        size = math.prod(self.torus)
        if size != self.node_size:
            raise ValueError(f"torus {list(self.torus)} holds {size} devices, but a node (the "
                             f"{topo} domain) of this pool holds {self.node_size} "
                             f"(devices_per_node {self.devices_per_node}, count {self.count})")

    def _check_mesh(self) -> None:
        link = self.intra_node
        if link is None or link.topology != "mesh" or link.mesh_peers is None:
            return
        if self.node_size > link.mesh_peers + 1:
            raise ValueError(f"devices_per_node {self.devices_per_node}: intra_node "
                             f"{link.name!r} joins each device directly to "
                             f"{link.mesh_peers} peers, so a node holds at most "
                             f"{link.mesh_peers + 1} devices")

    def _check_fabric(self) -> None:
        f = self.fabric
        if f.oversubscription > 1 and f.nodes_per_leaf is None and f.switch_radix is None:
            raise ValueError(f"fabric.oversubscription {f.oversubscription:g} needs "
                             "fabric.nodes_per_leaf (nodes under one leaf switch) or "
                             "fabric.switch_radix (ports per leaf switch)")
        if (f.switch_radix is not None and f.nodes_per_leaf is None
                and self.inter_node is not None and self.fabric_topology != "rail"):
            o = f.oversubscription
            down = int(f.switch_radix * o / (1 + o))
            nics = self.nics_per_node or self.devices_per_node
            if down < nics:
                raise ValueError(
                    f"fabric.switch_radix {f.switch_radix} with oversubscription {o:g} leaves "
                    f"{down} down ports per leaf, fewer than a node's {nics} NICs (in a "
                    "fat-tree all NICs of a node go to one leaf): give a larger switch_radix "
                    "or fabric.topology rail")

    @property
    def nodes(self) -> int:
        return max(1, self.count // self.devices_per_node)

    @property
    def node_size(self) -> int:
        return min(self.count, self.devices_per_node)

    @property
    def nic_bandwidth_per_device(self) -> float:
        """Achieved scale-out bandwidth available to one device (its share of the node's NICs)."""
        if self.inter_node is None:
            return 0.0
        nics = self.nics_per_node or self.devices_per_node
        return self.inter_node.achieved_bandwidth * nics / self.devices_per_node

    @property
    def torus_dims(self) -> tuple[int, ...]:
        """Torus shape of one node's devices (a ring is one dimension); () if not a torus."""
        topo = self.intra_node.topology if self.intra_node is not None else ""
        want = TORUS_DIMS.get(topo)
        if want is None:
            return ()
        return self.torus if self.torus is not None else near_cube(self.node_size, want)

    @property
    def torus_wraps(self) -> tuple[bool, ...]:
        """Per dimension of :attr:`torus_dims`, whether it has its wrap-around links: every
        dimension of a whole node's torus; of a smaller slice, those whose length is a full
        torus axis or a multiple of the link's ``torus_wrap_multiple`` (a 2-chip slice is one
        link, not a ring of two)."""
        dims = self.torus_dims
        if self.count >= self.devices_per_node:
            return tuple(True for _ in dims)
        multiple = self.intra_node.torus_wrap_multiple if self.intra_node else None
        if multiple is not None and all(d % multiple == 0 for d in dims):
            return tuple(True for _ in dims)
        full = set(near_cube(self.devices_per_node, len(dims)))
        return tuple(d > 2 and d in full for d in dims)

    @property
    def fabric_topology(self) -> str:
        if self.fabric.topology is not None:
            return self.fabric.topology
        inter = self.inter_node.topology if self.inter_node is not None else "fattree"
        return "rail" if inter == "rail" else "fattree"

    @property
    def nodes_per_leaf(self) -> int:
        """Nodes whose same-index devices reach each other without crossing the spine."""
        f = self.fabric
        if f.nodes_per_leaf is not None:
            return f.nodes_per_leaf
        if f.switch_radix is None:
            return self.nodes
        o = f.oversubscription
        down = int(f.switch_radix * o / (1 + o))
        nics = self.nics_per_node or self.devices_per_node
        per_leaf = down if self.fabric_topology == "rail" else down // nics
        return max(1, per_leaf)


TORUS_DIMS = {"ring": 1, "torus2d": 2, "torus3d": 3}


@lru_cache(maxsize=256)
def near_cube(n: int, dims: int) -> tuple[int, ...]:
    """The most nearly cubic shape of ``dims`` factors of ``n``, largest factor last."""
    best: tuple[int, ...] = (n,) + (1,) * (dims - 1)

    def search(rest: int, k: int, prefix: tuple[int, ...]) -> None:
        nonlocal best
        if k == 1:
            shape = tuple(sorted((*prefix, rest)))
            if max(shape) - min(shape) < max(best) - min(best):
                best = shape
            return
        for f in range(1, rest + 1):
            if rest % f == 0:
                search(rest // f, k - 1, (*prefix, f))

    search(n, dims, ())
    return tuple(sorted(best))


class PoolLinkSpec(StrictModel):
    """The link between two pools of a heterogeneous cluster (per device, per direction)."""

    between: tuple[str, str]
    interconnect: InterconnectSpec
    speed: float = Field(default=1.0, gt=0, le=1)
    """Bandwidth / nominal (a degraded link)."""

    @property
    def achieved_bandwidth(self) -> float:
        return self.interconnect.achieved_bandwidth * self.speed


class StorageSpec(StrictModel):
    """Where training data is read from and checkpoints are written to.

    ``scope: shared`` (a parallel file system or object store): bandwidths are the aggregate
    of the whole system, and each client node is further limited by ``client_*_bandwidth``.
    ``scope: per-node`` (local NVMe): bandwidths are per node and scale with the nodes used.
    """

    name: str = ""
    kind: Literal["parallel-fs", "object-store", "nfs", "local-nvme"]
    scope: Literal["shared", "per-node"] = "shared"
    read_bandwidth: Bandwidth
    write_bandwidth: Bandwidth
    client_read_bandwidth: Bandwidth | None = None
    client_write_bandwidth: Bandwidth | None = None
    latency: DurationOrZero = 0.0
    """Per-operation latency (open, metadata, first byte)."""
    source: str = ""
    unverified: list[str] = Field(default_factory=list)


NetworkModel = Literal["analytic", "flow"]


class ClusterSpec(StrictModel):
    """A set of pools plus the links between them, storage and the network model."""

    name: str = ""
    description: str = ""
    pools: list[PoolSpec] = Field(min_length=1)
    links: list[PoolLinkSpec] = Field(default_factory=list)
    storage: StorageSpec | None = None
    network: NetworkModel = "analytic"
    """analytic: transfers never slow each other; flow: concurrent transfers that share a link
    share its bandwidth (max-min fair)."""

    @model_validator(mode="after")
    def _check_pools(self) -> ClusterSpec:
        names = [p.name for p in self.pools]
        if self.total_devices > MAX_DEVICES:
            raise ValueError(f"the pools hold {self.total_devices:,} devices; archsim simulates "
                             f"clusters of at most {MAX_DEVICES:,}")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"pool names must be unique; repeated: {', '.join(dupes)}")
        for i, link in enumerate(self.links):
            for end in link.between:
                if end not in names:
                    raise ValueError(f"links[{i}] names pool {end!r}, which does not exist "
                                     f"(pools: {', '.join(names)})")
            if link.between[0] == link.between[1]:
                raise ValueError(f"links[{i}] joins pool {link.between[0]!r} to itself")
        unreachable = [n for n in names if n not in self._reachable(names[0])]
        if unreachable:
            joined = "; ".join(f"{a}-{b}" for a, b in (lk.between for lk in self.links))
            raise ValueError(
                f"pool{'s' if len(unreachable) > 1 else ''} "
                f"{', '.join(repr(n) for n in unreachable)} cannot be reached from pool "
                f"{names[0]!r}: add a link between pools (links: {joined or 'none'})")
        return self

    def _reachable(self, start: str) -> set[str]:
        seen, todo = {start}, [start]
        while todo:
            here = todo.pop()
            for link in self.links:
                if here in link.between:
                    other = link.between[1] if link.between[0] == here else link.between[0]
                    if other not in seen:
                        seen.add(other)
                        todo.append(other)
        return seen

    @property
    def total_devices(self) -> int:
        return sum(p.count for p in self.pools)

    def pool(self, name: str) -> PoolSpec:
        for p in self.pools:
            if p.name == name:
                return p
        raise KeyError(name)

    def route(self, src: str, dst: str) -> list[PoolLinkSpec]:
        """Pool links from ``src`` to ``dst`` (fewest hops; [] for the same pool)."""
        if src == dst:
            return []
        prev: dict[str, tuple[str, PoolLinkSpec]] = {}
        seen, frontier = {src}, [src]
        while frontier:
            nxt = []
            for here in frontier:
                for link in self.links:
                    if here in link.between:
                        other = link.between[1] if link.between[0] == here else link.between[0]
                        if other not in seen:
                            seen.add(other)
                            prev[other] = (here, link)
                            nxt.append(other)
            frontier = nxt
        if dst not in prev:
            raise KeyError(f"no route from pool {src!r} to {dst!r}")
        path, here = [], dst
        while here != src:
            here, link = prev[here][0], prev[here][1]
            path.append(link)
        return path[::-1]


def dtype_bytes(dtype: str) -> float:
    """Bytes per element of ``dtype``."""
    return BYTES_PER_ELEMENT[dtype]
