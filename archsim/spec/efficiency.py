"""Matmul efficiency data: the achieved fraction of a dense peak by problem size."""

from __future__ import annotations

import itertools

from pydantic import Field, field_validator

from archsim.spec.base import StrictModel


class MatmulEfficiencySpec(StrictModel):
    """Achieved fraction of the dense peak for one matmul call, by its FLOPs.

    Points are ``[flops, efficiency]``; between them the efficiency is interpolated linearly in
    log10(FLOPs) and held constant beyond the ends.
    """

    points: tuple[tuple[float, float], ...] = Field(min_length=1)
    source: str = ""

    @field_validator("points")
    @classmethod
    def _check_points(cls, points: tuple[tuple[float, float], ...]
                      ) -> tuple[tuple[float, float], ...]:
        flops = [p[0] for p in points]
        if any(f <= 0 for f in flops):
            raise ValueError("every point's FLOPs must be greater than zero")
        if any(b <= a for a, b in itertools.pairwise(flops)):
            raise ValueError("points must be sorted by strictly increasing FLOPs")
        if any(not (0 < e <= 1) for _, e in points):
            raise ValueError("every efficiency must be in (0, 1]")
        return points
