"""Write reference/calibration/measured_utilization.csv: the MFU and HFU every training run of
the calibration corpus measured, in archsim's own FLOP accounting.

A run's measured MFU is its model FLOPs per step (archsim's count for the run's model and
workload: 6N plus attention, no recomputation) over its measured step time × devices × the
peak of the dtype its GEMMs ran in; archsim's simulated MFU scaled by predicted / measured
step time is exactly that. HFU likewise with the hardware FLOPs (recomputation included).
archsim/published/utilization.py reads the file beside the MFU/HFU the sources state, so the
"best published utilisation" of a device includes runs whose source gives throughput only
(NeMo's and Megatron-Bridge's FP8 runs on H100, TorchTitan's on H200). Re-run after a change
to the FLOP accounting or the corpus: `python scripts/measured_utilization.py`.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import archsim
from archsim.insitu.overlay import measured_step_s
from archsim.insitu.predict import load_runs
from archsim.insitu.runs import read_runs
from archsim.io import write_text_atomic

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "reference" / "calibration" / "measured_utilization.csv"


def main() -> None:
    runs = [r for r in read_runs(ROOT / "reference" / "calibration" / "runs.csv")
            if r.kind == "training"]
    rows = []
    for ld in load_runs(runs):
        measured = measured_step_s(ld)
        d = archsim.simulate(ld.scenario).to_dict()
        if measured is None or not d["feasible"]:
            continue
        scale = d["step_time_s"] / measured
        rows.append({"run": ld.run.id, "source": ld.run.source, "device": ld.device.name,
                     "gemm_dtype": d["gemm_dtype"], "measured_step_s": f"{measured:.6g}",
                     "mfu": f"{d['mfu'] * scale:.4f}", "hfu": f"{d['hfu'] * scale:.4f}"})
    buf = io.StringIO()
    buf.write("# measured MFU/HFU of the corpus's training runs in archsim's FLOP accounting; "
              "written by scripts/measured_utilization.py from reference/calibration/runs.csv\n")
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(OUT, buf.getvalue())
    print(f"wrote {OUT.relative_to(ROOT)} ({len(rows)} runs)")


if __name__ == "__main__":
    main()
