"""What a worker does with a batch of points: load each scenario, simulate it, make its row.

Runs in a local worker process, a Dask worker, or the calling process; it needs only the
picklable :class:`RunContext` and the points. A point that raises (SpecError for bad values,
or any other exception) gets its error text in its row; the batch carries on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from archsim.api import simulate
from archsim.spec.errors import SpecError
from archsim.spec.scenario import load_scenario
from archsim.sweep.columns import error_row, metrics_row
from archsim.sweep.space import Point


@dataclass(frozen=True)
class RunContext:
    """Everything a worker needs besides the points (sent once per batch or scattered)."""

    base_mapping: dict[str, Any]
    engine: str = "des"


def run_point(ctx: RunContext, point: Point) -> dict[str, Any]:
    """The full row of one point."""
    row: dict[str, Any] = {"hash": point.hash, "point": point.index, **point.values}
    if point.error is not None:
        row.update(error_row(point.error))
        return row
    t0 = time.perf_counter()
    try:
        scenario = load_scenario(ctx.base_mapping, overrides=point.values)
        if ctx.engine == "fast" and scenario.workload.kind == "training":
            from archsim.sweep.fastpath import simulate_training_fast

            result = simulate_training_fast(scenario)
        else:
            result = simulate(scenario)
        row.update(metrics_row(result.to_dict()))
        row["error"] = None
    except SpecError as exc:
        row.update(error_row(str(exc)))
    except Exception as exc:  # a bug on one point must not stop the sweep; it is recorded
        row.update(error_row(f"{type(exc).__name__}: {exc}"))
    if row.get("sim.wall_s") is None:
        row["sim.wall_s"] = time.perf_counter() - t0
    return row


def run_batch(ctx: RunContext, points: list[Point]) -> list[dict[str, Any]]:
    """Rows of ``points``, in order."""
    return [run_point(ctx, p) for p in points]
