"""In-situ performance model of a device: how its kernels and collectives run *inside* a real
training or inference run, as opposed to alone in a micro-benchmark.

A handful of physically named parameters, each with a default from a cited micro-benchmark
(``sources`` says which) and, where ``archsim calibrate --runs`` fitted it to measured
end-to-end runs, the fitted value (``fitted`` lists them, ``provenance`` says from what). Their
effect on the cost model (archsim/cost/insitu.py, archsim/cost/compute.py):

* ``matmul_curve[dtype]`` — a sustained GEMM sweep in that dtype (cuBLASLt in long loops),
  used as is where given (times ``sustained_compute``); otherwise
* ``matmul_ceiling[dtype]`` — sustained maximum achievable matmul rate / dense peak (the
  "maximum achievable matmul FLOPS" of a brute-force shape search, long timed loops). The
  device's isolated GEMM curve (``efficiency.matmul``) keeps its shape; it is scaled so that
  its plateau equals the ceiling, and read at the same ideal duration for other dtypes
  (FLOPs × peak of ``curve_dtype`` / peak of the dtype).
* ``attention_ceiling`` — the same for fused attention kernels (FlashAttention forward).
* ``attention_ceiling_flash3`` — fused attention with the Hopper-generation kernels
  (FlashAttention-3, cuDNN / Transformer Engine fused attention) where the device has them;
  ``plan.attention_kernel`` chooses (auto: the best the device has).
* ``memory_efficiency`` — achieved / peak bandwidth of streaming kernels that read and write
  (BabelStream triad), used for every memory-bound op instead of ``efficiency.memory``.
* ``memory_ceiling`` — the fastest streaming kernel's achieved / peak bandwidth on the device
  (BabelStream dot, read-only): a fit may not put ``memory_efficiency`` above it (memory-bound
  kernels inside a run do not stream faster than the best streaming benchmark). Measured, not
  fitted; absent: the fit's general bound.
* ``sustained_compute`` — compute speed in a training run / in the micro-benchmark (clocks
  under the power cap and heat of hours of full steps, kernels of the training framework);
  scales every matmul and vector rate of training.
* ``kernel_overhead`` — fixed time per kernel of a training step (launch and dispatch gaps
  of the framework, kernel tails).
* ``inference_compute``, ``inference_kernel_overhead`` — the same two for inference and
  serving (short bursts, engines such as TensorRT-LLM or vLLM with their own kernels and
  launch paths); archsim/plan/inference.py's ``runtime_device`` puts them in place.
* ``collective_efficiency`` — collective and point-to-point bandwidth in a run / in
  nccl-tests (the links' ``efficiency``).
* ``overlap_slowdown`` — how much slower compute runs while a collective overlaps it (the
  collective's kernels take SMs and memory bandwidth): 1.2 = 20% slower during the overlap.
* ``step_overhead`` — fixed time per training step (framework, optimizer launch, logging).
* ``iteration_overhead`` — fixed time per inference forward pass (scheduling, sampling).
* ``host_op_cost``, ``inference_host_op_cost`` — host time to issue one op of a training step
  / of an inference forward pass (eager PyTorch: Python, module calls, the dispatcher, the
  launch), for a device that runs asynchronously from its host (a GPU). The host queues kernels
  ahead of the device, so this cost adds nothing while the device is the slower of the two; a
  pass takes at least its op count × this cost (archsim/cost/host.py). Measured on the user's
  host by the framework benchmark of ``archsim calibrate`` (archsim/validate/overheads.py), not
  fitted to runs; absent (the shipped profiles, serving engines, CUDA graphs): the host never
  sets the pace.
* ``other_op_overhead`` — fixed time of each op that is not a weight GEMM (norms, activations,
  residual adds, attention, KV-cache writes); absent: ``kernel_overhead`` like every op.
* ``inference_op_overhead_by_pass_bytes`` — ``[[bytes, seconds], ...]``: the in-model cost of
  an inference op that is not a weight GEMM, by the weight bytes one forward pass's GEMMs
  stream on a device (all its layers' and the head's weights: whether they stay in the caches).
  On a CPU a small op right after GEMMs that streamed many weight bytes runs several times
  slower than alone (a GeLU: 9 µs alone, 29–91 µs after GEMMs that streamed 32–128 MB;
  reports/validation/cpu/streaming_ops.md), so a wider model's ops between its GEMMs cost more.
  An inference run sets ``other_op_overhead`` from it, interpolated in log(bytes) and held at
  the ends; the weight GEMMs keep ``inference_kernel_overhead``. Measured by the framework
  benchmark of ``archsim calibrate`` on a CPU (archsim/validate/overheads.py), not fitted.
* ``weight_read_scale`` — factor on the time a weight GEMM spends reading its operands: the
  share φ = min(1, bytes / bandwidth ÷ work) of its work is scaled, 1 − φ + φ·scale
  (archsim/cost/compute.py ``weight_read_factor``); absent: 1.
* ``inference_weight_read_scale_by_pass_bytes`` — ``[[bytes, factor], ...]``: that factor in an
  inference pass, by the weight bytes the pass streams. ``archsim calibrate`` times GEMMs with
  each weight cycling through 256 MiB of copies (cold caches); a model whose whole pass fits in
  the last-level cache reads its weights from there between decode steps (on a VM with a
  300 MiB L3, decode GEMVs of a 67 MB model streamed at 34 GB/s, m = 1 GEMVs cycled through
  256 MiB at 19–29 GB/s; reports/validation/cpu-intel/first-run/). An inference run sets
  ``weight_read_scale`` from it (log(bytes), held at the ends); training is untouched. Measured
  by the streaming benchmark of ``archsim calibrate`` on a CPU (the weight GEMMs' op ranges in
  the model against their prediction), not fitted.
* ``gemm_knee`` — exponent p of a GEMM's smooth roofline, (t_flops^p + t_bytes^p)^(1/p)
  instead of max(): GEMMs near the ridge point (a short prompt's) reach neither roof; in
  training and inference alike; a micro-benchmark value, not fitted
  (reports/calibration/small_m_gemm.md).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from archsim.spec.base import StrictModel
from archsim.spec.efficiency import MatmulEfficiencySpec
from archsim.spec.units import DurationOrZero

InSituDtype = Literal["fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8", "fp6", "fp4", "int4"]

FITTABLE = ("memory_efficiency", "kernel_overhead", "sustained_compute", "inference_compute",
            "inference_kernel_overhead", "collective_efficiency", "overlap_slowdown",
            "step_overhead", "iteration_overhead")
"""Parameters a calibration may write (each with a default and a fallback)."""

FALLBACK = {"sustained_compute": 1.0, "inference_compute": 1.0, "collective_efficiency": 1.0,
            "overlap_slowdown": 1.0, "step_overhead": 0.0, "iteration_overhead": 0.0}
"""Fallbacks of fittable parameters that have neither a value nor a default (the memory
efficiency falls back to the profile's, kernel costs to its launch overhead)."""

PARAMETERS = ("matmul_curve", "matmul_ceiling", "attention_ceiling", "attention_ceiling_flash3",
              "gemm_knee", "memory_ceiling", "memory_efficiency", "kernel_overhead",
              "sustained_compute", "inference_compute", "inference_kernel_overhead",
              "collective_efficiency", "overlap_slowdown", "step_overhead",
              "iteration_overhead", "host_op_cost", "inference_host_op_cost",
              "other_op_overhead", "inference_op_overhead_by_pass_bytes",
              "weight_read_scale", "inference_weight_read_scale_by_pass_bytes")
"""The parameter names (what ``sources`` and ``fitted`` may name)."""


class AccuracySpec(StrictModel):
    """Cross-validated error of the calibrated profile on one kind of run.

    ``errors`` are signed relative errors of the predicted time (predicted − measured) /
    measured, each from a fit that did not see that run's source (leave-one-source-out) or
    fold; ``p10``/``p90`` are their 10th and 90th percentiles: the interval a result carries.
    """

    runs: int = Field(ge=1)
    sources: int = Field(ge=1)
    mape: float = Field(ge=0)
    bias: float
    """Mean signed error (negative: the profile predicts too fast)."""
    p10: float
    p90: float
    method: str = "leave-one-source-out"
    from_defaults: int = Field(default=0, ge=0)
    """Held-out runs predicted with the micro-benchmark defaults because no run of the device
    was left to fit once their fold was out (every run of the device from one source, under
    leave-one-source-out). Their errors are the defaults' error, not the fitted profile's."""


class KindRange(StrictModel):
    """The spans of one kind of run (training or inference) behind a calibration."""

    devices: tuple[int, int] | None = None
    tp: tuple[int, int] | None = None
    pp: tuple[int, int] | None = None
    step_time_s: tuple[float, float] | None = None
    """Shortest and longest measured training step (training only): a step shorter than any
    calibrated one carries the fitted fixed cost per step (``step_overhead``, fitted to those
    runs) as a larger share than any run the error bar was read off."""


class CalibratedRange(StrictModel):
    """What the runs behind a calibration covered; results outside it say so."""

    kinds: list[str] = Field(default_factory=list)
    dtypes: list[str] = Field(default_factory=list)
    devices: tuple[int, int] | None = None
    """Fewest and most devices in one run."""
    tp: tuple[int, int] | None = None
    pp: tuple[int, int] | None = None
    cp: tuple[int, int] | None = None
    zero: list[int] = Field(default_factory=list)
    seq_len: tuple[int, int] | None = None
    batch: tuple[int, int] | None = None
    prompt_len: tuple[int, int] | None = None
    """Fewest and most prompt tokens of the inference runs (the TTFT a prompt of another
    length gets is extrapolated)."""
    decode_batch: tuple[int, int] | None = None
    """Fewest and most sequences decoding together among the inference runs that generate
    more than one token (a TTFT run's batch of one decodes nothing: a batch-1 decode, bound by
    reading the weights once per token, is not the batched decode such runs calibrate)."""
    context: tuple[int, int] | None = None
    """Shortest and longest prompt + generated tokens of a sequence among the runs that
    decode (the KV cache a decode step reads)."""
    attention: list[str] = Field(default_factory=list)
    """Attention masks among the runs: causal (decoders) and/or bidirectional (encoders)."""
    sparsity: list[str] = Field(default_factory=list)
    """Weight sparsity among the runs: dense, 2:4, unstructured."""
    weights: list[str] = Field(default_factory=list)
    """Dtypes the runs stored their weights in (fp16 counted as bf16; int4 under a weight-only
    compression plan)."""
    layers: list[str] = Field(default_factory=list)
    """Feed-forward layers among the runs: dense and/or moe (mixture of experts)."""
    launch: list[str] = Field(default_factory=list)
    """How the inference runs launched their kernels: streamed and/or graphs (CUDA/HIP graphs,
    ``workload.cuda_graphs``): the fitted cost per kernel is that launch path's."""
    by_kind: dict[Literal["training", "inference"], KindRange] = Field(default_factory=dict)
    """Device-count, tp and pp spans of each kind's runs, and the training step times. The
    spans above mix the kinds: an H100 profile whose inference runs include one GPU but whose
    training runs start at 8 is not calibrated for one-GPU training (empty in an overlay from
    before they were recorded: the spans above apply)."""


class InSituSpec(StrictModel):
    """In-situ parameters of one device (see the module docstring for each one's effect)."""

    matmul_curve: dict[InSituDtype, MatmulEfficiencySpec] = Field(default_factory=dict)
    """A sustained GEMM sweep per dtype (long timed loops of one shape, e.g. cuBLASLt), by the
    FLOPs of one call: where a dtype has one it replaces the isolated curve and its ceiling."""
    matmul_ceiling: dict[InSituDtype, float] = Field(default_factory=dict)
    curve_dtype: InSituDtype = "bf16"
    """Dtype whose dense peak ``efficiency.matmul`` is a fraction of."""
    attention_ceiling: float | None = Field(default=None, gt=0, le=1)
    attention_ceiling_flash3: float | None = Field(default=None, gt=0, le=1)
    gemm_knee: float | None = Field(default=None, ge=1, le=100)
    """Exponent p of the smooth roofline of a GEMM (kind ``matmul``, no fused dequantization):
    t = (t_flops^p + t_bytes^p)^(1/p) (archsim/cost/compute.py). Measured, not fitted;
    None: max(t_flops, t_bytes)."""
    memory_ceiling: float | None = Field(default=None, gt=0, le=1)
    """Fastest streaming kernel (BabelStream dot) / peak bandwidth: the bound of a fitted
    ``memory_efficiency`` (None: the fit's general bound)."""
    # the fittable parameters: a value written here is the current one (fitted, or set by
    # hand); absent, the micro-benchmark value in ``defaults``; absent there too, the
    # fallback of :meth:`value`
    memory_efficiency: float | None = Field(default=None, gt=0, le=1)
    kernel_overhead: DurationOrZero | None = None
    sustained_compute: float | None = Field(default=None, gt=0, le=1)
    inference_compute: float | None = Field(default=None, gt=0, le=1)
    inference_kernel_overhead: DurationOrZero | None = None
    collective_efficiency: float | None = Field(default=None, gt=0, le=1)
    overlap_slowdown: float | None = Field(default=None, ge=1, le=3)
    step_overhead: DurationOrZero | None = None
    iteration_overhead: DurationOrZero | None = None
    # measured on the user's host, not fitted (None: the host never sets the pace)
    host_op_cost: DurationOrZero | None = None
    """Host time to issue one op of a training step on an asynchronous device (a GPU)."""
    inference_host_op_cost: DurationOrZero | None = None
    """The same for one op of an inference forward pass."""
    other_op_overhead: DurationOrZero | None = None
    """Fixed time of each op that is not a weight GEMM (None: ``kernel_overhead``)."""
    inference_op_overhead_by_pass_bytes: list[tuple[float, DurationOrZero]] | None = None
    """[weight bytes one forward pass streams, in-model cost of an op that is not a weight GEMM]
    points of an inference pass, bytes increasing (measured on a CPU; see the module
    docstring)."""
    weight_read_scale: float | None = Field(default=None, gt=0, le=10)
    """Factor on the time a weight GEMM spends reading its operands (None: 1)."""
    inference_weight_read_scale_by_pass_bytes: list[tuple[float, float]] | None = None
    """[weight bytes one forward pass streams, the factor on the weight GEMMs' read time in
    the model] points of an inference pass, bytes increasing (measured on a CPU; see the module
    docstring)."""
    sources: dict[str, str] = Field(default_factory=dict)
    """Parameter → where its default comes from (micro-benchmark and source)."""
    fitted: list[str] = Field(default_factory=list)
    """Parameters whose value was fitted to measured runs (``provenance`` says which)."""
    defaults: dict[str, float] = Field(default_factory=dict)
    """The micro-benchmark value of fittable parameters (with ``sources``): what a parameter
    is when not fitted, what a fit starts from and is regularised toward, what
    ``calibration: uncalibrated`` runs with. Durations in seconds."""
    fitted_from: str = ""
    """The runs the fitted values came from (and what was taken from a sibling)."""
    provenance: dict[str, Any] = Field(default_factory=dict)
    """The fit: runs file and its hash, rows used, date, archsim version, objective."""
    accuracy: dict[str, AccuracySpec] = Field(default_factory=dict)
    """Kind of run (training, ttft, tpot, e2e_latency, throughput) → cross-validated error."""
    calibrated_range: CalibratedRange | None = None
    prior_from: str | None = None
    """A device of the same silicon (the A100 40 GB's is the 80 GB, the H200's the H100)
    whose fitted compute, kernel, overhead and collective parameters are this device's prior
    (its own memory efficiency is not shared): a device with few runs leans on its sibling's."""

    def value(self, name: str, device_memory: float, launch: float) -> float:
        """A fittable parameter's value: as written, else its default, else the fallback —
        the profile's isolated memory efficiency ``device_memory``, its launch overhead
        ``launch`` for the kernel costs, 1 for factors, 0 for fixed overheads."""
        got = getattr(self, name)
        if got is not None:
            return got
        if name in self.defaults:
            return self.defaults[name]
        return FALLBACK.get(name, {"memory_efficiency": device_memory}.get(name, launch))

    @field_validator("matmul_ceiling")
    @classmethod
    def _ceilings_in_range(cls, ceilings: dict[str, float]) -> dict[str, float]:
        for dtype, value in ceilings.items():
            if not 0 < value <= 1:
                raise ValueError(f"matmul_ceiling.{dtype}: {value!r} must be in (0, 1] "
                                 "(a fraction of the dense peak)")
        return ceilings

    @field_validator("inference_op_overhead_by_pass_bytes",
                     "inference_weight_read_scale_by_pass_bytes")
    @classmethod
    def _bytes_increasing(cls, points: list[tuple[float, float]] | None, info: ValidationInfo
                          ) -> list[tuple[float, float]] | None:
        if points is None:
            return None
        what = ("factor" if info.field_name == "inference_weight_read_scale_by_pass_bytes"
                else "seconds")
        if not points:
            raise ValueError(f"expected at least one [bytes, {what}] point")
        sizes = [b for b, _ in points]
        if any(b <= 0 for b in sizes) or any(b <= a for a, b in pairwise(sizes)):
            raise ValueError(f"pass bytes {sizes} must be positive and increasing")
        if what == "factor" and any(not 0 < f <= 10 for _, f in points):
            raise ValueError(f"factors {[f for _, f in points]} must be in (0, 10]")
        return points

    @field_validator("sources", "defaults", "fitted")
    @classmethod
    def _known_parameters(cls, names: Any, info: ValidationInfo) -> Any:
        """``sources``, ``defaults`` and ``fitted`` may only name parameters."""
        unknown = sorted(set(names) - set(PARAMETERS))
        if unknown:
            raise ValueError(f"{info.field_name} names unknown parameters "
                             f"{', '.join(unknown)} (expected some of: {', '.join(PARAMETERS)})")
        return names
