"""Fit a device's in-situ parameters to measured runs.

For one device, the parameters below are chosen to minimise

    Σ_runs w · ρ(log(predicted / measured time))  +  Σ_params (λ · (θ − θ₀) / σ)²

where ρ is a robust loss (soft L1, scale ``ROBUST_SCALE``: a run more than ~10% off weighs
linearly, not quadratically, so one bad row cannot drag the fit), θ₀ is the parameter's
micro-benchmark default (the profile's value) and σ its plausible spread; λ = ``PRIOR_WEIGHT``
makes a one-σ move cost as much as a ``PRIOR_WEIGHT`` log-error on one run. Every parameter is
bounded to a physical range (the memory efficiency, further, to the device's fastest streaming
kernel where its profile measured one: ``insitu.memory_ceiling``). Only parameters that the
device's runs can inform are fitted (training-only ones need a training run, the iteration
overhead an inference run).

Assumptions: the runs' scenarios describe the runs (their plans, dtypes and shapes); every run
of a device shares one set of in-situ parameters (a run's framework differences appear as
error, and so in the cross-validated error bar).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from archsim.insitu.predict import Loaded, Prediction, predict
from archsim.spec.device import DeviceSpec
from archsim.spec.insitu import InSituSpec

ROBUST_SCALE = 0.1
"""Soft-L1 scale in log-ratio units: residuals beyond ~10% count linearly."""
PRIOR_WEIGHT = 0.05
"""A one-σ move of a parameter costs as much as a 5% error on one run."""


@dataclass(frozen=True)
class Param:
    """A fitted parameter: its physical bounds, its prior spread and the runs it needs."""

    lo: float
    hi: float
    sigma: float
    kinds: tuple[str, ...]
    """Run kinds that inform it (training, inference; serving runs count as inference)."""
    log: bool = False
    """Fitted in log space (a time spanning orders of magnitude)."""


# Physical ranges: sustained compute between 0.5 and 1 of the micro-benchmark ceiling;
# streaming efficiency 0.5-0.95 of the datasheet bandwidth; a kernel's fixed cost 0.5-40 µs
# (launch ~2-5 µs plus tails); in-run collective bandwidth 0.3-1 of nccl-tests; compute at
# most 1.6× slower under an overlapped collective; up to 2 s of fixed cost per training
# step and 10 ms per inference forward pass.
PARAMS: dict[str, Param] = {
    "sustained_compute": Param(0.5, 1.0, 0.15, ("training",)),
    "inference_compute": Param(0.5, 1.0, 0.15, ("inference",)),
    "memory_efficiency": Param(0.5, 0.95, 0.1, ("training", "inference")),
    "kernel_overhead": Param(0.5e-6, 40e-6, math.log(3.0), ("training",), log=True),
    "inference_kernel_overhead": Param(0.5e-6, 40e-6, math.log(3.0), ("inference",),
                                       log=True),
    "collective_efficiency": Param(0.3, 1.0, 0.25, ("training", "inference")),
    "overlap_slowdown": Param(1.0, 1.6, 0.2, ("training",)),
    "step_overhead": Param(0.0, 2.0, 0.3, ("training",)),
    "iteration_overhead": Param(0.0, 0.01, 0.002, ("inference",)),
}


FAMILY = ("sustained_compute", "inference_compute", "kernel_overhead",
          "inference_kernel_overhead", "collective_efficiency", "overlap_slowdown",
          "step_overhead", "iteration_overhead")
"""Parameters a device takes as its prior from its ``prior_from`` sibling (same silicon and
software; the memory efficiency is the device's own)."""

SIBLING_SHARED = ("sustained_compute", "inference_compute", "overlap_slowdown",
                  "kernel_overhead", "inference_kernel_overhead", "step_overhead",
                  "iteration_overhead")
"""FAMILY parameters a sibling takes as they are where its parent fitted them, not refitted:
the same compute die under the same power cap runs its kernels at the same in-situ speed, and
the same software stack pays the same fixed costs per kernel, step and forward pass; a sibling
fits only what its own memory system and node set (memory and collective efficiency). A
sibling's few runs, all from one source, cannot tell its silicon from its framework: the
H200's two TorchTitan runs, both 1.5 s steps, had fitted a cost per step of 16 ms beside the
H100's 120 ms and a sustained compute of 0.85 beside 0.74, so a 0.5 s step of GPT-3 1.7B on
8 H200s came out 1.35x the H100's; the A100 40 GB's five runs made it faster than the 80 GB
part on the same plan."""



def defaults(device: DeviceSpec) -> dict[str, float]:
    """The prior (micro-benchmark) value of every fitted parameter for ``device``: its
    profile's ``insitu.defaults``, else the built-in fallbacks (archsim/spec/insitu.py)."""
    ins = (device.insitu or InSituSpec()).model_copy(update={n: None for n in PARAMS})
    return {n: ins.value(n, device.efficiency.memory, device.launch_overhead) for n in PARAMS}


def uncalibrated(device: DeviceSpec) -> InSituSpec:
    """The device's in-situ block with every fitted parameter back at its default."""
    ins = device.insitu or InSituSpec()
    return apply(ins, defaults(device), fitted=())


def apply(ins: InSituSpec, values: dict[str, float], fitted: Sequence[str],
          inherited: Sequence[str] = ()) -> InSituSpec:
    """``ins`` with ``values`` of the ``fitted`` parameters (and of those ``inherited`` from
    a ``prior_from`` sibling) written, the others left to their defaults."""
    update: dict = {n: (values[n] if n in fitted or n in inherited else None)
                    for n in PARAMS}
    update["fitted"] = list(fitted)
    # the range of an earlier calibration does not describe these values (and would keep a
    # kind of run it lacked from the parameters fitted here: cost/insitu.py run_device)
    update["calibrated_range"] = None
    return ins.model_copy(update=update)


@dataclass
class FitResult:
    device: str
    values: dict[str, float]
    """Every parameter's value (fitted or default)."""
    fitted: list[str]
    defaults: dict[str, float]
    predictions: list[Prediction]
    cost: float
    evaluations: int
    infeasible: list[Prediction]
    """Runs whose scenario does not run (left out of the fit; their reasons say why)."""
    inherited: list[str] = field(default_factory=list)
    """Parameters not fitted here but taken from the ``prior_from`` sibling's fit."""

    def shared(self) -> dict[str, float]:
        """The values a ``prior_from`` sibling takes from this fit: those fitted here or
        inherited in turn (a default nothing fitted tells a sibling nothing)."""
        return {n: self.values[n] for n in (*self.fitted, *self.inherited)}

    def insitu(self, base: InSituSpec) -> InSituSpec:
        """``base`` with the fitted (and inherited) values written, its defaults kept."""
        return apply(base, self.values, self.fitted, self.inherited)


def informed(runs: Sequence[Loaded]) -> list[str]:
    """Parameters the runs can inform (a run of a kind the parameter needs)."""
    kinds = {ld.run.fit_kind for ld in runs if ld.run.weight > 0}
    names = [n for n, p in PARAMS.items() if kinds & set(p.kinds)]
    multi = any(ld.scenario.hardware.count and ld.scenario.hardware.count > 1 for ld in runs)
    if not multi and "collective_efficiency" in names:
        names.remove("collective_efficiency")
    return names


def bounds_for(ins: InSituSpec, prior: dict[str, float]) -> dict[str, Param]:
    """The parameters' ranges for one device: ``PARAMS``, with the memory efficiency at most
    the device's measured streaming ceiling (``insitu.memory_ceiling``) where it has one (and
    never below its prior)."""
    out = dict(PARAMS)
    if ins.memory_ceiling is not None:
        p = PARAMS["memory_efficiency"]
        out["memory_efficiency"] = replace(
            p, hi=min(p.hi, max(ins.memory_ceiling, prior["memory_efficiency"])))
    return out


def fit_device(runs: Sequence[Loaded], base: DeviceSpec, names: Sequence[str] | None = None,
               progress: Callable[[int], None] | None = None, max_evaluations: int = 400,
               family: dict[str, float] | None = None, start: dict[str, float] | None = None
               ) -> FitResult:
    """Fit the in-situ parameters of ``base`` (a device spec) to ``runs`` (all on it);
    ``family``: the fitted values of its ``prior_from`` sibling, the prior for FAMILY
    parameters (SIBLING_SHARED ones the sibling fitted are taken as they are unless ``names``
    lists them);
    ``start``: where the search starts (e.g. a fit on more runs; default the prior) — the
    optimum sought is the same."""
    from scipy.optimize import least_squares

    prior = defaults(base)
    inherited: list[str] = []
    if family:
        prior.update({n: family[n] for n in FAMILY if n in family})
        inherited = [n for n in FAMILY if n in family]
    ins = base.insitu or InSituSpec()
    # a plan that does not fit in memory stays so at any speed: checked once, left out
    at_prior = apply(ins, prior, (), inherited)
    infeasible = {id(ld) for ld in runs if ld.run.weight > 0
                  and predict(ld, at_prior).predicted is None}
    used = [ld for ld in runs if ld.run.weight > 0 and id(ld) not in infeasible]
    # only the runs that are fitted inform a parameter (a training row left out informs none)
    names = (list(names) if names is not None else
             [n for n in informed(used) if not (n in SIBLING_SHARED and n in inherited)])
    evaluations = 0
    cache: dict[tuple, Prediction] = {}

    bounds = bounds_for(ins, prior)

    def to_value(name: str, z: float) -> float:
        p = bounds[name]
        if p.log:
            lo, hi = math.log(p.lo), math.log(p.hi)
            return math.exp(lo + (hi - lo) * z)
        return p.lo + (p.hi - p.lo) * z

    def to_z(name: str, value: float) -> float:
        p = bounds[name]
        value = min(max(value, p.lo), p.hi)
        if p.log:
            lo, hi = math.log(p.lo), math.log(p.hi)
            return (math.log(value) - lo) / (hi - lo)
        return (value - p.lo) / (p.hi - p.lo)

    def values_of(z: np.ndarray) -> dict[str, float]:
        out = dict(prior)
        out.update({n: to_value(n, float(x)) for n, x in zip(names, z, strict=True)})
        return out

    def run_all(z: np.ndarray) -> list[Prediction]:
        """Predictions at ``z``; a run is re-simulated only when a parameter of its kind
        moved (finite differences of an inference-only parameter leave training runs be)."""
        nonlocal evaluations
        values = values_of(z)
        candidate = None
        out = []
        for i, ld in enumerate(used):
            key = (i, *(values[n] for n in names if ld.run.fit_kind in PARAMS[n].kinds))
            got = cache.get(key)
            if got is None:
                if candidate is None:
                    candidate = apply(ins, values, names, inherited)
                got = cache[key] = predict(ld, candidate)
            out.append(got)
        evaluations += 1
        if progress is not None:
            progress(evaluations)
        return out

    def residuals(z: np.ndarray) -> np.ndarray:
        preds = run_all(z)
        res = [math.sqrt(ld.run.weight) * p.log_ratio  # type: ignore[operator]
               for ld, p in zip(used, preds, strict=True)]
        values = values_of(z)
        for n in names:
            p = PARAMS[n]
            if p.log:
                d = (math.log(max(values[n], 1e-12)) - math.log(max(prior[n], 1e-12))) / p.sigma
            else:
                d = (values[n] - prior[n]) / p.sigma
            # priors enter the soft-L1 loss too; scaled so they stay in its quadratic part
            res.append(PRIOR_WEIGHT * d)
        return np.asarray(res)

    z0 = np.array([to_z(n, (start or prior).get(n, prior[n])) for n in names])
    if names and used:
        sol = least_squares(residuals, z0, bounds=(0.0, 1.0), loss="soft_l1",
                            f_scale=ROBUST_SCALE, diff_step=1e-3, x_scale=1.0,
                            ftol=1e-4, xtol=1e-3, max_nfev=max_evaluations)
        z, cost = sol.x, float(sol.cost)
    else:
        z, cost = z0, 0.0
    values = {n: _rounded(v) for n, v in values_of(z).items()}
    inherited = [n for n in inherited if n not in names]
    final = apply(ins, values, names, inherited)
    predictions = [predict(ld, final) for ld in runs]
    return FitResult(device=base.name, values=values, fitted=names, defaults=prior,
                     predictions=predictions, cost=cost, evaluations=evaluations,
                     infeasible=[p for p in predictions if p.predicted is None],
                     inherited=inherited)


def _rounded(value: float) -> float:
    """Four significant digits (the fit is not better than that); optimizer noise around a
    zero bound (below 1 ns or 1e-9) is zero."""
    if abs(value) < 1e-9:
        return 0.0
    return float(f"{value:.4g}")
