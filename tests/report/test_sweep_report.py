"""Sweep reports on a hand-made table whose best point and Pareto front are known by hand."""

from __future__ import annotations

import csv
import json

import pytest
from report_checks import check_report_folder

from archsim.cli import main
from archsim.report import ReportOptions, build_report
from archsim.report.sweep import parse_goal
from archsim.spec.errors import SpecError

# hardware.device, plan.tp, feasible, tokens_per_s, cost_per_million_tokens_usd, error
ROWS = [
    ("a100-sxm4-80gb", 1, True, 100.0, 1.0, ""),   # A: on the front (cheapest but E)
    ("h100-sxm5-80gb", 2, True, 200.0, 2.0, ""),   # B: fastest → best by max tokens_per_s
    ("h100-sxm5-80gb", 4, True, 150.0, 3.0, ""),   # C: B is faster and cheaper → dominated
    ("a100-sxm4-80gb", 8, False, "", "", ""),      # D: infeasible
    ("a100-sxm4-80gb", 2, True, 50.0, 0.5, ""),    # E: cheapest → on the front
    ("h100-sxm5-80gb", 8, False, "", "", "ValueError: boom"),  # F: failed
]


@pytest.fixture()
def table(tmp_path):
    path = tmp_path / "sweep.csv"
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["hash", "point", "hardware.device", "plan.tp", "feasible",
                      "infeasible_reasons", "tokens_per_s", "cost_per_million_tokens_usd",
                      "devices", "error"])
        for i, (dev, tp, ok, tps, cost, err) in enumerate(ROWS):
            reason = "" if ok else "stage 0 needs 90 GiB per device, has 80 GiB"
            out.writerow([f"h{i}", i, dev, tp, str(ok).lower(), reason, tps, cost, 8, err])
    return path


def _section(report, sid):
    return next(s for s in report.sections if s.id == sid)


def test_best_point_and_front_by_hand(table, tmp_path):
    report = build_report(table)
    answer = " ".join(b.text for b in _section(report, "answer").blocks)
    assert "which has the highest throughput" in answer
    assert "the best feasible point is device h100-sxm5-80gb, tp 2" in answer
    assert "4 of 6 points are feasible" in answer
    pareto = _section(report, "pareto")
    front = next(b for b in pareto.blocks if getattr(b, "rows", None))
    # sorted by the first goal (max tokens_per_s): B, A, E
    assert [r[1] for r in front.rows] == ["2", "1", "2"]
    assert [r[2] for r in front.rows] == ["200", "100", "50"]
    failures = next(b for b in _section(report, "failures").blocks if getattr(b, "rows", None))
    assert sorted(failures.rows) == [("ValueError: boom", "1"),
                                     ("stage 0 needs 90 GiB per device, has 80 GiB", "1")]


def test_objective_from_the_option_or_the_summary_file(table, tmp_path):
    cheapest = build_report(table, options=ReportOptions(objective="min:cost_per_million_"
                                                                   "tokens_usd"))
    text = " ".join(b.text for b in _section(cheapest, "answer").blocks)
    assert "tp 2" in text and "a100-sxm4-80gb" in text  # E
    summary = table.with_name("sweep.summary.json")
    summary.write_text(json.dumps({"sweep": "hand", "objective": "min cost_per_million_"
                                   "tokens_usd", "pareto": {"goals": ["max tokens_per_s",
                                                                      "min devices"]}}))
    report = build_report(table)
    assert report.title == "Sweep report: hand"
    inputs = " ".join(" ".join(getattr(b, "items", ())) for b in _section(report, "inputs").blocks)
    assert "objective from the sweep's summary file" in inputs
    # all devices are 8, so the front over (max tokens_per_s, min devices) is B alone
    front = next(b for b in _section(report, "pareto").blocks if getattr(b, "rows", None))
    assert [r[2] for r in front.rows] == ["200"]


def test_sweep_report_folder(table, tmp_path):
    out = tmp_path / "rep"
    assert main(["report", str(table), "--out", str(out)]) == 0
    check_report_folder(out, ["answer", "inputs", "sources", "pareto", "best",
                              "by-hardware-device", "prices", "capacity", "failures",
                              "validation-a100-sxm4-80gb", "validation-h100-sxm5-80gb"])


