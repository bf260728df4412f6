"""The Parquet results table: the main file is only ever replaced whole; each batch is first an
atomically written part in ``<name>.parts/``, merged into the main file periodically, at the
end and on resume."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

from archsim.io import write_bytes_atomic
from archsim.spec.errors import SpecError
from archsim.sweep.tables import Column, ResultStore, no_interrupt, parts_dir, table_mismatch
from archsim.sweep.versions import VERSION_NAMES, Superseded, backup_path

# The main Parquet file is rewritten at most this often during a run (and at the end), and
# never more often than 20× the time the last rewrite took. A convenience for people reading
# the file while the sweep runs, not a durability setting: every batch is on disk as a part.
COMPACT_EVERY_S = 10.0


def arrow_schema(columns: list[Column]) -> Any:
    import pyarrow as pa

    types = {"float": pa.float64(), "int": pa.int64(), "bool": pa.bool_(), "str": pa.string()}
    return pa.schema([(name, types[kind]) for name, kind in columns])


def table_bytes(table: Any) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


class ParquetStore(ResultStore):
    def __init__(self, path: Path, columns: list[Column],
                 version: dict[str, Any] | None = None, superseded: Superseded | None = None):
        super().__init__(path, columns, version, superseded)
        self.schema = arrow_schema(columns)
        self.parts = parts_dir(path)
        self._seq = 0
        self._last_compact = time.monotonic()
        self._compact_cost = 0.0
        if path.exists() or self.parts.is_dir():
            self._check_existing()
            for stale in self.parts.glob(".part-*.tmp"):  # a write cut short by a kill
                stale.unlink()
            if self.checks_rows:
                self._drop_stale_rows()
            self.compact()

    def _check_existing(self) -> None:
        """SpecError unless the main file and every part are readable tables of this sweep
        (checked before anything is rewritten)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        for file in [self.path, *part_files(self.parts)]:
            if not file.exists():
                continue
            try:
                names = pq.read_table(file).column_names  # all of it: a page may be corrupt
            except (pa.ArrowException, OSError) as exc:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise SpecError([f"{file}: is not a readable Parquet table ({first}); use "
                                 "another --out, or --overwrite to replace it"]) from None
            if not self._same_table(names):
                raise SpecError([table_mismatch(file, names, self.names)])

    def finished(self) -> dict[str, bool]:
        versions = list(VERSION_NAMES) if self.versions is not None else []
        table = read_arrow(self.path, columns=["hash", "error", *versions])
        if table is None:
            return {}
        rows = table.to_pylist()
        return {r["hash"]: r["error"] is not None for r in rows if self._current(r)}

    def _drop_stale_rows(self) -> None:
        """Rewrite the table (main file and parts) without the rows resume may not reuse."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        needed = [*VERSION_NAMES, "hash", *(self.superseded.inputs if self.superseded else [])]
        files = ([self.path] if self.path.exists() else []) + part_files(self.parts)
        kept, dropped, changed = [], [], False
        for file in files:
            table = pq.read_table(file)
            cells = {name: (table.column(name).to_pylist() if name in table.column_names
                            else [None] * table.num_rows) for name in needed}
            labels = [self.stale({k: v[i] for k, v in cells.items()})
                      for i in range(table.num_rows)]
            mask = pa.array([label is None for label in labels], type=pa.bool_())
            for label in filter(None, labels):
                self.ignored[label] = self.ignored.get(label, 0) + 1
            changed |= table.column_names != self.names or not all(mask.to_pylist())
            if any(label is None for label in labels):  # kept rows have every column
                kept.append(table.filter(mask).select(self.names))
            if any(labels):
                dropped.append(table.filter(pc.invert(mask)))
        if not changed:
            return
        if dropped:
            self.backup = backup_path(self.path)
            old = concat(dropped)
            write_bytes_atomic(self.backup, table_bytes(old))
        table = last_per_hash(concat(kept)) if kept else self.schema.empty_table()
        with no_interrupt():
            write_bytes_atomic(self.path, table_bytes(table))
            for part in part_files(self.parts):
                part.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.parts.rmdir()

    def append(self, rows: list[dict[str, Any]]) -> None:
        import pyarrow as pa

        if not rows:
            return
        records = [dict(zip(self.names, self._cells(r), strict=True)) for r in rows]
        table = pa.Table.from_pylist(records, schema=self.schema)
        data = table_bytes(table)
        self.parts.mkdir(exist_ok=True)
        with no_interrupt():
            self._seq += 1
            write_bytes_atomic(self.parts / f"part-{os.getpid()}-{self._seq:07d}.parquet", data)
        now = time.monotonic()
        if now - self._last_compact >= max(COMPACT_EVERY_S, 20 * self._compact_cost):
            self.compact()

    def compact(self) -> None:
        """Merge the part files into the main file (atomically), then remove them."""
        t0 = time.monotonic()
        parts = part_files(self.parts)
        if parts or not self.path.exists():
            table = read_arrow(self.path, schema=self.schema)
            data = table_bytes(table)
            with no_interrupt():
                write_bytes_atomic(self.path, data)
                for part in parts:
                    part.unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    self.parts.rmdir()
        self._last_compact = time.monotonic()
        self._compact_cost = self._last_compact - t0

    def close(self) -> None:
        try:
            self.compact()
        finally:
            self.release()


def part_files(parts: Path) -> list[Path]:
    if not parts.is_dir():
        return []
    return sorted(parts.glob("part-*.parquet"), key=lambda p: (p.stat().st_mtime_ns, p.name))


def read_arrow(path: Path, columns: list[str] | None = None, schema: Any = None) -> Any:
    """Main file + leftover parts as one Arrow table, a hash kept once (the last row wins)."""
    import pyarrow.parquet as pq

    files = ([path] if path.exists() else []) + part_files(parts_dir(path))
    tables = [pq.read_table(f, columns=columns) for f in files]
    if not tables:
        return None if schema is None else schema.empty_table()
    table = concat(tables)
    if "hash" not in table.column_names:
        return table  # not written by a sweep: nothing to key rows by
    return last_per_hash(table)


def concat(tables: list[Any]) -> Any:
    """Tables of one sweep as one. A column's kind may differ between runs (an axis of whole
    numbers given a fraction on resume: int64 in the old rows, double in the new), so int
    columns widen to double and missing ones fill with nulls."""
    import pyarrow as pa

    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables, promote_options="permissive")


def last_per_hash(table: Any) -> Any:
    """``table`` with one row per hash, the last."""
    last: dict[str, int] = {}
    for i, h in enumerate(table.column("hash").to_pylist()):
        last[h] = i
    if len(last) != table.num_rows:
        table = table.take(sorted(last.values()))
    return table
