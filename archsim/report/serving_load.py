"""The serving report's load over time: requests waiting for their first prefill, requests in
flight, and the share of the KV cache they hold (the result's ``load_over_time``,
archsim/metrics/serving_window.py), with the steady-state window the rates are measured in."""

from __future__ import annotations

from typing import Any

from archsim.report import fmt, plots_serving
from archsim.report.document import Plot, Section


def load_section(r: dict[str, Any]) -> Section | None:
    series = r.get("load_over_time")
    if not isinstance(series, dict) or not series.get("t_s"):
        return None
    steady = r.get("steady_state") or {}
    window = None if not steady or steady.get("whole_run") else (steady["start_s"],
                                                                  steady["end_s"])
    sec = Section("load", "Queue length and KV-cache use over time")
    waiting, kv = max(series["waiting"]), series.get("kv_cache_used")
    sec.text("Requests waiting for their first prefill and requests in flight (prefilling or "
             "decoding) on all replicas, and the share of the KV cache their tokens hold "
             "(prompt plus tokens generated so far: an estimate from the requests' timestamps "
             "that leaves out block rounding and counts a preempted request as holding its "
             "cache, so it reads high near full; shown at most 100%), sampled over the run. "
             f"At most {waiting:.0f} requests waited at once"
             + (f"; the KV cache peaked at {fmt.pct(max(kv))} full" if kv else "") + ". "
             + ("The shaded window, while requests wait, from once the batch has filled "
                "until the last one is scheduled, is where the request and token rates are "
                "measured: the deployment is "
                "overloaded, so they are its capacity." if window and steady.get("saturated")
                else "The shaded window is the steady state the request and token rates are "
                "measured in." if window else
                "Every request arrived at once (a burst): rates are over the whole run, as a "
                "throughput benchmark reports them." if steady.get("burst") else
                "The stream is too short for a steady state: rates are over the whole run."))
    sec.add(Plot("load", "Waiting and running requests, and KV-cache use, over the run",
                 plots_serving.load_plot(series, window)))
    return sec
