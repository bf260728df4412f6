"""Time of one op on one device: a roofline with the profile's efficiency data.

    t = max(FLOPs · work_fraction / (peak · η_mm(FLOPs)) + vector FLOPs / (vector peak · η_vec),
            bytes / (bandwidth · η_mem)) + launch

for matmul-class ops (η_mm interpolated in log10 FLOPs from the profile's curve; fused attention
uses the profile's attention curve when it has one), and the same with the vector peak · η_vec
for elementwise ops (η_vec per op kind, and per kernel variant such as RMSNorm or LayerNorm,
where the profile lists one in ``by_kind``).
Assumptions: one kernel per op (so one launch overhead), no overlap between consecutive kernels,
and the compute dtype's dense peak. A calibrated profile's curve may carry per-row-count curves
(``efficiency.matmul.by_rows``) that price a linear layer's GEMMs by their operand layout and
row count m as well.

With the device's in-situ parameters (archsim/spec/insitu.py, archsim/cost/insitu.py) the
same formula runs at in-situ rates: η_mm is the isolated curve read at the same ideal duration
(FLOPs × curve-dtype peak / dtype peak) and scaled to the dtype's sustained ceiling and the
sustained-compute factor, η_mem is the mixed read/write streaming efficiency, and the launch
is the in-situ fixed cost per kernel. A GEMM (kind ``matmul``, not fused attention) in situ
does not reach either roof near the ridge point: its two times combine smoothly,

    t = (t_flops^p + t_bytes^p)^(1/p) + launch        (p = the profile's ``insitu.gemm_knee``)

which is max(t_flops, t_bytes) far from the ridge and up to 2^(1/p) times it where the two are
equal (a short prompt's GEMMs, m ≈ 128). p = 3.43 is fitted to 158 cuBLAS GEMMs timed on an
H200 (reports/calibration/h200_small_m_gemm.csv; reports/calibration/small_m_gemm.md), in
training and inference alike. Assumption: other kernels keep max(), as the measurement covered
plain GEMMs only — fused attention, elementwise ops, and GEMMs with fused dequantization
(weight-only quantization, ``op.vector_flops``: their vector work was not measured).
"""

from __future__ import annotations

import bisect
import math
from functools import lru_cache

from archsim.cost.insitu import (
    InSituFactors,
    factors,
    insitu_curve,
    log_interpolate,
    matmul_scale,
)
from archsim.graph.ops import Op
from archsim.spec.device import DeviceSpec, MatmulEfficiencySpec
from archsim.spec.efficiency import RowsCurveSpec


class EfficiencyCurve:
    """Log-linear interpolation of matmul efficiency by FLOPs, constant beyond the ends."""

    __slots__ = ("_effs", "_logs")

    def __init__(self, spec: MatmulEfficiencySpec):
        self._logs = [math.log10(f) for f, _ in spec.points]
        self._effs = [e for _, e in spec.points]

    def __call__(self, flops: float) -> float:
        if flops <= 0:
            return self._effs[0]
        x = math.log10(flops)
        logs, effs = self._logs, self._effs
        if x <= logs[0]:
            return effs[0]
        if x >= logs[-1]:
            return effs[-1]
        i = bisect.bisect_right(logs, x)
        x0, x1 = logs[i - 1], logs[i]
        w = (x - x0) / (x1 - x0)
        return effs[i - 1] + w * (effs[i] - effs[i - 1])


@lru_cache(maxsize=256)
def _curve(spec: MatmulEfficiencySpec) -> EfficiencyCurve:
    return EfficiencyCurve(spec)


def matmul_peak(device: DeviceSpec, dtype: str) -> float:
    """Dense matrix peak for ``dtype``; a device without that dtype computes in its best
    16-bit (or 32-bit) format instead."""
    try:
        return device.peak_for(dtype)
    except KeyError:
        for fallback in ("bf16", "fp16", "tf32", "fp32", "int8"):
            if fallback in device.peak:
                return device.peak[fallback]
    return min(device.peak.values())


def compute_time(op: Op, device: DeviceSpec) -> float:
    """Seconds for ``op`` on ``device`` (collectives are costed by archsim.cost.comm)."""
    if op.kind == "comm":
        raise ValueError(f"{op.name} is a collective; use archsim.cost.comm")
    f = factors(device)
    t_flops, t_bytes = _flop_time(op, device), memory_time(op, device)
    if f.gemm_knee is not None and op.kind == "matmul" and not op.vector_flops:
        p = f.gemm_knee
        work = (t_flops ** p + t_bytes ** p) ** (1.0 / p)
    else:
        work = max(t_flops, t_bytes)
    if op.layout is not None and f.weight_read_scale != 1.0:  # a weight GEMM
        work *= weight_read_factor(work, t_bytes, f.weight_read_scale)
    return work + _fixed_time(op, f)


def weight_read_factor(work: float, t_bytes: float, scale: float) -> float:
    """The factor on a weight GEMM's work time when reading its operands takes ``scale``
    times as long as the profile says: the share φ = min(1, t_bytes / work) of the work that
    streaming its bytes at the memory bandwidth accounts for is scaled, the rest is not,
    1 − φ + φ·scale. A decode GEMV (m = 1) is mostly φ, a prompt's GEMM almost none."""
    phi = min(1.0, t_bytes / work) if work > 0 else 0.0
    return 1.0 - phi + phi * scale


