"""Device specs: one accelerator (or CPU socket) with its peaks, memory and efficiency data.

Every quantity is written with its unit in the YAML and held as an SI float here. Peaks are
*dense* (no structured sparsity). Efficiency is data: a matmul efficiency curve by problem size
(FLOPs of one matmul call) and an achieved fraction of the memory bandwidth.
"""

from __future__ import annotations

import itertools
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator

from archsim.spec.base import StrictModel
from archsim.spec.efficiency import MatmulEfficiencySpec
from archsim.spec.insitu import InSituSpec
from archsim.spec.units import (
    Bandwidth,
    Bytes,
    BytesOrZero,
    DurationOrZero,
    FlopRate,
    Power,
    Price,
)

Dtype = Literal["fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8", "fp6", "fp4", "int4"]
DeviceKind = Literal["gpu", "tpu", "fpga", "asic", "cpu"]


class EfficiencySpec(StrictModel):
    """Efficiency data of a device (see ``docs`` in the profile for how each was obtained)."""

    matmul: MatmulEfficiencySpec
    memory: float = Field(gt=0, le=1, description="achieved / peak memory bandwidth")
    # default 0.5: UNVERIFIED assumption for inline profiles that give no measurement (the
    # shipped profiles state theirs; elementwise kernels are memory-bound on all of them)
    vector: float = Field(default=0.5, gt=0, le=1,
                          description="achieved / peak vector (non-matrix) FLOP rate")
    by_kind: dict[str, float] = Field(default_factory=dict)
    """Achieved / vector peak of one kind of non-matrix op, optionally per kernel variant and
    phase (``norm``, ``norm.bwd``, ``norm.rmsnorm.bwd``, ``softmax.fwd``, ``optimizer``, ...),
    measured by ``archsim calibrate``; ``vector`` for kinds not listed."""
    attention: MatmulEfficiencySpec | None = None
    """Fused attention kernels, by the FLOPs of one call; the matmul curve when absent."""
    causal_skip: list[tuple[float, float]] | None = None
    """Share of a causal mask's masked work that the fused attention kernel skips, by query
    length: [(queries, share)], log-interpolated, the nearest point's beyond the ends.
    Measured by ``archsim calibrate`` (the same SDPA shapes timed with and without the mask);
    None: all of it, as FlashAttention's tile skipping does (the op graph's work_fraction).
    PyTorch 2.13's CPU kernel skipped none of it up to 512 queries and half of it at 1024
    (reports/validation/cpu-m167/)."""
    source: str = ""

    @field_validator("causal_skip")
    @classmethod
    def _check_causal_skip(cls, points: list[tuple[float, float]] | None
                           ) -> list[tuple[float, float]] | None:
        if points is None:
            return None
        if not points:
            raise ValueError("causal_skip: expected at least one [queries, share] point")
        for q, share in points:
            if q < 1 or not 0 <= share <= 1:
                raise ValueError(f"causal_skip: point [{q:g}, {share:g}]: expected queries "
                                 "≥ 1 and a share in [0, 1]")
        if any(b[0] <= a[0] for a, b in itertools.pairwise(points)):
            raise ValueError("causal_skip: query lengths must increase")
        return points

    @field_validator("by_kind")
    @classmethod
    def _check_by_kind(cls, by_kind: dict[str, float]) -> dict[str, float]:
        for kind, eff in by_kind.items():
            if not 0 < eff <= 1:
                raise ValueError(f"by_kind.{kind}: efficiency {eff!r} must be in (0, 1]")
        return by_kind

    def vector_for(self, kind: str, phase: str = "fwd", variant: str | None = None) -> float:
        """Vector efficiency of an op of ``kind`` in ``phase`` implemented by ``variant``
        (Op.variant): key ``kind.variant.phase``, then ``kind.variant``, then ``kind.phase``,
        then ``kind``, then ``vector``."""
        by = self.by_kind
        if variant is not None and by:
            eff = by.get(f"{kind}.{variant}.{phase}", by.get(f"{kind}.{variant}"))
            if eff is not None:
                return eff
        return by.get(f"{kind}.{phase}", by.get(kind, self.vector))


