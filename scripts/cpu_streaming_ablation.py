"""Write reports/validation/cpu/streaming_ablation.md: the CPU validation's error with and
without the streaming curve (``insitu.inference_op_overhead_by_pass_bytes``), on every set of
CPU measurements taken on 2026-12-05, and with the calibration taken before the curve existed.

Nothing is measured or fitted here: each set's measurements are predicted again
(archsim/validate/rescore.py, as ``archsim validate --measured``) with three profiles:

* ``final``: reports/validation/cpu/cpu-local-example.yaml (calibrated 09:19 UTC);
* ``final, no curve``: the same profile without the curve (every op keeps
  ``inference_kernel_overhead``);
* ``05:29 calibration``: the profile of before-streaming-2026-12-05/ (no curve; its
  micro-benchmarks measured a 4–17% slower machine: GEMM peak 4%, copy bandwidth 13%, elementwise
  efficiency 17%).

Needs no torch; a few seconds.
"""

from __future__ import annotations

import copy
import statistics
from pathlib import Path

from archsim.io import write_text_atomic
from archsim.validate.drift import drift_line
from archsim.validate.rescore import read_report, rescore
from archsim.validate.suite import load_profile

ROOT = Path(__file__).resolve().parents[1]
CPU = ROOT / "reports/validation/cpu"
OUT = CPU / "streaming_ablation.md"
CURVE = "inference_op_overhead_by_pass_bytes"
SETS = {  # measurement set → its validation.json (every CPU validate run of 2026-12-05)
    "05:33 (committed before the curve)": CPU / "before-streaming-2026-12-05/validation.json",
    "08:33 (rerun)": CPU / "rerun-2026-12-05/validation.json",
    "09:05": CPU / "measured-2026-12-05/0905.json",
    "09:23": CPU / "measured-2026-12-05/0923.json",
    "12:19": CPU / "measured-2026-12-05/1219.json",
    "13:02": CPU / "measured-2026-12-05/1302.json",
    "13:05": CPU / "measured-2026-12-05/1305.json",
    "13:20 (the committed report)": CPU / "validation.json",
}


def profiles() -> dict[str, dict]:
    final = load_profile(CPU / "cpu-local-example.yaml")
    no_curve = copy.deepcopy(final)
    no_curve["insitu"].pop(CURVE)
    no_curve["insitu"]["sources"].pop(CURVE)
    return {"final": final, "final, no curve": no_curve,
            "05:29 calibration": load_profile(
                CPU / "before-streaming-2026-12-05/cpu-local-example.yaml")}


def mape(report: dict) -> dict[str, float]:
    """Mean |error| (%) of every end-to-end metric, of training steps, of inference end-to-end
    latency, TTFT and TPOT."""
    groups: dict[str, list[float]] = {"all": []}
    for case in report["cases"]:
        for metric, error in case["errors"].items():
            groups["all"].append(abs(error))
            groups.setdefault(metric, []).append(abs(error))
    return {k: 100 * statistics.fmean(v) for k, v in groups.items() if v}


def main() -> None:
    lines = ["# The CPU validation with and without the streaming curve",
             "",
             "Written by `python scripts/cpu_streaming_ablation.py`: every CPU `archsim validate` "
             "measurement set of 2026-12-05 predicted again with three profiles (nothing "
             "re-measured, nothing fitted to these measurements). MAPE in %; 'end-to-end' is "
             "the suite's headline number (each case's step time or end-to-end latency), "
             "'every metric' adds TTFT and TPOT, 'inference' is the inference cases' "
             "end-to-end latency.",
             "",
             "| measured (UTC) | profile | end-to-end | every metric | training | inference | TTFT "
             "| TPOT |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    drifts = []
    profs = profiles()
    for label, path in SETS.items():
        measured = read_report(path)
        if measured.get("machine_drift", {}).get("rows"):
            drifts.append((label, drift_line(measured["machine_drift"])))
        for name, prof in profs.items():
            again = rescore(measured, prof, name, source=str(path))
            m = mape(again)
            lines.append(f"| {label} | {name} | {100 * again['summary']['e2e_mape']:.1f} | "
                         f"{m['all']:.1f} | {m['step_time_s']:.1f} | "
                         f"{m['e2e_latency_s']:.1f} | {m['ttft_s']:.1f} | {m['tpot_s']:.1f} |")
    lines += ["",
              "The curve is the difference between the first two rows of each set (one "
              "calibration, with and without it). The third row is the calibration of the "
              "same machine four hours earlier: its micro-benchmarks ran slower, which its "
              "predictions carry into every case.",
              "",
              "The runs made after `archsim validate` learned to time the profile's own "
              "calibration records again around its cases (archsim/validate/drift.py; ratio "
              "now / at the 09:19 calibration):",
              ""]
    lines += [f"* {label}: {line}" for label, line in drifts]
    lines.append("")
    write_text_atomic(OUT, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
