"""Speed of `archsim sweep` beside the same points run in one plain loop, in one run.

Space (issue 7): GPT-3 175B on 1024 A100-80GB, tp ∈ {1,2,4,8}, pp ∈ {1,2,4,8,16},
micro-batch ∈ {1,2,4}, recompute ∈ {none, selective, full}, zero ∈ {0,1,2,3},
schedule ∈ {1f1b, interleaved} — workloads/sweeps/gpt3-175b-1024xa100-plans.yaml, 1440 points.

Reports, each the median of ``--repeats`` runs:
* a plain loop in this process, no sweep machinery: ``archsim.simulate(load_scenario(base,
  overrides))`` per point (the DES), and the same loop with the training fast path;
* ``run_sweep`` (enumeration, hashing, batching, worker processes, CSV writes, all of it) on
  1 worker in this process and on 2 local worker processes, with each engine.
Points/s counts every point; feasible/s counts the points whose plan runs and fits.
Target (issue 7): ≥ 100 feasible points/s over 2 workers.

    python benchmarks/bench_sweep.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import archsim
from archsim.sweep import (
    InProcess,
    LocalProcesses,
    default_workers,
    enumerate_points,
    load_sweep,
    run_sweep,
)
from archsim.sweep.fastpath import simulate_training_fast

SWEEP = "gpt3-175b-1024xa100-plans"


def plain_loop(base: dict, points: list, engine: str) -> tuple[float, int]:
    """Seconds and feasible count for the points run one after another in this process."""
    t0 = time.perf_counter()
    feasible = 0
    for p in points:
        scenario = archsim.load_scenario(base, p.values)
        result = simulate_training_fast(scenario) if engine == "fast" \
            else archsim.simulate(scenario)
        feasible += bool(result["feasible"])
    return time.perf_counter() - t0, feasible


def sweep_run(engine: str, workers: int, folder: Path) -> tuple[float, int, int]:
    """Seconds, points run and feasible count for one whole ``run_sweep`` call."""
    sweep = load_sweep(SWEEP)
    sweep.spec = sweep.spec.model_copy(update={"engine": engine})
    out = folder / f"{engine}-{workers}-{time.monotonic_ns()}.csv"
    executor = InProcess() if workers == 1 else LocalProcesses(workers)
    t0 = time.perf_counter()
    run = run_sweep(sweep, out, executor)
    return time.perf_counter() - t0, run.ran, run.feasible


def median_of(fn, repeats: int) -> tuple:
    runs = [fn() for _ in range(repeats)]
    seconds = statistics.median(r[0] for r in runs)
    return (seconds, *runs[0][1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sweep = load_sweep(SWEEP)
    space = enumerate_points(sweep)
    points = space.points
    n = len(points)
    print(f"sweep {SWEEP}: {n} points; CPUs available: {default_workers()}; load average "
          f"before: {os.getloadavg()[0]:.2f} (other work on the machine skews the figures)")
    rows = []
    for engine in ("des", "fast"):
        seconds, feasible = median_of(lambda e=engine: plain_loop(sweep.base_mapping, points,
                                                                  e), args.repeats)
        rows.append((f"plain loop, 1 process, {engine}", seconds, n, feasible, seconds))
    with tempfile.TemporaryDirectory() as tmp:
        for engine in ("des", "fast"):
            loop_s = rows[0 if engine == "des" else 1][1]
            for workers in (1, 2):
                seconds, ran, feasible = median_of(
                    lambda e=engine, w=workers: sweep_run(e, w, Path(tmp)), args.repeats)
                rows.append((f"run_sweep, {workers} worker{'s' if workers > 1 else ''}, "
                             f"{engine}", seconds, ran, feasible, loop_s))
    print(f"{'what':34} {'wall s':>7} {'points/s':>9} {'feasible/s':>11} {'vs loop':>8}")
    for label, seconds, ran, feasible, loop_s in rows:
        print(f"{label:34} {seconds:7.2f} {ran / seconds:9.1f} {feasible / seconds:11.1f} "
              f"{loop_s / seconds:7.2f}x")
    print(f"feasible points: {rows[0][3]} of {n}; target ≥ 100 feasible points/s over 2 workers")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
