"""The sweep report marks each point's calibration state as its table records it: a
hand-made table whose in_range / calibrated / widened cells are set, and the marks and the
answer's sentence reasoned from them by hand."""

from __future__ import annotations

import csv

import pytest

from archsim.cli import main
from archsim.report import ReportOptions, build_report

COLUMNS = ["hash", "point", "hardware.device", "plan.tp", "feasible", "tokens_per_s",
           "cost_per_million_tokens_usd", "devices", "tokens_per_s_low", "tokens_per_s_high",
           "tokens_per_s_widened", "uncertainty.calibrated", "uncertainty.in_range",
           "uncertainty.above_published"]
# device, tp, tokens/s, $/M, low, high, widened, calibrated, in_range, above_published
ROWS = [
    # P0: fastest, no price → best by max tokens/s, on the front; out of range, widened
    ("h200-sxm-141gb", 1, 300, "", 200, 400, "true", "true", "false", "true"),
    # P1: on the front; in range, an 80% band
    ("h100-sxm5-80gb", 2, 200, 2.0, 180, 220, "false", "true", "true", "false"),
    # P2: on the front (cheaper than P1, faster than P3); out of range, widened
    ("h100-sxm5-80gb", 8, 150, 1.5, 100, 200, "true", "true", "false", "false"),
    # P3: cheapest → on the front, best by min $/M; an uncalibrated device: no band
    ("a100-sxm4-80gb", 1, 100, 1.0, "", "", "", "false", "false", "false"),
    # P4: slower and dearer than P3 → off the front; in range
    ("a100-sxm4-80gb", 2, 90, 1.2, 80, 100, "false", "true", "true", "false"),
]


def _write(path, rows, columns=COLUMNS):
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(columns)
        for i, (dev, tp, tps, cost, lo, hi, wid, cal, rng, above) in enumerate(rows):
            cells = {"hash": f"h{i}", "point": i, "hardware.device": dev, "plan.tp": tp,
                     "feasible": "true", "tokens_per_s": tps,
                     "cost_per_million_tokens_usd": cost, "devices": 8,
                     "tokens_per_s_low": lo, "tokens_per_s_high": hi,
                     "tokens_per_s_widened": wid, "uncertainty.calibrated": cal,
                     "uncertainty.in_range": rng, "uncertainty.above_published": above}
            out.writerow([cells[c] for c in columns])
    return path


@pytest.fixture()
def marked(tmp_path):
    return _write(tmp_path / "marked.csv", ROWS)


def _section(report, sid):
    return next(s for s in report.sections if s.id == sid)


def _tables(section):
    return [b for b in section.blocks if getattr(b, "rows", None)]


def _answer(report):
    return [b.text for b in _section(report, "answer").blocks if hasattr(b, "text")]


LEGEND = ("calibration: in range; out of range (extrapolated: outside the runs the profile was "
          "calibrated on; the table does not record which values, archsim simulate on the "
          "point lists them); uncalibrated (error unknown); no band (no runs of this kind); "
          "a * marks the wider reference band, not an 80% one (tokens_per_s_widened); MFU "
          "above published: its MFU (or HFU) is above any published run on the device "
          "(uncertainty.above_published)")


def test_front_and_band_tables_carry_the_state_and_the_widened_mark(marked):
    report = build_report(marked)  # objective: max tokens_per_s → P0
    front = _tables(_section(report, "pareto"))[0]
    assert list(front.header[-2:]) == ["throughput, likely (tokens/s)", "calibration"]
    # the front over (max tokens/s, min $/M) is P0, P1, P2, P3, by tokens/s
    assert [list(r[-3:]) for r in front.rows] == [
        ["no price", "200 to 400 *", "out of range, MFU above published"],
        ["$2.00", "180 to 220", "in range"],
        ["$1.50", "100 to 200 *", "out of range"],
        ["$1.00", "-", "uncalibrated"]]
    assert front.caption == f"The 4 points on the Pareto front; {LEGEND}."
    bands = _tables(_section(report, "best"))[1]
    assert list(bands.header) == ["#", "device", "throughput, likely", "calibration"]
    assert [r[0] for r in bands.rows] == ["1", "2", "3", "4", "5"]
    assert [list(r[2:]) for r in bands.rows] == [
        ["200 tokens/s to 400 tokens/s *", "out of range, MFU above published"],
        ["180 tokens/s to 220 tokens/s", "in range"],
        ["100 tokens/s to 200 tokens/s *", "out of range"],
        ["-", "uncalibrated"],
        ["80 tokens/s to 100 tokens/s", "in range"]]
    assert bands.caption.endswith(f"like time); {LEGEND}.")


def test_the_answer_says_which_front_points_are_out_of_range(marked):
    answer = _answer(build_report(marked))
    assert ("Calibration: 2 of the 4 Pareto-front points (1 h100-sxm5-80gb, 1 h200-sxm-141gb), "
            "including the best, lie outside the calibrated range, and their bands are the "
            "wider reference band (marked * in the tables); 1 of the 4 Pareto-front points "
            "(1 a100-sxm4-80gb) has no band (uncalibrated, or no runs of this kind).") in answer
    # the best point's own error bar says its band is the wider one
    assert any(t.startswith("Error bar of the best point: likely (the wider reference band) "
                            "throughput 200 tokens/s to 400 tokens/s") for t in answer)


