"""``plan_capacity``: the fewest replicas of each device type that meet an SLO and keep up at
a request rate, searched over tp (archsim.capacity's docstring gives the method)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from archsim.capacity.row import CapacityRow, _deployment_cost, _Search
from archsim.capacity.scenario import (
    _base_mapping,
    _node_size,
    _notes,
    _reproduce,
    _scenario,
    require_open_arrivals,
)
from archsim.capacity.unjudged import _Short, _short_reason, _unjudged
from archsim.capacity.window import (
    KEEP_UP_TOLERANCE,
    _fmt_pct,
    _fmt_s,
    _passes,
    _resolvable,
    count_needed,
    keeping_up,
    served_alone,
)
from archsim.spec.errors import SpecError
from archsim.spec.loader import load_scenario, load_spec_file
from archsim.spec.scenario import ScenarioSpec

TP_CANDIDATES = (1, 2, 4, 8, 16)
SIZE_FOR = ("prediction", "slow-end")


def plan_capacity(scenario: ScenarioSpec | str | Mapping[str, Any], rate: float,
                  ttft_s: float | None = None, tpot_s: float | None = None,
                  devices: Sequence[str] | None = None, attainment: float | None = None,
                  max_replicas: int = 256,
                  overrides: Mapping[str, Any] | list[str] | None = None,
                  tp: int | None = None, size_for: str = "prediction") -> dict[str, Any]:
    """Fewest replicas per device type meeting the SLO and keeping up at ``rate`` requests/s.

    SLO values default to the scenario's ``workload.slo``; ``devices`` default to the
    scenario's device types; ``tp`` pins the tensor parallelism (default: searched).
    ``size_for="slow-end"`` answers with the fewest replicas that pass on a device at the error
    bar's slow end (``_size_at_slow_end``) instead of as predicted.
    Returns {rate_per_s, slo, rows: [CapacityRow as dict], best, notes, ...}.

    Raises SpecError for a non-serving scenario, rate ≤ 0, tp < 1, no SLO, unknown devices or
    an unknown ``size_for``.
    """
    if size_for not in SIZE_FOR:
        raise SpecError([f"--size-for {size_for!r}: expected one of {', '.join(SIZE_FOR)}"])
    sc = scenario if isinstance(scenario, ScenarioSpec) and not overrides else \
        load_scenario(scenario if not isinstance(scenario, ScenarioSpec)
                      else scenario.model_dump(mode="json"), overrides)
    if sc.workload.kind != "serving":
        raise SpecError([f"capacity planning needs a serving scenario (workload.kind: serving);"
                         f" {sc.name!r} is {sc.workload.kind}"])
    require_open_arrivals(sc, "capacity planning",
                          scenario if isinstance(scenario, str) else None)
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
                     gens=np.array(gens), tp=tp, size_for=size_for)
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
    from archsim.metrics.common import price_sources_note

    if prices := price_sources_note([load_spec_file("devices", n) for n in names]):
        notes.append(prices)
    return {"rate_per_s": rate, "slo": slo, "scenario": sc.name, "model": sc.model.name,
            "source": scenario if isinstance(scenario, str) else None,
            "requests_per_probe": len(stream),
            "tp_pinned": tp, "scenario_tp": sc.plan.tp, "size_for": size_for,
            "keep_up_tolerance": KEEP_UP_TOLERANCE, "notes": notes,
            "rows": [asdict(r) for r in rows], "best": best,
            "best_by": "cost per million tokens" if feasible and any(
                r.cost_per_million_tokens_usd is not None for r in feasible) else "devices",
            "unpriced": unpriced}


def _size_device(s: _Search, device: str) -> CapacityRow:
    """The cheapest deployment of ``device`` that passes (archsim.capacity's docstring): for
    each tp from the smallest that holds the model (up to a node, or beyond while memory needs
    it; only ``s.tp`` when pinned), the fewest replicas; a larger tp is tried while it could
    still need fewer devices than the best found."""
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
    _accept(row, s, device, tp, replicas, d)
    row.notes = _unjudged(s, row, [x for x in shorts if x.tp * s.pp < devices],
                          _deployment_cost(d, devices))
    row.possibly_oversized = bool(row.notes)
    _judge_band(row, s, device, d)
    if s.size_for == "slow-end":
        _size_at_slow_end(row, s, device)
    return row


def _accept(row: CapacityRow, s: _Search, device: str, tp: int, replicas: int,
            d: dict[str, Any]) -> None:
    """``row`` answered by ``replicas`` replicas of tp ``tp`` and their serving result ``d``."""
    devices = replicas * tp * s.pp
    st = d["steady_state"]
    row.feasible, row.reason = True, ""
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


def _size_at_slow_end(row: CapacityRow, s: _Search, device: str) -> None:
    """``--size-for slow-end``: where the deployment accepted as predicted fails at its error
    bar's slow end, the row becomes the fewest replicas of its tp that pass there (found by
    ``_judge_slow_end``), simulated at the predicted speed for its figures and judged at its
    own slow end again; no count passing there makes the row infeasible. The tp is the one the
    predicted search chose (another tp is not searched at the slow end)."""
    at = row.at_slow_end
    if at is None:
        row.notes.append("no error bar to size at: sized as predicted")
        return
    if at["passes"] is None:
        row.notes.append("sized as predicted: the stream is too short to judge the deployment "
                         f"at its error bar's slow end ({at['slowdown']:.2f}× slower)")
        return
    if at["passes"]:
        return
    predicted, k, tp = row.replicas, at["slowdown"], row.tp
    assert predicted is not None and tp is not None
    if at["replicas"] is None:
        row.feasible = False
        row.reason = (f"{predicted} replicas of tp {tp} pass as predicted, but no count of tp "
                      f"{tp} up to {s.max_replicas} replicas is shown to pass on a device "
                      f"{k:.2f}× slower (its error bar's slow end)")
        return
    from archsim.api import simulate

    n = at["replicas"]
    d = simulate(_scenario(s.base, device, tp, s.pp, n, s.rate, s.slo), slow_end=False).to_dict()
    row.probes += 1
    _accept(row, s, device, tp, n, d)
    row.notes = [x for x in row.notes if not x.startswith("not robust to its error bar")]
    row.notes.append(f"sized at its error bar's slow end: {n} replicas of tp {tp} "
                     f"({n * tp * s.pp} devices) pass on a device {k:.2f}× slower than "
                     f"predicted; {predicted} pass as predicted")
    _judge_band(row, s, device, d)


def _judge_band(row: CapacityRow, s: _Search, device: str, d: dict[str, Any]) -> None:
    """The accepted deployment's error bar as ``archsim simulate`` gives it (the search's
    probes skip it): its slow end simulated, then, outside the calibrated range, its
    far-fitted parameters at their priors (archsim/metrics/prior_band.py)."""
    from archsim.metrics.prior_band import apply_prior_check

    _judge_slow_end(row, s, device, d)
    assert row.tp is not None and row.replicas is not None
    apply_prior_check(d.get("uncertainty") or {}, d,
                      _scenario(s.base, device, row.tp, s.pp, row.replicas, s.rate, s.slo))


def _judge_slow_end(row: CapacityRow, s: _Search, device: str, d: dict[str, Any]) -> None:
    """The accepted deployment at its error bar's slow end (archsim/metrics/serving_band.py):
    its band's intervals simulated there, whether it still passes, and where it does not, the
    fewest replicas of its tp that do (a search at the rescaled rate and SLO), in
    ``row.at_slow_end`` and a note. An A100 deployment accepted at TPOT p99 38.0 ms against
    a 40 ms SLO had failed on a device 5% slower, its band allowing 20%."""
    from dataclasses import replace

    from archsim.metrics.serving_band import apply_slow_end, slow_end, slowdown

    assert row.tp is not None and row.replicas is not None
    block = d.get("uncertainty") or {}
    k = slowdown(block)
    if k is None:
        return
    sc = _scenario(s.base, device, row.tp, s.pp, row.replicas, s.rate, s.slo)
    slow = slow_end(sc, k)
    if slow is None:
        return
    apply_slow_end(block, d, slow)
    # a window too short to resolve a shortfall is no verdict: the SLO met and the stream too
    # short to show it keeps up there leaves the question open (passes None), not failed
    unjudged = bool(slow["meets_slo"]) and not slow["keeps_up"] and \
        slow["count_needed"] is not None
    passes = None if unjudged else bool(slow["meets_slo"] and slow["keeps_up"])
    out = {"slowdown": k, "passes": passes, "slo_attainment": slow["slo_attainment"],
           "keeps_up": slow["keeps_up"], "why": slow["why"],
           "count_needed": slow["count_needed"] if unjudged else None,
           "replicas": row.replicas, "devices": row.devices,
           "cost_per_hour_usd": row.cost_per_hour_usd,
           "cost_per_million_tokens_usd": row.cost_per_million_tokens_usd}
    if passes is False:
        scaled = {key: (v / k if key in ("ttft_s", "tpot_s") and v is not None else v)
                  for key, v in s.slo.items()}
        at_k = replace(s, rate=s.rate * k, slo=scaled, arrivals=s.arrivals / k)
        scratch = CapacityRow(device=device, feasible=False, pp=s.pp)
        found, reason = _replicas_for(scratch, at_k, device, row.tp)
        row.probes += scratch.probes
        if found is None:
            out.update(replicas=None, devices=None, cost_per_hour_usd=None,
                       cost_per_million_tokens_usd=None)
        else:
            replicas, dk = found
            cost = dk.get("cost_per_million_tokens_usd")
            out.update(replicas=replicas, devices=replicas * row.tp * s.pp,
                       cost_per_hour_usd=dk.get("cost_per_hour_usd"),
                       cost_per_million_tokens_usd=cost * k if cost is not None else None)
        why = (f"SLO attainment {_fmt_pct(slow['slo_attainment'])} (< "
               f"{_fmt_pct(s.slo['attainment'])})" if not slow["meets_slo"] else slow["why"])
        there = (f"{out['replicas']} replicas of tp {row.tp} ({out['devices']} devices) pass "
                 "there" if out["replicas"] is not None else
                 f"the stream is too short to judge a deployment of tp {row.tp} there"
                 if isinstance(reason, _Short) or any(t["count_needed"] for t in scratch.tried)
                 else f"no count of tp {row.tp} up to {s.max_replicas} replicas passes there")
        row.notes.append(f"not robust to its error bar: on a device {k:.2f}× slower than "
                         "predicted (its TPOT band's slow end) "
                         f"{row.replicas} replica{'s' if row.replicas != 1 else ''} of tp "
                         f"{row.tp}: {why}; {there}")
    row.at_slow_end = out


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
                          "whole run" if st["whole_run"] else
                          "overloaded" if st.get("saturated") else "steady state",
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
            results[r] = simulate(_scenario(s.base, device, tp, s.pp, r, s.rate, s.slo),
                                  slow_end=False).to_dict()
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


def _verdict(d: Mapping[str, Any], s: _Search) -> str:
    """Why a probe at ``s.rate`` does not pass."""
    if d.get("feasible") and d.get("meets_slo"):
        return (f"SLO attainment {_fmt_pct(d.get('slo_attainment'))} is met at {s.rate:g} "
                f"req/s, but {keeping_up(d)['why']}")
    return (f"SLO attainment {_fmt_pct(d.get('slo_attainment'))} (< "
            f"{_fmt_pct(s.slo['attainment'])}) at {s.rate:g} req/s"
            + (f"; {'; '.join(d['infeasible_reasons'])}" if d.get("infeasible_reasons")
               else ""))


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
