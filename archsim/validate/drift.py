"""The machine at validation against the machine its profile was calibrated on.

A validation run compares whole-model runs with predictions from micro-benchmarks taken
earlier. On a shared machine the two may not meet the same machine: other tenants of a VM's
host share its memory bandwidth and caches without showing as busy CPU time here, and clocks
follow temperature and power limits. Seen on a 2-vCPU EPYC VM: two calibrations four hours
apart measured a GEMM peak 4%, a copy bandwidth 13% and an elementwise efficiency 17% apart,
and every validation run scored better with the slower one
(reports/validation/cpu/streaming_ablation.md). A run's errors then mix the model's error with
the machine's drift, and a reader cannot tell them apart.

So ``archsim validate`` times a few of the profile's own calibration records again, with the
same benchmark code and shapes, before and after the cases: a compute-bound GEMM, a
weight-streaming GEMV (decode's kind of GEMM), a DRAM-sized copy and the tiny-op dispatch
costs; and right before each case the two cheap ones (CASE_PROBES, a fraction of a second), so
that each case's error can be read beside the machine's state when it ran. Each probe reports
its time now over its time at calibration (1.10: the machine ran that kernel 10% slower than
when the profile was made). Nothing is corrected with it: the predictions still come from the
profile alone, so the validation stays held out.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

Record = dict[str, Any]
PROBES = ("GEMM", "GEMV", "copy", "tiny ops")
"""The probes, in report order: the largest-FLOPs GEMM of the profile's primary dtype in the
forward (nt) layout among those that took at most PROBE_MAX_S, its smallest-m GEMM with the
largest weight (m = 1 on a CPU grid), the largest copy, and the sum of the per-op dispatch
records."""
CASE_PROBES = ("GEMV", "tiny ops")
"""The probes timed again before each case: the cheap ones, and the two kinds of time decode
and small models spend."""
DRIFT_LIMIT = 1.25
"""A probe whose time now over then is beyond this (slower) or below its inverse (faster) both
before and after the cases has drifted for the whole run: a difference that size, sustained,
exceeds the 15% end-to-end error the CPU suite is held to by 10 points, so the run cannot tell
the model's error from the machine's. Transient swings (one side only) are left to the
per-case column. Seen on a 2-vCPU Intel VM on 2026-12-05: 21 minutes after a calibration its
copies ran 0.72…0.75 and tiny ops 0.48…0.44 of their calibrated times, and the validation,
11.3% right after the calibration, gave 62.9% with every case too slow
(reports/validation/cpu-intel/measured-2026-12-05/1657.json)."""
DRIFT_PROBES = ("GEMM", "GEMV", "copy")
"""The probes the warning reads: the kernels where a model's time goes. The tiny-op dispatch
probe is shown but does not warn: over the Intel VM's runs of 2026-12-05 it ranged 0.44–1.73,
and a run at 0.70 … 0.65 validated at 10.9% (reports/validation/cpu-intel/third-pair/)."""
PROBE_MAX_S = 0.05
"""The compute-bound probe's longest calibration time: each probe runs its benchmark's warm-up
and repeats twice per validation, so it stays a few seconds in all."""


def probe_records(raw: dict[str, list[Record]]) -> dict[str, Record | list[Record]]:
    """The calibration records each probe times again (a probe is left out when the profile
    has no record for it). The primary dtype is the first GEMM record's."""
    gemms = raw.get("gemm") or []
    out: dict[str, Record | list[Record]] = {}
    if gemms:
        dtype = gemms[0]["dtype"]
        nt = [r for r in gemms if r["dtype"] == dtype and r["layout"] == "nt"]
        if nt:
            short = [r for r in nt if r["time_s"] <= PROBE_MAX_S] or nt
            out["GEMM"] = max(short, key=lambda r: (r["m"] * r["k"] * r["n"], r["k"] * r["n"]))
            m = min(r["m"] for r in nt)
            out["GEMV"] = max((r for r in nt if r["m"] == m), key=lambda r: r["k"] * r["n"])
    copies = [r for r in raw.get("memory") or [] if r["kernel"] == "copy"]
    if copies:
        out["copy"] = max(copies, key=lambda r: r["elements"])
    if raw.get("overhead"):
        out["tiny ops"] = list(raw["overhead"])
    return out


def shape_label(probe: str, record: Record | list[Record]) -> str:
    """How the report names a probe's shape."""
    if isinstance(record, list):
        return f"{len(record)} ops, 100 calls each"
    if probe == "copy":
        return f"{record['elements']} {record['dtype']} elements"
    return f"{record['m']}×{record['k']}×{record['n']} {record['dtype']}"


def seconds(record: Record | list[Record]) -> float:
    """A probe's time: the record's median, or the sum over the tiny ops."""
    if isinstance(record, list):
        return sum(r["time_s"] for r in record)
    return float(record["time_s"])


def retime(device: str, probes: dict[str, Record | list[Record]], grid: Any
           ) -> dict[str, float]:
    """Each probe's time now, measured by the calibration's own benchmark functions
    (archsim/validate/bench.py) on ``grid``'s timing settings."""
    from archsim.validate import bench

    def quiet(_: str) -> None:
        return None

    out: dict[str, float] = {}
    for name, record in probes.items():
        if isinstance(record, list):
            now = {r["op"]: r["time_s"] for r in bench.bench_overhead(device, grid, quiet)}
            out[name] = sum(now[r["op"]] for r in record if r["op"] in now)
        elif name == "copy":
            g = replace(grid, memory_elements=(record["elements"],))
            got = bench.bench_memory(device, g, record["dtype"], quiet)
            out[name] = next(r["time_s"] for r in got if r["kernel"] == "copy")
        else:
            g = replace(grid, gemm_layouts=("nt",))
            got = bench.bench_gemm(device, g, record["dtype"], quiet,
                                   shapes=[(record["m"], record["k"], record["n"])])
            out[name] = got[0]["time_s"]
    return out


