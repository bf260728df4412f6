"""Write reports/validation/cpu-m167/output_rotation_ablation.md: the CPU validation with the
forward GEMM records timed as they are now (outputs below 32 MiB rotated through 256 MiB of
written buffers, larger ones allocated afresh: archsim/validate/bench.py ``_gemm_call``) and
as before (a new output per call, in practice the buffer the last call freed), on the same
measurements and the same calibration.

Two calibrations taken minutes apart differ by more than this effect on a shared VM (the
second pair of 2026-12-06 04:27/04:30 measured fp32 GEMM peaks of 0.353 and 0.332 TFLOP/s), so
comparing a calibration of the old code with one of the new mostly compares two moments of the
machine. Here the records are derived from the kept ones instead (both calibrations were taken
with every forward output rotated, before outputs of 32 MiB or more were allocated afresh):
every forward (``nt``) GEMM shape is timed now both ways, alternating, and its record is scaled
by the measured ratio (new output per call / rotated) where the current benchmark allocates
afresh (for "now") or everywhere (for "before"); both profiles are fitted from
those records with the current code (archsim/validate/calibrate.py ``refit_profile``) and
predict the calibration's own measurement set again (archsim/validate/rescore.py, as
``archsim validate --measured``). Nothing is fitted to the measurements.

Needs torch; about five minutes on 2 cores.
"""

from __future__ import annotations

import copy
import statistics
import time
from pathlib import Path

from alternating import alternate
from cpu_streaming_ablation import mape

from archsim.io import write_text_atomic
from archsim.validate.calibrate import refit_profile
from archsim.validate.rescore import read_report, rescore
from archsim.validate.suite import load_profile

ROOT = Path(__file__).resolve().parents[1]
M167 = ROOT / "reports/validation/cpu-m167"
OUT = M167 / "output_rotation_ablation.md"
SETS = [("2026-12-06 04:22 (its own calibration of 04:17)", M167 / "output-rotation-pair"),
        ("2026-12-06 04:35 (its own calibration of 04:27)", M167 / "output-rotation-second")]
ROUNDS = 3
MIN_S = 0.05
"""Each way of a shape is timed for at least this long per round (at least one call)."""
WEIGHT_GEMMS = frozenset({"qkv", "proj", "fc1", "fc2", "logits"})


def ratios(records: list[dict]) -> dict[tuple, float]:
    """(m, k, n, dtype) → time with a new output per call / time with rotated outputs, each the
    median of ``ROUNDS`` rounds in which the two ways alternate."""
    import torch
    import torch.nn.functional as F

    from archsim.validate.bench import _copies, _dtype, _rotation

    torch.set_num_threads(2)
    out = {}
    with torch.no_grad():
        for r in records:
            m, k, n, dtype = r["m"], r["k"], r["n"], r["dtype"]
            dt = _dtype(dtype)
            a = torch.randn(m, k, dtype=dt)
            weight = _rotation(_copies(torch, (n, k), "cpu", dt))
            output = _rotation(_copies(torch, (m, n), "cpu", dt, random=False))
            # as archsim/validate/bench.py _gemm_call times them before and now
            ways = {"one": lambda a=a, weight=weight: F.linear(a, weight()),
                    "rotated": lambda a=a, weight=weight, output=output:
                        torch.mm(a, weight().t(), out=output())}
            calls = max(1, int(MIN_S / max(r["time_s"], 1e-9)))
            times = alternate(ways, ROUNDS, calls=calls)
            out[(m, k, n, dtype)] = (statistics.median(times["one"])
                                     / statistics.median(times["rotated"]))
            del ways, weight, output, a
    return out


def as_timed(kept: dict, got: dict[tuple, float], everywhere: bool) -> dict:
    """``kept`` (records timed with every forward output rotated) with its forward records
    scaled to a new output per call, where the benchmark does that now or ``everywhere``."""
    from archsim.validate.bench import rotates_output

    out = copy.deepcopy(kept)
    for r in out["calibration"]["raw"]["gemm"]:
        size = 4 if r["dtype"] == "fp32" else 2
        if r["layout"] == "nt" and (everywhere or not rotates_output("cpu", r["m"], r["n"],
                                                                     size)):
            r["time_s"] *= got[(r["m"], r["k"], r["n"], r["dtype"])]
    return out


