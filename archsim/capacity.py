"""Capacity planning for serving: the fewest replicas of each device type that meet an SLO.

For a serving scenario, a request rate R and an SLO (TTFT and/or TPOT; met when at least
``slo.attainment`` of the requests meet it), each device type is tried as a homogeneous
deployment of identical replicas (the scenario's ``plan.tp``, raised to the next power of two
while one replica cannot hold the weights and the largest request's KV cache, and further, up
to a node, while a larger tp could be cheaper). For each tp the stream is first replayed at a
thousandth of R against one replica: if even requests served one at a time miss the SLO (a
decode step too slow for the TPOT target), no number of replicas helps and the next tp is
tried. Otherwise the scenario's request stream (its count, lengths and seed) is replayed at
rate R against 1, 2, 4, … replicas until the SLO is met, then the boundary is found by
bisection — this assumes, as is usual, that adding replicas never lowers attainment. Each
probe is a full serving simulation; the cheapest deployment over the tps tried is the row.

Cost: devices × price per device-hour; per million output tokens it is the serving result's
own ``cost_per_million_tokens_usd`` — price per hour / (3600 × output tokens/s measured in the
steady state of the probe that met the SLO; archsim/metrics/serving.py) — so a deployment has
one price wherever it is shown. Device types without a price are sized like the others and
listed in ``unpriced``; the cheapest deployment is chosen among the priced ones. Each probe
replays only ``arrival.count`` requests from an empty system: give enough requests for the
queues to reach a steady state (the probe count is in the result). Every probe is kept in the
row's ``probes`` (replicas, p99 latencies, attainment, cost) for Pareto plots.

``max_rate_per_replica`` bisects the request rate that one replica sustains within the SLO.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from archsim.spec.errors import SpecError
from archsim.spec.loader import load_scenario, load_spec_file
from archsim.spec.scenario import ScenarioSpec

TP_CANDIDATES = (1, 2, 4, 8, 16)


@dataclass
class CapacityRow:
    device: str
    feasible: bool
    tp: int | None = None
    pp: int = 1
    replicas: int | None = None
    devices: int | None = None
    slo_attainment: float | None = None
    ttft_p99_s: float | None = None
    tpot_p99_s: float | None = None
    tokens_per_s: float | None = None
    """Output tokens/s served in the steady state of the deployment's simulation."""
    offered_tokens_per_s: float | None = None
    """rate × the stream's mean output length."""
    price_per_device_hour_usd: float | None = None
    cost_per_hour_usd: float | None = None
    cost_per_million_tokens_usd: float | None = None
    probes: int = 0
    reason: str = ""
    tried: list[dict[str, Any]] = field(default_factory=list)
    """Every probe: replicas, devices, attainment, p99 TTFT / TPOT, $ per M tokens, met."""
    uncertainty: dict[str, Any] | None = None
    """The error bar of the probe that met the SLO (archsim/accuracy.py)."""


def _base_mapping(sc: ScenarioSpec) -> dict[str, Any]:
    return sc.model_dump(mode="json")


def _node_size(device: str, count: int, replica: int) -> int:
    """Devices per node for ``count`` devices in replicas of ``replica`` devices: the profile's
    node size, or the largest size below it that holds whole replicas and divides the count
    (replicas of a serving deployment do not talk to each other, so partly filled nodes only
    change how many nodes are listed, not any time)."""
    node = load_spec_file("devices", device).devices_per_node
    if count <= node:
        return count
    for size in range(node, 0, -1):
        if count % size == 0 and (size % replica == 0 or replica % size == 0):
            return size
    return 1


def _scenario(base: Mapping[str, Any], device: str, tp: int, pp: int, replicas: int,
              rate: float, slo: dict[str, Any]) -> ScenarioSpec:
    data = copy.deepcopy(dict(base))
    count = tp * pp * replicas
    data["hardware"] = {"device": device, "count": count,
                        "devices_per_node": _node_size(device, count, tp * pp)}
    wl = data["workload"]
    wl["replicas"] = replicas
    wl.setdefault("arrival", {})["rate_per_s"] = rate
    wl["slo"] = slo
    plan = data.setdefault("plan", {})
    plan.update(tp=tp, pp=pp)
    plan.pop("placement", None)
    plan.pop("dp", None)
    return load_scenario(data)


