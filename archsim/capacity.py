"""Capacity planning for serving: the fewest replicas of each device type that meet an SLO
and keep up with the offered load.

For a serving scenario, a request rate R and an SLO (TTFT and/or TPOT; met when at least
``slo.attainment`` of the requests meet it), each device type is tried as a homogeneous
deployment of identical colocated replicas. tp: every power of two from the smallest whose
replica holds the weights and the largest request's KV cache, up to a node, while a larger tp
could still be cheaper (the scenario's ``plan.tp`` is not kept unless pinned with ``tp``; its
``plan.pp`` is kept; a ``plan.placement`` is dropped and said so in ``notes``).

For each tp the stream is first served **one request at a time** on one replica (each request
arrives after the one before has finished: :func:`served_alone`). If that misses the SLO (a
decode step too slow for the TPOT target) no number of replicas helps; if even its p99
end-to-end latency leaves under a quarter of the stream's arrivals after it, no deployment of
that tp can show a steady state (below). Either way the next tp is tried. Otherwise the stream
(its count, lengths and seed) is replayed at rate R against 1, 2, 4, … replicas and the
boundary found by bisection — assuming, as is usual, that more replicas never make it worse.

A probe **passes** when it is feasible, meets the SLO and **keeps up**: in the steady-state
window of its serving result (archsim/metrics/serving_window.py: from one p99 end-to-end latency
after the first arrival to the last arrival) it serves at least ``1 − KEEP_UP_TOLERANCE`` of the
requests that arrive in that window. A deployment that serves less has a queue that grows for
as long as the load lasts; a finite stream can still drain and meet the SLO, which is why the
SLO alone is not enough. A probe measured over the whole run (no steady-state window: the stream
is too short for its latency, or the queue outgrew it) cannot show that it keeps up and does not
pass. Each probe is a full serving simulation; the cheapest deployment over the tps tried is
the row. A row whose stream was too short to judge a cheaper deployment (a tp skipped, or a
cheaper probe that served its arrivals in a window too short to resolve it) is accepted all the
same, flagged ``possibly_oversized`` with ``notes`` that name them and the count that would
judge them.

Cost: devices × price per device-hour; per million output tokens it is the serving result's own
``cost_per_million_tokens_usd`` (price per hour / (3600 × output tokens/s in the steady-state
window), archsim/metrics/serving.py). Every accepted row has a steady-state window, so every row
is priced on that one basis. Device types without a price are sized like the others and listed
in ``unpriced``; the cheapest deployment is chosen among the priced ones. Every probe is kept in
the row's ``tried`` for Pareto plots; ``reproduce`` gives the ``--set`` overrides that make the
scenario the accepted deployment.

``max_rate_per_replica`` bisects the request rate that one replica sustains within the SLO (met
and keeping up, as above).
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from archsim.metrics.serving_window import MIN_WINDOW_SHARE
from archsim.spec.errors import SpecError
from archsim.spec.loader import load_scenario, load_spec_file
from archsim.spec.scenario import ScenarioSpec

TP_CANDIDATES = (1, 2, 4, 8, 16)
KEEP_UP_TOLERANCE = 0.05
"""A probe keeps up when it serves at least 1 − this share of the requests that arrive in its
steady-state window. A judgement: a tighter one needs longer streams (the window count_needed
asks for grows as 1 / tolerance²: at 30 req/s and a 5 s mean latency, 23 s at 5%, 58 s at 2%);
a deployment short by less than this still queues without bound, and only the SLO over the
stream can catch it."""
RESOLUTION_SIGMAS = 2.0
"""A window resolves the served share when this many standard errors (``share_error``) fit in
KEEP_UP_TOLERANCE (a judgement: about 95% one-sided confidence)."""


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
    """The error bar of the accepted probe (archsim/accuracy.py)."""
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
                  overrides: Mapping[str, Any] | list[str] | None = None,
                  tp: int | None = None) -> dict[str, Any]:
    """Fewest replicas per device type meeting the SLO and keeping up at ``rate`` requests/s.

    SLO values default to the scenario's ``workload.slo``; ``devices`` default to the
    scenario's device types; ``tp`` pins the tensor parallelism (default: searched).
    Returns {rate_per_s, slo, rows: [CapacityRow as dict], best, notes, ...}.

    Raises SpecError for a non-serving scenario, rate ≤ 0, tp < 1, no SLO, or unknown devices.
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
    if tp is not None and not (isinstance(tp, int) and 1 <= tp <= TP_CANDIDATES[-1]):
        raise SpecError([f"--tp {tp!r}: expected a whole number from 1 to "
                         f"{TP_CANDIDATES[-1]}"])
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
    from archsim.sim.serving.requests import generate_requests

    wl = sc.workload
    stream = generate_requests(wl.model_copy(update={
        "arrival": wl.arrival.model_copy(update={"rate_per_s": rate})}))
    gens = [r.gen_len for r in stream]
    search = _Search(base=_base_mapping(sc), rate=rate, slo=slo, pp=sc.plan.pp,
                     max_replicas=max_replicas, offered=rate * sum(gens) / len(gens),
                     arrivals=np.array([r.arrival_s for r in stream]),
                     gens=np.array(gens), tp=tp)
    rows = [_size_device(search, name) for name in names]
    feasible = [r for r in rows if r.feasible]
    for r in feasible:
        r.reproduce = _reproduce(sc, overrides, r, rate, slo)
    best = None
    if feasible:
        priced = [r for r in feasible if r.cost_per_million_tokens_usd is not None]
        pick = min(priced, key=lambda r: r.cost_per_million_tokens_usd) if priced else \
            min(feasible, key=lambda r: r.devices or 0)
        best = pick.device
    unpriced = [n for n in names if load_spec_file("devices", n).price_per_hour is None]
    notes = _notes(sc) + [f"{r.device}: {n}" for r in rows for n in r.notes]
    return {"rate_per_s": rate, "slo": slo, "scenario": sc.name, "model": sc.model.name,
            "source": scenario if isinstance(scenario, str) else None,
            "requests_per_probe": len(stream),
            "tp_pinned": tp, "scenario_tp": sc.plan.tp,
            "keep_up_tolerance": KEEP_UP_TOLERANCE, "notes": notes,
            "rows": [asdict(r) for r in rows], "best": best,
            "best_by": "cost per million tokens" if feasible and any(
                r.cost_per_million_tokens_usd is not None for r in feasible) else "devices",
            "unpriced": unpriced}


