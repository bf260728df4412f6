"""The simulation kernel: one object owns the SimPy environment, its event count and the trace.

Two simulations in one process never share state (no module globals, no class counters).
Streams that serve work first-in first-out without other interaction (a link, a data-parallel
communication stream) are :class:`FifoStream` objects: their completion times are computed when
work is queued, so they cost no DES events of their own; only the hand-over to a waiting task
is an event.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import simpy


def scheduled_events(env: simpy.Environment) -> int:
    """Events ``env`` has scheduled so far (SimPy numbers each one from its ``_eid`` counter)."""
    counter = env._eid  # itertools.count; reading it advances it by one, which is harmless
    return next(counter)


@dataclass(slots=True)
class Span:
    """One interval on a timeline row (Chrome trace 'complete' event)."""

    track: str
    name: str
    start: float
    end: float
    category: str
    args: dict | None = None


@dataclass
class Trace:
    spans: list[Span] = field(default_factory=list)
    enabled: bool = True

    def add(self, track: str, name: str, start: float, end: float, category: str,
            args: dict | None = None) -> None:
        if self.enabled and end > start:
            self.spans.append(Span(track, name, start, end, category, args))


class FifoStream:
    """A resource serving work in arrival order (one link direction, one comm stream)."""

    __slots__ = ("busy_s", "category", "free_at", "name", "trace")

    def __init__(self, name: str, trace: Trace, category: str):
        self.name = name
        self.trace = trace
        self.category = category
        self.free_at = 0.0
        self.busy_s = 0.0

    def submit(self, ready_at: float, duration: float, label: str,
               args: dict | None = None) -> float:
        """Queue work that can start at ``ready_at``; returns its completion time."""
        start = max(ready_at, self.free_at)
        end = start + duration
        self.free_at = end
        self.busy_s += duration
        self.trace.add(self.name, label, start, end, self.category, args)
        return end


class Simulation:
    """Owns one SimPy environment, its trace and its counters."""

    def __init__(self, trace: bool = True):
        self.env = simpy.Environment()
        self.trace = Trace(enabled=trace)

    def stream(self, name: str, category: str) -> FifoStream:
        return FifoStream(name, self.trace, category)

    def signal_at(self, when: float, event: simpy.Event) -> None:
        """Trigger ``event`` at simulated time ``when`` (now if already past).

        Like a Timeout, the event is marked successful and scheduled with a delay, so one
        event is scheduled rather than a timer plus a callback-triggered event.
        """
        event._ok = True
        event._value = None
        delay = when - self.env._now
        self.env.schedule(event, 1, delay if delay > 0.0 else 0.0)  # 1 = simpy NORMAL

    @property
    def events(self) -> int:
        return scheduled_events(self.env)
