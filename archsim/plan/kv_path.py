"""How a prompt's KV cache crosses from a prefill replica to a decode replica (disaggregated
serving).

Assumptions:

* The pool links of a cluster (``hardware.cluster.links``) are per device pair, as for a
  training pipeline's sends (archsim/plan/links.py ``route_bandwidth``): a replica pair whose
  smaller side has k devices moves its cache over k lanes, each at the slowest link of the
  route between the pools (a link's ``speed`` included; several hops allowed).
* Each end also passes through its nodes' scale-out NICs where its pool has them
  (``inter_node``, ``nics_per_node``; default one NIC per device): a replica of k devices
  reaches ⌈k · nics_per_node / devices_per_node⌉ of them. The H100 → A100 transfer of one GPU
  each runs at the A100's HDR NIC (21.5 GB/s achieved), not at the NDR link's 47 GB/s; twelve
  Inferentia2 chips behind one 100 GbE NIC receive at 10 GB/s, however many lanes.
* Replicas whose first device sits behind the same NIC share it: their transfers queue for it,
  first come first served, on both sides (a transfer holds its sender's and its receiver's NIC
  for its whole duration). Replicas with NICs of their own do not wait for one another. A
  pool without scale-out NICs queues per replica (the link alone limits it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from archsim.spec.hardware import PoolLinkSpec, PoolSpec


@dataclass(frozen=True)
class KvSide:
    """One end of the transfer: the pool and the devices each of its replicas holds."""

    pool: PoolSpec
    devices_per_replica: int

    @property
    def nics(self) -> int:
        """Scale-out NICs one replica reaches (0: the pool has none)."""
        pool = self.pool
        if pool.inter_node is None:
            return 0
        per_node = pool.nics_per_node or pool.devices_per_node
        return max(1, math.ceil(self.devices_per_replica * per_node / pool.devices_per_node))

    @property
    def nic_bandwidth(self) -> float | None:
        """Achieved bandwidth of the NICs one replica reaches (None: no NICs)."""
        if self.pool.inter_node is None:
            return None
        return self.pool.inter_node.achieved_bandwidth * self.nics

    def queue_key(self, replica: int) -> int:
        """The queue a replica's transfers wait in: the NIC behind its first device (replicas
        packed in order, node by node), or the replica itself without NICs."""
        pool = self.pool
        if pool.inter_node is None:
            return replica
        first = replica * self.devices_per_replica
        per_node = pool.nics_per_node or pool.devices_per_node
        node, slot = divmod(first, pool.devices_per_node)
        return node * per_node + slot * per_node // pool.devices_per_node


@dataclass(frozen=True)
class KvPath:
    """The route, its per-transfer bandwidth and latency, and the queues of both ends."""

    route: tuple[PoolLinkSpec, ...]
    sender: KvSide
    receiver: KvSide

    @property
    def name(self) -> str:
        """The route's interconnects, in order (``ib-ndr-400g``; ``a → b`` over two hops)."""
        return " → ".join(lk.interconnect.name for lk in self.route)

    @property
    def lanes(self) -> int:
        return min(self.sender.devices_per_replica, self.receiver.devices_per_replica)

    @property
    def bandwidth(self) -> float:
        """Bytes/s one transfer gets: the slowest of the route's lanes and either end's NICs."""
        limits = [min(lk.achieved_bandwidth for lk in self.route) * self.lanes]
        limits += [bw for bw in (self.sender.nic_bandwidth, self.receiver.nic_bandwidth)
                   if bw is not None]
        return min(limits)

    @property
    def latency(self) -> float:
        return sum(lk.interconnect.latency for lk in self.route)

    @property
    def limited_by(self) -> str:
        """What sets the bandwidth, in words (the route, or the sending or receiving NICs)."""
        bw = self.bandwidth
        for side, word in ((self.receiver, "receiving"), (self.sender, "sending")):
            if side.nic_bandwidth is not None and side.nic_bandwidth <= bw * (1 + 1e-12):
                assert side.pool.inter_node is not None
                return (f"the {word} pool {side.pool.name}'s "
                        f"{_plural(side.nics, 'NIC')} ({side.pool.inter_node.name})")
        return f"the route ({self.name}, {_plural(self.lanes, 'lane')})"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
