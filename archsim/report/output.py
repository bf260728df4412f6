"""Write a report folder atomically: build it in a temporary folder beside DIR, then rename.

An existing DIR is refused unless ``force``; with ``force`` it is replaced only when archsim
wrote it: it holds the marker file :data:`MARKER` (the names of the files archsim wrote) and
nothing else but those files, or it is empty. So ``--out website --force`` cannot delete a
folder that merely holds an ``index.html`` beside the user's own files. Replacing takes two
renames (old DIR aside, new DIR in place): a reader sees the old report or the new one, never a
half-written one. Temporary folders that a killed run left beside DIR (``.DIR.<host>-<pid>-
<random>.tmp`` and ``.old``) are removed by the next run (archsim/io.py).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from archsim.io import clean_stale, temp_path
from archsim.spec.errors import SpecError

MARKER = ".archsim-report"
"""Written into every report folder: JSON with the names of the files archsim wrote there."""


def _written_by_archsim(out: Path) -> str | None:
    """Why ``out`` (an existing folder) may not be replaced, or None if archsim wrote it."""
    entries = sorted(os.scandir(out), key=lambda e: e.name)
    if not entries:
        return None
    marker = out / MARKER
    try:
        listed = json.loads(marker.read_text(encoding="utf-8"))["files"]
        if not isinstance(listed, list):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError):
        return f"it was not written by archsim report (no readable {MARKER} file in it)"
    others = [e.name + ("/" if e.is_dir(follow_symlinks=False) else "") for e in entries
              if e.name != MARKER and (e.name not in listed
                                       or not e.is_file(follow_symlinks=False))]
    if others:
        shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
        return f"it holds files archsim did not write ({shown})"
    return None


def check_output_dir(out: Path, force: bool) -> None:
    """SpecError unless ``out`` can be written (checked before any simulation runs; the
    CLI also tries a file in its folder, which ``os.access`` does not for root)."""
    out = Path(out)
    parent = out.parent if str(out.parent) else Path(".")
    if out.exists() or out.is_symlink():
        if out.is_symlink() or not out.is_dir():
            raise SpecError([f"{out}: exists and is not a folder; choose another --out"])
        if not force:
            raise SpecError([f"{out}: the output folder exists; pass --force to replace it"])
        why = _written_by_archsim(out)
        if why:
            raise SpecError([f"{out}: {why}; not replacing it even with --force (choose "
                             "another --out)"])
    if not parent.is_dir():
        existing = next((p for p in (parent, *parent.parents) if p.exists()), None)
        if existing is not None and not existing.is_dir():
            raise SpecError([f"{out}: {existing} is a file, not a folder"])
        raise SpecError([f"{out}: folder {parent} does not exist"])
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SpecError([f"{out}: folder {parent} is not writable"])


def write_folder_atomic(out: Path, files: Mapping[str, bytes], force: bool = False) -> None:
    """Write ``files`` (name → bytes, flat) and the marker as the folder ``out``."""
    out = Path(out)
    check_output_dir(out, force)
    parent = out.parent if str(out.parent) else Path(".")
    clean_stale(out, (".tmp", ".old"))
    tmp = temp_path(out)
    try:
        tmp.mkdir(mode=0o700)
    except OSError as exc:
        raise SpecError([f"{out}: cannot write in {parent}: {exc.strerror or exc}"]) from None
    try:
        for name, data in files.items():
            if "/" in name or name in ("", ".", "..", MARKER):
                raise ValueError(f"report file name {name!r} is not a plain file name")
            (tmp / name).write_bytes(data)
        marker = {"written_by": "archsim report", "files": sorted(files)}
        (tmp / MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")
        tmp.chmod(0o755)
        _move_into_place(tmp, out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SpecError([f"{out}: cannot write the report: {exc.strerror or exc}"]) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _move_into_place(tmp: Path, out: Path) -> None:
    if not out.exists():
        os.rename(tmp, out)
        return
    aside = temp_path(out, ".old")
    os.rename(out, aside)
    try:
        os.rename(tmp, out)
    except OSError:
        os.rename(aside, out)
        raise
    shutil.rmtree(aside, ignore_errors=True)
