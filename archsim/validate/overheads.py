"""In-model fixed costs: what a layer's kernels and a whole step cost inside a model, beyond
their work (no torch needed).

The per-op launch overhead of ``archsim calibrate`` is the time of one tiny op called alone.
Inside a model each of the op graph's ops costs more: module calls, views and reshapes the
graph does not count as ops, the autograd engine, the loop around the step. The framework
benchmark (:func:`archsim.validate.bench.bench_framework`) times decode steps and training
steps of the validation suite's own model code (:mod:`archsim.validate.torch_model`) at a
width of ``WIDTH`` — too small for any kernel to do measurable work — with 1 and 3 layers.
Per kind of step:

* the in-model cost per op is the launch overhead plus the measured time per added layer
  beyond the predicted one, spread over the ops a layer adds:
  ``launch + ((T₃ − T₁) − (P₃ − P₁)) / (n₃ − n₁)``;
* the per-step cost is what the 1-layer step takes beyond its prediction with that per-op
  cost: ``T₁ − P₁ − n₁ · (in-model − launch)`` (at least 0),

where T is measured, P predicted by archsim with the calibrated profile and n the number of
kernels archsim charges a launch for (read off the prediction: its growth per second of
launch overhead). GPT-style and Llama-style blocks (different norms, activations, position
encodings) are averaged, though a Llama block's ops cost about 1.5× a GPT block's (more
PyTorch ops per graph op: reports/validation/h200/host_bound.md).

On a CPU the ops run one after another on the host, so these costs add to every op's time:
they become the profile's in-situ ``kernel_overhead``/``step_overhead`` (training) and
``inference_kernel_overhead``/``iteration_overhead`` (inference), as micro-benchmark
defaults.

On a GPU the host queues kernels ahead of the device (archsim/cost/host.py): a step of these
models, whose kernels do no measurable work, takes the host's time to issue its ops. Per kind
of step, where the measured time per added layer exceeds the device's (predicted) by more than
``HOST_BOUND`` (the host, not the device, set the pace):

* the host's cost per op is the measured time per added layer over the ops a layer adds:
  ``(T₃ − T₁) / (n₃ − n₁)``;
* the per-step cost is what the 1-layer step takes beyond the longer of the device's time and
  the host's issue time: ``T₁ − max(P₁, n₁ · host)`` (at least 0),

and they become ``host_op_cost``/``step_overhead`` (training) and
``inference_host_op_cost``/``iteration_overhead`` (inference). Where the device set the pace
no host cost is written (the device never waits for the host).

The validated models are 16–48× wider: there these costs are 1–15% of a step's time.

On a CPU the width matters for another reason: a small op right after GEMMs that streamed many
weight bytes runs several times slower than alone (a 3072-wide GeLU: 9 µs alone, 29–91 µs
after GEMMs that streamed 32–128 MB; reports/validation/cpu/streaming_ops.md), so the ops
between a model's GEMMs cost more the wider the model. The streaming benchmark
(:func:`archsim.validate.bench.bench_streaming`) times decode steps of 2-layer GPT and Llama
models at widths from 16 to 2048, each op range timed in place (a CPU runs each op before
returning), and :func:`fit_streaming` turns them into the in-model cost of an op that is not a
weight GEMM by the weight bytes a forward pass streams: the profile's
``inference_op_overhead_by_pass_bytes``. Keyed by the pass's bytes, not one layer's, because
what matters is whether the weights stay in the caches from one step to the next: the 2-layer
width-384 models (14 MB) ran their GEMMs twice as fast as a DRAM-bound prediction (their
weights stayed in the 32 MiB L3), while a 4-layer width-512 model (67 MB) streams them from
memory. The weight GEMMs are timed in the same runs and left out of it; they keep
``inference_kernel_overhead`` (at the validated widths their in-model time is within 10% of
archsim's GEMM-grid prediction).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from archsim.spec.model import ModelSpec
from archsim.spec.units import format_quantity

WIDTH = 16
"""Hidden size of the framework benchmark's models: every kernel is a few hundred FLOPs."""
LAYERS = (1, 3)
"""Depths timed; their difference is the cost of two layers."""
TOKENS = 16
"""Prompt length before a timed decode step, and the training sequence length."""
VOCAB = 64
PHASES = ("decode", "train")
STREAMING_LAYERS = 2
"""Depth of the streaming benchmark's models (each op timed in place, no differencing)."""
WEIGHT_GEMM_LABELS = frozenset({"qkv", "proj", "fc1", "fc2", "logits"})
"""Op ranges of archsim/validate/torch_model.py (layer prefix dropped) that hold one weight GEMM
each and nothing else."""
STREAMING_MIN_RUNS = 20
STREAMING_MIN_S = 0.1
STREAMING_MAX_RUNS = 60
"""Op-by-op timed decode steps per streaming record: at least ``STREAMING_MIN_RUNS`` and
``STREAMING_MIN_S`` seconds of them, at most ``STREAMING_MAX_RUNS`` (each is kept in the
profile's raw records)."""
FAMILIES = ("gpt", "llama")
_PROBE_S = 1e-6
"""Launch overhead added to read a prediction's kernel count off its growth."""
HOST_BOUND = 1.2
"""On an asynchronous device: measured/predicted time per added layer above which the host,
not the device, set the benchmark's pace (below it the device's own time explains it). A chosen
margin, not a measurement: on the H200 even models 16–128× wider kept their kernels busy
only 8–22% of an eager decode step (reports/validation/h200/host_bound.md)."""


