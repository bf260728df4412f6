"""Registry of named specs: hardware_profiles/ and workloads/ folders, by kind and name.

The folders are found, in order: under ``$ARCHSIM_DATA`` (a folder holding
``hardware_profiles/`` and ``workloads/``), beside the package in a source checkout, and inside
the installed package (``archsim/_data``) when installed from a wheel.
"""

from __future__ import annotations

import difflib
import os
import re
from functools import lru_cache
from pathlib import Path

from archsim.spec.errors import SpecError
from archsim.spec.yamlio import parse_yaml_text, read_yaml

__all__ = ["KINDS", "closest_names", "data_roots", "kind_folders", "list_names",
           "load_registry_mapping", "parse_yaml_text", "read_yaml", "registry_path"]

KINDS: dict[str, tuple[str, str]] = {
    "devices": ("hardware_profiles", "devices"),
    "interconnects": ("hardware_profiles", "interconnects"),
    "clusters": ("hardware_profiles", "clusters"),
    "storage": ("hardware_profiles", "storage"),
    "models": ("workloads", "models"),
    "scenarios": ("workloads", "scenarios"),
    "sweeps": ("workloads", "sweeps"),
}

_SINGULAR = {"devices": "device", "interconnects": "interconnect", "clusters": "cluster",
             "storage": "storage profile", "models": "model", "scenarios": "scenario",
             "sweeps": "sweep"}


def data_roots() -> list[Path]:
    """Folders that may hold ``hardware_profiles/`` and ``workloads/``, most specific first."""
    roots = []
    env = os.environ.get("ARCHSIM_DATA")
    if env:
        roots.append(Path(env))
    package = Path(__file__).resolve().parent.parent
    roots.append(package.parent)  # source checkout / editable install
    roots.append(package / "_data")  # wheel
    return [r for r in roots if (r / "hardware_profiles").is_dir() or (r / "workloads").is_dir()]


def kind_folders(kind: str) -> list[Path]:
    top, sub = KINDS[kind]
    return [root / top / sub for root in data_roots() if (root / top / sub).is_dir()]


def list_names(kind: str) -> list[str]:
    """Sorted registry names of ``kind`` (file stems)."""
    names: set[str] = set()
    for folder in kind_folders(kind):
        names.update(p.stem for p in folder.glob("*.yaml"))
    return sorted(names)


def closest_names(kind: str, name: str, n: int = 3) -> list[str]:
    names = list_names(kind)
    low = name.lower()

    def rank(candidate: str) -> tuple[int, float]:
        c = candidate.lower()
        tier = 0 if c.startswith(low) else 1 if low in c else 2
        return tier, -difflib.SequenceMatcher(None, low, c).ratio()

    similar = set(difflib.get_close_matches(name, names, n=n, cutoff=0.5))
    pool = [c for c in names if low in c.lower() or c in similar]
    return sorted(pool, key=rank)[:n]


# A registry name: letters, digits and . _ + - (no folder separators, no leading dot), so a
# name can only ever pick a file inside the registry folders.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def registry_path(kind: str, name: str) -> Path:
    """Path of the registry file ``name`` of ``kind``; SpecError with the closest names if none.

    A name is letters, digits and ``. _ + -``; anything else (``../x``, ``/tmp/x``) is refused
    rather than looked up: only a value ending in .yaml is read as a file path (by the callers).
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise SpecError([f"{name!r} is not a {_SINGULAR[kind]} name (letters, digits and "
                         ". _ + - only); a file outside the registry is given by a path ending "
                         "in .yaml"])
    for folder in kind_folders(kind):
        path = folder / f"{name}.yaml"
        if path.is_file():
            return path
    close = closest_names(kind, name)
    hint = f"; closest: {', '.join(close)}" if close else ""
    raise SpecError([f"unknown {_SINGULAR[kind]} {name!r}{hint} "
                     f"(see `archsim list {kind}`)"])


@lru_cache(maxsize=512)
def _load_registry_cached(kind: str, name: str) -> tuple[dict, str]:
    path = registry_path(kind, name)
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise SpecError([f"{path}: expected a mapping of fields, got {type(data).__name__}"])
    return data, str(path)


def load_registry_mapping(kind: str, name: str) -> tuple[dict, str]:
    """The raw mapping of a registry entry and the file it came from (a fresh copy)."""
    import copy

    data, path = _load_registry_cached(kind, name)
    return copy.deepcopy(data), path
