"""Megatron-LM weak scaling (Narayanan et al. 2021, SC21, Table 1): predicted vs measured.

Each row of reference/megatron_weak_scaling.csv is simulated as the authors ran it: A100-80GB
DGX nodes (8 GPUs, NVLink3/NVSwitch, 8× HDR 200 Gb/s InfiniBand), fp16, full activation
recomputation, the published TP/PP/micro-batch and interleaving, Megatron-LM's 2021 kernels
(no flash attention: the s×s scores are materialised) and the gradient all-reduce after the
backward pass (no overlap, as in Megatron-LM v2 of 2021).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

MODEL_NAMES = {"1.7": "gpt3-1.7b", "3.6": "gpt3-3.6b", "7.5": "gpt3-7.5b",
               "18.4": "gpt3-18.4b", "39.1": "gpt3-39.1b", "76.1": "gpt3-76.1b",
               "145.6": "gpt3-145.6b", "310.1": "gpt3-310.1b", "529.6": "gpt3-529.6b",
               "1008.0": "gpt3-1t"}


@dataclass(frozen=True)
class Case:
    params_b: str
    gpus: int
    measured_step_s: float
    predicted_step_s: float
    measured_tflops: float
    predicted_tflops: float
    compute_s: float = 0.0
    """Predicted forward + backward compute, recomputation and pipeline bubble (the parts that
    scale with kernel speed)."""
    exposed_comm_s: float = 0.0
    interval: tuple[float, float] | None = None
    """The step-time interval the result carried (``uncertainty.intervals.step_time_s``)."""

    @property
    def covered(self) -> bool | None:
        """Whether the measured step lies inside the predicted interval (None: no interval)."""
        if self.interval is None:
            return None
        lo, hi = self.interval
        return lo <= self.measured_step_s <= hi

    @property
    def error(self) -> float:
        return (self.predicted_step_s - self.measured_step_s) / self.measured_step_s

    @property
    def compute_slowdown_to_match(self) -> float:
        """Factor by which every kernel would have to run slower (bubble included) for the
        prediction to equal the measurement, other parts unchanged. A diagnostic of where the
        gap sits — never applied to any prediction (that would be fitting a validation file)."""
        other = self.predicted_step_s - self.compute_s
        return (self.measured_step_s - other) / self.compute_s


def reference_path() -> Path:
    return data_file("megatron_weak_scaling.csv")


def data_file(name: str) -> Path:
    """``reference/<name>`` from the checkout or the installed data."""
    from archsim.spec.registry import data_roots

    for root in data_roots():
        path = root / "reference" / name
        if path.is_file():
            return path
    raise FileNotFoundError(f"reference/{name}")


def scenario_for(row: dict) -> dict:
    chunks = int(row["interleave_chunks"])
    return {
        "name": f"megatron-sc21-{row['params_b']}b",
        "model": MODEL_NAMES[row["params_b"]],
        "hardware": {"device": "a100-sxm4-80gb", "count": int(row["gpus"]),
                     "devices_per_node": 8, "intra_node": "nvlink3-nvswitch",
                     "inter_node": "ib-hdr-200g"},
        "workload": {"kind": "training", "seq_len": int(row["seq_len"]),
                     "global_batch": int(row["global_batch"]),
                     "micro_batch": int(row["micro_batch"]), "dtype": "fp16"},
        "plan": {"tp": int(row["tp"]), "pp": int(row["pp"]), "recompute": "full",
                 "schedule": "interleaved" if chunks > 1 else "1f1b",
                 "virtual_stages": chunks, "flash_attention": False, "overlap_comm": False},
    }


def run_cases(calibration: str | None = None) -> list[Case]:
    """Every row simulated (``calibration``: the scenario key, e.g. ``uncalibrated``)."""
    import archsim

    cases = []
    with open(reference_path(), newline="") as fh:
        for row in csv.DictReader(fh):
            sc = scenario_for(row)
            if calibration is not None:
                sc["calibration"] = calibration
            result = archsim.simulate(sc)
            if not result.feasible:
                raise RuntimeError(f"{row['params_b']}B: {result['infeasible_reasons']}")
            step = result["step_time_s"]
            flops = float(row["flops_per_step"])
            tb = result["time_breakdown"]
            cases.append(Case(params_b=row["params_b"], gpus=int(row["gpus"]),
                              measured_step_s=float(row["implied_step_time_s"]),
                              predicted_step_s=step,
                              measured_tflops=float(row["measured_tflops_per_gpu"]),
                              predicted_tflops=flops / (step * int(row["gpus"])) / 1e12,
                              compute_s=tb["compute_s"] + tb["recompute_s"] + tb["bubble_s"],
                              exposed_comm_s=tb["exposed_comm_s"],
                              interval=_step_interval(result)))
    return cases


def _step_interval(result) -> tuple[float, float] | None:
    got = (result.get("uncertainty") or {}).get("intervals", {}).get("step_time_s")
    return (float(got[0]), float(got[1])) if got else None


def markdown_table(cases: list[Case]) -> str:
    """The rows as a markdown table; the interval column only where the results carry one."""
    banded = any(c.interval is not None for c in cases)
    head = ("| model | GPUs | measured step (s) | predicted step (s) | error "
            "| measured TFLOP/s/GPU | predicted TFLOP/s/GPU |")
    lines = [head + (" predicted interval (s) |" if banded else ""),
             "|---" * (8 if banded else 7) + "|"]
    for c in cases:
        lines.append(f"| {c.params_b}B | {c.gpus} | {c.measured_step_s:.3f} | "
                     f"{c.predicted_step_s:.3f} | {100 * c.error:+.1f}% | "
                     f"{c.measured_tflops:.0f} | {c.predicted_tflops:.0f} |"
                     + (f" {_interval_cell(c)} |" if banded else ""))
    errs = [abs(c.error) for c in cases]
    lines.append("")
    lines.append(f"MAPE {100 * sum(errs) / len(errs):.1f}%, max |error| {100 * max(errs):.1f}%")
    coverage = coverage_line(cases)
    if coverage:
        lines.append("")
        lines.append(coverage)
    return "\n".join(lines)


def _interval_cell(c: Case) -> str:
    if c.interval is None:
        return "none"
    mark = "measured inside" if c.covered else "measured outside"
    return f"{c.interval[0]:.3f} – {c.interval[1]:.3f} ({mark})"


def coverage_line(cases: list[Case]) -> str | None:
    """How many measured steps lie inside the interval their prediction carried: the error
    bar checked on runs it was never fitted to (an 80% band should hold about 8 rows in 10)."""
    judged = [c for c in cases if c.covered is not None]
    if not judged:
        return None
    inside = sum(1 for c in judged if c.covered)
    return (f"The measured step lies inside the interval its prediction carried on {inside} "
            f"of {len(judged)} rows.")


def diagnostic_table(cases: list[Case]) -> str:
    """Where the predicted step goes, and how much slower the kernels would have to be to match
    each measured row (see :attr:`Case.compute_slowdown_to_match`)."""
    lines = ["| model | predicted compute + recompute + bubble (s) | exposed comm (s) | "
             "kernel slowdown that would match |", "|---|---|---|---|"]
    for c in cases:
        lines.append(f"| {c.params_b}B | {c.compute_s:.3f} | {c.exposed_comm_s:.3f} | "
                     f"{c.compute_slowdown_to_match:.3f} |")
    return "\n".join(lines)