def test_sweep_without_feasible_points(tmp_path):
    path = tmp_path / "none.csv"
    path.write_text("plan.tp,feasible,infeasible_reasons,tokens_per_s\n"
                    "1,false,does not fit,\n2,false,does not fit,\n")
    report = build_report(path)
    answer = " ".join(b.text for b in _section(report, "answer").blocks)
    assert "Answer: none: no feasible point has a value for tokens_per_s (0 feasible of 2)" \
        in answer
    assert [t for t, _ in report.omitted] == ["Sources of the profile numbers", "Pareto front",
                                              "Best points and capacity"]


@pytest.mark.parametrize("text,goal", [("max:tokens_per_s", ("tokens_per_s", True)),
                                       ("min cost_usd", ("cost_usd", False))])
def test_parse_goal(text, goal):
    g = parse_goal(text, "x")
    assert (g.column, g.maximize) == goal


def test_parse_goal_rejects_a_bare_column():
    with pytest.raises(SpecError, match=r"x: objective 'cost_usd': expected 'max:COLUMN' or "
                                        r"'min:COLUMN'"):
        parse_goal("cost_usd", "x")


def test_failure_reasons_are_grouped_by_kind(tmp_path):
    path = tmp_path / "fail.csv"
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["plan.tp", "feasible", "infeasible_reasons", "tokens_per_s"])
        out.writerow([1, "true", "", 10])
        out.writerow([2, "false", "global_batch 64 is not divisible by micro_batch·dp = 1·128 = "
                                  "128 | the interleaved schedule needs pp > 1", ""])
        out.writerow([4, "false", "global_batch 64 is not divisible by micro_batch·dp = 1·256 = "
                                  "256", ""])
    report = build_report(path)
    table = next(b for b in _section(report, "failures").blocks if getattr(b, "rows", None))
    # two kinds: the batch one (2 points, numbers differ) and the schedule one (1 point)
    assert [r[1] for r in table.rows] == ["2", "1"]
    assert table.rows[0][0].startswith("global_batch 64 is not divisible")
    assert table.rows[1][0] == "the interleaved schedule needs pp > 1"
    inputs = next(b for b in _section(report, "inputs").blocks if getattr(b, "rows", None))
    assert ("plan.tp (varied)", "1, 2, 4") in inputs.rows  # numeric order, not text order


def test_a_killed_sweeps_table_reports_its_finished_rows(table):
    """A kill in the middle of a write leaves half a row without its newline (see
    archsim/sweep/store.py); the report reads the six whole rows and ignores the torn one."""
    with table.open("a") as fh:
        fh.write("h6,6,h100-sxm5-80gb,1,tr")
    report = build_report(table)
    answer = " ".join(b.text for b in _section(report, "answer").blocks)
    assert "4 of 6 points are feasible" in answer


def test_a_parquet_table_whose_parts_are_not_merged_yet(tmp_path):
    """A Parquet sweep killed before its first merge has only part files; they are the table."""
    from archsim.sweep.store import open_store

    out = tmp_path / "sweep.parquet"
    store = open_store(out, [("hash", "str"), ("plan.tp", "int"), ("feasible", "bool"),
                             ("tokens_per_s", "float"), ("error", "str")])
    store.append([{"hash": "a", "plan.tp": 1, "feasible": True, "tokens_per_s": 100.0}])
    store.append([{"hash": "b", "plan.tp": 2, "feasible": True, "tokens_per_s": 300.0}])
    assert not out.exists()  # no close(): as if killed
    answer = " ".join(b.text for b in _section(build_report(out), "answer").blocks)
    assert "the best feasible point is tp 2" in answer and "2 of 2 points" in answer


def test_front_keeps_a_point_that_lacks_one_goal():
    """Goals (max, min): a point without the second goal is compared on the first only, with
    every point that has it; complete points only with complete points."""
    import numpy as np

    from archsim.report.sweep_front import front_mask

    nan = float("nan")
    values = np.array([[100, 1.0],   # on the front (cheapest)
                       [200, 2.0],   # on the front
                       [150, 3.0],   # dominated by [200, 2]
                       [300, nan],   # fastest, no cost: on the front of the first goal
                       [120, nan],   # slower than 150, 200 and 300: dominated
                       [nan, nan]])  # nothing to compare: not on the front
    assert front_mask(values, [True, False]).tolist() == [True, True, False, True, False,
                                                          False]


