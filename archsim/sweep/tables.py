"""Parts the results-table formats share (archsim/sweep/store.py): column kinds, cells, the
store interface, Ctrl-C deferral around writes, and the version check on resume."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from archsim.sweep.versions import Superseded, VersionCheck, same_sweep

Column = tuple[str, str]  # (name, kind) with kind one of float, int, bool, str


def infer_kind(values: Sequence[Any]) -> str:
    """The column kind that holds every value (None is a null in any kind)."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return "bool"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "int"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return "float"
    return "str"


def to_cell(value: Any, kind: str) -> Any:
    """``value`` as stored in a column of ``kind``."""
    if value is None:
        return None
    if kind == "str" and not isinstance(value, str):
        return json.dumps(value, sort_keys=True, default=str)
    if kind == "float":
        return float(value)
    return value


@contextlib.contextmanager
def no_interrupt() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block ends, so a write is never cut short by it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[tuple[int, Any]] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append((signum,
                                                                                 frame)))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught and callable(previous):
            previous(*caught[0])


class ResultStore:
    """Base of the two formats: ``append`` rows (durable when it returns), then ``close``."""

    def __init__(self, path: Path, columns: list[Column],
                 version: dict[str, Any] | None = None, superseded: Superseded | None = None):
        self.path = path
        self.columns = columns
        self.names = [c for c, _ in columns]
        self.kinds = dict(columns)
        self.versions = VersionCheck(version) if version is not None else None
        self.superseded = superseded
        self.ignored: dict[str, int] = {}
        """Rows dropped when the table was opened (other versions, superseded): why → count."""
        self.backup: Path | None = None
        """Where those rows were copied (``r.csv`` → ``r.bak.csv``), when there were any."""
        self.lock: Any = None
        """The table's lock (archsim/sweep/lock.py), released by :meth:`release`."""

    def _current(self, cells: dict[str, Any]) -> bool:
        return self.versions is None or self.versions.label(cells) is None

    @property
    def checks_rows(self) -> bool:
        """Whether opening an existing table drops rows that resume may not reuse."""
        return self.versions is not None or self.superseded is not None

    def stale(self, cells: dict[str, Any]) -> str | None:
        """Why the row with these cells may not be reused (for messages), or None."""
        label = self.versions.label(cells) if self.versions is not None else None
        if label is None and self.superseded is not None:
            label = self.superseded.label(cells)
        return label

    def _same_table(self, found: list[str]) -> bool:
        return found == self.names or (self.versions is not None
                                       and same_sweep(found, self.names))

    def finished(self) -> dict[str, bool]:
        """hash → whether that row records an error, for rows already in the table."""
        raise NotImplementedError

    def append(self, rows: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Flush, (Parquet) merge the parts into the main file, and release the lock."""

    def release(self) -> None:
        """Give up the table's lock (after ``close``)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def _cells(self, row: dict[str, Any]) -> list[Any]:
        return [to_cell(row.get(name), self.kinds[name]) for name in self.names]


def parts_dir(path: Path) -> Path:
    return path.with_name(path.name + ".parts")


def table_mismatch(path: object, found: list[str], expected: list[str]) -> str:
    """Why a table with columns ``found`` cannot be resumed by a sweep of ``expected``: one
    whose inputs match but whose result columns differ was written by another archsim version
    (a result column added or removed), else it is another sweep's."""
    from archsim.sweep.columns import METRIC_TYPES

    changed = set(found) ^ set(expected)
    if changed and changed <= set(METRIC_TYPES):
        return (f"{path}: was written by another archsim version (result columns "
                f"{diff_columns(found, expected)}); --overwrite runs the sweep again")
    return (f"{path}: holds a different sweep's table (columns "
            f"{diff_columns(found, expected)}); use another --out or --overwrite")


def diff_columns(found: list[str], expected: list[str]) -> str:
    missing = [c for c in expected if c not in found]
    extra = [c for c in found if c not in expected]
    parts = []
    if missing:
        parts.append(f"missing {', '.join(missing[:5])}")
    if extra:
        parts.append(f"unexpected {', '.join(extra[:5])}")
    return "; ".join(parts) or "in another order"
