"""Helpers shared by CLI commands."""

from __future__ import annotations

import os
from pathlib import Path

from archsim.spec.errors import SpecError


def check_writable(path: Path) -> None:
    """SpecError unless ``path`` can be created (its folder exists and is writable)."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise SpecError([f"{path}: is a folder; expected a file path"])
    if not folder.is_dir():
        raise SpecError([f"{path}: folder {folder} does not exist"])
    if not os.access(folder, os.W_OK):
        raise SpecError([f"{path}: folder {folder} is not writable"])
