"""Fast path for huge training sweeps: the same plan and cost functions, a lighter scheduler.

:func:`simulate_training_fast` is ``archsim.metrics.training.simulate_training`` — the same
compression, layout, placement, :class:`~archsim.plan.training.TrainingPlan` (every task time
from archsim.cost) and result assembly — with one part swapped: instead of SimPy processes, the
pipeline is scheduled by walking the stages' task lists directly. A task starts at max(its
stage is free, its input has arrived), exactly the rule of archsim.sim.training. Every FIFO
stream (a link direction, a stage's data-parallel stream) is fed by one stage in that stage's
program order, so visiting each stage in order — advancing a stage until it needs an input not
yet produced, then the next — yields the DES's times without an event queue.

Applies to contention-free plans only: with the flow-level network model
(``hardware.network: flow``) transfers share links, and the DES runs instead (the result then
says ``sim.engine: "des"``). tests/sweep/test_fastpath.py pins the fast path to the DES within
2% across schedules, ZeRO stages, overlap on/off, recomputation and uneven stages. Results
carry ``sim.engine: "fast"`` and no timeline trace.
"""

from __future__ import annotations

from archsim.metrics.training import simulate_training
from archsim.plan.schedules import build_schedule
from archsim.plan.training import TrainingPlan
from archsim.result import Result
from archsim.sim.engine import FifoStream, Trace
from archsim.sim.training import (
    StageTimeline,
    TrainingTimeline,
    gather_figures,
    queue_gradients,
    run_training,
)
from archsim.spec.scenario import ScenarioSpec


def contention_free(plan: TrainingPlan) -> bool:
    """Whether the fast scheduler reproduces the DES for ``plan`` (no shared links)."""
    return plan.network_model != "flow"


def simulate_training_fast(sc: ScenarioSpec) -> Result:
    """A training Result with the fast scheduler where it applies (``sim.engine: "fast"``)."""
    engines: list[str] = []

    def schedule(plan: TrainingPlan, trace: bool = False) -> TrainingTimeline:
        if contention_free(plan) and not trace:
            engines.append("fast")
            return run_training_fast(plan)
        engines.append("des")
        return run_training(plan, trace=trace)

    result = simulate_training(sc, runner=schedule)
    # refused before any scheduling (a plan that does not divide): no engine ran, and the
    # result is the fast path's as much as any
    if engines in ([], ["fast"]) and isinstance(result.data.get("sim"), dict):
        result.data["sim"]["engine"] = "fast"
    return result


class _Stage:
    """A stage's progress through its task list (saved when it waits for an input)."""

    __slots__ = ("act", "blocked", "blocking", "busy", "done", "dp", "inflight", "next",
                 "now", "peak_act", "peak_inflight", "recompute")

    def __init__(self, dp: FifoStream):
        self.next = 0
        self.done = False
        self.now = 0.0
        self.act = self.peak_act = 0.0
        self.inflight = self.peak_inflight = 0
        self.busy = self.blocking = self.recompute = self.blocked = 0.0
        self.dp = dp


def _task_table(plan: TrainingPlan, s: int, overlap: bool) -> list[tuple]:
    """Per chunk of stage ``s``: the numbers a task needs, read once from the plan."""
    out = []
    for ck in plan.chunks[s]:
        bdur_reduce = ck.bwd_reduce_task_s if overlap else ck.bwd_task_s
        out.append((ck.fwd_task_s, ck.bwd_task_s, ck.act_bytes, ck.working_bytes,
                    ck.fwd.comm_s, ck.bwd.comm_s, ck.recompute_s, bdur_reduce,
                    sum(plan.bucket_times[s][ck.chunk])))
    return out


