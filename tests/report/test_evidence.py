"""Validation error read from reports/validation/ (never recomputed) and profile sources."""

from __future__ import annotations

import json

import pytest

from archsim.report import evidence
from archsim.report.evidence import device_source_rows, validation_notes
from archsim.report.sections import validation_caveat, validation_section
from archsim.spec.loader import load_spec_file
from archsim.validate import compare

MEGATRON_MD = """\
# Training validation

| model | GPUs | measured step (s) | predicted step (s) | error | x |
|---|---|---|---|---|---|
| 1.7B | 32 | 3.528 | 2.917 | -17.3% | 1 |
| 3.6B | 64 | 3.697 | 3.094 | -11.0% | 2 |

MAPE 14.2%, max |error| 17.3%
"""


@pytest.fixture()
def folder(tmp_path, monkeypatch):
    monkeypatch.setattr(evidence, "validation_folders", lambda: [tmp_path])
    return tmp_path


def test_megatron_report_is_read_not_recomputed(folder):
    (folder / "megatron.md").write_text(MEGATRON_MD)
    [note] = validation_notes("a100-sxm4-80gb")
    assert (note.mode, note.mape_pct, note.max_error_pct) == ("training", 14.2, 17.3)
    assert note.signed_errors_pct == (-17.3, -11.0)
    assert validation_notes("h100-sxm5-80gb") == []
    caveat = validation_caveat("a100-sxm4-80gb", "training")
    assert "14% mean absolute error, optimistic (predicted faster than measured) on every " \
           "case" in caveat
    assert validation_caveat("a100-sxm4-80gb", "inference") is None


def _validate_json(device="cpu-local-example"):
    # the shape of archsim/validate/compare.py report_dict: errors are signed fractions
    return {"meta": {"device_name": device, "profile": "fresh calibration", "cpu": "Xeon"},
            "summary": {"e2e_mape": 0.1, "e2e_mape_by_mode": {"training": 0.1,
                                                              "inference": 0.05}},
            "cases": [{"mode": "training", "errors": {"step_time_s": 0.12}},
                      {"mode": "training", "errors": {"step_time_s": -0.08}},
                      {"mode": "inference", "errors": {"e2e_latency_s": 0.05, "ttft_s": 0.3}}]}


def test_archsim_validate_json_is_read_per_mode(folder):
    sub = folder / "cpu"
    sub.mkdir()
    (sub / "validation.json").write_text(json.dumps(_validate_json()))
    (folder / "unrelated.json").write_text(json.dumps({"traceEvents": []}))
    notes = {n.mode: n for n in validation_notes("cpu-local-example")}
    assert notes["training"].mape_pct == pytest.approx(10.0)
    assert notes["training"].signed_errors_pct == pytest.approx((12.0, -8.0))
    assert notes["training"].max_error_pct == pytest.approx(12.0)
    assert notes["inference"].signed_errors_pct == pytest.approx((5.0,))
    assert "2 PyTorch training runs on Xeon" in notes["training"].what
    sec = validation_section("cpu-local-example", "training")
    table = next(b for b in sec.blocks if getattr(b, "rows", None))
    assert [r[1] for r in table.rows] == ["10.0%", "5.0%"]
    assert [r[3] for r in table.rows] == ["yes", "no (inference)"]
    text = " ".join(getattr(b, "text", "") for b in sec.blocks)
    assert "errors range from -8.0% to +12.0%, i.e. the model was on both sides" in text


def test_validate_json_from_the_real_writer(folder):
    case = compare.CaseResult(name="c", mode="training", model="m", params=1,
                              measured={"step_time_s": 2.0}, predicted={"step_time_s": 1.5},
                              spread={})
    report = compare.report_dict([case], {"device_name": "cpu-x", "profile": "p"})
    (folder / "validation.json").write_text(json.dumps(report))
    [note] = validation_notes("cpu-x")
    assert note.mape_pct == pytest.approx(25.0)  # |1.5 - 2| / 2
    assert note.signed_errors_pct == pytest.approx((-25.0,))


def test_no_validation_says_so(folder):
    sec = validation_section("gaudi3", "inference")  # no calibration, no recorded check
    assert sec.blocks[0].text.startswith("No validation of the gaudi3 profile is recorded")


def _calibrated(monkeypatch, accuracy):
    from types import SimpleNamespace

    from archsim.spec.insitu import AccuracySpec

    profile = SimpleNamespace(insitu=SimpleNamespace(
        accuracy={k: AccuracySpec(**v) for k, v in accuracy.items()}, provenance={}))
    monkeypatch.setattr(evidence, "device_profile", lambda name: profile)


def test_cross_validated_runs_validate_the_profile(folder, monkeypatch):
    """A profile whose calibration holds cross-validated errors is not "unvalidated": ttft
    runs with MAPE 0.078 → 7.8%, p10 −0.11 → −11%, p90 0.0557 → +6%; training runs apply to
    training only."""
    _calibrated(monkeypatch, {
        "ttft": {"runs": 10, "sources": 2, "mape": 0.078, "bias": -0.04, "p10": -0.11,
                 "p90": 0.0557},
        "training": {"runs": 34, "sources": 4, "mape": 0.08, "bias": -0.02, "p10": -0.19,
                     "p90": 0.086}})
    sec = validation_section("some-gpu", "inference")
    table = next(b for b in sec.blocks if getattr(b, "rows", None))
    assert table.rows[0] == (
        "cross-validated ttft runs: 10 published runs from 2 sources, each predicted by a fit "
        "that did not see it (leave-one-source-out); 80% of errors -11% … +6%", "7.8%", "-",
        "yes", "the profile's insitu.accuracy")
    assert table.rows[1][1] == "8.0%" and table.rows[1][3] == "no (training)"
    text = " ".join(getattr(b, "text", "") for b in sec.blocks)
    assert "unvalidated" not in text
    assert "No GPU or CPU check of the some-gpu profile is recorded" in text
    # beside a recorded check, both are listed: the profile's runs first
    (folder / "megatron.md").write_text(MEGATRON_MD)
    sec = validation_section("a100-sxm4-80gb", "training")
    rows = next(b for b in sec.blocks if getattr(b, "rows", None)).rows
    assert [r[1] for r in rows] == ["7.8%", "8.0%", "14.2%"]
    assert [r[3] for r in rows] == ["no (inference)", "yes", "yes"]


def test_device_sources_name_unverified_values_and_price():
    rows = dict(device_source_rows(load_spec_file("devices", "a100-sxm4-80gb")))
    assert "price_per_hour" in rows["UNVERIFIED values"]
    assert rows["price"].startswith("1.79 USD per device-hour; UNVERIFIED")
    no_price = dict(device_source_rows(load_spec_file("devices", "mi300x")))
    assert no_price["price"] == "no price in the profile"
