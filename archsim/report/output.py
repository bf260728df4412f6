"""Write a report folder atomically: build it in a temporary folder beside DIR, then rename.

An existing DIR is refused unless ``force``; with ``force`` it is replaced only when it looks
like a report (holds index.html or report.md, or is empty), so a mistyped ``--out ~`` cannot
delete a home folder. Replacing takes two renames (old DIR aside, new DIR in place): a reader
sees the old report or the new one, never a half-written one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path

from archsim.spec.errors import SpecError

REPORT_MARKERS = ("index.html", "report.md")


def check_output_dir(out: Path, force: bool) -> None:
    """SpecError unless ``out`` can be written (checked before any simulation runs)."""
    out = Path(out)
    parent = out.parent if str(out.parent) else Path(".")
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise SpecError([f"{out}: exists and is not a folder; choose another --out"])
        if not force:
            raise SpecError([f"{out}: the output folder exists; pass --force to replace it"])
        if any(out.iterdir()) and not any((out / m).is_file() for m in REPORT_MARKERS):
            raise SpecError([f"{out}: exists and does not look like a report (no "
                             f"{' or '.join(REPORT_MARKERS)}); not replacing it even with "
                             "--force"])
    if not parent.is_dir():
        raise SpecError([f"{out}: folder {parent} does not exist"])
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SpecError([f"{out}: folder {parent} is not writable"])


def write_folder_atomic(out: Path, files: Mapping[str, bytes], force: bool = False) -> None:
    """Write ``files`` (name → bytes, flat) as the folder ``out``."""
    out = Path(out)
    check_output_dir(out, force)
    parent = out.parent if str(out.parent) else Path(".")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent))
    except OSError as exc:
        raise SpecError([f"{out}: cannot write in {parent}: {exc.strerror or exc}"]) from None
    try:
        for name, data in files.items():
            if "/" in name or name in ("", ".", ".."):
                raise ValueError(f"report file name {name!r} is not a plain file name")
            (tmp / name).write_bytes(data)
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
    aside = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}.old"
    os.rename(out, aside)
    try:
        os.rename(tmp, out)
    except OSError:
        os.rename(aside, out)
        raise
    shutil.rmtree(aside, ignore_errors=True)
