"""A hand-edited result JSON or sweep table: each bad field is exit 2 naming the file, the field
(or the point and column), the value and what was expected — never a crash in the report."""

from __future__ import annotations

import copy
import json
import math

import pytest
import yaml
from report_cases import SMALL_TRAINING

import archsim
from archsim.cli import main
from archsim.report import ReportOptions, build_report
from archsim.report.build import report_files
from archsim.report.inputs import load_result_json, load_sweep_table
from archsim.spec.errors import SpecError

SERVING = {"name": "tiny-serving", "model": "llama2-7b",
           "hardware": {"device": "a100-sxm4-80gb", "count": 1},
           "workload": {"kind": "serving", "arrival": {"rate_per_s": 4, "count": 20}}}
QUICK = ReportOptions(scaling=False, planner=False)


@pytest.fixture(scope="module")
def training() -> dict:
    return archsim.simulate(archsim.load_scenario(yaml.safe_load(SMALL_TRAINING))).to_dict()


@pytest.fixture(scope="module")
def serving() -> dict:
    return archsim.simulate(archsim.load_scenario(SERVING)).to_dict()


def _edited(tmp_path, result: dict, path: str, value, name: str = "r.json"):
    data = copy.deepcopy(result)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node = data
    for part in parents:
        node = node[part]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    out = tmp_path / name
    out.write_text(json.dumps(data))  # NaN and Infinity as Python's json writes them
    return out


@pytest.mark.parametrize("path, value, message", [
    ("step_time_s", "fast", 'step_time_s: "fast": expected a number ≥ 0 or null'),
    ("step_time_s", None, "step_time_s: null: expected a number (the result is feasible)"),
    ("step_time_s", math.nan, "step_time_s: NaN: expected a finite number"),
    ("energy_per_token_j", 1e300, "energy_per_token_j: 1e+300: expected a number of at most "
                                  "1e+30"),
    ("hardware.pools", [], "hardware.pools: []: expected a non-empty list of pools (device, "
                           "count)"),
    ("hardware.pools.0.count", 0, "hardware.pools.0.count: 0: expected a whole number ≥ 1"),
    ("time_breakdown", [1, 2], "time_breakdown: [1, 2]: expected a mapping"),
    ("feasible", "yes", 'feasible: "yes": expected true or false'),
    ("memory.peak_bytes_per_device", -5, "memory.peak_bytes_per_device: -5: expected a number "
                                         "≥ 0 or null"),
    ("memory.breakdown", KeyError, "memory.breakdown: missing; expected a mapping"),
    ("memory.breakdown.weights", "x", 'memory.breakdown.weights: "x": expected a number ≥ 0 '
                                      "or null"),
    ("uncertainty.intervals.step_time_s", None, "uncertainty.intervals.step_time_s: null: "
                                                "expected [low, high] numbers"),
    ("model", 7, "model: 7: expected text"),
])
def test_a_bad_training_field_is_named(tmp_path, training, path, value, message):
    bad = _edited(tmp_path, training, path, value)
    with pytest.raises(SpecError) as err:
        load_result_json(bad)
    assert err.value.problems == [f"{bad}: {message}"]


@pytest.mark.parametrize("path, value, message", [
    ("ttft_p99_s", "x", 'ttft_p99_s: "x": expected a number ≥ 0 or null'),
    ("slo_attainment", [1, 2], "slo_attainment: [1, 2]: expected a number ≥ 0 or null"),
    ("meets_slo", [1, 2], "meets_slo: [1, 2]: expected true, false or null"),
    ("steady_state.start_s", None, "steady_state.start_s: null: expected a number"),
])
def test_a_bad_serving_field_is_named(tmp_path, serving, path, value, message):
    bad = _edited(tmp_path, serving, path, value)
    with pytest.raises(SpecError) as err:
        load_result_json(bad)
    assert err.value.problems == [f"{bad}: {message}"]


