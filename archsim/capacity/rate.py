"""``max_rate_per_replica``: the highest request rate one replica sustains within an SLO (meets
it and keeps up: archsim/capacity/window.py), found by doubling or halving and bisection."""

from __future__ import annotations

from typing import Any

from archsim.capacity.scenario import _base_mapping, _scenario, require_open_arrivals
from archsim.capacity.window import _passes
from archsim.spec.scenario import ScenarioSpec

RATE_TOLERANCE = 0.02
"""max_rate_per_replica stops when the bracket is narrower than this share of its low end."""


def max_rate_per_replica(scenario: ScenarioSpec, slo: dict[str, Any] | None = None,
                         device: str | None = None, tp: int | None = None,
                         start_rate: float | None = None, max_probes: int = 16
                         ) -> dict[str, Any]:
    """The highest request rate one replica (``device``, ``tp``; default the scenario's)
    sustains (meets the SLO and keeps up: archsim/capacity/window.py), by doubling or halving from
    ``start_rate`` (default: the scenario's rate per replica) and then bisecting until the
    bracket is within ``RATE_TOLERANCE``. Returns {rate_per_s (highest met),
    failed_rate_per_s (lowest missed), device, tp, probes: [{rate_per_s, slo_attainment,
    ttft_p99_s, tpot_p99_s, met}]}; rate_per_s is None when even the lowest rate tried fails."""
    from archsim.api import simulate

    sc = scenario
    require_open_arrivals(sc, "the highest rate per replica")
    wl = sc.workload
    slo = slo or {"ttft_s": wl.slo.ttft_s, "tpot_s": wl.slo.tpot_s,
                  "attainment": wl.slo.attainment}
    device = device or sc.cluster.pools[0].device.name
    tp = tp or sc.plan.tp
    base = _base_mapping(sc)
    rate = start_rate or wl.arrival.rate_per_s / max(1, wl.replicas or 1)
    probes: list[dict[str, Any]] = []

    def met(r: float) -> bool:
        d = simulate(_scenario(base, device, tp, sc.plan.pp, 1, r, slo)).to_dict()
        ok = _passes(d)
        probes.append({"rate_per_s": r, "slo_attainment": d.get("slo_attainment"),
                       "ttft_p99_s": d.get("ttft_p99_s"), "tpot_p99_s": d.get("tpot_p99_s"),
                       "met": ok})
        return ok

    lo: float | None = None
    hi: float | None = None
    if met(rate):
        lo = rate
        while hi is None and len(probes) < max_probes:
            rate *= 2
            lo, hi = (rate, None) if met(rate) else (lo, rate)
    else:
        hi = rate
        while lo is None and len(probes) < max_probes:
            rate /= 2
            lo, hi = (rate, hi) if met(rate) else (None, rate)
    while lo is not None and hi is not None and hi - lo > RATE_TOLERANCE * lo \
            and len(probes) < max_probes:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if met(mid) else (lo, mid)
    return {"device": device, "tp": tp, "rate_per_s": lo, "failed_rate_per_s": hi,
            "slo": slo, "probes": sorted(probes, key=lambda p: p["rate_per_s"])}
