"""Base class for every ``*Spec``: strict (unknown keys rejected), frozen, validated at the door."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A validated, immutable input record; unknown keys are errors, never silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)