def op_error(report: dict, ops: frozenset[str]) -> float:
    """Σ predicted / Σ measured − 1 (%) of the training cases' ops named in ``ops``."""
    measured = predicted = 0.0
    for case in report["cases"]:
        if case["mode"] != "training":
            continue
        for op in case["ops"]:
            if op["op"] in ops:
                measured += op["measured_s"]
                predicted += op["predicted_s"]
    return 100 * (predicted / measured - 1)


def score_row(label: str, name: str, folder: Path, profile: dict, ops: frozenset[str]) -> str:
    """The table row of ``profile`` (raw records; refitted here) predicting ``folder``'s
    measurement set again: validation MAPEs, the error of the training cases' ``ops`` and the
    matmul-class per-op MAPE."""
    measured = read_report(folder / "validation.json")
    refit, _ = refit_profile(profile)
    again = rescore(measured, refit, f"{folder.name}, {name}",
                    source=str(folder / "validation.json"))
    m, s = mape(again), again["summary"]
    row = (f"| {label} | {name} | {100 * s['e2e_mape']:.1f} | {m['step_time_s']:.1f} | "
           f"{m['e2e_latency_s']:.1f} | {m['ttft_s']:.1f} | {m['tpot_s']:.1f} | "
           f"{op_error(again, ops):+.1f} | {100 * s['matmul_op_mape']:.1f} |")
    print(row)
    return row


def main() -> None:
    rows = []
    got: dict[tuple, float] = {}
    for label, folder in SETS:
        kept = load_profile(folder / "cpu-local-m167-example.yaml")
        forward = [r for r in kept["calibration"]["raw"]["gemm"] if r["layout"] == "nt"
                   and (r["m"], r["k"], r["n"], r["dtype"]) not in got]
        got.update(ratios(forward))  # the sets share their grid: each shape timed once
        now, before = as_timed(kept, got, everywhere=False), as_timed(kept, got, everywhere=True)
        rows += [score_row(label, name, folder, profile, WEIGHT_GEMMS)
                 for name, profile in (("now", now), ("before", before))]
    big = [v for (m, k, n, _), v in got.items() if 4 * m * n >= 4 * 2**20]
    bullets = [f"* {len(got)} forward shapes (fp32 and bf16): new output per call / rotated "
               f"{min(got.values()):.2f} … {max(got.values()):.2f} (median "
               f"{statistics.median(got.values()):.2f}); the {len(big)} with outputs of 4 MiB "
               f"or more {min(big):.2f} … {max(big):.2f} (median "
               f"{statistics.median(big):.2f})."]
    shapes = ["| m × k × n | dtype | output | new output per call / rotated |",
              "|---|---|---:|---:|"]
    shapes += [f"| {m} × {k} × {n} | {dtype} | {m * n * (4 if dtype == 'fp32' else 2) / 2**20:.2f}"
               f" MiB | {v:.2f} |" for (m, k, n, dtype), v in sorted(got.items())]
    lines = ["# Forward GEMM records with rotated outputs or a new output per call (CPU)", "",
             f"Written by `python scripts/cpu_output_rotation_ablation.py` on "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} (its docstring says how): "
             "each calibration's forward GEMM records (measured with every output rotated) "
             "scaled by ratios timed now, alternating, to a new output per call where the "
             "benchmark now allocates one (outputs of 32 MiB or more: `now`) or everywhere "
             "(`before`); both fitted with the current code and predicting that calibration's "
             "own measurement set again. "
             "Columns: validation MAPEs in %; `fwd GEMMs` is Σ predicted / Σ measured − 1 of "
             "the training cases' forward weight GEMMs (negative: predicted too fast).", "",
             *bullets, "",
             "| measured | forward GEMM records | end-to-end | training | inference | TTFT | "
             "TPOT | fwd GEMMs | per-op, matmul-class |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|", *rows, "",
             "## The ratio per forward shape", "", *shapes, ""]
    write_text_atomic(OUT, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