def run_training_fast(plan: TrainingPlan) -> TrainingTimeline:
    """One optimizer step of ``plan``: the DES's timeline, computed without an event queue.

    ``events`` in the returned timeline counts the tasks scheduled (there is no event queue).
    """
    lay = plan.layout
    p, v, m = lay.pp, lay.chunks, lay.micro_batches
    overlap = plan.scenario.plan.overlap_comm
    per_mb = plan.dp_reduce_per_microbatch
    sharded = lay.dp_shard > 1
    schedule = build_schedule(plan.scenario.plan.schedule, p, m, v)
    off = Trace(enabled=False)
    # arrival time of each (stage, chunk, micro-batch)'s input; None until it is sent
    fwd_ready: list[list[list[float | None]]] = [[[None] * m for _ in range(v)]
                                                for _ in range(p)]
    bwd_ready: list[list[list[float | None]]] = [[[None] * m for _ in range(v)]
                                                for _ in range(p)]
    link_fwd = [0.0] * p  # time each link direction is free
    link_bwd = [0.0] * p
    stages = [_Stage(FifoStream(f"stage {s} dp-comm", off, "dp-comm")) for s in range(p)]
    tables = [_task_table(plan, s, overlap) for s in range(p)]
    last_b: list[dict[int, int]] = [{} for _ in range(p)]
    for s in range(p):
        for i, (phase, _mb, c) in enumerate(schedule[s]):
            if phase == "B":
                last_b[s][c] = i
    # where each stage's outputs go: (ready table of the receiver, its stage, link, seconds)
    # the interleaved schedule's last → first stage send (and back), as in the DES
    wrap_f, wrap_b = plan.p2p_wrap_s or (plan.p2p_fwd_s[0] if plan.p2p_fwd_s else 0.0,
                                         plan.p2p_bwd_s[0] if plan.p2p_bwd_s else 0.0)
    p2p_total = 0.0
    tasks = 0

    remaining = p
    while remaining:
        progressed = False
        for s in range(p):
            st = stages[s]
            if st.done:
                continue
            order, table, lastb = schedule[s], tables[s], last_b[s]
            n_tasks = len(order)
            i, now = st.next, st.now
            act, peak_act, inflight, peak_inflight = st.act, st.peak_act, st.inflight, \
                st.peak_inflight
            busy, blocking, recompute = st.busy, st.blocking, st.recompute
            fwd_out = plan.p2p_fwd_s[s] if s < p - 1 else wrap_f
            bwd_out = plan.p2p_bwd_s[s - 1] if s > 0 else wrap_b
            while i < n_tasks:
                phase, mb, c = order[i]
                fdur, bdur, a_bytes, w_bytes, fcomm, bcomm, rec, bdur_reduce, bucket_sum = (
                    table[c])
                if phase == "F":
                    ready = 0.0 if (s == 0 and c == 0) else fwd_ready[s][c][mb]
                    if ready is None:
                        break  # produced by a stage not yet advanced far enough
                    start = now if now > ready else ready
                    dur = fdur
                    act += a_bytes
                    inflight += 1
                    if act > peak_act:
                        peak_act = act
                    if inflight > peak_inflight:
                        peak_inflight = inflight
                    blocking += fcomm
                    end = start + dur
                    if s < p - 1:
                        target, stage_to, c_to = fwd_ready, s + 1, c
                    elif c < v - 1:
                        target, stage_to, c_to = fwd_ready, 0, c + 1
                    else:
                        target, stage_to, c_to = bwd_ready, s, c
                    seconds = fwd_out if target is fwd_ready else 0.0
                    links = link_fwd
                else:
                    ready = bwd_ready[s][c][mb]
                    if ready is None:
                        break
                    start = now if now > ready else ready
                    dur = bdur
                    if act + w_bytes > peak_act:
                        peak_act = act + w_bytes
                    if sharded and (per_mb or i == lastb[c]):
                        if overlap:
                            dur = bdur_reduce
                            queue_gradients(plan, st.dp, s, c, mb, start, dur)
                        elif per_mb:
                            done = st.dp.submit(start + dur, bucket_sum, "")
                            st.blocked += done - start - dur
                            dur = done - start
                    blocking += bcomm
                    recompute += rec
                    act -= a_bytes
                    inflight -= 1
                    end = start + dur
                    if s > 0:
                        target, stage_to, c_to = bwd_ready, s - 1, c
                    elif c > 0:
                        target, stage_to, c_to = bwd_ready, p - 1, c - 1
                    else:
                        target = None
                    seconds = bwd_out
                    links = link_bwd
                busy += dur
                now = end
                i += 1
                if target is not None:
                    if seconds > 0:  # a FIFO link owned by this stage
                        begin = links[s] if links[s] > end else end
                        end = links[s] = begin + seconds
                        p2p_total += seconds
                    target[stage_to][c_to][mb] = end
            tasks += i - st.next
            progressed = progressed or i > st.next
            st.next, st.now = i, now
            st.act, st.peak_act, st.inflight, st.peak_inflight = act, peak_act, inflight, \
                peak_inflight
            st.busy, st.blocking, st.recompute = busy, blocking, recompute
            if i == n_tasks:
                st.done = True
                remaining -= 1
        if not progressed and remaining:
            raise RuntimeError("fast path: the schedule deadlocked (a stage waits for an "
                               "input that is never produced)")
    timelines = [_finish(plan, s, stages[s], overlap, per_mb, sharded) for s in range(p)]
    step = max(t.end_s for t in timelines)
    return TrainingTimeline(step_time_s=step, stages=timelines, events=tasks, spans=[],
                            p2p_time_s=p2p_total)


def _finish(plan: TrainingPlan, s: int, st: _Stage, overlap: bool, per_mb: bool,
            sharded: bool) -> StageTimeline:
    """After the last backward: gradient reduction, tied-embedding sync, optimizer step."""
    p = plan.layout.pp
    tl = StageTimeline(stage=s, compute_busy_s=st.busy, blocking_comm_s=st.blocking,
                       recompute_s=st.recompute, peak_activation_bytes=st.peak_act,
                       peak_inflight=st.peak_inflight, blocked_reduce_s=st.blocked)
    gather_figures(plan, tl)
    now = tl.backward_end_s = st.now
    if not overlap and not per_mb and sharded:
        st.dp.submit(now, sum(sum(t) for t in plan.bucket_times[s]), "")
    dp_end = max(now, st.dp.free_at)
    tl.dp_end_s = dp_end
    tl.dp_comm_s = st.dp.busy_s
    tl.exposed_dp_s = dp_end - now
    now = dp_end
    if plan.embedding_sync_s and s in (0, p - 1):
        now += plan.embedding_sync_s
    now += plan.optimizer_s[s]
    tl.optimizer_end_s = now
    now += min(plan.param_gather_exposed_s[s], plan.param_gather_s[s])  # as the DES
    tl.end_s = now
    return tl
