"""Sweep files: a base scenario, axes over dotted keys, derived keys, constraints, goals.

A sweep file (YAML; see workloads/sweeps/ and the README's "Sweeps" section)::

    name: gpt3-175b-plans
    base: gpt3-175b-1024xa100        # scenario path (relative to this file), registry name in
                                     # workloads/scenarios/, or an inline mapping; omitted: the
                                     # embedded default scenario
    mode: grid                       # grid | random | lhs (Latin hypercube)
    n: 200                           # random / lhs: number of points
    seed: 0                          # random / lhs
    engine: des                      # des (the full simulator) | fast (training fast path)
    axes:                            # dotted scenario keys; each axis is one of
      plan.tp: [1, 2, 4, 8]          #   a list of values
      plan.sp: {values: [true, false]}
      workload.global_batch: {range: [512, 2048], step: 512}      # 512, 1024, 1536, 2048
      workload.micro_batch: {range: [1, 8], factor: 2}            # 1, 2, 4, 8
      workload.seq_len: {range: [1024, 8192], num: 4, scale: log}  # 4 values, geometric
      model.dropout: {range: [0.0, 0.2]}    # continuous: random / lhs only (ints stay ints)
    derived:                         # evaluated in order after the axes, by the safe parser
      plan.virtual_stages: "2 if plan.schedule == 'interleaved' else 1"
    constraints:                     # a point runs only when every one is true
      - "plan.tp * plan.pp <= hardware.count"
    objective: {maximize: tokens_per_s}       # or {minimize: EXPR}; EXPR over result columns
    filters: {feasible_only: true, min_memory_headroom: 0.05, where: ["tokens_per_s > 75000"]}
    pareto: [{maximize: tokens_per_s}, {minimize: cost_per_million_tokens_usd},
             {maximize: memory_headroom}]
    top: 10                          # rows in the "best points" table

A registry key's value ending in ``.yaml`` (``hardware.device: [devs/tuned.yaml]``) is a
profile file, relative to this file's folder (archsim/sweep/files.py).

Names in derived keys and constraints are the point's keys (axes, earlier derived keys) or any
scenario key, read from the base scenario (or its default); a name below a swept registry
entry (``model.layers`` when ``model`` is an axis) is read from that entry.
Raises SpecError naming the sweep file, the field path and what was expected.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from archsim.spec.base import StrictModel
from archsim.spec.errors import SpecError
from archsim.spec.loader import Origins, default_scenario_mapping, load_scenario, resolve_names
from archsim.spec.registry import list_names, read_yaml, registry_path
from archsim.spec.scenario import ScenarioSpec
from archsim.spec.shape import check_tree
from archsim.sweep.axes import REGISTRY_KEYS, Axis, fingerprint, parse_axis
from archsim.sweep.columns import known_columns
from archsim.sweep.expr import Expression, ExprSyntaxError, parse
from archsim.sweep.files import is_path_value, read_profile
from archsim.sweep.keys import MISSING, UnknownKeyError, check_key


class FiltersSpec(StrictModel):
    feasible_only: bool = True
    """Keep only feasible points (errors are always dropped) in the best/Pareto tables."""
    min_memory_headroom: float | None = Field(default=None, ge=-1, le=1)
    """Keep points whose memory headroom (1 − peak / capacity) is at least this fraction."""
    where: list[str] = Field(default_factory=list)
    """More conditions over result columns, e.g. ``mfu > 0.3``."""


class SweepFileSpec(StrictModel):
    """The shape of a sweep file; values are checked further by :func:`load_sweep`."""

    name: str = "sweep"
    description: str = ""
    base: str | dict[str, Any] | None = None
    mode: Literal["grid", "random", "lhs"] = "grid"
    n: int | None = Field(default=None, ge=1)
    seed: int = 0
    engine: Literal["des", "fast"] = "des"
    axes: dict[str, Any] = Field(min_length=1)
    derived: dict[str, str] = Field(default_factory=dict)
    constraints: list[str] = Field(default_factory=list)
    objective: dict[str, str] = Field(default_factory=lambda: {"maximize": "tokens_per_s"})
    filters: FiltersSpec = FiltersSpec()
    pareto: list[dict[str, str]] = Field(default_factory=lambda: [
        {"maximize": "tokens_per_s"}, {"minimize": "cost_per_million_tokens_usd"},
        {"maximize": "memory_headroom"}])
    top: int = Field(default=10, ge=1)
    max_points: int | None = Field(default=None, ge=1)
    """Most points the sweep may enumerate (default: archsim/sweep/space.py's
    DEFAULT_MAX_POINTS; ``--max-points`` overrides)."""


@dataclass(frozen=True)
class Goal:
    """``maximize`` or ``minimize`` an expression over result columns."""

    expr: Expression
    maximize: bool

    @property
    def label(self) -> str:
        return f"{'max' if self.maximize else 'min'} {self.expr.text}"


@dataclass
class Sweep:
    """A loaded, checked sweep (what the runner needs)."""

    name: str
    source: str
    spec: SweepFileSpec
    base_mapping: dict[str, Any]
    """The base scenario with registry names resolved (sent to the workers)."""
    base_spec: ScenarioSpec
    base_fingerprint: str
    axes: list[Axis]
    derived: list[tuple[str, Expression]]
    constraints: list[Expression]
    objective: Goal
    pareto: list[Goal]
    where: list[Expression]
    constants: dict[str, Any] = field(default_factory=dict)
    """Values of names used in derived keys / constraints that no point changes."""
    folder: Path | None = None
    """The sweep file's folder: relative profile paths are read from it."""
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Profiles named by path (path as written → the file's mapping), read once."""

    def profile_file(self, key: str, value: str, where: str) -> dict[str, Any]:
        """The mapping of the profile file ``value`` given for registry key ``key`` (read on
        first use; ``where`` is the field path for errors, e.g. ``derived.hardware.device``)."""
        if value not in self.files:
            self.files[value] = read_profile(REGISTRY_KEYS[key], value, self.folder,
                                             f"{self.source}: {where}")
        return self.files[value]

    @property
    def input_columns(self) -> list[str]:
        return [a.key for a in self.axes] + [k for k, _ in self.derived]

    @property
    def engine(self) -> str:
        return self.spec.engine


# --------------------------------------------------------------------------- loading


def load_sweep(source: str | Path | Mapping[str, Any]) -> Sweep:
    """Load and check a sweep file (a path, a name in workloads/sweeps/, or a mapping)."""
    raw, where, folder = _read_sweep_source(source)
    try:
        spec = SweepFileSpec.model_validate(raw)
    except ValidationError as exc:
        raise _format(exc, where) from None
    problems: list[str] = []
    base_mapping, base_spec = _load_base(spec.base, where, folder)
    axes = []
    files: dict[str, dict[str, Any]] = {}
    for key, value in spec.axes.items():
        try:
            axis = parse_axis(key, value, spec.mode)
        except ValueError as exc:
            problems.append(f"{where}: axes.{key}: {exc}")
            continue
        if key == "calibration" and axis.values:
            axis, trouble = _calibration_axis(axis, folder, f"{where}: axes.{key}")
            problems.extend(trouble)
        axes.append(axis)
        kind = REGISTRY_KEYS.get(key)
        paths = [v for v in axis.values or () if is_path_value(v)] if kind else []
        for v in paths:
            if v not in files:
                try:
                    files[v] = read_profile(kind, v, folder, f"{where}: axes.{key}")
                except SpecError as exc:
                    problems.extend(exc.problems)
    if not problems:
        varied = [*spec.axes, *spec.derived, *_constraint_names(spec.constraints)]
        problems.extend(p for axis in axes for p in _axis_value_problems(base_mapping, axis,
                                                                          where, varied))
    derived = []
    for key, text in spec.derived.items():
        try:
            check_key(key)
            derived.append((key, parse(text)))
        except (UnknownKeyError, ExprSyntaxError) as exc:
            problems.append(f"{where}: derived.{key}: {_expr_problem(exc)}")
    constraints = []
    for i, text in enumerate(spec.constraints):
        try:
            constraints.append(parse(text))
        except ExprSyntaxError as exc:
            problems.append(f"{where}: constraints[{i}]: {_expr_problem(exc)}")
    if problems:
        raise SpecError(problems)
    duplicate = [k for k, _ in derived if k in spec.axes]
    if duplicate:
        raise SpecError([f"{where}: derived.{k}: is also an axis; give it one place"
                         for k in duplicate])
    if spec.mode in ("random", "lhs") and spec.n is None:
        raise SpecError([f"{where}: n: mode {spec.mode} needs n, the number of points"])
    if spec.mode == "grid" and spec.n is not None:
        raise SpecError([f"{where}: n: grid mode runs every combination; n applies to "
                         "mode random or lhs"])

    sweep = Sweep(name=spec.name, source=where, spec=spec, base_mapping=base_mapping,
                  base_spec=base_spec, base_fingerprint=_base_fingerprint(base_mapping,
                                                                          base_spec), axes=axes,
                  derived=derived, constraints=constraints,
                  objective=_goal(spec.objective, where, "objective"),
                  pareto=[_goal(g, where, f"pareto[{i}]") for i, g in enumerate(spec.pareto)],
                  where=[], folder=folder, files=files)
    sweep.where = [_result_expr(t, where, f"filters.where[{i}]")
                   for i, t in enumerate(spec.filters.where)]
    _check_goal_names(sweep, where)
    sweep.constants = _scenario_constants(sweep, where)
    return sweep


def _calibration_axis(axis: Axis, folder: Path | None, where: str) -> tuple[Axis, list[str]]:
    """A ``calibration`` axis with each overlay path read from the sweep file's folder, as
    profile files on axes are, and checked now: a missing or bad overlay is exit 2 at load,
    not an error in every point's row. Modes (uncalibrated, isolated) pass as they are."""
    from dataclasses import replace

    from archsim.spec.calibration import MODES, read_overlay

    values, problems = [], []
    for i, value in enumerate(axis.values or ()):
        if not isinstance(value, str) or value in MODES:
            values.append(value)
            continue
        path = Path(value).expanduser()
        if folder is not None and not path.is_absolute():
            path = folder / path
        try:
            read_overlay(str(path))
        except SpecError as exc:
            problems.extend(f"{where}[{i}]: {p.removeprefix('calibration: ')}"
                            for p in exc.problems)
        values.append(str(path))
    return replace(axis, values=tuple(values)), problems


def _axis_value_problems(base: dict[str, Any], axis: Axis, where: str,
                         varied: list[str]) -> list[str]:
    """Values of a listed axis that no point can take, each set alone on the base scenario: a
    wrong type, a value out of the field's range, an unknown registry name; and a value the
    base alone rules out (``model.heads: 33`` with the base's hidden 4096) when nothing else
    the sweep varies (``varied``: axes, derived keys, names in constraints) lies in a section
    the problem involves. What a combination of values rules out is left to its points."""
    prefix, cross = f"--set {axis.key}: ", f"--set {axis.key} (with "
    out: list[str] = []
    for i, value in enumerate(axis.values or ()):
        if axis.key in REGISTRY_KEYS and is_path_value(value):
            continue  # a profile file, read and checked with the axes
        try:
            load_scenario(base, {axis.key: value})
        except SpecError as exc:
            for p in exc.problems:
                if p.startswith(prefix):
                    out.append(f"{where}: axes.{axis.key}[{i}]: {p.removeprefix(prefix)}")
                elif p.startswith(cross) and _alone(axis.key, p, varied):
                    message = p.split("): ", 1)[1]
                    out.append(f"{where}: axes.{axis.key}[{i}]: {value!r} with the base "
                               f"scenario: {message}")
    return out


def _alone(key: str, problem: str, varied: list[str]) -> bool:
    """Whether no other key the sweep varies lies in a section ``problem`` (a ``--set KEY
    (with SOURCE): ...`` error of ``key`` on the base) involves: ``key``'s own, and the one
    the message names; a scenario-level problem naming none involves every section."""
    source, _, message = problem.partition(" (with ")[2].partition("): ")
    sections = {key.split(".")[0]}
    head = message.split(":")[0].split(".")[0]
    if head in ScenarioSpec.model_fields:
        sections.add(head)
    elif source == "<scenario>":  # checked across the scenario: any section may matter
        return all(k == key for k in varied)
    return not any(k != key and k.split(".")[0] in sections for k in varied)


def _constraint_names(constraints: list[str]) -> list[str]:
    """The names the constraints read (those that parse; a bad one is its own problem)."""
    names: list[str] = []
    for text in constraints:
        with contextlib.suppress(ExprSyntaxError):
            names.extend(parse(text).names())
    return names


def _read_sweep_source(source: str | Path | Mapping[str, Any]
                       ) -> tuple[dict[str, Any], str, Path | None]:
    if isinstance(source, Mapping):
        check_tree(source, "<sweep>")
        return copy.deepcopy(dict(source)), "<sweep>", None
    if not isinstance(source, (str, Path)):
        raise SpecError([f"expected a sweep as a YAML path, a name in workloads/sweeps/ or a "
                         f"mapping; got {type(source).__name__}"])
    path = Path(source)
    if path.is_dir():
        raise SpecError([f"{source}: is a folder; expected a sweep YAML file or a name in "
                         "workloads/sweeps/"])
    if not path.is_file():
        name = str(source)
        if path.suffix in (".yaml", ".yml") or "/" in name:
            raise SpecError([f"{name}: no such sweep file"])
        path = registry_path("sweeps", name)  # raises with the closest names
    data = read_yaml(path)
    if data is None:
        raise SpecError([f"{path}: the file is empty; expected a sweep mapping with base, "
                         "axes, ..."])
    if not isinstance(data, dict):
        raise SpecError([f"{path}: expected a sweep mapping with base, axes, ...; got "
                         f"{type(data).__name__}"])
    return data, str(path), path.parent


def _format(exc: ValidationError, where: str) -> SpecError:
    problems = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key; expected one of: " + ", ".join(
                SweepFileSpec.model_fields if "." not in loc
                else FiltersSpec.model_fields)
        elif err["type"] == "too_short" and loc == "axes":
            msg = "needs at least one axis, e.g. plan.tp: [1, 2, 4]"
        got = "" if isinstance(err.get("input"), (dict, list)) or err["type"] == "missing" \
            else f" (got {err.get('input')!r})"
        problems.append(f"{where}: {loc}: {msg}{got}")
    return SpecError(problems)