def test_cli_exit_2_one_line_nothing_written(tmp_path, training, capsys):
    bad = _edited(tmp_path, training, "step_time_s", "fast")
    out = tmp_path / "out"
    assert main(["report", str(bad), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (f'archsim report: {bad}: step_time_s: "fast": expected '
                                       "a number ≥ 0 or null\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_many_bad_fields_are_listed_up_to_ten(tmp_path, training):
    data = {**copy.deepcopy(training), **{k: "x" for k in
                                          ("step_time_s", "tokens_per_s", "samples_per_s", "mfu",
                                           "hfu", "tflops_per_device", "energy_joules",
                                           "energy_per_token_j", "cost_usd",
                                           "cost_per_million_tokens_usd", "model_flops_per_step",
                                           "hardware_flops_per_step")}}
    bad = tmp_path / "r.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(SpecError) as err:
        load_result_json(bad)
    assert len(err.value.problems) == 11  # 12 fields: ten lines, then how many more
    assert err.value.problems[-1] == f"{bad}: ... and 2 more fields"


def test_results_archsim_writes_pass(tmp_path, training, serving):
    for name in ("distill-llama2-70b-to-7b", "llama2-70b-int4-1xh100", "bert-large-2of4-a100",
                 "llama2-7b-disagg-h100-a100", "gpt3-18b-hetero-h100-a100"):
        path = tmp_path / f"{name}.json"
        path.write_text(archsim.simulate(name).to_json())
        load_result_json(path)
    for result in (training, serving):
        path = tmp_path / "r.json"
        path.write_text(json.dumps(result))
        load_result_json(path)


NUMBER = "a number ≥ 0 or null"
MAPPING = "a mapping"
TOP_LEVEL = {
    # field of a training result -> what the check expects of it (None: not checked, because
    # nothing in the report reads it: gemm_dtype, mfu_peak_tflops and mfu_basis)
    "name": "text", "model": "text", "hardware": MAPPING, "feasible": "true or false",
    "infeasible_reasons": "a list of texts", "step_time_s": NUMBER, "tokens_per_s": NUMBER,
    "samples_per_s": NUMBER, "mfu": NUMBER, "hfu": NUMBER, "gemm_dtype": None,
    "mfu_peak_tflops": None, "mfu_basis": None, "tflops_per_device": NUMBER,
    "executed_utilization": NUMBER, "model_flops_per_step": NUMBER,
    "hardware_flops_per_step": NUMBER, "devices": "a whole number ≥ 1 or null",
    "parallel": MAPPING, "time_breakdown": MAPPING, "placement": MAPPING,
    "io": "a mapping or null", "pipeline": MAPPING, "memory": MAPPING, "communication": MAPPING,
    "energy_joules": NUMBER, "energy_per_token_j": NUMBER, "cost_usd": NUMBER, "sim": MAPPING,
    "cost_per_million_tokens_usd": NUMBER, "totals": MAPPING, "uncertainty": "a mapping or null",
    "ttft_s": NUMBER, "tpot_s": NUMBER, "e2e_latency_s": NUMBER, "ttft_p50_s": NUMBER,
    "ttft_p99_s": NUMBER, "tpot_p50_s": NUMBER, "tpot_p99_s": NUMBER, "requests_per_s": NUMBER,
    "slo_attainment": NUMBER,
}
FEASIBLE_HEADLINE = {"step_time_s", "tokens_per_s", "mfu", "hfu", "tflops_per_device", "devices"}
"""A feasible training result's headline: these may be null only in an infeasible one."""
OPEN_MAPPINGS = {"parallel", "time_breakdown", "placement", "io", "pipeline", "communication",
                 "sim", "totals"}
"""Sections the report reads key by key with a placeholder for what is missing: any mapping."""
REQUIRED_INSIDE = {
    "hardware": ["hardware.pools: missing; expected a non-empty list of pools (device, count)"],
    "memory": ["memory.breakdown: missing; expected a mapping"],
    "uncertainty": ["uncertainty.errors: missing; expected a mapping",
                    "uncertainty.intervals: missing; expected a mapping"],
}
"""Sections with fields the report needs: a mapping without them names each missing one."""


def _refusal(key: str, value) -> list[str] | None:
    """The lines (after the file's path) that setting ``key`` to ``value`` is refused with, or
    None where the report is built."""
    expected = TOP_LEVEL[key]
    if expected is None:
        return None
    if value is None and key in FEASIBLE_HEADLINE:
        return [f"{key}: null: expected a number (the result is feasible)"]
    if ((value is None and expected.endswith(" or null"))
            or (isinstance(value, str) and expected == "text")
            or (isinstance(value, dict) and key in OPEN_MAPPINGS)):
        return None
    if isinstance(value, dict) and key in REQUIRED_INSIDE:
        return REQUIRED_INSIDE[key]
    return [f"{key}: {json.dumps(value)}: expected {expected}"]  # the value as JSON writes it


@pytest.mark.parametrize("value", ["x", [1, 2], {"a": 1}, -1, None])
def test_no_top_level_edit_crashes_the_report(tmp_path, training, value):
    """Each top-level field set to ``value``: a report, or exit 2 naming the file, the field,
    the value and what was expected — never another error."""
    assert set(training) - {"result_version", "mode"} == set(TOP_LEVEL)  # checked before
    unedited = _edited(tmp_path, training, "name", training["name"])
    plain = report_files(build_report(unedited, options=QUICK))["report.md"].decode()
    built = 0
    for key in TOP_LEVEL:
        bad = _edited(tmp_path, training, key, value)
        refusal = _refusal(key, value)
        if refusal is not None:
            with pytest.raises(SpecError) as err:
                build_report(bad, options=QUICK)
            assert err.value.problems == [f"{bad}: {line}" for line in refusal], key
            continue
        md = report_files(build_report(bad, options=QUICK))["report.md"].decode()
        built += 1
        if TOP_LEVEL[key] is None:  # not read: the report is the unedited one
            assert md == plain, key
        elif key == "name":
            assert f"| result | {value} (training) |" in md.splitlines()
        elif key == "model":
            assert f"# Training capacity plan: {value} on a100-sxm4-80gb" in md.splitlines()
            assert f"| model | {value} |" in md.splitlines()
    # the three unread fields; text also for name and model; a mapping also for the open
    # sections; null also for every field that may be null in a feasible result
    nullable = {k for k, e in TOP_LEVEL.items() if e and e.endswith(" or null")}
    assert built == {"x": 5, "[1, 2]": 3, "{'a': 1}": 3 + len(OPEN_MAPPINGS),
                     "-1": 3, "None": 3 + len(nullable - FEASIBLE_HEADLINE)}[str(value)]


@pytest.mark.parametrize("cells, message", [
    ("1,true,training,cheap", "point 1, column cost_per_million_tokens_usd: 'cheap': expected "
                              "a finite number (or an empty cell)"),
    ("1,true,training,inf", "point 1, column cost_per_million_tokens_usd: inf: expected a "
                            "finite number (or an empty cell)"),
    ("1,true,dreaming,1", "point 1, column mode: 'dreaming': expected one of training, "
                          "inference, serving (or an empty cell)"),
    ("x,true,training,1", "point 1, column devices: 'x': expected a whole number ≥ 0 (or an "
                          "empty cell)"),
])
def test_a_bad_sweep_table_cell_names_its_point_and_column(tmp_path, cells, message):
    table = tmp_path / "t.csv"
    table.write_text("hash,point,plan.tp,devices,feasible,mode,cost_per_million_tokens_usd\n"
                     "a,0,1,8,true,training,0.5\n"
                     f"b,1,2,{cells}\n")
    with pytest.raises(SpecError) as err:
        load_sweep_table(table)
    assert err.value.problems == [f"{table}: {message}"]


def test_a_bad_cell_in_several_rows_is_one_line(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("point,feasible,memory.peak_bytes_per_device,memory_headroom\n"
                     "0,true,-1,-0.5\n1,true,-2,0.1\n2,true,-3,0.2\n")
    with pytest.raises(SpecError) as err:
        load_sweep_table(table)  # a negative headroom is a plan that does not fit: fine
    assert err.value.problems == [f"{table}: point 0, column memory.peak_bytes_per_device: -1: "
                                  "expected a number ≥ 0 (or an empty cell) (and 2 more rows)"]


def test_objective_messages_quote_the_bad_cell_and_the_columns_there(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("point,plan.sched,feasible,step_time_s\n0,a,true,1.5\n1,b,true,2.5\n")
    with pytest.raises(SpecError) as err:
        build_report(table)
    assert err.value.problems == [f"{table}: objective column 'tokens_per_s' is not in the "
                                  "table (numeric columns of this table include step_time_s)"]
    with pytest.raises(SpecError) as err:
        build_report(table, options=ReportOptions(objective="max:plan.sched"))
    assert err.value.problems == [f"{table}: objective column 'plan.sched' holds text, e.g. "
                                  "'a' at point 0; expected a numeric column (numeric columns "
                                  "of this table include step_time_s)"]
