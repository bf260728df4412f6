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
the later row wins, and the next resume keeps only that one (a Parquet table's merge does at
once). Only a process's main thread defers Ctrl-C until a write is complete.

Given the running code's ``version`` (archsim/sweep/versions.py), a resumed table keeps only
rows of that version: the others are copied to ``<name>.bak.<ext>``, removed from the table
(one atomic rewrite), counted in ``ignored`` and not reported by ``finished``, so their points run
again and each point keeps one row. So are, given ``superseded``, rows of the sweep's points
whose hash is no longer the point's (an edited base scenario, profile file or engine).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from archsim.spec.errors import SpecError
from archsim.sweep.csv_table import CsvStore
from archsim.sweep.lock import TableLock
from archsim.sweep.parquet_table import ParquetStore, read_arrow
from archsim.sweep.tables import Column, ResultStore, infer_kind, parts_dir, to_cell
from archsim.sweep.versions import Superseded

__all__ = ["FORMATS", "Column", "CsvStore", "ParquetStore", "ResultStore", "check_target",
           "infer_kind", "open_store", "read_results", "to_cell"]

FORMATS = (".csv", ".parquet")


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


def open_store(path: Path, columns: list[Column], resume: bool = False,
               overwrite: bool = False, version: dict[str, Any] | None = None,
               superseded: Superseded | None = None) -> ResultStore:
    """Open the results table at ``path`` for a sweep with these columns.

    A new table is created; an existing one is continued with ``resume`` (its columns must be
    these, or these but the version columns) or replaced with ``overwrite``; otherwise
    SpecError. The store holds the table's lock (archsim/sweep/lock.py) until ``close``: a
    table another sweep is writing is a SpecError. With ``version`` (the version cells of
    rows the running code writes, e.g.
    ``columns.code_version()``), rows of other versions are dropped (see the module notes);
    with ``superseded``, so are rows of the sweep's points simulated from other inputs.
    """
    path = Path(path)
    suffix = check_target(path, resume, overwrite)
    lock = TableLock(path)  # before anything is read, removed or written
    try:
        parts = parts_dir(path)
        exists = path.exists() or parts.is_dir()
        if exists and overwrite and not resume:
            path.unlink(missing_ok=True)
            if parts.is_dir():
                for part in parts.glob("*"):
                    part.unlink()
                parts.rmdir()
        store: ResultStore = (CsvStore if suffix == ".csv" else ParquetStore)(
            path, columns, version, superseded)
    except BaseException:
        lock.release()
        raise
    store.lock = lock
    return store


def check_target(path: Path, resume: bool = False, overwrite: bool = False) -> str:
    """The table's format (suffix); SpecError if it cannot be written as asked."""
    suffix = _check_format(path)
    exists = path.exists() or (suffix == ".parquet" and parts_dir(path).is_dir())
    if exists and not resume and not overwrite:
        raise SpecError([f"{path}: already exists; pass --resume to continue that sweep or "
                         "--overwrite to start again"])
    return suffix


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
    if not path.exists() and not parts_dir(path).is_dir():
        raise SpecError([f"{path}: no such results file"])
    if suffix == ".parquet":
        table = read_arrow(path)
        return table.to_pandas() if table is not None else pd.DataFrame()
    data = path.read_bytes()
    data = data[: data.rfind(b"\n") + 1]
    text_columns = {"hash": str, "error": str, "infeasible_reasons": str, "mode": str,
                    "sim.engine": str, "archsim_version": str}
    frame = pd.read_csv(io.BytesIO(data), dtype=text_columns, keep_default_na=False,
                        na_values=[""])
    if "hash" not in frame.columns:
        return frame
    return frame.drop_duplicates("hash", keep="last").reset_index(drop=True)