def _load_base(base: str | dict[str, Any] | None, where: str, folder: Path | None
               ) -> tuple[dict[str, Any], ScenarioSpec]:
    if base is None:
        raw, label = default_scenario_mapping(), "<default scenario>"
    elif isinstance(base, dict):
        raw, label = copy.deepcopy(base), f"{where}: base"
    else:
        path = Path(base)
        if folder is not None and not path.is_absolute() and (folder / path).is_file():
            path = folder / path
        if path.is_file():
            data = read_yaml(path)
            if not isinstance(data, dict):
                raise SpecError([f"{path}: expected a scenario mapping"])
            raw, label = data, str(path)
        elif path.suffix in (".yaml", ".yml") or "/" in base:
            raise SpecError([f"{where}: base: no such scenario file {base!r}"])
        elif base in list_names("scenarios"):
            label = str(registry_path("scenarios", base))
            raw = read_yaml(Path(label))
        else:
            try:
                registry_path("scenarios", base)
            except SpecError as exc:
                raise SpecError([f"{where}: base: {p}" for p in exc.problems]) from None
            raise AssertionError("unreachable")
    try:
        spec = load_scenario(raw)
    except SpecError as exc:
        raise SpecError([p.replace("<scenario>", label, 1) for p in exc.problems]) from None
    resolved = resolve_names(raw, Origins(label))
    return resolved, spec


