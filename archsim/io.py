"""Atomic file writes: a reader never sees a half-written result, report or trace.

A file is written as a temporary beside it, ``.<name>.<host>-<pid>-<random>.tmp``, then renamed
over the target. A process killed before the rename leaves that temporary behind; the next
write of the same target removes the leftovers of its own naming (:func:`clean_stale`): those of
a process of this host that is no longer running, and those of other hosts (or of older archsim
versions, without a host and pid) untouched for :data:`STALE_AFTER_S`.

A write that fails raises :class:`OutputError` (an ``OSError``) naming the target and the
operating system's reason; the CLI prints it as bad input (exit 2). :func:`replace_together`
writes several files so that none of them changes unless all were written.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

# A temporary of another host (or of an older archsim) counts as abandoned after a day
# untouched: no write takes that long, and its process cannot be checked from here.
STALE_AFTER_S = 24 * 3600


class OutputError(OSError):
    """An output could not be written: ``PATH: cannot write: REASON``."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: cannot write: {reason}")
        self.path = Path(path)
        self.reason = reason


def os_reason(exc: OSError) -> str:
    """The operating system's words for ``exc`` (``Permission denied``), else its text."""
    return exc.strerror or str(exc)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _host() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]


def temp_path(path: Path, suffix: str = ".tmp") -> Path:
    """A fresh temporary name beside ``path`` for this process (see the module notes)."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    tag = f"{_host()}-{os.getpid()}-{secrets.token_hex(4)}"
    return folder / f".{path.name}.{tag}{suffix}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def clean_stale(path: Path, suffixes: tuple[str, ...] = (".tmp",)) -> list[Path]:
    """Remove temporaries of ``path`` that a killed process left (see the module notes);
    returns what was removed. Never touches names of another pattern."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    ends = "|".join(re.escape(s) for s in suffixes)
    # ours: .<name>.<host>-<pid>-<8 hex>; older archsim: .<name>.<8 letters/digits/_>
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(?:([0-9a-f]{{6}})-(\d+)-[0-9a-f]{{8}}"
                         rf"|[a-z0-9_]{{8}})({ends})")
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    host, now = _host(), time.time()
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if m is None:
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        mine = m.group(1) == host and m.group(2) is not None
        if (mine and not _alive(int(m.group(2)))) or (not mine and age > STALE_AFTER_S):
            target = Path(entry.path)
            with contextlib.suppress(OSError):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(target)
                else:
                    target.unlink()
                removed.append(target)
    return removed


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename.

    The file gets the permissions a plain ``open(path, "w")`` would give (0666 less the
    umask), not the 0600 of a temporary file. Leftover temporaries of ``path`` from killed
    processes are removed first. :class:`OutputError` if it cannot be written.
    """
    path = Path(path)
    clean_stale(path)
    tmp = temp_path(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise OutputError(path, os_reason(exc)) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(path, os_reason(exc)) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`write_bytes_atomic`."""
    write_bytes_atomic(path, text.encode("utf-8"))


@contextlib.contextmanager
def replace_together(paths: Sequence[Path]) -> Iterator[list[Path]]:
    """Temporary paths beside ``paths`` to write the outputs to (with the writers above); when
    the block ends, each is renamed over its target: every output is written before any target
    is replaced. An error in the block removes the temporaries and replaces nothing; an
    :class:`OutputError` then names the target, not its temporary."""
    targets = [Path(p) for p in paths]
    temps = [temp_path(p) for p in targets]
    try:
        yield temps
        for tmp, path in zip(temps, targets, strict=True):
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise OutputError(path, os_reason(exc)) from exc
    except OutputError as exc:
        target = dict(zip(temps, targets, strict=True)).get(exc.path, exc.path)
        raise OutputError(target, exc.reason) from exc.__cause__
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
