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
