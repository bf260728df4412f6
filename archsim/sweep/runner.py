"""Run a sweep: enumerate its points, skip finished ones, run the rest in batches, store rows.

Library code: progress goes to an ``on_progress`` callback (the CLI draws the bar); Ctrl-C
stops the sweep between batches, leaving every finished row in the table
(``SweepRun.interrupted``).

Every row records the code version that computed it; resuming a table drops rows of other
versions, and rows of this sweep's points simulated from other inputs (an edited base scenario,
profile file or engine), and runs those points again, so the table keeps one row per point
(archsim/sweep/versions.py, ``SweepRun.ignored``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archsim.sweep.columns import (
    ERROR_COLUMN,
    KEY_COLUMNS,
    METRIC_COLUMNS,
    VERSION_COLUMNS,
    cell_text,
    code_version,
)
from archsim.sweep.executors import Executor, InProcess
from archsim.sweep.space import Point, Space, enumerate_points
from archsim.sweep.spec import Sweep
from archsim.sweep.store import Column, infer_kind, open_store, to_cell
from archsim.sweep.versions import Superseded, ignored_note
from archsim.sweep.worker import RunContext

# Batches per worker that the automatic batch size aims for: enough to balance the load and
# move the progress bar, few enough that per-batch overhead (a pickle round trip, one write)
# stays small next to the points' own time. A tuning choice, not a modelling number.
BATCHES_PER_WORKER = 16
MAX_AUTO_BATCH = 64


@dataclass
class Progress:
    """Where a running sweep stands (passed to ``on_progress`` after every batch)."""

    done: int
    total: int
    feasible: int
    failed: int
    elapsed_s: float

    @property
    def rate(self) -> float:
        """Points per second so far."""
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        if self.done == 0 or self.rate == 0:
            return None
        return (self.total - self.done) / self.rate


@dataclass
class SweepRun:
    """What one ``run_sweep`` call did."""

    sweep: Sweep
    space: Space
    path: Path
    executor: str
    skipped: int
    """Points already in the table (``resume``)."""
    ran: int = 0
    feasible: int = 0
    infeasible: int = 0
    failed: int = 0
    elapsed_s: float = 0.0
    interrupted: bool = False
    batch_size: int = 0
    hashes: list[str] = field(default_factory=list)
    """Hashes of all the sweep's points (for summaries of this sweep only)."""
    ignored: dict[str, int] = field(default_factory=dict)
    """Rows dropped from the table on resume (why → count): of other archsim / result
    versions, or of this sweep's points simulated from other inputs."""
    backup: Path | None = None
    """Where the dropped rows were copied (``r.csv`` → ``r.bak.csv``)."""

    @property
    def ignored_note(self) -> str | None:
        """E.g. ``"16 rows from archsim 0.0.9 (result_version 1) ignored (kept in r.bak.csv)"``."""
        return ignored_note(self.ignored, self.backup)

    @property
    def points_per_s(self) -> float:
        return self.ran / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def feasible_per_s(self) -> float:
        return self.feasible / self.elapsed_s if self.elapsed_s > 0 else 0.0


def table_columns(sweep: Sweep, points: list[Point]) -> list[Column]:
    """The table's columns: keys, inputs (kinds from the points' values), metrics, error."""
    inputs = [(key, infer_kind([p.values.get(key) for p in points]))
              for key in sweep.input_columns]
    return [*KEY_COLUMNS, *inputs, *METRIC_COLUMNS, ERROR_COLUMN, *VERSION_COLUMNS]


def _superseded(sweep: Sweep, space: Space, columns: list[Column]) -> Superseded:
    kinds = dict(columns)
    inputs = sweep.input_columns
    return Superseded(inputs, {
        tuple(cell_text(to_cell(p.values.get(k), kinds[k])) for k in inputs): p.hash
        for p in space.points})


def auto_batch_size(points: int, workers: int) -> int:
    return max(1, min(MAX_AUTO_BATCH, math.ceil(points / (workers * BATCHES_PER_WORKER))))


def make_batches(points: list[Point], size: int) -> list[list[Point]]:
    """Strided batches (every n-th point), so slow and fast regions of the space mix."""
    count = max(1, math.ceil(len(points) / size)) if points else 0
    return [points[i::count] for i in range(count)]


def run_sweep(sweep: Sweep, out: str | Path, executor: Executor | None = None, *,
              resume: bool = False, overwrite: bool = False, retry_errors: bool = False,
              batch_size: int | None = None,
              on_progress: Callable[[Progress], Any] | None = None) -> SweepRun:
    """Run ``sweep``, writing one row per point to ``out`` (.csv or .parquet) as they finish.

    Rows record the code's version; with ``resume``, rows of another version, and rows of the
    sweep's points simulated from other inputs, are dropped from the table and those points
    run again (``SweepRun.ignored``). Raises SpecError for a bad output path or a table that
    belongs to another sweep.
    """
    executor = executor or InProcess()
    version = code_version()
    try:
        space = enumerate_points(sweep)
        columns = table_columns(sweep, space.points)
        store = open_store(Path(out), columns, resume=resume, overwrite=overwrite,
                           version=version,
                           superseded=_superseded(sweep, space, columns) if resume else None)
    except BaseException:
        executor.close()
        raise
    run = SweepRun(sweep=sweep, space=space, path=Path(out), executor=executor.description,
                   skipped=0, hashes=[p.hash for p in space.points],
                   ignored=dict(store.ignored), backup=store.backup)
    t0 = time.perf_counter()
    try:
        finished = store.finished() if resume else {}
        todo = [p for p in space.points
                if p.hash not in finished or (retry_errors and finished[p.hash])]
        run.skipped = len(space.points) - len(todo)
        run.batch_size = batch_size or auto_batch_size(len(todo), executor.workers)
        ctx = RunContext(base_mapping=sweep.base_mapping, engine=sweep.engine,
                         base_spec=sweep.base_spec, files=dict(sweep.files),
                         label=f"the base of {sweep.source}")
        report = on_progress or (lambda _p: None)
        report(Progress(0, len(todo), 0, 0, 0.0))
        results = executor.run(ctx, make_batches(todo, run.batch_size))
        try:
            for rows in results:
                for row in rows:  # rows made by an executor (a dead worker) carry none
                    for name, value in version.items():
                        row.setdefault(name, value)
                store.append(rows)
                for row in rows:
                    run.ran += 1
                    if row.get("error") is not None:
                        run.failed += 1
                    elif row.get("feasible"):
                        run.feasible += 1
                    else:
                        run.infeasible += 1
                report(Progress(run.ran, len(todo), run.feasible, run.failed,
                                time.perf_counter() - t0))
        except KeyboardInterrupt:
            run.interrupted = True
        finally:
            results.close()
    finally:
        run.elapsed_s = time.perf_counter() - t0
        try:
            store.close()
        finally:
            store.release()
            executor.close()
    return run
