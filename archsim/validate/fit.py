"""Fit archsim's device parameters to micro-benchmark records (no torch needed).

Each record of :mod:`archsim.validate.bench` becomes the archsim :class:`~archsim.graph.ops.Op`
the op graph would emit for the same kernel (:mod:`archsim.validate.records`), and the
parameters are chosen so that :func:`archsim.cost.compute.compute_time` reproduces the measured
times:

1. ``launch_overhead`` — the mean time of ops too small to do measurable work, one of each op
   kind of a transformer layer;
2. memory — ``memory.bandwidth`` is the median achieved bandwidth of the copy kernel (in place:
   no allocator effects) over buffers of at least LARGE_BUFFER_BYTES, an achieved bandwidth
   (``efficiency.memory`` 1). A two-level fit (buffers that fit in a cache of C bytes stream at
   B_cache, larger ones at B_mem; least squares in log error of ``bytes / B + launch``) is
   recorded too, and supplies B_mem when no copy was that large. The cache level is not
   simulated:
   whether an op's operands are cache-resident depends on what ran before it (a decode step
   streams every weight once, so a small matrix still comes from memory when the model does
   not fit in the cache), which a per-op cost cannot see. The allocating ``add`` kernel is
   kept in the records and in the fit errors, not fitted;
3. peaks per dtype — the best ``FLOPs / (t − launch)`` over that dtype's GEMMs (a *measured*
   peak, not a datasheet one: efficiencies are relative to it); ``vector_peak`` is the fp32 one
   (elementwise kernels run on the same FMA units);
4. per-kind vector efficiency (elementwise, norm, softmax, loss; forward and backward
   separately, as ``kind.phase``; optimizer) — a 1-D search minimising the log error of
   compute_time over that kind's records; and the same per kernel variant
   (``kind.variant.phase``: LayerNorm and RMSNorm, GELU and SwiGLU, and the rotary embedding
   among the elementwise kernels), which the op graph tells apart (Op.variant). One η per
   kind averaged kernels that differ 2–5×: on a 2-vCPU Intel Xeon, eager RMSNorm's
   backward took 3.2–5.8× LayerNorm's (several autograd ops against one fused kernel), so
   one norm η priced LayerNorm +16…+239% and RMSNorm −11…−77%;
5. the matmul curve — for every compute-bound GEMM (its time exceeds the memory term),
   η = FLOPs / (peak · (t − launch)); a point every quarter decade of FLOPs holds the median
   η of the GEMMs within half a decade of it; the same per operand layout and row count m
   (forward x·Wᵀ, data gradient dy·W, weight gradient xᵀ·dy), which price a model's linear
   layers (at equal FLOPs their efficiency varies tenfold with m: matrix-vector and small-m
   kernels, blocking by m; on a 2-core AMD EPYC one FLOPs curve reproduced the forward-layout
   GEMM records to 41%, per-m curves to 13%);
6. the causal skip — how much of the causal mask's masked work the attention kernel skips,
   per query length: the same SDPA shape timed with and without ``is_causal`` (each less the
   launch), share = (1 − t_causal / t_full) / 0.5, clamped to [0, 1], averaged over forward
   and backward. FlashAttention skips the masked tiles (share 1, the op graph's assumption);
   PyTorch 2.13's CPU kernel skipped none of them up to 512 queries and half at 1024, so one
   curve fitted with the graph's halved work for causal records gave them half the efficiency
   of the unmasked records of the same shape, and predicted a causal model's attention
   1.5–2.5× too fast (reports/validation/cpu-m167/);
7. the attention curve — the same for the fused attention records, whose FLOPs and
   work_fraction (causal skipping as measured in 6, FlashAttention-2 backward) follow the op
   graph.

Assumption: every record's kernel is one op (one launch), as the cost model assumes.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from archsim.cost.compute import attention_work, compute_time, memory_time
from archsim.graph.ops import Op
from archsim.spec.device import DeviceSpec
from archsim.validate.records import (
    FIT_MAX_CONTENTION,
    VECTOR_KINDS,
    Sample,
    samples_from,
)

CURVE_STEP_DECADES = 0.25
"""Spacing of the curve's points in log10(FLOPs)."""
CURVE_WINDOW_DECADES = 0.5
"""Each point's efficiency is the median over the samples within this many decades of it (a
moving median one decade wide: no single family of shapes makes a dip or a spike)."""
MIN_EFFICIENCY = 1e-4
"""Floor of a fitted efficiency (the profile schema needs η > 0)."""


# --------------------------------------------------------------------------- the fit


