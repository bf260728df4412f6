"""Predict measured runs: each run's scenario simulated with a device's in-situ parameters.

The error of a prediction is stated on time: ``ratio`` = predicted / measured time (for a
throughput metric, measured / predicted rate), ``error`` = ratio − 1 (negative: archsim is
too fast). The fit minimises log(ratio).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from archsim.insitu.runs import Run, row_problem
from archsim.spec.device import DeviceSpec
from archsim.spec.errors import SpecError
from archsim.spec.insitu import InSituSpec
from archsim.spec.scenario import ScenarioSpec


@dataclass
class Loaded:
    """A run with its validated scenario (loaded once; the device is swapped per fit step)."""

    run: Run
    scenario: ScenarioSpec

    @property
    def device(self) -> DeviceSpec:
        device = self.scenario.hardware.device
        assert device is not None, "runs use homogeneous hardware"
        return device


def load_runs(runs: list[Run], calibration: str | None = None) -> list[Loaded]:
    """Validate every run's scenario; SpecError naming the row for a bad one (registry
    name, field value). ``calibration`` as the scenario key (archsim/spec/calibration.py)."""
    from archsim.spec.loader import load_scenario

    out, problems = [], []
    for run in runs:
        # the calibration under test wins over a row's own ``set: calibration=...``
        last = [f"calibration={calibration}"] if calibration is not None else []
        try:
            sc = load_scenario(run.scenario, [*run.overrides, *last])
        except SpecError as exc:
            problems.extend(row_problem(run, p.removeprefix("<scenario>: "))
                            for p in exc.problems)
            continue
        if sc.hardware.cluster is not None:
            problems.append(row_problem(run, "runs take one device type (device/devices), "
                                             "not a cluster"))
            continue
        problems.extend(_plan_problem(run, reason) for reason in split_reasons(sc))
        out.append(Loaded(run, sc))
    if problems:
        raise SpecError(problems)
    return out


PLAN_COLUMNS = ("devices", "tp", "pp", "cp", "ep", "model", "heads", "kv_heads", "ffn",
                "global_batch", "micro_batch", "batch")
"""The cells a plan that does not divide comes from."""


def split_reasons(sc: ScenarioSpec) -> list[str]:
    """Why the run's devices, model and batch do not split over its plan (empty when they
    do): a measured run ran, so such a row holds a typo, not a plan archsim cannot run."""
    if sc.workload.kind == "training":
        from archsim.plan.layout import resolve_layout

        return list(resolve_layout(sc)[1])
    from archsim.metrics.inference import device_split_reason, replicas_reason
    from archsim.plan.inference_setup import Degrees, degree_reasons

    plan, count = sc.plan, sc.cluster.total_devices
    split = device_split_reason(count, plan.tp, plan.pp)
    if split:
        return [split]
    dp = plan.dp if plan.dp is not None else count // (plan.tp * plan.pp)
    reasons = [r for r in [replicas_reason(count, plan.tp, plan.pp, plan.dp)] if r]
    if sc.workload.kind == "inference" and sc.workload.batch % dp:  # type: ignore[union-attr]
        reasons.append(f"batch {sc.workload.batch} is not divisible by dp {dp} "  # type: ignore
                       "(data-parallel replicas split the batch)")
    wl, model = sc.workload, sc.model
    if wl.kind == "inference" and (context := wl.prompt_len + wl.gen_len) > model.max_seq_len:
        # the run would be infeasible and left out of the fit without a word
        reasons.append(f"prompt_len {wl.prompt_len} + gen_len {wl.gen_len} = {context} tokens "
                       f"exceed the model's max_seq_len {model.max_seq_len}")
    return reasons + degree_reasons(model, Degrees(tp=plan.tp, pp=plan.pp, ep=plan.ep,
                                                   dp=dp), plan.layers_per_stage)


REASON_COLUMNS = (("exceed the model's max_seq_len", ("prompt_len", "gen_len", "model")),
                  ("learned positions", ("seq_len", "model")),
                  ("sequence parallelism", ("sp", "tp", "seq_len", "micro_batch")),
                  ("seq_len", ("seq_len", "cp")))
"""The cells a reason that is not about the plan's divisibility comes from (first match)."""


def _plan_problem(run: Run, reason: str) -> str:
    named = next((cols for key, cols in REASON_COLUMNS if key in reason), None)
    cells = [c for c in (named or PLAN_COLUMNS) if c in run.values]
    where = f"{run.file}: row {run.line}" if run.file else f"row {run.line}"
    hint = ("; a longer context than the model's registry entry allows goes in the row's set "
            "column (model.max_seq_len=N), as reference/calibration/runs.csv does"
            if "max_seq_len" in reason or "learned positions" in reason else "")
    return (f"{where}, column{'s' if len(cells) > 1 else ''} {', '.join(cells)} (run {run.id}): "
            f"{reason}; a measured run ran as its row says, so one of these cells is wrong"
            + hint)


def with_insitu(sc: ScenarioSpec, insitu: InSituSpec | None) -> ScenarioSpec:
    """``sc`` with its device's in-situ parameters replaced."""
    hw = sc.hardware
    assert hw.device is not None
    device = hw.device.model_copy(update={"insitu": insitu})
    return sc.model_copy(update={"hardware": hw.model_copy(update={"device": device})})


@dataclass(frozen=True)
class Prediction:
    run: Run
    predicted: float | None
    """In the metric's unit; None when the simulated plan is infeasible."""
    reasons: tuple[str, ...] = ()

    @property
    def ratio(self) -> float | None:
        """Predicted / measured time (measured / predicted for a rate)."""
        if self.predicted is None or self.predicted <= 0:
            return None
        r = self.predicted / self.run.measured
        return 1.0 / r if self.run.is_rate else r

    @property
    def error(self) -> float | None:
        r = self.ratio
        return None if r is None else r - 1.0

    @property
    def log_ratio(self) -> float | None:
        r = self.ratio
        return None if r is None else math.log(r)


def predict(loaded: Loaded, insitu: InSituSpec | str | None = "as-loaded") -> Prediction:
    """Simulate ``loaded``'s run (with ``insitu`` on its device unless "as-loaded")."""
    import archsim

    sc = loaded.scenario if insitu == "as-loaded" else with_insitu(loaded.scenario, insitu)
    result = archsim.simulate(sc).to_dict()
    if not result["feasible"]:
        return Prediction(loaded.run, None, tuple(result["infeasible_reasons"]))
    return Prediction(loaded.run, metric_value(result, loaded.run.metric))


WINDOW_MEANS = {"ttft_s": "ttft_mean_s", "tpot_s": "tpot_mean_s",
                "e2e_latency_s": "e2e_mean_s"}
"""A serving run's latency metrics: the means over the requests that arrived in its
steady-state window (archsim/metrics/serving.py), as a benchmark measures after warm-up."""


def metric_value(result: dict[str, Any], metric: str) -> float | None:
    """The value of ``metric`` (archsim/insitu/runs.py METRICS) in a result."""
    if result.get("mode") == "serving" and metric in WINDOW_MEANS:
        return (result.get("steady_state") or {}).get(WINDOW_MEANS[metric])
    if metric == "tokens_per_s_per_device":
        value = result.get("tokens_per_s")
        if value is None:
            return None
        devices = result.get("devices") or sum(p["count"] for p in result["hardware"]["pools"])
        return value / devices
    return result.get(metric)
