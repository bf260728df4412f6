"""Measured end-to-end runs (``RUNS.csv``): one row per run, as a team has them in its logs.

The format (every column but the required ones may be left blank or left out):

========================  =================================================================
column                    meaning
========================  =================================================================
run (required)            a unique id of the run
source                    where it comes from (paper, log, benchmark); cross-validation
                          leaves one source out at a time (default: the run id)
kind (required)           training | inference (a static batch) | serving (requests
                          through the continuous-batching scheduler)
metric (required)         see ``METRICS`` (step_time_s, tokens_per_s, ttft_s, tpot_s, ...)
measured (required)       the measured value, in the metric's unit (seconds, tokens/s),
                          from 1e-18 to 1e18 (``MAX_NUMBER``, as scenario numbers)
device (required)         registry name or profile path of the device
devices (required)        devices in the run
devices_per_node, intra_node, inter_node
                          node size and links (default: the device profile's)
model                     registry name of the model, or blank with the shape columns
layers, hidden, heads, kv_heads, ffn, vocab, mlp
                          the model's shape (override a named model's fields)
dtype                     compute dtype (bf16, fp16, fp8 for fp8 inference/training GEMMs)
seq_len, global_batch, micro_batch        training workload
tp, pp, cp, ep, sp, zero, recompute, schedule, virtual_stages, flash_attention,
attention_kernel, overlap_comm, tp_comm_overlap, zero3_prefetch, zero3_granularity,
grad_accumulation         parallel plan
batch, prompt_len, gen_len, cuda_graphs   inference workload (static batch; prompt_len,
                          gen_len and cuda_graphs serving's too)
arrival, rate_per_s, concurrency, requests, max_num_seqs, max_batched_tokens, chunked_prefill
                          serving workload: arrival process (poisson, uniform, burst:
                          every request at once, closed: ``concurrency`` clients), requests
                          sent, the scheduler's limits
weight_dtype, activation_dtype, kv_cache_dtype     compression (fp8 / int8 / int4 ...)
set                       more scenario keys: ``key=value; key=value`` (``--set`` syntax)
weight                    weight of the row in the fit (default 1; 0: predicted, never
                          fitted — its error counts in the error bar as a held-out run's)
notes                     free text
========================  =================================================================

A serving row's metric is read in the run's steady-state window (archsim/metrics/serving.py):
``tokens_per_s`` the output tokens/s of all replicas (the whole run for a burst, as
trtllm-bench reports it), ``ttft_s`` / ``tpot_s`` / ``e2e_latency_s`` the means over the
requests that arrived in the window.

Rows are checked when read: a bad value is a SpecError naming the file, the row (the line
number in the file) and the column.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archsim.spec.errors import SpecError
from archsim.spec.shape import MAX_NUMBER, number_problem

# metric → (kinds it applies to, "time" or "rate", accuracy group)
METRICS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "step_time_s": (("training",), "time", "training"),
    "tokens_per_s": (("training", "inference", "serving"), "rate", ""),
    "tokens_per_s_per_device": (("training", "inference", "serving"), "rate", ""),
    "ttft_s": (("inference", "serving"), "time", "ttft"),
    "tpot_s": (("inference", "serving"), "time", "tpot"),
    "e2e_latency_s": (("inference", "serving"), "time", "e2e_latency"),
}
"""Training throughput metrics are step times in disguise (group ``training``); inference
and serving throughput metrics form the group ``throughput``."""
KINDS = ("training", "inference", "serving")

_INT = "int"
_BOOL = "bool"
_STR = "str"
_FLOAT = "float"

# column → (scenario path or None, type, kinds it applies to)
COLUMNS: dict[str, tuple[tuple[str, ...] | None, str, tuple[str, ...]]] = {
    "run": (None, _STR, ()), "source": (None, _STR, ()), "kind": (None, _STR, ()),
    "metric": (None, _STR, ()), "measured": (None, _FLOAT, ()), "weight": (None, _FLOAT, ()),
    "notes": (None, _STR, ()), "set": (None, _STR, ()), "model": (None, _STR, ()),
    "device": (("hardware", "device"), _STR, ()),
    "devices": (("hardware", "count"), _INT, ()),
    "devices_per_node": (("hardware", "devices_per_node"), _INT, ()),
    "intra_node": (("hardware", "intra_node"), _STR, ()),
    "inter_node": (("hardware", "inter_node"), _STR, ()),
    "layers": (("model", "layers"), _INT, ()), "hidden": (("model", "hidden"), _INT, ()),
    "heads": (("model", "heads"), _INT, ()), "kv_heads": (("model", "kv_heads"), _INT, ()),
    "ffn": (("model", "ffn_hidden"), _INT, ()), "vocab": (("model", "vocab"), _INT, ()),
    "mlp": (("model", "mlp"), _STR, ()),
    "dtype": (("workload", "dtype"), _STR, ()),
    "seq_len": (("workload", "seq_len"), _INT, ("training",)),
    "global_batch": (("workload", "global_batch"), _INT, ("training",)),
    "micro_batch": (("workload", "micro_batch"), _INT, ("training",)),
    "batch": (("workload", "batch"), _INT, ("inference",)),
    "prompt_len": (("workload", "prompt_len"), _INT, ("inference", "serving")),
    "gen_len": (("workload", "gen_len"), _INT, ("inference", "serving")),
    "cuda_graphs": (("workload", "cuda_graphs"), _BOOL, ("inference", "serving")),
    "arrival": (("workload", "arrival", "process"), _STR, ("serving",)),
    "rate_per_s": (("workload", "arrival", "rate_per_s"), _FLOAT, ("serving",)),
    "concurrency": (("workload", "arrival", "concurrency"), _INT, ("serving",)),
    "requests": (("workload", "arrival", "count"), _INT, ("serving",)),
    "max_num_seqs": (("workload", "max_num_seqs"), _INT, ("serving",)),
    "max_batched_tokens": (("workload", "max_batched_tokens"), _INT, ("serving",)),
    "chunked_prefill": (("workload", "chunked_prefill"), _BOOL, ("serving",)),
    "tp": (("plan", "tp"), _INT, ()), "pp": (("plan", "pp"), _INT, ()),
    "cp": (("plan", "cp"), _INT, ("training",)), "ep": (("plan", "ep"), _INT, ()),
    "sp": (("plan", "sp"), _BOOL, ("training",)),
    "zero": (("plan", "zero"), _INT, ("training",)),
    "recompute": (("plan", "recompute"), _STR, ("training",)),
    "schedule": (("plan", "schedule"), _STR, ("training",)),
    "virtual_stages": (("plan", "virtual_stages"), _INT, ("training",)),
    "flash_attention": (("plan", "flash_attention"), _BOOL, ()),
    "attention_kernel": (("plan", "attention_kernel"), _STR, ()),
    "overlap_comm": (("plan", "overlap_comm"), _BOOL, ("training",)),
    "tp_comm_overlap": (("plan", "tp_comm_overlap"), _BOOL, ("training",)),
    "zero3_prefetch": (("plan", "zero3_prefetch"), _INT, ("training",)),
    "zero3_granularity": (("plan", "zero3_granularity"), _STR, ("training",)),
    "grad_accumulation": (("plan", "grad_accumulation"), _STR, ("training",)),
    "weight_dtype": (("compression", "weight_dtype"), _STR, ()),
    "activation_dtype": (("compression", "activation_dtype"), _STR, ()),
    "kv_cache_dtype": (("compression", "kv_cache_dtype"), _STR, ("inference", "serving")),
}
REQUIRED = ("run", "kind", "metric", "measured", "device", "devices")
_SHAPE = ("layers", "hidden", "heads", "vocab")
_TRUE, _FALSE = {"true", "yes", "1"}, {"false", "no", "0"}
_FIELD = re.compile(r"^[A-Za-z_][\w.\[\]]*$")


@dataclass(frozen=True)
class Run:
    """One measured run: the scenario that reproduces it and what was measured."""

    id: str
    source: str
    kind: str
    metric: str
    measured: float
    scenario: dict[str, Any]
    """The scenario mapping (registry names unresolved), ``load_scenario``'s input."""
    overrides: tuple[str, ...] = ()
    """``set`` column entries, applied after the mapping (``--set`` syntax)."""
    weight: float = 1.0
    line: int = 0
    """Line of the row in the file (the header is line 1)."""
    notes: str = ""
    device: str = ""
    """The device column as written (registry name or path)."""
    values: dict[str, str] = field(default_factory=dict)
    """The row's non-blank cells as written."""
    file: str = ""
    """The runs file the row was read from (blank for runs built in code)."""

    @property
    def group(self) -> str:
        """Accuracy group: training, ttft, tpot, e2e_latency or throughput."""
        group = METRICS[self.metric][2]
        if group:
            return group
        return "training" if self.kind == "training" else "throughput"

    @property
    def fit_kind(self) -> str:
        """The kind of run its in-situ parameters are (archsim/insitu/fit.py PARAMS): a serving
        run's forward passes are inference's."""
        return "inference" if self.kind == "serving" else self.kind

    @property
    def is_rate(self) -> bool:
        return METRICS[self.metric][1] == "rate"


