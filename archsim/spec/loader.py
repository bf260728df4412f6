"""Scenario loading: YAML or mapping → registry names resolved → overrides → validated spec.

Errors name the file (the scenario, the registry entry a part came from, or the ``--set``
that introduced it), the field path and what was expected.
"""

from __future__ import annotations

import copy
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from archsim.spec.base import StrictModel
from archsim.spec.device import DeviceSpec
from archsim.spec.errors import SpecError, format_location
from archsim.spec.hardware import ClusterSpec, InterconnectSpec, StorageSpec
from archsim.spec.model import ModelSpec
from archsim.spec.registry import (
    list_names,
    load_registry_mapping,
    read_yaml,
    registry_path,
)
from archsim.spec.scenario import HardwareSpec, ScenarioSpec

_DEFAULT_SCENARIO = """\
name: gpt3-175b-1024xa100 (embedded default)
description: >-
  GPT-3 175B trained on 1024 A100-80GB with Megatron-LM's 3D plan (TP 8, PP 8, DP 16),
  global batch 1536, micro-batch 1, full recomputation, as in Narayanan et al. (SC21).
model: gpt3-175b
hardware:
  device: a100-sxm4-80gb
  count: 1024
  devices_per_node: 8
  intra_node: nvlink3-nvswitch
  inter_node: ib-hdr-200g
workload:
  kind: training
  seq_len: 2048
  global_batch: 1536
  micro_batch: 1
  dtype: fp16
plan:
  tp: 8
  pp: 8
  schedule: 1f1b
  recompute: full
  flash_attention: false
  overlap_comm: false
"""


def default_scenario_mapping() -> dict:
    """The embedded default scenario (used when ``archsim simulate`` gets no argument)."""
    return yaml.safe_load(_DEFAULT_SCENARIO)


class Origins:
    """Which file each part of the merged mapping came from, for error messages."""

    def __init__(self, root: str):
        self.root = root
        self.by_prefix: dict[tuple, str] = {}

    def set(self, path: tuple, source: str) -> None:
        self.by_prefix[path] = source

    def source_of(self, loc: tuple) -> tuple[str, tuple]:
        """(file, path inside that file) for an error location in the merged mapping."""
        best: tuple = ()
        for prefix in self.by_prefix:
            if loc[: len(prefix)] == prefix and len(prefix) > len(best):
                best = prefix
        if best:
            return self.by_prefix[best], loc[len(best):]
        return self.root, loc


def _resolve(value: Any, kind: str, path: tuple, origins: Origins) -> Any:
    """Replace a registry name at ``path`` by its mapping (remembering the file). A value
    ending in .yaml/.yml is a file path instead (e.g. a profile from ``archsim calibrate``)."""
    if isinstance(value, str) and value.endswith((".yaml", ".yml")):
        return _resolve_file(value, path, origins)
    if isinstance(value, str):
        try:
            data, source = load_registry_mapping(kind, value)
        except SpecError as exc:
            where = format_location(origins.root, ".".join(map(str, path)))
            raise SpecError([f"{where}: {p}" for p in exc.problems]) from None
        origins.set(path, source)
        data.setdefault("name", value)
        return data
    return value


def _resolve_file(value: str, path: tuple, origins: Origins) -> dict:
    where = format_location(origins.root, ".".join(map(str, path)))
    file = Path(value)
    if not file.is_file():
        raise SpecError([f"{where}: no such file {value!r} (a value ending in .yaml is read as "
                         "a file path; registry names have no extension)"])
    data = read_yaml(file)
    if not isinstance(data, dict):
        raise SpecError([f"{file}: expected a mapping of fields, got {type(data).__name__}"])
    origins.set(path, str(file))
    data.setdefault("name", file.stem)
    return data


def resolve_names(raw: dict, origins: Origins, defaults: bool = False) -> dict:
    """Replace registry names by their mappings; with ``defaults``, also fill in the links a
    device profile names (scale_up / scale_out) where the scenario gives none. Defaults are
    filled only after overrides, so ``--set hardware.device=…`` brings that device's links."""
    raw = copy.deepcopy(raw)
    if "model" in raw:
        raw["model"] = _resolve(raw["model"], "models", ("model",), origins)
    hw = raw.get("hardware")
    if isinstance(hw, dict):
        if "device" in hw:
            hw["device"] = _resolve(hw["device"], "devices", ("hardware", "device"), origins)
            device = hw["device"]
            if isinstance(device, dict) and defaults:
                count = hw.get("count", 1)
                if "intra_node" not in hw and device.get("scale_up") and count != 1:
                    hw["intra_node"] = device["scale_up"]
                per_node = hw.get("devices_per_node", device.get("devices_per_node", 8))
                spans = isinstance(count, int) and isinstance(per_node, int) and count > per_node
                if "inter_node" not in hw and device.get("scale_out") and spans:
                    hw["inter_node"] = device["scale_out"]
        for key in ("intra_node", "inter_node"):
            if key in hw:
                hw[key] = _resolve(hw[key], "interconnects", ("hardware", key), origins)
        if "storage" in hw:
            hw["storage"] = _resolve(hw["storage"], "storage", ("hardware", "storage"), origins)
        if "cluster" in hw:
            hw["cluster"] = _resolve(hw["cluster"], "clusters", ("hardware", "cluster"), origins)
            cluster = hw["cluster"]
            if isinstance(cluster, dict):
                _resolve_cluster(cluster, ("hardware", "cluster"), origins, defaults)
    comp = raw.get("compression")
    if isinstance(comp, dict) and isinstance(comp.get("distill"), dict):
        distill = comp["distill"]
        if "student" in distill:
            distill["student"] = _resolve(distill["student"], "models",
                                          ("compression", "distill", "student"), origins)
    return raw


