"""Bad input to `archsim report`: clear messages (pinned here), exit 2, nothing written."""

from __future__ import annotations

import json

import pytest

from archsim.cli import main
from archsim.report import ReportOptions, build_report
from archsim.report.inputs import load_result_json, load_sweep_table
from archsim.result import RESULT_VERSION
from archsim.spec.errors import SpecError


def _write(path, data):
    path.write_text(json.dumps(data))
    return path


def test_result_json_of_the_wrong_kind(tmp_path):
    trace = _write(tmp_path / "trace.json", {"traceEvents": [], "displayTimeUnit": "ms"})
    with pytest.raises(SpecError, match=r"trace\.json: not an archsim result JSON \(no "
                                        r"'result_version' key; found keys traceEvents, "
                                        r"displayTimeUnit\); expected the file written by "
                                        r"`archsim simulate --out FILE`"):
        load_result_json(trace)
    listing = _write(tmp_path / "list.json", [1, 2])
    with pytest.raises(SpecError, match=r"list\.json: not an archsim result JSON .*found a "
                                        r"JSON list"):
        load_result_json(listing)


def test_result_json_of_another_version_or_mode(tmp_path):
    future = _write(tmp_path / "v9.json", {"result_version": 9, "mode": "training"})
    with pytest.raises(SpecError, match=r"v9\.json: result_version 9 is not supported; this "
                                        rf"archsim reads result_version {RESULT_VERSION}"):
        load_result_json(future)
    old = _write(tmp_path / "v1.json", {"result_version": 1, "mode": "training"})
    with pytest.raises(SpecError, match=r"v1\.json: result_version 1 is not supported"):
        load_result_json(old)  # the isolated-kernel model's numbers (archsim/result.py)
    odd = _write(tmp_path / "mode.json", {"result_version": RESULT_VERSION,
                                          "mode": "benchmark"})
    with pytest.raises(SpecError, match=r"mode\.json: mode 'benchmark' is not one of training, "
                                        r"inference, serving"):
        load_result_json(odd)
    partial = _write(tmp_path / "partial.json", {"result_version": RESULT_VERSION,
                                                 "mode": "training",
                                                 "name": "x", "feasible": True})
    with pytest.raises(SpecError, match=r"partial\.json: result is missing infeasible_reasons, "
                                        r"hardware, memory"):
        load_result_json(partial)


def test_result_json_that_does_not_parse_or_exist(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"result_version": 1,\n  "mode": }')
    with pytest.raises(SpecError, match=r"broken\.json: not valid JSON: line 2, column 11: "
                                        r"Expecting value"):
        load_result_json(broken)
    with pytest.raises(SpecError, match=r"nope\.json: no such result file"):
        load_result_json(tmp_path / "nope.json")
    cut = tmp_path / "cut.json"
    cut.write_text('{"result_version": 1, "mode": "infer')
    with pytest.raises(SpecError) as err:
        load_result_json(cut)
    assert err.value.problems == [f"{cut}: not valid JSON: line 1, column 31: Unterminated "
                                  "string starting here"]


def test_empty_sweep_tables(tmp_path):
    header_only = tmp_path / "empty.csv"
    header_only.write_text("hash,point,plan.tp,feasible,tokens_per_s\n")
    with pytest.raises(SpecError, match=r"empty\.csv: the sweep table is empty \(0 rows\); "
                                        r"nothing to report"):
        load_sweep_table(header_only)
    nothing = tmp_path / "nothing.csv"
    nothing.write_text("")
    with pytest.raises(SpecError, match=r"nothing\.csv: the sweep table is empty \(no header, "
                                        r"no rows\)"):
        load_sweep_table(nothing)
    pq = tmp_path / "empty.parquet"
    import pandas as pd

    pd.DataFrame({"feasible": pd.Series([], dtype=bool)}).to_parquet(pq)
    with pytest.raises(SpecError, match=r"empty\.parquet: the sweep table is empty \(0 rows\)"):
        load_sweep_table(pq)


def test_table_that_is_not_a_sweep(tmp_path):
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(SpecError, match=r"other\.csv: not an archsim sweep table: no "
                                        r"'feasible' column \(columns: a, b\)"):
        load_sweep_table(other)
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"not parquet at all")
    with pytest.raises(SpecError, match=r"garbage\.parquet: cannot read the sweep table: "):
        load_sweep_table(garbage)


