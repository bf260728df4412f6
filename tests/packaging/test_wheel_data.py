"""Profiles, models and scenarios are found from a checkout and from an installed wheel."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from archsim.spec import registry

ROOT = Path(__file__).parents[2]


def test_checkout_roots_hold_the_registry():
    assert "a100-sxm4-80gb" in registry.list_names("devices")
    assert "gpt3-175b" in registry.list_names("models")


def test_archsim_data_env_var_takes_precedence(tmp_path, monkeypatch):
    (tmp_path / "workloads" / "models").mkdir(parents=True)
    shutil.copy(ROOT / "workloads" / "models" / "gpt3-1.7b.yaml",
                tmp_path / "workloads" / "models" / "my-model.yaml")
    monkeypatch.setenv("ARCHSIM_DATA", str(tmp_path))
    assert registry.data_roots()[0] == tmp_path
    assert "my-model" in registry.list_names("models")


def test_wheel_ships_the_data_folders(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps",
                           "--no-build-isolation", "-q", "-w", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.fail(proc.stderr[-2000:])
    (wheel,) = tmp_path.glob("archsim-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in ("archsim/_data/hardware_profiles/devices/a100-sxm4-80gb.yaml",
                 "archsim/_data/hardware_profiles/interconnects/ib-hdr-200g.yaml",
                 "archsim/_data/workloads/models/gpt3-175b.yaml",
                 "archsim/_data/reference/megatron_weak_scaling.csv"):
        assert path in names
