"""Profiles a sweep names by path: ``hardware.device: [devs/a100-tuned.yaml, h100-sxm5-80gb]``.

A value of a key that names a registry entry (``REGISTRY_KEYS`` in archsim/sweep/axes.py) that
ends in ``.yaml`` or ``.yml`` is a file path, as in ``archsim simulate --set
hardware.device=dev.yaml`` (archsim/spec/loader.py). A relative path is read from the sweep
file's folder (from the working directory for a sweep given as a mapping). The file is read and
checked once, when the sweep is loaded; the point's hash covers its content (so editing the
file re-runs the point on ``--resume``) and workers get that content rather than the path (so
a Dask worker on another machine needs no copy, and a file edited mid-sweep cannot make rows
disagree with their hashes). The table's column holds the path as written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from archsim.spec.errors import SpecError
from archsim.spec.loader import load_spec_file
from archsim.spec.registry import list_names, read_yaml


def is_path_value(value: Any) -> bool:
    """Whether a registry key's value is a file path rather than a registry name."""
    return isinstance(value, str) and value.endswith((".yaml", ".yml"))


def read_profile(kind: str, value: str, folder: Path | None, where: str) -> dict[str, Any]:
    """The mapping in the profile file ``value`` of registry ``kind`` (devices, models, ...),
    checked against its spec; ``where`` (``"sweep.yaml: axes.hardware.device"``) prefixes
    every problem. Raises SpecError."""
    path = Path(value).expanduser()
    if folder is not None and not path.is_absolute():
        path = folder / path
    singular = kind.removesuffix("s")
    if not path.is_file():
        names = list_names(kind)
        example = f" such as {names[0]}" if names else ""
        relative = "the sweep file's folder" if folder is not None else "the working directory"
        raise SpecError([f"{where}: no such file {value!r} (looked for {path}); expected a "
                         f"{singular} YAML file (a value ending in .yaml is a path, relative to "
                         f"{relative}) or a registry name{example}"])
    try:
        data = read_yaml(path)
    except SpecError as exc:
        raise SpecError([f"{where}: {p}" for p in exc.problems]) from None
    if not isinstance(data, dict):
        raise SpecError([f"{where}: {path}: expected a mapping of {singular} fields, got "
                         f"{type(data).__name__}"])
    try:
        load_spec_file(kind, path)
    except SpecError as exc:
        raise SpecError([f"{where}: {p}" for p in exc.problems]) from None
    data.setdefault("name", path.stem)
    return data