def framework_spec(family: str, layers: int, width: int = WIDTH) -> ModelSpec:
    """The benchmark's model: a GPT block (LayerNorm, GeLU, learned positions, biases) or a
    Llama block (RMSNorm, SwiGLU, RoPE, GQA, no biases) at ``width`` (heads of 64, at least
    2)."""
    heads = max(2, width // 64)
    if family == "gpt":
        return ModelSpec(name=f"framework-gpt-{layers}-w{width}", layers=layers, hidden=width,
                         heads=heads, vocab=VOCAB, mlp="gelu", norm="layernorm",
                         position="learned", bias=True, tied_embeddings=True,
                         max_seq_len=2 * TOKENS,
                         source=f"archsim calibrate framework benchmark (GPT block, width "
                                f"{width})")
    if family == "llama":
        return ModelSpec(name=f"framework-llama-{layers}-w{width}", layers=layers,
                         hidden=width, heads=heads, kv_heads=heads // 2, ffn_hidden=2 * width,
                         vocab=VOCAB, mlp="swiglu", norm="rmsnorm", position="rope",
                         bias=False, tied_embeddings=False, max_seq_len=2 * TOKENS,
                         source=f"archsim calibrate framework benchmark (Llama block, width "
                                f"{width})")
    raise ValueError(f"unknown family {family!r}")


def scenario(family: str, layers: int, phase: str, device: dict[str, Any],
             dtype: str, width: int = WIDTH) -> dict[str, Any]:
    """The archsim scenario of one benchmark step on ``device`` (a profile mapping): a decode
    step after ``TOKENS`` tokens of context (its TPOT), or a training step on one sequence."""
    from archsim.validate.predict import one_device_scenario

    spec = framework_spec(family, layers, width)
    if phase == "decode":
        workload = {"kind": "inference", "batch": 1, "prompt_len": TOKENS, "gen_len": 2,
                    "dtype": dtype}
    else:
        workload = {"kind": "training", "seq_len": TOKENS, "global_batch": 1,
                    "micro_batch": 1, "dtype": dtype, "optimizer": "adam"}
    return one_device_scenario(spec.name, spec, workload, device)


def predicted(family: str, layers: int, phase: str, device: dict[str, Any],
              dtype: str) -> tuple[float, float]:
    """(predicted time of the step, kernels archsim charges a launch overhead for)."""
    from archsim.api import simulate
    from archsim.spec.units import parse_quantity

    metric = "tpot_s" if phase == "decode" else "step_time_s"
    base = simulate(scenario(family, layers, phase, device, dtype))[metric]
    launch = parse_quantity(device["launch_overhead"], "time")
    probe = {**device, "launch_overhead": format_quantity(launch + _PROBE_S, "time", 9)}
    more = simulate(scenario(family, layers, phase, probe, dtype))[metric]
    return base, round((more - base) / _PROBE_S)


@dataclass(frozen=True)
class Overheads:
    """In-model costs per kind of step (seconds)."""

    kernel: dict[str, float]
    """phase → cost per op inside a model (launch overhead included); on an asynchronous
    device, the host's cost to issue one op (phases where the host set the pace only)."""
    step: dict[str, float]
    """phase → cost per step outside the ops."""
    detail: list[dict[str, Any]]
    """Per family and phase: measured and predicted 1- and 3-layer times, kernel counts."""
    asynchronous: bool = False
    """Fitted for a device that runs asynchronously from its host (a GPU)."""


def fit_overheads(records: Sequence[dict], device: dict[str, Any], dtype: str,
                  asynchronous: bool = False) -> Overheads | None:
    """The in-model costs from the framework benchmark's ``records`` and the calibrated
    profile ``device`` (a mapping without an in-situ block), or None without records;
    ``asynchronous``: the device runs kernels its host queues (a GPU; the module docstring
    says how the fit differs)."""
    from archsim.spec.units import parse_quantity

    launch = parse_quantity(device["launch_overhead"], "time")
    kernel: dict[str, float] = {}
    step: dict[str, float] = {}
    detail: list[dict[str, Any]] = []
    for phase in PHASES:
        steps: list[tuple[float, float, float, float, float, float]] = []
        for family in FAMILIES:
            got = {r["layers"]: r["time_s"] for r in records
                   if r.get("model") == family and r.get("phase") == phase}
            if not all(n in got for n in LAYERS):
                continue
            (p1, n1), (p3, n3) = (predicted(family, n, phase, device, dtype) for n in LAYERS)
            t1, t3 = got[LAYERS[0]], got[LAYERS[1]]
            steps.append((t1, t3, p1, p3, n1, n3))
            detail.append({"model": family, "phase": phase, "measured_s": [t1, t3],
                           "predicted_s": [p1, p3], "kernels": [n1, n3]})
        if not steps:
            continue
        fitted = _host_costs(steps) if asynchronous else _added_costs(steps, launch)
        if fitted is not None:
            kernel[phase], step[phase] = fitted
    if not detail:
        return None
    return Overheads(kernel=kernel, step=step, detail=detail, asynchronous=asynchronous)


def _added_costs(steps: Sequence[tuple[float, ...]], launch: float) -> tuple[float, float]:
    """(cost per op, per-step cost) of a device whose host runs the ops (a CPU)."""
    extra = statistics.fmean(((t3 - t1) - (p3 - p1)) / max(n3 - n1, 1)
                             for t1, t3, p1, p3, n1, n3 in steps)
    per_op = max(launch + extra, 0.0)
    added = per_op - launch
    per_step = max(statistics.fmean(t1 - p1 - n1 * added for t1, _, p1, _, n1, _ in steps), 0.0)
    return per_op, per_step


def _host_costs(steps: Sequence[tuple[float, ...]]) -> tuple[float, float] | None:
    """(host cost per op, per-step cost) of a device that runs what its host queues (a GPU),
    or None where the device, not the host, set the benchmark's pace."""
    measured = statistics.fmean((t3 - t1) / max(n3 - n1, 1) for t1, t3, _, _, n1, n3 in steps)
    device = statistics.fmean((p3 - p1) / max(n3 - n1, 1) for _, _, p1, p3, n1, n3 in steps)
    if measured <= HOST_BOUND * device:
        return None
    per_step = max(statistics.fmean(t1 - max(p1, n1 * measured)
                                    for t1, _, p1, _, n1, _ in steps), 0.0)
    return measured, per_step


_NAMES = {"decode": ("inference_kernel_overhead", "iteration_overhead"),
          "train": ("kernel_overhead", "step_overhead")}
_HOST_NAMES = {"decode": "inference_host_op_cost", "train": "host_op_cost"}


def insitu_block(ov: Overheads, primary_dtype: str) -> dict[str, Any] | None:
    """The profile's ``insitu`` block holding the in-model costs — per-op costs as
    micro-benchmark defaults on a CPU, as the host's measured cost per op on an asynchronous
    device; per-step costs as defaults — with everything else as the isolated model has it
    (sustained factors 1, the profile's curves in ``primary_dtype``); None with nothing
    fitted (a GPU whose host never set the pace)."""
    from archsim.spec.units import format_quantity

    block: dict[str, Any] = {"curve_dtype": primary_dtype}
    defaults: dict[str, float] = {}
    sources: dict[str, str] = {}
    for phase, (kernel_name, step_name) in _NAMES.items():
        if phase not in ov.kernel:
            continue
        what = "decode steps" if phase == "decode" else "training steps"
        if ov.asynchronous:
            kernel_name = _HOST_NAMES[phase]
            block[kernel_name] = format_quantity(ov.kernel[phase], "time", 4)
            sources[kernel_name] = (f"archsim calibrate framework benchmark: {what} of "
                                    f"width-{WIDTH} GPT and Llama models with 1 and 3 layers, "
                                    "host-bound: time per added layer over the ops it adds "
                                    "(archsim/validate/overheads.py)")
        else:
            defaults[kernel_name] = float(f"{ov.kernel[phase]:.4g}")
            sources[kernel_name] = (f"archsim calibrate framework benchmark: {what} of "
                                    f"width-{WIDTH} GPT and Llama models with 1 and 3 layers, "
                                    "time per added layer over the ops it adds "
                                    "(archsim/validate/overheads.py)")
        defaults[step_name] = float(f"{ov.step[phase]:.4g}")
        sources[step_name] = (f"archsim calibrate framework benchmark: {what} of the 1-layer "
                              "models beyond their ops")
    if not sources:
        return None
    return {**block, "defaults": defaults, "sources": sources}


READ_SCALE_RANGE = (0.1, 10.0)
"""Bounds of a measured weight-read scale (the spec's range is (0, 10]): a step whose GEMM
ranges took nearly nothing (a broken record) cannot zero every GEMM's reads."""


class StreamingFit(NamedTuple):
    """What :func:`fit_streaming` finds, by the weight bytes one pass streams (increasing)."""

    op_cost: list[tuple[float, float]]
    """[bytes, in-model seconds of an op that is not a weight GEMM]."""
    read_scale: list[tuple[float, float]]
    """[bytes, factor on the weight GEMMs' read time in the model]."""
    detail: list[dict[str, Any]]
    """One entry per record."""


def fit_streaming(records: Sequence[dict], device: dict[str, Any], dtype: str
                  ) -> StreamingFit:
    """The in-model cost of an op that is not a weight GEMM, and how much faster or slower the
    weight GEMMs run in the model than the GEMM benchmark predicts, by the weight bytes one
    pass streams, from the streaming benchmark's ``records``
    (:func:`archsim.validate.bench.bench_streaming`) and the profile ``device`` (a mapping with
    the framework benchmark's in-situ block).

    The read scale per record: the factor s on the share of the weight GEMMs' predicted work
    that reading their bytes accounts for (archsim/cost/compute.py ``weight_read_factor``),
    the ratio of that share's time when the model runs alone (its weights hot, as in a
    validation case) to its time when each step runs on another copy of the model (cold, the
    copies cycled through ``ROTATE_BYTES`` as the GEMM benchmark cycles its weights), both
    measured inside the weight GEMMs' op ranges (medians) less their predicted fixed costs and
    non-read work: s = (G_hot − fixed − Σ w(1−φ)) / (G_cold − fixed − Σ w(1−φ)). The cold
    steps run right after the hot ones (a second or less), so a change of machine speed
    between the GEMM benchmark and this one does not enter s (it did: a calibration whose
    in-model GEMMs ran 1.5× slower in its last minutes wrote 1.38 at 353 MB where the others
    wrote 0.77–0.88). Records without cold steps (calibrations before
    2026-12-06) compare the hot time with the prediction instead:
    s = (G − fixed − Σ w(1−φ)) / Σ wφ. A model whose pass fits in the last-level cache
    reads its weights from there (the weight GEMMs of the width-384 and 1024 models about 2×
    faster than predicted on a VM with a 300 MiB L3). A width tells the scale only where the
    predicted read time Σ wφ is at least the GEMMs' fixed costs (not widths 16 and 128, where
    it would measure the fixed costs' error), and its cold read time is positive.

    Per record: the measured decode step, less the time measured inside its weight GEMMs' op
    ranges in the same step (the run of median such difference among ``runs``), less the
    predicted work of the other ops and the per-pass cost, spread over those other ops:
    ``(T − G − D − iteration) / N``. The weight GEMMs are measured, not predicted,
    so their prediction error does not leak in; everything outside the op ranges (module calls,
    the loop) counts as the ops' cost, as in :func:`fit_overheads`. GPT and Llama records of
    one width are averaged (bytes and cost; the scale as a geometric mean of the families
    whose reads told it: on a loaded machine one family's cold reads can come out no slower
    than its fixed costs, and the other family's scale then stands for the width; it had
    dropped the width's scale, and with it the fit's last-level-cache correction)."""
    from archsim.cost.compute import compute_time, memory_time, op_overhead
    from archsim.cost.insitu import factors, inference_device
    from archsim.spec.device import DeviceSpec
    from archsim.validate.predict import inference_pass_ops, pass_weight_bytes

    dev = inference_device(DeviceSpec.model_validate(device))
    iteration = factors(dev).iteration_overhead
    by_width: dict[int, list[tuple[float, float, float]]] = {}
    detail: list[dict[str, Any]] = []
    for rec in records:
        spec = framework_spec(rec["model"], rec["layers"], rec["width"])
        ops = [op for op in inference_pass_ops(spec, 1, 1, TOKENS + 1, dtype)
               if op.kind != "comm"]
        others = [op for op in ops if op.layout is None]
        # the run of median time outside the weight GEMMs' op ranges ([step, inside] pairs)
        outside_gemms, step = sorted((t - inside, t) for t, inside in rec["runs"])[
            len(rec["runs"]) // 2]
        work = sum(compute_time(op, dev) - op_overhead(op, dev) for op in others)
        gemms = [op for op in ops if op.layout is not None]
        gemm_fixed = sum(op_overhead(op, dev) for op in gemms)
        predicted_gemms = sum(compute_time(op, dev) for op in gemms)
        reads = rest = 0.0  # predicted work that reading the operands accounts for, the rest
        for op in gemms:
            w = compute_time(op, dev) - op_overhead(op, dev)
            phi = min(1.0, memory_time(op, dev) / w) if w > 0 else 0.0
            reads, rest = reads + w * phi, rest + w * (1.0 - phi)
        measured_gemms = step - outside_gemms
        used = reads >= gemm_fixed
        cold_gemms = (statistics.median(inside for _, inside in rec["cold_runs"])
                      if rec.get("cold_runs") else None)
        if cold_gemms is not None:
            # the same GEMMs read cold in the same minutes (copies cycled): their read time
            # measured, not predicted from the GEMM benchmark of minutes before
            hot_gemms = statistics.median(inside for _, inside in rec["runs"])
            cold_reads = cold_gemms - gemm_fixed - rest
            used = used and cold_reads > 0
            ratio = (hot_gemms - gemm_fixed - rest) / cold_reads if cold_reads > 0 else 1.0
        else:
            ratio = (measured_gemms - gemm_fixed - rest) / reads if reads > 0 else 1.0
        scale = min(max(ratio, READ_SCALE_RANGE[0]), READ_SCALE_RANGE[1])
        cost = max((outside_gemms - work - iteration) / len(others), 0.0)
        streamed = pass_weight_bytes(spec, dtype)
        by_width.setdefault(rec["width"], []).append(
            (streamed, cost, scale if used else None))
        detail.append({"model": rec["model"], "width": rec["width"], "pass_weight_bytes":
                       streamed, "measured_s": step, "weight_gemms_s": measured_gemms,
                       "weight_gemms_predicted_s": predicted_gemms,
                       "weight_gemms_cold_s": cold_gemms,
                       "weight_reads_predicted_s": reads,
                       "weight_read_scale": scale, "weight_read_scale_used": used,
                       "other_ops": len(others), "other_work_s": work, "cost_per_op_s": cost})
    rows = sorted((statistics.fmean(b for b, _, _ in got), statistics.fmean(c for _, c, _ in got),
                   _geometric_mean_or_none([s for _, _, s in got]))
                  for got in by_width.values())
    return StreamingFit([(float(f"{b:.4g}"), float(f"{c:.4g}")) for b, c, _ in rows],
                        [(float(f"{b:.4g}"), float(f"{s:.4g}")) for b, _, s in rows
                         if s is not None], detail)


def _geometric_mean_or_none(values: list[float | None]) -> float | None:
    """The geometric mean of the values that are not None, or None where none is."""
    told = [v for v in values if v is not None]
    return statistics.geometric_mean(told) if told else None
