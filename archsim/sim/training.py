"""Discrete-event run of one training step: pipeline stages, transfers, gradient reduction.

Each pipeline stage is one SimPy process (its compute stream) running its schedule's tasks in
order; a task starts when the stage is free and its input has arrived. Activations and
gradients between stages travel on per-direction links (FIFO streams); the data-parallel
gradient reduction runs on a separate communication stream per stage, so overlap with the
backward pass is real. Activation memory per stage is read off the timeline: bytes of the
micro-batches whose forward has started and whose backward has not finished.

Links and streams are channels of the plan's network model (archsim/sim/network.py): with the
contention-free model (default) they are FIFO streams that cost no events; with the flow-level
model every transfer — pipeline sends, gradient buckets, and each task's blocking collectives
(run as one transfer after the task's kernels) — is a set of flows that share the stage's ports
with whatever else is in flight.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archsim.cost.transfer import Transfer
from archsim.plan.schedules import build_schedule
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
    fwd_ready = [[[[None, None] for _ in range(m)] for _ in range(v)] for _ in range(p)]
    bwd_ready = [[[[None, None] for _ in range(m)] for _ in range(v)] for _ in range(p)]
    flows = plan.flows if plan.network_model == "flow" else None
    net = build_network(sim, "flow" if flows else "analytic",
                        flows.capacity if flows else None)
    links_fwd = [net.channel(f"link {s}->{(s + 1) % p}", "p2p") for s in range(p)]
    links_bwd = [net.channel(f"link {s}->{(s - 1) % p}", "p2p") for s in range(p)]
    dp_streams = [net.channel(f"stage {s} dp-comm", "dp-comm") for s in range(p)]
    tp_streams = ([net.channel(f"stage {s} collectives", "comm") for s in range(p)]
                  if flows else None)
    wrap_f, wrap_b = plan.p2p_wrap_s or (plan.p2p_fwd_s[0] if plan.p2p_fwd_s else 0.0,
                                         plan.p2p_bwd_s[0] if plan.p2p_bwd_s else 0.0)
    stages = [StageTimeline(stage=s) for s in range(p)]
    last_b = {}  # (stage, chunk) -> index of the last backward in the schedule
    for s in range(p):
        for i, (ph, _mb, c) in enumerate(schedule[s]):
            if ph == "B":
                last_b[(s, c)] = i
    p2p_total = [0.0]

    tracing = sim.trace.enabled
    signal_at = sim.signal_at

    def deliver(slot: list, when: float) -> None:
        slot[0] = when
        if slot[1] is not None:
            signal_at(when, slot[1])

    def send(stream, seconds: float, slot: list, fwd: bool, mb: int, transfer=None) -> None:
        """Queue a transfer on ``stream`` (FIFO); the input ``slot`` is ready when it arrives."""
        now = env.now
        if seconds <= 0:
            deliver(slot, now)
            return
        if transfer is not None:  # flow-level network: arrival known when the flows finish
            stream.submit(now, transfer, ("act " if fwd else "grad ") + str(mb),
                          lambda t: deliver(slot, t), {"bytes": plan.p2p_bytes})
            return
        start = stream.free_at if stream.free_at > now else now
        done = start + seconds
        stream.free_at = done
        stream.busy_s += seconds
        if tracing:
            sim.trace.add(stream.name, ("act " if fwd else "grad ") + str(mb), start, done,
                          "p2p", {"bytes": plan.p2p_bytes})
        p2p_total[0] += seconds
        deliver(slot, done)

    def tasks_of(s: int) -> list[tuple]:
        """Per task: (is_forward, input event, duration, chunk cost, mb, chunk, reduce, send);
        a send is (channel, seconds, input slot of the receiver, flow transfer or None)."""
        out = []
        tl = stages[s]
        for i, (phase, mb, c) in enumerate(schedule[s]):
            ck = plan.chunks[s][c]
            fwd = phase == "F"
            dur = ck.fwd.time_s if fwd else ck.bwd.time_s
            if ck.zero3_gather_s:
                dur = max(dur, ck.zero3_gather_s) if overlap else dur + ck.zero3_gather_s
                tl.zero3_comm_s += ck.zero3_gather_s
            if fwd:
                wait = None if (s == 0 and c == 0) else fwd_ready[s][c][mb]
                if s < p - 1:
                    target = (links_fwd[s], plan.p2p_fwd_s[s], fwd_ready[s + 1][c][mb],
                              flows.p2p_fwd[s] if flows else None)
                elif c < v - 1:
                    target = (links_fwd[s], wrap_f, fwd_ready[0][c + 1][mb],
                              _wrap(flows, wrap_f, fwd=True))
                else:
                    target = (None, 0.0, bwd_ready[s][c][mb], None)
                reduce = False
            else:
                wait = bwd_ready[s][c][mb]
                if s > 0:
                    target = (links_bwd[s], plan.p2p_bwd_s[s - 1], bwd_ready[s - 1][c][mb],
                              flows.p2p_bwd[s - 1] if flows else None)
                elif c > 0:
                    target = (links_bwd[s], wrap_b, bwd_ready[p - 1][c - 1][mb],
                              _wrap(flows, wrap_b, fwd=False))
                else:
                    target = None
                reduce = (plan.dp_reduce_per_microbatch or i == last_b[(s, c)]) and \
                    plan.layout.dp_shard > 1
            out.append((fwd, wait, dur, ck, mb, c, reduce, target))
        return out

    def stage_process(s: int):
        tl = stages[s]
        track = f"stage {s}"
        act_alive = peak_act = 0.0
        inflight = peak_inflight = 0
        busy = blocking = recompute = 0.0
        timeout = env.timeout
        for fwd, wait, dur, ck, mb, c, reduce, target in tasks_of(s):
            now = env.now
            start = now
            if wait is not None:
                if wait[0] is None:  # the input has not been sent yet: wait for it
                    wait[1] = env.event()
                    yield wait[1]
                    start = now = env.now
                elif wait[0] > now:
                    start = wait[0]
            if fwd:
                act_alive += ck.act_bytes
                inflight += 1
                if act_alive > peak_act:
                    peak_act = act_alive
                if inflight > peak_inflight:
                    peak_inflight = inflight
                blocking += ck.fwd.comm_s
            else:
                if act_alive + ck.working_bytes > peak_act:
                    peak_act = act_alive + ck.working_bytes
                if reduce:
                    if overlap:
                        _queue_gradients(plan, dp_streams[s], s, c, mb, start, dur)
                    elif plan.dp_reduce_per_microbatch and not flows:
                        # blocking reduce-scatter after each micro-batch's backward
                        done = dp_streams[s].submit(start + dur, sum(plan.bucket_times[s][c]),
                                                    f"{plan.dp_kind} grads mb{mb}")
                        dur = done - start
                blocking += ck.bwd.comm_s
                recompute += ck.recompute_s
                act_alive -= ck.act_bytes
                inflight -= 1
            if flows is None:
                yield timeout(start - now + dur)
                busy += dur
            else:
                yield from _flow_task(env, tp_streams[s], dp_streams[s], plan, flows, s, c, mb,
                                      fwd, reduce and not overlap and
                                      plan.dp_reduce_per_microbatch, start - now, dur)
                busy += env.now - start
            if tracing:
                name = ("F" if fwd else "B") + str(mb) + (f".{c}" if v > 1 else "")
                sim.trace.add(track, name, start, env.now, "forward" if fwd else "backward",
                              {"micro_batch": mb, "chunk": c})
            if target is not None:
                stream, seconds, slot, transfer = target
                if stream is None:
                    deliver(slot, env.now)
                else:
                    send(stream, seconds, slot, fwd, mb, transfer)
        tl.compute_busy_s, tl.blocking_comm_s, tl.recompute_s = busy, blocking, recompute
        tl.peak_activation_bytes, tl.peak_inflight = peak_act, peak_inflight
        tl.backward_end_s = env.now
        if not overlap and not plan.dp_reduce_per_microbatch and plan.layout.dp_shard > 1:
            # gradients are reduced once the whole backward pass is done (no overlap)
            if flows is None:
                total = sum(sum(t) for t in plan.bucket_times[s])
                dp_streams[s].submit(env.now, total, f"{plan.dp_kind} grads")
            else:
                for c in range(v):
                    for k, tr in enumerate(flows.buckets[s][c]):
                        dp_streams[s].submit(env.now, tr, f"{plan.dp_kind} grads bucket {k}")
        # gradients complete: wait for the data-parallel stream, sync tied embeddings, step
        backward_end = env.now
        drained = dp_streams[s].drained()
        if isinstance(drained, float):
            dp_end = max(env.now, drained)
            if dp_end > env.now:
                yield env.timeout(dp_end - env.now)
        else:
            yield drained
            dp_end = env.now
        tl.dp_end_s = dp_end
        tl.dp_comm_s = dp_streams[s].busy_s
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

    for s in range(p):
        env.process(stage_process(s))
    env.run()
    step = max(tl.end_s for tl in stages)
    if flows is not None:
        p2p_total[0] = sum(ch.busy_s for ch in (*links_fwd, *links_bwd))
    return TrainingTimeline(step_time_s=step, stages=stages, events=sim.events,
                            spans=sim.trace.spans, p2p_time_s=p2p_total[0])


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


def _queue_gradients(plan: TrainingPlan, stream, s: int, c: int, mb: int, start: float,
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
