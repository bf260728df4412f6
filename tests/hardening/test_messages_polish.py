"""QA polish of the messages: argparse errors as one line, values in validation messages,
plurals, help metavars, scenario names, graph vs simulate on device splits, the report's
up-front folder probe and the README's sweep example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hostile_cases import SCENARIO, SERVING, sweep_mapping, write_yaml

import archsim
from archsim.cli import main
from archsim.cli.common import plural
from archsim.spec.errors import SpecError

ROOT = Path(__file__).resolve().parents[2]

STATIC = {"name": "tiny-static", "model": "llama2-7b",
          "hardware": {"device": "a100-sxm4-80gb", "count": 6},
          "workload": {"kind": "inference", "batch": 4, "prompt_len": 128, "gen_len": 8},
          "plan": {"tp": 4}}


def usage_error(argv: list[str], capsys) -> str:
    """stderr of an argument error (argparse exits; main does not return)."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err


# --------------------------------------------------------------------------- 1. argparse


@pytest.mark.parametrize("argv, line", [
    (["report", "x.yaml", "--out", "r", "--days", "0"],
     "archsim report: argument --days: must be greater than 0, got 0 "
     "(see archsim report --help)"),
    (["report", "x.yaml", "--out", "r", "--rate", "-1"],
     "archsim report: argument --rate: must be greater than 0, got -1 "
     "(see archsim report --help)"),
    (["capacity", "x.yaml", "--rate", "abc"],
     "archsim capacity: argument --rate: invalid float value: 'abc' "
     "(see archsim capacity --help)"),
    (["plan", "x.yaml", "--objective", "speed"],
     "archsim plan: argument --objective: invalid choice: 'speed' (choose from 'throughput', "
     "'cost', 'latency') (see archsim plan --help)"),
    (["report", "x.yaml"],
     "archsim report: the following arguments are required: --out "
     "(see archsim report --help)"),
    (["graph", "x.yaml"],
     "archsim graph: the following arguments are required: --out (see archsim graph --help)"),
    (["simulate", "x.yaml", "--bogus"],  # told by the subcommand, not by the top parser
     "archsim simulate: unrecognized arguments: --bogus (see archsim simulate --help)"),
    (["simulte"],
     "archsim: argument COMMAND: invalid choice: 'simulte' (choose from 'simulate', 'list', "
     "'graph', 'plan', 'sweep', 'report', 'capacity', 'calibrate', 'validate') "
     "(see archsim --help)"),
])
def test_argument_errors_are_one_line_naming_the_command(argv, line, capsys):
    assert usage_error(argv, capsys) == line + "\n"


def test_no_usage_block_for_any_subcommand(capsys):
    from archsim.cli import COMMANDS

    for command in COMMANDS:
        err = usage_error([command, "--no-such-flag"], capsys)
        assert "usage:" not in err and err.count("\n") == 1, err
        assert err.startswith(f"archsim {command}: ") and \
            err.endswith(f" (see archsim {command} --help)\n"), err


# --------------------------------------------------------------------------- 2. vague messages


@pytest.mark.parametrize("setting, message", [
    ("plan.tp=[1,2]", "--set plan.tp: Input should be a valid integer (got [1, 2])"),
    ("workload.seq_len=1e30", "--set workload.seq_len: Input should be a valid integer, "
                              "written in digits: YAML reads exponent notation such as 1e3 as "
                              "text (got '1e30')"),
    ("workload.seq_len=abc", "--set workload.seq_len: Input should be a valid integer, unable "
                             "to parse string as an integer (got 'abc')"),
])
def test_validation_messages_quote_the_value(setting, message):
    with pytest.raises(SpecError) as exc:
        archsim.load_scenario(SCENARIO, [setting])
    assert exc.value.problems == [message]


