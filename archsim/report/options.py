"""What the reader asks: targets and choices that shape a report (CLI options)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReportOptions:
    """Targets of the capacity answer; None means "use the documented default"."""

    train_tokens: float | None = None
    """Tokens to train (training). Default: 20 per parameter (Chinchilla)."""
    days: float | None = None
    """Deadline for those tokens (training). Default: 30 days."""
    rate: float | None = None
    """Request rate to serve (serving), requests/s. Default: the scenario's arrival rate."""
    devices: tuple[str, ...] = ()
    """Serving: more device types to size in the capacity answer (besides the scenario's)."""
    objective: str | None = None
    """Sweep column to rank points by. Default: tokens_per_s (higher is better)."""
    scaling: bool = True
    """Simulate other device counts for the scaling curves and the fewest-devices answer."""
    planner: bool = True
    """Training: run the planner (restricted space) at a handful of those device counts."""
