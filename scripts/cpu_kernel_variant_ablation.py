"""Write reports/validation/cpu-intel/kernel_variant_ablation.md: the CPU validation with and
without per-variant vector efficiencies (``efficiency.by_kind`` keys ``norm.rmsnorm.bwd``,
``elementwise.swiglu.fwd``, ...: LayerNorm and RMSNorm, GELU and SwiGLU priced apart).

Nothing is measured or fitted to validation here: each machine's kept calibration is fitted
again from its own raw records with the current code (archsim/validate/calibrate.py
``refit_profile``), and every measurement set of that machine is predicted again
(archsim/validate/rescore.py, as ``archsim validate --measured``) with that profile, and with
the same fit less its variant keys, its in-model costs fitted again without them (what the
previous code wrote: the kind's own η is fitted before the variants' and does not depend on
them). The fit error of the vector records is shown for both. Calibrations before
2026-12-06 timed backward records with accumulation into the leaves' .grad
(scripts/cpu_leaf_grad_artifact.py); their records are refitted as they were measured.

Needs no torch; under a minute.
"""

from __future__ import annotations

import copy
import statistics
from pathlib import Path

from cpu_read_scale_ablation import MACHINES
from cpu_streaming_ablation import mape

from archsim.cost.compute import compute_time
from archsim.io import write_text_atomic
from archsim.spec.device import DeviceSpec
from archsim.validate.calibrate import refit_profile, with_overheads
from archsim.validate.records import VECTOR_KINDS, samples_from
from archsim.validate.rescore import read_report, rescore
from archsim.validate.suite import load_profile

ROOT = Path(__file__).resolve().parents[1]
INTEL = ROOT / "reports/validation/cpu-intel"
OUT = INTEL / "kernel_variant_ablation.md"
FOURTH = ("Intel Xeon", INTEL / "fourth-pair/cpu-local-intel-example.yaml",
          {"2026-12-06 01:25 (its own calibration of 01:20, the first with backward records "
           "returned, not accumulated)": INTEL / "fourth-pair/validation.json",
           "01:28 (the same calibration again; the machine swung up to 2x)":
           INTEL / "measured-2026-12-06/0128.json"})


def without_variants(profile: dict) -> dict:
    """The profile less its per-variant η, its in-model costs fitted again without them."""
    out = copy.deepcopy(profile)
    by_kind = out["efficiency"]["by_kind"]
    for key in [k for k in by_kind if k.count(".") == 2]:
        del by_kind[key]
    out.pop("insitu", None)
    return with_overheads(out, out["calibration"]["raw"], "fp32")


def vector_fit_error(profile: dict) -> float:
    """MAPE (%) of compute_time over the profile's own vector-kernel records."""
    device = DeviceSpec.model_validate({k: v for k, v in profile.items() if k != "calibration"})
    samples = samples_from(profile["calibration"]["raw"])
    errors = [abs(compute_time(op, device) / t - 1) for kind in VECTOR_KINDS
              for op, t in samples[kind]]
    return 100 * statistics.fmean(errors)


def main() -> None:
    rows: list[str] = []
    delta: list[float] = []  # end-to-end MAPE with − without, per measurement set (points)
    weighted: list[float] = []  # the same for the per-op error weighted by time
    for machine, profile_path, sets in [*MACHINES, FOURTH]:
        with_v, _ = refit_profile(load_profile(profile_path))
        pair = (("with", with_v), ("without", without_variants(with_v)))
        fit_err = {name: vector_fit_error(prof) for name, prof in pair}
        for label, path in sets.items():
            measured = read_report(path)
            e2e, per_op = [], []
            for name, prof in pair:
                again = rescore(measured, prof, f"{profile_path.name}, {name} variants",
                                source=str(path))
                m, s = mape(again), again["summary"]
                e2e.append(100 * s["e2e_mape"])
                per_op.append(100 * s["all_op_weighted_error"])
                rows.append(f"| {machine} | {label} | {name} | {fit_err[name]:.0f} | "
                            f"{100 * s['e2e_mape']:.1f} | {m['step_time_s']:.1f} | "
                            f"{m['e2e_latency_s']:.1f} | {m['ttft_s']:.1f} | {m['tpot_s']:.1f} "
                            f"| {100 * s['all_op_mape']:.0f} | "
                            f"{100 * s['all_op_weighted_error']:.1f} |")
            delta.append(e2e[0] - e2e[1])
            weighted.append(per_op[0] - per_op[1])
    lines = ["# The CPU validation with and without per-variant vector efficiencies", "",
             "Written by `python scripts/cpu_kernel_variant_ablation.py`: each machine's kept "
             "calibration fitted again from its own raw records with the current code, and every "
             "measurement set of that machine predicted again with it, with and without the "
             "`efficiency.by_kind` keys per kernel variant (`norm.rmsnorm.bwd`, ...; nothing "
             "re-measured, nothing fitted to these measurements). `vector fit` is the MAPE of "
             "the profile against its own vector-kernel calibration records (GeLU, SwiGLU, "
             "softmax, the norms, cross entropy, AdamW); the other columns are validation "
             "MAPEs in %, and the per-op error weighted by time.", "",
             f"End to end, the variants change the MAPE by {min(delta):+.1f} … "
             f"{max(delta):+.1f} points: lower on {sum(d < 0 for d in delta)} of {len(delta)} "
             f"sets, higher on {sum(d > 0 for d in delta)}; the per-op error weighted by time "
             f"by {min(weighted):+.1f} … {max(weighted):+.1f} points (lower on "
             f"{sum(d < 0 for d in weighted)} of {len(weighted)}); the vector records' fit "
             "error falls on every calibration.", "",
             "| machine | measured | variants | vector fit | end-to-end | training | inference "
             "| TTFT | TPOT | per-op MAPE, all ops | per-op, weighted |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
             *rows, ""]
    write_text_atomic(OUT, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
