"""Atomic file writes: a reader never sees a half-written result, report or trace.

A file is written as a temporary beside it, ``.<name>.<host>-<pid>-<random>.tmp``, then renamed
over the target. A process killed before the rename leaves that temporary behind; the next
write of the same target removes the leftovers of its own naming (:func:`clean_stale`): those of
a process of this host that is no longer running, and those of other hosts (or of older archsim
versions, without a host and pid) untouched for :data:`STALE_AFTER_S`.
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
from pathlib import Path

# A temporary of another host (or of an older archsim) counts as abandoned after a day
# untouched: no write takes that long, and its process cannot be checked from here.
STALE_AFTER_S = 24 * 3600


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
    processes are removed first.
    """
    path = Path(path)
    clean_stale(path)
    tmp = temp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`write_bytes_atomic`."""
    write_bytes_atomic(path, text.encode("utf-8"))
