"""The printed best and Pareto tables carry each point's throughput interval and whether it lies
in its profile's calibrated range.

From hardware_profiles/devices/a100-sxm4-80gb.yaml, read by the test: ``insitu.accuracy.training``
gives the 80% interval of the signed error e = predicted time / measured − 1 as p10 … p90
(−0.0565 … 0.0712 today). Tokens/s is inversely proportional to time, so the measured tokens/s
of a point predicted at t is t·(1 + e): an in-range point spans t·(1 + p10) … t·(1 + p90).
Its training runs had tp 1–4 (``calibrated_range.by_kind.training.tp``), so tp 8 is out of
range.
"""

from __future__ import annotations

import json

import pytest
from sweep_cases import A100_TRAINING

from archsim.cli import main
from archsim.cli.sweep import LEGEND, _error_bar
from archsim.spec.loader import load_spec_file
from archsim.textfmt import num

BASE = A100_TRAINING


def test_the_tables_show_the_interval_and_the_calibration(write_sweep, tmp_path, capsys):
    path = write_sweep(base=BASE, axes={"plan.tp": [1, 8]},
                       objective={"maximize": "tokens_per_s"},
                       pareto=[{"maximize": "tokens_per_s"}, {"maximize": "memory_headroom"}])
    out = tmp_path / "r.csv"
    assert main(["sweep", str(path), "--out", str(out), "--workers", "1"]) == 0
    text = capsys.readouterr().out
    summary = json.loads((tmp_path / "r.summary.json").read_text())
    by_tp = {r["plan.tp"]: r for r in summary["best"]}
    assert by_tp[1]["uncertainty.in_range"] is True and by_tp[8]["uncertainty.in_range"] is False
    t = by_tp[1]["tokens_per_s"]
    best_table = text.split("Best ")[1].split("Pareto front")[0]
    assert "tokens/s likely" in best_table.splitlines()[1]
    assert "calibration" in best_table.splitlines()[1]
    row = next(line for line in best_table.splitlines() if line.rstrip().endswith(" in range"))
    acc = load_spec_file("devices", "a100-sxm4-80gb").insitu.accuracy["training"]
    assert (by_tp[1]["tokens_per_s_low"], by_tp[1]["tokens_per_s_high"]) == (
        pytest.approx(t * (1 + acc.p10), rel=1e-9), pytest.approx(t * (1 + acc.p90), rel=1e-9))
    assert f"{num(t * (1 + acc.p10))}–{num(t * (1 + acc.p90))}" in row
    assert sum(line.rstrip().endswith("out of range") for line in best_table.splitlines()) == 1
    front = text.split("Pareto front")[1]
    assert "tokens/s likely" in front and "calibration state" in front
    assert best_table.rstrip().endswith(LEGEND)
    assert LEGEND == (
        "tokens/s likely: the profile's 80% interval, or its wider reference band where the "
        "band was widened (marked *); calibration state: in range, out of range (extrapolated), "
        "uncalibrated (error unknown) or no band (the profile has no runs of this kind)")
    # tp 8 lies outside the A100's training tp 1–4: its band is the reference one, marked
    out_row = next(line for line in best_table.splitlines()
                   if line.rstrip().endswith("out of range"))
    assert "*" in out_row and "*" not in row


def test_a_row_without_the_columns_prints_dashes():
    """A summary of a table from before these columns, or a point with no calibration."""
    cells = _error_bar({"tokens_per_s": 5.0})
    assert (cells["tokens/s likely"], cells["calibration state"]) == (None, None)
    cells = _error_bar({"uncertainty.calibrated": False, "uncertainty.in_range": False})
    assert cells["calibration state"] == "uncalibrated"


def test_a_widened_band_in_range_and_a_profile_without_a_band_say_so():
    """An in-range point whose band rests on too few runs (widened) is marked; a profile
    calibrated on inference only has no training band: 'no band', not 'out of range'."""
    cells = _error_bar({"tokens_per_s_low": 1.0, "tokens_per_s_high": 2.0,
                        "tokens_per_s_widened": True, "uncertainty.calibrated": True,
                        "uncertainty.in_range": True})
    assert (cells["tokens/s likely"], cells["calibration state"]) == ("1–2*", "in range")
    cells = _error_bar({"uncertainty.calibrated": True, "uncertainty.in_range": False})
    assert (cells["tokens/s likely"], cells["calibration state"]) == (None, "no band")


def test_a_calibration_axis_keeps_its_column():
    """A sweep over ``calibration`` (overlay files) shows which overlay each row used: the
    state column has its own name (the two had shared "calibration", and the state overwrote
    the overlay's name in every row)."""
    cells = _error_bar({"calibration": "mine.yaml", "tokens_per_s_low": 1.0,
                        "tokens_per_s_high": 2.0, "uncertainty.calibrated": True,
                        "uncertainty.in_range": True})
    assert cells["calibration"] == "mine.yaml" and cells["calibration state"] == "in range"

