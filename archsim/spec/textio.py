"""Reading a user's text file (a scenario, profile, sweep, trace or length file) as UTF-8.

Whatever the bytes, the answer is the text or a SpecError naming the file and what is wrong
with it: a folder, missing, unreadable, larger than the limit, binary, UTF-16 or another
non-UTF-8 encoding (with the line and column of the first bad byte). A UTF-8 byte-order mark
is dropped.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import BinaryIO

from archsim.spec.errors import SpecError

# Largest spec file (scenario, profile, sweep, model) read: shipped ones are under 10 kB, so
# 64 MiB only refuses what is not a spec (a log, a dump, a disk image); reading it costs
# about 4 s with the C YAML parser before the value limits of archsim/spec/yamlio.py apply.
MAX_SPEC_BYTES = 64 * 2**20


def _size_text(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n:,} bytes"


def _where(data: bytes, offset: int) -> str:
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


def decode_text(data: bytes, source: str) -> str:
    """``data`` as UTF-8 text; SpecError naming ``source`` for binary or other encodings."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or (
            len(data) >= 2 and (data[0] == 0) != (data[1] == 0)):
        raise SpecError([f"{source}: is UTF-16 text; save it as UTF-8"])
    if b"\x00" in data:
        at = data.index(b"\x00")
        raise SpecError([f"{source}: is a binary file (a NUL byte at {_where(data, at)}), "
                         "not text; expected a UTF-8 text file"])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = data[exc.start:exc.start + 1].hex()
        raise SpecError([f"{source}: is not UTF-8 text (byte 0x{bad} at "
                         f"{_where(data, exc.start)}); save it as UTF-8"]) from None


def _read_at_most(fh: BinaryIO, size: int, chunk: int = 2**20) -> bytes:
    """At most ``size`` bytes of ``fh``, read a MiB at a time: ``fh.read(size)`` allocates
    ``size`` bytes up front, 64 MiB for every few-hundred-byte scenario."""
    parts: list[bytes] = []
    left = size
    while left > 0:
        part = fh.read(min(chunk, left))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def read_text(path: Path, limit: int = MAX_SPEC_BYTES, what: str = "file",
              source: str | None = None) -> str:
    """The UTF-8 text of ``path`` (at most ``limit`` bytes); SpecError otherwise.

    ``what`` names the kind of file in messages; ``source`` (default: the path) prefixes them.
    """
    path = Path(path)
    label = source or str(path)
    if path.is_dir():
        raise SpecError([f"{label}: is a folder; expected a {what}"])
    try:
        with open(path, "rb") as fh:
            data = _read_at_most(fh, limit + 1)
    except FileNotFoundError:
        raise SpecError([f"{label}: no such {what}"]) from None
    except OSError as exc:
        raise SpecError([f"{label}: cannot read: {exc.strerror or exc}"]) from None
    if len(data) > limit:
        raise SpecError([f"{label}: is larger than {_size_text(limit)}, the most archsim reads "
                         f"as a {what}"])
    return decode_text(data, label)
