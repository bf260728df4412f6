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


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(repeats: int = 7) -> None:
    t0 = time.perf_counter()
    sc = archsim.load_scenario(None)
    load_s = time.perf_counter() - t0
    layout, _ = resolve_layout(sc)
    plan = build_training_plan(sc, layout)
    events = run_training(plan, trace=False).events

    full = median_time(lambda: archsim.simulate(sc), repeats)
    des = median_time(lambda: run_training(plan, trace=False), repeats)
    bare = statistics.median(bare_simpy(events) for _ in range(repeats))
    des_rate, bare_rate = events / des, events / bare
    print(f"scenario: {sc.name}")
    print(f"load_scenario (first call, YAML + validation): {load_s * 1e3:8.1f} ms")
    print(f"archsim.simulate (plan + DES + result):        {full * 1e3:8.1f} ms   target ≤ 1000 ms")
    print(f"DES alone: {events} events in {des * 1e3:.1f} ms = {des_rate:,.0f} events/s")
    print(f"bare SimPy loop, same events: {bare * 1e3:.1f} ms = {bare_rate:,.0f} events/s")
    print(f"DES event rate / bare SimPy event rate: {des_rate / bare_rate:.2f}   target ≥ 0.50")


if __name__ == "__main__":
    main()
