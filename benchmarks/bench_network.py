"""Cost of the flow-level network model beside the contention-free one, in the same run.

Scenarios: the embedded default (GPT-3 175B on 1024 A100s, TP 8, PP 8, DP 16, GB 1536, no
DP overlap) and the same with the data-parallel reduction overlapped with the backward pass
(the case where flows really share ports). For each: median wall time of ``archsim.simulate``
(spec already loaded) under ``hardware.network: analytic`` and ``flow``, their events, and the
step times (how much contention changed the answer).
"""

from __future__ import annotations

import statistics
import time

import archsim


def median_wall(sc, repeats: int) -> tuple[float, dict]:
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = archsim.simulate(sc).to_dict()
        times.append(time.perf_counter() - t0)
    assert result is not None
    return statistics.median(times), result


def main(repeats: int = 5) -> None:
    for label, overrides in (("default (no DP overlap)", {}),
                             ("DP overlapped with backward", {"plan.overlap_comm": True})):
        rows = {}
        for model in ("analytic", "flow"):
            sc = archsim.load_scenario(None, {**overrides, "hardware.network": model})
            rows[model] = median_wall(sc, repeats)
        (ta, ra), (tf, rf) = rows["analytic"], rows["flow"]
        print(f"{label}:")
        print(f"  analytic: {ta * 1e3:8.1f} ms, {ra['sim']['events']:7d} events, "
              f"step {ra['step_time_s']:.4f} s")
        print(f"  flow:     {tf * 1e3:8.1f} ms, {rf['sim']['events']:7d} events, "
              f"step {rf['step_time_s']:.4f} s")
        print(f"  flow / analytic wall time: {tf / ta:.1f}x; step changed by "
              f"{(rf['step_time_s'] / ra['step_time_s'] - 1) * 100:+.3f}%")


if __name__ == "__main__":
    main()
