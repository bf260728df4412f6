"""Detect and load the INPUT of ``archsim report``: a scenario, a result JSON or a sweep table.

* ``*.json`` — a result written by ``archsim simulate --out``; its ``result_version`` and
  ``mode`` are checked.
* ``*.csv`` / ``*.parquet`` — a sweep results table (one row per point, written by
  ``archsim sweep``); it must have rows and a ``feasible`` column.
* anything else — a scenario (YAML path or registry name), simulated here with its trace.

Raises SpecError (file, what was found, what was expected) for anything else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from archsim.result import RESULT_VERSION
from archsim.spec.errors import SpecError

if TYPE_CHECKING:
    import pandas as pd

    from archsim.spec.scenario import ScenarioSpec

MODES = ("training", "inference", "serving")
RESULT_KEYS = ("name", "mode", "feasible", "infeasible_reasons", "hardware", "memory")
SWEEP_SUFFIXES = (".csv", ".parquet")


@dataclass
class ReportInput:
    """What the report is about. Exactly one of (scenario + result), result, table is set."""

    kind: Literal["scenario", "result", "sweep"]
    source: str
    result: dict[str, Any] | None = None
    scenario: ScenarioSpec | None = None
    spans: list = field(default_factory=list)
    table: pd.DataFrame | None = None


def load_input(source: str | Path, overrides: list[str] | None = None) -> ReportInput:
    """Load ``source`` by its kind (see the module docstring); scenarios are simulated."""
    text = str(source)
    suffix = Path(text).suffix.lower()
    if suffix == ".json" or suffix in SWEEP_SUFFIXES:
        if overrides:
            what = "a result JSON" if suffix == ".json" else "a sweep table"
            raise SpecError([f"{text}: --set applies to a scenario INPUT; this is {what}"])
        if suffix == ".json":
            return ReportInput("result", text, result=load_result_json(Path(text)))
        return ReportInput("sweep", text, table=load_sweep_table(Path(text)))
    _check_scenario_source(text)
    from archsim.api import simulate
    from archsim.spec.loader import load_scenario

    scenario = load_scenario(text, overrides)
    result = simulate(scenario, trace=True)
    return ReportInput("scenario", text, result=result.to_dict(), scenario=scenario,
                       spans=list(result.spans))


def _check_scenario_source(text: str) -> None:
    """SpecError for inputs that are clearly not a scenario (a folder, a sweep file, another
    kind of file), naming what to give instead."""
    from archsim.spec.registry import list_names, read_yaml

    path = Path(text)
    expected = ("expected a scenario (.yaml or a name in workloads/scenarios/), a result "
                "(.json) or a sweep table (.csv/.parquet)")
    if path.is_dir():
        raise SpecError([f"{text}: is a folder; {expected}"])
    if path.is_file() and path.suffix.lower() not in (".yaml", ".yml"):
        raise SpecError([f"{text}: {expected}"])
    sweep = path.is_file() and isinstance(data := read_yaml(path), dict) and "axes" in data
    if not path.exists() and text in list_names("sweeps") and text not in list_names(
            "scenarios"):
        sweep = True
    if sweep:
        raise SpecError([f"{text}: is a sweep file, not a scenario; run `archsim sweep {text} "
                         "--out TABLE.parquet`, then `archsim report TABLE.parquet`"])


def load_result_json(path: Path) -> dict[str, Any]:
    """A result dict from ``path``, checked for kind and version."""
    if not path.is_file():
        raise SpecError([f"{path}: no such result file"])
    from archsim.spec.datafiles import MAX_DATA_BYTES
    from archsim.spec.textio import read_text

    try:
        data = json.loads(read_text(path, MAX_DATA_BYTES, what="result JSON file"))
    except json.JSONDecodeError as exc:
        # json's messages that point at the position end in "at" ("Unterminated string
        # starting at"): the line and column given before it, it reads "... starting here"
        what = exc.msg[:-3] + " here" if exc.msg.endswith(" at") else exc.msg
        raise SpecError([f"{path}: not valid JSON: line {exc.lineno}, column {exc.colno}: "
                         f"{what}"]) from None
    except RecursionError:
        raise SpecError([f"{path}: not valid JSON: nested too deeply"]) from None
    except ValueError as exc:  # a number of more than 4300 digits
        if isinstance(exc, SpecError):
            raise
        raise SpecError([f"{path}: not valid JSON: {str(exc).split(':')[0]}"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}"]
                        ) from None
    return check_result(data, str(path))


def check_result(data: Any, where: str) -> dict[str, Any]:
    """``data`` if it is an archsim result this version can read; SpecError otherwise."""
    if isinstance(data, dict) and "pareto" in data and "best" in data and "points" in data:
        raise SpecError([f"{where}: is the summary of a sweep, not a result; report the sweep's "
                         "table (the .parquet or .csv beside it)"])
    if not isinstance(data, dict) or "result_version" not in data:
        if not isinstance(data, dict):
            found = f"a JSON {type(data).__name__}"
        elif not data:
            found = "an empty object"
        else:
            keys = list(data)
            found = "keys " + ", ".join(keys[:5]) + (", ..." if len(keys) > 5 else "")
        raise SpecError([f"{where}: not an archsim result JSON (no 'result_version' key; found "
                         f"{found}); expected the file written by `archsim simulate --out FILE`"])
    version = data["result_version"]
    if version != RESULT_VERSION:
        raise SpecError([f"{where}: result_version {version!r} is not supported; this archsim "
                         f"reads result_version {RESULT_VERSION}"])
    mode = data.get("mode")
    if mode not in MODES:
        raise SpecError([f"{where}: mode {mode!r} is not one of {', '.join(MODES)}"])
    missing = [k for k in RESULT_KEYS if k not in data]
    if missing:
        raise SpecError([f"{where}: result is missing {', '.join(missing)}"])
    from archsim.report.result_fields import check_fields

    check_fields(data, where)
    return data


def load_sweep_table(path: Path) -> pd.DataFrame:
    """The sweep results table at ``path`` (CSV or Parquet) with at least one row.

    Read by the sweep's own reader, so a table that a killed or still running sweep left (a
    CSV's unfinished last line, Parquet parts not yet merged) reads as its finished rows.
    """
    import numpy as np
    import pandas as pd

    from archsim.sweep import read_results

    try:
        table = read_results(path)
    except SpecError:  # no such table
        raise
    except pd.errors.EmptyDataError:
        raise SpecError([f"{path}: the sweep table is empty (no header, no rows)"]) from None
    except Exception as exc:  # pandas/pyarrow raise many types for unreadable files
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpecError([f"{path}: cannot read the sweep table: {first}"]) from None
    if "feasible" not in table.columns:
        shown = ", ".join(map(str, table.columns[:6])) + (", ..." if len(table.columns) > 6
                                                          else "")
        raise SpecError([f"{path}: not an archsim sweep table: no 'feasible' column (columns: "
                         f"{shown or 'none'}); expected the table written by `archsim sweep`"])
    if table.empty:
        raise SpecError([f"{path}: the sweep table is empty (0 rows); nothing to report"])
    odd = [v for v in table["feasible"].dropna().unique() if not isinstance(v, (bool, np.bool_))]
    if odd:  # the reader leaves the column as text when one cell is not true/false
        shown = next((v for v in odd if str(v).lower() not in ("true", "false")), odd[0])
        raise SpecError([f"{path}: column 'feasible' holds {shown!r}; expected true or false "
                         "(or empty for a point that failed)"])
    from archsim.report.table_fields import check_cells

    check_cells(table, path, MODES)
    return table
