"""Calibrate devices from runs and write the result: an overlay YAML any command can use.

``calibrate_runs`` fits every device of a runs file on all its runs (the values shipped or
written) and cross-validates the fit (the error bar); ``overlay`` is the YAML mapping
``archsim/spec/calibration.py`` reads: per device, the complete in-situ block — defaults with
their sources, fitted values, the cross-validated accuracy per kind of run and the range of
runs it was calibrated on — plus the provenance of the fit.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archsim.insitu.crossval import (
    Held,
    accuracy,
    cross_validate,
    devices_in_order,
    family_values,
)
from archsim.insitu.fit import PARAMS, FitResult, fit_device, uncalibrated
from archsim.insitu.predict import Loaded, Prediction
from archsim.spec.calibration import KIND
from archsim.spec.insitu import CalibratedRange, InSituSpec, KindRange


@dataclass
class DeviceCalibration:
    device: str
    fit: FitResult
    insitu: InSituSpec
    held: list[Held] = field(default_factory=list)
    far_off: list[Prediction] = field(default_factory=list)
    """Runs far off after the fit (:func:`far_off_runs`): named to the user and in
    ``provenance.far_off_runs``. They stay in the error bars: a run the model misses is part
    of its error unless the user finds the row wrong and drops it."""


FAR_OFF = 0.25
"""A run more than this far off after the fit is a suspect (a judgement: every shipped
profile's in-sample errors on the public corpus lie within it but for a handful of rows the
README names)."""


def far_off_runs(predictions: Sequence[Prediction]) -> list[Prediction]:
    """Fitted runs (weight > 0) far off after the fit: more than ``FAR_OFF`` off and, with four
    or more runs to measure a spread, also more than 3 median absolute deviations beyond the
    median error; with fewer, every run more than ``FAR_OFF`` off (there is no spread to
    measure, and a 100× row among three would otherwise go unnamed)."""
    preds = [p for p in predictions if p.run.weight > 0 and p.error is not None]
    errs = sorted(p.error for p in preds)  # type: ignore[misc]
    if len(errs) < 4:
        return [p for p in preds if abs(p.error) > FAR_OFF]  # type: ignore[arg-type]
    med = errs[len(errs) // 2]
    mad = sorted(abs(e - med) for e in errs)[len(errs) // 2] or 1e-9
    return [p for p in preds if abs(p.error - med) > 3 * mad  # type: ignore[operator]
            and abs(p.error) > FAR_OFF]  # type: ignore[arg-type]


def calibrate_runs(loaded: Sequence[Loaded], cv: str = "source",
                   progress: Callable[[str], None] | None = None,
                   provenance: dict[str, Any] | None = None, workers: int = 1
                   ) -> list[DeviceCalibration]:
    """Fit and cross-validate every device of ``loaded`` (folds on ``workers`` processes)."""
    by_device = devices_in_order(loaded)
    fits = {}
    fitted: dict[str, dict[str, float]] = {}
    for name, runs in by_device.items():
        if progress is not None:
            progress(f"{name}: fitting {sum(1 for ld in runs if ld.run.weight > 0)} runs")
        fits[name] = fit_device(runs, runs[0].device,
                                family=family_values(runs[0].device, fitted))
        fitted[name] = fits[name].shared()
    held_all = cross_validate(loaded, cv, progress, workers, start=fitted) \
        if cv != "none" else []
    out = []
    for name, runs in by_device.items():
        base, fit = runs[0].device, fits[name]
        ids = {ld.run.id for ld in runs}  # by run id: folds may come back from processes
        held = [h for h in held_all if h.prediction.run.id in ids]
        if cv != "none":  # weight-0 runs no fold scored: the full fit never saw them
            scored = {h.prediction.run.id for h in held}
            held += [h for h in never_fitted(fit) if h.prediction.run.id not in scored]
        start = base.insitu or uncalibrated(base)
        used = _fitted_runs(runs, fit)
        far = far_off_runs(fit.predictions)
        stopped = at_range_ends(fit, start)
        kept = kept_parameters(start, fit, {ld.run.fit_kind for ld in used})
        insitu = fit.insitu(start).model_copy(update={
            **{n: getattr(start, n) for n in kept},
            **({"fitted": [*fit.fitted, *kept]} if kept else {}),
            "accuracy": {**_other_kinds(start.accuracy, used), **accuracy(held, cv)},
            "calibrated_range": merged_range(calibrated_range(used), start, used, kept),
            "provenance": {"runs_sha256": (provenance or {}).get("runs_sha256"),
                           "date": (provenance or {}).get("date"), "cross_validation": cv,
                           "runs_used": len(used),
                           "sources": sorted({r.run.source for r in used}),
                           "evaluations": fit.evaluations,
                           **({"far_off_runs": sorted(p.run.id for p in far)}
                              if far else {}),
                           **({"at_range_ends": stopped} if stopped else {}),
                           **({"kept_from_profile": kept} if kept else {})},
            "fitted_from": f"{len(used)} runs ({_sources(used)})"
            + (f"; {', '.join(fit.inherited)} from {start.prior_from}'s fit"
               if fit.inherited else "")})
        out.append(DeviceCalibration(name, fit, insitu, held, far))
    return out


def at_range_ends(fit: FitResult, start: InSituSpec) -> list[str]:
    """Fitted parameters that stopped at an end of their physical range (``fit.bounds_for``):
    the runs asked for more than the model gives with any value in range (recorded in the
    overlay's ``provenance.at_range_ends``)."""
    import math

    from archsim.insitu.fit import bounds_for

    def at_end(value: float, lo: float, hi: float, log: bool) -> bool:
        # within a thousandth of the range (of its log for a log-scaled one) of an end: a
        # relative tolerance had missed an end at 0 (the L40S's iteration_overhead at 26 ns
        # of a 0-10 ms range)
        if log:
            value, lo, hi = math.log(value), math.log(lo), math.log(hi)
        tol = RANGE_END_SHARE * (hi - lo)
        return value - lo <= tol or hi - value <= tol

    bounds = bounds_for(start, fit.defaults)
    return [name for name in fit.fitted
            if at_end(fit.values[name], bounds[name].lo, bounds[name].hi, bounds[name].log)]


RANGE_END_SHARE = 1e-3
"""A fitted value this share of its range from an end stopped there (``at_range_ends``)."""


def never_fitted(fit: FitResult) -> list[Held]:
    """The runs of weight 0, predicted by the fit on all the weighted runs, which never saw
    them (their error counts in the profile's error bar where no cross-validation fold scored
    them: a source of weight-0 runs only, whose runs the fit never saw either)."""
    prior_only = not fit.fitted and not fit.inherited  # no weighted run: the defaults
    return [Held(p, NEVER_FITTED, prior_only) for p in fit.predictions
            if p.run.weight <= 0 and p.error is not None]


NEVER_FITTED = "never fitted (weight 0)"
"""The fold name of a weight-0 run's prediction."""


GROUP_KIND = {"training": "training", "ttft": "inference", "tpot": "inference",
              "e2e_latency": "inference", "throughput": "inference"}
"""The kind of run each accuracy group is read off."""


def kept_parameters(start: InSituSpec, fit: FitResult, kinds: set[str]) -> list[str]:
    """Parameters the profile being calibrated had fitted, for a kind of run it holds an error
    bar of, that the new runs cannot inform (no run of their kind): an overlay fitted on
    inference runs keeps the profile's training calibration, which it had dropped for the
    micro-benchmark defaults (an A100 training step 15% faster)."""
    calibrated = {GROUP_KIND.get(g) for g in start.accuracy or {}}
    return [n for n in start.fitted or [] if n in PARAMS and n not in fit.fitted
            and n not in fit.inherited and not set(PARAMS[n].kinds) & kinds
            and set(PARAMS[n].kinds) <= calibrated]


def _other_kinds(acc: dict | None, used: Sequence[Loaded]) -> dict:
    """The profile's error bars of kinds of run the new runs hold none of (they keep their
    parameters, :func:`kept_parameters`)."""
    kinds = {ld.run.fit_kind for ld in used}
    return {g: a for g, a in (acc or {}).items() if GROUP_KIND.get(g) not in kinds}


def merged_range(new: CalibratedRange, start: InSituSpec, used: Sequence[Loaded],
                 kept: list[str]) -> CalibratedRange:
    """The new runs' range, and where parameters of another kind were kept, the profile's range
    for that kind beside it (kinds and lists joined, spans widened to cover both)."""
    old = start.calibrated_range
    if not kept or old is None:
        return new
    kinds = {ld.run.fit_kind for ld in used}
    other = {k: v for k, v in old.by_kind.items() if k not in kinds}

    def hull(a, b):
        if a is None or b is None:
            return a if b is None else b
        return (min(a[0], b[0]), max(a[1], b[1]))

    def join(a: list, b: list) -> list:
        return sorted(set(a) | set(b))

    return new.model_copy(update={
        "kinds": join(new.kinds, old.kinds), "dtypes": join(new.dtypes, old.dtypes),
        "devices": hull(new.devices, old.devices), "tp": hull(new.tp, old.tp),
        "pp": hull(new.pp, old.pp), "cp": hull(new.cp, old.cp), "zero": join(new.zero, old.zero),
        "seq_len": hull(new.seq_len, old.seq_len), "batch": hull(new.batch, old.batch),
        "prompt_len": hull(new.prompt_len, old.prompt_len),
        "decode_batch": hull(new.decode_batch, old.decode_batch),
        "context": hull(new.context, old.context),
        "attention": join(new.attention, old.attention),
        "sparsity": join(new.sparsity, old.sparsity), "weights": join(new.weights, old.weights),
        "layers": join(new.layers, old.layers), "launch": join(new.launch, old.launch),
        "by_kind": {**other, **new.by_kind}})


def _fitted_runs(runs: Sequence[Loaded], fit: FitResult) -> list[Loaded]:
    """The runs the fit used: weighted (weight > 0) and feasible in archsim (a plan that does
    not fit in memory is left out, ``FitResult.infeasible``); ``fit.predictions`` follow
    ``runs``."""
    return [ld for ld, p in zip(runs, fit.predictions, strict=True)
            if ld.run.weight > 0 and p.predicted is not None]


def _sources(runs: Sequence[Loaded]) -> str:
    return ", ".join(dict.fromkeys(ld.run.source for ld in runs))


def calibrated_range(runs: Sequence[Loaded]) -> CalibratedRange:
    """What the fitted ``runs`` covered: kinds, dtypes, devices per run, tp/pp/cp, ZeRO stages,
    sequence lengths (training), batch sizes and prompt lengths (inference), the batches and
    contexts of the runs that decode, attention masks,
    weight sparsity and dtypes, dense or MoE layers, and each kind's own spans."""
    def span(values: list[int]) -> tuple[int, int] | None:
        return (min(values), max(values)) if values else None

    from archsim.accuracy import (
        attention_mask,
        batch_and_prompts,
        decode_context,
        kernel_launch,
        layer_kind,
        sparsity_pattern,
        weight_dtype,
    )

    scs = [ld.scenario for ld in runs]
    training = [sc for sc in scs if sc.workload.kind == "training"]
    # serving runs are calibrated as inference (their batch is the scheduler's limit,
    # their prompts the stream's: archsim/accuracy.py batch_and_prompts)
    inference = [sc for sc in scs if sc.workload.kind in ("inference", "serving")]
    batches = [batch_and_prompts(sc) for sc in inference]
    decoding = [(b, c) for sc, (b, _) in zip(inference, batches, strict=True)
                if (c := decode_context(sc)) is not None]
    by_kind = {}
    for kind, group in (("training", training), ("inference", inference)):
        if group:
            steps = [t for ld in runs if ld.run.fit_kind == kind
                     and (t := measured_step_s(ld)) is not None]
            by_kind[kind] = KindRange(
                devices=span([sc.hardware.count or 1 for sc in group]),
                tp=span([sc.plan.tp for sc in group]), pp=span([sc.plan.pp for sc in group]),
                step_time_s=(_sig(min(steps)), _sig(max(steps))) if steps else None)
    return CalibratedRange(
        kinds=sorted({ld.run.fit_kind for ld in runs}),
        dtypes=sorted({gemm_dtype(sc) for sc in scs}),
        devices=span([sc.hardware.count or 1 for sc in scs]),
        tp=span([sc.plan.tp for sc in scs]), pp=span([sc.plan.pp for sc in scs]),
        cp=span([sc.plan.cp for sc in training]),
        zero=sorted({sc.plan.zero for sc in training}),
        seq_len=span([sc.workload.seq_len for sc in training]),  # type: ignore[union-attr]
        batch=span([b for b, _ in batches]),
        prompt_len=span([n for _, prompts in batches for n in prompts]),
        decode_batch=span([b for b, _ in decoding]),
        context=span([c for _, c in decoding]),
        attention=sorted({attention_mask(sc) for sc in scs}),
        sparsity=sorted({sparsity_pattern(sc) for sc in scs}),
        weights=sorted({weight_dtype(sc) for sc in scs}),
        layers=sorted({layer_kind(sc) for sc in scs}),
        launch=sorted({kernel_launch(sc) for sc in inference}), by_kind=by_kind)


def _sig(x: float) -> float:
    return float(f"{x:.4g}")


def measured_step_s(loaded: Loaded) -> float | None:
    """A training run's measured step time: its ``step_time_s``, or the tokens of one step
    (global batch × sequence length) over its measured tokens/s (per device × devices); None
    for an inference run."""
    run, sc = loaded.run, loaded.scenario
    if sc.workload.kind != "training" or run.measured <= 0:
        return None
    if run.metric == "step_time_s":
        return run.measured
    tokens = sc.workload.global_batch * sc.workload.seq_len
    if run.metric == "tokens_per_s":
        return tokens / run.measured
    if run.metric == "tokens_per_s_per_device":
        return tokens / (run.measured * (sc.hardware.count or 1))
    return None


def gemm_dtype(sc) -> str:
    """The dtype class a scenario's GEMMs run in (archsim/accuracy.py's, fp16 as bf16)."""
    from archsim.accuracy import gemm_dtype_class

    return gemm_dtype_class(sc)


def overlay(cals: Sequence[DeviceCalibration], provenance: dict[str, Any]) -> dict[str, Any]:
    """The overlay mapping (``kind: insitu-calibration``) for ``cals``."""
    return {"kind": KIND, "provenance": provenance,
            "devices": {c.device: {"insitu": c.insitu.model_dump(mode="json",
                                                                  exclude_defaults=True)}
                        for c in cals}}


def runs_sha256(path: Path) -> str:
    """The hash of a runs file an overlay's provenance records (``runs_sha256``)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def provenance_of(path: Path, rows: int) -> dict[str, Any]:
    from archsim import __version__

    return {"runs": str(path), "runs_sha256": runs_sha256(path), "rows": rows,
            "date": _dt.date.today().isoformat(), "archsim_version": __version__,
            "objective": "soft-L1 of log(predicted/measured time), scale 0.1, plus "
                         "0.05 * (value - default) / sigma per parameter (archsim/insitu/fit.py)"}


def write_overlay(path: Path, data: dict[str, Any]) -> None:
    import yaml

    from archsim.io import write_text_atomic

    header = ("# archsim in-situ calibration overlay, written by `archsim calibrate --runs`.\n"
              "# Use it with any command: --set calibration=THIS_FILE (or `calibration:` in "
              "a scenario).\n")
    write_text_atomic(path, header + yaml.safe_dump(data, sort_keys=False, width=100))
