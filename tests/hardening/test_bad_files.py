"""Issue item 1: bad input that used to be exit 1 (an internal error) is exit 2 with the file,
the field and the value: undecodable files, deep nesting, bad --set values, corrupt tables."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from hostile_cases import SCENARIO, SERVING, run_cli, sweep_mapping, write_yaml

import archsim
from archsim.cli import main
from archsim.spec.errors import SpecError
from archsim.sweep import load_sweep

LATIN1 = b"name: caf\xe9\n"
UTF16 = "name: x\n".encode("utf-16")
BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


@pytest.mark.parametrize("data, message", [
    (LATIN1, r"is not UTF-8 text \(byte 0xe9 at line 1, column 10\); save it as UTF-8"),
    (UTF16, r"is UTF-16 text; save it as UTF-8"),
    # the PNG signature: "\x89PNG\r\n", "\x1a\n", then the first NUL opens line 3
    (BINARY, r"is a binary file \(a NUL byte at line 3, column 1\), not text"),
])
def test_undecodable_scenario_profile_sweep_and_report_input(tmp_path, capsys, data, message):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(data)
    scenario = write_yaml(tmp_path / "s.yaml", SCENARIO)
    runs = [
        (["simulate", str(bad)], rf"archsim simulate: {bad}: {message}"),
        (["simulate", str(scenario), "--set", f"hardware.device={bad}"],
         rf"archsim simulate: --set hardware.device: {bad}: {message}"),
        (["sweep", str(bad), "--out", str(tmp_path / "r.csv")], rf"archsim sweep: {bad}: "
                                                                 rf"{message}"),
        (["report", str(bad), "--out", str(tmp_path / "rep")], rf"archsim report: {bad}: "
                                                               rf"{message}"),
    ]
    for args, expected in runs:
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert re.search(expected, err), (args, err)


@pytest.mark.parametrize("field, name", [("trace", "trace.csv"), ("lengths", "lens.txt")])
def test_undecodable_serving_data_files_name_the_scenario(tmp_path, field, name):
    bad = tmp_path / name
    bad.write_bytes(b"arrival_s,prompt_len,gen_len\n0,1\xff2,3\n")
    wl = dict(SERVING["workload"])
    if field == "trace":
        wl["arrival"] = {"process": "trace", "trace_file": str(bad)}
        where = rf"workload\.arrival\.trace_file: {bad}"
    else:
        wl["prompt_len"] = {"dist": "empirical", "file": str(bad)}
        where = rf"workload\.prompt_len\.file: {bad}"
    path = write_yaml(tmp_path / "serve.yaml", {**SERVING, "workload": wl})
    with pytest.raises(SpecError, match=rf"^{path}: {where}: is not UTF-8 text \(byte 0xff at "
                                        r"line 2, column 4\)"):
        archsim.load_scenario(path)


def test_deeply_nested_yaml_is_refused_before_it_is_built(tmp_path):
    path = tmp_path / "d.yaml"
    path.write_text("a: " + "[" * 500 + "]" * 500 + "\n")
    with pytest.raises(SpecError, match=rf"^{path}: line 1, column 35: nests deeper than 32 "
                                        r"levels, the most archsim reads$"):
        archsim.load_scenario(path)


@pytest.mark.parametrize("text, message", [
    ("(" * 100 + "1" + ")" * 100, r"nests deeper than 32 levels \(brackets, 'not', signs\) at "
                                  r"column 33"),
    ("not " * 200 + "true", r"nests deeper than 32 levels .* at column 129"),
    ("-" * 1000 + "1", r"nests deeper than 32 levels .* at column 33"),
    ("+".join(["1"] * 200_000), r"is 399,999 characters long; an expression has at most 4,096"),
    ("+".join(["1"] * 1000), r"is more than 100 operations deep; split it into derived keys"),
])
def test_sweep_expressions_that_used_to_exhaust_the_stack(tmp_path, text, message):
    path = write_yaml(tmp_path / "s.yaml", sweep_mapping(constraints=[text]))
    with pytest.raises(SpecError, match=rf"^{path}: constraints\[0\]: cannot parse .*: "
                                        rf"{message}"):
        load_sweep(path)


@pytest.mark.parametrize("setting, message", [
    ("compression.distill.student=5", r"--set compression\.distill\.student: expected a "
                                      r"mapping of fields or a name from `archsim list models` "
                                      r"\(got 5\)"),
    ("model.layers=10000000000", r"--set model\.layers: Input should be less than or equal to "
                                 r"100000 \(got 10000000000\)"),
    ("plan.tp=1e999", r"--set plan\.tp: Input should be a valid integer"),
    ("plan.tp=.nan", r"--set 'plan\.tp=\.nan': cannot read the value: nan is not a finite "
                     r"number"),
])
def test_bad_set_values_are_one_line_exit_2(capsys, setting, message):
    assert main(["simulate", "--set", setting]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(message, err), err


def test_layers_beyond_the_limit_exit_2_within_a_small_address_space(tmp_path):
    """10**10 layers took 19 GB before failing; now refused at load, under a 1 GiB cap."""
    proc = run_cli("simulate", "--set", "model.layers=10000000000", limit_bytes=2**30)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == ("archsim simulate: --set model.layers: Input should be less than or "
                           "equal to 100000 (got 10000000000)\n")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_corrupt_table_on_resume(tmp_path, capsys, suffix):
    sweep = write_yaml(tmp_path / "s.yaml", sweep_mapping())
    out = tmp_path / f"r{suffix}"
    assert main(["sweep", str(sweep), "--out", str(out), "--workers", "1"]) == 0
    data = out.read_bytes()
    out.write_bytes(data[:40] + b"\x00\xff" * 50 + data[140:])  # header/footer or pages hit
    capsys.readouterr()
    assert main(["sweep", str(sweep), "--out", str(out), "--workers", "1", "--resume"]) == 2
    err = capsys.readouterr().err
    expected = ("is not a readable Parquet table" if suffix == ".parquet"
                else "is not a results table archsim wrote (is a binary file")
    assert f"archsim sweep: {out}: {expected}" in err
    assert "use another --out, or --overwrite to replace it" in err


def test_huge_numbers_in_a_derived_key_are_a_clear_error_not_a_crash(tmp_path, capsys):
    """The expression fails on every point, so nothing is run: exit 2 naming the file and key."""
    sweep = write_yaml(tmp_path / "s.yaml", sweep_mapping(
        derived={"plan.pp": "float((10**1024)**5)"}))
    out = tmp_path / "r.csv"
    assert main(["sweep", str(sweep), "--out", str(out), "--workers", "1", "--json"]) == 2
    assert capsys.readouterr().err == (
        f"archsim sweep: {sweep}: derived.plan.pp: cannot evaluate 'float((10**1024)**5)': "
        "10 ** 1024 is larger than 2**1024 (all 2 points of the sweep fail here; nothing was "
        "run)\n")
    assert not out.exists()


def test_an_expression_failing_on_some_points_is_their_row_error(tmp_path):
    """plan.tp // (plan.tp - 1) divides by zero at tp 1 only: that row names file and key."""
    sweep = write_yaml(tmp_path / "s.yaml", sweep_mapping(
        derived={"plan.pp": "plan.tp // (plan.tp - 1)"}))
    out = tmp_path / "r.csv"
    assert main(["sweep", str(sweep), "--out", str(out), "--workers", "1", "--json"]) == 0
    table = pd.read_csv(out).set_index("plan.tp")
    assert table.loc[1, "error"] == (f"{sweep}: derived.plan.pp: cannot evaluate "
                                     "'plan.tp // (plan.tp - 1)': division by zero in 1 // 0")
    assert pd.isna(table.loc[2, "error"])


