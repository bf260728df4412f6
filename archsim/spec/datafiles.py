"""Data files a serving workload names: request traces and observed length distributions.

A trace is CSV with a header, or JSON Lines, one request per row with ``arrival_s``,
``prompt_len`` and ``gen_len`` (aliases: ``timestamp``/``arrival_time``,
``input_len``/``prompt_tokens``, ``output_len``/``output_tokens``). A length file is a CSV
(column ``length`` or the first one), JSONL (``length`` or a bare number per line) or text (one
number per line). Relative names are looked up in the current folder, then in the data folders
(beside ``workloads/``).

Files are read as UTF-8 text of at most :data:`MAX_DATA_BYTES`; a trace holds at most
:data:`archsim.spec.workload.MAX_REQUESTS` requests and every length is at most
:data:`archsim.spec.workload.MAX_TOKENS`. A file read once is kept (by path, size and
modification time; the last trace, the last two length files) for the simulation that follows the
scenario's loading.

Raises SpecError naming the field, the file and the line for missing, empty or malformed files.
"""

from __future__ import annotations

import csv
import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np

from archsim.spec.errors import SpecError
from archsim.spec.textio import read_text
from archsim.spec.workload import MAX_REQUESTS, MAX_TOKENS

# Largest trace or length file read: a million-request trace in CSV is ~30 MB, so 256 MiB
# only refuses what is not one (reading it costs a few seconds and ~1 GB at most).
MAX_DATA_BYTES = 256 * 2**20

_ALIASES = {"arrival_s": ("arrival_s", "arrival_time", "timestamp"),
            "prompt_len": ("prompt_len", "input_len", "prompt_tokens"),
            "gen_len": ("gen_len", "output_len", "output_tokens")}


def resolve_data_file(name: str, field: str) -> Path:
    """``name`` as given, else relative to the data folders (where workloads/ lives)."""
    from archsim.spec.registry import data_roots

    path = Path(name)
    if path.is_dir():
        raise SpecError([f"{field}: {name}: is a folder; expected a file"])
    if path.is_file():
        return path
    if not path.is_absolute():
        for root in data_roots():
            if (root / path).is_file():
                return root / path
    raise SpecError([f"{field}: {name}: no such file (looked in the current folder and the "
                     "data folders)"])


def _whole(value: object, what: str, where: str, minimum: int = 1) -> int:
    if isinstance(value, bool):
        raise SpecError([f"{where}: {what} {str(value).lower()} is not a number"])
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise SpecError([f"{where}: {what} {value!r} is not a number"]) from None
    if not math.isfinite(number) or number != int(number) or number < minimum:
        raise SpecError([f"{where}: {what} {value!r} must be a whole number ≥ {minimum}"])
    if number > MAX_TOKENS:
        raise SpecError([f"{where}: {what} {value!r} is more than {MAX_TOKENS:,} tokens, the "
                         "longest archsim simulates"])
    return int(number)


def _time(value: object, where: str) -> float:
    if isinstance(value, bool):
        raise SpecError([f"{where}: arrival_s {str(value).lower()} is not a number of seconds"])
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise SpecError([f"{where}: arrival_s {value!r} is not a number of seconds"]) from None
    if not math.isfinite(number) or number < 0:
        raise SpecError([f"{where}: arrival_s {value!r} must be a time ≥ 0 in seconds"])
    return number


def _pick(row: dict, key: str) -> object:
    for alias in _ALIASES[key]:
        if alias in row and row[alias] not in (None, ""):
            return row[alias]
    return None


def _json_line(line: str, where: str) -> object:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise SpecError([f"{where}: not valid JSON ({exc.msg})"]) from None
    except ValueError as exc:  # e.g. a number of more than 4300 digits
        raise SpecError([f"{where}: not valid JSON ({exc})"]) from None
    except RecursionError:
        raise SpecError([f"{where}: not valid JSON (nested too deeply)"]) from None


def _too_many(where: str) -> SpecError:
    return SpecError([f"{where}: holds more than {MAX_REQUESTS:,} rows, the most archsim reads"])


def _key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def read_trace(name: str, field: str = "workload.arrival.trace_file"
               ) -> list[tuple[float, int, int]]:
    """(arrival_s, prompt_len, gen_len) per request of a CSV or JSONL trace, by arrival."""
    path = resolve_data_file(name, field)
    return list(_read_trace(_key(path), name, field))


