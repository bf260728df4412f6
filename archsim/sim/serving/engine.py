"""Discrete-event serving run: request arrivals, routers, replicas, KV-cache transfers.

One SimPy process per replica runs its scheduler's iterations back to back (each lasting the
cost model's time for its batch mix) and sleeps when it has nothing to run; one process
releases the requests at their arrival times and routes them; in a closed loop (``concurrency``
clients) it releases the first ``concurrency`` at time 0 and each later one the moment a
request finishes, which becomes its arrival time. Colocated serving: every replica
prefills and decodes. Disaggregated serving: requests go to prefill replicas; when a prompt is
done (its first token sampled), its KV cache is sent to a decode replica (chosen by the router
when the transfer is sent) over the route between the pools: it waits, first come first
served, until both the sending replica's queue and the receiving replica's are free and holds
both for its duration (replicas behind one NIC share a queue: archsim/plan/kv_path.py), and the
request joins the decode replica once the cache has arrived and blocks are free there.

Pipeline-parallel replicas (an :class:`Instance` with ``stages``) run one process per virtual
engine (archsim/sim/serving/virtual.py). An engine's batch occupies stage 0, crosses the link to
stage 1, occupies stage 1, … in turn; each stage and each link serves one batch at a time, first
come first served (a :class:`FifoStream`, so the traversal is computed when the batch is
scheduled and costs one event). The engine schedules its next batch when this one has left the
last stage. With pp engines busy the stages overlap, and the iteration rate is set by the
slowest stage; a lone batch still takes the sum of its stage and send times.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from archsim.sim.engine import FifoStream, Simulation
from archsim.sim.serving.requests import Request
from archsim.sim.serving.router import make_router
from archsim.sim.serving.scheduler import Batch, ReplicaScheduler
from archsim.sim.serving.virtual import VirtualEngines

StageTimes = Callable[[Batch], tuple[list[float], list[float]]]
"""A batch → (seconds on each pipeline stage, seconds of each send from stage s to s + 1)."""


@dataclass
class Instance:
    """A replica: its scheduler, the time of a batch on it, and a label for the trace."""

    sched: ReplicaScheduler | VirtualEngines
    cost: Callable[[Batch], float] | None
    """Seconds of one iteration, stages run back to back; may also add each pipeline stage's
    share to ``stage_busy_s``. Used when ``stages`` is None."""
    name: str
    wake: object = None
    stage_busy_s: list[float] = field(default_factory=list)
    """Busy seconds of each pipeline stage (filled by ``cost``, or by the pipelined run)."""
    stages: StageTimes | None = None
    """Pipelined replica (``sched`` is then a :class:`VirtualEngines`): its batches flow
    through the stages, one engine's batch per stage at a time."""
    wakes: list = field(default_factory=list)
    """Pipelined replica: the event each sleeping engine waits on (None when awake)."""