def _notes(sc: ScenarioSpec) -> list[str]:
    """What of the scenario's plan the search does not size."""
    notes = []
    placement = sc.plan.placement
    if isinstance(placement, Mapping) and ("prefill" in placement or "decode" in placement):
        def pool(v: Any) -> Any:
            return v.get("pool") if isinstance(v, Mapping) else v
        notes.append(f"the scenario's prefill/decode split (plan.placement: prefill on "
                     f"{pool(placement.get('prefill'))}, decode on "
                     f"{pool(placement.get('decode'))}) was not sized: each device type is "
                     "sized as colocated replicas that run both prefill and decode")
    elif placement is not None:
        notes.append("the scenario's plan.placement was not used: each device type is sized "
                     "as one homogeneous pool")
    if sc.plan.pp > 1:
        notes.append(f"pp {sc.plan.pp} from the scenario's plan.pp (not searched)")
    return notes


def _reproduce(sc: ScenarioSpec, overrides: Mapping[str, Any] | list[str] | None,
               row: CapacityRow, rate: float, slo: dict[str, Any]) -> list[str]:
    """``--set`` overrides (after any given to the search) that make the scenario ``row``'s
    accepted deployment."""
    out = list(overrides) if isinstance(overrides, (list, tuple)) else [
        f"{k}={json.dumps(v)}" for k, v in (overrides or {}).items()]
    out += [f"hardware={{device: {row.device}, count: {row.devices}, devices_per_node: "
            f"{row.devices_per_node}}}", f"workload.replicas={row.replicas}",
            f"workload.arrival.rate_per_s={rate!r}"]
    wl_slo = sc.workload.slo
    if slo != {"ttft_s": wl_slo.ttft_s, "tpot_s": wl_slo.tpot_s,
               "attainment": wl_slo.attainment}:
        out.append("workload.slo=" + json.dumps(slo))
    out.append(f"plan.tp={row.tp}")
    if sc.plan.placement is not None:
        out.append("plan.placement=null")
    if sc.plan.dp is not None:
        out.append("plan.dp=null")
    return out


