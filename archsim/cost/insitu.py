"""The in-situ performance model as numbers the cost functions use (archsim/spec/insitu.py).

A device without an ``insitu`` block runs as its micro-benchmark efficiencies say (the
isolated-kernel model); with one, every kernel time, collective and overhead in training,
inference and serving goes through the factors below, once per device spec.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from archsim.spec.device import DeviceSpec


@dataclass(frozen=True, slots=True)
class InSituFactors:
    """Per-device factors (1 / none where the device has no in-situ parameters)."""

    matmul_scale: dict[str, float]
    """dtype → multiplier of the isolated GEMM curve (ceiling / plateau × sustained)."""
    curves: dict[str, Any]
    """dtype → the in-situ sweep (MatmulEfficiencySpec) that replaces the isolated curve."""
    default_matmul_scale: float
    curve_peak: float | None
    """Dense peak of the dtype the GEMM curve was measured in (None: read curves as given)."""
    attention_scale: float | None
    vector_scale: float
    """The sustained-compute factor (on vector units and on in-situ GEMM sweeps alike)."""
    memory_efficiency: float
    kernel_overhead: float
    gemm_knee: float | None
    """Exponent of a GEMM's smooth roofline (archsim/cost/compute.py); None: max()."""
    collective_efficiency: float
    overlap_slowdown: float
    step_overhead: float
    iteration_overhead: float
    host_op_cost: float | None = None
    """Host time to issue one op on an asynchronous device (None: the host never sets the
    pace); a run's device has its training or its inference value (:func:`run_device`)."""
    other_op_overhead: float | None = None
    """Fixed time of each op that is not a weight GEMM (None: ``kernel_overhead``)."""
    weight_read_scale: float = 1.0
    """Factor on the time a weight GEMM spends reading its operands (an inference run's, from
    ``inference_weight_read_scale_by_pass_bytes``; archsim/cost/compute.py
    ``weight_read_factor``)."""


def factors(device: DeviceSpec) -> InSituFactors:
    """The device's in-situ factors (computed once per spec and kept on it)."""
    cached = device._insitu_factors
    if cached is None:
        cached = _build(device)
        device._insitu_factors = cached  # a cache of derived numbers, not state
    return cached


def _build(device: DeviceSpec) -> InSituFactors:
    eff, ins = device.efficiency, device.insitu
    if ins is None:
        return InSituFactors(matmul_scale={}, curves={}, default_matmul_scale=1.0,
                             curve_peak=None,
                             attention_scale=None, vector_scale=1.0,
                             memory_efficiency=eff.memory,
                             kernel_overhead=device.launch_overhead, gemm_knee=None,
                             collective_efficiency=1.0, overlap_slowdown=1.0,
                             step_overhead=0.0, iteration_overhead=0.0)
    plateau = max(e for _, e in eff.matmul.points)

    def value(name: str) -> float:
        return ins.value(name, eff.memory, device.launch_overhead)

    sustained = value("sustained_compute")
    scale = {dtype: ceiling / plateau * sustained for dtype, ceiling in ins.matmul_ceiling.items()}
    curves = dict(ins.matmul_curve)
    if _same_peak(device, "int8", "fp8"):
        # one 8-bit tensor-core rate (Hopper: 1979 dense TOPS and TFLOPS, hardware.csv): int8
        # GEMMs take fp8's measured sweep and ceiling where int8 has none of its own
        if "fp8" in curves:
            curves.setdefault("int8", curves["fp8"])
        if "fp8" in scale:
            scale.setdefault("int8", scale["fp8"])
    default = scale.get(ins.curve_dtype, sustained)
    try:
        curve_peak: float | None = device.peak_for(ins.curve_dtype)
    except KeyError:
        curve_peak = None
    attention_plateau = max(e for _, e in eff.attention.points) if eff.attention else plateau
    return InSituFactors(
        matmul_scale=scale, curves=curves, default_matmul_scale=default,
        curve_peak=curve_peak,
        attention_scale=(ins.attention_ceiling / attention_plateau * sustained
                         if ins.attention_ceiling is not None else None),
        vector_scale=sustained, memory_efficiency=value("memory_efficiency"),
        kernel_overhead=value("kernel_overhead"), gemm_knee=ins.gemm_knee,
        collective_efficiency=value("collective_efficiency"),
        overlap_slowdown=value("overlap_slowdown"), step_overhead=value("step_overhead"),
        iteration_overhead=value("iteration_overhead"), host_op_cost=ins.host_op_cost,
        other_op_overhead=ins.other_op_overhead,
        weight_read_scale=ins.weight_read_scale if ins.weight_read_scale is not None else 1.0)


