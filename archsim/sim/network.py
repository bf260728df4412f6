"""The network behind the DES: one small protocol, a contention-free and a flow-level model.

The simulation moves data through *channels*: FIFO queues of transfers (a pipeline link
direction, a data-parallel communication stream, a stage's blocking collectives), as NCCL
streams are. A channel belongs to a :class:`Network`, which decides how transfers on different
channels interact:

* :class:`AnalyticNetwork` — contention-free: a transfer takes its own time (latency + bytes /
  bandwidth of its bottleneck) whatever else is in flight. Completion times are known when work
  is queued, so it costs no events (each channel is a :class:`~archsim.sim.engine.FifoStream`).
* :class:`FlowNetwork` — flow-level: a transfer is a sequence of phases; each phase waits its
  latency, then its bytes flow over a set of *resources* (a device's NIC or scale-up port, one
  direction). Concurrent flows share every resource max-min fairly (progressive filling,
  Bertsekas & Gallager, Data Networks §6.5.2), each flow also capped at its own bandwidth (the
  rate its collective algorithm reaches alone). Rates are recomputed whenever a flow starts or
  ends; one event per change.

The protocol (what the DES uses): ``network.channel(name, category)`` →
``channel.submit(ready_at, transfer, label, on_done)`` and ``channel.drained()``. ``on_done`` is
called with the completion time: at submit time (analytic: the time is already known, possibly
in the future) or at the completion (flow).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Protocol

import simpy

from archsim.cost.transfer import FlowPhase, Transfer
from archsim.sim.engine import FifoStream, Simulation

__all__ = ["AnalyticNetwork", "Channel", "FlowNetwork", "FlowPhase", "Network", "Transfer",
           "build_network", "max_min_rates"]

# Flows whose remaining bytes fall below this are done (floating-point slack), bytes.
_EPS_BYTES = 1e-6


Done = Callable[[float], None]


class Channel(Protocol):
    name: str
    busy_s: float

    def submit(self, ready_at: float, transfer: Transfer, label: str,
               on_done: Done | None = None, args: dict | None = None) -> None: ...

    def drained(self) -> float | simpy.Event:
        """When all queued work is done: a time (known now) or an event to wait for."""
        ...


class Network(Protocol):
    model: str

    def channel(self, name: str, category: str) -> Channel: ...


# --------------------------------------------------------------------------- contention-free

class AnalyticChannel(FifoStream):
    """A FIFO stream whose transfers never interact with other channels."""

    __slots__ = ()

    def submit(self, ready_at: float, transfer: Transfer | float, label: str,  # type: ignore[override]
               on_done: Done | None = None, args: dict | None = None) -> float:
        seconds = transfer.time_s if isinstance(transfer, Transfer) else transfer
        end = FifoStream.submit(self, ready_at, seconds, label, args)
        if on_done is not None:
            on_done(end)
        return end

    def drained(self) -> float:
        return self.free_at


class AnalyticNetwork:
    model = "analytic"

    def __init__(self, sim: Simulation):
        self.sim = sim

    def channel(self, name: str, category: str) -> AnalyticChannel:
        return AnalyticChannel(name, self.sim.trace, category)


# --------------------------------------------------------------------------- flow level

def max_min_rates(flows: list[tuple[tuple[str, ...], float]], capacity: dict[str, float]
                  ) -> list[float]:
    """Max-min fair rates of ``flows`` = [(resources, cap)] over resources of ``capacity``.

    Progressive filling: raise every unfrozen flow's rate equally until a resource is full
    or a flow reaches its cap; freeze those flows; repeat.
    """
    n = len(flows)
    rate = [0.0] * n
    frozen = [False] * n
    left = {r: capacity[r] for f in flows for r in f[0]}
    users: dict[str, list[int]] = {}
    for i, (res, _) in enumerate(flows):
        for r in res:
            users.setdefault(r, []).append(i)
    active = n
    while active:
        step = math.inf
        counts = {}
        for r, idx in users.items():
            k = sum(1 for i in idx if not frozen[i])
            if k:
                counts[r] = k
                step = min(step, left[r] / k)
        for i in range(n):
            if not frozen[i]:
                step = min(step, flows[i][1] - rate[i])
        if step == math.inf:  # flows on no resource: only their cap binds
            step = 0.0
        for i in range(n):
            if not frozen[i]:
                rate[i] += step
        for r, k in counts.items():
            left[r] -= step * k
        for i in range(n):
            if frozen[i]:
                continue
            capped = rate[i] >= flows[i][1] * (1 - 1e-12)
            full = any(left[r] <= capacity[r] * 1e-12 for r in flows[i][0])
            if capped or full or step == 0.0:
                frozen[i] = True
                active -= 1
    return rate


class _Flow:
    __slots__ = ("cap", "done", "left", "rate", "resources")

    def __init__(self, nbytes: float, resources: tuple[str, ...], cap: float, done: Done):
        self.left = nbytes
        self.resources = resources
        self.cap = cap
        self.rate = 0.0
        self.done = done


class FlowNetwork:
    """Flows sharing resources max-min fairly; the DES's clock drives them."""

    model = "flow"

    def __init__(self, sim: Simulation, capacity: dict[str, float]):
        self.sim = sim
        self.env = sim.env
        self.capacity = dict(capacity)
        self.flows: list[_Flow] = []
        self._last = 0.0
        self._version = 0

    def channel(self, name: str, category: str) -> FlowChannel:
        return FlowChannel(self, name, category)

    def at(self, when: float, fn: Callable[[], None]) -> None:
        """Call ``fn`` at simulated time ``when`` (now if already past)."""
        ev = self.env.timeout(max(0.0, when - self.env.now))
        ev.callbacks.append(lambda _e: fn())

    def start(self, nbytes: float, resources: tuple[str, ...], cap: float, done: Done) -> None:
        """Start a flow now; ``done(t)`` is called when its last byte arrives."""
        missing = [r for r in resources if r not in self.capacity]
        if missing:
            raise KeyError(f"flow over unknown resources {missing}")
        self._advance()
        self.flows.append(_Flow(nbytes, resources, cap, done))
        self._reschedule()

    def _advance(self) -> None:
        now = self.env.now
        dt = now - self._last
        if dt > 0:
            for f in self.flows:
                f.left -= f.rate * dt
        self._last = now

    def _reschedule(self) -> None:
        self._version += 1
        if not self.flows:
            return
        rates = max_min_rates([(f.resources, f.cap) for f in self.flows], self.capacity)
        nxt = math.inf
        for f, r in zip(self.flows, rates, strict=True):
            f.rate = r
            if r > 0:
                nxt = min(nxt, max(0.0, f.left) / r)
        if nxt == math.inf:
            raise RuntimeError("flows are stalled: every flow has rate 0")
        version = self._version
        ev = self.env.timeout(nxt)
        ev.callbacks.append(lambda _e: self._wake(version))

    def _wake(self, version: int) -> None:
        if version != self._version:
            return  # rates changed since this wake-up was planned
        self._advance()
        finished = [f for f in self.flows if f.left <= _EPS_BYTES + 1e-9 * f.rate]
        self.flows = [f for f in self.flows if f not in finished]
        self._reschedule()
        now = self.env.now
        for f in finished:
            f.done(now)