@pytest.mark.parametrize("call, message", [
    (lambda: archsim.load_scenario(5), r"^expected a scenario as a YAML path, a name in "
                                       r"workloads/scenarios/ or a mapping; got int 5$"),
    (lambda: archsim.load_scenario(SCENARIO, {1: 2}), r"^overrides: key 1 is not a dotted path"),
    (lambda: archsim.load_scenario(SCENARIO, [4]), r"^overrides: 4 is not text of the form "
                                                   r"KEY=VALUE"),
    (lambda: archsim.load_scenario(SCENARIO, 7), r"^overrides: expected a mapping such as "),
    (lambda: archsim.simulate(SCENARIO, {"compression.distill.student": 5}),
     r"^--set compression\.distill\.student: expected a mapping of fields"),
    (lambda: archsim.simulate(archsim.load_scenario(SCENARIO), {"plan.tp": "x"}),
     r"^--set plan\.tp: Input should be a valid integer"),
])
def test_python_api_raises_spec_error_for_all_bad_input(call, message):
    with pytest.raises(SpecError, match=message):
        call()


def test_a_set_key_of_thousands_of_parts_is_refused():
    key = "plan." + ".".join(["a"] * 5000)
    with pytest.raises(SpecError, match=r"^--set plan\.a\.a.*\.\.\.: a key of 5,001 parts; at "
                                        r"most 32$"):
        archsim.load_scenario(SCENARIO, {key: 1})


def test_an_axis_value_the_base_rules_out_is_refused_before_anything_runs(tmp_path, capsys):
    """heads 25 does not divide the base's hidden 2304 (gpt3-1.7b), and nothing else the sweep
    varies touches the model: exit 2 up front, not a failed row."""
    sweep = write_yaml(tmp_path / "s.yaml", sweep_mapping(axes={"model.heads": [24, 25]}))
    out = tmp_path / "r.csv"
    assert main(["sweep", str(sweep), "--out", str(out), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"archsim sweep: {sweep}: axes.model.heads[1]: 25 with the base "
                          "scenario: model: hidden 2304 is not divisible by heads 25")
    assert len(err.splitlines()) == 1
    assert not out.exists()


def test_a_value_that_another_axis_can_rescue_is_left_to_its_points(tmp_path):
    """heads 25 with hidden 2400 is a valid model (2400 = 25 × 96): no up-front refusal."""
    sweep = write_yaml(tmp_path / "s.yaml", sweep_mapping(
        axes={"model.heads": [24, 25], "model.hidden": [2304, 2400]}))
    out = tmp_path / "r.csv"
    assert main(["sweep", str(sweep), "--out", str(out), "--workers", "1"]) == 0
    table = pd.read_csv(out).set_index(["model.heads", "model.hidden"])
    assert pd.isna(table.loc[(25, 2400), "error"])
    assert table.loc[(25, 2304), "error"].startswith(
        f"--set model.heads, --set model.hidden (with the base of {sweep}): model: hidden 2304 "
        "is not divisible by heads 25")
