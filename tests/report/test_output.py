"""Writing the report folder: refuse an existing DIR unless --force, atomic replacement,
unwritable paths; nothing half-written on failure."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from archsim.cli import main
from archsim.report.output import MARKER, check_output_dir, write_folder_atomic
from archsim.spec.errors import SpecError

FILES = {"index.html": b"<html>new</html>", "report.md": b"# new\n", "a.png": b"png"}


def _leftovers(parent: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name not in keep)


def test_existing_folder_is_refused_without_force(tmp_path, capsys):
    out = tmp_path / "rep"
    out.mkdir()
    (out / "index.html").write_text("old")
    with pytest.raises(SpecError, match=r"rep: the output folder exists; pass --force to "
                                        r"replace it"):
        write_folder_atomic(out, FILES)
    assert (out / "index.html").read_text() == "old"
    # the CLI refuses before simulating anything
    assert main(["report", "no-such-scenario", "--out", str(out)]) == 2
    assert "the output folder exists; pass --force" in capsys.readouterr().err


def test_force_replaces_a_report_folder_completely(tmp_path):
    out = tmp_path / "rep"
    write_folder_atomic(out, {**FILES, "stale.png": b"old plot"})
    write_folder_atomic(out, FILES, force=True)
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "a.png", "index.html",
                                                     "report.md"]
    assert (out / "index.html").read_bytes() == FILES["index.html"]
    assert json.loads((out / MARKER).read_text())["files"] == ["a.png", "index.html",
                                                               "report.md"]
    assert _leftovers(tmp_path, {"rep"}) == []


def test_force_does_not_delete_a_folder_that_is_not_a_report(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("precious")
    with pytest.raises(SpecError, match=r"home: it was not written by archsim report \(no "
                                        r"readable \.archsim-report file in it\); not "
                                        r"replacing it even with --force"):
        write_folder_atomic(home, FILES, force=True)
    assert (home / "thesis.tex").read_text() == "precious"


def test_output_path_that_is_a_file_or_has_no_parent(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(SpecError, match=r"file: exists and is not a folder; choose another "
                                        r"--out"):
        check_output_dir(f, force=True)
    with pytest.raises(SpecError, match=r"missing/rep: folder .*missing does not exist"):
        check_output_dir(tmp_path / "missing" / "rep", force=False)


def test_unwritable_parent_folder(tmp_path, monkeypatch):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        if os.access(parent, os.W_OK):  # running as root: permissions do not stop root
            monkeypatch.setattr("archsim.report.output.os.access", lambda *a, **k: False)
        with pytest.raises(SpecError, match=r"ro/rep: folder .*ro is not writable"):
            check_output_dir(parent / "rep", force=False)
    finally:
        parent.chmod(0o755)


def test_write_failure_leaves_nothing_half_written(tmp_path, monkeypatch):
    out = tmp_path / "rep"
    write_folder_atomic(out, {"index.html": b"old"})
    real = Path.write_bytes
    calls = []

    def failing(self, data):
        calls.append(self.name)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", failing)
    with pytest.raises(SpecError, match=r"rep: cannot write the report: No space left on "
                                        r"device"):
        write_folder_atomic(out, FILES, force=True)
    monkeypatch.undo()
    assert (out / "index.html").read_text() == "old"  # the old report is untouched
    assert _leftovers(tmp_path, {"rep"}) == []  # the temporary folder is gone
