"""One writer per results table: an exclusive lock held while a sweep writes it.

The lock is ``flock`` on a file beside the table, ``.<name>.lock``, holding the writer's pid.
It is taken without waiting: a second sweep on the same ``--out`` is refused at once (SpecError
naming the table and the pid that holds it) instead of writing every row twice. The kernel
releases it when the writer exits, however it exits, so a killed sweep never leaves a table
locked; a clean release also removes the file. Worker processes forked while it is held close
their copy, so only the writer holds it.

Where ``fcntl`` is missing (Windows) tables are not locked.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from archsim.spec.errors import SpecError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_HELD: set[int] = set()
"""Descriptors of the locks this process holds (closed in forked children)."""


def _close_in_child() -> None:
    for fd in list(_HELD):
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_in_child)


def lock_path(table: Path) -> Path:
    table = Path(table)
    return table.with_name(f".{table.name}.lock")


class TableLock:
    """The exclusive lock on ``table``; :meth:`release` (or process exit) frees it."""

    def __init__(self, table: Path):
        self.table = Path(table)
        self.path = lock_path(self.table)
        self.fd = -1
        if fcntl is not None:
            self._acquire()

    def _acquire(self) -> None:
        for _ in range(8):  # the file may be removed by a releasing writer between open and lock
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise SpecError([f"{self.table}: cannot create the lock file {self.path}: "
                                 f"{exc.strerror or exc}"]) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _read_pid(fd)
                os.close(fd)
                who = f" (pid {holder})" if holder else ""
                raise SpecError([f"{self.table}: another archsim sweep{who} is writing this "
                                 "table; wait for it to finish, or use another --out"]) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                self.fd = fd
                _HELD.add(fd)
                return
            os.close(fd)
        raise SpecError([f"{self.table}: could not lock the table (its lock file keeps "
                         "changing); try again"])

    def release(self) -> None:
        if self.fd < 0:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        _HELD.discard(self.fd)
        os.close(self.fd)
        self.fd = -1


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
