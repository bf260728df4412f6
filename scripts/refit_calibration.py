"""Refit a profile written by `archsim calibrate` from the raw records it keeps (no device).

    python scripts/refit_calibration.py PROFILE.yaml OUT.yaml

Run after a change to the fit (archsim/validate/fit.py) to re-derive a kept calibration, e.g.
reports/validation/h200/same-host/calibrated.yaml, then `archsim validate --measured` with it.
The primary dtype is the first one the profile's grid measured (fp32 on CPU, bf16 on CUDA).
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from archsim.io import write_text_atomic
from archsim.spec.units import parse_quantity
from archsim.validate.calibrate import (
    BASE_FIELDS,
    build_spec,
    device_mapping,
    profile_text,
    with_overheads,
)
from archsim.validate.fit import fit_device


def main(src: str, dst: str) -> int:
    old = yaml.safe_load(Path(src).read_text())
    raw, info = old["calibration"]["raw"], old["calibration"]["info"]
    capacity = parse_quantity(old["memory"]["capacity"], "bytes")
    tdp = parse_quantity(old["tdp"], "power")
    primary = "fp32" if old["kind"] == "cpu" else "bf16"

    def build(fit):
        return build_spec(device_mapping(fit, name=old["name"], kind=old["kind"],
                                         capacity=capacity, tdp=tdp))

    fit = fit_device(raw, primary, build)
    mapping = device_mapping(fit, name=old["name"], kind=old["kind"], capacity=capacity,
                             tdp=tdp, info=info, raw=raw)
    mapping = with_overheads(mapping, raw, primary)
    for key in (*BASE_FIELDS, "source", "unverified"):
        if key in old:  # what --base supplied is not measured: keep it as written
            mapping[key] = old[key]
    if "reserved" in old["memory"]:
        mapping["memory"] = {**mapping["memory"], "reserved": old["memory"]["reserved"]}
    build_spec(mapping)
    write_text_atomic(Path(dst), profile_text(mapping))
    for section, err in fit.errors.items():
        print(f"fit {section:12} MAPE {100 * err['mape']:6.1f}% over {err['records']} records")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
