"""`archsim calibrate` / `archsim validate`: bad input and a missing torch are exit 2 with one
clear line, never a traceback."""

from __future__ import annotations

import sys

import pytest

from archsim.cli import main
from archsim.validate.deps import INSTALL_LINE, require_torch


@pytest.fixture
def no_torch(monkeypatch):
    """Make ``import torch`` fail as it does where torch is not installed."""
    monkeypatch.setitem(sys.modules, "torch", None)


def test_missing_torch_names_the_install_line(no_torch):
    from archsim.spec.errors import SpecError

    with pytest.raises(SpecError, match=r'pip install "archsim\[torch\]"'):
        require_torch()
    assert "pip install torch==2.13.0" in INSTALL_LINE


@pytest.mark.parametrize("argv", [["calibrate", "--out", "p.yaml"], ["validate"]])
def test_commands_without_torch_exit_2_with_the_install_line(no_torch, argv, capsys,
                                                             tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"archsim {argv[0]}: PyTorch is not installed" in err
    assert 'pip install "archsim[torch]"' in err and "Traceback" not in err


def test_everything_else_works_without_torch(no_torch, capsys):
    assert main(["simulate", "--json"]) == 0
    assert '"feasible": true' in capsys.readouterr().out


def test_calibrate_rejects_a_non_yaml_output(tmp_path, capsys):
    pytest.importorskip("torch")
    assert main(["calibrate", "--device", "cpu", "--out", str(tmp_path / "p.txt")]) == 2
    assert "expected a .yaml file for the device profile" in capsys.readouterr().err


def test_calibrate_rejects_a_missing_folder(tmp_path, capsys):
    pytest.importorskip("torch")
    out = tmp_path / "nope" / "p.yaml"
    assert main(["calibrate", "--device", "cpu", "--out", str(out)]) == 2
    assert f"folder {tmp_path / 'nope'} does not exist" in capsys.readouterr().err
    assert not out.exists()


def test_validate_rejects_a_missing_profile(tmp_path, capsys):
    pytest.importorskip("torch")
    assert main(["validate", "--device", "cpu", "--profile", str(tmp_path / "p.yaml")]) == 2
    assert f"--profile {tmp_path / 'p.yaml'}: no such file" in capsys.readouterr().err


def test_validate_rejects_an_output_below_a_file_before_measuring(tmp_path, capsys):
    pytest.importorskip("torch")
    (tmp_path / "afile").write_text("")
    out = tmp_path / "afile" / "report"
    assert main(["validate", "--device", "cpu", "--out", str(out)]) == 2
    assert f"--out {out}: {tmp_path / 'afile'} is a file, not a folder" in \
        capsys.readouterr().err


def test_validate_rejects_a_profile_that_is_not_a_device(tmp_path, capsys):
    pytest.importorskip("torch")
    bad = tmp_path / "p.yaml"
    bad.write_text("name: x\nkind: cpu\npeak: {fp32: 100}\n")
    assert main(["validate", "--device", "cpu", "--profile", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: peak.fp32: a bare number 100 has no unit" in err
    assert f"{bad}: memory: required field is missing" in err


def test_cuda_without_a_gpu_is_a_clear_error(capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    assert main(["validate", "--device", "cuda", "--quick"]) == 2
    assert "--device cuda: no CUDA device is visible to PyTorch" in capsys.readouterr().err


def test_bad_repeats_and_threads(capsys):
    pytest.importorskip("torch")
    assert main(["validate", "--repeats", "0"]) == 2
    assert "--repeats 0: expected at least 1" in capsys.readouterr().err
    assert main(["validate", "--rounds", "0"]) == 2
    assert "--rounds 0: expected at least 1" in capsys.readouterr().err
    assert main(["calibrate", "--out", "x.yaml", "--threads", "0"]) == 2
    assert "--threads 0: expected a positive number of threads" in capsys.readouterr().err
