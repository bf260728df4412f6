"""Speed of the serving DES beside a bare SimPy loop of the same number of events.

Scenario (issue "Inference and serving"): 10,000 requests on 8 replicas of Llama-2-7B (one
A100-80GB each), Poisson arrivals at 40 requests/s, lognormal prompt (mean 512) and output
(mean 200) lengths, continuous batching, least-loaded routing. Pins itself to one core where
the OS allows it. Reports, in one run: wall time of ``archsim.simulate`` (request generation +
cost tables + DES + metrics), the DES's events and their rate, a bare SimPy loop that schedules
the same number of events, and the ratio. Target: ≤ 10 s on one core. The simulate call timed
is ``slow_end=False``; the default, which simulates the error bar's slow end too, is timed
beside it (alternating) and reported as a ratio.

Run: ``python benchmarks/bench_serving.py [--rate R] [--repeats N]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import simpy

import archsim

SCENARIO = {
    "name": "bench: 10k requests, 8 replicas of llama2-7b",
    "model": "llama2-7b",
    "hardware": {"device": "a100-sxm4-80gb", "count": 8},
    "workload": {"kind": "serving",
                 "arrival": {"process": "poisson", "rate_per_s": 40.0, "count": 10_000},
                 "prompt_len": {"dist": "lognormal", "mean": 512, "sigma": 0.8, "max": 3000},
                 "gen_len": {"dist": "lognormal", "mean": 200, "sigma": 0.8, "max": 1000},
                 "slo": {"ttft_s": 1.0, "tpot_s": 0.05},
                 "router": "least_loaded"},
}


def bare_simpy(events: int) -> float:
    env = simpy.Environment()

    def proc():
        for _ in range(events - 1):
            yield env.timeout(1.0)

    env.process(proc())
    t0 = time.perf_counter()
    env.run()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=40.0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    sc = archsim.load_scenario(SCENARIO, {"workload.arrival.rate_per_s": args.rate})
    walls, with_band, result = [], [], None
    for _ in range(args.repeats):
        # alternating: the simulation alone, and with its error bar's slow end simulated
        # (archsim/metrics/serving_band.py: the stream again, k× denser)
        t0 = time.perf_counter()
        result = archsim.simulate(sc, slow_end=False)
        walls.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        archsim.simulate(sc)
        with_band.append(time.perf_counter() - t0)
    assert result is not None
    d = result.to_dict()
    events = d["sim"]["events"]
    wall = statistics.median(walls)
    bare = statistics.median(bare_simpy(events) for _ in range(args.repeats))
    print(f"scenario: {sc.name} at {args.rate:g} req/s")
    print(f"served {d['completed']:,} requests, {d['iterations']:,} iterations, mean decode "
          f"batch {d['mean_decode_batch']:.1f}, TTFT p99 {d['ttft_p99_s'] * 1e3:.0f} ms, "
          f"TPOT p99 {d['tpot_p99_s'] * 1e3:.1f} ms")
    print(f"archsim.simulate (median of {args.repeats}): {wall:6.2f} s   target ≤ 10 s "
          "on one core")
    print(f"DES: {events:,} events = {events / wall:,.0f} events/s (whole simulate call)")
    print(f"bare SimPy loop, same events: {bare:.3f} s = {events / bare:,.0f} events/s")
    print(f"archsim.simulate / bare SimPy loop: {wall / bare:.1f}×")
    banded = statistics.median(with_band)
    print(f"archsim.simulate with its band's slow end simulated (the default): {banded:6.2f} s "
          f"= {banded / wall:.2f}× the simulation alone")


if __name__ == "__main__":
    main()
