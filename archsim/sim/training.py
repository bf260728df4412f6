"""Discrete-event run of one training step: pipeline stages, transfers, gradient reduction.

Each pipeline stage is one SimPy process (its compute stream) running its schedule's tasks in
order; a task starts when the stage is free and its input has arrived. Activations and
gradients between stages travel on per-direction links (FIFO streams); the data-parallel
gradient reduction runs on a separate communication stream per stage, so overlap with the
backward pass is real. Activation memory per stage is read off the stage's timeline: bytes of
the micro-batches whose forward has started and whose backward has not finished. A stage runs
its tasks strictly in schedule order, so that count depends on the order alone and is taken in
one pass over the stage's schedule before the event loop runs.

Links and streams are channels of the plan's network model (archsim/sim/network.py): with the
contention-free model (default) they are FIFO streams that cost no events; with the flow-level
model every transfer — pipeline sends, gradient buckets, and each task's blocking collectives
(run as one transfer after the task's kernels) — is a set of flows that share the stage's ports
with whatever else is in flight.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from simpy.events import Event

from archsim.cost.transfer import Transfer
from archsim.plan.schedules import Task, build_schedule
from archsim.plan.training import TrainingPlan
from archsim.sim.engine import Simulation
from archsim.sim.network import build_network


@dataclass
class StageTimeline:
    stage: int
    compute_busy_s: float = 0.0
    """Time the compute stream is busy (kernels plus blocking collectives); the energy
    counts it at TDP (archsim/metrics/common.py)."""
    blocking_comm_s: float = 0.0
    recompute_s: float = 0.0
    backward_end_s: float = 0.0
    dp_end_s: float = 0.0
    optimizer_end_s: float = 0.0
    end_s: float = 0.0
    peak_activation_bytes: float = 0.0
    peak_inflight: int = 0
    dp_comm_s: float = 0.0
    exposed_dp_s: float = 0.0
    zero3_comm_s: float = 0.0
    """ZeRO-3 parameter gathers' network time (all tasks of the step)."""
    reduce_slowdown_s: float = 0.0
    """Extra time of the backward tasks whose gradients reduce beside them (in-situ overlap
    slowdown)."""
    interference_s: float = 0.0
    """Task time beyond kernels and blocking collectives: ZeRO-3 gathers not hidden and
    compute slowed by overlapped collectives (part of the exposed communication)."""
    blocked_reduce_s: float = 0.0
    """Time the compute stream waited for the gradient reduce-scatter after each
    micro-batch's backward (ZeRO-2/3 without overlap_comm): counted in ``compute_busy_s``,
    exposed communication in the result."""


@dataclass
class TrainingTimeline:
    step_time_s: float
    stages: list[StageTimeline]
    events: int
    spans: list = field(default_factory=list)
    p2p_time_s: float = 0.0


def run_training(plan: TrainingPlan, trace: bool = True) -> TrainingTimeline:
    """Simulate one optimizer step of ``plan``."""
    sim = Simulation(trace=trace)
    env = sim.env
    lay = plan.layout
    p, v, m = lay.pp, lay.chunks, lay.micro_batches
    overlap = plan.scenario.plan.overlap_comm
    schedule = build_schedule(plan.scenario.plan.schedule, p, m, v)

    # The input of (phase, stage, chunk, micro-batch): its arrival time (None until sent) and
    # the event a receiver waits on (None unless it had to wait). A receiver that finds the
    # arrival time already known folds the wait into its compute timeout, so only stages that
    # really wait on a neighbour cost an extra event.
    arrivals = {ph: [[[None] * m for _ in range(v)] for _ in range(p)] for ph in "FB"}
    waiters = {ph: [[[None] * m for _ in range(v)] for _ in range(p)] for ph in "FB"}
    flows = plan.flows if plan.network_model == "flow" else None
    net = build_network(sim, "flow" if flows else "analytic",
                        flows.capacity if flows else None)
    links_fwd = [net.channel(f"link {s}->{(s + 1) % p}", "p2p") for s in range(p)]
    links_bwd = [net.channel(f"link {s}->{(s - 1) % p}", "p2p") for s in range(p)]
    dp_streams = [net.channel(f"stage {s} dp-comm", "dp-comm") for s in range(p)]
    tp_streams = ([net.channel(f"stage {s} collectives", "comm") for s in range(p)]
                  if flows else None)
    stages = [StageTimeline(stage=s) for s in range(p)]
    for s in range(p):
        _order_figures(plan, schedule[s], stages[s])
    routes = [_stage_routes(plan, s, arrivals, waiters, links_fwd[s], links_bwd[s])
              for s in range(p)]

    # when a backward reduces gradients: overlapped with backward, or blocking after each
    # micro-batch (ZeRO-2/3 without overlap); else all at once after the backward pass
    reducing = lay.dp_shard > 1 and (overlap or plan.dp_reduce_per_microbatch)
    for s in range(p):
        env.process(_flow_stage(sim, plan, schedule[s], routes[s], stages[s], dp_streams[s],
                                tp_streams[s], reducing) if flows else
                    _analytic_stage(sim, plan, schedule[s], routes[s], stages[s],
                                    dp_streams[s], reducing))
    env.run()
    step = max(tl.end_s for tl in stages)
    p2p = sum(ch.busy_s for ch in (*links_fwd, *links_bwd))
    return TrainingTimeline(step_time_s=step, stages=stages, events=sim.events,
                            spans=sim.trace.spans, p2p_time_s=p2p)