class MemorySpec(StrictModel):
    capacity: Bytes
    bandwidth: Bandwidth
    kind: str = ""
    reserved: BytesOrZero = 0.0
    """Memory the runtime keeps for itself (context, allocator slack), not usable by the model."""
    cache_bandwidth: Bandwidth | None = None
    """Bandwidth of the on-chip cache (the device's ``sram``): an op whose bytes fit in it
    streams at this rate instead of ``bandwidth`` (measured by ``archsim calibrate``)."""


class SparsitySpec(StrictModel):
    """Structured-sparsity support of the device's matrix units."""

    pattern: Literal["2:4"] = "2:4"
    dtypes: list[Dtype] = Field(default_factory=list)
    peak_factor: float = Field(default=2.0, gt=1)
    """Sparse / dense matrix peak: 2 for NVIDIA's 2:4 tensor cores (A100, H100 datasheets)."""
    achieved_speedup: float = Field(default=1.0, ge=1)
    """Measured speedup of sparse GEMMs; default 1: no speedup unless a profile measured one."""
    source: str = ""


class DeviceSpec(StrictModel):
    """One accelerator (or CPU socket) as the simulator sees it."""

    name: str
    kind: DeviceKind
    vendor: str = ""
    peak: dict[Dtype, FlopRate] = Field(description="dense matrix peak per dtype")
    vector_peak: FlopRate | None = None
    """Peak of the non-matrix units (elementwise work); defaults to the fp32 peak."""
    memory: MemorySpec
    sram: BytesOrZero = 0.0
    tdp: Power
    idle_power: Power | None = None
    launch_overhead: DurationOrZero = 5e-6
    graph_launch_overhead: DurationOrZero | None = None
    """Per-kernel cost when a forward pass is replayed as a captured graph (CUDA/HIP graphs);
    used by inference/serving workloads with ``cuda_graphs: true``. None: no graph support
    (launch_overhead applies)."""
    efficiency: EfficiencySpec
    sparsity: SparsitySpec | None = None
    scale_up: str | None = None
    """Default intra-node interconnect (registry name)."""
    scale_out: str | None = None
    """Default inter-node interconnect (registry name)."""
    devices_per_node: int = Field(default=8, ge=1)
    price_per_hour: Price | None = None
    price_source: str = ""
    verification: str = ""
    unverified: list[str] = Field(default_factory=list)
    source: str = ""
    calibration: dict[str, Any] | None = None
    """Provenance and raw measurements written by ``archsim calibrate`` (not used to simulate)."""
    insitu: InSituSpec | None = None
    """How kernels and collectives run inside a real run (archsim/spec/insitu.py); None: as
    the micro-benchmark efficiencies above say."""
    _insitu_factors: Any = PrivateAttr(default=None)

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False
                   ) -> DeviceSpec:
        copied = super().model_copy(update=update, deep=deep)
        copied._insitu_factors = None  # the copy may differ: recompute
        return copied

    @field_validator("peak")
    @classmethod
    def _peak_not_empty(cls, peak: dict[str, float]) -> dict[str, float]:
        if not peak:
            raise ValueError("needs at least one dtype peak, e.g. {bf16: '312 TFLOPS'}")
        return peak

    @field_validator("idle_power")
    @classmethod
    def _idle_below_tdp(cls, idle: float | None, info: ValidationInfo) -> float | None:
        """An idle draw above the board's TDP is a unit slip ("60 kW" for 60 W): energy is
        busy time at TDP plus idle time at this (archsim/metrics/common.py)."""
        tdp = info.data.get("tdp")
        if idle is not None and isinstance(tdp, (int, float)) and idle > tdp:
            raise ValueError(f"{idle:g} W is above the device's tdp ({tdp:g} W); expected "
                             "the power it draws idle, at most its TDP")
        return idle

    def supports(self, dtype: str) -> bool:
        return dtype in self.peak

    def peak_for(self, dtype: str) -> float:
        """Dense peak for ``dtype``; tf32/fp32 fall back to each other, bf16/fp16 likewise."""
        if dtype in self.peak:
            return self.peak[dtype]
        for alias in {"bf16": ("fp16",), "fp16": ("bf16",), "tf32": ("fp32",),
                      "fp32": ("tf32",)}.get(dtype, ()):
            if alias in self.peak:
                return self.peak[alias]
        raise KeyError(dtype)

    @property
    def vector_flops(self) -> float:
        if self.vector_peak is not None:
            return self.vector_peak
        return self.peak.get("fp32") or min(self.peak.values())

    @property
    def usable_memory(self) -> float:
        return self.memory.capacity - self.memory.reserved

