"""Write reports/validation/cpu-m167/causal_skip_ablation.md: the CPU validation with and
without the measured causal skip (``efficiency.causal_skip``: how much of the causal mask's
masked work PyTorch's CPU attention kernel skips, by query length).

Nothing is measured or fitted to validation here: each machine's kept calibration is fitted
again from its own raw records with the current code (archsim/validate/calibrate.py
``refit_profile``), once as it is and once with the causal skip left out (the attention curve
and the in-model costs then fitted as the previous code did, with the op graph's halved work
for every causal record), and every measurement set of that machine is predicted again with
both (archsim/validate/rescore.py, as ``archsim validate --measured``). The attention
records' own fit error is shown for both.

Needs no torch; a minute or two.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from unittest import mock

from cpu_kernel_variant_ablation import FOURTH
from cpu_read_scale_ablation import MACHINES
from cpu_streaming_ablation import mape

import archsim.validate.fit as fit_module
from archsim.cost.compute import compute_time
from archsim.io import write_text_atomic
from archsim.spec.device import DeviceSpec
from archsim.validate.calibrate import refit_profile
from archsim.validate.records import samples_from
from archsim.validate.rescore import read_report, rescore
from archsim.validate.suite import load_profile

ROOT = Path(__file__).resolve().parents[1]
INTEL = ROOT / "reports/validation/cpu-intel"
M167 = ROOT / "reports/validation/cpu-m167"
OUT = M167 / "causal_skip_ablation.md"
LATER = [
    ("Intel Xeon", INTEL / "fifth-pair/cpu-local-intel-example.yaml",
     {"2026-12-06 02:17 (its own calibration of 02:08, --rounds 3)":
      INTEL / "fifth-pair/validation.json"}),
    ("Intel Xeon", INTEL / "sixth-pair/cpu-local-intel-example.yaml",
     {"2026-12-06 02:37 (its own calibration of 02:33; the full-validation test)":
      INTEL / "sixth-pair/validation.json"}),
    ("Intel Xeon model 167", M167 / "first-pair/cpu-local-m167-example.yaml",
     {"2026-12-06 03:25 (its own calibration of 03:20, --rounds 3)":
      M167 / "first-pair/validation.json"}),
    ("Intel Xeon model 167", M167 / "cpu-local-m167-example.yaml",
     {"2026-12-06 03:32 (its own calibration of 03:27, --rounds 3)": M167 / "validation.json"}),
]


def attention_fit_error(profile: dict) -> float:
    """MAPE (%) of compute_time over the profile's own attention records."""
    device = DeviceSpec.model_validate({k: v for k, v in profile.items() if k != "calibration"})
    samples = samples_from(profile["calibration"]["raw"])["attention"]
    return 100 * statistics.fmean(abs(compute_time(op, device) / t - 1) for op, t in samples)


def main() -> None:
    rows: list[str] = []
    bullets: list[str] = []
    delta: list[float] = []  # end-to-end MAPE with − without, per measurement set (points)
    for machine, profile_path, sets in [*MACHINES, FOURTH, *LATER]:
        kept = load_profile(profile_path)
        with_skip, _ = refit_profile(kept)
        with mock.patch.object(fit_module, "fit_causal_skip", lambda records, launch: []):
            without, _ = refit_profile(kept)
        skip = with_skip["efficiency"].get("causal_skip") or []
        bullets.append(f"* {machine} ({profile_path.relative_to(ROOT)}): causal skip "
                       + (", ".join(f"{s:.2f} at {q:.0f} queries" for q, s in skip)
                          or "not measured (no unmasked attention records)") + ".")
        pair = (("with", with_skip), ("without", without))
        fit_err = {name: attention_fit_error(prof) for name, prof in pair}
        for label, path in sets.items():
            measured = read_report(path)
            e2e = []
            for name, prof in pair:
                again = rescore(measured, prof, f"{profile_path.name}, {name} causal skip",
                                source=str(path))
                m, s = mape(again), again["summary"]
                e2e.append(100 * s["e2e_mape"])
                rows.append(f"| {machine} | {label} | {name} | {fit_err[name]:.0f} | "
                            f"{100 * s['e2e_mape']:.1f} | {m['step_time_s']:.1f} | "
                            f"{m['e2e_latency_s']:.1f} | {m['ttft_s']:.1f} | {m['tpot_s']:.1f} "
                            f"| {100 * s['matmul_op_mape']:.1f} | "
                            f"{100 * s['all_op_weighted_error']:.1f} |")
            delta.append(e2e[0] - e2e[1])
    lines = ["# The CPU validation with and without the measured causal skip", "",
             "Written by `python scripts/cpu_causal_skip_ablation.py`: each machine's kept "
             "calibration fitted again from its own raw records with the current code, with and "
             "without `efficiency.causal_skip` (the share of the causal mask's masked work the "
             "attention kernel skipped, from the same SDPA shapes timed with and without "
             "`is_causal`; without it every causal record counts half the work, as "
             "FlashAttention's tile skipping would), and every measurement set of that machine "
             "predicted again with both (nothing re-measured, nothing fitted to these "
             "measurements). `attention fit` is the MAPE of the profile against its own "
             "attention records; the other columns are validation MAPEs in %, the matmul-class "
             "per-op MAPE and the per-op error weighted by time.", "",
             f"End to end, the measured skip changes the MAPE by {min(delta):+.1f} … "
             f"{max(delta):+.1f} points: lower on {sum(d < 0 for d in delta)} of {len(delta)} "
             f"sets, higher on {sum(d > 0 for d in delta)}.", "",
             *bullets, "",
             "| machine | measured | causal skip | attention fit | end-to-end | training | "
             "inference | TTFT | TPOT | per-op, matmul-class | per-op, weighted |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
             *rows, ""]
    write_text_atomic(OUT, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
