"""Timing several ways of doing one thing, in alternation, for the CPU probe and ablation
scripts: a machine that drifts during the measurement then hits every way alike."""

from __future__ import annotations

import time
from collections.abc import Callable


def alternate(ways: dict[str, Callable[[], object]], rounds: int, *, calls: int = 0,
              min_s: float = 0.0) -> dict[str, list[float]]:
    """Seconds per call of each way, one value per round: in each round every way in turn is
    warmed by one call and then timed over ``calls`` calls, or over as many as take ``min_s``
    seconds (at least one)."""
    def more(done: int, start: float) -> bool:
        if calls:
            return done < calls
        return done == 0 or time.perf_counter() - start < min_s

    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(rounds):
        for name, fn in ways.items():
            fn()
            start, done = time.perf_counter(), 0
            while more(done, start):
                fn()
                done += 1
            times[name].append((time.perf_counter() - start) / done)
    return times
