"""Cost of a run of ops on one rank: compute (roofline) and blocking collectives (alpha-beta).

:class:`PhaseCost` keeps compute and blocking communication apart, their FLOPs, time and bytes
per collective kind, the algorithm each collective chose, and — for the flow-level network
model — the bytes each collective phase put on each link (``comm_links``).

Two byte counts per collective kind (:func:`wire_bytes`): the buffer size S of each
collective, as nccl-tests' ``size`` (the whole array of an all-gather or reduce-scatter), and
the bytes one rank sends on a ring of the group's n ranks, 2(n−1)/n·S for an all-reduce and
(n−1)/n·S for the others (Patarasuk & Yuan 2009; nccl-tests PERFORMANCE.md's bus bandwidth
factors). Only the second compares kinds: ZeRO-1's reduce-scatter + all-gather send what
ZeRO-0's all-reduce sends (Rajbhandari et al. 2020 §7), where S counts them twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from archsim.cost.comm import CommGroup, collective_time, neighbour_ring_time
from archsim.cost.compute import compute_time
from archsim.cost.insitu import factors
from archsim.graph.ops import Op
from archsim.spec.device import DeviceSpec

COMM_KINDS = ("allreduce", "allgather", "reducescatter", "alltoall", "p2p")


def wire_bytes(kind: str, nbytes: float, n: int) -> float:
    """Bytes one rank sends in collective ``kind`` of an S=``nbytes`` buffer over ``n`` ranks,
    run as a ring: all-reduce 2(n−1)/n·S (reduce-scatter, then all-gather), all-gather and
    reduce-scatter (n−1)/n·S, all-to-all (n−1)/n·S (S/n to each other rank), a point-to-point
    send S. NCCL's tree all-reduce sends the same; in-network reduction (NVLS, SHARP) sends S
    to the switch, which this count does not follow. 0 for one rank (nothing leaves it)."""
    if kind == "p2p":
        return nbytes
    if n <= 1:
        return 0.0
    share = (n - 1) / n * nbytes
    return 2 * share if kind == "allreduce" else share


@dataclass
class PhaseCost:
    """Time of a run of ops on one rank, split into compute and blocking communication."""

    compute_s: float = 0.0
    comm_s: float = 0.0
    flops: float = 0.0
    """Model FLOPs of the matrix ops (the convention of MFU: Op.model_share of each)."""
    executed_flops: float = 0.0
    """The part of them the hardware executes (HFU, TFLOP/s; Op.executed)."""
    masked_flops: float = 0.0
    """The part of both that a fused causal attention's mask lets its kernel skip (Op.masked):
    counted above by the training convention (the full s×s product), left out by inference's
    utilisation, which counts the work done (a 32K-token prompt's attention had put an
    inference MFU above 100%)."""
    sparse_flops: float = 0.0
    """The part of ``flops`` in GEMMs that run on 2:4-sparse tensor cores (Op.executed < 1):
    MFU measures them against the device's sparse peak (archsim/metrics/common.py
    ``mfu_peak``)."""
    comm_by_kind: dict[str, list[float]] = field(default_factory=dict)
    """kind → [network time_s, buffer bytes S, wire bytes] of the collectives, blocking or
    overlapped (``comm_s`` is what of them is exposed; the bytes as :func:`wire_bytes`)."""
    algorithms: dict[str, str] = field(default_factory=dict)
    comm_links: dict[str, list[float]] = field(default_factory=dict)
    """link ('intra', 'intra.d<i>', 'inter') → [latency_s, bytes, busy_s] of the blocking
    collectives' phases on it (what the flow-level network model runs as flows)."""
    kernels: float = 0.0
    """Compute ops run (each one kernel the host issues; collectives not counted)."""
    host_s: float = 0.0
    """Time the device waited for its host to issue the ops (archsim/cost/host.py)."""

    @property
    def time_s(self) -> float:
        return self.compute_s + self.comm_s + self.host_s

    def add(self, other: PhaseCost, times: float = 1.0) -> None:
        self.compute_s += other.compute_s * times
        self.comm_s += other.comm_s * times
        self.flops += other.flops * times
        self.executed_flops += other.executed_flops * times
        self.masked_flops += other.masked_flops * times
        self.sparse_flops += other.sparse_flops * times
        self.kernels += other.kernels * times
        self.host_s += other.host_s * times
        for kind, vals in other.comm_by_kind.items():
            acc = self.comm_by_kind.setdefault(kind, [0.0, 0.0, 0.0])
            for i in range(3):
                acc[i] += vals[i] * times
        self.algorithms.update(other.algorithms)
        for link, vals in other.comm_links.items():
            acc = self.comm_links.setdefault(link, [0.0, 0.0, 0.0])
            for i in range(3):
                acc[i] += vals[i] * times

    def scaled(self, times: float) -> PhaseCost:
        out = PhaseCost()
        out.add(self, times)
        return out

    def slowed(self, speed: float) -> PhaseCost:
        """The same ops on a device running at ``speed`` × nominal (compute only)."""
        if speed == 1.0:
            return self
        out = self.scaled(1.0)
        out.compute_s = self.compute_s / speed
        return out


