"""Refit a profile written by `archsim calibrate` from the raw records it keeps (no device).

    python scripts/refit_calibration.py PROFILE.yaml OUT.yaml

Run after a change to the fit (archsim/validate/fit.py, archsim/validate/overheads.py) to
re-derive a kept calibration, e.g. reports/validation/h200/same-host/calibrated.yaml, then
`archsim validate --measured` with it (archsim/validate/calibrate.py ``refit_profile``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from archsim.io import write_text_atomic
from archsim.validate.calibrate import profile_text, refit_profile


def main(src: str, dst: str) -> int:
    mapping, fit = refit_profile(yaml.safe_load(Path(src).read_text()))
    write_text_atomic(Path(dst), profile_text(mapping))
    for section, err in fit.errors.items():
        print(f"fit {section:12} MAPE {100 * err['mape']:6.1f}% over {err['records']} records")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
