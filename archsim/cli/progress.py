"""One progress line on stderr, shared by the long-running commands.

On a terminal the line is redrawn in place (at most ten times a second, and always at the
end); elsewhere (a log file, CI) a line is written each tenth of the way, so logs stay short.
Two ways in: ``bar(done, total, what)`` for a sequence of steps (calibrate, validate) and
``bar.update(progress)`` for a sweep's :class:`archsim.sweep.runner.Progress` (rate, ETA,
feasible and failed counts).
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


class ProgressBar:
    def __init__(self, label: str = "", width: int = 24, stream: TextIO | None = None):
        self.label, self.width = label, width
        self.stream = stream if stream is not None else sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.perf_counter()
        self._last_draw = 0.0
        self._last_tenth = -1
        self._drawn = False

    def __call__(self, done: int, total: int, what: str) -> None:
        """Step ``done`` of ``total`` is under way, doing ``what``."""
        elapsed = time.perf_counter() - self.t0
        frac = done / total if total else 1.0
        eta = elapsed / frac - elapsed if frac > 0 else None
        self._draw(done, total, f"{clock(elapsed)} elapsed  ETA {clock(eta)}  {what[:40]}")

    def update(self, p: Any) -> None:
        """A sweep's progress: points done of total, rate, ETA, feasible and failed."""
        self._draw(p.done, p.total, f"{p.rate:7.1f} pt/s  ETA {clock(p.eta_s)}  "
                                    f"feasible {p.feasible}  failed {p.failed} ")

    def finish(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, done: int, total: int, tail: str) -> None:
        frac = done / total if total else 1.0
        final = done >= total
        if self.tty:
            now = time.monotonic()
            if not final and now - self._last_draw < 0.1:
                return
            self._last_draw = now
        elif int(frac * 10) == self._last_tenth and not final:
            return
        self._last_tenth = int(frac * 10)
        filled = int(frac * self.width)
        line = (f"{self.label + ' ' if self.label else ''}[{'#' * filled}"
                f"{'.' * (self.width - filled)}] {done}/{total} {100 * frac:5.1f}%  {tail}")
        self.stream.write("\r" + line.ljust(100) if self.tty else line + "\n")
        self.stream.flush()
        self._drawn = True


def clock(seconds: float | None) -> str:
    """``m:ss`` or ``h:mm:ss``; ``--:--`` when unknown."""
    if seconds is None:
        return "--:--"
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