def _base_fingerprint(mapping: dict[str, Any], spec: ScenarioSpec) -> str:
    """What the base scenario's points depend on: its mapping with registry names resolved,
    the hardware as built (a device's default scale-up / scale-out links, which the mapping
    does not name) and the content of a calibration overlay file. Editing any of them makes
    ``--resume`` run the points again."""
    parts: dict[str, Any] = {"mapping": mapping,
                             "cluster": spec.cluster.model_dump(mode="json")}
    if spec.calibration and Path(spec.calibration).is_file():
        parts["calibration"] = Path(spec.calibration).read_text(errors="replace")
    return fingerprint(parts)


def _expr_problem(exc: Exception) -> str:
    if isinstance(exc, ExprSyntaxError):
        return f"cannot parse {exc.shown!r}: {exc.message} at column {exc.position + 1}"
    return str(exc)


def _goal(mapping: dict[str, str], where: str, path: str) -> Goal:
    if len(mapping) != 1 or next(iter(mapping)) not in ("maximize", "minimize"):
        raise SpecError([f"{where}: {path}: expected {{maximize: EXPR}} or {{minimize: EXPR}}, "
                         f"got {mapping!r}"])
    direction, text = next(iter(mapping.items()))
    try:
        expr = parse(text)
    except ExprSyntaxError as exc:
        raise SpecError([f"{where}: {path}.{direction}: {_expr_problem(exc)}"]) from None
    return Goal(expr=expr, maximize=direction == "maximize")


