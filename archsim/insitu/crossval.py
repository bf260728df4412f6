"""Cross-validated error of a calibration: every run predicted by a fit that did not see it.

Folds: leave one source out (``source``: the default — a run is predicted from the other
sources' runs, which is what a new user's run is to the shipped profile), leave one run out
(``run``), or k folds of the runs in file order (an integer). For each fold the device's
parameters are fitted on the other runs of that device (archsim/insitu/fit.py) and the fold's
runs predicted; a fold whose device has no other runs is predicted with the micro-benchmark
defaults (the fit has nothing to learn from), and says so.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from archsim.insitu.fit import fit_device, uncalibrated
from archsim.insitu.predict import Loaded, Prediction, predict
from archsim.spec.insitu import AccuracySpec


@dataclass(frozen=True)
class Held:
    """A run predicted by a fit that did not see it."""

    prediction: Prediction
    fold: str
    prior_only: bool
    """No other run of the device was left to fit: predicted with the defaults."""


def folds(runs: Sequence[Loaded], method: str) -> list[tuple[str, list[Loaded]]]:
    """(fold name, its runs) for ``method``: "source", "run" or a number of folds."""
    if method == "source":
        names = list(dict.fromkeys(ld.run.source for ld in runs))
        return [(n, [ld for ld in runs if ld.run.source == n]) for n in names]
    if method == "run":
        return [(ld.run.id, [ld]) for ld in runs]
    k = int(method)
    return [(f"fold {i + 1}/{k}", list(runs[i::k])) for i in range(k)]


def cross_validate(runs: Sequence[Loaded], method: str = "source",
                   progress: Callable[[str], None] | None = None) -> list[Held]:
    """Held-out predictions of every run with weight > 0 (runs of several devices: each
    device is fitted on its own runs)."""
    held: list[Held] = []
    by_device: dict[str, list[Loaded]] = {}
    for ld in runs:
        by_device.setdefault(ld.device.name, []).append(ld)
    for device_runs in by_device.values():
        base = device_runs[0].device
        for name, fold in folds(device_runs, method):
            if progress is not None:
                progress(f"{base.name}: {name}")
            scored = [ld for ld in fold if ld.run.weight > 0]
            if not scored:
                continue
            ids = {id(ld) for ld in fold}
            rest = [ld for ld in device_runs if id(ld) not in ids]
            if any(ld.run.weight > 0 for ld in rest):
                fitted = fit_device(rest, base).insitu(base.insitu or uncalibrated(base))
                prior_only = False
            else:
                fitted, prior_only = uncalibrated(base), True
            held.extend(Held(predict(ld, fitted), name, prior_only) for ld in scored)
    return held


def accuracy(held: Sequence[Held]) -> dict[str, AccuracySpec]:
    """Accuracy group (training, ttft, tpot, e2e_latency, throughput) → cross-validated
    error statistics of the held-out predictions (infeasible runs left out)."""
    groups: dict[str, list[Held]] = {}
    for h in held:
        if h.prediction.error is not None:
            groups.setdefault(h.prediction.run.group, []).append(h)
    out = {}
    for group, items in sorted(groups.items()):
        errors = sorted(h.prediction.error for h in items)  # type: ignore[misc]
        out[group] = AccuracySpec(
            runs=len(errors), sources=len({h.prediction.run.source for h in items}),
            mape=statistics.fmean(abs(e) for e in errors), bias=statistics.fmean(errors),
            p10=_quantile(errors, 0.1), p90=_quantile(errors, 0.9))
    return out


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile of sorted values (numpy's default method)."""
    n = len(sorted_values)
    if n == 1:
        return sorted_values[0]
    pos = q * (n - 1)
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    return sorted_values[lo] + (pos - lo) * (sorted_values[hi] - sorted_values[lo])
