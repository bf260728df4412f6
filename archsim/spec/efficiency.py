"""Matmul efficiency data: the achieved fraction of a dense peak by problem size."""

from __future__ import annotations

import itertools

from pydantic import Field, field_validator

from archsim.spec.base import StrictModel


def _checked_points(points: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
    flops = [p[0] for p in points]
    if any(f <= 0 for f in flops):
        raise ValueError("every point's FLOPs must be greater than zero")
    if any(b <= a for a, b in itertools.pairwise(flops)):
        raise ValueError("points must be sorted by strictly increasing FLOPs")
    if any(not (0 < e <= 1) for _, e in points):
        raise ValueError("every efficiency must be in (0, 1]")
    return points


class RowsCurveSpec(StrictModel):
    """Efficiency by FLOPs of forward weight GEMMs (x·Wᵀ) whose activation has ``rows`` rows."""

    rows: int = Field(ge=1)
    points: tuple[tuple[float, float], ...] = Field(min_length=1)

    @field_validator("points")
    @classmethod
    def _check_points(cls, points: tuple[tuple[float, float], ...]
                      ) -> tuple[tuple[float, float], ...]:
        return _checked_points(points)


class MatmulEfficiencySpec(StrictModel):
    """Achieved fraction of the dense peak for one matmul call, by its FLOPs.

    Points are ``[flops, efficiency]``; between them the efficiency is interpolated linearly in
    log10(FLOPs) and held constant beyond the ends.

    ``by_rows`` (written by ``archsim calibrate``) holds one such curve per row count m of
    GEMMs timed in the forward layout x·Wᵀ; they price forward weight GEMMs, whose efficiency
    at equal FLOPs depends on m (matrix-vector and small-m kernels, blocking by rows: on a
    2-core AMD EPYC, 8.4 MFLOP ran at 8, 15, 38 and 100 GFLOP/s with m = 1, 4, 16, 64). Between
    two listed row counts the efficiency is interpolated in log m, beyond the ends the nearest
    curve holds; backward GEMMs and attention use ``points``.
    """

    points: tuple[tuple[float, float], ...] = Field(min_length=1)
    by_rows: tuple[RowsCurveSpec, ...] = ()
    source: str = ""

    @field_validator("points")
    @classmethod
    def _check_points(cls, points: tuple[tuple[float, float], ...]
                      ) -> tuple[tuple[float, float], ...]:
        return _checked_points(points)

    @field_validator("by_rows")
    @classmethod
    def _check_rows(cls, by_rows: tuple[RowsCurveSpec, ...]) -> tuple[RowsCurveSpec, ...]:
        rows = [c.rows for c in by_rows]
        if any(b <= a for a, b in itertools.pairwise(rows)):
            raise ValueError("by_rows must be sorted by strictly increasing rows")
        return by_rows
