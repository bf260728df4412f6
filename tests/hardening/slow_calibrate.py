"""``archsim calibrate ARGS`` whose cross-validation folds each sleep a minute first, so that a
test can kill or terminate it while its fold workers are busy.

    python slow_calibrate.py CALIBRATE_ARGS...
"""

from __future__ import annotations

import sys
import time

from archsim.cli import main
from archsim.insitu import crossval

_held_out = crossval.held_out


def _slow_held_out(*args, **kwargs):
    time.sleep(60)
    return _held_out(*args, **kwargs)


if __name__ == "__main__":
    crossval.held_out = _slow_held_out  # forked workers inherit it
    sys.exit(main(["calibrate", *sys.argv[1:]]))
