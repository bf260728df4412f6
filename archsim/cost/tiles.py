"""Wave quantisation of a GEMM: a lower bound on its time from its output tiles.

A GEMM m×k·k×n is computed by thread blocks that each own one tm×tn tile of the output and
loop over the whole of k. The tiles are spread over the device's ``compute_units`` (one
block per SM at a time, the usual case for tensor-core GEMM kernels whose tiles fill the
SM's shared memory): ``tiles = batch · ⌈m/tm⌉ · ⌈n/tn⌉`` run in ``waves = ⌈tiles / SMs⌉``,
and each wave takes the time of one tile at one SM's share of the sustained rate:

    t ≥ waves · 2·tm·tn·k / (peak · η / SMs)

With few tiles (a short prompt: m = 128 tokens, one tile row) the last — often the only —
wave leaves SMs idle, and a skinny GEMM cannot use the whole chip; a large GEMM
(many waves) is bounded by its FLOPs at η, as the efficiency curves already price it. (The
effect as NVIDIA's Deep Learning Performance guide describes it: "Matrix Multiplication
Background User's Guide", wave quantization, with the A100's 108 SMs.)

Assumptions: tn = 128 and tm = 128 — the common CUTLASS / cuBLAS tensor-core block tile
(CUTLASS's default GEMM configurations for Ampere and Hopper, e.g. 128×128×32 / 128×128×64)
— with tm shrinking to the power of two ≥ m (at least 16, the row count of one tensor-core
MMA, PTX ``mma.m16n8k16``) when m is smaller, as small-m kernels do. A GEMM of fewer rows
than one MMA (m < 16: decode of a few sequences) runs as a GEMV-style kernel that streams the
weights on all SMs: no tile bound (its memory time prices it). K is not split across
blocks (split-K / stream-K would spread a skinny GEMM over more SMs). That is an assumption
about inference engines, which run kernels chosen ahead of time for a range of token counts
(the TensorRT builder times its tactics at an optimisation profile's chosen dimensions and
runs them for every shape in the profile's range); it is not measured for them here, and it
is used only for inference and serving runs (``insitu.engine_gemms``). cuBLAS's per-call
heuristics (PyTorch, training) do split K for skinny shapes and beat this bound: measured on
an H200 with scripts/measure_small_m_gemm.py (reports/calibration/small_m_gemm.md),
128×14848·14848×1984 in fp8 took 20.7 us against 52 us for this bound (in bf16 24.1 us
against 91 us).
η is the efficiency the cost model gives the largest measured GEMM (the curve's last point,
scaled as the curve is), so the bound never exceeds what a large GEMM's rate allows.
"""

from __future__ import annotations

import math

TILE_N = 128
"""Columns of a block tile (CUTLASS / cuBLAS tensor-core default, see the module docstring)."""
TILE_M = 128
"""Rows of a block tile for m ≥ 128."""
MIN_TILE_M = 16
"""Fewest rows of a tile: one tensor-core MMA (PTX mma.m16n8k16)."""


def tile_rows(m: int) -> int:
    """Rows of the block tile for a GEMM of ``m`` ≥ 16 rows: 128, or the power of two ≥ m
    below that."""
    if m >= TILE_M:
        return TILE_M
    return max(MIN_TILE_M, 1 << math.ceil(math.log2(max(m, 1))))


def waves(batch: int, m: int, n: int, units: int) -> tuple[int, int]:
    """(tiles, waves) of a batch of m×n outputs on ``units`` SMs."""
    tiles = batch * math.ceil(m / tile_rows(m)) * math.ceil(n / TILE_N)
    return tiles, math.ceil(tiles / units)


def wave_time(shape: tuple[int, int, int, int], units: int, rate: float) -> float:
    """Seconds of the tile waves of a GEMM of ``shape`` = (batch, m, k, n) on ``units`` SMs
    that together sustain ``rate`` FLOP/s (peak · η); 0 for m < 16 (a GEMV, not tiled)."""
    batch, m, k, n = shape
    if m < MIN_TILE_M:
        return 0.0
    _, w = waves(batch, m, n, units)
    return w * 2.0 * tile_rows(m) * TILE_N * k / (rate / units)