def read_runs(path: str | Path) -> list[Run]:
    """Read and check ``path``; SpecError with one line per bad cell (file, row, column)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SpecError([f"{path}: no such runs file"]) from None
    except IsADirectoryError:
        raise SpecError([f"{path}: is a folder, expected a runs CSV file"]) from None
    except UnicodeDecodeError as exc:
        raise SpecError([f"{path}: not UTF-8 text (byte {exc.start}); expected a CSV "
                         "file"]) from None
    except OSError as exc:
        raise SpecError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise SpecError([f"{path}: empty; expected a header row with the columns "
                         f"{', '.join(REQUIRED)}"])
    records = _records(path, text)
    _, header = next(records)
    header = [h.strip() for h in header]
    problems = _header_problems(path, header)
    if problems:
        raise SpecError(problems)
    runs: list[Run] = []
    seen: dict[str, int] = {}
    for line, row in records:
        if len(row) != len(header):
            count = f"{len(row)} cell{'' if len(row) == 1 else 's'}"
            problems.append(f"{path}: row {line}: {count}, the header has {len(header)}")
            continue
        cells = dict(zip(header, (v.strip() for v in row), strict=True))
        try:
            run = _parse_row(path, line, cells)
        except SpecError as exc:
            problems.extend(exc.problems)
            continue
        if run.id in seen:
            problems.append(f"{path}: row {line}, column run: {run.id!r} repeats row "
                            f"{seen[run.id]} (run ids must be unique)")
            continue
        seen[run.id] = line
        runs.append(run)
    if problems:
        raise SpecError(problems)
    if not runs:
        raise SpecError([f"{path}: no runs (only a header)"])
    return runs


def _records(path: Path, text: str) -> Iterator[tuple[int, list[str]]]:
    """``(line number, cells)`` of each CSV record, the header first: the line in the file
    where the record starts (comment lines starting with # and blank lines are skipped but
    counted). SpecError naming the row where the CSV cannot be parsed."""
    numbers: list[int] = []

    def lines() -> Iterator[str]:  # with their line ends: a quoted cell may hold one
        for number, line in enumerate(text.splitlines(keepends=True), start=1):
            if line.strip() and not line.lstrip().startswith("#"):
                numbers.append(number)
                yield line

    reader = csv.reader(lines())
    start = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise SpecError([f"{path}: row {numbers[start]}: not readable as CSV: {exc}"]) \
                from None
        yield numbers[start], cells
        start = reader.line_num


def _header_problems(path: Path, header: list[str]) -> list[str]:
    known = set(COLUMNS)
    problems = []
    for h in dict.fromkeys(header):
        count = header.count(h)
        if count > 1:
            times = "twice" if count == 2 else f"{count} times"
            problems.append(f"{path}: header: column {h!r} appears {times}")
    unknown = [h for h in header if h not in known]
    for h in unknown:
        import difflib

        close = difflib.get_close_matches(h, list(COLUMNS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(f"{path}: header: unknown column {h!r}{hint}; expected columns: "
                        f"{', '.join(COLUMNS)}")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        problems.append(f"{path}: header: missing required column"
                        f"{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    return problems


def _parse_row(path: Path, line: int, cells: dict[str, str]) -> Run:
    problems: list[str] = []

    def bad(column: str, message: str) -> None:
        problems.append(f"{path}: row {line}, column {column}: {message}")

    for column in REQUIRED:
        if not cells.get(column):
            bad(column, "required, but empty")
    kind = cells.get("kind", "")
    if kind and kind not in KINDS:
        bad("kind", f"{kind!r}: expected training, inference or serving")
    if kind == "serving" and cells.get("concurrency") and not cells.get("arrival"):
        bad("concurrency", f"{cells['concurrency']!r}: clients of a closed loop, but the "
                           "arrival column is empty; expected arrival closed")
    metric = cells.get("metric", "")
    if metric and metric not in METRICS:
        bad("metric", f"{metric!r}: expected one of {', '.join(METRICS)}")
    elif metric and kind in KINDS and kind not in METRICS[metric][0]:
        bad("metric", f"{metric!r} is not a {kind} metric (for {kind}: "
                      f"{', '.join(m for m, v in METRICS.items() if kind in v[0])})")
    measured = _number(cells.get("measured", ""), "measured", bad, positive=True)
    weight = 1.0
    if cells.get("weight"):
        got = _number(cells["weight"], "weight", bad, positive=False)
        if got is not None and got < 0:
            bad("weight", f"{cells['weight']!r}: expected a number ≥ 0")
        elif got is not None:
            weight = got
    scenario: dict[str, Any] = {"name": cells.get("run", ""),
                                "workload": {"kind": kind or "training"},
                                "hardware": {}, "plan": {}}
    model = cells.get("model", "")
    shape = {c: cells[c] for c in COLUMNS if COLUMNS[c][0] and COLUMNS[c][0][0] == "model"
             and cells.get(c)}
    if not model:
        missing = [c for c in _SHAPE if c not in shape]
        if missing:
            bad("model", f"empty, and the shape columns {', '.join(missing)} are too: give "
                         "a registry model name or the model's shape")
        scenario["model"] = {"name": cells.get("run", "model")}
    else:
        scenario["model"] = model
    overrides: list[str] = []
    for column, cell in cells.items():
        target, kind_of, kinds = COLUMNS.get(column, (None, _STR, ()))
        if target is None or not cell:
            continue
        if kinds and kind in KINDS and kind not in kinds:
            bad(column, f"{cell!r}: a column of {' and '.join(kinds)} runs, but the run is "
                        f"{kind}")
            continue
        value = _typed(cell, column, kind_of, bad)
        if value is None:
            continue
        if target[0] == "model" and model:
            overrides.append(f"{'.'.join(target)}={value}")
            continue
        node = scenario
        for part in target[:-1]:
            node = node.setdefault(part, {})
        node[target[-1]] = value
    if cells.get("set"):
        for item in cells["set"].split(";"):
            item = item.strip()
            if not item:
                continue
            key = item.partition("=")[0].strip()
            if "=" not in item or not key:
                bad("set", f"{item!r}: expected key=value (e.g. plan.zero3_prefetch=2)")
                continue
            if cells.get(_COLUMN_OF_FIELD.get(key, "")):
                bad("set", f"{item!r}: {key} is the {_COLUMN_OF_FIELD[key]} column's, and that "
                           "column is set in this row")
                continue
            # a parent key replaces the columns under it (hardware={device: ...} had run an
            # A100 row on an H100 and filed it under the A100)
            under = [c for f, c in _COLUMN_OF_FIELD.items()
                     if f.startswith(key + ".") and cells.get(c)]
            if under:
                bad("set", f"{item!r}: {key} holds the {', '.join(under)} column"
                           f"{'s' if len(under) > 1 else ''}, set in this row; set its other "
                           f"fields one by one ({key}.FIELD=VALUE)")
                continue
            if key == "calibration" or key.startswith("calibration."):
                bad("set", f"{item!r}: a run cannot choose its calibration (the one being fitted "
                           "or validated applies to every run)")
                continue
            overrides.append(item)
    if problems:
        raise SpecError(problems)
    if "compression" in scenario and not scenario["compression"]:
        del scenario["compression"]
    return Run(id=cells["run"], source=cells.get("source") or cells["run"], kind=kind,
               metric=metric, measured=measured or 0.0, scenario=scenario,
               overrides=tuple(overrides), weight=weight, line=line,
               notes=cells.get("notes", ""), device=cells.get("device", ""),
               values={k: v for k, v in cells.items() if v}, file=str(path))


_COLUMN_OF_FIELD = {".".join(target): column for column, (target, _, _) in COLUMNS.items()
                    if target}


def column_for(run: Run, field_path: str, from_set: bool = False) -> str | None:
    """The column of ``run``'s row that set the scenario field ``field_path`` (the dotted
    path a scenario error names, e.g. ``hardware.intra_node``), or None when no cell did.
    ``from_set``: the error is a ``--set`` override's, so the ``set`` column (applied last,
    after the model-shape cells) is the first suspect."""
    parts = field_path.split(".")
    set_keys = [item.partition("=")[0].strip() for item in run.values.get("set", "").split(";")
                if "=" in item]
    in_set = any(field_path == k or field_path.startswith(k + ".") for k in set_keys)
    if from_set and in_set:
        return "set"
    for n in range(len(parts), 0, -1):
        column = _COLUMN_OF_FIELD.get(".".join(parts[:n]))
        if column is not None and column in run.values:
            return column
    if in_set:
        return "set"
    if parts[0] == "model" and "model" in run.values:
        return "model"
    return None


def row_problem(run: Run, problem: str) -> str:
    """A scenario error of ``run`` as ``FILE: row N, column C (run ID): ...`` (the column
    when the error names a field that a cell of the row set)."""
    head, sep, _ = problem.partition(": ")
    field_path = head.removeprefix("--set ")  # a model-shape cell or a `set` entry
    column = column_for(run, field_path, from_set=field_path != head) \
        if sep and _FIELD.match(field_path) else None
    where = f"{run.file}: row {run.line}" if run.file else f"row {run.line}"
    if column is not None:
        where += f", column {column}"
    return f"{where} (run {run.id}): {problem}"


def _number(cell: str, column: str, bad, positive: bool) -> float | None:
    if not cell:
        return None
    try:
        value = float(cell)
    except ValueError:
        bad(column, f"{cell!r}: expected a number")
        return None
    if not math.isfinite(value):
        bad(column, f"{cell!r}: expected a finite number")
        return None
    if positive and value <= 0:
        bad(column, f"{cell!r}: expected a number greater than 0")
        return None
    problem = number_problem(value)
    if problem is not None:
        bad(column, f"{cell!r}: {problem}")
        return None
    # a time is a rate's reciprocal: 1 / MAX_NUMBER bounds a time metric's error as
    # MAX_NUMBER bounds a rate's (judgement: no run measures 1e-18 s or 1e18 tokens/s)
    if positive and value < 1 / MAX_NUMBER:
        bad(column, f"{cell!r}: the number {value!r} is smaller than {1 / MAX_NUMBER:.0e}, the "
                    "least archsim accepts")
        return None
    return value


def _typed(cell: str, column: str, kind_of: str, bad) -> Any:
    if kind_of == _FLOAT:
        return _number(cell, column, bad, positive=True)
    if kind_of == _INT:
        try:
            value = int(cell)
        except ValueError:
            try:
                as_float = float(cell)
            except ValueError:
                as_float = math.nan
            if as_float.is_integer():
                return int(as_float)
            bad(column, f"{cell!r}: expected a whole number")
            return None
        if value < 0:
            bad(column, f"{cell!r}: expected a whole number ≥ 0")
            return None
        return value
    if kind_of == _BOOL:
        low = cell.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        bad(column, f"{cell!r}: expected true or false")
        return None
    return cell


def runs_summary(runs: list[Run]) -> dict[str, int]:
    """Rows per accuracy group."""
    out: dict[str, int] = {}
    for run in runs:
        out[run.group] = out.get(run.group, 0) + 1
    return out
