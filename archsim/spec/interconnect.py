"""Interconnect specs: a link technology's bandwidth, latency and efficiency, its topology,
the most devices one domain of it joins and the vendors it exists for — and the checks that a
pool's links can join its devices."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from archsim.spec.base import StrictModel
from archsim.spec.device import DeviceSpec
from archsim.spec.units import Bandwidth, DurationOrZero

Topology = Literal["switch", "ring", "torus2d", "torus3d", "fattree", "rail", "pcie", "mesh"]


class InterconnectSpec(StrictModel):
    """A link technology: per-device bandwidth in one direction, per-step latency, efficiency."""

    name: str
    kind: Literal["nvlink", "pcie", "infiniband", "ethernet", "ici", "neuronlink", "xgmi",
                  "custom", "loopback"]
    bandwidth: Bandwidth
    """Per device, per direction (the line rate nccl-tests' bus bandwidth is compared with)."""
    latency: DurationOrZero
    """Per-step latency alpha of the alpha-beta model."""
    efficiency: float = Field(gt=0, le=1)
    """Achieved bus bandwidth / line rate for large messages (nccl-tests busbw)."""
    topology: Topology = "switch"
    mesh_peers: int | None = Field(default=None, ge=1)
    """Mesh topology: the direct peers ``bandwidth`` is split over, one link set each (7 for
    8 devices joined pairwise). A group reaches members − 1 of them whatever node size a pool
    declares. None: the pool's other devices in the node."""
    torus_wrap_multiple: int | None = Field(default=None, ge=2)
    """Torus topology: a slice smaller than the node's torus (a pool whose ``count`` is below
    ``devices_per_node``) built of whole blocks this long in every dimension has wrap-around
    links on all of them (TPU v4/v5p: 4, optical switches join 4×4×4 cubes and close their
    rings). Otherwise (and with None) only a dimension as long as one of the full torus's has
    them (TPU v5e/v6e: the 16-chip axes). A dimension without them is a line: its rings use
    each link both ways (b, not 2·b)."""
    in_network_reduction: bool = False
    """The switch reduces in the network (NVLS, SHARP) for all-reduce."""
    in_network_efficiency: float | None = Field(default=None, gt=0, le=2)
    """In-network all-reduce bus bandwidth (nccl-tests convention) / line rate; may exceed 1."""
    size_efficiency: tuple[tuple[float, float], ...] | None = None
    """Bus bandwidth of an S-byte collective / at large messages, as ``[bytes, fraction]``
    points from an nccl-tests size sweep on this link (with ``latency`` taken from its
    smallest messages): a collective runs its bytes at ``efficiency`` × the fraction at its
    buffer size, interpolated in log10(S); the first point's fraction below it, 1 beyond the
    last. None: every size at ``efficiency``."""
    max_devices: int | None = Field(default=None, ge=1)
    """The most devices one domain of this link joins (an NVSwitch node, a TPU pod, an xGMI
    hive): a pool's ``devices_per_node`` may not exceed it where this is its intra_node, nor
    its ``count`` where this is its inter_node. None: no limit (switched scale-out networks)."""
    vendors: tuple[str, ...] | None = None
    """The device vendors this link exists for (a device profile's ``vendor``, e.g.
    ``[NVIDIA]`` for NVLink); a device of another vendor may not use it. None: any vendor.
    A what-if link belongs in a profile of its own (kind ``custom``) without this field."""
    source: str = ""
    unverified: list[str] = Field(default_factory=list)

    @field_validator("size_efficiency")
    @classmethod
    def _check_size_efficiency(cls, points: tuple[tuple[float, float], ...] | None
                               ) -> tuple[tuple[float, float], ...] | None:
        if points is None:
            return None
        if not points:
            raise ValueError("expected at least one [bytes, fraction] point")
        for i, (nbytes, fraction) in enumerate(points):
            if not nbytes > 0:
                raise ValueError(f"point {i}: bytes must be > 0 (got {nbytes})")
            if not 0 < fraction <= 1:
                raise ValueError(f"point {i}: fraction must be in (0, 1] "
                                 f"(got {fraction})")
            if i and nbytes <= points[i - 1][0]:
                raise ValueError(f"point {i}: bytes must increase from point to "
                                 f"point (got {nbytes} after {points[i - 1][0]})")
        return points

    @field_validator("vendors")
    @classmethod
    def _check_vendors(cls, vendors: tuple[str, ...] | None) -> tuple[str, ...] | None:
        """An empty list would refuse every device: say so rather than take it."""
        if vendors is not None and not [v for v in vendors if v.strip()]:
            raise ValueError("expected at least one vendor (a device profile's vendor, e.g. "
                             "NVIDIA); leave vendors out for a link of any vendor")
        return vendors

    @property
    def achieved_bandwidth(self) -> float:
        return self.bandwidth * self.efficiency


def link_vendor_problem(field: str, link: InterconnectSpec | None, device: DeviceSpec
                        ) -> str | None:
    """Why ``link`` (a pool's ``field``) cannot join ``device``: it is built for other vendors
    (its ``vendors``). None where it can; a device that names no vendor (an inline what-if
    device) is not checked."""
    vendor = device.vendor.strip()
    if link is None or link.vendors is None or not vendor:
        return None
    if vendor.casefold() in {v.strip().casefold() for v in link.vendors}:
        return None
    return (f"{field} {link.name!r} is a link of {' or '.join(link.vendors)} devices, "
            f"but device {device.name!r} is made by {vendor}: expected a link "
            f"for {vendor} devices or one without vendors (a what-if link belongs in "
            "an interconnect profile of its own, of kind custom)")


def link_size_problem(field: str, link: InterconnectSpec | None, what: str, size: int
                      ) -> str | None:
    """Why ``link`` (a pool's ``field``) cannot join ``size`` devices (its ``what``: a node's
    ``devices_per_node`` for the intra-node link, judged whatever the pool's ``count``, as a
    slice of a pod is judged by the pod it declares; the pool's ``count`` for the inter-node
    one): more than its ``max_devices``. None where it can."""
    if link is None or link.max_devices is None or size <= link.max_devices:
        return None
    return (f"{what} {size:,}: {field} {link.name!r} joins at most "
            f"{link.max_devices:,} devices in one domain (its max_devices): expected "
            f"{what} at most {link.max_devices:,} (a what-if domain belongs in an "
            "interconnect profile of its own, of kind custom, without max_devices)")