def op_overhead(op: Op, device: DeviceSpec) -> float:
    """The fixed time ``op`` adds to its work: the in-situ cost of an op that is not a weight
    GEMM where the device has one (archsim/spec/insitu.py), else the per-kernel cost."""
    return _fixed_time(op, factors(device))


def _fixed_time(op: Op, f: InSituFactors) -> float:
    if op.grouped:  # inside the grouped kernel of the op before it: no launch of its own
        return 0.0
    if f.other_op_overhead is not None and op.layout is None:
        return f.other_op_overhead
    return f.kernel_overhead


def memory_time(op: Op, device: DeviceSpec) -> float:
    """Bytes over the achieved bandwidth: the cache's when the profile measured one and the
    op's bytes fit in the cache (``sram``), else the memory's."""
    mem = device.memory
    bw = mem.bandwidth
    if mem.cache_bandwidth is not None and op.bytes <= device.sram:
        bw = mem.cache_bandwidth
    return op.bytes / (bw * factors(device).memory_efficiency)


def _flop_time(op: Op, device: DeviceSpec) -> float:
    eff = device.efficiency
    f = factors(device)
    if op.is_matmul:
        # the curve is keyed by the FLOPs of one call (a batched call counts as one call);
        # work_fraction scales the time of that call (causal skipping, 2:4 sparsity)
        # fused attention has its own curve where the profile measured one
        attention = op.kind == "attention"
        peak = matmul_peak(device, op.dtype)
        sweep = None if attention else insitu_curve(f, op.dtype)
        if sweep is not None:  # measured in situ, in this dtype
            curve, key, scale = sweep, op.flops, f.vector_scale  # × sustained
        else:
            curve = eff.attention if attention and eff.attention else eff.matmul
            # in situ: the same efficiency at the same ideal duration as in the curve's dtype
            key = op.flops * f.curve_peak / peak if f.curve_peak else op.flops
            scale = (f.attention_scale if attention and f.attention_scale is not None
                     else matmul_scale(f, op.dtype))
        rows_curves = (curve.rows_curves(op.layout) if sweep is None and not attention
                       and op.layout is not None and op.shape is not None else ())
        if rows_curves:
            eta = min(1.0, _rows_efficiency(rows_curves, op.shape[1], key) * scale)
        else:
            eta = min(1.0, _curve(curve)(key) * scale)
        t = op.flops * attention_work(op, device) / (peak * eta)
    else:
        t = op.flops * op.work_fraction / (device.vector_flops * f.vector_scale
                                           * eff.vector_for(op.kind, op.phase, op.variant))
    if op.vector_flops:
        t += op.vector_flops / (device.vector_flops * f.vector_scale * eff.vector)
    return t


def attention_work(op: Op, device: DeviceSpec) -> float:
    """The share of its FLOPs an op executes: ``work_fraction``, except that a causal
    attention whose profile measured how much of the mask its kernel skips
    (EfficiencySpec.causal_skip) does the masked work it does not skip."""
    skip = device.efficiency.causal_skip
    if op.masked and op.shape is not None and skip:
        return causal_work(skip, op.work_fraction, op.masked, op.shape[1])
    return op.work_fraction


def causal_work(skip: list[tuple[float, float]], op_work: float, masked: float,
                queries: int) -> float:
    """The work fraction of an attention op whose mask makes ``masked`` of its full work
    skippable and whose graph assumed all of it skipped (``op_work``), when its kernel skips
    only the share ``skip`` gives at ``queries`` (log-interpolated, held at the ends): the
    work is scaled by (1 − masked · share) / (1 − masked)."""
    if masked <= 0 or masked >= 1:
        return op_work
    share = log_interpolate(skip, queries)
    return op_work * (1.0 - masked * share) / (1.0 - masked)


def _rows_efficiency(curves: tuple[RowsCurveSpec, ...], rows: int, key: float) -> float:
    """η of a GEMM with ``rows`` rows from its layout's per-row-count curves (see
    MatmulEfficiencySpec.by_rows): interpolated in log(rows) between the two nearest measured
    row counts, the nearest one's beyond the ends."""
    below = [c for c in curves if c.rows <= rows]
    lo = below[-1] if below else curves[0]
    if lo.rows == rows or not below or lo is curves[-1]:
        return _points_curve(lo.points)(key)
    hi = next(c for c in curves if c.rows > rows)
    w = math.log(rows / lo.rows) / math.log(hi.rows / lo.rows)
    return (1 - w) * _points_curve(lo.points)(key) + w * _points_curve(hi.points)(key)


@lru_cache(maxsize=256)
def _points_curve(points: tuple[tuple[float, float], ...]) -> EfficiencyCurve:
    return EfficiencyCurve(MatmulEfficiencySpec(points=points))


def bound_by(op: Op, device: DeviceSpec) -> str:
    """'compute' or 'memory': which roofline term sets the op's time."""
    return "compute" if _flop_time(op, device) >= memory_time(op, device) else "memory"