def _resolve_cluster(cluster: dict, path: tuple, origins: Origins,
                     defaults: bool = True) -> None:
    for i, pool in enumerate(cluster.get("pools") or []):
        if not isinstance(pool, dict):
            continue
        ppath = (*path, "pools", i)
        if "device" in pool:
            pool["device"] = _resolve(pool["device"], "devices", (*ppath, "device"), origins)
            device = pool["device"]
            if isinstance(device, dict) and defaults:
                pool.setdefault("devices_per_node",
                                max(1, min(pool.get("count", 1)
                                           if isinstance(pool.get("count"), int) else 1,
                                           device.get("devices_per_node", 8))))
                if "intra_node" not in pool and device.get("scale_up"):
                    pool["intra_node"] = device["scale_up"]
                if "inter_node" not in pool and device.get("scale_out"):
                    pool["inter_node"] = device["scale_out"]
        for key in ("intra_node", "inter_node"):
            if key in pool:
                pool[key] = _resolve(pool[key], "interconnects", (*ppath, key), origins)
    for i, link in enumerate(cluster.get("links") or []):
        if isinstance(link, dict) and "interconnect" in link:
            link["interconnect"] = _resolve(link["interconnect"], "interconnects",
                                            (*path, "links", i, "interconnect"), origins)
    if "storage" in cluster:
        cluster["storage"] = _resolve(cluster["storage"], "storage", (*path, "storage"), origins)


def parse_override(text: str) -> tuple[str, Any]:
    """``"plan.tp=4"`` → ("plan.tp", 4); the value is read as a YAML scalar."""
    if "=" not in text:
        raise SpecError([f"--set {text!r}: expected KEY=VALUE, e.g. plan.tp=4"])
    key, _, value = text.partition("=")
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise SpecError([f"--set {text!r}: the key must be a dotted path, e.g. plan.tp"])
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        raise SpecError([f"--set {text!r}: cannot read the value {value!r}"]) from None
    return key, parsed


def apply_overrides(raw: dict, overrides: Mapping[str, Any] | list[str] | None,
                    origins: Origins | None = None) -> dict:
    """Set dotted keys in a (resolved) mapping; later keys win."""
    if not overrides:
        return raw
    items = (list(overrides.items()) if isinstance(overrides, Mapping)
             else [parse_override(o) for o in overrides])
    raw = copy.deepcopy(raw)
    for key, value in items:
        parts = key.split(".")
        node = raw
        for i, part in enumerate(parts[:-1]):
            child = node.get(part) if isinstance(node, dict) else None
            if isinstance(child, str) and i == 0 and part == "model":
                child, source = load_registry_mapping("models", child)
                child.setdefault("name", node[part])
                if origins:
                    origins.set(("model",), source)
            if not isinstance(child, dict):
                if child is not None:
                    raise SpecError([f"--set {key}: {'.'.join(parts[: i + 1])} is "
                                     f"{child!r}, not a mapping"])
                child = {}
            node[part] = child
            node = child
        node[parts[-1]] = value
        if origins:
            origins.set(tuple(parts), f"--set {key}")
    return raw


def _format_validation_error(exc: ValidationError, origins: Origins,
                             root: type[StrictModel] = ScenarioSpec) -> SpecError:
    """One line per problem; ``root`` is the spec the data was validated as (its keys are
    the ones an unknown key is told about)."""
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        # discriminated unions add the tag to the location; drop it for readability
        loc = tuple(p for p in loc if p not in ("training", "inference", "serving")
                    or loc.index(p) != 1 or loc[0] != "workload")
        # pydantic adds type tags such as 'str' / 'int' for unions and function names
        loc = tuple(p for p in loc if not (isinstance(p, str) and
                                           (p.startswith("function-") or p in
                                            ("str", "int", "float", "dict[str,any]",
                                             "LengthDistribution", "tuple[str, str]"))))
        source, inner = origins.source_of(loc)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
            parent = loc[:-1]
            hint = _known_keys_hint(parent, root)
            msg += hint
        elif err["type"] == "missing":
            msg = "required field is missing"
        got = ""
        if err["type"] not in ("missing", "extra_forbidden") and "input" in err:
            value = err["input"]
            if not isinstance(value, (dict, list)):
                got = f" (got {value!r})"
        path = ".".join(str(p) for p in inner)
        problems.append(f"{format_location(source, path)}: {msg}{got}")
    return SpecError(problems)


