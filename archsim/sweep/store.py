"""The results table of a sweep, written as points finish; resumable; readable at any moment.

Format by extension:

* ``.csv`` — one header line, then one line per point, appended as each batch finishes (one
  ``write`` per batch; every cell is a single line, so a row is a line). A process killed in
  the middle of a write can leave at most a partial last line without its newline; readers here
  ignore it and ``resume`` cuts it off before appending.
* ``.parquet`` — the file itself is only ever replaced whole (temp file + rename), so it is
  always a complete Parquet file. Each finished batch is first written, also atomically, as a
  part file in ``<name>.parts/`` beside it; the parts are merged into the main file
  periodically, at the end, and when a sweep is resumed. :func:`read_results` merges the main
  file with any parts a killed run left behind.

Rows are keyed by ``hash``; when a hash appears twice (a point re-run with ``retry_errors``),
the later row wins. Only a process's main thread defers Ctrl-C until a write is complete.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from archsim.io import write_bytes_atomic, write_text_atomic
from archsim.spec.errors import SpecError

Column = tuple[str, str]  # (name, kind) with kind one of float, int, bool, str
FORMATS = (".csv", ".parquet")


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
def _no_interrupt() -> Iterator[None]:
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


def _check_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise SpecError([f"{path}: results file must end in .csv or .parquet, got "
                         f"{suffix or 'no extension'!r}"])
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise SpecError([f"{path}: Parquet output needs pyarrow: pip install pyarrow "
                             "(or write .csv)"]) from None
    return suffix


class ResultStore:
    """Base of the two formats: ``append`` rows (durable when it returns), then ``close``."""

    def __init__(self, path: Path, columns: list[Column]):
        self.path = path
        self.columns = columns
        self.names = [c for c, _ in columns]
        self.kinds = dict(columns)

    def finished(self) -> dict[str, bool]:
        """hash → whether that row records an error, for rows already in the table."""
        raise NotImplementedError

    def append(self, rows: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Flush and (Parquet) merge the parts into the main file."""

    def _cells(self, row: dict[str, Any]) -> list[Any]:
        return [to_cell(row.get(name), self.kinds[name]) for name in self.names]


def open_store(path: Path, columns: list[Column], resume: bool = False,
               overwrite: bool = False) -> ResultStore:
    """Open the results table at ``path`` for a sweep with these columns.

    A new table is created; an existing one is continued with ``resume`` (its columns must be
    these) or replaced with ``overwrite``; otherwise SpecError.
    """
    path = Path(path)
    suffix = check_target(path, resume, overwrite)
    parts = _parts_dir(path)
    exists = path.exists() or parts.is_dir()
    if exists and overwrite and not resume:
        path.unlink(missing_ok=True)
        if parts.is_dir():
            for part in parts.glob("*"):
                part.unlink()
            parts.rmdir()
    if suffix == ".csv":
        return CsvStore(path, columns)
    return ParquetStore(path, columns)


def check_target(path: Path, resume: bool = False, overwrite: bool = False) -> str:
    """The table's format (suffix); SpecError if it cannot be written as asked."""
    suffix = _check_format(path)
    exists = path.exists() or (suffix == ".parquet" and _parts_dir(path).is_dir())
    if exists and not resume and not overwrite:
        raise SpecError([f"{path}: already exists; pass --resume to continue that sweep or "
                         "--overwrite to start again"])
    return suffix


def _parts_dir(path: Path) -> Path:
    return path.with_name(path.name + ".parts")


# --------------------------------------------------------------------------- CSV