def _flow_stage(sim: Simulation, plan: TrainingPlan, order: list[Task],
                by_phase: dict[str, list[tuple]], tl: StageTimeline, dp_stream, tp_stream,
                reducing: bool):
    """One stage on the flow-level network: a task's collectives and sends are flows whose
    completion is an event."""
    env, flows = sim.env, plan.flows
    tracing, add_span, signal_at = sim.trace.enabled, sim.trace.add, sim.signal_at
    s, v = tl.stage, plan.layout.chunks
    overlap = plan.scenario.plan.overlap_comm
    per_mb = plan.dp_reduce_per_microbatch
    per_mb_blocking = per_mb and not overlap
    track = f"stage {s}"
    last_mb = _last_backward(order) if reducing and not per_mb else None
    busy = blocked = 0.0
    for phase, mb, c in order:
        (dur, arrived, waiting, link, seconds, out_arrived, out_waiting, transfer, backward,
         reduce_dur) = by_phase[phase][c]
        if arrived is not None and arrived[mb] is None:
            event = waiting[mb] = Event(env)
            yield event
        start = env._now
        wait = arrived[mb] - start if arrived is not None and arrived[mb] > start else 0.0
        if backward and reducing and overlap and (per_mb or last_mb[c] == mb):
            dur = reduce_dur
            queue_gradients(plan, dp_stream, s, c, mb, start + wait, dur)
        blocked += yield from _flow_task(env, tp_stream, dp_stream, plan, flows, s, c, mb,
                                         not backward, backward and per_mb_blocking, wait,
                                         dur)
        end = env._now
        busy += end - start - wait
        if tracing:
            add_span(track, _task_label(phase, mb, c, v), start + wait, end,
                     "backward" if backward else "forward", {"micro_batch": mb, "chunk": c})
        if out_arrived is None:
            continue
        if seconds > 0:  # arrival known when the flows finish
            link.submit(end, transfer, _send_label(not backward, mb),
                        lambda t, a=out_arrived, w=out_waiting, mb=mb:
                        _deliver(signal_at, a, w, mb, t),
                        {"bytes": plan.p2p_bytes})
        else:
            _deliver(signal_at, out_arrived, out_waiting, mb, end)
    tl.compute_busy_s = busy
    tl.blocked_reduce_s = blocked
    yield from _finish_stage(env, sim, plan, s, tl, dp_stream, flows, overlap)


