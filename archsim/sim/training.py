"""Discrete-event run of one training step: pipeline stages, transfers, gradient reduction.

Each pipeline stage is one SimPy process (its compute stream) running its schedule's tasks in
order; a task starts when the stage is free and its input has arrived. Activations and
gradients between stages travel on per-direction links (FIFO streams); the data-parallel
gradient reduction runs on a separate communication stream per stage, so overlap with the
backward pass is real. Activation memory per stage is read off the timeline: bytes of the
micro-batches whose forward has started and whose backward has not finished.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archsim.plan.schedules import build_schedule
from archsim.plan.training import TrainingPlan
from archsim.sim.engine import Simulation


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

    fwd_ready = [[[env.event() for _ in range(m)] for _ in range(v)] for _ in range(p)]
    bwd_ready = [[[env.event() for _ in range(m)] for _ in range(v)] for _ in range(p)]
    links_fwd = [sim.stream(f"link {s}->{(s + 1) % p}", "p2p") for s in range(p)]
    links_bwd = [sim.stream(f"link {s}->{(s - 1) % p}", "p2p") for s in range(p)]
    dp_streams = [sim.stream(f"stage {s} dp-comm", "dp-comm") for s in range(p)]
    stages = [StageTimeline(stage=s) for s in range(p)]
    last_b = {}  # (stage, chunk) -> index of the last backward in the schedule
    for s in range(p):
        for i, (ph, _mb, c) in enumerate(schedule[s]):
            if ph == "B":
                last_b[(s, c)] = i
    p2p_total = [0.0]

    def send(stream, seconds: float, nbytes: float, event, label: str) -> None:
        if seconds <= 0:
            event.succeed()
            return
        done = stream.submit(env.now, seconds, label, {"bytes": nbytes})
        p2p_total[0] += seconds
        sim.signal_at(done, event)

    def stage_process(s: int):
        tl = stages[s]
        track = f"stage {s}"
        act_alive = 0.0
        inflight = 0
        for i, (phase, mb, c) in enumerate(schedule[s]):
            ck = plan.chunks[s][c]
            if phase == "F":
                if not (s == 0 and c == 0):
                    yield fwd_ready[s][c][mb]
                start = env.now
                compute = ck.fwd.time_s
                dur = compute
                if ck.zero3_gather_s:
                    dur = max(compute, ck.zero3_gather_s) if overlap else compute + ck.zero3_gather_s
                    tl.zero3_comm_s += ck.zero3_gather_s
                act_alive += ck.act_bytes
                inflight += 1
                tl.peak_activation_bytes = max(tl.peak_activation_bytes, act_alive)
                tl.peak_inflight = max(tl.peak_inflight, inflight)
                yield env.timeout(dur)
                tl.compute_busy_s += dur
                tl.blocking_comm_s += ck.fwd.comm_s
                sim.trace.add(track, f"F{mb}" + (f".{c}" if v > 1 else ""), start, env.now,
                              "forward", {"micro_batch": mb, "chunk": c})
                if s < p - 1:
                    send(links_fwd[s], plan.p2p_fwd_s[s], plan.p2p_bytes,
                         fwd_ready[s + 1][c][mb], f"act {mb}")
                elif c < v - 1:
                    send(links_fwd[s], plan.p2p_fwd_s[0] if plan.p2p_fwd_s else 0.0,
                         plan.p2p_bytes, fwd_ready[0][c + 1][mb], f"act {mb}")
                else:
                    bwd_ready[s][c][mb].succeed()
            else:
                yield bwd_ready[s][c][mb]
                start = env.now
                dur = ck.bwd.time_s
                if ck.zero3_gather_s:
                    dur = max(dur, ck.zero3_gather_s) if overlap else dur + ck.zero3_gather_s
                    tl.zero3_comm_s += ck.zero3_gather_s
                tl.peak_activation_bytes = max(tl.peak_activation_bytes,
                                               act_alive + ck.working_bytes)
                reduce_now = plan.dp_reduce_per_microbatch or i == last_b[(s, c)]
                if reduce_now and plan.layout.dp_shard > 1:
                    if overlap:
                        _queue_gradients(plan, dp_streams[s], s, c, mb, start, dur)
                    elif plan.dp_reduce_per_microbatch:
                        # blocking reduce-scatter after each micro-batch's backward
                        dur += dp_streams[s].submit(start + dur, sum(plan.bucket_times[s][c]),
                                                    f"{plan.dp_kind} grads mb{mb}") - start - dur
                yield env.timeout(dur)
                tl.compute_busy_s += dur
                tl.blocking_comm_s += ck.bwd.comm_s
                tl.recompute_s += ck.recompute_s
                act_alive -= ck.act_bytes
                inflight -= 1
                sim.trace.add(track, f"B{mb}" + (f".{c}" if v > 1 else ""), start, env.now,
                              "backward", {"micro_batch": mb, "chunk": c})
                if s > 0:
                    send(links_bwd[s], plan.p2p_bwd_s[s - 1], plan.p2p_bytes,
                         bwd_ready[s - 1][c][mb], f"grad {mb}")
                elif c > 0:
                    send(links_bwd[s], plan.p2p_bwd_s[0] if plan.p2p_bwd_s else 0.0,
                         plan.p2p_bytes, bwd_ready[p - 1][c - 1][mb], f"grad {mb}")
        tl.backward_end_s = env.now
        if not overlap and not plan.dp_reduce_per_microbatch and plan.layout.dp_shard > 1:
            # gradients are reduced once the whole backward pass is done (no overlap)
            total = sum(sum(t) for t in plan.bucket_times[s])
            dp_streams[s].submit(env.now, total, f"{plan.dp_kind} grads")
        # gradients complete: wait for the data-parallel stream, sync tied embeddings, step
        dp_end = max(env.now, dp_streams[s].free_at)
        tl.dp_end_s = dp_end
        tl.dp_comm_s = dp_streams[s].busy_s
        tl.exposed_dp_s = dp_end - env.now
        if dp_end > env.now:
            yield env.timeout(dp_end - env.now)
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
    return TrainingTimeline(step_time_s=step, stages=stages, events=sim.events,
                            spans=sim.trace.spans, p2p_time_s=p2p_total[0])


def _queue_gradients(plan: TrainingPlan, stream, s: int, c: int, mb: int, start: float,
                     dur: float) -> None:
    """Queue chunk ``c``'s gradient buckets on the data-parallel stream, overlapped with the
    backward task: bucket k is ready at the k-th of evenly spaced points of the task (in
    backward order, last layer first)."""
    times = plan.bucket_times[s][c]
    n = len(times)
    label = f"{plan.dp_kind} grads" + (f" mb{mb}" if plan.dp_reduce_per_microbatch else "")
    for k, t in enumerate(times):
        stream.submit(start + dur * (k + 1) / n, t, f"{label} bucket {k}", {"chunk": c})