def _size_device(s: _Search, device: str) -> CapacityRow:
    """The cheapest deployment of ``device`` that passes (module docstring): for each tp from
    the smallest that holds the model (up to a node, or beyond while memory needs it; only
    ``s.tp`` when pinned), the fewest replicas; a larger tp is tried while it could still need
    fewer devices than the best found."""
    row = CapacityRow(device=device, feasible=False, pp=s.pp)
    tp_fit, why = _fitting_tp(s, device)
    if tp_fit is None:
        row.reason = why
        return row
    node = load_spec_file("devices", device).devices_per_node
    best: tuple[int, int, int, dict[str, Any]] | None = None  # tp, replicas, devices, result
    misses: list[str] = []
    shorts: list[_Short] = []
    tps = [tp_fit] if s.tp is not None else \
        [tp_fit, *(t for t in TP_CANDIDATES if t > tp_fit and t * s.pp <= node)]
    for tp in tps:
        if best is not None and tp * s.pp >= best[2]:
            break  # one replica of this tp holds as many devices as the best deployment
        found, reason = _replicas_for(row, s, device, tp)
        if found is None:
            if isinstance(reason, _Short):
                shorts.append(reason)
            else:
                misses.append(reason)
            continue
        replicas, d = found
        devices = replicas * tp * s.pp
        if best is None or _deployment_cost(d, devices) < _deployment_cost(best[3], best[2]):
            best = (tp, replicas, devices, d)
    row.tried.sort(key=lambda t: (t["tp"], not t["alone"], t["replicas"]))
    if best is None:
        row.reason = "; ".join(misses + ([_short_reason(s, shorts)] if shorts else []))
        return row
    tp, replicas, devices, d = best
    st = d["steady_state"]
    row.feasible = True
    row.tp, row.replicas, row.devices = tp, replicas, devices
    row.devices_per_node = _node_size(device, devices, tp * s.pp)
    row.slo_attainment = d["slo_attainment"]
    row.ttft_p99_s, row.tpot_p99_s = d["ttft_p99_s"], d["tpot_p99_s"]
    row.tokens_per_s, row.offered_tokens_per_s = d["tokens_per_s"], s.offered
    row.requests_per_s = st["requests_per_s"]
    row.arrived_per_s = st["arrivals_in_window"] / (st["end_s"] - st["start_s"])
    row.served_share = row.requests_per_s / row.arrived_per_s
    row.rate_basis = "steady state"
    row.uncertainty = d.get("uncertainty")
    price = load_spec_file("devices", device).price_per_hour
    if price is not None:
        row.price_per_device_hour_usd = price
        row.cost_per_hour_usd = d["cost_per_hour_usd"]
        row.cost_per_million_tokens_usd = d["cost_per_million_tokens_usd"]
    row.notes = _unjudged(s, row, [x for x in shorts if x.tp * s.pp < devices],
                          _deployment_cost(d, devices))
    row.possibly_oversized = bool(row.notes)
    return row


