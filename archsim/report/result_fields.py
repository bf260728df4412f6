"""The fields of a result JSON that ``archsim report`` reads, checked when the file is loaded.

A result written by ``archsim simulate --out`` passes; a hand-edited or foreign one gets one
line per bad field (file, field path, value, what was expected) rather than a crash deep in
the report. The checks:

* every number is finite and at most ``LARGEST`` in size (JSON readers accept ``NaN`` and
  ``Infinity``);
* a key named as a quantity (``step_time_s``, ``*_bytes``, ``*_usd``, ``mfu``, ...) holds a
  number ≥ 0 or null; outside the mappings of ``FLAT`` also a list or mapping of them (a
  series: ``placement.layer_time_s``, ``load_over_time.t_s``);
* the fields of ``RULES`` (the structure the report walks) have their type;
* a feasible result has the headline numbers of its mode (``HEADLINE``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from typing import Any

from archsim.spec.errors import SpecError
from archsim.spec.shape import format_path

# Largest number accepted: the largest a result writes is a FLOP count per step (GPT-3 175B at
# a 3.1M-token batch: 6 × 175e9 × 3.1e6 ≈ 3e18); 1e30 leaves room for any real run, and a
# product of two such numbers (a rate × a day count) stays far from float overflow (1.8e308).
LARGEST = 1e30

QUANTITY = re.compile(r"(_s|_bytes|_usd|_joules|_j|_rps|_ratio|_fraction|_flops|_utilization"
                      r"|_intensity|_attainment|_batch|_per_step|_per_token|_per_device"
                      r"|_per_replica|_per_send|_per_sequence|_len)$"
                      r"|^(mfu|hfu|requests|completed|replicas|preemptions|iterations|steps"
                      r"|tokens|count|attainment|batch|events|max_batch_that_fits)$")
FLAT = ("", "memory", "memory.breakdown", "memory.per_stage.[]", "time_breakdown", "pipeline",
        "communication", "communication.by_kind.*", "totals", "sim", "slo", "steady_state",
        "kv_cache", "kv_transfer", "colocated", "distillation", "io", "phases.*",
        "groups.[].memory", "colocated.groups.[].memory")

# The numbers a feasible result of each mode has (an encoder has no TTFT or TPOT; a serving
# run may finish no request in its window, leaving latencies null).
HEADLINE = {"training": ("step_time_s", "tokens_per_s", "mfu", "hfu", "tflops_per_device",
                         "devices"),
            "inference": ("e2e_latency_s", "tokens_per_s", "devices"),
            "serving": ("tokens_per_s", "mean_decode_batch", "devices")}

# Lines of a SpecError for one file: a foreign JSON would otherwise list every field.
MAX_PROBLEMS = 10

Check = tuple[Callable[[Any], bool], str]


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _whole(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


TEXT: Check = (lambda v: isinstance(v, str), "text")
TEXT_OR_NULL: Check = (lambda v: v is None or isinstance(v, str), "text or null")
BOOL: Check = (lambda v: isinstance(v, bool), "true or false")
BOOL_OR_NULL: Check = (lambda v: v is None or isinstance(v, bool), "true, false or null")
MAPPING: Check = (lambda v: isinstance(v, dict), "a mapping")
MAPPING_OR_NULL: Check = (lambda v: v is None or isinstance(v, dict), "a mapping or null")
NUMBER: Check = (_number, "a number")
WHOLE: Check = (_whole, "a whole number ≥ 0")
COUNT: Check = (lambda v: _whole(v) and v >= 1, "a whole number ≥ 1")
COUNT_OR_NULL: Check = (lambda v: v is None or (_whole(v) and v >= 1),
                        "a whole number ≥ 1 or null")
TEXTS: Check = (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
                "a list of texts")
MAPPINGS: Check = (lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v),
                   "a list of mappings")
POOLS: Check = (lambda v: isinstance(v, list) and bool(v) and all(isinstance(x, dict)
                                                                  for x in v),
                "a non-empty list of pools (device, count)")
NUMBERS: Check = (lambda v: isinstance(v, list) and all(_number(x) for x in v),
                  "a list of numbers")
WHOLES: Check = (lambda v: isinstance(v, list) and all(_whole(x) for x in v),
                 "a list of whole numbers")
INTERVAL: Check = (lambda v: isinstance(v, list) and len(v) == 2 and all(_number(x) for x in v),
                   "[low, high] numbers")
AMOUNT: Check = (lambda v: v is None or (_number(v) and v >= 0), "a number ≥ 0 or null")

# (path with * for any key and [] for any item, check, required where its parent is)
RULES: tuple[tuple[str, Check, bool], ...] = (
    ("name", TEXT, True), ("model", TEXT, True), ("feasible", BOOL, True),
    ("infeasible_reasons", TEXTS, True), ("devices", COUNT_OR_NULL, False),
    ("hardware", MAPPING, True), ("hardware.pools", POOLS, True),
    ("hardware.pools.[].device", TEXT, True), ("hardware.pools.[].count", COUNT, True),
    ("hardware.pools.[].name", TEXT, False),
    ("memory", MAPPING, True), ("memory.breakdown", MAPPING, True),
    ("memory.breakdown.*", AMOUNT, False), ("memory.per_stage", MAPPINGS, False),
    ("memory.per_stage.[].stage", WHOLE, True), ("memory.per_stage.[].*", AMOUNT, False),
    ("parallel", MAPPING, False), ("parallel.layers_per_stage", WHOLES, False),
    ("time_breakdown", MAPPING, False), ("time_breakdown.critical_stage", WHOLE, False),
    ("time_breakdown.*", AMOUNT, False),
    ("pipeline", MAPPING, False), ("placement", MAPPING, False), ("totals", MAPPING, False),
    ("communication", MAPPING, False), ("communication.by_kind", MAPPING, False),
    ("communication.by_kind.*", MAPPING, False), ("communication.by_kind.*.*", AMOUNT, False),
    ("totals.*", AMOUNT, False), ("sim", MAPPING, False),
    ("io", MAPPING_OR_NULL, False), ("io.checkpoint", MAPPING_OR_NULL, False),
    ("io.data", MAPPING_OR_NULL, False), ("io.storage", TEXT, False),
    ("distillation", MAPPING, False), ("distillation.memory", MAPPING, False),
    ("uncertainty", MAPPING_OR_NULL, False), ("uncertainty.errors", MAPPING, True),
    ("uncertainty.errors.*", MAPPING, False), ("uncertainty.errors.*.method", TEXT, True),
    ("uncertainty.errors.*.runs", WHOLE, True), ("uncertainty.errors.*.sources", WHOLE, True),
    ("uncertainty.errors.*.mape", NUMBER, True), ("uncertainty.errors.*.p10", NUMBER, True),
    ("uncertainty.errors.*.p90", NUMBER, True),
    ("uncertainty.errors.*.widened", TEXT_OR_NULL, False),
    ("uncertainty.intervals", MAPPING, True), ("uncertainty.intervals.*", INTERVAL, False),
    ("uncertainty.out_of_range", TEXTS, False), ("uncertainty.devices", TEXTS, False),
    ("uncertainty.note", TEXT_OR_NULL, False),
    ("phases", MAPPING, False), ("phases.*", MAPPING, False), ("notes", TEXTS, False),
    ("compression", MAPPING, False), ("compression.baseline", MAPPING, False),
    ("compression.compressed", MAPPING, False), ("compression.ratios", MAPPING, True),
    ("compression.memory_breakdown", MAPPING, False), ("compression.effects", MAPPING, False),
    ("compression.notes", TEXTS, False), ("compression.warnings", TEXTS, False),
    ("encoder", BOOL, False), ("meets_slo", BOOL_OR_NULL, False),
    ("colocated.meets_slo", BOOL_OR_NULL, False),
    ("uncertainty.calibrated", BOOL, False), ("uncertainty.in_range", BOOL, False),
    ("slo", MAPPING, False), ("steady_state", MAPPING, False),
    ("steady_state.whole_run", BOOL, False), ("steady_state.saturated", BOOL, False),
    ("steady_state.burst", BOOL, False), ("steady_state.latencies_in_window", BOOL, False),
    ("steady_state.start_s", NUMBER, True),
    ("steady_state.end_s", NUMBER, True), ("kv_cache", MAPPING, False),
    ("kv_transfer", MAPPING, False), ("load_over_time", MAPPING, False),
    ("lengths", MAPPING, False), ("lengths.*", MAPPING, False), ("lengths.*.*", AMOUNT, False),
    ("load_over_time.*", NUMBERS, False), ("groups", MAPPINGS, False),
    ("groups.[].stage_utilization", NUMBERS, False), ("groups.[].memory", MAPPING, False),
    ("colocated", MAPPING, False), ("colocated.slo", MAPPING, False),
    ("colocated.groups", MAPPINGS, False), ("comparison", MAPPING, False),
    ("comparison.slo_attainment", MAPPING, False), ("comparison.slo_attainment.*", AMOUNT, False),
    ("comparison.goodput_ratio", AMOUNT, False), ("comparison.ttft_p99_ratio", AMOUNT, False),
    ("comparison.tpot_p99_ratio", AMOUNT, False),
    ("comparison.ttft_decode_pool_p99_ratio", AMOUNT, False),
)


def check_fields(data: dict[str, Any], where: str) -> None:
    """SpecError with one line per field of ``data`` (a result with a known mode and version)
    that the report could not read."""
    problems: dict[str, str] = {}  # field → its problem (the first rule that names it)

    def bad(path: tuple, value: Any, expected: str) -> None:
        problems.setdefault(format_path(path), f"{_show(value)}: expected {expected}")

    for pattern, (ok, expected), required in RULES:
        for path, value, found in _find(data, pattern.split(".")):
            if not found and required:
                problems.setdefault(format_path(path), f"missing; expected {expected}")
            elif found and not ok(value):
                bad(path, value, expected)
    if data["feasible"] is True:
        for key in HEADLINE[data["mode"]]:
            if data.get(key) is None:
                bad((key,), data.get(key), "a number (the result is feasible)")
    _numbers(data, bad)
    if problems:
        lines = [f"{where}: {field}: {text}" for field, text in problems.items()]
        more = len(lines) - MAX_PROBLEMS
        raise SpecError(lines[:MAX_PROBLEMS] + ([f"{where}: ... and {more} more fields"]
                                                if more > 0 else []))


def _numbers(data: dict[str, Any], bad) -> None:
    """Every number finite and at most LARGEST; quantities numbers ≥ 0 (or series of them)."""
    # (path, node, its dotted name with [] for a list item: groups.[].memory)
    stack: list[tuple[tuple, Any, str]] = [((), data, "")]
    while stack:
        path, node, name = stack.pop()
        flat = isinstance(node, dict) and _flat(name)
        for key, value in (node.items() if isinstance(node, dict) else enumerate(node)):
            here = (*path, key)
            if _number(value) and not (isinstance(value, int) or math.isfinite(value)):
                bad(here, value, "a finite number")
            elif _number(value) and abs(value) > LARGEST:
                bad(here, value, f"a number of at most {LARGEST:.0e}")
            elif isinstance(key, str) and QUANTITY.search(key) and not _quantity(value, flat):
                bad(here, value, "a number ≥ 0 or null" if flat else
                    "a number ≥ 0, a list or mapping of them, or null")
            elif isinstance(value, (dict, list)):
                part = key if isinstance(node, dict) else "[]"
                stack.append((here, value, f"{name}.{part}" if name else str(part)))


def _flat(name: str) -> bool:
    """Whether the mapping at dotted ``name`` ([] for a list item) is one of ``FLAT``."""
    parts = name.split(".") if name else []
    return any(len(f) == len(parts) and all(p == q or p == "*" for p, q in zip(f, parts,
                                                                             strict=True))
               for f in _FLAT_PARTS)


_FLAT_PARTS = [f.split(".") if f else [] for f in FLAT]


def _quantity(value: Any, flat: bool) -> bool:
    if value is None:
        return True
    if isinstance(value, list) and not flat:
        return all(v is None or _number(v) for v in value)
    if isinstance(value, dict) and not flat:
        return True  # its numbers are walked in turn
    return _number(value) and value >= 0


def _find(data: Any, parts: list[str], path: tuple = ()) -> Iterator[tuple[tuple, Any, bool]]:
    """(path, value, found) of each field ``parts`` matches; not found: the parent is a
    mapping without the key (a parent of another type is its own rule's problem)."""
    part, rest = parts[0], parts[1:]
    if part == "*":
        children = list(data.items()) if isinstance(data, dict) else []
    elif part == "[]":
        children = list(enumerate(data)) if isinstance(data, list) else []
    elif isinstance(data, dict):
        if part not in data:
            if not rest:
                yield (*path, part), None, False
            return
        children = [(part, data[part])]
    else:
        return
    for key, value in children:
        if rest:
            yield from _find(value, rest, (*path, key))
        else:
            yield (*path, key), value, True


def _show(value: Any) -> str:
    """A value as JSON (NaN and Infinity as JSON readers take them), cut to 40 characters."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."
