"""The CSV results table: a header line, then one line per point, appended a batch per
``write``; a line cut short by a killed process is ignored and cut off on resume."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

from archsim.io import write_text_atomic
from archsim.spec.errors import SpecError
from archsim.spec.textio import decode_text
from archsim.sweep.columns import cell_text
from archsim.sweep.tables import Column, ResultStore, no_interrupt, table_mismatch
from archsim.sweep.versions import Superseded, backup_path


def format_csv(rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for row in rows:
        writer.writerow([cell_text(v) for v in row])
    return buf.getvalue()


class CsvStore(ResultStore):
    def __init__(self, path: Path, columns: list[Column],
                 version: dict[str, Any] | None = None, superseded: Superseded | None = None):
        super().__init__(path, columns, version, superseded)
        if path.exists():
            self._repair_and_check()
        else:
            write_text_atomic(path, format_csv([self.names]))
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)

    def _repair_and_check(self) -> None:
        data = self.path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        if len(complete) != len(data):
            with open(self.path, "r+b") as fh:  # a row cut short by a killed process
                fh.truncate(len(complete))
        try:
            text = decode_text(complete, str(self.path))
            lines = list(csv.reader(io.StringIO(text)))
        except (SpecError, csv.Error) as exc:
            why = exc.problems[0].removeprefix(f"{self.path}: ").split(";")[0] \
                if isinstance(exc, SpecError) else f"not CSV: {exc}"
            raise SpecError([f"{self.path}: is not a results table archsim wrote ({why}); use "
                             "another --out, or --overwrite to replace it"]) from None
        header = lines[0] if lines else []
        if not self._same_table(header):
            raise SpecError([table_mismatch(self.path, header, self.names)])
        if not self.checks_rows:
            return
        keep, drop = [], []
        for line in lines[1:]:
            cells = dict(zip(header, line, strict=False))
            label = self.stale(cells)
            if label is None:
                keep.append([cells.get(name, "") for name in self.names])
            else:
                drop.append(line)
                self.ignored[label] = self.ignored.get(label, 0) + 1
        if drop:
            self.backup = backup_path(self.path)
            write_text_atomic(self.backup, format_csv([header, *drop]))
        last = {row[0]: i for i, row in enumerate(keep)}  # a point re-run: its last row
        if drop or header != self.names or len(last) != len(keep):
            kept = [row for i, row in enumerate(keep) if last[row[0]] == i]
            write_text_atomic(self.path, format_csv([self.names, *kept]))

    def finished(self) -> dict[str, bool]:
        text = self.path.read_text(encoding="utf-8")
        reader = csv.reader(io.StringIO(text[: text.rfind("\n") + 1]))
        header = next(reader, [])
        error_at = header.index("error")
        return {row[0]: bool(row[error_at]) for row in reader
                if len(row) == len(header) and self._current(dict(zip(header, row, strict=True)))}

    def append(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        data = format_csv([self._cells(r) for r in rows]).encode("utf-8")
        with no_interrupt():
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]

    def close(self) -> None:
        try:
            if self._fd >= 0:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = -1
        finally:
            self.release()
