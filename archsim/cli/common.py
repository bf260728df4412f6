"""Helpers shared by CLI commands."""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from archsim.io import os_reason, temp_path
from archsim.spec.errors import SpecError
from archsim.spec.errors import plural as plural  # the commands' counts, shared with spec

if TYPE_CHECKING:
    from archsim.spec.scenario import ScenarioSpec


def check_writable(path: Path) -> None:
    """SpecError unless ``path`` can be created: its folder exists and a file can be made in
    it (tried with a temporary file, created and removed: ``os.access`` says yes to root on a
    read-only file system)."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise SpecError([f"{path}: is a folder; expected a file path"])
    if not folder.is_dir():
        existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if existing is not None and not existing.is_dir():
            raise SpecError([f"{path}: {existing} is a file, not a folder"])
        raise SpecError([f"{path}: folder {folder} does not exist"])
    probe_folder(folder, str(path))


def probe_folder(folder: Path, label: str) -> None:
    """SpecError (``LABEL: folder F is not writable: REASON``) unless a file can be created
    in the existing ``folder``; tried, then removed."""
    probe = temp_path(folder / "archsim-probe")
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        # a folder that exists yet answers "no such file" (/proc, /sys) takes no new files
        reason = ("its file system does not take new files" if exc.errno == errno.ENOENT
                  and folder.is_dir() else os_reason(exc))
        raise SpecError([f"{label}: folder {folder} is not writable: {reason}"]) from None
    probe.unlink(missing_ok=True)


def check_outputs(outputs: Mapping[str, Path], reads: Mapping[str, Path | None]) -> None:
    """SpecError unless every output (``--out`` → path) can be written, no two of them name
    the same file and none names an input (``the scenario`` → path) that the command reads;
    checked before any work."""
    seen: dict[str, Path] = {}
    for flag, path in outputs.items():
        if str(path) == "-":  # it had written a file named "-"
            raise SpecError([f"{flag} -: expected a file path; standard output is not an "
                             "output file here (simulate, plan and capacity print JSON there "
                             "with --json)"])
        for other, earlier in seen.items():
            if same_file(path, earlier):
                raise SpecError([f"{other} and {flag} name the same file ({path})"])
        for what, source in reads.items():
            if source is not None and same_file(path, source):
                raise SpecError([f"{flag} {path} is {what} being read"])
        seen[flag] = path
    for path in outputs.values():
        check_writable(path)


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file (after links and ``..``; hard links too)."""
    if Path(a).resolve() == Path(b).resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def load_cli_scenario(source: str | None, overrides: Sequence[str]) -> ScenarioSpec:
    """``load_scenario(source, overrides)``, named after its file (``llama.yaml`` → ``llama``)
    when neither the file nor a ``--set`` gives a ``name`` (the default, ``scenario``, says
    nothing)."""
    from archsim.spec.loader import load_scenario

    sc = load_scenario(source, list(overrides))
    file = scenario_file(source)
    if file is not None and "name" not in sc.model_fields_set:
        sc = sc.model_copy(update={"name": file.stem})
    return sc


def scenario_file(source: str | None) -> Path | None:
    """The file ``load_scenario(source)`` reads: a path, or a registry scenario's file;
    None for the embedded default or a name that is not there."""
    if source is None:
        return None
    if Path(source).is_file():
        return Path(source)
    from archsim.spec.registry import list_names, registry_path

    return registry_path("scenarios", source) if source in list_names("scenarios") else None


def check_devices(names: Sequence[str], flag: str = "--devices") -> None:
    """SpecError, each problem after ``FLAG:``, unless every name is a device profile (a
    registry name or a YAML path); checked before any work."""
    from archsim.spec.loader import load_spec_file

    problems: list[str] = []
    for name in names:
        try:
            load_spec_file("devices", name)
        except SpecError as exc:
            problems += [f"{flag}: {p}" for p in exc.problems]
    if problems:
        raise SpecError(problems)
