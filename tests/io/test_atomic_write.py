"""Atomic writes leave the whole file or nothing, with ordinary permissions."""

import os
import stat

import pytest

from archsim.io import write_text_atomic


def test_writes_whole_file_with_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = tmp_path / "r.json"
        write_text_atomic(path, "{}\n")
        assert path.read_text() == "{}\n"
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    finally:
        os.umask(old)


def test_failure_leaves_no_temporary_file(tmp_path, monkeypatch):
    def boom(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_text_atomic(tmp_path / "r.json", "x")
    assert list(tmp_path.iterdir()) == []
