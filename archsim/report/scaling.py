"""Scaling of a training scenario: the same plan simulated at other data-parallel degrees.

Only ``dp`` (and with it ``hardware.count``) changes; tp, pp, cp, the global batch and the
micro-batch stay as given, so a larger dp means fewer micro-batches per pipeline (a larger
bubble share) — the honest cost of adding replicas at a fixed batch. ``scaling_points`` runs
every degree that divides ``global_batch / micro_batch`` into whole micro-batches and fills
whole nodes (``valid_dps``), so the curve has no gaps; past ``MAX_SCAN`` degrees an evenly
spaced (in log) subset is run. Heterogeneous clusters (pools) are not scaled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from archsim.spec.errors import SpecError
from archsim.spec.scenario import ScenarioSpec
from archsim.spec.workload import TrainingWorkload

DEFAULT_FACTORS = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
MAX_SCAN = 40
"""Data-parallel degrees simulated at most for the scaling curve."""


@dataclass(frozen=True)
class ScalePoint:
    """One simulated device count."""

    devices: int
    dp: int
    feasible: bool
    tokens_per_s: float | None
    """Sustained: checkpoint pauses included where modelled (capacity.sustained)."""
    step_time_s: float | None
    cost_per_million_tokens_usd: float | None
    energy_per_token_j: float | None
    reasons: tuple[str, ...] = ()
    step_time_high_s: float | None = None
    """Upper end of the step time's calibrated interval (None: no error bar)."""


def can_scale(sc: ScenarioSpec) -> str | None:
    """None if ``sc`` can be scaled by dp, else why not."""
    if sc.hardware.cluster is not None:
        return "the hardware is a cluster of pools; scaling varies one homogeneous pool"
    if not isinstance(sc.workload, TrainingWorkload):
        return "scaling curves are simulated for training workloads"
    return None


def dp_candidates(sc: ScenarioSpec, base_dp: int, factors: Iterable[float]) -> list[int]:
    """Data-parallel degrees base_dp × factor that divide the batch into whole micro-batches."""
    wl = sc.workload
    assert isinstance(wl, TrainingWorkload)
    sequences = wl.global_batch // wl.micro_batch
    out = set()
    for f in factors:
        dp = base_dp * f
        if dp >= 1 and abs(dp - round(dp)) < 1e-9 and wl.global_batch % (
                wl.micro_batch * round(dp)) == 0 and round(dp) <= sequences:
            out.add(round(dp))
    return sorted(out)


def scaled_hardware(sc: ScenarioSpec, devices: int) -> dict[str, Any]:
    """Overrides that put ``devices`` devices in ``sc``'s homogeneous pool, adding the device's
    default links (its ``scale_up`` / ``scale_out`` profiles) when the new count needs them."""
    hw = sc.hardware
    assert hw.device is not None
    per_node = hw.devices_per_node or hw.device.devices_per_node
    out: dict[str, Any] = {"hardware.count": devices}
    if hw.intra_node is None and hw.device.scale_up and min(devices, per_node) > 1:
        out["hardware.intra_node"] = hw.device.scale_up
    if hw.inter_node is None and hw.device.scale_out and devices > per_node:
        out["hardware.inter_node"] = hw.device.scale_out
    return out


def simulate_at(sc: ScenarioSpec, dp: int) -> ScalePoint:
    """Simulate ``sc`` with data-parallel degree ``dp`` (devices = dp · tp · pp · cp)."""
    from archsim.api import simulate
    from archsim.spec.loader import load_scenario

    plan = sc.plan
    devices = dp * plan.tp * plan.pp * plan.cp
    overrides = scaled_hardware(sc, devices)
    overrides["plan.dp"] = dp
    try:
        spec = load_scenario(sc.model_dump(mode="json"), overrides)
    except SpecError as exc:
        return ScalePoint(devices, dp, False, None, None, None, None, tuple(exc.problems))
    from archsim.report.capacity import sustained

    r = simulate(spec).to_dict()
    tps, cpm = sustained(r)
    return ScalePoint(devices=devices, dp=dp, feasible=bool(r["feasible"]),
                      tokens_per_s=tps, step_time_s=r.get("step_time_s"),
                      cost_per_million_tokens_usd=cpm,
                      energy_per_token_j=r.get("energy_per_token_j"),
                      reasons=tuple(r.get("infeasible_reasons") or ()),
                      step_time_high_s=step_time_high(r))


def step_time_high(r: dict[str, Any]) -> float | None:
    """The upper end of a result's step-time interval (``uncertainty.intervals``), or None."""
    iv = ((r.get("uncertainty") or {}).get("intervals") or {}).get("step_time_s")
    return float(iv[1]) if iv else None


def valid_dps(sc: ScenarioSpec) -> list[int]:
    """Every dp that divides the batch into whole micro-batches and fills whole nodes."""
    wl, plan, hw = sc.workload, sc.plan, sc.hardware
    assert isinstance(wl, TrainingWorkload) and hw.device is not None
    per_node = hw.devices_per_node or hw.device.devices_per_node
    group = plan.tp * plan.pp * plan.cp
    out = []
    for dp in range(1, wl.global_batch // wl.micro_batch + 1):
        devices = dp * group
        if wl.global_batch % (wl.micro_batch * dp) == 0 and (
                devices <= per_node or devices % per_node == 0):
            out.append(dp)
    return out


def scan_dps(sc: ScenarioSpec, base_dp: int, limit: int = MAX_SCAN) -> list[int]:
    """The degrees the scaling curve runs: every valid one (and ``base_dp``), or at most
    ``limit`` of them evenly spaced in log, the smallest, the largest and ``base_dp`` kept."""
    dps = sorted(set(valid_dps(sc)) | {base_dp})
    if len(dps) <= limit:
        return dps
    import math

    lo, hi = math.log(dps[0]), math.log(dps[-1])
    keep = {base_dp, dps[0], dps[-1]}
    for i in range(limit - len(keep)):
        want = math.exp(lo + (hi - lo) * (i + 1) / (limit - len(keep) + 1))
        keep.add(min(dps, key=lambda d: abs(math.log(d) - math.log(want))))
    return sorted(keep)


def scaling_points(sc: ScenarioSpec, base_dp: int) -> list[ScalePoint]:
    """Simulated points at every degree :func:`scan_dps` picks."""
    return [simulate_at(sc, dp) for dp in scan_dps(sc, base_dp)]