def _result_expr(text: str, where: str, path: str) -> Expression:
    try:
        return parse(text)
    except ExprSyntaxError as exc:
        raise SpecError([f"{where}: {path}: {_expr_problem(exc)}"]) from None


def _check_goal_names(sweep: Sweep, where: str) -> None:
    columns = set(known_columns(sweep.input_columns))
    problems = []
    items = [("objective", sweep.objective.expr)]
    items += [(f"pareto[{i}]", g.expr) for i, g in enumerate(sweep.pareto)]
    items += [(f"filters.where[{i}]", e) for i, e in enumerate(sweep.where)]
    for path, expr in items:
        for name in expr.names():
            if name not in columns:
                import difflib

                close = difflib.get_close_matches(name, sorted(columns), n=3, cutoff=0.6)
                hint = f"; closest: {', '.join(close)}" if close else ""
                problems.append(f"{where}: {path}: unknown result column {name!r}{hint}")
    if problems:
        raise SpecError(problems)


def _scenario_constants(sweep: Sweep, where: str) -> dict[str, Any]:
    """Values of names in derived keys / constraints that no point changes; checks the rest."""
    point_keys = [a.key for a in sweep.axes]
    constants: dict[str, Any] = {}
    problems: list[str] = []
    derived_keys = [k for k, _ in sweep.derived]
    exprs = [(f"derived.{k}", e) for k, e in sweep.derived]
    exprs += [(f"constraints[{i}]", e) for i, e in enumerate(sweep.constraints)]
    for path, expr in exprs:
        for name in expr.names():
            if name in point_keys or name in constants:
                continue
            if name in derived_keys:
                problems.append(f"{where}: {path}: {name!r} is defined later in derived; "
                                "derived keys may use only axes and earlier derived keys")
                continue
            if any(name.startswith(k + ".") for k in point_keys):
                continue  # below a swept key (e.g. model.layers with model an axis)
            if any(k.startswith(name + ".") for k in point_keys):
                problems.append(f"{where}: {path}: {name!r} is a section whose parts are "
                                "swept; name a single value")
                continue
            try:
                info = check_key(name)
            except UnknownKeyError as exc:
                problems.append(f"{where}: {path}: {exc}")
                continue
            value = base_value(sweep.base_mapping, name)
            if value is MISSING:
                value = info.default
            if value is MISSING:
                problems.append(f"{where}: {path}: {name!r} has no value in the base scenario "
                                "and no default")
                continue
            if value is None:  # derived when the scenario is built (e.g. plan.dp)
                problems.append(f"{where}: {path}: {name!r} is not set in the base scenario "
                                "(archsim derives it per point); give it a value in the base "
                                "or sweep it as an axis")
                continue
            constants[name] = scalar_of(value)
        if path.startswith("derived."):
            point_keys.append(path.removeprefix("derived."))
    if problems:
        raise SpecError(problems)
    return constants


def base_value(mapping: Any, name: str) -> Any:
    """The value at dotted ``name`` in a nested mapping, or MISSING."""
    node = mapping
    for part in name.split("."):
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


def scalar_of(value: Any) -> Any:
    """A value as expressions see it: a spec or mapping with a name is its name."""
    if hasattr(value, "model_fields"):
        return getattr(value, "name", value)
    if isinstance(value, dict):
        return value.get("name", value)
    return value
