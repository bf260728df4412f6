"""``archsim validate``: run the validation cases for real, simulate them, compare.

The device profile comes from ``archsim calibrate`` (a file, or a fresh calibration when none
is given). Calibration and validation run different programs (micro-benchmarks vs whole
models), and nothing measured here is fitted.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from archsim.spec.errors import SpecError
from archsim.spec.loader import load_spec_file
from archsim.spec.registry import read_yaml
from archsim.validate.cases import Case, default_cases
from archsim.validate.compare import CaseResult, op_rows, report_dict
from archsim.validate.drift import MachineProbe
from archsim.validate.measure import preserved_torch_settings

Progress = Callable[[int, int, str], None]


def load_profile(path: Path) -> dict[str, Any]:
    """The mapping of a device profile file; SpecError naming the file when it is not one."""
    data = read_yaml(Path(path))
    if not isinstance(data, dict):
        raise SpecError([f"{path}: expected a device profile mapping, got "
                         f"{type(data).__name__}"])
    load_spec_file("devices", Path(path))  # validates, with the file's name in the message
    return data


@preserved_torch_settings()
def validate(device: str = "auto", *, profile: Path | dict | None = None,
             cases: list[Case] | None = None, quick: bool = False,
             threads: int | None = None, repeats: int = 5, rounds: int = 1,
             progress: Progress | None = None) -> dict[str, Any]:
    """Measure and simulate every case; the report as a dict (see compare.report_dict).

    Without ``profile`` the device is calibrated first (``quick`` grid when ``quick``).
    With ``rounds`` > 1 every case is timed again in each further round, all cases in turn
    (profiled once, in the first): a case's metric is the median of its rounds' medians, so
    that a slow spell of a shared machine that lasts minutes moves one round, not the case.
    Raises SpecError when torch is missing, the device is absent or the profile is invalid.
    """
    from archsim.validate.measure import (
        configure,
        machine_info,
        resolve_device,
        wait_for_quiet,
    )
    from archsim.validate.predict import predicted_ops, simulate_case_with_error_bar
    from archsim.validate.runner import Measured, run_case

    dev = resolve_device(device)
    n_threads = configure(dev, threads)
    if profile is None:
        from archsim.validate.calibrate import calibrate

        mapping = calibrate(dev, quick=quick, threads=n_threads).profile
        profile_name = "fresh calibration (" + ("quick" if quick else "full") + " grid)"
    elif isinstance(profile, dict):
        mapping, profile_name = profile, str(profile.get("name", "<inline>"))
    else:
        mapping, profile_name = load_profile(Path(profile)), str(profile)
    spec = load_spec_file("devices", mapping)
    cases = cases if cases is not None else default_cases(dev, quick=quick)
    results: list[CaseResult] = []
    waited = 0.0
    # the profile's own calibration records timed again around the cases (archsim/validate/
    # drift.py): how far this machine is from the one the profile measured
    probe = MachineProbe(dev, mapping)
    if dev == "cpu":
        waited += wait_for_quiet(max_wait_s=60.0)
    probe.start()
    steps = len(cases) * rounds
    first: list[tuple[Measured, dict | None]] = []
    per_round: list[list[dict[str, float]]] = [[] for _ in cases]
    for r in range(rounds):
        for i, case in enumerate(cases):
            if progress is not None:
                progress(r * len(cases) + i, steps,
                         case.name + (f" (round {r + 1}/{rounds})" if rounds > 1 else ""))
            if dev == "cpu":
                waited += wait_for_quiet(max_wait_s=60.0)
            if r == 0:
                machine = probe.case_check()
                measured = run_case(case, dev, repeats=repeats)
                first.append((measured, machine))
            else:
                measured = run_case(case, dev, repeats=repeats, profile_ops=False)
            per_round[i].append(measured.metrics)
    drift = probe.finish()
    for case, (measured, machine), metrics in zip(cases, first, per_round, strict=True):
        by_metric = {k: [m[k] for m in metrics] for k in metrics[0]}
        measured_now = {k: statistics.median(v) for k, v in by_metric.items()}
        predicted, error_bar = simulate_case_with_error_bar(case, mapping)
        wall = _wall_per_phase(measured_now, case)
        rows = op_rows(measured.ops, predicted_ops(case, spec, kernel_only=dev == "cuda"), wall,
                       scale_to_wall=dev == "cpu")
        results.append(CaseResult(name=case.name, mode=case.mode, model=case.model,
                                  params=measured.params, measured=measured_now,
                                  predicted=predicted, spread=measured.spread, ops=rows,
                                  contention=measured.contention, error_bar=error_bar,
                                  case=asdict(case), machine=machine,
                                  rounds=by_metric if rounds > 1 else None))
    if progress is not None:
        progress(steps, steps, "done")
    meta = machine_info(dev, n_threads)
    meta.update({"profile": profile_name, "device_name": spec.name,
                 "repeats": repeats, "rounds": rounds, "grid": "quick" if quick else "full",
                 "waited_for_quiet_s": round(waited, 1)})
    return {**report_dict(results, meta), "machine_drift": drift}


def _wall_per_phase(metrics: dict[str, float], case: Case) -> dict[str, float]:
    if case.mode == "training":
        return {"step": metrics["step_time_s"]}
    out = {"prefill": metrics["ttft_s"]}
    if "tpot_s" in metrics:
        out["decode"] = metrics["tpot_s"]
    return out
