"""A sweep's summary is named after its table without the extension, so ``plans.csv`` and
``plans.parquet`` would share ``plans.summary.json``: the summary records its table, a second
table of the same stem writes ``plans.parquet.summary.json`` instead of overwriting the first
one's, and a report reads each table's own."""

from __future__ import annotations

import json

from sweep_cases import A100_TRAINING

from archsim.cli import main
from archsim.report.sweep_goals import read_summary

BASE = A100_TRAINING


def test_a_second_table_with_the_same_stem_keeps_both_summaries(write_sweep, tmp_path, capsys):
    one = write_sweep(base=BASE, axes={"plan.tp": [1, 2]},
                      objective={"maximize": "tokens_per_s"})
    first = tmp_path / "plans.csv"
    assert main(["sweep", str(one), "--out", str(first), "--workers", "1"]) == 0
    shared = tmp_path / "plans.summary.json"
    assert json.loads(shared.read_text())["table"] == "plans.csv"
    second = tmp_path / "plans.parquet"
    assert main(["sweep", str(one), "--out", str(second), "--workers", "1"]) == 0
    own = tmp_path / "plans.parquet.summary.json"
    assert str(own) in capsys.readouterr().out
    assert json.loads(own.read_text())["table"] == "plans.parquet"
    assert json.loads(shared.read_text())["table"] == "plans.csv"
    assert read_summary(str(first))["table"] == "plans.csv"
    assert read_summary(str(second))["table"] == "plans.parquet"
    # resuming either table keeps writing its own summary
    assert main(["sweep", str(one), "--out", str(second), "--resume", "--workers", "1"]) == 0
    assert json.loads(own.read_text())["table"] == "plans.parquet"
    assert main(["sweep", str(one), "--out", str(first), "--resume", "--workers", "1"]) == 0
    assert json.loads(shared.read_text())["table"] == "plans.csv"


def test_a_summary_of_another_table_is_not_read(tmp_path):
    (tmp_path / "plans.summary.json").write_text(json.dumps({"table": "plans.csv"}))
    assert read_summary(str(tmp_path / "plans.parquet")) is None


def test_a_summary_from_before_the_table_was_recorded_is_still_read(tmp_path):
    (tmp_path / "old.summary.json").write_text(json.dumps({"objective": "x"}))
    assert read_summary(str(tmp_path / "old.csv")) == {"objective": "x"}