def test_a_long_list_is_cut_in_the_message():
    with pytest.raises(SpecError) as exc:
        archsim.load_scenario(SCENARIO, {"plan.tp": list(range(1000))})
    (line,) = exc.value.problems
    assert line.startswith("--set plan.tp: Input should be a valid integer (got [0, 1, 2, ")
    assert line.endswith("...)") and len(line) < 130, line


def test_a_file_in_the_output_path_is_named_as_a_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_yaml(tmp_path / "sc.yaml", SCENARIO)
    Path("small.yaml").write_text("x\n")
    assert main(["simulate", "sc.yaml", "--out", "small.yaml/r.json"]) == 2
    assert capsys.readouterr().err == ("archsim simulate: small.yaml/r.json: small.yaml is a "
                                       "file, not a folder\n")
    assert main(["sweep", str(write_yaml(tmp_path / "s.yaml", sweep_mapping())),
                 "--out", "small.yaml/deeper/r.csv"]) == 2
    assert capsys.readouterr().err == ("archsim sweep: small.yaml/deeper/r.csv: small.yaml is "
                                       "a file, not a folder\n")
    assert main(["report", "sc.yaml", "--out", "small.yaml/rep"]) == 2
    assert capsys.readouterr().err == ("archsim report: small.yaml/rep: small.yaml is a file, "
                                       "not a folder\n")
    assert main(["simulate", "sc.yaml", "--out", "nowhere/r.json"]) == 2  # unchanged
    assert capsys.readouterr().err == ("archsim simulate: nowhere/r.json: folder nowhere does "
                                       "not exist\n")


