"""Where the profile numbers come from, and how wrong the model was when it was checked.

Sources are read from the device and interconnect profiles (``source``, ``verification``,
``unverified``, ``efficiency.source``, ``price_source``). Validation error is read — never
recomputed — from the reports that the validation commands write under reports/validation/
(and its subfolders): ``megatron.md`` (A100 training vs Narayanan et al. 2021) and the
``validation.json`` files of ``archsim validate``, which name the device profile they checked.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archsim.spec.device import DeviceSpec
from archsim.spec.errors import SpecError
from archsim.spec.hardware import InterconnectSpec

# The Megatron-LM weak-scaling validation ran on DGX A100 80GB nodes (Narayanan et al. 2021).
MEGATRON_DEVICE = "a100-sxm4-80gb"
_MAPE_LINE = re.compile(r"MAPE\s+([0-9.]+)%\s*,\s*max\s*\|error\|\s*([0-9.]+)%")


@dataclass(frozen=True)
class ValidationNote:
    """One published or measured check of a profile: what, where, and the error found."""

    device: str
    mode: str
    what: str
    mape_pct: float
    max_error_pct: float | None
    file: str
    signed_errors_pct: tuple[float, ...] = ()
    """The per-case signed errors the report lists (negative: predicted below measured)."""


def validation_folders() -> list[Path]:
    """reports/validation/ beside each data root (a source checkout has one)."""
    from archsim.spec.registry import data_roots

    return [r / "reports" / "validation" for r in data_roots()
            if (r / "reports" / "validation").is_dir()]


def _megatron_note(folder: Path) -> ValidationNote | None:
    path = folder / "megatron.md"
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    match = _MAPE_LINE.search(text)
    if match is None:
        return None
    return ValidationNote(MEGATRON_DEVICE, "training",
                          "Megatron-LM weak scaling: step time of 10 GPT models on 32-3072 A100s "
                          "vs Narayanan et al. 2021, Table 1",
                          float(match.group(1)), float(match.group(2)), str(path),
                          tuple(_table_column(text, "error")))


def _table_column(markdown: str, header: str) -> list[float]:
    """Percentages in column ``header`` of the first Markdown table in ``markdown``."""
    column: int | None = None
    values = []
    for line in markdown.splitlines():
        if not line.startswith("|"):
            if column is not None and values:
                break
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if column is None:
            column = cells.index(header) if header in cells else None
            continue
        if column < len(cells):
            match = re.fullmatch(r"([+-]?[0-9.]+)%", cells[column])
            if match:
                values.append(float(match.group(1)))
    return values


# the end-to-end metric of each mode in `archsim validate` reports (archsim/validate/compare.py)
_E2E_METRIC = {"training": "step_time_s", "inference": "e2e_latency_s"}


def _json_notes(folder: Path) -> list[ValidationNote]:
    """Notes from the ``validation.json`` files of ``archsim validate`` under ``folder``:
    ``{"meta": {"device_name", "profile", "cpu"|"gpu", ...}, "summary": {"e2e_mape_by_mode":
    {mode: fraction}, ...}, "cases": [{"mode", "errors": {metric: signed fraction}}, ...]}``."""
    notes = []
    for path in sorted(folder.rglob("*.json")):
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        meta = data.get("meta") if isinstance(data, dict) else None
        summary = data.get("summary") if isinstance(data, dict) else None
        if not isinstance(meta, dict) or not isinstance(summary, dict):
            continue
        device = meta.get("device_name")
        by_mode = summary.get("e2e_mape_by_mode")
        if not isinstance(device, str) or not isinstance(by_mode, dict):
            continue
        where = meta.get("gpu") or meta.get("cpu") or meta.get("device") or "the local device"
        cases = [c for c in data.get("cases") or [] if isinstance(c, dict)]
        for mode, mape in by_mode.items():
            if not isinstance(mape, (int, float)):
                continue
            signed = [100 * c["errors"][_E2E_METRIC[mode]] for c in cases
                      if c.get("mode") == mode and mode in _E2E_METRIC
                      and isinstance(c.get("errors"), dict)
                      and isinstance(c["errors"].get(_E2E_METRIC[mode]), (int, float))]
            notes.append(ValidationNote(
                device, mode, f"archsim validate: {len(signed) or '?'} PyTorch {mode} runs on "
                              f"{where} (profile {meta.get('profile', device)})",
                100 * float(mape), max((abs(e) for e in signed), default=None), str(path),
                tuple(signed)))
    return notes


def validation_notes(device: str) -> list[ValidationNote]:
    """Every known validation of ``device``'s profile, most specific first."""
    notes: list[ValidationNote] = []
    for folder in validation_folders():
        meg = _megatron_note(folder)
        notes += [n for n in [meg, *_json_notes(folder)] if n is not None and n.device == device]
    return notes


