"""Speed of the auto-planner on the GPT-3 175B / 1024-A100 plan space, on one core.

Scenario: the embedded default (GPT-3 175B, 1024 A100-80GB, global batch 1536, fp16), whose
own plan is Megatron-LM's (TP 8, PP 8, DP 16, micro-batch 1, full recomputation, 1F1B;
Narayanan et al. SC21). The planner searches the default space (tp, pp, cp, sp, ZeRO 0-3,
micro-batch, recomputation, 1F1B / interleaved with 2-8 virtual stages).

Prints, from one run pinned to one CPU core:
* plans in the space, how many do not divide, were pruned by the memory bound and by the
  time bound, and were simulated; wall time per phase and in total (target ≤ 60 s);
* the best plan beside the Megatron plan, both simulated by the same engine;
* the cost of simulating every plan that fits instead (measured: the mean wall time of
  ``archsim.simulate`` over a random sample of those plans, times their number), and its
  ratio to the planner's wall time;
* the same search on a heterogeneous cluster (GPT-3 39.1B on 32 H100 + 32 A100,
  hardware_profiles/clusters/h100-a100-ib.yaml), placements of the stages on the pools
  included.
"""

from __future__ import annotations

import os
import random
import statistics
import time

import archsim
from archsim.planner import search_plans
from archsim.planner.bounds import Bounder
from archsim.planner.space import SearchSpace, enumerate_space, scenario_for


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to core {core}"
    return "not pinned (no sched_setaffinity on this platform)"


def main(sample: int = 40, seed: int = 0) -> None:
    print(f"process {pin_one_core()}")
    sc = archsim.load_scenario(None)
    found = search_plans(sc, top=5)
    c, t = found.counts, found.timings
    print(f"scenario: {sc.name}")
    print(f"plans {c['plans']:,}: not divisible {c['not_divisible']:,}, pruned by memory bound "
          f"{c['pruned_by_memory_bound']:,}, pruned by time bound "
          f"{c['pruned_by_time_bound']:,}, simulated {c['simulated']:,} "
          f"({c['simulated_infeasible']} infeasible)")
    print(f"wall: enumerate {t['enumerate_s']:.2f} s, bound {t['bound_s']:.2f} s, simulate "
          f"{t['simulate_s']:.2f} s; total {found.wall_s:.2f} s   target ≤ 60 s")
    best, given = found.best, found.given
    print(f"best plan:      {best.label}: step {best.step_time_s:.3f} s, MFU "
          f"{best.result['mfu']:.3f}, {best.result['memory']['peak_bytes_per_device'] / 2**30:.1f}"
          " GiB/device")
    print(f"Megatron plan:  {given.label.removeprefix('as given: ')}: step "
          f"{given.step_time_s:.3f} s, MFU {given.result['mfu']:.3f}")
    print(f"best / Megatron step time: {best.step_time_s / given.step_time_s:.3f}")
    if found.bound_violations:
        print(f"BOUND VIOLATIONS: {len(found.bound_violations)}; first: "
              f"{found.bound_violations[0]}")

    # the alternative: simulate every plan that fits (estimated from a measured sample)
    bounder = Bounder(sc)
    fitting = [cand for cand in enumerate_space(sc, SearchSpace()).valid
               if bounder.bound(cand).fits]
    picks = random.Random(seed).sample(fitting, min(sample, len(fitting)))
    walls = []
    for cand in picks:
        spec = scenario_for(sc, cand)
        t0 = time.perf_counter()
        archsim.simulate(spec)
        walls.append(time.perf_counter() - t0)
    mean = statistics.fmean(walls)
    exhaustive = mean * len(fitting)
    print(f"simulate one plan: mean {mean * 1e3:.1f} ms over {len(picks)} random fitting plans "
          f"(median {statistics.median(walls) * 1e3:.1f} ms)")
    print(f"simulating all {len(fitting):,} fitting plans would take ≈ {exhaustive:,.0f} s = "
          f"{exhaustive / found.wall_s:.0f}× the planner's wall time")


HETERO = {"name": "gpt3-39.1b on h100-a100-ib", "model": "gpt3-39.1b",
          "hardware": {"cluster": "h100-a100-ib"},
          "workload": {"kind": "training", "seq_len": 2048, "global_batch": 512,
                       "micro_batch": 1, "dtype": "bf16"},
          "plan": {"tp": 8, "pp": 4, "recompute": "selective"}}


def heterogeneous() -> None:
    sc = archsim.load_scenario(HETERO)
    found = search_plans(sc, top=5)
    c, t = found.counts, found.timings
    print(f"\nscenario: {sc.name} ({found.hardware})")
    print(f"plans {c['plans']:,}: not divisible {c['not_divisible']:,}, pruned by memory bound "
          f"{c['pruned_by_memory_bound']:,}, pruned by time bound "
          f"{c['pruned_by_time_bound']:,}, simulated {c['simulated']:,}")
    print(f"wall: enumerate {t['enumerate_s']:.2f} s, bound {t['bound_s']:.2f} s, simulate "
          f"{t['simulate_s']:.2f} s; total {found.wall_s:.2f} s")
    best, given = found.best, found.given
    print(f"best plan:  {best.label}: step {best.step_time_s:.3f} s")
    print(f"given plan: {given.label.removeprefix('as given: ')}: step "
          f"{given.step_time_s:.3f} s")
    if found.bound_violations:
        print(f"BOUND VIOLATIONS: {len(found.bound_violations)}")


if __name__ == "__main__":
    main()
    heterogeneous()
