"""Discrete-event run of one training step: pipeline stages, transfers, gradient reduction.

Each pipeline stage is one SimPy process (its compute stream) running its schedule's tasks in
order; a task starts when the stage is free and its input has arrived. Activations and
gradients between stages travel on per-direction links (FIFO streams); the data-parallel
gradient reduction runs on a separate communication stream per stage, so overlap with the
backward pass is real. Activation memory per stage is read off the stage's timeline: bytes of
the micro-batches whose forward has started and whose backward has not finished. A stage runs
its tasks strictly in schedule order, so that count depends on the order alone and is taken in
the pass that prepares the stage's tasks, outside the event loop.

Links and streams are channels of the plan's network model (archsim/sim/network.py): with the
contention-free model (default) they are FIFO streams that cost no events; with the flow-level
model every transfer — pipeline sends, gradient buckets, and each task's blocking collectives
(run as one transfer after the task's kernels) — is a set of flows that share the stage's ports
with whatever else is in flight.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archsim.cost.transfer import Transfer
from archsim.plan.schedules import Task, build_schedule
from archsim.plan.training import TrainingPlan
from archsim.sim.engine import Simulation
from archsim.sim.network import build_network


@dataclass
class StageTimeline:
    stage: int
    compute_busy_s: float = 0.0
    """Time the compute stream is busy (kernels plus blocking collectives)."""
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

    # A task's input is a slot [arrival time or None, waiting event or None]: a receiver that
    # finds the arrival time already known folds the wait into its compute timeout, so only
    # stages that really wait on a neighbour cost an extra event.
    ready = {phase: [[[[None, None] for _ in range(m)] for _ in range(v)] for _ in range(p)]
             for phase in "FB"}
    flows = plan.flows if plan.network_model == "flow" else None
    net = build_network(sim, "flow" if flows else "analytic",
                        flows.capacity if flows else None)
    links_fwd = [net.channel(f"link {s}->{(s + 1) % p}", "p2p") for s in range(p)]
    links_bwd = [net.channel(f"link {s}->{(s - 1) % p}", "p2p") for s in range(p)]
    dp_streams = [net.channel(f"stage {s} dp-comm", "dp-comm") for s in range(p)]
    tp_streams = ([net.channel(f"stage {s} collectives", "comm") for s in range(p)]
                  if flows else None)
    stages = [StageTimeline(stage=s) for s in range(p)]
    tasks = [_stage_tasks(plan, schedule[s], stages[s], ready, links_fwd[s], links_bwd[s])
             for s in range(p)]

    tracing = sim.trace.enabled
    add_span = sim.trace.add
    signal_at = sim.signal_at
    per_mb_blocking = plan.dp_reduce_per_microbatch and not overlap

    def stage_process(s: int):
        tl = stages[s]
        track = f"stage {s}"
        dp_stream = dp_streams[s]
        busy = now = 0.0  # ``now`` tracks env.now: the process runs only when it resumes
        timeout = env.timeout
        for fwd, wait, dur, reduce, link, seconds, slot, transfer, mb, c in tasks[s]:
            start = now
            if wait is not None:
                if wait[0] is None:  # the input has not been sent yet: wait for it
                    wait[1] = env.event()
                    yield wait[1]
                    start = now = env.now
                elif wait[0] > now:
                    start = wait[0]
            if reduce:
                if overlap:
                    queue_gradients(plan, dp_stream, s, c, mb, start, dur)
                elif flows is None:
                    # blocking reduce-scatter after each micro-batch's backward
                    done = dp_stream.submit(start + dur, sum(plan.bucket_times[s][c]),
                                            f"{plan.dp_kind} grads mb{mb}")
                    dur = done - start
            if flows is None:
                delay = start - now + dur
                yield timeout(delay)
                now += delay  # the same sum SimPy makes for the timeout's time
                busy += dur
            else:
                yield from _flow_task(env, tp_streams[s], dp_stream, plan, flows, s, c, mb,
                                      fwd, reduce and per_mb_blocking, start - now, dur)
                now = env.now
                busy += now - start
            end = now
            if tracing:
                name = ("F" if fwd else "B") + str(mb) + (f".{c}" if v > 1 else "")
                add_span(track, name, start, end, "forward" if fwd else "backward",
                         {"micro_batch": mb, "chunk": c})
            if slot is None:
                continue
            if seconds > 0:
                if transfer is not None:  # flow-level: arrival known when the flows finish
                    link.submit(end, transfer, _send_label(fwd, mb),
                                lambda t, slot=slot: _deliver(signal_at, slot, t),
                                {"bytes": plan.p2p_bytes})
                    continue
                # contention-free FIFO link owned by this stage (FifoStream.submit, inlined)
                begin = link.free_at if link.free_at > end else end
                end = link.free_at = begin + seconds
                link.busy_s += seconds
                if tracing:
                    add_span(link.name, _send_label(fwd, mb), begin, end, "p2p",
                             {"bytes": plan.p2p_bytes})
            slot[0] = end
            if slot[1] is not None:
                signal_at(end, slot[1])
        tl.compute_busy_s = busy
        yield from _finish_stage(env, sim, plan, s, tl, dp_stream, flows, overlap)

    for s in range(p):
        env.process(stage_process(s))
    env.run()
    step = max(tl.end_s for tl in stages)
    p2p = sum(ch.busy_s for ch in (*links_fwd, *links_bwd))
    return TrainingTimeline(step_time_s=step, stages=stages, events=sim.events,
                            spans=sim.trace.spans, p2p_time_s=p2p)


def _stage_tasks(plan: TrainingPlan, order: list[Task], tl: StageTimeline,
                 ready: dict[str, list], link_fwd, link_bwd) -> list[tuple]:
    """Stage ``tl.stage``'s tasks as the event loop runs them, and its order-set figures.

    A task is (is_forward, its input slot or None, duration, reduce gradients now, output
    link, send seconds, the receiver's input slot or None, flow transfer or None,
    micro-batch, chunk). Fills ``tl`` with what the schedule order alone decides: peak
    activation bytes and micro-batches alive, blocking collective, recomputation and ZeRO-3
    gather time.
    """
    s = tl.stage
    lay = plan.layout
    p, v = lay.pp, lay.chunks
    overlap = plan.scenario.plan.overlap_comm
    per_mb = plan.dp_reduce_per_microbatch
    sharded = lay.dp_shard > 1
    flows = plan.flows if plan.network_model == "flow" else None
    fwd_ready, bwd_ready = ready["F"], ready["B"]
    wrap_f, wrap_b = plan.p2p_wrap_s or (plan.p2p_fwd_s[0] if plan.p2p_fwd_s else 0.0,
                                         plan.p2p_bwd_s[0] if plan.p2p_bwd_s else 0.0)
    # per chunk: (forward, backward) duration with ZeRO-3's gathers hidden or added, and where
    # its forward / backward output goes: (link, seconds, receiver's slots, flow transfer)
    durations, f_out, b_out = [], [], []
    for c, ck in enumerate(plan.chunks[s]):
        f, b, z = ck.fwd.time_s, ck.bwd.time_s, ck.zero3_gather_s
        if z:
            f = max(f, z) if overlap else f + z
            b = max(b, z) if overlap else b + z
        durations.append((f, b))
        if s < p - 1:
            f_out.append((link_fwd, plan.p2p_fwd_s[s], fwd_ready[s + 1][c],
                          flows.p2p_fwd[s] if flows else None))
        elif c < v - 1:
            f_out.append((link_fwd, wrap_f, fwd_ready[0][c + 1], _wrap(flows, wrap_f, True)))
        else:
            f_out.append((None, 0.0, bwd_ready[s][c], None))
        if s > 0:
            b_out.append((link_bwd, plan.p2p_bwd_s[s - 1], bwd_ready[s - 1][c],
                          flows.p2p_bwd[s - 1] if flows else None))
        elif c > 0:
            b_out.append((link_bwd, wrap_b, bwd_ready[p - 1][c - 1], _wrap(flows, wrap_b, False)))
        else:
            b_out.append((None, 0.0, None, None))
    last_b = {c: i for i, (phase, _mb, c) in enumerate(order) if phase == "B"}
    chunk_figures = [(ck.act_bytes, ck.working_bytes, ck.fwd.comm_s, ck.bwd.comm_s,
                      ck.recompute_s, ck.zero3_gather_s) for ck in plan.chunks[s]]
    first_input = s == 0

    tasks = []
    append = tasks.append
    act = peak_act = blocking = recompute = zero3 = 0.0
    inflight = peak_inflight = 0
    for i, (phase, mb, c) in enumerate(order):
        act_bytes, working, f_comm, b_comm, rec, z = chunk_figures[c]
        if z:
            zero3 += z
        if phase == "F":
            act += act_bytes
            inflight += 1
            if act > peak_act:
                peak_act = act
            if inflight > peak_inflight:
                peak_inflight = inflight
            blocking += f_comm
            link, seconds, slots, transfer = f_out[c]
            wait = None if (first_input and c == 0) else fwd_ready[s][c][mb]
            append((True, wait, durations[c][0], False, link, seconds, slots[mb], transfer,
                    mb, c))
        else:
            if act + working > peak_act:
                peak_act = act + working
            blocking += b_comm
            recompute += rec
            act -= act_bytes
            inflight -= 1
            # gradients reduced during the step: overlapped with backward, or blocking after
            # each micro-batch (ZeRO-2/3 without overlap); else all at once after backward
            reduce = sharded and (per_mb or i == last_b[c]) and (overlap or per_mb)
            link, seconds, slots, transfer = b_out[c]
            append((False, bwd_ready[s][c][mb], durations[c][1], reduce, link, seconds,
                    None if slots is None else slots[mb], transfer, mb, c))
    tl.peak_activation_bytes, tl.peak_inflight = peak_act, peak_inflight
    tl.blocking_comm_s, tl.recompute_s, tl.zero3_comm_s = blocking, recompute, zero3
    return tasks


def _send_label(fwd: bool, mb: int) -> str:
    return ("act " if fwd else "grad ") + str(mb)


def _deliver(signal_at, slot: list, when: float) -> None:
    """The input in ``slot`` arrives at ``when``: record it, wake a receiver waiting on it."""
    slot[0] = when
    if slot[1] is not None:
        signal_at(when, slot[1])


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
        if not overlap:
            yield env.timeout(plan.param_gather_s[s])
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
    reduce-scatter)."""
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
    if blocking_reduce:
        for k, tr in enumerate(flows.buckets[s][c]):
            dp_stream.submit(env.now, tr, f"{plan.dp_kind} grads mb{mb} bucket {k}")
        drained = dp_stream.drained()
        if not isinstance(drained, float):
            yield drained


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