def cost_ops(ops: Sequence[Op], device: DeviceSpec, groups: dict[str, CommGroup]
             ) -> PhaseCost:
    """Compute and blocking-communication time of ``ops`` run in order on one rank.

    An overlappable collective (ring attention's K/V exchange, a tensor-parallel all-gather
    under ``tp_comm_overlap``) is hidden behind the next compute op, a reduce-scatter under
    ``tp_comm_overlap`` behind the compute op before it; only what exceeds that op — and the
    op's own slowdown while the collective runs beside it (the device's in-situ
    ``overlap_slowdown``) — is exposed.
    """
    cost = PhaseCost()
    slowdown = factors(device).overlap_slowdown
    pending_overlap, pending_kind = 0.0, "allgather"
    prev_t = 0.0  # the last compute op's time not yet overlapped by a collective
    for op in ops:
        if op.kind == "comm":
            assert op.comm is not None
            cost_of = neighbour_ring_time if op.comm.neighbours_only else collective_time
            c = cost_of(op.comm.kind, op.comm.bytes, groups[op.comm.group])
            after = op.comm.overlap_gemm and op.comm.kind == "reducescatter"
            # comm_by_kind keeps each collective's network time, hidden or not (comm_s what
            # is exposed of it)
            network = c.time_s
            if op.comm.overlappable or (op.comm.overlap_gemm and not after):
                pending_overlap += c.time_s
                pending_kind = op.comm.kind
                exposed = 0.0
            elif after:
                exposed = _beside(prev_t, c.time_s, slowdown) - prev_t
                network = max(network, exposed)  # a slowed op can expose more than the wire
                prev_t = 0.0
            else:
                exposed = c.time_s
                for ph in c.phases:
                    acc = cost.comm_links.setdefault(ph.link, [0.0, 0.0, 0.0])
                    acc[0] += ph.latency_s
                    acc[1] += ph.nbytes
                    acc[2] += ph.nbytes / ph.bandwidth
            cost.comm_s += exposed
            acc = cost.comm_by_kind.setdefault(op.comm.kind, [0.0, 0.0, 0.0])
            acc[0] += network
            acc[1] += op.comm.bytes
            acc[2] += wire_bytes(op.comm.kind, op.comm.bytes, groups[op.comm.group].size)
            cost.algorithms[f"{op.comm.group}.{op.comm.kind}"] = c.algorithm
            continue
        t = compute_time(op, device)
        prev_t = t
        if pending_overlap:
            extra = _beside(t, pending_overlap, slowdown) - t
            cost.comm_s += extra
            # its network time is already in comm_by_kind; what the slowed op exposes beyond
            # it is charged to the collective's own kind too (ring attention's K/V all-gather
            # in the forward pass is a reduce-scatter of their gradients in the backward pass)
            if extra > pending_overlap:
                cost.comm_by_kind.setdefault(pending_kind, [0.0, 0.0, 0.0])[0] += \
                    extra - pending_overlap
            pending_overlap = 0.0
            prev_t = 0.0
        cost.compute_s += t
        cost.kernels += 0 if op.grouped else 1
        if op.is_matmul:
            cost.flops += op.flops * op.model_share
            cost.executed_flops += op.flops * op.executed
            cost.masked_flops += op.skipped_flops
            if op.executed < 1.0:
                cost.sparse_flops += op.flops * op.model_share
    return cost


def _beside(compute_s: float, comm_s: float, slowdown: float) -> float:
    """Wall time of a kernel of ``compute_s`` with a collective of ``comm_s`` beside it: the
    longer of the two, the kernel slowed by ``slowdown`` while the collective runs."""
    if comm_s <= 0:
        return compute_s
    slowed = min(compute_s * slowdown, compute_s + comm_s * (1.0 - 1.0 / slowdown))
    return max(comm_s, slowed)
