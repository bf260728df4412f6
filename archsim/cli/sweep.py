"""``archsim sweep SWEEP [--workers N | --scheduler ADDRESS | --dask local] [--out FILE]
[--resume]``: run a design-space sweep, then print the best points and the Pareto front."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from archsim.cli.common import check_outputs, plural
from archsim.cli.progress import ProgressBar
from archsim.io import write_text_atomic

# Most local worker processes: points are CPU-bound, so workers beyond a few per CPU only add
# processes (~100 MB each); --workers 100000 would otherwise fork until memory runs out.
WORKERS_PER_CPU = 4
MIN_WORKER_CAP = 64


def too_many_workers(workers: int) -> str | None:
    """The problem with ``--workers`` above this machine's cap of local worker processes
    (also ``calibrate --runs``'s), or None."""
    from archsim.sweep.executors import default_workers

    most = max(MIN_WORKER_CAP, WORKERS_PER_CPU * default_workers())
    if workers <= most:
        return None
    return (f"--workers {workers}: at most {most} local worker processes on this machine "
            f"({WORKERS_PER_CPU} per CPU, at least {MIN_WORKER_CAP}); each is a Python process "
            "of about 100 MB")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="run a design-space sweep",
                       description="Run every point of a sweep file (a base scenario plus axes, "
                                   "derived keys and constraints), writing one row per point to "
                                   "a CSV or Parquet table as points finish; then print the "
                                   "best points and the Pareto front.")
    p.add_argument("sweep", help="sweep YAML path or name in workloads/sweeps/")
    p.add_argument("--out", type=Path, metavar="FILE",
                   help="results table, .csv or .parquet (default: <sweep name>.csv)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="local worker processes (default: one per CPU; 1 runs in this process)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on an existing Dask cluster, e.g. tcp://host:8786")
    p.add_argument("--dask", choices=["local"],
                   help="start a Dask LocalCluster of --workers workers and run on it")
    p.add_argument("--resume", action="store_true",
                   help="continue an existing table: skip points already in it")
    p.add_argument("--retry-errors", action="store_true",
                   help="with --resume, run again the points whose rows record an error")
    p.add_argument("--overwrite", action="store_true", help="replace an existing table")
    p.add_argument("--engine", choices=["des", "fast"],
                   help="override the sweep file's engine (fast: training fast path)")
    p.add_argument("--batch-size", type=int, metavar="N",
                   help="points per batch sent to a worker (default: automatic)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    p.add_argument("--json", action="store_true",
                   help="print only the summary as JSON on stdout")
    p.add_argument("--top", type=int, metavar="K", help="rows in the best-points table")
    p.add_argument("--max-points", type=int, metavar="N",
                   help="most points the sweep may enumerate (default 1,000,000, or the "
                        "sweep file's max_points)")


def _executor(args: argparse.Namespace) -> Any:
    from archsim.cli import UsageError
    from archsim.sweep.executors import DaskCluster, InProcess, LocalProcesses, default_workers

    if args.scheduler and args.dask:
        raise UsageError("give --scheduler ADDRESS or --dask local, not both")
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    too_many = too_many_workers(args.workers) if args.workers is not None else None
    if too_many and not args.scheduler:
        raise UsageError(too_many)
    workers = args.workers or default_workers()
    if args.scheduler:
        return DaskCluster(address=args.scheduler)
    if args.dask:
        return DaskCluster(workers=workers)
    return InProcess() if workers == 1 else LocalProcesses(workers)


def run(args: argparse.Namespace) -> int:
    from archsim.cli import UsageError
    from archsim.sweep import load_sweep, read_results, run_sweep, summarize
    from archsim.sweep.store import check_target

    if args.batch_size is not None and args.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.top is not None and args.top < 1:
        raise UsageError(f"--top must be at least 1, got {args.top}")
    if args.max_points is not None and args.max_points < 1:
        raise UsageError(f"--max-points must be at least 1, got {args.max_points}")
    if args.retry_errors and not args.resume:
        raise UsageError("--retry-errors goes with --resume")
    if args.resume and args.overwrite:
        raise UsageError("--resume and --overwrite exclude each other: --resume continues the "
                         "table, --overwrite replaces it")
    sweep = load_sweep(args.sweep)
    if args.engine:
        sweep.spec = sweep.spec.model_copy(update={"engine": args.engine})
    if args.top:
        sweep.spec = sweep.spec.model_copy(update={"top": args.top})
    if args.max_points:
        sweep.spec = sweep.spec.model_copy(update={"max_points": args.max_points})
    out = args.out or Path(re.sub(r"[^A-Za-z0-9._-]+", "-", sweep.name) + ".csv")
    from archsim.report.sweep_goals import summary_path as summary_path_of

    summary_path = summary_path_of(out)
    check_outputs({"--out": out, "the summary": summary_path},
                  {"the sweep file": Path(args.sweep) if Path(args.sweep).is_file() else None})
    check_target(out, resume=args.resume, overwrite=args.overwrite)  # before starting workers
    show = sys.stderr.isatty() if args.progress is None else args.progress
    bar = ProgressBar() if show else None
    executor = _executor(args)
    result = run_sweep(sweep, out, executor, resume=args.resume, overwrite=args.overwrite,
                       retry_errors=args.retry_errors, batch_size=args.batch_size,
                       on_progress=bar.update if bar else None)
    if bar:
        bar.finish()
    table = read_results(out)
    summary = summarize(sweep, table, result.hashes)
    summary["run"] = _run_facts(result)
    summary["run"]["des_points"] = _des_points(table, result.hashes, sweep.engine)
    summary["table"] = out.name
    write_text_atomic(summary_path, json.dumps(summary, indent=2, allow_nan=False) + "\n")
    if args.json:
        print(json.dumps(summary, allow_nan=False))
    else:
        print(render(sweep, summary, out, summary_path))
    if result.interrupted:
        print(f"archsim sweep: interrupted; {plural(result.ran, 'point')} written to {out}; run "
              "the same command with --resume to finish", file=sys.stderr)
        return 130
    return 0


def _des_points(table: Any, hashes: Any, engine: str) -> int:
    """Points of this sweep that ran on the DES although its engine is ``fast`` (the fast
    path is training only: inference and serving points run on the DES)."""
    if engine != "fast" or "sim.engine" not in table.columns or "hash" not in table.columns:
        return 0
    mine = table[table["hash"].isin(set(hashes))]
    return int((mine["sim.engine"] == "des").sum())


def _run_facts(result: Any) -> dict[str, Any]:
    space = result.space
    return {"enumerated": space.enumerated, "excluded_by_constraints": space.excluded,
            "duplicates": space.duplicates,
            "points": len(space.points), "skipped_finished": result.skipped, "ran": result.ran,
            "feasible": result.feasible, "infeasible": result.infeasible,
            "failed": result.failed, "elapsed_s": result.elapsed_s,
            "points_per_s": result.points_per_s, "feasible_per_s": result.feasible_per_s,
            "executor": result.executor, "batch_size": result.batch_size,
            "engine": result.sweep.engine, "interrupted": result.interrupted,
            "ignored_other_versions": result.ignored, "ignored_note": result.ignored_note}


# --------------------------------------------------------------------------- text output


def _fmt(column: str, value: Any) -> str:
    from archsim.textfmt import human_bytes, num, pct

    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if column in ("mfu", "memory_headroom"):
        return pct(value)
    if "bytes" in column and isinstance(value, (int, float)):
        return human_bytes(value)
    if isinstance(value, float):
        return num(value)
    return str(value)


_SHORT = {"memory.peak_bytes_per_device": "peak memory", "memory_headroom": "headroom",
          "cost_per_million_tokens_usd": "$/M tokens", "tokens_per_s": "tokens/s",
          "step_time_s": "step s", "cost_usd": "$/step"}


LIKELY, CALIBRATION = "tokens/s likely", "calibration state"
"""Columns shown after the metrics: the throughput's calibrated interval and whether the point
lies in its profile's calibrated range (archsim/accuracy.py; the table's tokens_per_s_low,
tokens_per_s_high, uncertainty.in_range and uncertainty.calibrated)."""
LEGEND = (f"{LIKELY}: the profile's 80% interval, or its wider reference band where the band "
          f"was widened (marked *); {CALIBRATION}: in range, out of range (extrapolated), "
          "uncalibrated (error unknown) or no band (the profile has no runs of this kind)")


def _error_bar(r: dict[str, Any]) -> dict[str, Any]:
    """``r`` with the LIKELY and CALIBRATION cells (None: not in the table)."""
    from archsim.textfmt import num

    lo, hi = r.get("tokens_per_s_low"), r.get("tokens_per_s_high")
    calibrated, in_range = r.get("uncertainty.calibrated"), r.get("uncertainty.in_range")
    band = lo is not None and hi is not None
    mark = "*" if r.get("tokens_per_s_widened") else ""
    state = ("uncalibrated" if calibrated is False
             else "no band" if calibrated is True and not band
             else "out of range" if in_range is False
             else "in range" if in_range is True else None)
    return {**r, LIKELY: f"{num(lo)}–{num(hi)}{mark}" if band else None, CALIBRATION: state}


def _rows_table(records: list[dict[str, Any]], columns: list[str]) -> str:
    from archsim.textfmt import table

    columns = [*columns, LIKELY, CALIBRATION]
    records = [_error_bar(r) for r in records]
    headers = ["#", *[_SHORT.get(c, c) for c in columns]]
    rows = [[str(i + 1), *[_fmt(c, r.get(c)) for c in columns]] for i, r in enumerate(records)]
    return table(headers, rows)


def render(sweep: Any, summary: dict[str, Any], out: Path, summary_path: Path) -> str:
    run = summary["run"]
    lines = [
        f"sweep {sweep.name}: {plural(run['points'], 'point')}"
        + (f" ({run['excluded_by_constraints']:,} more excluded by constraints)"
           if run["excluded_by_constraints"] else "")
        + (f" ({plural(run['duplicates'], 'repeated sample')} run once)" if run["duplicates"]
           else "")
        + (f"; {run['skipped_finished']} already in the table" if run["skipped_finished"]
           else "")
        + (f"; {run['ignored_note']}" if run.get("ignored_note") else ""),
        f"ran {run['ran']:,} in {run['elapsed_s']:.2f} s on {run['executor']} "
        f"({run['points_per_s']:.1f} points/s, engine {run['engine']}"
        + (f"; {plural(run['des_points'], 'inference/serving point')} on the DES, the fast "
           "path being training only" if run.get("des_points") else "") + "): "
        f"{run['feasible']} feasible, {run['infeasible']} infeasible, {run['failed']} failed",
        f"results: {out}    summary: {summary_path}",
    ]
    counts = summary["points"]
    passed = counts["after_filters"]
    inputs = sweep.input_columns
    metrics = ["tokens_per_s", "mfu", "memory.peak_bytes_per_device", "memory_headroom",
               "cost_per_million_tokens_usd"]
    objective = sweep.objective.expr.text
    best_cols = inputs + ([objective] if objective not in metrics else []) + metrics
    lines += ["", f"Best {len(summary['best'])} by {summary['objective']} "
              f"({passed:,} of {plural(counts['in_table'], 'point')} "
              f"{'passes' if passed == 1 else 'pass'} the filters):"]
    lines.append(_rows_table(summary["best"], best_cols) + "\n" + LEGEND if summary["best"]
                 else "  (none)")
    pareto = summary["pareto"]
    goals = [g.expr.text for g in sweep.pareto]
    if not goals:
        lines += ["", "Pareto front: none (the sweep file gives no pareto goals)"]
        return "\n".join(lines)
    lines += ["", f"Pareto front ({', '.join(pareto['goals'])}): "
              f"{plural(len(pareto['front']), 'point')}"
              + (f"; {pareto['left_out_missing_values']} left out for missing values"
                 if pareto["left_out_missing_values"] else "")]
    lines.append(_rows_table(pareto["front"], inputs + goals) if pareto["front"]
                 else "  (none)")
    return "\n".join(lines + ([LEGEND] if pareto["front"] and not summary["best"] else []))
