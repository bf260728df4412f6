"""``archsim sweep ARGS`` whose points each take 0.4 s more, so that a test can kill it, or start
a second sweep, while its worker processes are busy.

    python slow_sweep.py SWEEP_ARGS...
"""

from __future__ import annotations

import sys
import time

from archsim.cli import main
from archsim.sweep import worker

_run_point = worker.run_point


def _slow_point(ctx, point):
    time.sleep(0.4)
    return _run_point(ctx, point)


if __name__ == "__main__":
    worker.run_point = _slow_point  # forked workers inherit it
    sys.exit(main(["sweep", *sys.argv[1:]]))
