"""The serving report's capacity answer: the fewest replicas of each device type that meet the
SLO (archsim.capacity), SLO attainment against the replica count, cost per million tokens
against the p99 latencies of every deployment simulated (a Pareto plot across devices and
replica counts), and the highest request rate one replica sustains.

Every $ per M tokens here is the serving result's own (archsim/metrics/serving.py): devices ×
price per device-hour / (3600 × output tokens/s in the steady state) × 10⁶.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archsim.report import fmt, plots_compare, plots_serving
from archsim.report.document import Plot, Section
from archsim.report.inputs import ReportInput
from archsim.report.options import ReportOptions
from archsim.report.scaling import scaled_hardware
from archsim.report.serving_bands import band_rows, band_sentence
from archsim.spec.errors import SpecError

REPLICA_FACTORS = (0.25, 0.5, 1, 2, 4)
PRICE_DEFINITION = ("$ per M output tokens = devices × price per device-hour / (3600 × "
                    "output tokens/s served in the steady state) × 10⁶")


@dataclass(frozen=True)
class Deployment:
    """One simulated deployment: device type × replicas, its p99s, attainment and cost."""

    device: str
    replicas: int
    devices: int
    ttft_p99_s: float | None
    tpot_p99_s: float | None
    slo_attainment: float | None
    cost_per_million_tokens_usd: float | None
    met: bool


def slo_text(slo: dict[str, Any]) -> str:
    parts = [f"{k.split('_')[0].upper()} ≤ {fmt.short_time(slo[k])}" for k in ("ttft_s", "tpot_s")
             if slo.get(k) is not None]
    share = slo.get("attainment")
    return (" and ".join(parts) or "no latency objective") + (
        f" for {fmt.pct(share)} of requests" if share is not None else "")


def capacity_answer(inp: ReportInput, rate: float | None, opts: ReportOptions
                    ) -> dict[str, Any] | None:
    """archsim.capacity's answer at ``rate`` for the scenario's device types (and --devices)."""
    if inp.scenario is None or rate is None or not opts.scaling:
        return None
    slo = inp.scenario.workload.slo  # type: ignore[union-attr]
    if slo.ttft_s is None and slo.tpot_s is None:
        return None
    from archsim.capacity import plan_capacity

    devices = list(dict.fromkeys([p.device.name for p in inp.scenario.cluster.pools]
                                 + list(opts.devices or ())))
    try:
        return plan_capacity(inp.scenario, rate, devices=devices)
    except SpecError as exc:  # the search itself could not run; the report still builds
        return {"error": "; ".join(exc.problems), "rate_per_s": rate, "rows": []}


def capacity_sentence(cap: dict[str, Any]) -> str:
    if cap.get("error"):
        return f"The capacity search could not run: {cap['error']}."
    rows = [row for row in cap["rows"] if row["feasible"]]
    if not rows:
        return (f"No replica count of the device types tried meets the SLO at "
                f"{cap['rate_per_s']:g} requests/s.")
    best = next(row for row in rows if row["device"] == cap["best"])
    unpriced = cap.get("unpriced") or []
    sized = len(cap["rows"])
    by_cost = cap.get("best_by") == "cost per million tokens"
    if by_cost and unpriced:
        among = (f" (among the {sized - len(unpriced)} priced of {sized} device types sized; "
                 f"no price for {', '.join(unpriced)})")
    else:
        among = f" (of {sized} device types sized)" if sized > 1 else ""
    plural = "replica" if best["replicas"] == 1 else "replicas"
    bar = band_sentence(cap)
    return (f"The {'cheapest' if by_cost else 'smallest'} deployment that meets it at "
            f"{cap['rate_per_s']:g} requests/s{among}: {best['devices']} × {best['device']} "
            f"({best['replicas']} {plural} of tp {best['tp']}), "
            f"{fmt.money(best.get('cost_per_hour_usd'))} per hour, "
            f"{fmt.money(best.get('cost_per_million_tokens_usd'))} per million output tokens"
            + (" — possibly oversized: the request stream was too short to judge a cheaper "
               "one (see the capacity plan's notes)." if best.get("possibly_oversized") else ".")
            + (" " + bar if bar else ""))


def replica_scaling(inp: ReportInput, r: dict[str, Any], cap: dict[str, Any] | None
                    ) -> tuple[Section, list[Deployment]]:
    """SLO attainment and p99s of the scenario's device at other replica counts."""
    from archsim.api import simulate
    from archsim.spec.loader import load_scenario

    sc = inp.scenario
    assert sc is not None
    base = int(r.get("replicas") or 1)
    per = max(1, int(r.get("devices") or base) // base)
    hw = sc.hardware
    device = hw.device.name if hw.device else str(r["hardware"]["pools"][0]["device"])
    node = hw.devices_per_node or (hw.device.devices_per_node if hw.device else 8)
    wanted = {max(1, round(base * f)) for f in REPLICA_FACTORS}
    own = next((row for row in (cap or {}).get("rows", []) if row.get("feasible")
                and row["device"] == device and row.get("tp") == sc.plan.tp), None)
    if own:  # bracket the boundary the capacity search found
        b = own["replicas"]
        wanted |= {max(1, b - 1), b, b + 1, 2 * b}
    counts = sorted({n for n in wanted if n * per <= node or (n * per) % node == 0} | {base})
    raw = sc.model_dump(mode="json")
    runs: list[Deployment] = []
    rows = []
    for n in counts:
        over = scaled_hardware(sc, n * per)
        over["workload.replicas"] = n
        try:
            res = simulate(load_scenario(raw, over)).to_dict()
        except SpecError:
            continue
        runs.append(Deployment(device, n, n * per, res.get("ttft_p99_s"), res.get("tpot_p99_s"),
                               res.get("slo_attainment"), res.get("cost_per_million_tokens_usd"),
                               bool(res.get("feasible") and res.get("meets_slo"))))
        rows.append((str(n), str(n * per), fmt.pct(res.get("slo_attainment")),
                     fmt.human_time(res.get("ttft_p99_s")), fmt.human_time(res.get("tpot_p99_s")),
                     fmt.money(res.get("cost_per_million_tokens_usd"))))
    slo = r.get("slo") or {}
    sec = Section("scaling", "SLO attainment against the number of replicas")
    sec.text("The same request stream at the same rate served by more or fewer replicas of "
             f"{device}.")
    sec.add(Plot("scaling", "SLO attainment and p99 latencies against the device count",
                 plots_compare.slo_scaling_plot([d.devices for d in runs],
                                                [d.slo_attainment for d in runs],
                                                [d.ttft_p99_s for d in runs],
                                                [d.tpot_p99_s for d in runs], slo, per * base)))
    sec.table(["replicas", "devices", "SLO attainment", "p99 TTFT", "p99 TPOT",
               "$ per M output tokens"], rows, caption=PRICE_DEFINITION + ".")
    return sec, runs


def capacity_section(r: dict[str, Any], cap: dict[str, Any] | None) -> Section:
    sec = Section("capacity", "Capacity plan")
    ept = r.get("energy_per_token_j")
    steady = r.get("steady_state") or {}
    window = (f" ({fmt.human_time(steady['start_s'])} to {fmt.human_time(steady['end_s'])} "
              "of the run" + ("" if steady.get("saturated") else
                              f", {steady.get('arrivals_in_window', '?')} arrivals") + ")"
              if steady and not steady.get("whole_run") else
              " (the whole run: every request arrived at once)" if steady.get("burst") else
              " (the whole run: the stream is too short for a steady state)" if steady else "")
    sec.table(["as simulated", "value"], [
        ("devices", str(r.get("devices", "-"))),
        ("requests per second served, steady state",
         fmt.rate(r.get("requests_per_s"), "req/s")),
        ("output tokens per second, steady state", fmt.rate(r.get("tokens_per_s"), "tokens/s")),
        ("cost per hour", fmt.money(r.get("cost_per_hour_usd"))),
        ("cost per million output tokens", fmt.money(r.get("cost_per_million_tokens_usd"))),
        ("energy per million output tokens", fmt.kwh(ept * 1e6 / 3.6e6) if ept else "-")],
        caption=("Overloaded: rates measured while requests waited, from once the batch had "
                 "filled (one p99 service time after the first arrival) until the last one was "
                 f"scheduled{window}. {PRICE_DEFINITION}." if steady.get("saturated") else
                 "Steady state: from one p99 end-to-end latency after the first arrival to the "
                 f"last arrival{window}. {PRICE_DEFINITION}."))
    if cap is None:
        sec.text("No capacity search: it needs the scenario (not a result JSON), a request "
                 "rate and an SLO.")
        return sec
    if cap.get("error"):
        sec.text(capacity_sentence(cap))
        return sec
    rows = []
    for row in cap["rows"]:
        if row["feasible"]:
            rows.append((row["device"], str(row["devices"]),
                         f"{row['replicas']} × tp {row['tp']}" + (
                             f" pp {row['pp']}" if row.get("pp", 1) > 1 else ""),
                         fmt.pct(row["slo_attainment"]), fmt.human_time(row["ttft_p99_s"]),
                         fmt.human_time(row["tpot_p99_s"]),
                         fmt.money(row.get("cost_per_hour_usd")),
                         fmt.money(row.get("cost_per_million_tokens_usd"))))
        else:
            rows.append((row["device"], "-", "-", "-", "-", "-", "-",
                         "does not meet it: " + row.get("reason", "")))
    sec.table(["device", "devices", "replicas", "SLO attainment", "p99 TTFT", "p99 TPOT",
               "$ per hour", "$ per M output tokens"], rows,
              caption=f"Fewest replicas of each device type meeting {slo_text(cap['slo'])} "
                      f"at {cap['rate_per_s']:g} requests/s (archsim capacity: doubling, then "
                      f"bisection; {cap.get('requests_per_probe', '?')} requests per probe)."
                      + (f" No price in the profile of {', '.join(cap['unpriced'])}: sized, "
                         "not priced." if cap.get("unpriced") else ""))
    bands = band_rows(cap)
    if any(row[2:5] != ("-", "-", "-") for row in bands):
        sec.table(["device", "devices", "p99 TTFT, likely", "p99 TPOT, likely",
                   "$ per M output tokens, likely", "p99s within the SLO across the band"], bands,
                  caption="The error bar of each deployment above: its calibrated intervals "
                          "(archsim/accuracy.py; as archsim capacity prints them). A p99 band "
                          "past an objective means more than 1% of requests may miss it at the "
                          "band's slow end: the SLO may still hold for its share of requests, "
                          "but the model no longer shows it.")
    sec.text(capacity_sentence(cap))
    if cap.get("notes"):
        sec.bullets(cap["notes"])
    return sec


def deployments(cap: dict[str, Any] | None, runs: list[Deployment]) -> list[Deployment]:
    """Every deployment simulated: the capacity probes of each device type and the replica
    scaling runs (one entry per device type and replica count)."""
    seen: dict[tuple, Deployment] = {}
    rate = (cap or {}).get("rate_per_s")
    for row in (cap or {}).get("rows", []):
        for t in row.get("tried", []):
            if t.get("rate_per_s", rate) != rate:
                continue  # a light-load probe of a tp's latency floor, not a deployment
            seen[(row["device"], t["devices"], t.get("tp"))] = Deployment(
                row["device"], t["replicas"], t["devices"], t.get("ttft_p99_s"),
                t.get("tpot_p99_s"), t.get("slo_attainment"),
                t.get("cost_per_million_tokens_usd"), bool(t.get("met")))
    for d in runs:
        if not any(key[:2] == (d.device, d.devices) for key in seen):
            seen[(d.device, d.devices, None)] = d
    return sorted(seen.values(), key=lambda d: (d.device, d.devices))


def cost_latency_section(cap: dict[str, Any] | None, runs: list[Deployment],
                         slo: dict[str, Any]) -> Section | None:
    """Cost per million tokens against p99 TTFT and TPOT of every deployment simulated."""
    points = [d for d in deployments(cap, runs) if d.ttft_p99_s is not None]
    if len(points) < 2:
        return None
    sec = Section("cost-latency", "Cost against latency across devices and replica counts")
    sec.text("Every deployment simulated for this report — each device type at each replica "
             "count the capacity search and the scaling tried — placed by its p99 latencies and "
             "its cost per million output tokens. Ringed: the deployments no other beats on "
             "both cost and that latency; filled: the ones that meet the SLO. "
             + ("Device types without a price are drawn in the strip at the top." if any(
                 d.cost_per_million_tokens_usd is None for d in points) else ""))
    sec.add(Plot("cost_latency", "Cost per million output tokens against p99 TTFT and TPOT, "
                                 "by device type and replica count",
                 plots_serving.cost_latency_plot(points, slo)))
    return sec


def max_rate_section(inp: ReportInput, r: dict[str, Any], cap: dict[str, Any] | None
                     ) -> Section | None:
    """The highest request rate one replica of the scenario's device sustains within the SLO
    (the search starts from the capacity answer's rate per replica when there is one)."""
    from archsim.capacity import RATE_TOLERANCE, max_rate_per_replica

    sc = inp.scenario
    if sc is None or sc.hardware.cluster is not None or not r.get("feasible"):
        return None
    wl = sc.workload
    if wl.slo.ttft_s is None and wl.slo.tpot_s is None:  # type: ignore[union-attr]
        return None
    device = sc.cluster.pools[0].device.name
    own = next((row for row in (cap or {}).get("rows", []) if row.get("feasible")
                and row["device"] == device and row.get("tp") == sc.plan.tp), None)
    start = cap["rate_per_s"] / own["replicas"] if own and cap else None
    try:
        out = max_rate_per_replica(sc, start_rate=start)
    except SpecError:
        return None
    sec = Section("max-rate", "Highest request rate one replica sustains")
    slo = slo_text(out["slo"])
    if out["rate_per_s"] is None:
        sec.text(f"One replica of {out['device']} (tp {out['tp']}) misses {slo} even at "
                 f"{out['failed_rate_per_s']:.3g} requests/s, the lowest rate tried.")
    else:
        sec.text(f"One replica of {out['device']} (tp {out['tp']}) meets {slo} up to "
                 f"{out['rate_per_s']:.3g} requests/s and misses it at "
                 f"{out['failed_rate_per_s']:.3g} (bisected to within "
                 f"{RATE_TOLERANCE:.0%}; the same request stream at each rate). A first estimate "
                 f"of the replicas a rate R needs is R / {out['rate_per_s']:.3g}; the capacity "
                 "plan above simulates it.")
    sec.table(["request rate", "SLO attainment", "p99 TTFT", "p99 TPOT", "meets the SLO"],
              [(f"{p['rate_per_s']:.3g} req/s", fmt.pct(p["slo_attainment"]),
                fmt.human_time(p["ttft_p99_s"]), fmt.human_time(p["tpot_p99_s"]),
                "yes" if p["met"] else "no") for p in out["probes"]])
    return sec
