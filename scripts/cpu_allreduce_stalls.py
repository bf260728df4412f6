"""Write reports/validation/cpu/allreduce_stalls.md: why the two-process link fit takes a low
percentile of its all-reduce samples, measured on this machine.

Runs the quick sweep of ``archsim validate --distributed`` (gloo, two local processes, one
thread each, 4 KiB … 4 MiB, :data:`~archsim.validate.distributed.SWEEP_SAMPLES` samples per
size) ``RUNS`` times and, for each run, fits the alpha-beta link three ways: from the 20th
percentile of the samples (what ``validate`` does), from their median, and from the median of
the first five (what ``validate`` did before 2026-12-05, when CI failed with "all-reduce times
do not grow with the message size"). Needs torch; about a minute.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from archsim.io import write_text_atomic
from archsim.validate.distributed import QUICK_SIZES, LinkFitError, fit_alpha_beta, measure
from archsim.validate.measure import machine_info

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "reports/validation/cpu/allreduce_stalls.md"
RUNS = 10
STALL_S = 1.5e-3
"""A 4 KiB sample slower than this is a stall: the uncontended ones take 0.1–0.4 ms here."""


ESTIMATORS = ("20th percentile", "median", "median of the first 5")


def _times(rows: list[dict], estimator: str) -> list[float]:
    if estimator == "20th percentile":
        return [r["time_s"] for r in rows]
    if estimator == "median":
        return [r["median_s"] for r in rows]
    return [statistics.median(r["samples_s"][:5]) for r in rows]


def _fit(rows: list[dict], times: list[float]) -> tuple[float, float] | None:
    try:
        return fit_alpha_beta([r["bytes"] for r in rows], times)
    except LinkFitError:
        return None


def _shown(fit: tuple[float, float] | None) -> str:
    return ("no fit (times do not grow)" if fit is None
            else f"{fit[0] * 1e6:.0f} us, {fit[1] / 1e9:.2f} GB/s")


def _summary(estimator: str, fits: list[tuple[float, float] | None]) -> str:
    ok = [f for f in fits if f is not None]
    text = f"- {estimator}: {len(fits) - len(ok)} of {len(fits)} runs gave no fit"
    if ok:
        text += (f"; the others α {min(f[0] for f in ok) * 1e6:.0f}–"
                 f"{max(f[0] for f in ok) * 1e6:.0f} us, B {min(f[1] for f in ok) / 1e9:.2f}–"
                 f"{max(f[1] for f in ok) / 1e9:.2f} GB/s")
    return text + "."


def main() -> int:
    lines = ["# Stalls in the two-process all-reduce sweep (CPU, gloo)", "",
             f"Written by `scripts/cpu_allreduce_stalls.py` on {machine_info('cpu', 1)['taken_at']}"
             f" ({machine_info('cpu', 1).get('cpu', 'cpu')}). {RUNS} runs of the quick sweep; "
             "per size the slower rank's time of each sample. Fits: alpha (latency) and B "
             "(bandwidth) of t = 2α + S/B.", "",
             "| run | 4 KiB samples stalled | 4 KiB: 20th pct / median ms | fit, 20th pct "
             "| fit, median | fit, median of first 5 |", "|---:|---:|---:|---|---|---|"]
    fits: dict[str, list] = {e: [] for e in ESTIMATORS}
    for run in range(1, RUNS + 1):
        rows = measure("cpu", 1, QUICK_SIZES, None, repeats=3)["allreduce"]
        small = rows[0]["samples_s"]
        for estimator in ESTIMATORS:
            fits[estimator].append(_fit(rows, _times(rows, estimator)))
        lines.append(
            f"| {run} | {sum(x > STALL_S for x in small)}/{len(small)} | "
            f"{rows[0]['time_s'] * 1e3:.2f} / {rows[0]['median_s'] * 1e3:.2f} | "
            + " | ".join(_shown(fits[e][-1]) for e in ESTIMATORS) + " |")
        print(lines[-1], file=sys.stderr)
    lines += ["", "Over the runs:", "", *(_summary(e, fits[e]) for e in ESTIMATORS)]
    write_text_atomic(OUT, "\n".join(lines) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