@dataclass(frozen=True)
class CrossValidation:
    """The profile's own cross-validated error on one kind of run (``insitu.accuracy``): the
    runs behind the answer's error bar."""

    group: str
    """training, ttft, tpot, e2e_latency or throughput."""
    mode: str
    """training or inference (every group but training is an inference one)."""
    runs: int
    sources: int
    mape_pct: float
    p10_pct: float
    p90_pct: float
    method: str
    file: str
    """The calibration report that lists these runs, or where the numbers sit in the profile."""


def cross_validation(device: str) -> list[CrossValidation]:
    """``device``'s cross-validated errors by kind of run (none: no calibration)."""
    spec = device_profile(device)
    insitu = spec.insitu if spec is not None else None
    if insitu is None or not insitu.accuracy:
        return []
    where = _calibration_report(str(insitu.provenance.get("runs_sha256") or ""))
    return [CrossValidation(group, "training" if group == "training" else "inference",
                            acc.runs, acc.sources, 100 * acc.mape, 100 * acc.p10,
                            100 * acc.p90, acc.method, where)
            for group, acc in insitu.accuracy.items()]


def _calibration_report(sha: str) -> str:
    """The report under reports/calibration/ naming the runs file (by its hash) the profile
    was fitted and cross-validated on, else the profile's own block."""
    from archsim.spec.registry import data_roots

    if len(sha) >= 12:
        for root in data_roots():
            for path in sorted((root / "reports" / "calibration").glob("*.md")):
                if sha[:12] in path.read_text(encoding="utf-8"):
                    return f"calibration/{path.name}"
    return "the profile's insitu.accuracy"


# ----------------------------------------------------------------------------- sources

def device_profile(name: str) -> DeviceSpec | None:
    from archsim.spec.loader import load_spec_file

    try:
        spec = load_spec_file("devices", name)
    except SpecError:
        return None
    assert isinstance(spec, DeviceSpec)
    return spec


def interconnect_profile(name: str) -> InterconnectSpec | None:
    from archsim.spec.loader import load_spec_file

    try:
        spec = load_spec_file("interconnects", name)
    except SpecError:
        return None
    assert isinstance(spec, InterconnectSpec)
    return spec


def device_source_rows(device: DeviceSpec) -> list[tuple[str, str]]:
    """(what, source) rows for one device profile."""
    rows = [("peaks, memory, power", device.source or "not given in the profile"),
            ("verification", device.verification or "not stated"),
            ("efficiency curves", " ".join((device.efficiency.source or "not given").split())),
            ("matmul efficiency curve", " ".join((device.efficiency.matmul.source
                                                  or "see efficiency curves").split())),
            ("price", (f"{device.price_per_hour:.2f} USD per device-hour; "
                       f"{device.price_source or 'source not given'}")
             if device.price_per_hour is not None else "no price in the profile"),
            ("UNVERIFIED values", ", ".join(device.unverified) or "none listed")]
    return rows


def interconnect_source_rows(link: InterconnectSpec) -> list[tuple[str, str]]:
    return [("bandwidth, efficiency, latency", link.source or "not given in the profile"),
            ("UNVERIFIED values", ", ".join(link.unverified) or "none listed")]
