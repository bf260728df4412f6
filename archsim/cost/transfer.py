"""A unit of network work as the network models see it (archsim/sim/network.py).

A :class:`Transfer` has its contention-free time and the phases the flow-level model runs: each
phase waits its latency, then moves its bytes over every named resource at no more than its own
bandwidth (the rate its algorithm reaches alone).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FlowPhase:
    """Latency, then ``nbytes`` over every resource in ``resources`` at ≤ ``max_rate``."""

    latency_s: float
    nbytes: float
    resources: tuple[str, ...]
    max_rate: float


@dataclass(frozen=True, slots=True)
class Transfer:
    """One unit of channel work: its contention-free time and its phases for the flow model."""

    time_s: float
    phases: tuple[FlowPhase, ...] = ()

    @property
    def fixed_s(self) -> float:
        """Time not spent moving bytes on a resource (latencies, unmodelled parts)."""
        return self.time_s - sum(p.latency_s + (p.nbytes / p.max_rate if p.nbytes > 0 else 0.0)
                                 for p in self.phases)