@lru_cache(maxsize=1)  # the file just checked at load, read again by the simulation
def _read_trace(key: tuple[str, int, int], name: str, field: str
                ) -> tuple[tuple[float, int, int], ...]:
    path = Path(key[0])
    where = f"{field}: {name}"
    rows: list[tuple[int, dict]] = []
    text = read_text(path, MAX_DATA_BYTES, what="trace file", source=where)
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            obj = _json_line(line, f"{where}: line {n}")
            if not isinstance(obj, dict):
                raise SpecError([f"{where}: line {n}: expected an object with arrival_s, "
                                 f"prompt_len and gen_len; got {type(obj).__name__}"])
            rows.append((n, obj))
            if len(rows) > MAX_REQUESTS:
                raise _too_many(where)
    elif path.suffix.lower() in (".csv", ".tsv", ".txt"):
        try:
            reader = csv.DictReader(text.splitlines(),
                                    delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
            header = [h.strip() for h in reader.fieldnames or []]
            reader.fieldnames = header
            if header:
                missing = [k for k in _ALIASES if not any(a in header for a in _ALIASES[k])]
                if missing:
                    raise SpecError([f"{where}: line 1: missing column(s) {', '.join(missing)}; "
                                     "expected a header with arrival_s, prompt_len, gen_len"])
            for row in reader:
                if None in row:
                    raise SpecError([f"{where}: line {reader.line_num}: more fields than the "
                                     f"header's {len(header)}"])
                if all(v in (None, "") for v in row.values()):
                    continue
                rows.append((reader.line_num, row))
                if len(rows) > MAX_REQUESTS:
                    raise _too_many(where)
        except csv.Error as exc:
            raise SpecError([f"{where}: not valid CSV ({exc})"]) from None
    else:
        raise SpecError([f"{where}: unknown trace format {path.suffix!r}; expected .csv or "
                         ".jsonl"])
    if not rows:
        raise SpecError([f"{where}: the trace file is empty; expected one request per line "
                         "with arrival_s, prompt_len and gen_len"])
    out = []
    for n, row in rows:
        at = f"{where}: line {n}"
        values = {k: _pick(row, k) for k in _ALIASES}
        missing = [k for k, v in values.items() if v is None]
        if missing:
            raise SpecError([f"{at}: missing {', '.join(missing)}"])
        out.append((_time(values["arrival_s"], at),
                    _whole(values["prompt_len"], "prompt_len", at),
                    _whole(values["gen_len"], "gen_len", at)))
    out.sort(key=lambda r: r[0])
    return tuple(out)


def read_lengths(name: str, field: str) -> np.ndarray:
    """Observed lengths from a CSV (column ``length`` or the first one), JSONL (``length`` or a
    bare number per line) or text file (one number per line)."""
    path = resolve_data_file(name, field)
    return _read_lengths(_key(path), name, field).copy()


@lru_cache(maxsize=2)  # prompt and output length files, checked at load, read again
def _read_lengths(key: tuple[str, int, int], name: str, field: str) -> np.ndarray:
    path = Path(key[0])
    where = f"{field}: {name}"
    text = read_text(path, MAX_DATA_BYTES, what="length file", source=where)
    values: list[int] = []
    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            reader = csv.reader(text.splitlines())
            header = next(reader, None)
            if header is None:
                raise SpecError([f"{where}: the file is empty; expected a column of lengths"])
            header = [h.strip() for h in header]
            col = header.index("length") if "length" in header else 0
            for row in reader:
                if not row or not any(c.strip() for c in row):
                    continue
                if col >= len(row):
                    raise SpecError([f"{where}: line {reader.line_num}: no column {col + 1}"])
                values.append(_whole(row[col], "length", f"{where}: line {reader.line_num}"))
                if len(values) > MAX_REQUESTS:
                    raise _too_many(where)
        except csv.Error as exc:
            raise SpecError([f"{where}: not valid CSV ({exc})"]) from None
    else:
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            item: object = line.strip()
            if suffix in (".jsonl", ".json", ".ndjson"):
                item = _json_line(line, f"{where}: line {n}")
                if isinstance(item, dict):
                    item = item.get("length")
            values.append(_whole(item, "length", f"{where}: line {n}"))
            if len(values) > MAX_REQUESTS:
                raise _too_many(where)
    if not values:
        raise SpecError([f"{where}: the file is empty; expected a column of lengths"])
    return np.asarray(values, dtype=np.int64)
