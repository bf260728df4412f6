"""Discrete-event serving run: request arrivals, routers, replicas, KV-cache transfers.

One SimPy process per replica runs its scheduler's iterations back to back (each lasting the
cost model's time for its batch mix) and sleeps when it has nothing to run; one process
releases the requests at their arrival times and routes them. Colocated serving: every replica
prefills and decodes. Disaggregated serving: requests go to prefill replicas; when a prompt is
done (its first token sampled), its KV cache is sent over the link between the pools — queued
on the sending replica's link, so transfers share its bandwidth first come first served — and
the request joins a decode replica (chosen by the router when the transfer starts) once the
cache has arrived and blocks are free there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from archsim.sim.engine import FifoStream, Simulation
from archsim.sim.serving.requests import Request
from archsim.sim.serving.router import make_router
from archsim.sim.serving.scheduler import Batch, ReplicaScheduler


@dataclass
class Instance:
    """A replica: its scheduler, the time of a batch on it, and a label for the trace."""

    sched: ReplicaScheduler
    cost: Callable[[Batch], float]
    """Seconds of one iteration; may also add each pipeline stage's share to
    ``stage_busy_s``."""
    name: str
    wake: object = None
    stage_busy_s: list[float] = field(default_factory=list)
    """Busy seconds of each pipeline stage (filled by ``cost``; empty if it does not)."""


@dataclass
class TransferLog:
    times_s: list[float] = field(default_factory=list)
    """Queueing + transfer time of each request's KV cache."""
    bytes: float = 0.0
    busy_s: float = 0.0
    link: str = ""
    bandwidth: float = 0.0
    """Link name and the bandwidth one replica's transfers get (bytes/s)."""


@dataclass
class ServingRun:
    requests: Sequence[Request]
    instances: list[Instance]
    events: int
    end_s: float
    spans: list = field(default_factory=list)
    transfers: TransferLog | None = None


def run_serving(requests: Sequence[Request], instances: list[Instance], router: str,
                decode: list[Instance] | None = None,
                transfer: Callable[[Request], tuple[float, float]] | None = None,
                trace: bool = False) -> ServingRun:
    """Simulate ``requests`` on ``instances`` (the prefill replicas when ``decode`` is given).

    ``transfer(r)`` → (seconds, bytes) of sending r's KV cache from a prefill to a decode
    replica.
    """
    sim = Simulation(trace=trace)
    env = sim.env
    front = make_router(router)
    back = make_router(router)
    scheds = [i.sched for i in instances]
    by_sched = {id(i.sched): i for i in instances}
    links: list[FifoStream] = []
    log = None
    if decode is not None:
        assert transfer is not None
        links = [sim.stream(f"{i.name} kv link", "p2p") for i in instances]
        log = TransferLog()
        back_scheds = [i.sched for i in decode]
        by_sched.update({id(i.sched): i for i in decode})

    def poke(inst: Instance) -> None:
        if inst.wake is not None and not inst.wake.triggered:  # type: ignore[attr-defined]
            inst.wake.succeed()  # type: ignore[attr-defined]

    def arrivals():
        for r in requests:
            if r.arrival_s > env.now:
                yield env.timeout(r.arrival_s - env.now)
            sched = front.pick(scheds, r)
            sched.enqueue(r)
            poke(by_sched[id(sched)])

    def send_kv(src: Instance, r: Request) -> None:
        assert transfer is not None and log is not None
        seconds, nbytes = transfer(r)
        dst = by_sched[id(back.pick(back_scheds, r))]
        dst.sched.incoming += 1  # counted by the router while on the way
        start = env.now
        done = links[src.sched.index].submit(start, seconds, f"kv {r.rid}", {"bytes": nbytes})
        log.bytes += nbytes
        log.busy_s += seconds
        log.times_s.append(done - start)

        def arrived(_ev) -> None:
            src.sched.release(r)
            poke(src)
            dst.sched.incoming -= 1
            dst.sched.enqueue(r)
            poke(dst)

        timer = env.timeout(done - start)
        timer.callbacks.append(arrived)

    def replica(inst: Instance):
        sched = inst.sched
        while True:
            batch = sched.schedule()
            if batch is None:
                inst.wake = env.event()
                yield inst.wake
                inst.wake = None
                continue
            t0 = env.now
            yield env.timeout(inst.cost(batch))
            handoff = sched.complete(batch, t0, env.now)
            if trace:
                sim.trace.add(inst.name, _label(batch), t0, env.now, "iteration",
                              {"tokens": batch.tokens, "decode": batch.n_decode,
                               "prefill": len(batch.prefill)})
            for r in handoff:
                send_kv(inst, r)

    env.process(arrivals())
    for inst in instances + (decode or []):
        env.process(replica(inst))
    env.run()
    return ServingRun(requests=requests, instances=instances + (decode or []),
                      events=sim.events, end_s=env.now, spans=sim.trace.spans, transfers=log)


def _label(batch: Batch) -> str:
    parts = []
    if batch.prefill:
        parts.append(f"prefill {len(batch.prefill)}×")
    if batch.n_decode:
        parts.append(f"decode {batch.n_decode}")
    return " + ".join(parts) or "idle"