def _unjudged(s: _Search, row: CapacityRow, shorts: list[_Short],
              accepted: tuple[float, int]) -> list[str]:
    """Notes on the deployments that could be cheaper than the accepted one (``accepted``: its
    _deployment_cost) but that the stream was too short to judge: tps skipped (``shorts``, a
    replica of which holds fewer devices than the answer) and probes that met the SLO at a
    lower cost and served enough of the arrivals (at least 1 − KEEP_UP_TOLERANCE) in a window
    too short to resolve it. Either makes the answer possibly oversized: a longer stream may
    accept the cheaper deployment. (A cheaper probe whose window shows it serving too little is
    not counted: its best estimate is a growing queue, however wide the error.)"""
    notes = []
    if shorts:
        tps = _and([str(x.tp) for x in shorts])
        notes.append(f"possibly oversized: tp {tps} could not be judged and may be cheaper "
                     f"than this answer ({_short_reason(s, shorts)})")
    cheaper = [t for t in row.tried if t.get("count_needed") is not None
               and t["served_share"] >= 1 - KEEP_UP_TOLERANCE
               and _deployment_cost(t, t["devices"]) < accepted]
    if cheaper:
        by_tp: dict[int, list[int]] = {}
        for t in sorted(cheaper, key=lambda t: (t["tp"], t["replicas"])):
            by_tp.setdefault(t["tp"], []).append(t["replicas"])
        which = ", ".join(_and([str(r) for r in reps])
                          + f" replica{'s' if reps[-1] > 1 else ''} of tp {tp}"
                          for tp, reps in by_tp.items())
        one = len(cheaper) == 1
        its, they, keep, window, them = ("its", "it", "keeps", "window", "it") if one else \
            ("their", "they", "keep", "windows", "them")
        notes.append(f"possibly oversized: {which} met the SLO at a lower cost and served at "
                     f"least {_fmt_pct(1 - KEEP_UP_TOLERANCE)} of the requests arriving in "
                     f"{its} steady-state {window}, but the stream is too short to show that "
                     f"{they} {keep} up; at {its} latencies set workload.arrival.count to at "
                     f"least {max(t['count_needed'] for t in cheaper):,} to judge {them}")
    return notes


