"""A sweep's summary file is named after its table without the extension, so ``plans.csv`` and
``plans.parquet`` would share ``plans.summary.json``: the summary records its table, a sweep
does not overwrite another table's summary, and a report does not read it."""

from __future__ import annotations

import json

from archsim.cli import main
from archsim.report.sweep_goals import read_summary

BASE = {"name": "st", "model": "gpt3-1.7b", "hardware": {"device": "a100-sxm4-80gb", "count": 8},
        "workload": {"kind": "training", "seq_len": 2048, "global_batch": 256,
                     "micro_batch": 4, "dtype": "bf16"},
        "plan": {"tp": 1, "pp": 1, "zero": 1}}


def test_a_second_table_with_the_same_stem_does_not_take_the_first_ones_summary(
        write_sweep, tmp_path, capsys):
    path = write_sweep(base=BASE, axes={"plan.tp": [1, 2]},
                       objective={"maximize": "tokens_per_s"})
    first = tmp_path / "plans.csv"
    assert main(["sweep", str(path), "--out", str(first), "--workers", "1"]) == 0
    summary = tmp_path / "plans.summary.json"
    assert json.loads(summary.read_text())["table"] == "plans.csv"
    capsys.readouterr()
    second = tmp_path / "plans.parquet"
    assert main(["sweep", str(path), "--out", str(second), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        f"archsim sweep: {summary} is the summary of another table, plans.csv, and this sweep "
        "would overwrite it: give --out another name (the summary is named after the table "
        "without its extension), or --overwrite")
    assert not second.exists()
    assert json.loads(summary.read_text())["table"] == "plans.csv"
    # a report on a table reads only its own summary
    assert read_summary(str(first))["table"] == "plans.csv"
    assert read_summary(str(second)) is None


def test_a_summary_from_before_the_table_was_recorded_is_still_read(tmp_path):
    (tmp_path / "old.summary.json").write_text(json.dumps({"objective": "x"}))
    assert read_summary(str(tmp_path / "old.csv")) == {"objective": "x"}
