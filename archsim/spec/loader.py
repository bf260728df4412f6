"""Scenario loading: YAML or mapping → registry names resolved → overrides → validated spec.

Errors name the file (the scenario, the registry entry a part came from, or the ``--set``
that introduced it), the field path and what was expected.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from archsim.spec.base import StrictModel
from archsim.spec.calibration import apply_calibration, for_run_kind
from archsim.spec.device import DeviceSpec
from archsim.spec.errors import SpecError, format_location
from archsim.spec.hardware import ClusterSpec, InterconnectSpec, StorageSpec
from archsim.spec.messages import Origins, format_validation_error
from archsim.spec.model import ModelSpec
from archsim.spec.registry import (
    list_names,
    load_registry_mapping,
    read_yaml,
    registry_path,
)
from archsim.spec.scenario import ScenarioSpec
from archsim.spec.shape import MAX_NESTING, check_tree, format_path
from archsim.spec.yamlio import parse_yaml_text

__all__ = ["Origins", "apply_overrides", "default_scenario_mapping", "load_scenario",
           "load_spec_file", "parse_override", "resolve_names"]

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


def _resolve(value: Any, kind: str, path: tuple, origins: Origins) -> Any:
    """Replace a registry name at ``path`` by its mapping (remembering the file). A value
    ending in .yaml/.yml is a file path instead (e.g. a profile from ``archsim calibrate``)."""
    if isinstance(value, str) and value.endswith((".yaml", ".yml")):
        return _resolve_file(value, path, origins)
    if isinstance(value, str):
        try:
            data, source = load_registry_mapping(kind, value)
        except SpecError as exc:
            raise SpecError([f"{_where(path, origins)}: {p}" for p in exc.problems]) from None
        origins.set(path, source)
        data.setdefault("name", value)
        return data
    return value


def _where(path: tuple, origins: Origins) -> str:
    """``file: field.path`` of the value at ``path`` (the ``--set`` that gave it, if one did)."""
    source, inner = origins.source_of(path)
    return format_location(source, format_path(inner))


def anchored(value: str, path: tuple, origins: Origins) -> str:
    """A relative file path named at ``path``, read from the folder of the file that names it
    (the scenario, or a cluster profile) when it is there, as a sweep reads its paths from the
    sweep file's folder (archsim/sweep/files.py); else ``value`` as given, from the working
    directory (and, for data files, the data folders). A ``--set`` value stays relative to the
    working directory."""
    source, _ = origins.source_of(path)
    file = Path(value).expanduser()
    if file.is_absolute() or source.startswith(("--set ", "<")):
        return value
    beside = Path(source).parent / file
    return str(beside) if beside.is_file() else value


def _resolve_file(value: str, path: tuple, origins: Origins) -> dict:
    where = _where(path, origins)
    file = Path(anchored(value, path, origins))
    if not file.is_file():
        source, _ = origins.source_of(path)
        parent = Path(source).parent
        folder = ("" if source.startswith(("--set ", "<")) or Path(value).is_absolute()
                  or parent == Path(".") else f"{parent} and ")
        raise SpecError([f"{where}: no such file {value!r} (looked in {folder}the working "
                         "directory; a value ending in .yaml is read as a file path; registry "
                         "names have no extension)"])
    try:
        data = read_yaml(file)
    except SpecError as exc:
        raise SpecError([f"{where}: {p}" for p in exc.problems]) from None
    if not isinstance(data, dict):
        raise SpecError([f"{where}: {file}: expected a mapping of fields, got "
                         f"{type(data).__name__}"])
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
        parsed = parse_yaml_text(value, f"--set {key}") if value.strip() else ""
    except SpecError as exc:
        raise SpecError([f"--set {text!r}: cannot read the value: "
                         + "; ".join(p.removeprefix(f"--set {key}: ") for p in exc.problems)]
                        ) from None
    return key, parsed


def override_items(overrides: Mapping[str, Any] | list[str] | tuple[str, ...] | None
                   ) -> list[tuple[str, Any]]:
    """``overrides`` as (dotted key, value) pairs, each checked; SpecError for anything that
    is not ``{"plan.tp": 4}`` or ``["plan.tp=4"]``."""
    if not overrides:
        return []
    if isinstance(overrides, Mapping):
        items = []
        for key, value in overrides.items():
            if not isinstance(key, str) or not key.strip() or any(
                    not part for part in key.split(".")):
                raise SpecError([f"overrides: key {key!r} is not a dotted path such as "
                                 "'plan.tp'"])
            items.append((key.strip(), value))
    elif isinstance(overrides, (list, tuple)):
        bad = [o for o in overrides if not isinstance(o, str)]
        if bad:
            raise SpecError([f"overrides: {bad[0]!r} is not text of the form KEY=VALUE, e.g. "
                             "'plan.tp=4'"])
        items = [parse_override(o) for o in overrides]
    else:
        raise SpecError([f"overrides: expected a mapping such as {{'plan.tp': 4}} or a list "
                         f"such as ['plan.tp=4'], got {type(overrides).__name__}"])
    for key, value in items:
        parts = key.count(".") + 1
        if parts > MAX_NESTING:
            raise SpecError([f"--set {key[:60]}...: a key of {parts:,} parts; at most "
                             f"{MAX_NESTING}"])
        check_tree(value, f"--set {key}")
    return items


def apply_overrides(raw: dict, overrides: Mapping[str, Any] | list[str] | None,
                    origins: Origins | None = None) -> dict:
    """Set dotted keys in a (resolved) mapping; later keys win."""
    items = override_items(overrides)
    if not items:
        return raw
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


def _read_source(source: str | Path | Mapping) -> tuple[dict, str]:
    if isinstance(source, Mapping):
        check_tree(source, "<scenario>")
        return copy.deepcopy(dict(source)), "<scenario>"
    if not isinstance(source, (str, Path)):
        raise SpecError([f"expected a scenario as a YAML path, a name in workloads/scenarios/ "
                         f"or a mapping; got {type(source).__name__} {source!r:.60}"])
    path = Path(source)
    if path.is_dir():
        raise SpecError([f"{source}: is a folder; expected a scenario YAML file or a name in "
                         "workloads/scenarios/"])
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
    _anchor_files(resolved, origins)
    resolved = for_run_kind(apply_calibration(resolved, where))
    try:
        spec = ScenarioSpec.model_validate(resolved)
    except ValidationError as exc:
        raise format_validation_error(exc, origins, ScenarioSpec) from None
    check_data_files(spec, origins)
    return spec


def _anchor_files(raw: dict, origins: Origins) -> None:
    """The calibration overlay and the serving data files a scenario names by a relative path,
    read from the scenario's folder where they are there (:func:`anchored`)."""
    if isinstance(raw.get("calibration"), str) and raw["calibration"].endswith((".yaml", ".yml")):
        raw["calibration"] = anchored(raw["calibration"], ("calibration",), origins)
    wl = raw.get("workload")
    if not isinstance(wl, dict):
        return
    arrival = wl.get("arrival")
    if isinstance(arrival, dict) and isinstance(arrival.get("trace_file"), str):
        arrival["trace_file"] = anchored(arrival["trace_file"],
                                         ("workload", "arrival", "trace_file"), origins)
    for name in ("prompt_len", "gen_len"):
        dist = wl.get(name)
        if isinstance(dist, dict) and isinstance(dist.get("file"), str):
            dist["file"] = anchored(dist["file"], ("workload", name, "file"), origins)


