"""Sweep axes over ``hardware.device`` take device YAML paths (relative to the sweep file) as
well as registry names; the point's hash covers the file's content, and a resume after an edit
replaces that point's row; a bad path is one clear line and exit 2."""

import re
from pathlib import Path

import pytest
import yaml
from sweep_cases import BASE, sweep_mapping

import archsim
from archsim.cli import main
from archsim.spec.errors import SpecError
from archsim.spec.registry import registry_path
from archsim.sweep.runner import run_sweep
from archsim.sweep.space import enumerate_points
from archsim.sweep.spec import load_sweep
from archsim.sweep.store import read_results

REGISTRY = "a100-sxm4-80gb"
PATH = "devs/a100-half.yaml"


def write_device(folder: Path, bf16: str, fp16: str) -> Path:
    """The registry's A100 80GB with other dense bf16 / fp16 peaks."""
    data = yaml.safe_load(registry_path("devices", REGISTRY).read_text())
    data["peak"]["bf16"], data["peak"]["fp16"] = bf16, fp16
    data["name"] = "a100-half"
    path = folder / PATH
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def write_device_sweep(folder: Path, devices: list[str]) -> Path:
    path = folder / "sweep.yaml"
    data = sweep_mapping(axes={"hardware.device": devices, "plan.tp": [2]},
                         derived={"hardware.intra_node": "hardware.device.scale_up"})
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_a_device_path_axis_runs_like_simulate_set(tmp_path, monkeypatch):
    device = write_device(tmp_path, "156 TFLOPS", "156 TFLOPS")  # half of 312
    sweep = load_sweep(write_device_sweep(tmp_path, [REGISTRY, PATH]))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # relative paths are read from the sweep file's folder
    device.unlink()  # read once at load: the run needs the content, not the file
    run = run_sweep(sweep, tmp_path / "r.csv")
    assert (run.ran, run.feasible, run.failed) == (2, 2, 0)
    rows = read_results(tmp_path / "r.csv").set_index("hardware.device")
    assert list(rows.index) == [REGISTRY, PATH]  # the table holds the path as written
    # the derived key read scale_up from the file (the A100's NVLink 3)
    assert rows.loc[PATH, "hardware.intra_node"] == "nvlink3-nvswitch"

    write_device(tmp_path, "156 TFLOPS", "156 TFLOPS")
    direct = archsim.simulate(BASE, {"plan.tp": 2, "hardware.device": str(device),
                                     "hardware.intra_node": "nvlink3-nvswitch"})
    assert rows.loc[PATH, "step_time_s"] == direct["step_time_s"]
    # the same device at half the matmul peak cannot be faster
    assert rows.loc[PATH, "step_time_s"] > rows.loc[REGISTRY, "step_time_s"]


def hashes(path):
    return {p.values["hardware.device"]: p.hash for p in enumerate_points(load_sweep(path)).points}


def test_editing_the_device_file_changes_its_points_hash_and_resume_reruns_it(tmp_path):
    write_device(tmp_path, "156 TFLOPS", "156 TFLOPS")
    path = write_device_sweep(tmp_path, [REGISTRY, PATH])
    before = hashes(path)
    out = tmp_path / "r.csv"
    run_sweep(load_sweep(path), out)

    write_device(tmp_path, "200 TFLOPS", "200 TFLOPS")
    after = hashes(path)
    assert after[REGISTRY] == before[REGISTRY]
    assert after[PATH] != before[PATH]
    again = run_sweep(load_sweep(path), out, resume=True)
    assert (again.skipped, again.ran) == (1, 1)
    # the row computed from the old file is replaced, not kept beside the new one
    assert again.ignored == {"an earlier base scenario, profile or engine": 1}
    with out.open() as fh:
        assert fh.read().count("\n") == 3  # header + one row per point
    assert sorted(read_results(out)["hash"]) == sorted(after.values())
    assert list(read_results(out.with_name("r.bak.csv"))["hash"]) == [before[PATH]]


def test_a_missing_device_file_is_one_clear_line(tmp_path, capsys):
    path = write_device_sweep(tmp_path, [REGISTRY, "devs/missing.yaml"])
    message = (f"{path}: axes.hardware.device: no such file 'devs/missing.yaml' (looked for "
               f"{tmp_path / 'devs/missing.yaml'}); expected a device YAML file (a value ending "
               "in .yaml is a path, relative to the sweep file's folder) or a registry name "
               "such as ")
    with pytest.raises(SpecError, match=re.escape(message)):
        load_sweep(path)
    out = tmp_path / "r.csv"
    assert main(["sweep", str(path), "--out", str(out), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"archsim sweep: {message}")
    assert err.count("\n") == 1 and "Traceback" not in err and not out.exists()


def test_a_bad_device_file_names_the_file_and_field(tmp_path):
    device = write_device(tmp_path, "lots", "156 TFLOPS")
    path = write_device_sweep(tmp_path, [PATH])
    with pytest.raises(SpecError, match=re.escape(f"{path}: axes.hardware.device: {device}: "
                                                  "peak.bf16: ")):
        load_sweep(path)


def test_a_malformed_device_file_names_the_sweep_field_too(tmp_path, capsys):
    device = tmp_path / PATH
    device.parent.mkdir()
    device.write_text("name: [unclosed\n")
    path = write_device_sweep(tmp_path, [PATH])
    out = tmp_path / "r.csv"
    assert main(["sweep", str(path), "--out", str(out), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"archsim sweep: {path}: axes.hardware.device: {device}: malformed "
                          "YAML: line 2")
    assert err.count("\n") == 1 and "Traceback" not in err and not out.exists()


def test_calibration_overlays_on_an_axis_are_read_from_the_sweep_folder_at_load(tmp_path):
    """As profile files on axes are: a relative overlay path is the sweep file's folder's, and
    a missing one is exit 2 at load (it had failed every point, exit 0)."""
    import pytest

    from archsim.spec.errors import SpecError
    from archsim.sweep.spec import load_sweep

    (tmp_path / "mine.yaml").write_text("kind: insitu-calibration\n"
                                        "devices: {a100-sxm4-80gb: {insitu: {}}}\n")
    sweep = tmp_path / "s.yaml"
    sweep.write_text("name: s\nbase: llama2-7b-inference-a100\n"
                     "axes: {calibration: [mine.yaml, uncalibrated]}\n")
    axis = load_sweep(sweep).axes[0]
    assert axis.values == (str(tmp_path / "mine.yaml"), "uncalibrated")
    sweep.write_text("name: s\nbase: llama2-7b-inference-a100\n"
                     "axes: {calibration: [gone.yaml]}\n")
    with pytest.raises(SpecError) as err:
        load_sweep(sweep)
    (problem,) = err.value.problems
    assert problem.startswith(f"{sweep}: axes.calibration[0]: no such overlay file "
                              f"'{tmp_path / 'gone.yaml'}'")