def test_best_by_cost_is_the_uncalibrated_point(marked):
    answer = _answer(build_report(marked, options=ReportOptions(
        objective="min:cost_per_million_tokens_usd")))  # best: P3
    assert ("Calibration: 2 of the 4 Pareto-front points (1 h100-sxm5-80gb, 1 h200-sxm-141gb) "
            "lie outside the calibrated range, and their bands are the wider reference band "
            "(marked * in the tables); 1 of the 4 Pareto-front points (1 a100-sxm4-80gb), "
            "including the best, has no band (uncalibrated, or no runs of this kind).") in answer


def test_a_best_point_in_range_is_said_to_be(tmp_path):
    path = _write(tmp_path / "no-h200.csv", ROWS[1:])  # best by max tokens/s: P1
    answer = _answer(build_report(path))
    assert ("Calibration: 1 of the 3 Pareto-front points (1 h100-sxm5-80gb) lies outside the "
            "calibrated range, and its band is the wider reference band (marked * in the "
            "tables); 1 of the 3 Pareto-front points (1 a100-sxm4-80gb) has no band "
            "(uncalibrated, or no runs of this kind); the best point lies inside the "
            "calibrated range, with an 80% band.") in answer


def test_no_sentence_when_every_point_is_in_range(tmp_path):
    path = _write(tmp_path / "in-range.csv", [ROWS[1], ROWS[4]])
    report = build_report(path)
    assert not any(t.startswith("Calibration:") for t in _answer(report))
    front = _tables(_section(report, "pareto"))[0]
    assert [r[-1] for r in front.rows] == ["in range", "in range"]
    assert "MFU above published" not in front.caption  # no point is


def test_a_table_before_the_calibration_columns(tmp_path):
    """No state, no mark, no sentence; one line in the inputs saying why."""
    old = [c for c in COLUMNS if c not in ("tokens_per_s_low", "tokens_per_s_high",
                                           "tokens_per_s_widened", "uncertainty.calibrated",
                                           "uncertainty.in_range",
                                           "uncertainty.above_published")]
    report = build_report(_write(tmp_path / "old.csv", ROWS, old))
    inputs = [i for b in _section(report, "inputs").blocks for i in getattr(b, "items", ())]
    assert ("The table predates the calibration columns (uncertainty.calibrated, "
            "uncertainty.in_range, tokens_per_s_widened): its points carry no calibration "
            "state in this report.") in inputs
    front = _tables(_section(report, "pareto"))[0]
    assert "calibration" not in front.header and front.caption == \
        "The 4 points on the Pareto front."
    assert not any(t.startswith("Calibration:") for t in _answer(report))


def test_a_table_before_the_widened_column(tmp_path):
    """Bands and states, but no * (the column came later, archsim/sweep/columns.py)."""
    columns = [c for c in COLUMNS if c != "tokens_per_s_widened"]
    report = build_report(_write(tmp_path / "v2.csv", ROWS, columns))
    inputs = [i for b in _section(report, "inputs").blocks for i in getattr(b, "items", ())]
    assert ("The table predates the calibration columns (tokens_per_s_widened): its points "
            "carry no widened-band mark in this report.") in inputs
    front = _tables(_section(report, "pareto"))[0]
    assert list(front.rows[0][-2:]) == ["200 to 400", "out of range, MFU above published"]


def test_report_md_carries_the_marks(marked, tmp_path):
    out = tmp_path / "rep"
    assert main(["report", str(marked), "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "| h200-sxm-141gb | 1 | 300 | no price | 200 to 400 * | out of range, MFU above " \
           "published |" in md
    assert "\nCalibration: 2 of the 4 Pareto-front points" in md


def _point(name, in_range, widened):
    import pandas as pd

    return pd.Series({"tokens_per_s": 100.0, "tokens_per_s_low": 80.0,
                      "tokens_per_s_high": 120.0, "tokens_per_s_widened": widened,
                      "uncertainty.calibrated": True, "uncertainty.in_range": in_range},
                     name=name)


def test_sentence_for_a_widened_band_in_range_and_a_best_point_off_the_front():
    from archsim.report.sweep_calibration import sentence

    a, b = _point("a", True, True), _point("b", True, False)  # a: too few runs, say
    assert sentence(b, [a, b], None) == (
        "Calibration: 1 of the 2 Pareto-front points carries the wider reference band (marked "
        "* in the tables); the best point lies inside the calibrated range, with an 80% band.")
    c = _point("c", False, True)  # best by an objective that is not a front goal
    assert sentence(c, [b], None) == ("Calibration: The best point lies outside the "
                                      "calibrated range, with the wider reference band.")
    assert sentence(b, [b], None) is None  # nothing to warn of