def _known_keys_hint(parent: tuple, root: type[StrictModel] = ScenarioSpec) -> str:
    model = _spec_at(parent) if root is ScenarioSpec else _field_spec(root, parent)
    if model is None:
        return ""
    return f"; expected one of: {', '.join(model.model_fields)}"


def _spec_at(parent: tuple) -> type[StrictModel] | None:
    from archsim.spec import hardware, model, plan

    table = {
        (): ScenarioSpec, ("model",): model.ModelSpec, ("hardware",): HardwareSpec,
        ("plan",): plan.ParallelPlan, ("compression",): plan.CompressionPlan,
        ("hardware", "device"): hardware.DeviceSpec,
        ("hardware", "intra_node"): hardware.InterconnectSpec,
        ("hardware", "inter_node"): hardware.InterconnectSpec,
    }
    if parent in table:
        return table[parent]
    if parent == ("workload",):
        return None
    return None


def _field_spec(root: type[StrictModel], path: tuple) -> type[StrictModel] | None:
    """The spec class at ``path`` below ``root`` (through fields whose type is, or may be, a
    spec), or None."""
    model = root
    for key in path:
        field = model.model_fields.get(key) if isinstance(key, str) else None
        if field is None:
            return None
        options = (field.annotation, *typing.get_args(field.annotation))
        model = next((t for t in options
                      if isinstance(t, type) and issubclass(t, StrictModel)), None)
        if model is None:
            return None
    return model


def _read_source(source: str | Path | Mapping) -> tuple[dict, str]:
    if isinstance(source, Mapping):
        return copy.deepcopy(dict(source)), "<scenario>"
    path = Path(source)
    if not path.is_file():
        name = str(source)
        if path.suffix in (".yaml", ".yml") or "/" in name:
            raise SpecError([f"{name}: no such scenario file"])
        if name in list_names("scenarios"):
            path = registry_path("scenarios", name)
        else:
            registry_path("scenarios", name)  # raises with the closest names
    data = read_yaml(path)
    if data is None:
        raise SpecError([f"{path}: the file is empty; expected a scenario mapping"])
    if not isinstance(data, dict):
        raise SpecError([f"{path}: expected a mapping with model, hardware and workload; "
                         f"got {type(data).__name__}"])
    return data, str(path)


def load_scenario(source: str | Path | Mapping | None = None,
                  overrides: Mapping[str, Any] | list[str] | None = None) -> ScenarioSpec:
    """Load and validate a scenario.

    ``source`` is a YAML path, a registry name in workloads/scenarios/, a mapping, or None for
    the embedded default. ``overrides`` is ``{"plan.tp": 4}`` or ``["plan.tp=4"]``.

    Raises
    ------
    SpecError
        One problem per line, each naming the file, the field path and what was expected.
    """
    if source is None:
        raw, where = default_scenario_mapping(), "<default scenario>"
    else:
        raw, where = _read_source(source)
    origins = Origins(where)
    resolved = resolve_names(raw, origins)
    resolved = apply_overrides(resolved, overrides, origins)
    # names introduced by overrides (e.g. --set hardware.device=h100-sxm5-80gb), then the
    # links of the (possibly overridden) device where the scenario names none
    resolved = resolve_names(resolved, origins, defaults=True)
    try:
        return ScenarioSpec.model_validate(resolved)
    except ValidationError as exc:
        raise _format_validation_error(exc, origins) from None


def load_spec_file(kind: str, source: str | Path | Mapping) -> StrictModel:
    """Load one device, interconnect, model or cluster spec by name, path or mapping."""
    spec_type = {"devices": DeviceSpec, "interconnects": InterconnectSpec, "models": ModelSpec,
                 "clusters": ClusterSpec, "storage": StorageSpec}[kind]
    origins = Origins("<inline>")
    if isinstance(source, Mapping):
        data = dict(source)
    elif Path(source).is_file():
        data = read_yaml(Path(source))
        origins = Origins(str(source))
    else:
        data, path = load_registry_mapping(kind, str(source))
        data.setdefault("name", str(source))
        origins = Origins(path)
    if kind == "clusters" and isinstance(data, dict):
        _resolve_cluster(data, (), origins)
    try:
        return spec_type.model_validate(data)
    except ValidationError as exc:
        raise _format_validation_error(exc, origins, spec_type) from None
