"""Matmul efficiency data: the achieved fraction of a dense peak by problem size."""

from __future__ import annotations

import itertools
from typing import Literal

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
    """Efficiency by FLOPs of a linear layer's GEMMs in one operand layout with ``rows`` rows:
    ``nt`` the forward x·Wᵀ, ``nn`` the data gradient dy·W, ``tn`` the weight gradient xᵀ·dy
    (rows: its input width)."""

    rows: int = Field(ge=1)
    layout: Literal["nt", "nn", "tn"] = "nt"
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

    ``by_rows`` (written by ``archsim calibrate``) holds one such curve per operand layout and
    row count m of the GEMMs it timed; they price a linear layer's GEMMs (forward, data and
    weight gradient), whose efficiency at equal FLOPs depends on m and the layout
    (matrix-vector and small-m kernels, blocking by rows: on a 2-core AMD EPYC, 8.4 MFLOP in
    the forward layout ran at 8, 15, 38 and 100 GFLOP/s with m = 1, 4, 16, 64). Between two
    listed row counts of the op's layout the efficiency is interpolated in log m, beyond the
    ends the nearest curve holds; attention's products and layouts without curves use
    ``points``.
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
        for layout in ("nt", "nn", "tn"):
            rows = [c.rows for c in by_rows if c.layout == layout]
            if any(b <= a for a, b in itertools.pairwise(rows)):
                raise ValueError(f"by_rows must be sorted by strictly increasing rows within "
                                 f"each layout ({layout}: {rows})")
        return by_rows

    def rows_curves(self, layout: str) -> tuple[RowsCurveSpec, ...]:
        """The per-row-count curves of one operand layout, by increasing rows."""
        return tuple(c for c in self.by_rows if c.layout == layout)
