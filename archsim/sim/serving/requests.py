"""The request stream of a serving run: arrival times and prompt / output lengths.

Arrivals are Poisson (exponential gaps) or evenly spaced at ``rate_per_s``, or replayed from a
trace file: CSV with a header, or JSON Lines, one request per row with ``arrival_s``,
``prompt_len`` and ``gen_len`` (aliases: ``timestamp``/``arrival_time``,
``input_len``/``prompt_tokens``, ``output_len``/``output_tokens``). Lengths are fixed numbers
or drawn from a distribution (fixed, uniform, lognormal, or empirical from a file of observed
lengths). Relative file names are looked up in the current folder, then in the data folders
(beside ``workloads/``). Everything is drawn from one seeded generator, so a run repeats.

Raises SpecError naming the field, the file and the line for missing, empty or malformed files.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from archsim.spec.errors import SpecError
from archsim.spec.workload import LengthDistribution, ServingWorkload

_ALIASES = {"arrival_s": ("arrival_s", "arrival_time", "timestamp"),
            "prompt_len": ("prompt_len", "input_len", "prompt_tokens"),
            "gen_len": ("gen_len", "output_len", "output_tokens")}


@dataclass(slots=True, eq=False)
class Request:
    """One request and its progress through a serving run (mutated by the scheduler)."""

    rid: int
    arrival_s: float
    prompt_len: int
    gen_len: int
    # --- scheduler state
    target: int = 0
    """Tokens to (re)compute in prefill: the prompt, or prompt + output after a preemption."""
    done: int = 0
    """Tokens of ``target`` prefilled so far (chunked prefill)."""
    blocks: int = 0
    """KV-cache blocks held while prefilling / waiting for decode."""
    generated: int = 0
    join: int = 0
    """Replica decode round at which the request joined decoding, its cache length then, and
    tokens generated then (all later values follow from the round counter)."""
    ctx0: int = 0
    gen0: int = 0
    tag: int = 0
    """Bumped when preempted, so stale completion entries are ignored."""
    # --- measurements
    first_scheduled_s: float = -1.0
    first_token_s: float = -1.0
    finish_s: float = -1.0
    preemptions: int = 0
    replica: int = -1
    engine: int = 0
    """Virtual engine of its replica that runs it (pipeline-parallel replicas; else 0)."""


def resolve_data_file(name: str, field: str) -> Path:
    """``name`` as given, else relative to the data folders (where workloads/ lives)."""
    from archsim.spec.registry import data_roots

    path = Path(name)
    if path.is_file():
        return path
    if not path.is_absolute():
        for root in data_roots():
            if (root / path).is_file():
                return root / path
    raise SpecError([f"{field}: {name}: no such file (looked in the current folder and the "
                     "data folders)"])


def _whole(value: object, what: str, where: str, minimum: int = 1) -> int:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SpecError([f"{where}: {what} {value!r} is not a number"]) from None
    if not math.isfinite(number) or number != int(number) or number < minimum:
        raise SpecError([f"{where}: {what} {value!r} must be a whole number ≥ {minimum}"])
    return int(number)


def _time(value: object, where: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SpecError([f"{where}: arrival_s {value!r} is not a number of seconds"]) from None
    if not math.isfinite(number) or number < 0:
        raise SpecError([f"{where}: arrival_s {value!r} must be a time ≥ 0 in seconds"])
    return number


def _pick(row: dict, key: str) -> object:
    for alias in _ALIASES[key]:
        if alias in row and row[alias] not in (None, ""):
            return row[alias]
    return None


def read_trace(name: str, field: str = "workload.arrival.trace_file"
               ) -> list[tuple[float, int, int]]:
    """(arrival_s, prompt_len, gen_len) per request of a CSV or JSONL trace, by arrival."""
    path = resolve_data_file(name, field)
    where = f"{field}: {name}"
    rows: list[tuple[int, dict]] = []
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SpecError([f"{where}: line {n}: not valid JSON ({exc.msg})"]) from None
            if not isinstance(obj, dict):
                raise SpecError([f"{where}: line {n}: expected an object with arrival_s, "
                                 f"prompt_len and gen_len; got {type(obj).__name__}"])
            rows.append((n, obj))
    elif path.suffix.lower() in (".csv", ".tsv", ".txt"):
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
    return out


def read_lengths(name: str, field: str) -> np.ndarray:
    """Observed lengths from a CSV (column ``length`` or the first one), JSONL (``length`` or a
    bare number per line) or text file (one number per line)."""
    path = resolve_data_file(name, field)
    where = f"{field}: {name}"
    text = path.read_text(encoding="utf-8")
    values: list[int] = []
    suffix = path.suffix.lower()
    if suffix == ".csv":
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
    else:
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            item: object = line.strip()
            if suffix in (".jsonl", ".json", ".ndjson"):
                try:
                    item = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SpecError([f"{where}: line {n}: not valid JSON ({exc.msg})"]) \
                        from None
                if isinstance(item, dict):
                    item = item.get("length")
            values.append(_whole(item, "length", f"{where}: line {n}"))
    if not values:
        raise SpecError([f"{where}: the file is empty; expected a column of lengths"])
    return np.asarray(values, dtype=np.int64)


def sample_lengths(spec: int | LengthDistribution, n: int, rng: np.random.Generator,
                   field: str) -> np.ndarray:
    """``n`` lengths from ``spec`` (clipped to [1, spec.max])."""
    if isinstance(spec, int):
        return np.full(n, spec, dtype=np.int64)
    if spec.dist == "fixed":
        out = np.full(n, spec.value, dtype=np.int64)
    elif spec.dist == "uniform":
        out = rng.integers(spec.low, spec.high + 1, size=n)  # type: ignore[operator]
    elif spec.dist == "lognormal":
        assert spec.mean is not None and spec.sigma is not None
        mu = math.log(spec.mean) - spec.sigma ** 2 / 2  # so that E[length] = mean
        out = np.rint(rng.lognormal(mu, spec.sigma, size=n)).astype(np.int64)
    else:
        assert spec.file is not None
        out = rng.choice(read_lengths(spec.file, f"{field}.file"), size=n)
    return np.clip(out, 1, spec.max if spec.max is not None else None)


def generate_requests(wl: ServingWorkload) -> list[Request]:
    """The workload's requests in arrival order (seeded: the same every run)."""
    arr = wl.arrival
    rng = np.random.default_rng(arr.seed)
    if arr.process == "trace":
        assert arr.trace_file is not None
        rows = read_trace(arr.trace_file)
        if "count" in arr.model_fields_set:
            rows = rows[: arr.count]
        times = np.array([r[0] for r in rows])
        if arr.rate_per_s is not None and len(rows) > 1 and times[-1] > times[0]:
            mean_rate = (len(rows) - 1) / (times[-1] - times[0])
            times = times[0] + (times - times[0]) * mean_rate / arr.rate_per_s
        return [Request(rid=i, arrival_s=float(t), prompt_len=p, gen_len=g)
                for i, (t, (_, p, g)) in enumerate(zip(times, rows, strict=True))]
    n = arr.count
    assert arr.rate_per_s is not None
    if arr.process == "poisson":
        times = np.cumsum(rng.exponential(1.0 / arr.rate_per_s, size=n))
    else:
        times = np.arange(n) / arr.rate_per_s
    prompts = sample_lengths(wl.prompt_len, n, rng, "workload.prompt_len")
    gens = sample_lengths(wl.gen_len, n, rng, "workload.gen_len")
    return [Request(rid=i, arrival_s=float(times[i]), prompt_len=int(prompts[i]),
                    gen_len=int(gens[i])) for i in range(n)]
