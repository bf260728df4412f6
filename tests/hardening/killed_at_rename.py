"""``archsim ARGS`` killed (SIGKILL) at the moment it renames its finished temporary file or
folder into place: what a power cut or ``kill -9`` at the worst moment leaves behind.

    python killed_at_rename.py ARGS...
"""

from __future__ import annotations

import os
import signal
import sys

from archsim.cli import main


def _die(*_args, **_kwargs):
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    os.replace = _die
    os.rename = _die
    sys.exit(main(sys.argv[1:]))