def _same_peak(device: DeviceSpec, a: str, b: str) -> bool:
    return a in device.peak and b in device.peak and device.peak[a] == device.peak[b]


def insitu_curve(f: InSituFactors, dtype: str) -> Any:
    """The in-situ GEMM sweep for ``dtype`` (16-bit formats share one), or None."""
    got = f.curves.get(dtype)
    if got is None and dtype in ("bf16", "fp16"):
        got = f.curves.get("fp16" if dtype == "bf16" else "bf16")
    return got


def matmul_scale(f: InSituFactors, dtype: str) -> float:
    """Multiplier of the GEMM efficiency curve for ``dtype`` (its own ceiling, else the
    curve dtype's; 16-bit formats share one ceiling)."""
    got = f.matmul_scale.get(dtype)
    if got is None:
        alias = {"bf16": "fp16", "fp16": "bf16", "tf32": "fp32", "fp32": "tf32"}.get(dtype)
        got = f.matmul_scale.get(alias, f.default_matmul_scale) if alias else \
            f.default_matmul_scale
    return got



def run_device(device: DeviceSpec, plan, workload,
               pass_weight_bytes: float | None = None) -> DeviceSpec:
    """The device as a run sees it (one DeviceSpec per run, so the cost functions stay keyed
    by device): the fused-attention ceiling of ``plan.attention_kernel``; for inference and
    serving the in-situ compute speed and per-kernel cost of inference engines instead of
    training's, the cost of the ops that are not weight GEMMs at ``pass_weight_bytes`` (the
    weight bytes one forward pass streams on a device) where the profile measured it, and with
    ``workload.cuda_graphs`` each kernel of a forward pass at the profile's
    ``graph_launch_overhead`` (a pass replayed as one captured graph)."""
    ins = device.insitu
    update: dict = {}
    serving = workload.kind in ("inference", "serving")
    graphs = serving and getattr(workload, "cuda_graphs", False) and \
        device.graph_launch_overhead is not None
    if ins is not None:
        changes: dict = {}
        kernel = plan.attention_kernel
        if kernel == "auto":
            kernel = "flash3" if ins.attention_ceiling_flash3 is not None else "flash2"
        if kernel == "flash3" and ins.attention_ceiling_flash3 is not None:
            changes["attention_ceiling"] = ins.attention_ceiling_flash3
        if serving:
            launch = device.launch_overhead
            changes["sustained_compute"] = ins.value("inference_compute", 0.0, launch)
            changes["kernel_overhead"] = (device.graph_launch_overhead if graphs else
                                          ins.value("inference_kernel_overhead", 0.0, launch))
            changes["host_op_cost"] = None if graphs else ins.inference_host_op_cost
            curve = ins.inference_op_overhead_by_pass_bytes
            if curve and pass_weight_bytes and not graphs:
                changes["other_op_overhead"] = log_interpolate(curve, pass_weight_bytes)
            scales = ins.inference_weight_read_scale_by_pass_bytes
            if scales and pass_weight_bytes:
                changes["weight_read_scale"] = log_interpolate(scales, pass_weight_bytes)
        if changes:
            update["insitu"] = ins.model_copy(update=changes)
    if graphs:
        update["launch_overhead"] = device.graph_launch_overhead
    return device.model_copy(update=update) if update else device


def inference_device(device: DeviceSpec, pass_weight_bytes: float | None = None
                     ) -> DeviceSpec:
    """The device as an eager inference run sees it (no CUDA graphs, the default attention
    kernel): :func:`run_device` for per-op costs outside a scenario."""
    from types import SimpleNamespace

    return run_device(device, SimpleNamespace(attention_kernel="auto"),
                      SimpleNamespace(kind="inference", cuda_graphs=False), pass_weight_bytes)


def log_interpolate(points: list[tuple[float, float]], x: float) -> float:
    """The value at ``x`` of [x, y] ``points`` (x increasing), linear in log(x) between
    neighbours and held at the ends."""
    if x <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in pairwise(points):
        if x <= x1:
            w = math.log(x / x0) / math.log(x1 / x0)
            return y0 + w * (y1 - y0)
    return points[-1][1]