def _analytic_stage(sim: Simulation, plan: TrainingPlan, order: list[Task],
                    by_phase: dict[str, list[tuple]], tl: StageTimeline, dp_stream,
                    reducing: bool):
    """One stage on the contention-free network: every completion time is known when work is
    queued, so a task costs one timeout (plus one event when it waits for its input)."""
    env = sim.env
    tracing, add_span = sim.trace.enabled, sim.trace.add
    schedule_event = env.schedule
    s, v, m = tl.stage, plan.layout.chunks, plan.layout.micro_batches
    overlap = plan.scenario.plan.overlap_comm
    per_mb = plan.dp_reduce_per_microbatch
    track = f"stage {s}"
    last_mb = _last_backward(order) if reducing and not per_mb else None
    now = blocked = 0.0  # ``now`` tracks env.now: the process runs only when it resumes
    timeout = env.timeout
    for phase, mb, c in order:
        (dur, arrived, waiting, link, seconds, out_arrived, out_waiting, _, backward,
         reduce_dur) = by_phase[phase][c]
        start = now
        if arrived is not None:
            t = arrived[mb]
            if t is None:  # the input has not been sent yet: wait for it
                event = waiting[mb] = Event(env)
                yield event
                start = now = env._now
            elif t > now:
                start = t
        if backward and reducing and (per_mb or last_mb[c] == mb):
            if overlap:
                dur = reduce_dur
                queue_gradients(plan, dp_stream, s, c, mb, start, dur)
            else:  # blocking reduce-scatter after each micro-batch's backward
                done = dp_stream.submit(start + dur, sum(plan.bucket_times[s][c]),
                                        f"{plan.dp_kind} grads mb{mb}")
                blocked += done - start - dur
                dur = done - start
        delay = start - now + dur
        yield timeout(delay)
        now += delay  # the same sum SimPy makes for the timeout's time
        if tracing:
            add_span(track, _task_label(phase, mb, c, v), start, now,
                     "backward" if backward else "forward", {"micro_batch": mb, "chunk": c})
        if out_arrived is None:
            continue
        if seconds > 0:  # the FIFO link owned by this stage (FifoStream.submit, inlined)
            free = link.free_at
            end = link.free_at = (free if free > now else now) + seconds
            if tracing:
                add_span(link.name, _send_label(not backward, mb), end - seconds, end,
                         "p2p", {"bytes": plan.p2p_bytes})
        else:
            end = now
        out_arrived[mb] = end
        event = out_waiting[mb]
        if event is not None:  # Simulation.signal_at, inlined
            event._ok = True
            event._value = None
            delay = end - env._now
            schedule_event(event, 1, delay if delay > 0.0 else 0.0)
    # every task of a chunk runs once per micro-batch (a reducing backward for longer: the
    # in-situ figures in _order_figures); sends occupy the stage's links
    tl.compute_busy_s = (blocked + m * sum(r[0] for rs in by_phase.values() for r in rs)
                         + tl.reduce_slowdown_s)
    tl.blocked_reduce_s = blocked
    for rs in by_phase.values():
        for r in rs:
            if r[5] is not None and r[4] > 0:
                r[3].busy_s += m * r[4]
    yield from _finish_stage(env, sim, plan, s, tl, dp_stream, None, overlap)


def _stage_routes(plan: TrainingPlan, s: int, arrivals: dict, waiters: dict, link_fwd,
                  link_bwd) -> dict[str, list[tuple]]:
    """Phase ("F", "B") → per chunk of stage ``s``: (duration, input arrival and waiter
    tables or None, output link, send seconds, the receiver's arrival and waiter tables or
    None, flow transfer or None, is backward, duration when the task's gradients reduce
    beside it). Durations include ZeRO-3's parameter gathers (archsim/plan/zero3.py)."""
    lay = plan.layout
    p, v = lay.pp, lay.chunks
    flows = plan.flows if plan.network_model == "flow" else None
    fa, fw, ba, bw = arrivals["F"], waiters["F"], arrivals["B"], waiters["B"]
    wrap_f, wrap_b = plan.p2p_wrap_s or (plan.p2p_fwd_s[0] if plan.p2p_fwd_s else 0.0,
                                         plan.p2p_bwd_s[0] if plan.p2p_bwd_s else 0.0)
    fwd, bwd = [], []
    for c, ck in enumerate(plan.chunks[s]):
        f, b, b_reduce = ck.fwd_task_s, ck.bwd_task_s, ck.bwd_reduce_task_s
        f_in = (None, None) if s == 0 and c == 0 else (fa[s][c], fw[s][c])
        if s < p - 1:
            f_out = (link_fwd, plan.p2p_fwd_s[s], fa[s + 1][c], fw[s + 1][c],
                     flows.p2p_fwd[s] if flows else None)
        elif c < v - 1:
            f_out = (link_fwd, wrap_f, fa[0][c + 1], fw[0][c + 1], _wrap(flows, wrap_f, True))
        else:  # the last stage's backward starts where its forward ends
            f_out = (None, 0.0, ba[s][c], bw[s][c], None)
        if s > 0:
            b_out = (link_bwd, plan.p2p_bwd_s[s - 1], ba[s - 1][c], bw[s - 1][c],
                     flows.p2p_bwd[s - 1] if flows else None)
        elif c > 0:
            b_out = (link_bwd, wrap_b, ba[p - 1][c - 1], bw[p - 1][c - 1],
                     _wrap(flows, wrap_b, False))
        else:
            b_out = (None, 0.0, None, None, None)
        fwd.append((f, *f_in, *f_out, False, f))
        bwd.append((b, ba[s][c], bw[s][c], *b_out, True, b_reduce))
    return {"F": fwd, "B": bwd}