def plan_capacity(scenario: ScenarioSpec | str | Mapping[str, Any], rate: float,
                  ttft_s: float | None = None, tpot_s: float | None = None,
                  devices: Sequence[str] | None = None, attainment: float | None = None,
                  max_replicas: int = 256,
                  overrides: Mapping[str, Any] | list[str] | None = None) -> dict[str, Any]:
    """Fewest replicas per device type meeting the SLO at ``rate`` requests/s.

    SLO values default to the scenario's ``workload.slo``; ``devices`` default to the
    scenario's device types. Returns {rate_per_s, slo, rows: [CapacityRow as dict], best}.

    Raises SpecError for a non-serving scenario, rate ≤ 0, no SLO, or unknown devices.
    """
    sc = scenario if isinstance(scenario, ScenarioSpec) and not overrides else \
        load_scenario(scenario if not isinstance(scenario, ScenarioSpec)
                      else scenario.model_dump(mode="json"), overrides)
    if sc.workload.kind != "serving":
        raise SpecError([f"capacity planning needs a serving scenario (workload.kind: serving);"
                         f" {sc.name!r} is {sc.workload.kind}"])
    if not (rate > 0 and math.isfinite(rate)):
        raise SpecError([f"--rate {rate!r}: expected a request rate greater than 0 per second "
                         "(a finite number)"])
    if max_replicas < 1:
        raise SpecError([f"--max-replicas {max_replicas!r}: expected a whole number ≥ 1"])
    wl_slo = sc.workload.slo
    slo = {"ttft_s": ttft_s if ttft_s is not None else wl_slo.ttft_s,
           "tpot_s": tpot_s if tpot_s is not None else wl_slo.tpot_s,
           "attainment": attainment if attainment is not None else wl_slo.attainment}
    if slo["ttft_s"] is None and slo["tpot_s"] is None:
        raise SpecError(["capacity planning needs an SLO: give --slo ttft=S,tpot=S or "
                         "workload.slo in the scenario"])
    for key in ("ttft_s", "tpot_s"):
        if slo[key] is not None and not slo[key] > 0:
            raise SpecError([f"--slo {key.removesuffix('_s')}={slo[key]!r}: expected seconds "
                             "greater than 0"])
    if not 0 < slo["attainment"] <= 1:
        raise SpecError([f"--attainment {slo['attainment']!r}: expected a fraction in (0, 1]"])
    names = list(devices) if devices else list(dict.fromkeys(
        p.device.name for p in sc.cluster.pools))
    for name in names:
        load_spec_file("devices", name)  # SpecError with the closest names if unknown
    base = _base_mapping(sc)
    from archsim.sim.serving.requests import generate_requests

    gens = [r.gen_len for r in generate_requests(sc.workload)]
    offered = rate * sum(gens) / len(gens)  # output tokens/s the deployment must sustain
    rows = [_size_device(base, name, rate, slo, sc.plan.tp, sc.plan.pp, max_replicas, offered)
            for name in names]
    feasible = [r for r in rows if r.feasible]
    best = None
    if feasible:
        priced = [r for r in feasible if r.cost_per_million_tokens_usd is not None]
        pick = min(priced, key=lambda r: r.cost_per_million_tokens_usd) if priced else \
            min(feasible, key=lambda r: r.devices or 0)
        best = pick.device
    unpriced = [n for n in names if load_spec_file("devices", n).price_per_hour is None]
    return {"rate_per_s": rate, "slo": slo, "scenario": sc.name, "model": sc.model.name,
            "requests_per_probe": sc.workload.arrival.count,
            "rows": [asdict(r) for r in rows], "best": best,
            "best_by": "cost per million tokens" if feasible and any(
                r.cost_per_million_tokens_usd is not None for r in feasible) else "devices",
            "unpriced": unpriced}


FLOOR_RATE_SHARE = 1e-3
"""The light-load probe of a tp replays the stream at this share of the rate: requests arrive
far apart, so each is served alone (the lowest latency a replica of that tp reaches)."""