# hardware.device, plan.tp, tokens_per_s, cost_per_million_tokens_usd (8 devices each)
UNPRICED = [("a100-sxm4-80gb", 1, 100.0, 1.0),   # A: cheapest
            ("h100-sxm5-80gb", 2, 200.0, 2.0),   # B
            ("h200-sxm-141gb", 1, 300.0, ""),    # G: fastest, no price
            ("h200-sxm-141gb", 4, 120.0, "")]    # H: dominated by B and G


@pytest.fixture()
def unpriced(tmp_path):
    path = tmp_path / "unpriced.csv"
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["hardware.device", "plan.tp", "feasible", "tokens_per_s",
                      "cost_per_million_tokens_usd", "devices"])
        for dev, tp, tps, cost in UNPRICED:
            out.writerow([dev, tp, "true", tps, cost, 8])
    return path


def _table(section):
    return next(b for b in section.blocks if getattr(b, "rows", None))


def test_a_device_without_a_price_stays_on_the_front_marked_no_price(unpriced):
    report = build_report(unpriced)  # objective: max tokens_per_s
    answer = " ".join(b.text for b in _section(report, "answer").blocks)
    assert "the best feasible point is device h200-sxm-141gb, tp 1" in answer
    front = _table(_section(report, "pareto"))
    assert [(r[0], r[2], r[3]) for r in front.rows] == [
        ("h200-sxm-141gb", "300", "no price"), ("h100-sxm5-80gb", "200", "$2.00"),
        ("a100-sxm4-80gb", "100", "$1.00")]
    text = " ".join(getattr(b, "text", "") for b in _section(report, "pareto").blocks)
    assert "2 points have no cost per million tokens (no price)" in text


def test_ranked_by_cost_the_unpriced_device_is_listed_not_hidden(unpriced):
    report = build_report(unpriced, options=ReportOptions(
        objective="min:cost_per_million_tokens_usd"))
    answer = " ".join(b.text for b in _section(report, "answer").blocks)
    assert "device a100-sxm4-80gb, tp 1" in answer
    assert "because they have no price: h200-sxm-141gb" in answer
    best = _table(_section(report, "best"))
    assert [r[0] for r in best.rows] == ["1", "2", "no price"]
    assert best.rows[-1][1:3] == ("h200-sxm-141gb", "1")  # its fastest point, G
    by_device = _section(report, "by-hardware-device")
    assert any(getattr(b, "name", "") == "by_category" for b in by_device.blocks)


def test_price_changes_by_hand(unpriced):
    """Cheapest: A on the A100 at $1.00/M. The A100 may get 100% dearer before the H100's
    best ($2.00) is cheaper; the H100 must get 50% cheaper. The H200 (no price) would match
    $1.00/M at 1.00 × 3600 × (300 tokens/s / 8 devices) / 10⁶ = $0.135 per device-hour."""
    from archsim.report.sweep_prices import device_prices

    report = build_report(unpriced, options=ReportOptions(
        objective="min:cost_per_million_tokens_usd"))
    import pandas as pd

    table = pd.read_csv(unpriced)
    prices = {p.device: p for p in device_prices(table)}
    assert prices["a100-sxm4-80gb"].flip == pytest.approx(1.0)
    assert prices["h100-sxm5-80gb"].flip == pytest.approx(-0.5)
    assert prices["h200-sxm-141gb"].cheapest is None
    assert prices["h200-sxm-141gb"].break_even == pytest.approx(1.0 * 3600 * 300 / 8 / 1e6)
    rows = _table(_section(report, "prices")).rows
    assert rows[0][3] == "+100.0%: another device's best point becomes cheaper"
    assert rows[1][3] == "-50.0%: its best point becomes the cheapest"
    assert rows[2][1:3] == ("no price", "no price") and "$0.135 per device-hour" in rows[2][3]