def _last_backward(order: list[Task]) -> dict[int, int]:
    """Chunk → micro-batch of the chunk's last backward in ``order``."""
    return {c: mb for phase, mb, c in order if phase == "B"}


def _order_figures(plan: TrainingPlan, order: list[Task], tl: StageTimeline) -> None:
    """Fill ``tl`` with what the schedule order alone decides: peak activation bytes and
    micro-batches alive, blocking collective, recomputation and ZeRO-3 gather time."""
    chunks = plan.chunks[tl.stage]
    act_bytes = [ck.act_bytes for ck in chunks]
    working = [ck.working_bytes for ck in chunks]
    act = peak_act = 0.0
    inflight = peak_inflight = 0
    for phase, _mb, c in order:
        if phase == "F":
            act += act_bytes[c]
            inflight += 1
            if act > peak_act:
                peak_act = act
            if inflight > peak_inflight:
                peak_inflight = inflight
        else:
            if act + working[c] > peak_act:
                peak_act = act + working[c]
            act -= act_bytes[c]
            inflight -= 1
    # every chunk runs each micro-batch once forward and once backward; the backwards that
    # reduce gradients beside them (every one under ZeRO-2/3, else a chunk's last) run for
    # bwd_reduce_task_s instead of bwd_task_s
    m = plan.layout.micro_batches
    tl.peak_activation_bytes, tl.peak_inflight = peak_act, peak_inflight
    tl.blocking_comm_s = m * sum(ck.fwd.comm_s + ck.bwd.comm_s for ck in chunks)
    tl.recompute_s = m * sum(ck.recompute_s for ck in chunks)
    gather_figures(plan, tl)


def gather_figures(plan: TrainingPlan, tl: StageTimeline) -> None:
    """Fill ``tl``'s ZeRO-3 gather time, reducing-backward slowdown and interference (what
    the plan's task durations add to kernels and blocking collectives)."""
    chunks = plan.chunks[tl.stage]
    m = plan.layout.micro_batches
    tl.zero3_comm_s = m * sum(ck.zero3_gather_s for ck in chunks)
    reducing = reducing_backwards(plan)
    tl.reduce_slowdown_s = reducing * sum(ck.bwd_reduce_task_s - ck.bwd_task_s
                                          for ck in chunks)
    tl.interference_s = tl.reduce_slowdown_s + m * sum(
        ck.fwd_task_s - ck.fwd.time_s + ck.bwd_task_s - ck.bwd.time_s for ck in chunks)


def reducing_backwards(plan: TrainingPlan) -> int:
    """Backward tasks per chunk whose gradient buckets reduce beside them (overlap_comm):
    every micro-batch's under ZeRO-2/3, the chunk's last one otherwise; 0 without overlap or
    data parallelism."""
    if plan.layout.dp_shard <= 1 or not plan.scenario.plan.overlap_comm:
        return 0
    return plan.layout.micro_batches if plan.dp_reduce_per_microbatch else 1


def _task_label(phase: str, mb: int, c: int, chunks: int) -> str:
    return phase + str(mb) + (f".{c}" if chunks > 1 else "")


def _send_label(fwd: bool, mb: int) -> str:
    return ("act " if fwd else "grad ") + str(mb)


def _deliver(signal_at, arrived: list, waiting: list, mb: int, when: float) -> None:
    """Micro-batch ``mb``'s input arrives at ``when``: record it, wake a receiver waiting."""
    arrived[mb] = when
    if waiting[mb] is not None:
        signal_at(when, waiting[mb])