def _format_csv(rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for row in rows:
        writer.writerow(["" if v is None else ("true" if v is True else "false")
                         if isinstance(v, bool) else repr(v) if isinstance(v, float) else v
                         for v in row])
    return buf.getvalue()


class CsvStore(ResultStore):
    def __init__(self, path: Path, columns: list[Column]):
        super().__init__(path, columns)
        if path.exists():
            self._repair_and_check()
        else:
            write_text_atomic(path, _format_csv([self.names]))
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)

    def _repair_and_check(self) -> None:
        data = self.path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        if len(complete) != len(data):
            with open(self.path, "r+b") as fh:  # a row cut short by a killed process
                fh.truncate(len(complete))
        header = next(csv.reader(io.StringIO(complete.decode("utf-8"))), [])
        if header != self.names:
            raise SpecError([f"{self.path}: holds a different sweep's table (columns "
                             f"{_diff(header, self.names)}); use another --out or --overwrite"])

    def finished(self) -> dict[str, bool]:
        text = self.path.read_text(encoding="utf-8")
        reader = csv.reader(io.StringIO(text[: text.rfind("\n") + 1]))
        header = next(reader, [])
        error_at = header.index("error")
        return {row[0]: bool(row[error_at]) for row in reader if len(row) == len(header)}

    def append(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        data = _format_csv([self._cells(r) for r in rows]).encode("utf-8")
        with _no_interrupt():
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]

    def close(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1


def _diff(found: list[str], expected: list[str]) -> str:
    missing = [c for c in expected if c not in found]
    extra = [c for c in found if c not in expected]
    parts = []
    if missing:
        parts.append(f"missing {', '.join(missing[:5])}")
    if extra:
        parts.append(f"unexpected {', '.join(extra[:5])}")
    return "; ".join(parts) or "in another order"


# --------------------------------------------------------------------------- Parquet

# The main Parquet file is rewritten at most this often during a run (and at the end), and
# never more often than 20× the time the last rewrite took. A convenience for people reading
# the file while the sweep runs, not a durability setting: every batch is on disk as a part.
COMPACT_EVERY_S = 10.0


def _arrow_schema(columns: list[Column]) -> Any:
    import pyarrow as pa

    types = {"float": pa.float64(), "int": pa.int64(), "bool": pa.bool_(), "str": pa.string()}
    return pa.schema([(name, types[kind]) for name, kind in columns])


def _table_bytes(table: Any) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


class ParquetStore(ResultStore):
    def __init__(self, path: Path, columns: list[Column]):
        super().__init__(path, columns)
        self.schema = _arrow_schema(columns)
        self.parts = _parts_dir(path)
        self._seq = 0
        self._last_compact = time.monotonic()
        self._compact_cost = 0.0
        if path.exists() or self.parts.is_dir():
            self._check_existing()
            for stale in self.parts.glob(".part-*.tmp"):  # a write cut short by a kill
                stale.unlink()
            self.compact()

    def _check_existing(self) -> None:
        import pyarrow.parquet as pq

        for file in [self.path, *_part_files(self.parts)]:
            if not file.exists():
                continue
            names = pq.read_schema(file).names
            if names != self.names:
                raise SpecError([f"{file}: holds a different sweep's table (columns "
                                 f"{_diff(names, self.names)}); use another --out or "
                                 "--overwrite"])

    def finished(self) -> dict[str, bool]:
        table = _read_arrow(self.path, columns=["hash", "error"])
        if table is None:
            return {}
        hashes = table.column("hash").to_pylist()
        errors = table.column("error").to_pylist()
        return {h: e is not None for h, e in zip(hashes, errors, strict=True)}

    def append(self, rows: list[dict[str, Any]]) -> None:
        import pyarrow as pa

        if not rows:
            return
        records = [dict(zip(self.names, self._cells(r), strict=True)) for r in rows]
        table = pa.Table.from_pylist(records, schema=self.schema)
        data = _table_bytes(table)
        self.parts.mkdir(exist_ok=True)
        with _no_interrupt():
            self._seq += 1
            write_bytes_atomic(self.parts / f"part-{os.getpid()}-{self._seq:07d}.parquet", data)
        now = time.monotonic()
        if now - self._last_compact >= max(COMPACT_EVERY_S, 20 * self._compact_cost):
            self.compact()

    def compact(self) -> None:
        """Merge the part files into the main file (atomically), then remove them."""
        t0 = time.monotonic()
        parts = _part_files(self.parts)
        if parts or not self.path.exists():
            table = _read_arrow(self.path, schema=self.schema)
            data = _table_bytes(table)
            with _no_interrupt():
                write_bytes_atomic(self.path, data)
                for part in parts:
                    part.unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    self.parts.rmdir()
        self._last_compact = time.monotonic()
        self._compact_cost = self._last_compact - t0

    def close(self) -> None:
        self.compact()


def _part_files(parts: Path) -> list[Path]:
    if not parts.is_dir():
        return []
    return sorted(parts.glob("part-*.parquet"), key=lambda p: (p.stat().st_mtime_ns, p.name))


def _read_arrow(path: Path, columns: list[str] | None = None, schema: Any = None) -> Any:
    """Main file + leftover parts as one Arrow table, a hash kept once (the last row wins)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = ([path] if path.exists() else []) + _part_files(_parts_dir(path))
    tables = [pq.read_table(f, columns=columns) for f in files]
    if not tables:
        return None if schema is None else schema.empty_table()
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    if "hash" not in table.column_names:
        return table  # not written by a sweep: nothing to key rows by
    last: dict[str, int] = {}
    for i, h in enumerate(table.column("hash").to_pylist()):
        last[h] = i
    if len(last) != table.num_rows:
        table = table.take(sorted(last.values()))
    return table


def read_results(path: str | Path) -> Any:
    """The results table at ``path`` (CSV or Parquet) as a pandas DataFrame.

    Works while a sweep is running or after one was killed: a CSV's unfinished last line is
    ignored; a Parquet file's leftover parts are merged in. One row per hash (the last); a
    table without a ``hash`` column is returned as it is. Raises SpecError for a path that is
    not .csv/.parquet or does not exist, and pandas/pyarrow's errors for an unreadable file.
    """
    import pandas as pd

    path = Path(path)
    suffix = _check_format(path)
    if not path.exists() and not _parts_dir(path).is_dir():
        raise SpecError([f"{path}: no such results file"])
    if suffix == ".parquet":
        table = _read_arrow(path)
        return table.to_pandas() if table is not None else pd.DataFrame()
    data = path.read_bytes()
    data = data[: data.rfind(b"\n") + 1]
    text_columns = {"hash": str, "error": str, "infeasible_reasons": str, "mode": str,
                    "sim.engine": str}
    frame = pd.read_csv(io.BytesIO(data), dtype=text_columns, keep_default_na=False,
                        na_values=[""])
    if "hash" not in frame.columns:
        return frame
    return frame.drop_duplicates("hash", keep="last").reset_index(drop=True)
