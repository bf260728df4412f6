"""Speed of ``archsim capacity`` with and without the forward-pass cache, side by side.

Scenario: the shipped ``llama2-7b-capacity`` (Llama-2-7B chat, 2000 Poisson requests at
30 req/s, lognormal lengths) sized on A100-80GB, the serving-capacity example report's
search. Most of its time was the floor probe (``served_alone``: the stream served one request
at a time), whose decode steps repeat the same single-sequence passes; ``InferencePlan``
keeps the time of PASS_CACHE_SIZE passes. Reports, in one run and alternating the two
settings: wall time of ``plan_capacity`` (median of N) with the cache and with it off
(size 0: only the last pass kept), their ratio, and that both give the same answer.
Pins itself to one core where the OS allows it.

Run: ``python benchmarks/bench_capacity.py [--repeats N]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import archsim.plan.inference as inference
from archsim.capacity import plan_capacity


def timed(cache: int) -> tuple[float, dict]:
    inference.PASS_CACHE_SIZE = cache
    t0 = time.perf_counter()
    out = plan_capacity("llama2-7b-capacity", rate=30.0, devices=["a100-sxm4-80gb"])
    return time.perf_counter() - t0, out


def answer(out: dict) -> list[tuple]:
    return [(r["device"], r["tp"], r["replicas"], r.get("p99_e2e_s")) for r in out["rows"]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    size = inference.PASS_CACHE_SIZE
    on, off, answers = [], [], set()
    for _ in range(args.repeats):
        for cache, walls in ((size, on), (0, off)):
            wall, out = timed(cache)
            walls.append(wall)
            answers.add(tuple(answer(out)))
    inference.PASS_CACHE_SIZE = size
    print("scenario: llama2-7b-capacity at 30 req/s on a100-sxm4-80gb")
    print(f"answer: {answers.pop() if len(answers) == 1 else 'DIFFERS: ' + repr(answers)}")
    print(f"plan_capacity, cache of {size:,} passes (median of {args.repeats}): "
          f"{statistics.median(on):6.2f} s")
    print(f"plan_capacity, no cache            (median of {args.repeats}): "
          f"{statistics.median(off):6.2f} s")
    print(f"no cache / cache: {statistics.median(off) / statistics.median(on):.2f}×")


if __name__ == "__main__":
    main()