def _size_device(base: Mapping[str, Any], device: str, rate: float, slo: dict[str, Any],
                 tp0: int, pp: int, max_replicas: int, offered: float) -> CapacityRow:
    """The cheapest deployment of ``device`` meeting the SLO: for each tp from the smallest
    that holds the model (up to a node, or beyond while memory needs it), the fewest replicas;
    a tp whose replica misses the SLO even serving one request at a time is skipped (more
    replicas only shorten queues, not a decode step); a larger tp is tried while it could
    still need fewer devices than the best found."""
    row = CapacityRow(device=device, feasible=False, pp=pp)
    tp_fit, why = _fitting_tp(base, device, rate, slo, tp0, pp)
    if tp_fit is None:
        row.reason = why
        return row
    node = load_spec_file("devices", device).devices_per_node
    best: tuple[int, int, int, dict[str, Any]] | None = None  # tp, replicas, devices, result
    misses: list[str] = []
    for tp in [tp_fit, *(t for t in TP_CANDIDATES if t > tp_fit and t * pp <= node)]:
        if best is not None and tp * pp >= best[2]:
            break  # one replica of this tp holds as many devices as the best deployment
        found, reason = _replicas_for(row, base, device, tp, pp, rate, slo, max_replicas)
        if found is None:
            misses.append(reason)
            continue
        replicas, d = found
        devices = replicas * tp * pp
        if best is None or _deployment_cost(d, devices) < _deployment_cost(best[3], best[2]):
            best = (tp, replicas, devices, d)
    row.tried.sort(key=lambda t: (t["tp"], t["replicas"]))
    if best is None:
        row.reason = "; ".join(misses)
        return row
    tp, replicas, devices, d = best
    row.feasible = True
    row.tp, row.replicas, row.devices = tp, replicas, devices
    row.slo_attainment = d["slo_attainment"]
    row.ttft_p99_s, row.tpot_p99_s = d["ttft_p99_s"], d["tpot_p99_s"]
    row.tokens_per_s, row.offered_tokens_per_s = d["tokens_per_s"], offered
    row.uncertainty = d.get("uncertainty")
    price = load_spec_file("devices", device).price_per_hour
    if price is not None:
        row.price_per_device_hour_usd = price
        row.cost_per_hour_usd = d["cost_per_hour_usd"]
        row.cost_per_million_tokens_usd = d["cost_per_million_tokens_usd"]
    return row


def _deployment_cost(d: Mapping[str, Any], devices: int) -> tuple[float, int]:
    """Order of deployments: $ per million tokens where priced, then devices."""
    usd = d.get("cost_per_million_tokens_usd")
    return (usd if usd is not None else math.inf, devices)