class FlowChannel:
    """A FIFO queue of transfers whose phases run as flows on a :class:`FlowNetwork`."""

    def __init__(self, net: FlowNetwork, name: str, category: str):
        self.net = net
        self.name = name
        self.category = category
        self.busy_s = 0.0
        self.queue: deque = deque()
        self.active = False
        self._drained: simpy.Event | None = None

    def submit(self, ready_at: float, transfer: Transfer, label: str,
               on_done: Done | None = None, args: dict | None = None) -> None:
        self.queue.append((ready_at, transfer, label, on_done, args))
        if not self.active:
            self._next()

    def drained(self) -> float | simpy.Event:
        if not self.active and not self.queue:
            return self.net.env.now
        if self._drained is None:
            self._drained = self.net.env.event()
        return self._drained

    def _next(self) -> None:
        if not self.queue:
            self.active = False
            if self._drained is not None:
                ev, self._drained = self._drained, None
                ev.succeed()
            return
        self.active = True
        ready_at, transfer, label, on_done, args = self.queue.popleft()
        env = self.net.env

        def begin() -> None:
            start = env.now
            phases = list(transfer.phases)
            fixed = max(0.0, transfer.fixed_s)

            def finish(end: float) -> None:
                self.busy_s += end - start
                self.net.sim.trace.add(self.name, label, start, end, self.category, args)
                if on_done is not None:
                    on_done(end)
                self._next()

            def run_phase(i: int) -> None:
                if i == len(phases):
                    if fixed > 0:
                        self.net.at(env.now + fixed, lambda: finish(env.now))
                    else:
                        finish(env.now)
                    return
                ph = phases[i]

                def flow() -> None:
                    if ph.nbytes > 0:
                        self.net.start(ph.nbytes, ph.resources, ph.max_rate,
                                       lambda _t: run_phase(i + 1))
                    else:
                        run_phase(i + 1)

                if ph.latency_s > 0:
                    self.net.at(env.now + ph.latency_s, flow)
                else:
                    flow()

            run_phase(0)

        if ready_at > env.now:
            self.net.at(ready_at, begin)
        else:
            begin()


def build_network(sim: Simulation, model: str, capacity: dict[str, float] | None = None
                  ) -> AnalyticNetwork | FlowNetwork:
    """The network ``model`` ('analytic' or 'flow') for ``sim``."""
    if model == "analytic":
        return AnalyticNetwork(sim)
    if model == "flow":
        return FlowNetwork(sim, capacity or {})
    raise ValueError(f"unknown network model {model!r}; expected analytic or flow")