def test_an_unknown_device_names_the_devices_flag(tmp_path, capsys):
    sc = write_yaml(tmp_path / "serving.yaml", SERVING)
    assert main(["capacity", str(sc), "--rate", "1", "--devices", "h100-sxm9,a100-nope"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("archsim capacity: --devices: unknown device 'h100-sxm9'; "
                             "closest: h100-sxm5-80gb"), err
    assert err[1].startswith("archsim capacity: --devices: unknown device 'a100-nope'"), err


def test_a_missing_profile_file_for_runs_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("runs.csv").write_text("id\n")
    assert main(["validate", "--runs", "runs.csv", "--profile", "nope.yaml"]) == 2
    assert capsys.readouterr().err == (
        "archsim validate: --profile nope.yaml: no such file; with --runs, expected a "
        "calibration overlay (the .yaml `archsim calibrate --runs RUNS.csv --out FILE.yaml` "
        "writes) or one of uncalibrated, isolated\n")
    Path("profiles").mkdir()
    assert main(["validate", "--runs", "runs.csv", "--profile", "profiles"]) == 2
    assert capsys.readouterr().err.startswith("archsim validate: --profile profiles: is a "
                                              "folder; with --runs, expected ")
    assert main(["validate", "--runs", "runs.csv", "--profile", "a100-sxm4-80gb"]) == 2
    assert "name it (registry name or profile path) in the runs file's device column" in \
        capsys.readouterr().err  # a device name: told where device profiles go


# --------------------------------------------------------------------------- 3. plurals


def test_plural():
    assert [plural(n, "run") for n in (0, 1, 2, 1500)] == ["0 runs", "1 run", "2 runs",
                                                             "1,500 runs"]
    assert plural(1, "micro-batch", "micro-batches") == "1 micro-batch"
    assert plural(3, "micro-batch", "micro-batches") == "3 micro-batches"


def test_one_micro_batch_in_the_training_summary(tmp_path, capsys):
    # 8 sequences / (micro-batch 1 · dp 8) = 1 micro-batch per pipeline
    sc = write_yaml(tmp_path / "sc.yaml", {**SCENARIO, "workload": {
        **SCENARIO["workload"], "global_batch": 8}})
    assert main(["simulate", str(sc)]) == 0
    out = capsys.readouterr().out
    assert " · 1 micro-batch of 1\n" in out, out


def test_one_sequence_in_the_step_work_message():
    # 1 sequence, 1 micro-batch per pipeline, × pp 3,000,000 stages: over the limit
    with pytest.raises(SpecError, match=r"workload\.global_batch: 1 sequence in micro-batches "
                                        r"of 1 over dp 1 make 1 micro-batch per pipeline, "
                                        r"3,000,000 stage micro-batches with pp 3000000;"):
        archsim.load_scenario(SCENARIO, {"workload.global_batch": 1, "plan.dp": 1,
                                         "plan.pp": 3_000_000})


def test_a_one_point_sweep_says_point(tmp_path, capsys):
    sweep = write_yaml(tmp_path / "s.yaml", sweep_mapping(
        axes={"plan.tp": [1]}, pareto=[{"maximize": "tokens_per_s"}]))
    assert main(["sweep", str(sweep), "--out", str(tmp_path / "r.csv"), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("sweep tiny-sweep: 1 point\n"), out
    assert "(1 of 1 point passes the filters):" in out
    assert "Pareto front (max tokens_per_s): 1 point\n" in out


# --------------------------------------------------------------------------- 4. help, names


@pytest.mark.parametrize("command, flags", [
    ("simulate", ["--out FILE", "--trace FILE"]), ("capacity", ["--out FILE"]),
    ("graph", ["--out FILE"]), ("sweep", ["--out FILE"]), ("calibrate", ["--out FILE"]),
    ("validate", ["--out DIR"]),
])
def test_help_names_files_and_folders(command, flags, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    for flag in flags:
        assert f"[{flag}]" in text or f" {flag} " in text, (flag, text)
    assert "OUT " not in text and "TRACE" not in text


def test_a_scenario_without_a_name_is_called_by_its_file(tmp_path, capsys):
    unnamed = {k: v for k, v in SCENARIO.items() if k != "name"}
    sc = write_yaml(tmp_path / "my-run.yaml", unnamed)
    assert main(["simulate", str(sc)]) == 0
    assert capsys.readouterr().out.startswith("my-run — training of gpt3-1.7b on 8× ")
    assert main(["simulate", str(sc), "--set", "name=given"]) == 0
    assert capsys.readouterr().out.startswith("given — training of gpt3-1.7b")
    assert main(["plan", str(sc), "--top", "1"]) == 0
    assert capsys.readouterr().out.startswith("Plan search for my-run on ")
    assert archsim.load_scenario(str(sc)).name == "scenario"  # the API: unchanged


# --------------------------------------------------------------------------- 5. graph


def test_device_split_reason():
    from archsim.metrics.inference import device_split_reason

    assert device_split_reason(6, 4, 1) == "6 devices are not divisible by tp·pp = 4·1 = 4"
    assert device_split_reason(8, 2, 2) is None
    assert device_split_reason(1, 1, 1) is None


def test_graph_refuses_a_static_inference_split_that_simulate_calls_infeasible(tmp_path,
                                                                                capsys):
    sc = write_yaml(tmp_path / "static.yaml", STATIC)
    result = archsim.simulate(archsim.load_scenario(str(sc)))
    reason = "6 devices are not divisible by tp·pp = 4·1 = 4"
    assert not result.feasible and result.to_dict()["infeasible_reasons"] == [reason]
    out = tmp_path / "g.json"
    assert main(["graph", str(sc), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (f"archsim graph: tiny-static: the plan does not divide: "
                                       f"{reason} (simulate reports it infeasible); no graph "
                                       "written\n")
    assert not out.exists()
    assert main(["graph", str(sc), "--out", str(out), "--set", "hardware.count=8"]) == 0
    assert out.exists()
    # an explicit dp that does not make the devices into replicas: 2 · 4 · 1 = 8, not 4
    out.unlink()
    args = ["--set", "hardware.count=4", "--set", "plan.dp=2"]
    reason = "dp·tp·pp = 2·4·1 = 8 does not equal the 4 devices"
    assert reason in archsim.simulate(archsim.load_scenario(
        str(sc), [a for a in args if a != "--set"])).to_dict()["infeasible_reasons"]
    assert main(["graph", str(sc), "--out", str(out), *args]) == 2
    assert reason in capsys.readouterr().err and not out.exists()


# --------------------------------------------------------------------------- 6. report probe


def test_report_tries_its_folder_before_any_work(tmp_path, capsys, monkeypatch):
    """os.access says yes to root on a read-only folder; a file tried there does not."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        candidates = [folder, Path("/sys")]
        refusing = next((c for c in candidates if not _can_create_in(c)), None)
        if refusing is None:
            pytest.skip("no folder here refuses a new file")
        monkeypatch.setattr("archsim.report.output.os.access", lambda *a, **k: True)  # as root

        def no_work(*_a, **_k):
            raise AssertionError("the report was built before the folder was tried")

        monkeypatch.setattr("archsim.report.build_report", no_work)
        sc = write_yaml(tmp_path / "sc.yaml", SCENARIO)
        assert main(["report", str(sc), "--out", str(refusing / "rep")]) == 2
        err = capsys.readouterr().err
        assert re.fullmatch(rf"archsim report: {re.escape(str(refusing / 'rep'))}: folder "
                            rf"{re.escape(str(refusing))} is not writable: .+\n", err), err
    finally:
        folder.chmod(0o755)


def _can_create_in(folder: Path) -> bool:
    probe = folder / "archsim-test-probe"
    try:
        probe.touch()
    except OSError:
        return False
    probe.unlink()
    return True


# --------------------------------------------------------------------------- 7. README sweep


def readme_sweep() -> dict:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Sweeps\n", 1)[1].split("\n## ", 1)[0]
    return yaml.safe_load(section.split("```yaml\n", 1)[1].split("```", 1)[0])


def test_the_readme_sweep_stays_within_the_model():
    from archsim.sweep import load_sweep
    from archsim.sweep.space import enumerate_points

    sweep = load_sweep(readme_sweep())
    points = enumerate_points(sweep).points
    assert len(points) == 4 * 5 * 4 * 4 * 2 == 640  # tp, pp, global batch, seq_len, device
    longest = sweep.base_spec.model.max_seq_len
    assert longest == 2048  # GPT-3's learned positions (Brown et al. 2020, table 2.1)
    assert {p.values["workload.seq_len"] for p in points} == {256, 512, 1024, 2048}
    assert not any("mfu" in w.text for w in sweep.where)  # MFU would rank devices backwards


def test_the_readme_sweep_filter_keeps_both_devices():
    """The H100 (989 dense bf16 TFLOP/s vs the A100's 312) trains faster at a lower MFU: a
    filter on MFU hid it; the README's filter keeps each device's best plan."""
    from archsim.sweep import load_sweep

    sweep = load_sweep(readme_sweep())
    best = {"plan.tp": 4, "plan.pp": 16, "workload.global_batch": 2048,
            "workload.seq_len": 2048}
    results = {}
    for device in ("a100-sxm4-80gb", "h100-sxm5-80gb"):
        scenario = archsim.load_scenario(sweep.base_mapping, {**best,
                                                              "hardware.device": device})
        row = archsim.simulate(scenario, engine="fast").to_dict()
        assert row["feasible"], row["infeasible_reasons"]
        for expr in sweep.where:
            assert expr.evaluate(row.get) is True, (device, expr.text)
        results[device] = row
    a100, h100 = results["a100-sxm4-80gb"], results["h100-sxm5-80gb"]
    assert h100["tokens_per_s"] > 2 * a100["tokens_per_s"] and h100["mfu"] < a100["mfu"]


def test_keys_a_kind_change_leaves_behind_blame_the_set_that_changed_it(tmp_path, capsys):
    """The file's seq_len was right for training; --set workload.kind=inference made it
    unknown, so the --set is named with the file."""
    scenario = write_yaml(tmp_path / "s.yaml", SCENARIO)
    assert main(["simulate", str(scenario), "--set", "workload.kind=inference"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == (f"archsim simulate: --set workload.kind (with {scenario}): "
                        "workload.seq_len: unknown key; expected one of: kind, cuda_graphs, "
                        "batch, prompt_len, gen_len, dtype")
    assert all(line.startswith(f"archsim simulate: --set workload.kind (with {scenario}): ")
               for line in lines)


def test_a_fast_sweep_says_which_points_ran_on_the_des(tmp_path, capsys):
    """The fast path is training only: an inference base's points run on the DES, and the
    summary line says so instead of a bare "engine fast"."""
    sweep = write_yaml(tmp_path / "s.yaml", {"name": "inf-fast", "base": STATIC,
                                              "engine": "fast",
                                              "axes": {"workload.batch": [1, 2, 4]}})
    assert main(["sweep", str(sweep), "--out", str(tmp_path / "r.csv"), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "engine fast; 3 inference/serving points on the DES, the fast path being training " \
           "only)" in out
    training = write_yaml(tmp_path / "t.yaml", sweep_mapping(engine="fast"))
    assert main(["sweep", str(training), "--out", str(tmp_path / "t.csv"), "--workers", "1"]) == 0
    assert "engine fast):" in capsys.readouterr().out


def test_an_empty_sweep_file_says_it_is_empty(tmp_path, capsys):
    sweep = tmp_path / "s.yaml"
    sweep.write_text("\n")
    assert main(["sweep", str(sweep), "--out", str(tmp_path / "r.csv")]) == 2
    assert capsys.readouterr().err == (f"archsim sweep: {sweep}: the file is empty; expected a "
                                       "sweep mapping with base, axes, ...\n")


def test_validate_refuses_runs_and_measured_together(tmp_path, capsys):
    """--measured was silently ignored beside --runs."""
    runs, report = tmp_path / "runs.csv", tmp_path / "validation.json"
    runs.write_text("run,kind,metric,measured,device,devices\n")
    report.write_text("{}")
    assert main(["validate", "--runs", str(runs), "--measured", str(report)]) == 2
    assert capsys.readouterr().err == (f"archsim validate: --runs {runs} and --measured "
                                       f"{report}: give one; both predict measured runs (a runs "
                                       "CSV, or an earlier validate report)\n")


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_a_folder_that_takes_no_files_is_not_called_missing(capsys):
    """/proc exists but refuses new files with ENOENT: the message had said "No such file or
    directory" about a folder that is there."""
    assert main(["simulate", "--out", "/proc/x.json"]) == 2
    assert capsys.readouterr().err == ("archsim simulate: /proc/x.json: folder /proc is not "
                                       "writable: its file system does not take new files\n")


def test_out_dash_is_not_a_file_named_dash(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["simulate", "--out", "-"]) == 2
    assert capsys.readouterr().err == ("archsim simulate: --out -: expected a file path; "
                                       "standard output is not an output file here (simulate, "
                                       "plan and capacity print JSON there with --json)\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("idle", ["60 kW", "600 W"])
def test_an_idle_power_above_the_tdp_is_a_unit_slip(tmp_path, capsys, idle):
    """The A100's TDP is 400 W (its profile): an idle draw of 60 kW (or 600 W) had billed
    6.3 kW per device for a step's idle time; it is bad input naming the field."""
    profile = yaml.safe_load((ROOT / "hardware_profiles/devices/a100-sxm4-80gb.yaml").read_text())
    assert profile["tdp"] == "400 W"
    profile["idle_power"] = idle
    path = write_yaml(tmp_path / "a100.yaml", profile)
    assert main(["simulate", "--set", f"hardware.device={path}"]) == 2
    watts = {"60 kW": "60000", "600 W": "600"}[idle]
    assert capsys.readouterr().err == (
        f"archsim simulate: {path}: idle_power: {watts} W is above the device's tdp (400 W); "
        f"expected the power it draws idle, at most its TDP (got '{idle}')\n")