def _and(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _short_reason(s: _Search, shorts: list[_Short]) -> str:
    """Why the tps in ``shorts`` were skipped, with the fewest requests that would do."""
    tps = ", ".join(str(x.tp) for x in shorts)
    lo, hi = min(x.p99_e2e_s for x in shorts), max(x.p99_e2e_s for x in shorts)
    span = float(s.arrivals.max() - s.arrivals.min())
    least = min(x.count_needed for x in shorts)
    return (f"tp {tps}: the stream is too short to show that any deployment keeps up: its "
            f"{s.arrivals.size:,} requests arrive within {_fmt_s(span)} at {s.rate:g} req/s, "
            f"and even served one at a time a replica's p99 end-to-end latency is "
            f"{_fmt_s(lo)}" + (f"–{_fmt_s(hi)}" if hi > lo else "") + ", too long for a "
            f"steady-state window that resolves a {_fmt_pct(KEEP_UP_TOLERANCE)} shortfall; set "
            f"workload.arrival.count to at least {least:,}" + _count_at_slo(s, least))


def _count_at_slo(s: _Search, least: int) -> str:
    """The count a stream needs if, under load, the latencies reach the SLO's limits (TTFT +
    TPOT × (output − 1) for the mean and the p99 output length): the top of the range the
    one-at-a-time latencies start (``least``)."""
    ttft, tpot = s.slo["ttft_s"], s.slo["tpot_s"]
    if ttft is None or tpot is None:
        return " (more under load, where latencies are longer)"
    mean = ttft + tpot * (float(s.gens.mean()) - 1)
    p99 = ttft + tpot * (float(np.percentile(s.gens, 99)) - 1)
    top = count_needed(s.rate, mean, p99)
    return (f", and up to about {top:,} if the latencies under load reach the SLO's limits"
            if top > least else "")


def _deployment_cost(d: Mapping[str, Any], devices: int) -> tuple[float, int]:
    """Order of deployments: $ per million tokens where priced, then devices."""
    usd = d.get("cost_per_million_tokens_usd")
    return (usd if usd is not None else math.inf, devices)


def share_error(in_flight: float, arrivals: float) -> float:
    """Standard error of a window's served share (served / arrived). The share is 1 minus the
    change, between the window's two ends, of the work in flight over the arrivals in it; in
    flight at either end are about Poisson(λ × mean end-to-end latency) requests (Little's law
    with independent requests, an M/G/∞ approximation; work counts at most one per request), so
    the change has a spread of √(2 × in flight)."""
    return math.sqrt(2 * in_flight) / arrivals


def count_needed(rate: float, mean_e2e: float, p99_e2e: float) -> int:
    """Requests a stream at ``rate`` needs so that a deployment with these latencies has a
    steady-state window that resolves the served share: the window starts ``p99_e2e`` after the
    first arrival, holds at least MIN_WINDOW_SHARE of the arrivals, and lasts W with
    RESOLUTION_SIGMAS × √(2 λ mean_e2e) / (λ W) ≤ KEEP_UP_TOLERANCE."""
    window = RESOLUTION_SIGMAS * math.sqrt(2 * mean_e2e / rate) / KEEP_UP_TOLERANCE
    span = max(p99_e2e + window, p99_e2e / (1 - MIN_WINDOW_SHARE))
    return math.ceil(rate * span) + 1


def keeping_up(d: Mapping[str, Any]) -> dict[str, Any]:
    """Whether a serving result shows its deployment keeping up (module docstring): {keeps_up,
    share (served / arrived in the steady-state window), error (share_error), why (empty when
    it keeps up), count_needed (where the window is too short to resolve the share: the
    count_needed at this run's latencies, else None)}."""
    st = d.get("steady_state")
    out: dict[str, Any] = {"keeps_up": False, "share": None, "error": None, "why": "",
                           "count_needed": None}
    if not d.get("feasible") or not st:
        out["why"] = "infeasible"
        return out
    rate = d.get("offered_requests_per_s") or 0.0
    if st["whole_run"]:
        out["why"] = (
            "no steady-state window (its p99 end-to-end latency, "
            f"{_fmt_s(d.get('e2e_p99_s'))}, leaves under {_fmt_pct(MIN_WINDOW_SHARE)} of the "
            "stream's arrivals after it), so it cannot show that it keeps up; over the whole "
            f"run it served {_fmt_rate(d.get('completed_per_s_whole_run'))} against "
            f"{_fmt_rate(rate)} offered" + _more(d, rate))
        return out
    span = st["end_s"] - st["start_s"]
    arrived = st["arrivals_in_window"] / span
    share = st["requests_per_s"] / arrived
    error = share_error(arrived * (d.get("e2e_latency_s") or 0.0), st["arrivals_in_window"])
    out.update(share=share, error=error)
    sigmas = RESOLUTION_SIGMAS * error
    served = (f"it serves {_fmt_rate(st['requests_per_s'])} of the {_fmt_rate(arrived)} "
              f"arriving in its steady-state window ({_fmt_pct(share)} ± "
              f"{_fmt_pct(sigmas)}; {_fmt_pct(1 - KEEP_UP_TOLERANCE)} needed)")
    if share + sigmas < 1 - KEEP_UP_TOLERANCE or (sigmas <= KEEP_UP_TOLERANCE and
                                                  share < 1 - KEEP_UP_TOLERANCE):
        out["why"] = f"does not keep up: {served}, so its queue grows while the load lasts"
    elif sigmas > KEEP_UP_TOLERANCE:
        out["count_needed"] = _needed(d, rate)
        out["why"] = (f"the stream is too short to show that it keeps up: {served}, a window "
                      f"of {_fmt_s(span)} that cannot resolve a "
                      f"{_fmt_pct(KEEP_UP_TOLERANCE)} shortfall" + _more(d, rate))
    else:
        out["keeps_up"] = True
    return out


def _needed(d: Mapping[str, Any], rate: float) -> int | None:
    """The count a stream needs for this probe's latencies (count_needed), and more than the
    probe's own requests, which were too few (count_needed assumes the nominal rate; a
    Poisson stream that arrived faster spans less time)."""
    mean, p99 = d.get("e2e_latency_s"), d.get("e2e_p99_s")
    if not (rate and mean and p99):
        return None
    return max(count_needed(rate, mean, p99), int(d.get("requests") or 0) + 1)


def _more(d: Mapping[str, Any], rate: float) -> str:
    """Advice: the count a stream needs for this probe's latencies (_needed)."""
    n = _needed(d, rate)
    return "" if n is None else f" (at these latencies set workload.arrival.count to at least " \
        f"{n:,})"


def served_alone(sc: ScenarioSpec) -> tuple[dict[str, Any], float]:
    """``sc``'s request stream served one request at a time: each arrives once the one before
    has finished. Returns the serving metrics and the gap between arrivals.

    The gap is first the longest a request may take and meet the SLO (TTFT + TPOT × (longest
    output − 1)); if a request outlasts it, the run is repeated with twice the longest
    end-to-end latency seen (overlap only lengthens a request)."""
    from archsim.metrics.serving import request_reasons, serving_metrics, simulate_layout
    from archsim.plan.serving import resolve_serving_layout
    from archsim.sim.serving.requests import generate_requests

    wl = sc.workload
    layout, reasons = resolve_serving_layout(sc)
    requests = generate_requests(wl)
    reasons = list(reasons)
    if layout is not None:
        reasons += request_reasons(requests, layout.groups, wl, sc.model.max_seq_len)
    if layout is None or reasons:
        return {"feasible": False, "infeasible_reasons": reasons}, 0.0
    longest_gen = max(r.gen_len for r in requests)
    gap = (wl.slo.ttft_s or 0.0) + (wl.slo.tpot_s or 0.0) * (longest_gen - 1)
    for _ in range(3):  # the second run never overlaps; the third is a safety margin
        for i, r in enumerate(requests):
            r.arrival_s = i * gap
        run = simulate_layout(layout.groups, requests, wl)
        took = [r.finish_s - r.arrival_s for r in requests if r.finish_s >= 0]
        if not took or max(took) <= gap:
            break
        gap = 2 * max(took)
        requests = generate_requests(wl)
    return serving_metrics(run, wl, layout.groups), gap


def _resolvable(arrivals: np.ndarray, mean_e2e: float, p99_e2e: float) -> bool:
    """Whether a run of this stream with these latencies has a steady-state window
    (serving_window.steady_state: at least MIN_WINDOW_SHARE of the arrivals from one p99
    latency after the first arrival to the last) that resolves the served share
    (RESOLUTION_SIGMAS × share_error ≤ KEEP_UP_TOLERANCE)."""
    t0, t1 = float(arrivals.min()) + p99_e2e, float(arrivals.max())
    n = int(((arrivals >= t0) & (arrivals <= t1)).sum())
    if not t1 > t0 or n < MIN_WINDOW_SHARE * arrivals.size:
        return False
    return RESOLUTION_SIGMAS * share_error(n / (t1 - t0) * mean_e2e, n) <= KEEP_UP_TOLERANCE


@dataclass(frozen=True)
class _Short:
    """A tp skipped because the stream is too short for any of its deployments to show that it
    keeps up, even at the latencies of one request served at a time."""

    tp: int
    p99_e2e_s: float
    count_needed: int


def _replicas_for(row: CapacityRow, s: _Search, device: str, tp: int
                  ) -> tuple[tuple[int, dict[str, Any]] | None, str | _Short]:
    """Fewest replicas of tp ``tp`` that pass at ``s.rate`` (doubling, then bisection), with
    the probes recorded on ``row``; None and why when none do."""
    from archsim.api import simulate

    results: dict[int, dict[str, Any]] = {}

    def record(r: int, d: dict[str, Any], at_rate: float | None, alone: bool) -> bool:
        slo_met = bool(d.get("feasible") and d.get("meets_slo"))
        k = {"keeps_up": None, "share": None, "error": None, "why": "",
             "count_needed": None} if alone else keeping_up(d)
        up = k["keeps_up"]
        ok = slo_met and (alone or bool(up))
        st = d.get("steady_state") or {}
        row.probes += 1
        row.tried.append({"tp": tp, "replicas": r, "devices": r * tp * s.pp,
                          "rate_per_s": at_rate, "alone": alone,
                          "slo_attainment": d.get("slo_attainment"),
                          "ttft_p99_s": d.get("ttft_p99_s"), "tpot_p99_s": d.get("tpot_p99_s"),
                          "e2e_p99_s": d.get("e2e_p99_s"),
                          # one request at a time is a latency floor, not a deployment
                          "cost_per_million_tokens_usd": None if alone else
                          d.get("cost_per_million_tokens_usd"),
                          "basis": None if alone or not st else
                          "whole run" if st["whole_run"] else "steady state",
                          "served_share": k["share"], "share_error": k["error"],
                          "keeps_up": up, "met": ok,
                          "why": k["why"] if slo_met and not up and not alone else "",
                          "count_needed": k["count_needed"] if slo_met and not alone
                          else None})
        return ok

    floor, gap = served_alone(_scenario(s.base, device, tp, s.pp, 1, s.rate, s.slo))
    if not record(1, floor, 1 / gap if gap else None, alone=True):
        return None, (f"tp {tp}: one replica misses the SLO even serving one request at a "
                      f"time (attainment {_fmt_pct(floor.get('slo_attainment'))}, p99 TTFT "
                      f"{_fmt_s(floor.get('ttft_p99_s'))}, p99 TPOT "
                      f"{_fmt_s(floor.get('tpot_p99_s'))})"
                      + (f"; {'; '.join(floor['infeasible_reasons'])}"
                         if floor["infeasible_reasons"] else ""))
    mean, p99 = floor["e2e_latency_s"], floor["e2e_p99_s"]
    if not _resolvable(s.arrivals, mean, p99):
        return None, _Short(tp, p99, max(count_needed(s.rate, mean, p99),
                                         s.arrivals.size + 1))

    def probe(r: int) -> bool:
        if r not in results:
            results[r] = simulate(_scenario(s.base, device, tp, s.pp, r, s.rate,
                                            s.slo)).to_dict()
            record(r, results[r], s.rate, alone=False)
        return _passes(results[r])

    lo, hi = 0, 1  # lo fails (0 replicas serve nothing), hi is the next candidate
    while True:
        try:
            if probe(hi):
                break
        except SpecError as exc:  # e.g. more devices than one node of a profile without a
            # scale-out interconnect: no deployment of this size can be described
            problems = "; ".join(p.removeprefix("<scenario>: ") for p in exc.problems)
            return None, (f"{hi} replicas of tp {tp} ({hi * tp * s.pp} devices) cannot be "
                          f"simulated: {problems}"
                          + (f"; {lo} replicas: {_verdict(results[lo], s)}" if lo else ""))
        lo = hi
        if hi >= s.max_replicas:
            return None, f"{s.max_replicas} replicas of tp {tp}: {_verdict(results[hi], s)}"
        hi = min(2 * hi, s.max_replicas)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if probe(mid):
            hi = mid
        else:
            lo = mid
    return (hi, results[hi]), ""


def _passes(d: Mapping[str, Any]) -> bool:
    return bool(d.get("feasible") and d.get("meets_slo") and keeping_up(d)["keeps_up"])


def _verdict(d: Mapping[str, Any], s: _Search) -> str:
    """Why a probe at ``s.rate`` does not pass."""
    if d.get("feasible") and d.get("meets_slo"):
        return (f"SLO attainment {_fmt_pct(d.get('slo_attainment'))} is met at {s.rate:g} "
                f"req/s, but {keeping_up(d)['why']}")
    return (f"SLO attainment {_fmt_pct(d.get('slo_attainment'))} (< "
            f"{_fmt_pct(s.slo['attainment'])}) at {s.rate:g} req/s"
            + (f"; {'; '.join(d['infeasible_reasons'])}" if d.get("infeasible_reasons")
               else ""))


def _fmt_s(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3g} s"


def _fmt_rate(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g} req/s"


def _fitting_tp(s: _Search, device: str) -> tuple[int | None, str]:
    """The smallest tp (or the pinned one) whose single replica holds the model and the largest
    request (checked without simulating)."""
    from archsim.metrics.serving import request_reasons
    from archsim.plan.serving import resolve_serving_layout
    from archsim.sim.serving.requests import generate_requests

    last = ""
    for tp in (s.tp,) if s.tp is not None else TP_CANDIDATES:
        sc = _scenario(s.base, device, tp, s.pp, 1, s.rate, s.slo)
        layout, reasons = resolve_serving_layout(sc)
        if layout is not None:
            reasons = request_reasons(generate_requests(sc.workload), layout.groups,
                                      sc.workload, sc.model.max_seq_len)
        if not reasons:
            return tp, ""
        last = f"tp {tp}: {'; '.join(reasons)}"
    if s.tp is not None:
        return None, f"{last} (tp pinned)"
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
    sustains (meets the SLO and keeps up: module docstring), by doubling or halving from
    ``start_rate`` (default: the scenario's rate per replica) and then bisecting until the
    bracket is within ``RATE_TOLERANCE``. Returns {rate_per_s (highest met),
    failed_rate_per_s (lowest missed), device, tp, probes: [{rate_per_s, slo_attainment,
    ttft_p99_s, tpot_p99_s, met}]}; rate_per_s is None when even the lowest rate tried fails."""
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
