"""What a capacity search records: the inputs every probe shares (``_Search``), the answer for
one device type (``CapacityRow``) and the order in which deployments compare
(``_deployment_cost``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class CapacityRow:
    device: str
    feasible: bool
    tp: int | None = None
    pp: int = 1
    replicas: int | None = None
    devices: int | None = None
    devices_per_node: int | None = None
    """Node size the accepted deployment was simulated with (also in ``reproduce``)."""
    slo_attainment: float | None = None
    ttft_p99_s: float | None = None
    tpot_p99_s: float | None = None
    tokens_per_s: float | None = None
    """Output tokens/s served in the steady-state window of the accepted probe."""
    offered_tokens_per_s: float | None = None
    """rate × the stream's mean output length."""
    requests_per_s: float | None = None
    """Requests/s served in the steady-state window of the accepted probe."""
    arrived_per_s: float | None = None
    """Requests/s that arrived in that window (what it had to keep up with)."""
    served_share: float | None = None
    """requests_per_s / arrived_per_s (≥ 1 − KEEP_UP_TOLERANCE for an accepted probe)."""
    rate_basis: str | None = None
    """Where the rates and the price were measured: "steady state" for every accepted row."""
    price_per_device_hour_usd: float | None = None
    cost_per_hour_usd: float | None = None
    cost_per_million_tokens_usd: float | None = None
    probes: int = 0
    reason: str = ""
    possibly_oversized: bool = False
    """A cheaper deployment than the accepted one could not be judged: a tp skipped because the
    stream is too short for any of its deployments to show that it keeps up, or a cheaper probe
    that met the SLO and served enough of its arrivals in a window too short to show it keeps
    up (``notes`` says which and the ``workload.arrival.count`` that would judge them)."""
    notes: list[str] = field(default_factory=list)
    """Caveats on an accepted row (also in the result's ``notes``, prefixed by the device)."""
    tried: list[dict[str, Any]] = field(default_factory=list)
    """Every probe: tp, replicas, devices, rate, attainment, p99s, $ per M tokens, the rate
    basis, the share served, whether it kept up and passed (``met``), and why not (with the
    ``count_needed`` to judge it where the stream was too short)."""
    uncertainty: dict[str, Any] | None = None
    """The error bar of the accepted probe (archsim/accuracy.py), its slow end simulated
    (archsim/metrics/serving_band.py)."""
    at_slow_end: dict[str, Any] | None = None
    """The accepted deployment on a device at its error bar's slow end (``slowdown``× slower
    than predicted): {slowdown, passes, slo_attainment, keeps_up, why, count_needed, replicas,
    devices, cost_per_hour_usd, cost_per_million_tokens_usd}, the last four the fewest replicas
    of this tp that pass there (the accepted ones when they do; None where none up to
    ``--max-replicas`` do or the stream cannot judge them). ``passes`` is None where it meets
    the SLO there but the stream is too short to show that it keeps up (``count_needed``
    requests would). None without a band."""
    reproduce: list[str] = field(default_factory=list)
    """``--set`` overrides that make the scenario the accepted deployment."""


@dataclass(frozen=True)
class _Search:
    """What every probe of one capacity search shares."""

    base: Mapping[str, Any]
    rate: float
    slo: dict[str, Any]
    pp: int
    max_replicas: int
    offered: float
    """Output tokens/s the deployment must sustain."""
    arrivals: np.ndarray
    """The stream's arrival times at ``rate``."""
    gens: np.ndarray
    """Its output lengths."""
    tp: int | None
    """tp pinned by the caller, or None to search."""
    size_for: str = "prediction"
    """"prediction": the fewest replicas that pass as predicted; "slow-end": the fewest of
    that tp that pass at the error bar's slow end (archsim/capacity/search.py)."""


def _deployment_cost(d: Mapping[str, Any], devices: int) -> tuple[float, int]:
    """Order of deployments: $ per million tokens where priced, then devices."""
    usd = d.get("cost_per_million_tokens_usd")
    return (usd if usd is not None else math.inf, devices)
