"""Predict the runs of an earlier validation report again with another device profile.

Measuring needs the device (and, for a rented GPU, its hours); predicting does not. A report
written by ``archsim validate`` keeps every case's measured metrics and per-op times, so any
profile — a fresh ``archsim calibrate`` one, a shipped registry profile with its in-situ
model, a calibration overlay — can be scored on the same measurements later, on any machine,
without torch. Nothing here fits anything: the measurements stay validation.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from archsim.spec.errors import SpecError
from archsim.spec.loader import load_spec_file
from archsim.validate.cases import MODELS, Case
from archsim.validate.compare import CaseResult, error, report_dict, sum_layers

_NAME = re.compile(r"^(?:train (?P<tm>\S+) b(?P<tb>\d+) s(?P<ts>\d+)"
                   r"|infer (?P<im>\S+) b(?P<ib>\d+) p(?P<ip>\d+) g(?P<ig>\d+))$")
_DEFAULT_DTYPE = {"cuda": "bf16", "cpu": "fp32"}
"""The dtype archsim.validate.cases.default_cases gives each device (for reports written
before cases carried their fields)."""


def read_report(path: Path) -> dict[str, Any]:
    """The report mapping of ``validation.json``; SpecError naming the file and field."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise SpecError([f"--measured {path}: no such file"]) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpecError([f"--measured {path}: not a validation.json report ({exc})"]) from None
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        raise SpecError([f"--measured {path}: field 'cases': expected the list of cases of an "
                         "`archsim validate` report"])
    for i, entry in enumerate(data["cases"]):
        for key in ("name", "mode", "measured", "ops"):
            if not isinstance(entry, dict) or key not in entry:
                raise SpecError([f"--measured {path}: cases[{i}].{key}: missing"])
    return data


def case_of(entry: dict[str, Any], device: str, where: str) -> Case:
    """The Case of a report entry: its ``case`` fields, else parsed from its name."""
    if isinstance(entry.get("case"), dict):
        fields = dict(entry["case"])
    else:
        m = _NAME.match(str(entry["name"]))
        if m is None:
            raise SpecError([f"{where}.name: {entry['name']!r} is not a validation case name "
                             "('train MODEL bB sS' or 'infer MODEL bB pP gG')"])
        if m["tm"]:
            fields = {"model": m["tm"], "mode": "training", "batch": int(m["tb"]),
                      "seq_len": int(m["ts"])}
        else:
            fields = {"model": m["im"], "mode": "inference", "batch": int(m["ib"]),
                      "seq_len": int(m["ip"]), "gen_len": int(m["ig"])}
        fields["dtype"] = _DEFAULT_DTYPE.get(device, "fp32")
    if fields.get("model") not in MODELS:
        raise SpecError([f"{where}.case.model: {fields.get('model')!r} is not a validation "
                         f"model (one of {', '.join(sorted(MODELS))})"])
    return Case(**fields)


def rescore(report: dict[str, Any], profile: dict[str, Any], profile_name: str,
            source: str = "") -> dict[str, Any]:
    """A report with the measurements of ``report`` and the predictions of ``profile``.

    The two-process check, whose prediction needs a rank profile, is not carried over, nor is
    the machine-drift check (it compares the machine with the profile the runs were
    measured with; archsim/validate/drift.py).
    """
    from archsim.validate.predict import predicted_ops, simulate_case_with_error_bar

    spec = load_spec_file("devices", profile)
    device = str(report.get("meta", {}).get("device", "cpu"))
    results = []
    for i, entry in enumerate(report["cases"]):
        case = case_of(entry, device, f"cases[{i}]")
        predicted, error_bar = simulate_case_with_error_bar(case, profile)
        ops = {phase: sum_layers(times) for phase, times in
               predicted_ops(case, spec, kernel_only=device == "cuda").items()}
        rows = []
        for row in entry["ops"]:
            new = {k: v for k, v in row.items() if k != "error"}
            p = ops.get(row["phase"], {}).get(row["op"])
            new["predicted_s"] = p
            if row.get("measured_s") and p is not None:
                new["error"] = error(p, row["measured_s"])
            rows.append(new)
        measured = {k: v for k, v in entry["measured"].items() if k in predicted}
        results.append(CaseResult(name=entry["name"], mode=entry["mode"],
                                  model=entry.get("model", case.model),
                                  params=entry.get("params", 0), measured=measured,
                                  predicted=predicted, spread=entry.get("spread", {}),
                                  ops=rows, contention=entry.get("contention", 0.0),
                                  error_bar=error_bar, case=entry.get("case"),
                                  rounds=entry.get("rounds")))
    meta = {**report.get("meta", {}), "profile": profile_name, "device_name": spec.name,
            "rescored_from": source or "an earlier report",
            "rescored": "measurements of the earlier report; predictions of this profile"}
    return report_dict(results, meta)