@dataclass
class FitResult:
    """Fitted device parameters (SI units) and how well they reproduce the records."""

    launch_s: float
    bandwidth: float
    memory_efficiency: float
    sustained_copy_bandwidth: float
    cache_bytes: float | None
    cache_bandwidth: float | None
    peaks: dict[str, float]
    vector_peak: float
    by_kind: dict[str, float]
    matmul_points: list[tuple[float, float]]
    attention_points: list[tuple[float, float]]
    primary_dtype: str
    causal_skip: list[tuple[float, float]] = field(default_factory=list)
    """[(queries, share of the masked work skipped)] (step 6 of the module docstring)."""
    rows_points: dict[tuple[str, int], list[tuple[float, float]]] = field(default_factory=dict)
    errors: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per section: MAPE and worst relative error of compute_time against the records."""


def fit_launch(overhead: list[dict]) -> float:
    """The mean fixed cost per op over the op kinds of a transformer layer (each kind occurs
    about once per layer, so the mean is the per-op overhead of a layer); records taken while
    other processes were busy are left out unless all were."""
    quiet = [r for r in overhead if r.get("contention", 0.0) <= FIT_MAX_CONTENTION] or overhead
    return statistics.fmean(r["time_s"] for r in quiet)


def fit_bandwidth(samples: list[Sample], launch: float) -> float:
    """Effective bandwidth B minimising Σ log²((bytes/B + launch) / t) over the samples.

    Log errors weigh a kernel predicted 2× too slow like one predicted 2× too fast; over a
    sweep from cache-resident to DRAM-sized buffers this lands between the two regimes.
    """
    if not samples or all(t <= launch for _, t in samples):
        raise ValueError("memory records do not determine a bandwidth (times below launch)")

    def loss(bw: float) -> float:
        return sum(math.log((op.bytes / bw + launch) / t) ** 2 for op, t in samples)

    return _golden_log_search(loss, 1e6, 1e15)


@dataclass(frozen=True)
class MemoryFit:
    bandwidth: float
    """Achieved bandwidth of kernels larger than the cache (all kernels with no cache level)."""
    cache_bytes: float | None = None
    cache_bandwidth: float | None = None


def _log_loss(samples: list[Sample], bw: float, launch: float) -> float:
    return sum(math.log((op.bytes / bw + launch) / t) ** 2 for op, t in samples)


def fit_memory(samples: list[Sample], launch: float) -> MemoryFit:
    """One bandwidth, or a cache level of C bytes at B_cache above B_mem when that fits the
    samples better (C: between two consecutive sizes of the sweep; ≥ 2 sizes on each side).
    Only samples that are not overhead-bound take part."""
    samples = [(op, t) for op, t in samples if _busy(t, launch) is not None] or samples
    single = fit_bandwidth(samples, launch)
    best = (_log_loss(samples, single, launch), MemoryFit(bandwidth=single))
    sizes = sorted({op.bytes for op, _ in samples})
    for i in range(2, len(sizes) - 1):
        small = [s for s in samples if s[0].bytes <= sizes[i - 1]]
        large = [s for s in samples if s[0].bytes > sizes[i - 1]]
        if len({op.bytes for op, _ in large}) < 2:
            continue
        try:
            bw_cache, bw_mem = fit_bandwidth(small, launch), fit_bandwidth(large, launch)
        except ValueError:
            continue
        if bw_cache <= bw_mem:
            continue
        loss = _log_loss(small, bw_cache, launch) + _log_loss(large, bw_mem, launch)
        if loss < best[0]:
            cache = math.sqrt(sizes[i - 1] * sizes[i])  # between the two sizes
            best = (loss, MemoryFit(bandwidth=bw_mem, cache_bytes=float(f"{cache:.4g}"),
                                    cache_bandwidth=bw_cache))
    return best[1]


LARGE_BUFFER_BYTES = 64 * 2**20
"""Copies of buffers at least this large (beyond the last-level cache of a CPU socket's share
or a GPU's L2) measure the memory itself: their median bandwidth is ``memory.bandwidth``."""
PEAK_MIN_LAUNCHES = 20.0
"""A GEMM counts towards the peak only when it takes at least this many launch overheads:
for shorter ones, subtracting the overhead leaves too little time to divide by."""
BUSY_MIN_LAUNCHES = 2.0
"""A sample shapes a curve or a bandwidth only when its time exceeds the launch overhead by
at least this many launch overheads (else it is overhead-bound and determines nothing)."""


def _busy(t: float, launch: float) -> float | None:
    busy = t - launch
    return busy if busy >= BUSY_MIN_LAUNCHES * launch else None


def fit_peak(samples: list[Sample], launch: float) -> float:
    """The best measured FLOP rate of one dtype's GEMMs (launch overhead removed), over the
    GEMMs long enough for that to be meaningful (the longest one when none is)."""
    long = [(op, t) for op, t in samples if t >= PEAK_MIN_LAUNCHES * launch]
    if not long:
        long = [max(samples, key=lambda s: s[1])]
    return max(op.flops / max(t - launch, 0.5 * t) for op, t in long)


def relative_errors(samples: list[Sample], device: DeviceSpec) -> list[float]:
    return [(compute_time(op, device) - t) / t for op, t in samples]


def log_errors(samples: list[Sample], device: DeviceSpec) -> list[float]:
    return [math.log(compute_time(op, device) / t) for op, t in samples]


def _golden_log_search(loss: Callable[[float], float], lo: float, hi: float,
                       iters: int = 48) -> float:
    """Minimise ``loss`` over [lo, hi] by golden-section search in log space."""
    a, b = math.log(lo), math.log(hi)
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = loss(math.exp(c)), loss(math.exp(d))
    for _ in range(iters):
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = loss(math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = loss(math.exp(d))
    return math.exp((a + b) / 2)


def fit_vector_efficiency(samples: list[Sample], device_with: Callable[[float], DeviceSpec]
                          ) -> float:
    """η in (0, 1] minimising Σ log²(compute_time / measured) over ``samples``."""

    def loss(eta: float) -> float:
        dev = device_with(eta)
        return sum(e * e for e in log_errors(samples, dev))

    return min(1.0, _golden_log_search(loss, MIN_EFFICIENCY, 1.0))


def curve_points(samples: list[Sample], peak_of: Callable[[str], float], launch: float,
                 mem_time: Callable[[Op], float]) -> list[tuple[float, float]]:
    """Efficiency curve points from compute-bound samples (see the module docstring).

    The curve is keyed by the op's FLOPs (as archsim.cost.compute does) and the time of a call
    is FLOPs · work_fraction / (peak · η); so η = FLOPs · work_fraction / (peak · (t − launch)).
    """
    effs: list[tuple[float, float]] = []
    for op, t in samples:
        busy = _busy(t, launch)
        if busy is None or busy <= mem_time(op):
            continue  # overhead- or memory-bound: the curve is not what sets its time
        eta = op.flops * op.work_fraction / (peak_of(op.dtype) * busy)
        effs.append((op.flops, min(1.0, max(MIN_EFFICIENCY, eta))))
    if not effs:
        return []
    logs = [math.log10(f) for f, _ in effs]
    lo, hi = min(logs), max(logs)
    n = max(1, math.ceil((hi - lo) / CURVE_STEP_DECADES))
    points: list[tuple[float, float]] = []
    for i in range(n + 1):
        x = lo + (hi - lo) * i / n
        window = [e for (_f, e), lg in zip(effs, logs, strict=True)
                  if abs(lg - x) <= CURVE_WINDOW_DECADES]
        if window:
            flops = float(f"{10 ** x:.4g}")
            if not points or flops > points[-1][0]:
                points.append((flops, max(round(statistics.median(window), 4),
                                          MIN_EFFICIENCY)))
    return points


def fit_causal_skip(records: list[dict], launch: float) -> list[tuple[float, float]]:
    """[(queries, share of the masked work the kernel skips)] from attention records timed
    with and without the causal mask at the same shape and phase (step 6 of the module
    docstring); [] without such pairs. A whole prefix masks half the scores, so a kernel that
    skips them all takes half the time: share = (1 − t_causal / t_full) / 0.5."""
    quiet = [r for r in records if r.get("contention", 0.0) <= FIT_MAX_CONTENTION]
    by_shape: dict[tuple, dict[bool, float]] = {}
    for r in quiet:
        if r["q"] <= 1 or r["q"] != r["kv"]:
            continue
        key = (r["batch"], r["heads"], r["q"], r["head_dim"], r["phase"], r["dtype"])
        by_shape.setdefault(key, {})[bool(r["causal"])] = r["time_s"] - launch
    shares: dict[int, list[float]] = {}
    for key, pair in by_shape.items():
        if True in pair and False in pair and pair[False] > 0:
            share = (1.0 - pair[True] / pair[False]) / 0.5
            shares.setdefault(key[2], []).append(min(1.0, max(0.0, share)))
    return [(float(q), round(statistics.fmean(v), 4)) for q, v in sorted(shares.items())]


def rows_curves(samples: list[Sample], peak_of: Callable[[str], float], launch: float,
                mem_time: Callable[[Op], float]
                ) -> dict[tuple[str, int], list[tuple[float, float]]]:
    """Per-layout, per-row-count curves of the GEMM records, each built as the FLOPs curve is
    (MatmulEfficiencySpec.by_rows), keyed (layout, rows)."""
    groups: dict[tuple[str, int], list[Sample]] = {}
    for op, t in samples:
        if op.layout is not None and op.shape is not None:
            groups.setdefault((op.layout, op.shape[1]), []).append((op, t))
    out = {}
    for key in sorted(groups):
        points = curve_points(groups[key], peak_of, launch, mem_time)
        if points:
            out[key] = points
    return out


def fit_device(raw: dict[str, list[dict]], primary_dtype: str,
               build: Callable[[FitResult], DeviceSpec]) -> FitResult:
    """Fit every parameter (order as in the module docstring). ``build`` turns a (partial)
    FitResult into the DeviceSpec that compute_time evaluates."""
    samples = samples_from(raw)
    launch = fit_launch(raw["overhead"])
    copies = [(op, t) for op, t in samples["memory"] if op.name == "copy"]
    mem = fit_memory(copies, launch)
    large = [op.bytes / (t - launch) for op, t in copies
             if op.bytes / 2 >= LARGE_BUFFER_BYTES and t > launch]
    if large:
        mem = MemoryFit(bandwidth=statistics.median(large), cache_bytes=mem.cache_bytes,
                        cache_bandwidth=mem.cache_bandwidth)
    largest = max(copies, key=lambda s: s[0].bytes) if copies else None
    sustained = largest[0].bytes / max(largest[1] - launch, 1e-12) if largest else mem.bandwidth
    by_dtype: dict[str, list[Sample]] = {}
    for op, t in samples["gemm"]:
        by_dtype.setdefault(op.dtype, []).append((op, t))
    if primary_dtype not in by_dtype:
        raise ValueError(f"no GEMM records of the primary dtype {primary_dtype}")
    peaks = {dt: fit_peak(s, launch) for dt, s in by_dtype.items()}
    vector_peak = peaks.get("fp32", peaks[primary_dtype])
    fit = FitResult(launch_s=launch, bandwidth=mem.bandwidth, memory_efficiency=1.0,
                    sustained_copy_bandwidth=sustained, cache_bytes=mem.cache_bytes,
                    cache_bandwidth=mem.cache_bandwidth, peaks=peaks, vector_peak=vector_peak,
                    by_kind={}, matmul_points=[(1.0, 1.0)], attention_points=[],
                    primary_dtype=primary_dtype)
    memory_only = build(fit)

    def mem_time(op: Op) -> float:
        return memory_time(op, memory_only)

    fit.matmul_points = curve_points(by_dtype[primary_dtype], peaks.__getitem__, launch,
                                     mem_time) or [(1.0, 1.0)]
    fit.rows_points = rows_curves(by_dtype[primary_dtype], peaks.__getitem__, launch, mem_time)
    att_peak = peaks[primary_dtype]
    fit.causal_skip = fit_causal_skip(raw.get("attention", []), launch)
    with_skip = build(fit)
    attention = [(replace(op, work_fraction=attention_work(op, with_skip)), t)
                 for op, t in samples["attention"]]
    fit.attention_points = curve_points(attention, lambda _dt: att_peak, launch, mem_time)
    groups: dict[str, list[Sample]] = {}
    variants: dict[str, list[Sample]] = {}
    for kind in VECTOR_KINDS:
        for op, t in samples[kind]:
            key = kind if kind == "optimizer" else f"{kind}.{op.phase}"
            groups.setdefault(key, []).append((op, t))
            if op.variant is not None and kind != "optimizer":
                variants.setdefault(f"{kind}.{op.variant}.{op.phase}", []).append((op, t))
    # the kind's own η first (it prices variants no record measured), then each variant's,
    # which compute_time prefers for the ops of that variant
    for key, items in [*groups.items(), *variants.items()]:

        def device_with(eta: float, key: str = key) -> DeviceSpec:
            trial = FitResult(**{**fit.__dict__, "by_kind": {**fit.by_kind, key: eta}})
            return build(trial)

        fit.by_kind[key] = round(fit_vector_efficiency(items, device_with), 5)
    device = build(fit)
    for section, items in samples.items():
        if items:
            errs = [abs(e) for e in relative_errors(items, device)]
            fit.errors[section] = {"mape": round(statistics.fmean(errs), 4),
                                   "max": round(max(errs), 4), "records": len(errs)}
    return fit