def test_overrides_only_for_scenarios(tmp_path):
    result = _write(tmp_path / "r.json", {"result_version": 1})
    with pytest.raises(SpecError, match=r"r\.json: --set applies to a scenario INPUT; this is a "
                                        r"result JSON"):
        build_report(result, ["plan.tp=2"])


def test_bad_objective(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("plan.tp,feasible,mode,tokens_per_s\n1,true,training,10\n")
    with pytest.raises(SpecError, match=r"--objective: objective 'tokens_per_s': expected "
                                        r"'max:COLUMN' or 'min:COLUMN'"):
        build_report(table, options=ReportOptions(objective="tokens_per_s"))
    with pytest.raises(SpecError, match=r"t\.csv: objective column 'mfu' is not in the table"):
        build_report(table, options=ReportOptions(objective="max:mfu"))
    with pytest.raises(SpecError, match=r"t\.csv: objective column 'mode' holds text, e\.g\. "
                                        r"'training' at row 1; expected a numeric column"):
        build_report(table, options=ReportOptions(objective="max:mode"))


def test_feasible_column_that_is_not_true_or_false(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("plan.tp,feasible,tokens_per_s\n1,true,10\n2,maybe,20\n")
    with pytest.raises(SpecError, match=r"t\.csv: column 'feasible' holds 'maybe'; expected "
                                        r"true or false"):
        load_sweep_table(table)


def test_cli_bad_input_exit_2_one_line_no_traceback(tmp_path, capsys):
    bad = _write(tmp_path / "bad.json", {"result_version": 7, "mode": "training"})
    out = tmp_path / "out"
    assert main(["report", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (f"archsim report: {bad}: result_version 7 is not supported; this "
                           f"archsim reads result_version {RESULT_VERSION}")
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.json"]  # nothing half-written


def test_cli_unknown_scenario_and_bad_target(tmp_path, capsys):
    assert main(["report", "no-such-scenario", "--out", str(tmp_path / "o")]) == 2
    assert "unknown scenario 'no-such-scenario'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["report", "x.yaml", "--out", str(tmp_path / "o"), "--days", "-3"])
    assert exc.value.code == 2
    assert "argument --days: must be greater than 0, got -3" in capsys.readouterr().err


def test_cli_unknown_capacity_device_exits_2_before_simulating(tmp_path, capsys):
    """`report --devices` names device types for the capacity answer: an unknown one is bad
    input (as in `archsim capacity`), not a sentence in a report that otherwise succeeded."""
    out = tmp_path / "o"
    assert main(["report", "llama2-7b-serving-a100", "--out", str(out),
                 "--devices", "a100-sxm4-80gb,nosuch"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == ("archsim report: --devices: unknown device 'nosuch' (see `archsim "
                           "list devices`)")
    assert not out.exists()


def test_inputs_that_are_not_scenarios_say_what_to_give(tmp_path):
    sweep = tmp_path / "s.yaml"
    sweep.write_text("base: gpt3-175b-1024xa100\naxes: {plan.tp: [1, 2]}\n")
    with pytest.raises(SpecError, match=r"s\.yaml: is a sweep file, not a scenario; run "
                                        r"`archsim sweep .*s\.yaml --out TABLE\.parquet`, then "
                                        r"`archsim report TABLE\.parquet`"):
        build_report(sweep)
    with pytest.raises(SpecError, match=r": is a folder; expected a scenario \(\.yaml or a "
                                        r"name in workloads/scenarios/\), a result \(\.json\) "
                                        r"or a sweep table \(\.csv/\.parquet\)"):
        build_report(tmp_path)
    notes = tmp_path / "notes.md"
    notes.write_text("# not a scenario\n")
    with pytest.raises(SpecError, match=r"notes\.md: expected a scenario"):
        build_report(notes)
    summary = _write(tmp_path / "t.summary.json", {"sweep": "x", "points": {}, "best": [],
                                                   "pareto": {}})
    with pytest.raises(SpecError, match=r"t\.summary\.json: is the summary of a sweep, not a "
                                        r"result; report the sweep's table"):
        build_report(summary)
