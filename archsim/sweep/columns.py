"""Columns of a sweep's results table and how a Result becomes one row.

A row is: ``hash`` (of the resolved point), ``point`` (its index in the sweep), the input
columns (one per axis and derived key, named by the dotted key), then the metric columns below
(dotted paths into the Result JSON of CONTRACT.md; null where a mode has no such metric), then
``error`` (the text of a point that could not be simulated).

Columns computed here rather than read from the Result:

* ``memory_headroom`` — 1 − memory.peak_bytes_per_device / memory.capacity_bytes: the fraction
  of device memory left free at the peak (negative when the plan does not fit).
* ``memory_headroom_bytes`` — capacity_bytes − peak_bytes_per_device.
* ``tokens_per_s_low``, ``tokens_per_s_high`` — the throughput's calibrated interval
  (archsim/accuracy.py), and ``tokens_per_s_widened`` — whether it is the wider reference band
  rather than an 80% one (null: no interval).
* ``rate_basis`` — serving: where the point's rates (tokens_per_s, requests_per_s, the cost per
  million tokens) were measured, in the words of ``archsim capacity``'s rows
  (serving_window.rate_basis): "steady state", "whole run: every request arrived at once" (a
  burst), "whole run: too short for a steady-state window", "overloaded: while the queue never
  emptied". Points on different bases are not comparable rates (a sweep over ``arrival`` or
  ``concurrency`` can mix them); null for training and inference.
"""

from __future__ import annotations

from typing import Any

# (column, type) with type one of "float", "int", "bool", "str"
METRIC_COLUMNS: tuple[tuple[str, str], ...] = (
    ("feasible", "bool"),
    ("infeasible_reasons", "str"),
    ("mode", "str"),
    ("devices", "int"),
    ("parallel.dp", "int"),
    ("parallel.micro_batches", "int"),
    ("step_time_s", "float"),
    ("tokens_per_s", "float"),
    ("samples_per_s", "float"),
    ("mfu", "float"),
    ("hfu", "float"),
    ("tflops_per_device", "float"),
    ("memory.peak_bytes_per_device", "float"),
    ("memory.capacity_bytes", "float"),
    ("memory_headroom", "float"),
    ("memory_headroom_bytes", "float"),
    ("memory.breakdown.weights", "float"),
    ("memory.breakdown.gradients", "float"),
    ("memory.breakdown.optimizer_states", "float"),
    ("memory.breakdown.activations", "float"),
    ("memory.breakdown.kv_cache", "float"),
    ("memory.breakdown.other", "float"),
    ("communication.total_time_s", "float"),
    ("communication.exposed_time_s", "float"),
    ("communication.bytes_per_device", "float"),
    ("communication.by_kind.allreduce.time_s", "float"),
    ("communication.by_kind.allgather.time_s", "float"),
    ("communication.by_kind.reducescatter.time_s", "float"),
    ("communication.by_kind.alltoall.time_s", "float"),
    ("communication.by_kind.p2p.time_s", "float"),
    ("time_breakdown.compute_s", "float"),
    ("time_breakdown.recompute_s", "float"),
    ("time_breakdown.exposed_comm_s", "float"),
    ("time_breakdown.bubble_s", "float"),
    ("pipeline.bubble_fraction", "float"),
    ("ttft_s", "float"),
    ("tpot_s", "float"),
    ("e2e_latency_s", "float"),
    ("ttft_p50_s", "float"),
    ("ttft_p99_s", "float"),
    ("tpot_p50_s", "float"),
    ("tpot_p99_s", "float"),
    ("itl_p99_s", "float"),
    ("requests_per_s", "float"),
    ("rate_basis", "str"),
    ("slo_attainment", "float"),
    ("energy_joules", "float"),
    ("energy_per_token_j", "float"),
    ("cost_usd", "float"),
    ("cost_per_million_tokens_usd", "float"),
    ("uncertainty.calibrated", "bool"),
    ("uncertainty.in_range", "bool"),
    ("uncertainty.above_published", "bool"),  # training: MFU/HFU above any published run
    ("tokens_per_s_low", "float"),
    ("tokens_per_s_high", "float"),
    ("tokens_per_s_widened", "bool"),
    ("sim.events", "int"),
    ("sim.engine", "str"),
    ("sim.wall_s", "float"),
)
METRIC_TYPES = dict(METRIC_COLUMNS)
KEY_COLUMNS = (("hash", "str"), ("point", "int"))
ERROR_COLUMN = ("error", "str")
VERSION_COLUMNS = (("archsim_version", "str"), ("result_version", "int"))


def code_version() -> dict[str, Any]:
    """The version cells of a row computed by the code running now (read at call time)."""
    import archsim
    from archsim import result

    return {"archsim_version": archsim.__version__, "result_version": result.RESULT_VERSION}


def known_columns(input_columns: list[str]) -> list[str]:
    """Every column name of a table with these input columns, in table order."""
    return ([k for k, _ in KEY_COLUMNS] + list(input_columns)
            + [k for k, _ in METRIC_COLUMNS] + [ERROR_COLUMN[0]]
            + [k for k, _ in VERSION_COLUMNS])


def cell_text(value: Any) -> str:
    """A stored cell as the CSV table writes it (also to compare cells of either format)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def one_line(text: str) -> str:
    """Rows hold one line per cell: a multi-line message is joined with ' | '."""
    return " | ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _get(data: dict[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def metrics_row(result: dict[str, Any]) -> dict[str, Any]:
    """The metric columns of one Result JSON (``Result.to_dict()``)."""
    row: dict[str, Any] = {}
    for name, kind in METRIC_COLUMNS:
        value = _get(result, name)
        if value is None:
            row[name] = None
        elif kind == "float":
            row[name] = float(value) if isinstance(value, (int, float)) else None
        elif kind == "int":
            row[name] = int(value) if isinstance(value, (int, float)) else None
        elif kind == "bool":
            row[name] = bool(value)
        else:
            row[name] = value
    row["infeasible_reasons"] = one_line("\n".join(result.get("infeasible_reasons") or [])) \
        or None
    # the calibrated error bar on throughput (archsim/accuracy.py): an 80% interval
    interval = _get(result, "uncertainty.intervals.tokens_per_s")
    row["tokens_per_s_low"], row["tokens_per_s_high"] = (
        (float(interval[0]), float(interval[1])) if isinstance(interval, list) else (None, None))
    row["tokens_per_s_widened"] = None
    if isinstance(interval, list):
        from archsim.accuracy import is_widened

        row["tokens_per_s_widened"] = is_widened(result["uncertainty"], "tokens_per_s",
                                                 str(result.get("mode", "")))
    row["rate_basis"] = None
    if result.get("mode") == "serving":
        from archsim.metrics.serving_window import rate_basis

        row["rate_basis"] = rate_basis(result.get("steady_state"))
    peak, cap = row["memory.peak_bytes_per_device"], row["memory.capacity_bytes"]
    if peak is not None and cap:
        row["memory_headroom"] = 1.0 - peak / cap
        row["memory_headroom_bytes"] = cap - peak
    else:
        row["memory_headroom"] = row["memory_headroom_bytes"] = None
    return row


def error_row(message: str) -> dict[str, Any]:
    """The metric columns of a point that failed: all null except ``error``."""
    row: dict[str, Any] = dict.fromkeys(METRIC_TYPES)
    row["error"] = one_line(message)
    return row
