"""What a worker does with a batch of points: load each scenario, simulate it, make its row.

Runs in a local worker process, a Dask worker, or the calling process; it needs only the
picklable :class:`RunContext` and the points. A point that raises (SpecError for bad values,
or any other exception) gets its error text in its row; the batch carries on.

Loading a point's scenario: ``load_scenario(base, overrides)`` deep-copies and re-validates the
whole scenario (device profiles included), about a quarter of a fast-path point's time. When
every override is under ``plan.``, ``workload.``, ``model.`` or ``compression.`` (sections
without registry names or defaults filled from other sections), :func:`scenario_for` copies
only the sections it changes and reuses the base's validated specs for the others; the result
is the same spec (tests/sweep/test_worker.py). Anything else, and any value that fails
validation, goes through ``load_scenario``, so errors read exactly as from ``archsim simulate
--set``.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from archsim.api import simulate
from archsim.spec.errors import SpecError
from archsim.spec.loader import load_scenario
from archsim.spec.scenario import ScenarioSpec
from archsim.sweep.axes import REGISTRY_KEYS
from archsim.sweep.columns import code_version, error_row, metrics_row
from archsim.sweep.space import Point


@dataclass(frozen=True)
class RunContext:
    """Everything a worker needs besides the points (sent once per batch or scattered)."""

    base_mapping: dict[str, Any]
    engine: str = "des"
    base_spec: ScenarioSpec | None = None
    """The validated base (enables the cheap override path of :func:`scenario_for`)."""
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Profiles the points name by path (``hardware.device: devs/x.yaml``): path as written →
    the file's mapping, read when the sweep was loaded (what the point's hash covers), so a
    worker needs neither the file nor the sweep's folder."""
    label: str = "<scenario>"
    """What a point's scenario errors call the base (``the base of SWEEP.yaml``)."""


def overrides_of(ctx: RunContext, values: dict[str, Any]) -> dict[str, Any]:
    """A point's values as scenario overrides: profile paths replaced by their content."""
    out = {}
    for key, value in values.items():
        if key in REGISTRY_KEYS and isinstance(value, str) and value in ctx.files:
            value = copy.deepcopy(ctx.files[value])
        out[key] = value
    return out


_CHEAP_SECTIONS = ("plan", "workload", "model", "compression")


def _cheap(key: str) -> bool:
    top, dot, _ = key.partition(".")
    return bool(dot) and top in _CHEAP_SECTIONS and not key.startswith("compression.distill")


def scenario_for(ctx: RunContext, overrides: dict[str, Any]) -> ScenarioSpec:
    """The scenario of a point: the base with ``overrides`` applied (see the module notes)."""
    if ctx.base_spec is not None and all(_cheap(k) for k in overrides):
        sections: dict[str, Any] = {}
        try:
            for key, value in overrides.items():
                top, _, rest = key.partition(".")
                if top not in sections:
                    sections[top] = copy.deepcopy(ctx.base_mapping.get(top) or {})
                node = sections[top]
                parts = rest.split(".")
                for part in parts[:-1]:
                    child = node.get(part)
                    if child is None:
                        child = node[part] = {}
                    elif not isinstance(child, dict):
                        raise TypeError(f"{part} is not a mapping")  # load_scenario explains
                    node = child
                node[parts[-1]] = value
            data = {name: getattr(ctx.base_spec, name) for name in ScenarioSpec.model_fields}
            data.update(sections)
            return ScenarioSpec.model_validate(data)
        except (ValidationError, TypeError):
            pass  # load_scenario below says what is wrong, with the field path
    return load_scenario(ctx.base_mapping, overrides=overrides)


def run_point(ctx: RunContext, point: Point) -> dict[str, Any]:
    """The full row of one point."""
    row: dict[str, Any] = {"hash": point.hash, "point": point.index, **point.values,
                           **code_version()}
    if point.error is not None:
        row.update(error_row(point.error))
        return row
    t0 = time.perf_counter()
    try:
        scenario = scenario_for(ctx, overrides_of(ctx, point.values))
        result = simulate(scenario, engine=ctx.engine)
        row.update(metrics_row(result.to_dict()))
        row["error"] = None
    except SpecError as exc:
        row.update(error_row("\n".join(p.replace("(with <scenario>)", f"(with {ctx.label})")
                                       for p in exc.problems)))
    except Exception as exc:  # a bug on one point must not stop the sweep; it is recorded
        row.update(error_row(f"{type(exc).__name__}: {exc}"))
    if row.get("sim.wall_s") is None:
        row["sim.wall_s"] = time.perf_counter() - t0
    return row


def run_batch(ctx: RunContext, points: list[Point]) -> list[dict[str, Any]]:
    """Rows of ``points``, in order."""
    return [run_point(ctx, p) for p in points]