def check_data_files(spec: ScenarioSpec, origins: Origins) -> None:
    """Read the serving trace and length files the scenario names, so that a missing or bad
    file is told with the scenario (or ``--set``) that names it; SpecError."""
    from archsim.spec.datafiles import read_lengths, read_trace
    from archsim.spec.workload import LengthDistribution, ServingWorkload

    wl = spec.workload
    if not isinstance(wl, ServingWorkload):
        return
    files = []
    if wl.arrival.process == "trace" and wl.arrival.trace_file:
        files.append((("workload", "arrival", "trace_file"), wl.arrival.trace_file, read_trace))
    for name in ("prompt_len", "gen_len"):
        dist = getattr(wl, name)
        if isinstance(dist, LengthDistribution) and dist.dist == "empirical" and dist.file:
            files.append((("workload", name, "file"), dist.file, read_lengths))
    for loc, name, reader in files:
        try:
            reader(name, ".".join(loc))
        except SpecError as exc:
            source, _ = origins.source_of(loc)
            raise SpecError([f"{source}: {p}" for p in exc.problems]) from None


def load_spec_file(kind: str, source: str | Path | Mapping) -> StrictModel:
    """Load one device, interconnect, model or cluster spec by name, path or mapping."""
    spec_type = {"devices": DeviceSpec, "interconnects": InterconnectSpec, "models": ModelSpec,
                 "clusters": ClusterSpec, "storage": StorageSpec}[kind]
    origins = Origins("<inline>")
    if isinstance(source, Mapping):
        check_tree(source, "<inline>")
        data = dict(source)
    elif not isinstance(source, (str, Path)):
        raise SpecError([f"expected a {kind} name, a YAML path or a mapping; got "
                         f"{type(source).__name__}"])
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
        raise format_validation_error(exc, origins, spec_type) from None
