"""Write reports/validation/cpu-intel/read_scale_ablation.md: the CPU validation with and without
the weight-read scale (``insitu.inference_weight_read_scale_by_pass_bytes``), on both machines
this project's CPU runs were measured on.

Nothing is measured or fitted to validation here: each machine's kept calibration is fitted
again from its own raw records with the current code (archsim/validate/calibrate.py
``refit_profile``; the streaming benchmark's records give the scale), and every measurement
set of that machine is predicted again (archsim/validate/rescore.py, as ``archsim validate
--measured``) with that profile and with the same profile less the scale.

* AMD EPYC VM (32 MiB L3 per the streaming records' cache behaviour): the profile calibrated
  2026-12-05 09:19 and the eight measurement sets of that day (scripts/cpu_streaming_ablation.py).
* Intel Xeon VM (300 MiB L3 reported): the calibration of 2026-12-05 16:24 and its validation
  run, which exposed the cold-cache GEMM benchmark (reports/validation/cpu-intel/first-run/),
  and the calibration of 16:38 with the committed run (reports/validation/cpu-intel/).

Needs no torch; a few seconds.
"""

from __future__ import annotations

import copy
from pathlib import Path

from cpu_streaming_ablation import SETS, mape

from archsim.io import write_text_atomic
from archsim.validate.calibrate import refit_profile
from archsim.validate.rescore import read_report, rescore
from archsim.validate.suite import load_profile

ROOT = Path(__file__).resolve().parents[1]
AMD = ROOT / "reports/validation/cpu/cpu-local-example.yaml"
INTEL = ROOT / "reports/validation/cpu-intel"
OUT = INTEL / "read_scale_ablation.md"
SCALE = "inference_weight_read_scale_by_pass_bytes"
MACHINES = [  # (machine, its kept calibration, {measurement set: validation.json})
    ("AMD EPYC", AMD, SETS),
    ("Intel Xeon", INTEL / "first-run/cpu-local-intel-example.yaml",
     {"16:27 (first run, its own calibration of 16:24)": INTEL / "first-run/validation.json"}),
    ("Intel Xeon", INTEL / "cpu-local-intel-example.yaml",
     {"16:44 (committed, its own calibration of 16:38)": INTEL / "validation.json",
      "16:57 (the same calibration; machine drifted)": INTEL / "measured-2026-12-05/1657.json"}),
    ("Intel Xeon", INTEL / "second-pair/cpu-local-intel-example.yaml",
     {"17:02 (its own calibration of 16:58)": INTEL / "second-pair/validation.json"}),
    ("Intel Xeon", INTEL / "third-pair/cpu-local-intel-example.yaml",
     {"17:16 (its own calibration of 17:11; the full-validation test)":
      INTEL / "third-pair/validation.json"}),
]


def without_scale(profile: dict) -> dict:
    out = copy.deepcopy(profile)
    out["insitu"].pop(SCALE, None)
    out["insitu"]["sources"].pop(SCALE, None)
    return out


def main() -> None:
    bullets: list[str] = []
    rows: list[str] = []
    head = ["# The CPU validation with and without the weight-read scale", "",
             "Written by `python scripts/cpu_read_scale_ablation.py`: each machine's kept "
             "calibration fitted again from its own raw records with the current code, and every "
             "measurement set of that machine predicted again with it, with and without "
             f"`insitu.{SCALE}` (nothing re-measured; nothing fitted to these measurements). "
             "MAPE in %, as in reports/validation/cpu/streaming_ablation.md.", ""]
    for machine, profile_path, sets in MACHINES:
        with_scale, _ = refit_profile(load_profile(profile_path))
        curve = with_scale["insitu"].get(SCALE)
        shown = ", ".join(f"{f:.2f} at {b / 1e6:.0f} MB" for b, f in curve or [])
        bullets.append(f"* {machine} ({profile_path.relative_to(ROOT)}): read scale "
                       f"{shown or 'none'}.")
        for label, path in sets.items():
            measured = read_report(path)
            for name, prof in (("with", with_scale), ("without", without_scale(with_scale))):
                again = rescore(measured, prof, f"{profile_path.name}, {name} scale",
                                source=str(path))
                m = mape(again)
                rows.append(f"| {machine} | {label} | {name} | "
                             f"{100 * again['summary']['e2e_mape']:.1f} | {m['all']:.1f} | "
                             f"{m['step_time_s']:.1f} | {m['e2e_latency_s']:.1f} | "
                             f"{m['ttft_s']:.1f} | {m['tpot_s']:.1f} |")
    lines = [*head, *bullets, "",
             "| machine | measured | read scale | end-to-end | every metric | training "
             "| inference | TTFT | TPOT |", "|---|---|---|---:|---:|---:|---:|---:|---:|",
             *rows, ""]
    write_text_atomic(OUT, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
