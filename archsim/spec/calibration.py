"""The scenario's ``calibration`` key: which in-situ parameters its devices run with.

* absent (default): the device profiles as shipped — micro-benchmark defaults and the values
  fitted to the public corpus (``archsim calibrate --runs``), with their cross-validated error.
* ``uncalibrated``: the micro-benchmark defaults only (every fitted value back to its default,
  no error bar).
* ``isolated``: no in-situ model at all — kernels at their isolated micro-benchmark
  efficiencies (archsim before the in-situ model).
* a path to an overlay written by ``archsim calibrate --runs --out FILE.yaml``: the in-situ
  block of every device it names replaces the profile's.

Applied to the resolved scenario mapping before validation (archsim/spec/loader.py), so every
command that loads a scenario — simulate, sweep, plan, capacity, report, validate --runs —
honours it, and ``--set calibration=FILE`` works like any other key.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from archsim.spec.errors import SpecError

KIND = "insitu-calibration"
MODES = ("uncalibrated", "isolated")


def apply_calibration(raw: dict, where: str) -> dict:
    """``raw`` (a resolved scenario mapping) with its devices' in-situ blocks set by its
    ``calibration`` key; SpecError naming the key and the file for a bad overlay."""
    value = raw.get("calibration")
    if value is None:
        return raw
    if not isinstance(value, str) or not value:
        raise SpecError([f"{where}: calibration: {value!r}: expected a calibration overlay "
                         f"file (.yaml), or one of {', '.join(MODES)}"])
    overlay = None if value in MODES else read_overlay(value, where)
    for device in _device_mappings(raw):
        if value == "isolated":
            device.pop("insitu", None)
        elif value == "uncalibrated":
            if isinstance(device.get("insitu"), dict):
                device["insitu"] = _uncalibrated(device["insitu"])
        else:
            assert overlay is not None
            entry = overlay.get(device.get("name"))
            if entry is not None:
                device["insitu"] = dict(entry)
    return raw


SHARED_FITTED = ("memory_efficiency", "collective_efficiency")
"""Fitted parameters that both kinds of run inform (archsim/insitu/fit.py PARAMS)."""


def for_run_kind(raw: dict) -> dict:
    """``raw`` with each device's fitted values of :data:`SHARED_FITTED` dropped (back to
    their micro-benchmark defaults) where its calibration saw no run of this scenario's kind:
    a value fitted to one kind holds what those runs lumped in — an MI300X's vLLM decode runs
    fitted RCCL at 0.33 of its nccl-tests bandwidth and HBM at 0.51 of its peak — not what a
    training step's large collectives and kernels reach (and the result says it lies outside
    the calibration)."""
    wl = raw.get("workload")
    kind = wl.get("kind", "training") if isinstance(wl, dict) else "training"
    kind = "inference" if kind == "serving" else kind
    for device in _device_mappings(raw):
        ins = device.get("insitu")
        rng = ins.get("calibrated_range") if isinstance(ins, dict) else None
        kinds = rng.get("kinds") if isinstance(rng, dict) else None
        fitted = ins.get("fitted") if isinstance(ins, dict) else None
        if not kinds or kind in kinds or not isinstance(fitted, list):
            continue
        drop = {n for n in SHARED_FITTED if n in fitted}
        if drop:
            device["insitu"] = {k: v for k, v in ins.items() if k not in drop}
            device["insitu"]["fitted"] = [n for n in fitted if n not in drop]
    return raw


def _device_mappings(raw: dict) -> list[dict]:
    hw = raw.get("hardware")
    if not isinstance(hw, dict):
        return []
    out = [hw["device"]] if isinstance(hw.get("device"), dict) else []
    cluster = hw.get("cluster")
    if isinstance(cluster, dict):
        out += [p["device"] for p in cluster.get("pools") or []
                if isinstance(p, dict) and isinstance(p.get("device"), dict)]
    return out


def _uncalibrated(insitu: dict) -> dict:
    """The in-situ block with its micro-benchmark defaults only: every fittable parameter's
    written value dropped (it then takes its default), no fit, no error bar."""
    from archsim.spec.insitu import FITTABLE

    return {k: v for k, v in insitu.items()
            if k not in ("fitted", "fitted_from", "accuracy", "calibrated_range", "provenance")
            and k not in FITTABLE}


def read_overlay(path: str, where: str = "") -> dict[str, dict[str, Any]]:
    """Device name → in-situ mapping of an overlay file (cached by path and mtime)."""
    file = Path(path)
    if not file.is_file():
        prefix = f"{where}: " if where else ""
        raise SpecError([f"{prefix}calibration: no such overlay file {path!r} (written by "
                         f"`archsim calibrate --runs RUNS.csv --out FILE.yaml`), and not one "
                         f"of {', '.join(MODES)}"])
    return _read(str(file.resolve()), file.stat().st_mtime_ns)


@lru_cache(maxsize=16)
def _read(path: str, _mtime: int) -> dict[str, dict[str, Any]]:
    from archsim.spec.registry import read_yaml

    data = read_yaml(Path(path))
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise SpecError([f"{path}: not a calibration overlay (expected `kind: {KIND}` and "
                         "`devices: {name: {insitu: ...}}`, as `archsim calibrate --runs` "
                         "writes)"])
    devices = data.get("devices")
    if not isinstance(devices, dict) or not devices:
        raise SpecError([f"{path}: devices: expected a mapping of device name to "
                         "{insitu: ...}"])
    out = {}
    for name, entry in devices.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("insitu"), dict):
            raise SpecError([f"{path}: devices.{name}: expected a mapping with an insitu "
                             "block"])
        _check_entry(path, str(name), entry["insitu"])
        out[str(name)] = entry["insitu"]
    return out


def _check_entry(path: str, name: str, insitu: dict) -> None:
    """A bad value of an overlay is the overlay's, not the device profile's it would land in."""
    from pydantic import ValidationError

    from archsim.spec.insitu import InSituSpec
    from archsim.spec.messages import Origins, format_validation_error

    try:
        InSituSpec.model_validate(insitu)
    except ValidationError as exc:
        err = format_validation_error(exc, Origins(path), InSituSpec)
        head = f"{path}: "
        raise SpecError([f"{head}devices.{name}.insitu.{p.removeprefix(head)}"
                         if p.startswith(head) else p for p in err.problems]) from None