def _finish_stage(env, sim: Simulation, plan: TrainingPlan, s: int, tl: StageTimeline,
                  dp_stream, flows, overlap: bool):
    """After the stage's last backward: gradient reduction, tied-embedding sync, optimizer
    step, ZeRO-1/2 parameter all-gather."""
    p = plan.layout.pp
    track = f"stage {s}"
    tl.backward_end_s = env.now
    if not overlap and not plan.dp_reduce_per_microbatch and plan.layout.dp_shard > 1:
        # gradients are reduced once the whole backward pass is done (no overlap)
        if flows is None:
            total = sum(sum(t) for t in plan.bucket_times[s])
            dp_stream.submit(env.now, total, f"{plan.dp_kind} grads")
        else:
            for c in range(plan.layout.chunks):
                for k, tr in enumerate(flows.buckets[s][c]):
                    dp_stream.submit(env.now, tr, f"{plan.dp_kind} grads bucket {k}")
    # gradients complete: wait for the data-parallel stream, sync tied embeddings, step
    backward_end = env.now
    drained = dp_stream.drained()
    if isinstance(drained, float):
        dp_end = max(env.now, drained)
        if dp_end > env.now:
            yield env.timeout(dp_end - env.now)
    else:
        yield drained
        dp_end = env.now
    tl.dp_end_s = dp_end
    tl.dp_comm_s = dp_stream.busy_s
    tl.exposed_dp_s = dp_end - backward_end
    if plan.embedding_sync_s and s in (0, p - 1):
        t0 = env.now
        yield env.timeout(plan.embedding_sync_s)
        sim.trace.add(track, "embedding grad all-reduce", t0, env.now, "comm")
    t0 = env.now
    yield env.timeout(plan.optimizer_s[s])
    sim.trace.add(track, "optimizer step", t0, env.now, "optimizer")
    tl.optimizer_end_s = env.now
    if plan.param_gather_s[s]:
        t0 = env.now
        exposed = min(plan.param_gather_exposed_s[s], plan.param_gather_s[s])
        if exposed:  # what the next step's first forward cannot hide
            yield env.timeout(exposed)
        sim.trace.add(f"stage {s} dp-comm", "param all-gather", t0,
                      t0 + plan.param_gather_s[s], "dp-comm")
    tl.end_s = env.now


def _wrap(flows, seconds: float, fwd: bool):
    """Flow transfer of the interleaved schedule's last → first stage send (as stage 0 ↔ 1
    unless the plan costed the wrap link)."""
    if flows is None:
        return None
    base = flows.p2p_fwd[0] if fwd else flows.p2p_bwd[0]
    return base if abs(base.time_s - seconds) < 1e-15 else Transfer(seconds)


def _flow_task(env, tp_stream, dp_stream, plan: TrainingPlan, flows, s: int, c: int, mb: int,
               fwd: bool, blocking_reduce: bool, wait: float, dur: float):
    """One task under the flow model: per layer, its share of the kernels, then its share of
    the blocking collectives as flows (then, with ZeRO-2/3 and no overlap, the gradients'
    reduce-scatter, whose wait it returns)."""
    fwd_tr, bwd_tr, segments = flows.tasks[s][c]
    comm = fwd_tr if fwd else bwd_tr
    if comm.time_s <= 0:
        segments = 1
    compute = (dur - comm.time_s * segments) / segments if comm.time_s > 0 else dur
    label = ("F" if fwd else "B") + f"{mb} collectives"
    for i in range(segments):
        yield env.timeout(compute + (wait if i == 0 else 0.0))
        if comm.time_s > 0:
            done = env.event()
            tp_stream.submit(env.now, comm, label, lambda _t, done=done: done.succeed())
            yield done
    if not blocking_reduce:
        return 0.0
    begin = env.now
    for k, tr in enumerate(flows.buckets[s][c]):
        dp_stream.submit(env.now, tr, f"{plan.dp_kind} grads mb{mb} bucket {k}")
    drained = dp_stream.drained()
    if not isinstance(drained, float):
        yield drained
    return env.now - begin


def queue_gradients(plan: TrainingPlan, stream, s: int, c: int, mb: int, start: float,
                    dur: float) -> None:
    """Queue chunk ``c``'s gradient buckets on the data-parallel stream, overlapped with the
    backward task: bucket k is ready at the k-th of evenly spaced points of the task (in
    backward order, last layer first)."""
    times = plan.bucket_times[s][c]
    n = len(times)
    label = f"{plan.dp_kind} grads" + (f" mb{mb}" if plan.dp_reduce_per_microbatch else "")
    transfers = plan.flows.buckets[s][c] if plan.network_model == "flow" and plan.flows else None
    for k, t in enumerate(times):
        stream.submit(start + dur * (k + 1) / n, transfers[k] if transfers else t,
                      f"{label} bucket {k}", args={"chunk": c})
