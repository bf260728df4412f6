"""Speed of the training DES beside a bare SimPy loop of the same number of events.

Scenario (issue: "Core"): GPT-3 175B on 1024 A100s, TP 8, PP 8, DP 16, global batch 1536,
micro-batch 1, full recomputation (the embedded default scenario). Reports, in one run:
* wall time of `archsim.simulate` (spec already loaded; plan + DES + result), median of N;
* wall time of the DES alone (`run_training`) and its events per second;
* a bare SimPy loop that schedules the same number of events (one process, timeouts);
* the ratio of the DES's event rate to the bare loop's.
Targets: ≤ 1 s wall on one core; ≥ 50% of the bare SimPy event rate.
"""

from __future__ import annotations

import gc
import statistics
import time

import simpy

import archsim
from archsim.plan.layout import resolve_layout
from archsim.plan.training import build_training_plan
from archsim.sim.training import run_training


def bare_simpy(events: int) -> float:
    env = simpy.Environment()

    def proc():
        for _ in range(events - 1):
            yield env.timeout(1.0)

    env.process(proc())
    t0 = time.perf_counter()
    env.run()
    return time.perf_counter() - t0


class _LoopClock:
    """Times each ``simpy.Environment.run`` call (the DES's event loop) while installed."""

    def __init__(self) -> None:
        self.last = 0.0
        self._run = simpy.Environment.run
        clock = self

        def timed_run(env, until=None):
            t0 = time.perf_counter()
            try:
                return clock._run(env, until)
            finally:
                clock.last = time.perf_counter() - t0

        simpy.Environment.run = timed_run

    def remove(self) -> None:
        simpy.Environment.run = self._run


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(repeats: int = 31) -> None:
    t0 = time.perf_counter()
    sc = archsim.load_scenario(None)
    load_s = time.perf_counter() - t0
    layout, _ = resolve_layout(sc)
    plan = build_training_plan(sc, layout)
    events = run_training(plan, trace=False).events

    full = median_time(lambda: archsim.simulate(sc), repeats)
    # the DES and the bare loop alternate (which goes first alternates too), so a burst of
    # load on the (shared) machine hits both; each timed call starts after a full garbage
    # collection, so neither pays for the other's garbage. The ratio is the median of the
    # per-pair ratios.
    des_times, bare_times, ratios, loop_times = [], [], [], []
    loop_clock = _LoopClock()
    for i in range(repeats):
        pair = {}
        for which in (("des", "bare") if i % 2 == 0 else ("bare", "des")):
            gc.collect()
            if which == "des":
                t0 = time.perf_counter()
                run_training(plan, trace=False)
                pair[which] = time.perf_counter() - t0
                loop_times.append(loop_clock.last)
            else:
                pair[which] = bare_simpy(events)
        des_times.append(pair["des"])
        bare_times.append(pair["bare"])
        ratios.append(pair["bare"] / pair["des"])
    des, bare = statistics.median(des_times), statistics.median(bare_times)
    ratios.sort()
    loop_clock.remove()
    loop = statistics.median(loop_times)
    print(f"scenario: {sc.name}")
    print(f"load_scenario (first call, YAML + validation): {load_s * 1e3:8.1f} ms")
    print(f"archsim.simulate (plan + DES + result):        {full * 1e3:8.1f} ms   target ≤ 1000 ms")
    print(f"DES alone: {events} events in {des * 1e3:.2f} ms = {events / des:,.0f} events/s")
    print(f"bare SimPy loop, same events: {bare * 1e3:.2f} ms = {events / bare:,.0f} events/s")
    print(f"DES event rate / bare SimPy event rate: {statistics.median(ratios):.2f}   "
          f"target ≥ 0.50   (pairs: {repeats}, quartiles {ratios[len(ratios) // 4]:.2f}–"
          f"{ratios[3 * len(ratios) // 4]:.2f})")
    print(f"  of the DES: event loop (env.run) {loop * 1e3:.2f} ms, preparing the stages "
          f"{(des - loop) * 1e3:.2f} ms; event loop alone / bare loop: {bare / loop:.2f}")


if __name__ == "__main__":
    main()