@dataclass
class TransferLog:
    times_s: list[float] = field(default_factory=list)
    """Queueing + transfer time of each request's KV cache."""
    bytes: float = 0.0
    busy_s: float = 0.0
    link: str = ""
    bandwidth: float = 0.0
    """Route name and the bandwidth one transfer gets (bytes/s)."""
    limited_by: str = ""
    """What sets that bandwidth, in words."""
    queues: tuple[int, int] = (0, 0)
    """Distinct queues the transfers used on the sending and the receiving side."""


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
                trace: bool = False, concurrency: int | None = None,
                kv_queues: tuple[Callable[[int], int], Callable[[int], int]] | None = None
                ) -> ServingRun:
    """Simulate ``requests`` on ``instances`` (the prefill replicas when ``decode`` is given).

    ``transfer(r)`` → (seconds, bytes) of sending r's KV cache from a prefill to a decode
    replica; ``kv_queues``: the queue a prefill replica's (a decode replica's) transfers wait
    in, by replica index (default: one per replica). ``concurrency``: a closed loop of that
    many clients (``requests``' arrival times are then set here).
    """
    sim = Simulation(trace=trace)
    env = sim.env
    front = make_router(router)
    back = make_router(router)
    scheds = [i.sched for i in instances]
    by_sched = {id(i.sched): i for i in instances}
    send_key, recv_key = kv_queues or ((lambda i: i), (lambda i: i))
    sending: dict[int, FifoStream] = {}
    receiving: dict[int, FifoStream] = {}
    log = None
    if decode is not None:
        assert transfer is not None
        log = TransferLog()
        back_scheds = [i.sched for i in decode]
        by_sched.update({id(i.sched): i for i in decode})

    def poke(inst: Instance) -> None:
        if inst.stages is not None:  # every sleeping engine with work: it may now run
            engines = inst.sched.engines  # type: ignore[union-attr]
            for v, wake in enumerate(inst.wakes):
                if wake is not None and not wake.triggered and engines[v].outstanding:
                    wake.succeed()
            return
        if inst.wake is not None and not inst.wake.triggered:  # type: ignore[attr-defined]
            inst.wake.succeed()  # type: ignore[attr-defined]

    def route(r: Request) -> None:
        sched = front.pick(scheds, r)
        sched.enqueue(r)
        poke(by_sched[id(sched)])

    def arrivals():
        for r in requests:
            if r.arrival_s > env.now:
                yield env.timeout(r.arrival_s - env.now)
            route(r)

    released = 0

    def closed_loop():
        nonlocal released
        for r in requests[:concurrency]:
            r.arrival_s = env.now
            route(r)
        released = min(len(requests), concurrency or 0)
        yield env.timeout(0)

    def finished(sched) -> None:
        """A closed loop sends one request for each that finished (at this instant)."""
        nonlocal released
        done, sched.finished = sched.finished, []
        if concurrency is None:
            return
        for _ in done:
            if released < len(requests):
                r = requests[released]
                released += 1
                r.arrival_s = env.now
                route(r)

    def send_kv(src: Instance, r: Request) -> None:
        assert transfer is not None and log is not None
        seconds, nbytes = transfer(r)
        dst = by_sched[id(back.pick(back_scheds, r))]
        dst.sched.incoming += 1  # counted by the router while on the way
        start = env.now
        key_out, key_in = send_key(src.sched.index), recv_key(dst.sched.index)
        out = sending.get(key_out) or sending.setdefault(
            key_out, sim.stream(f"kv send queue {key_out}", "p2p"))
        inn = receiving.get(key_in) or receiving.setdefault(
            key_in, sim.stream(f"kv receive queue {key_in}", "p2p"))
        # both ends held together: it starts once both are free (out starts at or after inn)
        done = out.submit(max(start, inn.free_at), seconds, f"kv {r.rid}", {"bytes": nbytes})
        inn.submit(done - seconds, seconds, f"kv {r.rid}", {"bytes": nbytes})
        log.queues = (len(sending), len(receiving))
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
            assert inst.cost is not None
            yield env.timeout(inst.cost(batch))
            handoff = sched.complete(batch, t0, env.now)
            finished(sched)
            if trace:
                sim.trace.add(inst.name, _label(batch), t0, env.now, "iteration",
                              {"tokens": batch.tokens, "decode": batch.n_decode,
                               "prefill": len(batch.prefill)})
            for r in handoff:
                send_kv(inst, r)

    def virtual_engine(inst: Instance, v: int, stages: list[FifoStream],
                       hops: list[FifoStream]):
        group = inst.sched
        assert isinstance(group, VirtualEngines) and inst.stages is not None
        sched = group.engines[v]
        busy = inst.stage_busy_s
        while True:
            batch = sched.schedule()
            if batch is None:
                inst.wakes[v] = env.event()
                yield inst.wakes[v]
                inst.wakes[v] = None
                continue
            now = env.now
            times, sends = inst.stages(batch)
            label = f"{_label(batch)} (engine {v})" if trace else ""
            t, spent, waited = now, 0.0, stages[0].free_at > now
            start = stages[0].free_at if waited else now
            for s, seconds in enumerate(times):
                waited = waited or stages[s].free_at > t
                t = stages[s].submit(t, seconds, label)
                busy[s] += seconds
                spent += seconds
                if s < len(sends):
                    waited = waited or hops[s].free_at > t
                    t = hops[s].submit(t, sends[s], label)
                    spent += sends[s]
            group.occupied(start, t)
            # no queueing: the sum of the parts, so that one stage is exactly a plain replica
            yield env.timeout(t - now if waited else spent)
            handoff = sched.complete(batch, start, env.now)
            finished(sched)
            if trace:
                sim.trace.add(f"{inst.name} engine {v}", _label(batch), start, env.now,
                              "iteration", {"tokens": batch.tokens, "decode": batch.n_decode,
                                            "prefill": len(batch.prefill)})
            for r in handoff:
                send_kv(inst, r)
            poke(inst)  # blocks came back to the shared pool

    def start(inst: Instance) -> None:
        if inst.stages is None:
            env.process(replica(inst))
            return
        assert isinstance(inst.sched, VirtualEngines)
        n = len(inst.stage_busy_s)
        stages = [sim.stream(f"{inst.name} stage {s}", "forward") for s in range(n)]
        hops = [sim.stream(f"{inst.name} send {s}->{s + 1}", "p2p") for s in range(n - 1)]
        inst.wakes = [None] * len(inst.sched.engines)
        for v in range(len(inst.sched.engines)):
            env.process(virtual_engine(inst, v, stages, hops))

    env.process(arrivals() if concurrency is None else closed_loop())
    for inst in instances + (decode or []):
        start(inst)
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
