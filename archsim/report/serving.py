"""The serving report: how many devices meet the SLO at a request rate, and at what cost.

Sections (each where the input allows): question and answer; inputs and assumptions; latency
percentiles against the SLO; memory per device (KV cache included); queue length and KV-cache
use over time; a window of the timeline (iterations per replica, coloured by their mix of
prefill and decode); SLO attainment against the number of replicas at the rate; the capacity
answer (archsim.capacity: the fewest replicas of each device type that meet the SLO, with
cost); cost against p99 latency across devices and replica counts; the highest rate one
replica sustains; disaggregated vs colocated serving; compression comparison; sources;
validation error of the profile. Capacity parts: archsim/report/serving_capacity.py.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from archsim.capacity.window import KEEP_UP_TOLERANCE
from archsim.labels import label
from archsim.report import fmt, plots_compare
from archsim.report.compression import compression_section
from archsim.report.document import Plot, Report, Section
from archsim.report.error_bar import error_bar_sentence
from archsim.report.inputs import ReportInput
from archsim.report.options import ReportOptions
from archsim.report.sections import (
    calibration_of,
    memory_section,
    result_rows,
    scenario_rows,
    sources_section,
    validation_caveat,
    validation_section,
)
from archsim.report.serving_capacity import (
    PRICE_DEFINITION,
    capacity_answer,
    capacity_section,
    capacity_sentence,
    cost_latency_section,
    max_rate_section,
    replica_scaling,
    slo_text,
)
from archsim.report.serving_load import load_section
from archsim.report.sweep_front import cell
from archsim.report.timeline import timeline_plot

TIMELINE_SPANS = 600
"""Iterations drawn in the timeline window (the first ones of the run)."""
LATENCIES = (("ttft", "time to first token"), ("tpot", "time per output token"),
             ("e2e", "end-to-end latency"), ("queueing", "queueing delay"))


def serving_report(inp: ReportInput, opts: ReportOptions) -> Report:
    r = inp.result
    assert r is not None
    pools = r["hardware"]["pools"]
    device = pools[0]["device"]
    hw = " + ".join(f"{p['count']} × {p['device']}" for p in pools)
    rate = opts.rate or _scenario_rate(inp)
    omitted: list[tuple[str, str]] = []
    capacity = capacity_answer(inp, rate, opts)
    answer = _answer(r, hw, rate, capacity)
    bar = error_bar_sentence(r)
    if bar:
        answer.text(bar)
    caveat = validation_caveat(device, "inference")
    if caveat:
        answer.text(caveat)
    sections = [answer, _inputs(inp, rate)]
    if r.get("ttft_p50_s") is not None:
        sections.append(_latency(r))
    else:
        omitted.append(("Latency percentiles", "the deployment does not run"))
    sections.append(memory_section(r))
    load = load_section(r)
    if load is not None:
        sections.append(load)
    else:
        omitted.append(("Queue length and KV-cache use over time", "the deployment does not run"
                        if not r.get("feasible") else "the result has no load_over_time"))
    if inp.spans:
        sections.append(_timeline(r, inp.spans))
    else:
        omitted.append(("Timeline", "no trace: the input is a result JSON"
                        if inp.scenario is None else "no trace: the deployment does not run"))
    runs = []
    if inp.scenario is not None and opts.scaling and inp.scenario.hardware.cluster is None:
        scaling, runs = replica_scaling(inp, r, capacity)
        sections.append(scaling)
    else:
        omitted.append(("SLO attainment against replicas", "--no-scaling was given"
                        if inp.scenario is not None and not opts.scaling else
                        "the input is a result JSON" if inp.scenario is None else
                        "the hardware is a cluster of pools (one pool is scaled)"))
    sections.append(capacity_section(r, capacity))
    frontier = cost_latency_section(capacity, runs, r.get("slo") or {})
    if frontier is not None:
        sections.append(frontier)
    else:
        omitted.append(("Cost against latency across devices and replica counts",
                        "fewer than two deployments were simulated (needs the scenario and "
                        "scaling)"))
    top = max_rate_section(inp, r, capacity) if opts.scaling else None
    if top is not None:
        sections.append(top)
    else:
        omitted.append(("Highest request rate one replica sustains",
                        "needs the scenario on one pool, an SLO, a deployment that runs and "
                        "scaling"))
    if isinstance(r.get("comparison"), dict) and isinstance(r.get("colocated"), dict):
        sections.append(_disaggregation(r))
    comp = compression_section(r)
    if comp is not None:
        sections.append(comp)
    links = [n for p in pools for n in (p.get("intra_node"), p.get("inter_node")) if n]
    sections.append(sources_section([p["device"] for p in pools], links))
    sections.append(validation_section(device, "inference", calibration_of(r)))
    on = " + ".join(dict.fromkeys(p["device"] for p in pools))
    return Report(f"Serving capacity plan: {r['model']} on {on}",
                  f"{r['name']} — {hw}; generated by archsim from {inp.source}",
                  sections, omitted)


def _scenario_rate(inp: ReportInput) -> float | None:
    """The rate the run was offered (a result JSON's ``offered_requests_per_s``; older
    results: the rate it served)."""
    if inp.scenario is None:
        r = inp.result or {}
        return r.get("offered_requests_per_s") or r.get("requests_per_s")
    return inp.scenario.workload.arrival.rate_per_s  # type: ignore[union-attr]


def _answer(r: dict[str, Any], hw: str, rate: float | None, cap: dict[str, Any] | None
            ) -> Section:
    sec = Section("answer", "Question and answer")
    slo = r.get("slo") or {}
    sec.text(f"Question: how many devices does it take to serve {r['model']} at "
             f"{rate:g} requests/s with {slo_text(slo)}, and at what cost?" if rate else
             f"Question: how does {r['model']} serve its requests on {hw}?")
    if not r.get("feasible"):
        sec.text("Answer: the deployment as given does not run: "
                 + "; ".join(r.get("infeasible_reasons") or ["no reason recorded"]) + ".")
    else:
        verdict = {True: "meets the SLO", False: "misses the SLO"}.get(r.get("meets_slo"),
                                                                       "has no SLO")
        n = r.get("replicas", "?")
        offered = r.get("offered_requests_per_s")
        at = f", {offered:g} requests/s" if isinstance(offered, (int, float)) else ""
        first = (f"As given ({hw}, {n} {'replica' if n == 1 else 'replicas'}{at}), it "
                 f"{verdict}: "
                 f"{fmt.pct(r.get('slo_attainment'))} of requests within it, p99 TTFT "
                 f"{fmt.human_time(r.get('ttft_p99_s'))}, p99 TPOT "
                 f"{fmt.human_time(r.get('tpot_p99_s'))}, at "
                 f"{fmt.money(r.get('cost_per_million_tokens_usd'))} per million output "
                 "tokens" + _overloaded(r) + ".")
        sec.text("Answer: " + first + (" " + capacity_sentence(cap) if cap else ""))
    if not r.get("feasible") and cap:
        sec.text(capacity_sentence(cap))
    return sec


OVERLOADED = 1 - KEEP_UP_TOLERANCE
"""Served / offered requests below which a deployment's price is called an overloaded one's
(archsim.capacity's keep-up rule: a deployment must serve 95% of what arrives)."""


def _overloaded(r: dict[str, Any]) -> str:
    """', serving only 10.5 of the 30 requests/s offered (35%): the price of an overloaded
    deployment' where it serves too little of the load, else ''."""
    served, offered = r.get("requests_per_s"), r.get("offered_requests_per_s")
    if not isinstance(served, (int, float)) or not isinstance(offered, (int, float)) or \
            offered <= 0 or served >= OVERLOADED * offered:
        return ""
    return (f", serving only {served:.3g} of the {offered:g} requests/s offered "
            f"({fmt.pct(served / offered)}): the price of an overloaded deployment, whose queue "
            "grows while the load lasts")


def _rate_window(r: dict[str, Any]) -> str:
    """Where the run's rates (and a closed loop's latencies) were measured, in a sentence."""
    steady = r.get("steady_state") or {}
    if steady.get("burst"):
        return ("Every request arrived at once (a burst), so rates are over the whole run, "
                "output tokens / duration, as a throughput benchmark reports them.")
    closed = " and latencies" if steady.get("latencies_in_window") else ""
    return (f"Rates{closed} are measured in the steady state (from one p99 end-to-end latency "
            "after the first arrival to the last arrival; for an overloaded deployment, while "
            "requests wait, from once its batch has filled until the last one is "
            "scheduled), leaving out the empty start and the "
            "draining tail; a stream too short for that window is measured over the whole "
            "run.")


def _inputs(inp: ReportInput, rate: float | None) -> Section:
    sec = Section("inputs", "Inputs and assumptions")
    sec.table(["part", "value"], scenario_rows(inp.scenario, None) if inp.scenario is not None
              else result_rows(inp.result or {}))
    r = inp.result or {}
    sec.bullets([
        f"Requests: {r.get('requests', '?')} simulated from an empty system; percentiles are "
        "over those requests (a longer stream gives steadier tails).",
        f"Capacity is sized at {rate:g} requests/s" if rate else "No request rate is known.",
        "Each iteration of a replica's continuous batch is costed from its mix of prefill and "
        "decode tokens with the same cost model as training and inference.",
        f"{_rate_window(r)} {PRICE_DEFINITION}: one definition in every table of this "
        "report and in "
        "archsim capacity. Prices are the profiles' list prices per device-hour, marked "
        "UNVERIFIED where no source was checked (see the profile sources below). Energy = "
        "devices × (TDP while busy + idle power otherwise) over the run, per output token; "
        "TDP while busy is an upper bound, so energy errs high; cooling and facility overhead "
        "(PUE) are not included.",
    ])
    return sec


def _latency(r: dict[str, Any]) -> Section:
    sec = Section("latency", "Latency percentiles against the SLO")
    slo = r.get("slo") or {}
    series = {}
    for p in ("p50", "p90", "p99"):
        series[p] = [(r.get(f"{k}_{p}_s") or 0.0) for k, _ in LATENCIES]
    limits = {"time to first token": slo.get("ttft_s"), "time per output token":
              slo.get("tpot_s")}
    sec.add(Plot("latency", "Latency percentiles of the simulated requests, with the SLO "
                            "(dashed) where one is set",
                 plots_compare.percentile_plot([name for _, name in LATENCIES], series, limits,
                                       "Latency of the simulated requests")))
    rows = [(name, *(fmt.human_time(r.get(f"{k}_{p}_s")) for p in ("p50", "p90", "p99")),
             fmt.short_time(slo.get(f"{k}_s")) if k in ("ttft", "tpot") else "-")
            for k, name in LATENCIES]
    sec.table(["latency", "p50", "p90", "p99", "SLO"], rows)
    steady = r.get("steady_state") or {}
    basis = ("Over the whole run (every request arrived at once)" if steady.get("burst")
             else "Over the whole run (too short for a steady state)" if steady.get("whole_run")
             else "While the queue never emptied (overloaded)" if steady.get("saturated")
             else "In the steady state")
    sec.text(f"{basis}: {fmt.rate(r.get('requests_per_s'), 'requests/s')} served, "
             f"{fmt.rate(r.get('tokens_per_s'), 'output tokens/s')}; goodput "
             f"{fmt.rate(r.get('goodput_rps'), 'requests/s')} within the SLO; mean decode batch "
             f"{r.get('mean_decode_batch', 0):.3g}; {r.get('preemptions', 0)} preemptions.")
    return sec


def _phase(span: Any) -> Any:
    args = span.args or {}
    if "prefill" not in args:
        return span
    kind = "prefill + decode" if args["prefill"] and args.get("decode") else \
        "prefill" if args["prefill"] else "decode"
    return replace(span, category=kind)


def _timeline(r: dict[str, Any], spans: list) -> Section:
    first = sorted(spans, key=lambda s: s.start)[:TIMELINE_SPANS]
    end = max(s.end for s in first)
    window = [_phase(s) for s in spans if s.start < end]
    png, note = timeline_plot(window, f"The first {fmt.human_time(end)} of the run",
                              "the run started")
    sec = Section("timeline", "Timeline of the first iterations")
    sec.text(f"Continuous-batching iterations of each replica over the first "
             f"{fmt.human_time(end)} of {fmt.human_time(r.get('duration_s'))}, coloured by "
             f"what they run. {note}".strip())
    sec.add(Plot("timeline", "Iterations per replica, coloured by prefill / decode mix", png))
    return sec


def _disaggregation(r: dict[str, Any]) -> Section:
    sec = Section("disaggregation", "Disaggregated against colocated serving")
    colo, comp = r["colocated"], r["comparison"]
    keys = ("ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "tpot_p99_s", "itl_p99_s",
            "requests_per_s",
            "goodput_rps", "slo_attainment", "cost_per_million_tokens_usd")
    sec.table(["metric", "disaggregated", "colocated"],
              [(label(k), cell(k, r.get(k)), cell(k, colo.get(k))) for k in keys if k in colo])
    sec.text("Both simulated with the same devices and the same requests: prefill and decode "
             "on their own pools (the KV cache crossing the link between them) against every "
             "replica doing both." + (f" Goodput ratio (disaggregated / colocated) "
                                      f"{comp['goodput_ratio']:.3g}."
                                      if comp.get("goodput_ratio") is not None else ""))
    if r.get("ttft_decode_pool_p99_s") is not None:
        sec.text("Disaggregated TTFT ends with the prefill pool's first token (DistServe's "
                 "definition). A client streaming from the decode pool, as behind vLLM's "
                 "disaggregation proxy, gets its first token after the KV cache has crossed "
                 "and a decode slot is free: p50 "
                 f"{fmt.human_time(r.get('ttft_decode_pool_p50_s'))}, p99 "
                 f"{fmt.human_time(r['ttft_decode_pool_p99_s'])}"
                 + (f" ({comp['ttft_decode_pool_p99_ratio']:.2f}× the colocated TTFT p99)."
                    if comp.get("ttft_decode_pool_p99_ratio") is not None else "."))
    kv = r.get("kv_transfer")
    if isinstance(kv, dict):
        sec.table(["KV-cache transfer, prefill → decode", "value"], [
            ("route", str(kv["link"])),
            ("bandwidth per transfer", f"{kv['bandwidth_bytes_per_s'] / 1e9:.3g} GB/s"
             + (f", set by {kv['limited_by']}" if kv.get("limited_by") else "")),
            ("bytes per request, mean", fmt.human_bytes(kv["bytes_per_request_mean"])),
            ("time per transfer, mean / p99 (queueing included)",
             f"{fmt.human_time(kv['time_mean_s'])} / {fmt.human_time(kv['time_p99_s'])}"),
            ("busy share of the narrower side's NICs", fmt.pct(kv["link_utilization"]))],
            caption="Each prompt's K and V cross between the pools at the slowest of the "
                    "route's lanes and either end's NICs; replicas behind one NIC queue for it "
                    "(archsim/plan/kv_path.py).")
    return sec
