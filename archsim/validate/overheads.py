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
encodings) are averaged.

On a CPU the ops run one after another on the host, so these costs add to every op's time:
they become the profile's in-situ ``kernel_overhead``/``step_overhead`` (training) and
``inference_kernel_overhead``/``iteration_overhead`` (inference), as micro-benchmark
defaults. On a GPU the host launches kernels ahead of the device, so a host cost adds only
where the device waits; the additive cost model would charge it to every kernel, and the
measurements are kept in the profile's raw records, unused.

The validated models are 16–48× wider: there these costs are 1–15% of a step's time.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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
FAMILIES = ("gpt", "llama")
_PROBE_S = 1e-6
"""Launch overhead added to read a prediction's kernel count off its growth."""


def framework_spec(family: str, layers: int) -> ModelSpec:
    """The benchmark's model: a GPT block (LayerNorm, GeLU, learned positions, biases) or a
    Llama block (RMSNorm, SwiGLU, RoPE, GQA, no biases) at width ``WIDTH``."""
    if family == "gpt":
        return ModelSpec(name=f"framework-gpt-{layers}", layers=layers, hidden=WIDTH, heads=2,
                         vocab=VOCAB, mlp="gelu", norm="layernorm", position="learned",
                         bias=True, tied_embeddings=True, max_seq_len=2 * TOKENS,
                         source="archsim calibrate framework benchmark (GPT block, width 16)")
    if family == "llama":
        return ModelSpec(name=f"framework-llama-{layers}", layers=layers, hidden=WIDTH,
                         heads=2, kv_heads=1, ffn_hidden=2 * WIDTH, vocab=VOCAB, mlp="swiglu",
                         norm="rmsnorm", position="rope", bias=False, tied_embeddings=False,
                         max_seq_len=2 * TOKENS,
                         source="archsim calibrate framework benchmark (Llama block, width 16)")
    raise ValueError(f"unknown family {family!r}")


def scenario(family: str, layers: int, phase: str, device: dict[str, Any],
             dtype: str) -> dict[str, Any]:
    """The archsim scenario of one benchmark step on ``device`` (a profile mapping): a decode
    step after ``TOKENS`` tokens of context (its TPOT), or a training step on one sequence."""
    from archsim.validate.predict import one_device_scenario

    spec = framework_spec(family, layers)
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
    """phase → cost per op inside a model (launch overhead included)."""
    step: dict[str, float]
    """phase → cost per step outside the ops."""
    detail: list[dict[str, Any]]
    """Per family and phase: measured and predicted 1- and 3-layer times, kernel counts."""


def fit_overheads(records: Sequence[dict], device: dict[str, Any], dtype: str
                  ) -> Overheads | None:
    """The in-model costs from the framework benchmark's ``records`` and the calibrated
    profile ``device`` (a mapping without an in-situ block), or None without records."""
    from archsim.spec.units import parse_quantity

    launch = parse_quantity(device["launch_overhead"], "time")
    kernel: dict[str, float] = {}
    step: dict[str, float] = {}
    detail: list[dict[str, Any]] = []
    for phase in PHASES:
        extras, fixed = [], []
        for family in FAMILIES:
            got = {r["layers"]: r["time_s"] for r in records
                   if r.get("model") == family and r.get("phase") == phase}
            if not all(n in got for n in LAYERS):
                continue
            (p1, n1), (p3, n3) = (predicted(family, n, phase, device, dtype) for n in LAYERS)
            t1, t3 = got[LAYERS[0]], got[LAYERS[1]]
            extra = ((t3 - t1) - (p3 - p1)) / max(n3 - n1, 1)
            extras.append(extra)
            fixed.append((t1 - p1, n1))
            detail.append({"model": family, "phase": phase, "measured_s": [t1, t3],
                           "predicted_s": [p1, p3], "kernels": [n1, n3]})
        if not extras:
            continue
        extra = statistics.fmean(extras)
        kernel[phase] = max(launch + extra, 0.0)
        added = kernel[phase] - launch
        step[phase] = max(statistics.fmean(gap - n * added for gap, n in fixed), 0.0)
    if not kernel:
        return None
    return Overheads(kernel=kernel, step=step, detail=detail)


_NAMES = {"decode": ("inference_kernel_overhead", "iteration_overhead"),
          "train": ("kernel_overhead", "step_overhead")}


def insitu_block(ov: Overheads, primary_dtype: str) -> dict[str, Any]:
    """The profile's ``insitu`` block holding the in-model costs as micro-benchmark defaults
    (everything else as the isolated model has it: sustained factors 1, the profile's
    curves in ``primary_dtype``)."""
    defaults: dict[str, float] = {}
    sources: dict[str, str] = {}
    for phase, (kernel_name, step_name) in _NAMES.items():
        if phase not in ov.kernel:
            continue
        defaults[kernel_name] = float(f"{ov.kernel[phase]:.4g}")
        defaults[step_name] = float(f"{ov.step[phase]:.4g}")
        what = "decode steps" if phase == "decode" else "training steps"
        sources[kernel_name] = (f"archsim calibrate framework benchmark: {what} of width-{WIDTH} "
                                "GPT and Llama models with 1 and 3 layers, time per added "
                                "layer over the ops it adds (archsim/validate/overheads.py)")
        sources[step_name] = (f"archsim calibrate framework benchmark: {what} of the 1-layer "
                              "models beyond their ops")
    return {"curve_dtype": primary_dtype, "defaults": defaults, "sources": sources}
