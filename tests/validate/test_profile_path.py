"""A scenario may name a device profile file (what `archsim calibrate` writes) by its path."""

from __future__ import annotations

import pytest
import yaml

from archsim import load_scenario
from archsim.spec.errors import SpecError

PROFILE = {"kind": "cpu", "peak": {"fp32": "100 GFLOPS"},
           "memory": {"capacity": "16 GiB", "bandwidth": "20 GB/s"}, "tdp": "50 W",
           "devices_per_node": 1,
           "efficiency": {"memory": 1.0, "matmul": {"points": [[1e6, 0.5]]}}}


def _scenario(device):
    return {"model": {"layers": 2, "hidden": 64, "heads": 4, "vocab": 128},
            "hardware": {"device": device, "count": 1},
            "workload": {"kind": "training", "seq_len": 32, "global_batch": 1,
                         "dtype": "fp32"}}


def test_device_profile_by_path(tmp_path):
    path = tmp_path / "my-cpu.yaml"
    path.write_text(yaml.safe_dump(PROFILE))
    sc = load_scenario(_scenario(str(path)))
    assert sc.hardware.device.name == "my-cpu"  # the file's stem when the profile has none
    assert sc.hardware.device.peak["fp32"] == 100e9


def test_override_to_a_profile_path(tmp_path):
    path = tmp_path / "p.yml"
    path.write_text(yaml.safe_dump({**PROFILE, "name": "calibrated"}))
    sc = load_scenario(_scenario("cpu-generic"), [f"hardware.device={path}"])
    assert sc.hardware.device.name == "calibrated"


def test_missing_profile_file_is_named(tmp_path):
    missing = tmp_path / "gone.yaml"
    with pytest.raises(SpecError, match=rf"hardware.device: no such file '{missing}'"):
        load_scenario(_scenario(str(missing)))


def test_errors_in_a_profile_file_name_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**PROFILE, "tdp": 50}))
    with pytest.raises(SpecError, match=rf"{path}: tdp: a bare number 50 has no unit"):
        load_scenario(_scenario(str(path)))


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_scenario_reads_its_relative_paths_from_its_own_folder(tmp_path, monkeypatch):
    """As a sweep reads its profile paths from the sweep file's folder: a scenario in proj/
    naming `my-cpu.yaml` gets proj/my-cpu.yaml, wherever it is run from, even when the working
    directory holds another file of that name; a --set value is read from the working
    directory."""
    _write(tmp_path / "proj/my-cpu.yaml", {**PROFILE, "name": "beside-the-scenario"})
    _write(tmp_path / "my-cpu.yaml", {**PROFILE, "name": "in-the-working-directory"})
    _write(tmp_path / "other.yaml", {**PROFILE, "name": "from-set"})
    scenario = _write(tmp_path / "proj/scen.yaml", _scenario("my-cpu.yaml"))
    monkeypatch.chdir(tmp_path)
    assert load_scenario("proj/scen.yaml").hardware.device.name == "beside-the-scenario"
    monkeypatch.chdir(tmp_path / "proj")
    assert load_scenario("scen.yaml").hardware.device.name == "beside-the-scenario"
    monkeypatch.chdir(tmp_path)
    assert load_scenario(str(scenario), ["hardware.device=other.yaml"]).hardware.device.name \
        == "from-set"
    # not beside the scenario: read from the working directory, as before
    (tmp_path / "proj/my-cpu.yaml").unlink()
    assert load_scenario("proj/scen.yaml").hardware.device.name == "in-the-working-directory"
    (tmp_path / "my-cpu.yaml").unlink()
    # run from above the scenario, then from its own folder (named once)
    for where, scenario_path, looked in ((tmp_path, "proj/scen.yaml", "proj and the working "
                                          "directory"),
                                         (tmp_path / "proj", "scen.yaml", "the working directory")):
        monkeypatch.chdir(where)
        with pytest.raises(SpecError) as err:
            load_scenario(scenario_path)
        assert err.value.problems == [
            f"{scenario_path}: hardware.device: no such file 'my-cpu.yaml' (looked in {looked}; "
            "a value ending in .yaml is read as a file path; registry names have no extension)"]


def test_a_serving_trace_is_read_beside_its_scenario(tmp_path, monkeypatch):
    """A request trace named by a relative path is read from the scenario's folder: the
    three requests of proj/trace.csv, run from the folder above."""
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj/trace.csv").write_text(
        "arrival_s,prompt_len,gen_len\n0,16,4\n0.5,32,8\n1.0,8,2\n")
    _write(tmp_path / "proj/serve.yaml", {
        "model": "llama2-7b", "hardware": {"device": "a100-sxm4-80gb", "count": 1},
        "workload": {"kind": "serving",
                     "arrival": {"process": "trace", "trace_file": "trace.csv"}}})
    monkeypatch.chdir(tmp_path)
    from archsim.sim.serving.requests import generate_requests

    sc = load_scenario("proj/serve.yaml")
    assert sc.workload.arrival.trace_file == "proj/trace.csv"
    requests = generate_requests(sc.workload)
    assert [(r.arrival_s, r.prompt_len, r.gen_len) for r in requests] == [
        (0.0, 16, 4), (0.5, 32, 8), (1.0, 8, 2)]


def test_a_calibration_overlay_is_read_beside_its_scenario(tmp_path, monkeypatch):
    """`calibration: cal.yaml` in proj/scen.yaml is proj/cal.yaml: its one in-situ value (a
    fixed cost per step of 2 s, where the profile has none) lands in the device."""
    _write(tmp_path / "proj/my-cpu.yaml", {**PROFILE, "name": "my-cpu"})
    _write(tmp_path / "proj/cal.yaml", {"kind": "insitu-calibration", "devices": {
        "my-cpu": {"insitu": {"defaults": {"step_overhead": 2.0}}}}})
    _write(tmp_path / "proj/scen.yaml", {**_scenario("my-cpu.yaml"), "calibration": "cal.yaml"})
    monkeypatch.chdir(tmp_path)
    sc = load_scenario("proj/scen.yaml")
    assert sc.calibration == "proj/cal.yaml"
    assert sc.hardware.device.insitu.defaults["step_overhead"] == 2.0