def drift_rows(probes: dict[str, Record | list[Record]], before: dict[str, float],
               after: dict[str, float]) -> list[dict[str, Any]]:
    """One row per probe: its time at calibration, before and after the cases, and the
    ratios now/then."""
    rows = []
    for name in PROBES:
        if name not in probes:
            continue
        then = seconds(probes[name])
        rows.append({"probe": name, "shape": shape_label(name, probes[name]),
                     "calibrated_s": then, "before_s": before[name], "after_s": after[name],
                     "before_ratio": before[name] / then if then > 0 else None,
                     "after_ratio": after[name] / then if then > 0 else None})
    return rows


class MachineProbe:
    """Times the probes of a profile mapping before and after a validation's cases."""

    def __init__(self, device: str, mapping: dict[str, Any]):
        from archsim.validate.bench import default_grid

        cal = mapping.get("calibration")
        cal = cal if isinstance(cal, dict) else {}
        info, raw = cal.get("info") or {}, cal.get("raw")
        self.device = device
        self.probes = probe_records(raw) if isinstance(raw, dict) else {}
        self.grid = default_grid(device, quick=info.get("grid") == "quick")
        self.calibrated_at = info.get("taken_at")
        self.before: dict[str, float] = {}

    def start(self) -> None:
        if self.probes:
            self.before = retime(self.device, self.probes, self.grid)

    def case_check(self) -> dict[str, float] | None:
        """CASE_PROBES timed now, each over its time at calibration (None: nothing to time)."""
        probes = {k: v for k, v in self.probes.items() if k in CASE_PROBES}
        if not probes:
            return None
        now = retime(self.device, probes, self.grid)
        return {k: now[k] / seconds(v) for k, v in probes.items() if seconds(v) > 0}

    def finish(self) -> dict[str, Any]:
        """The report's ``machine_drift`` entry."""
        if not self.probes:
            return {"skipped": "the profile holds no calibration records to time again "
                               "(a registry profile, or one written by hand)"}
        after = retime(self.device, self.probes, self.grid)
        out: dict[str, Any] = {"calibrated_at": self.calibrated_at,
                               "rows": drift_rows(self.probes, self.before, after)}
        out["warning"] = drift_warning(out)
        return out


def sustained_drift(d: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of :data:`DRIFT_PROBES` whose probe ran beyond :data:`DRIFT_LIMIT` of its
    calibrated time, the same way, both before and after the cases."""
    out = []
    for r in d.get("rows") or []:
        if r["probe"] not in DRIFT_PROBES:
            continue
        before, after = r.get("before_ratio"), r.get("after_ratio")
        if before is None or after is None:
            continue
        if min(before, after) > DRIFT_LIMIT or max(before, after) < 1 / DRIFT_LIMIT:
            out.append(r)
    return out


def drift_warning(d: dict[str, Any]) -> str | None:
    """A warning when the machine drifted for the whole run (:func:`sustained_drift`)."""
    rows = sustained_drift(d)
    if not rows:
        return None
    shown = ", ".join(f"{r['probe']} {_ratio(r['before_ratio'])} … {_ratio(r['after_ratio'])}"
                      for r in rows)
    return (f"the machine ran unlike its calibration for the whole run ({shown} of the "
            f"calibrated time, beyond {1 / DRIFT_LIMIT:.2f}–{DRIFT_LIMIT:.2f} before and after "
            "the cases): these errors measure that drift as much as the model; calibrate "
            "again and validate right after")


def drift_markdown(d: dict[str, Any]) -> list[str]:
    """The report section."""
    lines = ["## The machine against its calibration", ""]
    if d.get("skipped"):
        return [*lines, f"Not checked: {d['skipped']}."]
    warning = drift_warning(d)
    if warning:
        lines += [f"**Warning: {warning}.**", ""]
    taken = d.get("calibrated_at") or "at an unrecorded time"
    lines += [f"Calibration records of the profile (taken {taken}) timed again with the "
              "same code before and after the cases; "
              "ratio = time now / time then (above 1: the machine ran slower than when the "
              "profile was made). Nothing is corrected with it: predictions come from the "
              "profile alone.", "",
              "| probe | shape | at calibration | before cases | after cases | now / then |",
              "|---|---|---:|---:|---:|---|"]
    for r in d["rows"]:
        lines.append(f"| {r['probe']} | {r['shape']} | {_us(r['calibrated_s'])} | "
                     f"{_us(r['before_s'])} | {_us(r['after_s'])} | "
                     f"{_ratio(r['before_ratio'])} … {_ratio(r['after_ratio'])} |")
    return lines


def case_label(ratios: dict[str, float] | None) -> str:
    """A case's machine check for the report's Cases table."""
    if not ratios:
        return "–"
    return ", ".join(f"{k} {_ratio(v)}" for k, v in ratios.items())


def drift_line(d: dict[str, Any]) -> str:
    """One line for the console."""
    if d.get("skipped"):
        return f"machine against its calibration: not checked ({d['skipped']})"
    line = "machine against its calibration (time now / then, before … after the cases): " + \
        ", ".join(f"{r['probe']} {_ratio(r['before_ratio'])} … {_ratio(r['after_ratio'])}"
                  for r in d["rows"])
    warning = drift_warning(d)
    return line + (f"\nWARNING: {warning}" if warning else "")


def _us(s: float) -> str:
    return f"{s * 1e6:.1f} µs" if s < 1e-3 else f"{s * 1e3:.3f} ms"


def _ratio(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"
