"""Where the profile numbers come from, and how wrong the model was when it was checked.

Sources are read from the device and interconnect profiles (``source``, ``verification``,
``unverified``, ``efficiency.source``, ``price_source``). Validation error is read — never
recomputed — from the reports that the validation commands write under reports/validation/:
``megatron.md`` (A100 training vs Narayanan et al. 2021) and the JSON files of
``archsim validate`` that name the device profile they checked.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archsim.spec.errors import SpecError
from archsim.spec.hardware import DeviceSpec, InterconnectSpec

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


def _json_notes(folder: Path) -> list[ValidationNote]:
    """Notes from ``archsim validate`` JSON files that name a device and a MAPE."""
    notes = []
    for path in sorted(folder.glob("*.json")):
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        device = data.get("device_profile") or data.get("profile") or data.get("device")
        mape = data.get("mape")
        if isinstance(mape, dict):  # e.g. {"end_to_end": 0.12, "matmul_ops": 0.2}
            mape = mape.get("end_to_end", mape.get("e2e"))
        if not isinstance(device, str) or not isinstance(mape, (int, float)):
            continue
        pct = float(mape) * 100 if mape <= 1.5 else float(mape)
        max_err = data.get("max_error")
        notes.append(ValidationNote(Path(device).stem, str(data.get("mode", "all")),
                                    f"archsim validate on {data.get('host', 'the local device')}",
                                    pct, None if not isinstance(max_err, (int, float))
                                    else (max_err * 100 if max_err <= 1.5 else max_err),
                                    str(path)))
    return notes


def validation_notes(device: str) -> list[ValidationNote]:
    """Every known validation of ``device``'s profile, most specific first."""
    notes: list[ValidationNote] = []
    for folder in validation_folders():
        meg = _megatron_note(folder)
        notes += [n for n in [meg, *_json_notes(folder)] if n is not None and n.device == device]
    return notes


# ----------------------------------------------------------------------------- sources

def device_profile(name: str) -> DeviceSpec | None:
    from archsim.spec.scenario import load_spec_file

    try:
        spec = load_spec_file("devices", name)
    except SpecError:
        return None
    assert isinstance(spec, DeviceSpec)
    return spec


def interconnect_profile(name: str) -> InterconnectSpec | None:
    from archsim.spec.scenario import load_spec_file

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