def _replicas_for(row: CapacityRow, base: Mapping[str, Any], device: str, tp: int, pp: int,
                  rate: float, slo: dict[str, Any], max_replicas: int
                  ) -> tuple[tuple[int, dict[str, Any]] | None, str]:
    """Fewest replicas of tp ``tp`` meeting the SLO at ``rate`` (doubling, then bisection),
    with the probes recorded on ``row``; None and why when none do."""
    from archsim.api import simulate

    results: dict[int, dict[str, Any]] = {}

    def record(r: int, d: dict[str, Any], at_rate: float) -> bool:
        ok = bool(d["feasible"] and d["meets_slo"])
        row.probes += 1
        row.tried.append({"tp": tp, "replicas": r, "devices": r * tp * pp,
                          "rate_per_s": at_rate, "slo_attainment": d.get("slo_attainment"),
                          "ttft_p99_s": d.get("ttft_p99_s"), "tpot_p99_s": d.get("tpot_p99_s"),
                          "cost_per_million_tokens_usd": d.get("cost_per_million_tokens_usd"),
                          "met": ok})
        return ok

    light = rate * FLOOR_RATE_SHARE
    floor = simulate(_scenario(base, device, tp, pp, 1, light, slo)).to_dict()
    if not record(1, floor, light):
        return None, (f"tp {tp}: one replica misses the SLO even serving one request at a "
                      f"time (attainment {_fmt_pct(floor.get('slo_attainment'))}, p99 TTFT "
                      f"{_fmt_s(floor.get('ttft_p99_s'))}, p99 TPOT "
                      f"{_fmt_s(floor.get('tpot_p99_s'))})"
                      + (f"; {'; '.join(floor['infeasible_reasons'])}"
                         if floor["infeasible_reasons"] else ""))

    def probe(r: int) -> bool:
        if r not in results:
            results[r] = simulate(_scenario(base, device, tp, pp, r, rate, slo)).to_dict()
            record(r, results[r], rate)
        d = results[r]
        return bool(d["feasible"] and d["meets_slo"])

    lo, hi = 0, 1  # lo fails (0 replicas serve nothing), hi is the next candidate
    while True:
        try:
            if probe(hi):
                break
        except SpecError as exc:  # e.g. more devices than one node of a profile without a
            # scale-out interconnect: no deployment of this size can be described
            problems = "; ".join(p.removeprefix("<scenario>: ") for p in exc.problems)
            return None, (f"{hi} replicas of tp {tp} ({hi * tp * pp} devices) cannot be "
                          f"simulated: {problems}"
                          + (f"; {lo} replicas reach SLO attainment "
                             f"{_fmt_pct(results[lo].get('slo_attainment'))}" if lo else ""))
        lo = hi
        if hi >= max_replicas:
            d = results[hi]
            return None, (f"{max_replicas} replicas of tp {tp} reach SLO attainment "
                          f"{_fmt_pct(d.get('slo_attainment'))} (< "
                          f"{_fmt_pct(slo['attainment'])}) at {rate:g} req/s"
                          + (f"; {'; '.join(d['infeasible_reasons'])}"
                             if d["infeasible_reasons"] else ""))
        hi = min(2 * hi, max_replicas)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if probe(mid):
            hi = mid
        else:
            lo = mid
    return (hi, results[hi]), ""


def _fmt_s(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3g} s"


def _fitting_tp(base: Mapping[str, Any], device: str, rate: float, slo: dict[str, Any],
                tp0: int, pp: int) -> tuple[int | None, str]:
    """The smallest tp ≥ the scenario's whose single replica holds the model and the largest
    request (checked without simulating)."""
    from archsim.metrics.serving import request_reasons
    from archsim.plan.serving import resolve_serving_layout
    from archsim.sim.serving.requests import generate_requests

    last = ""
    for tp in [t for t in TP_CANDIDATES if t >= tp0] or [tp0]:
        sc = _scenario(base, device, tp, pp, 1, rate, slo)
        layout, reasons = resolve_serving_layout(sc)
        if layout is not None:
            reasons = request_reasons(generate_requests(sc.workload), layout.groups,
                                      sc.workload, sc.model.max_seq_len)
        if not reasons:
            return tp, ""
        last = f"tp {tp}: {'; '.join(reasons)}"
    return None, f"no replica of up to tp {TP_CANDIDATES[-1]} fits ({last})"


def _fmt_pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


RATE_TOLERANCE = 0.02
"""max_rate_per_replica stops when the bracket is narrower than this share of its low end."""


def max_rate_per_replica(scenario: ScenarioSpec, slo: dict[str, Any] | None = None,
                         device: str | None = None, tp: int | None = None,
                         start_rate: float | None = None, max_probes: int = 16
                         ) -> dict[str, Any]:
    """The highest request rate one replica (``device``, ``tp``; default the scenario's)
    sustains within the SLO, by doubling or halving from ``start_rate`` (default: the
    scenario's rate per replica) and then bisecting until the bracket is within
    ``RATE_TOLERANCE``. Returns {rate_per_s (highest met), failed_rate_per_s (lowest missed),
    device, tp, probes: [{rate_per_s, slo_attainment, ttft_p99_s, tpot_p99_s, met}]};
    rate_per_s is None when even the lowest rate tried misses the SLO."""
    from archsim.api import simulate

    sc = scenario
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
        ok = bool(d["feasible"] and d["meets_slo"])
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
