"""Whether a serving result keeps up with its load, and whether a request stream is long enough
to tell.

A result **keeps up** when, in the steady-state window of its serving result
(archsim/metrics/serving_window.py: from one p99 end-to-end latency after the first arrival to
the last arrival), it serves at least ``1 − KEEP_UP_TOLERANCE`` of the requests that arrive in
that window, and the window is long enough to resolve that share (``RESOLUTION_SIGMAS``
standard errors, ``share_error``, within the tolerance). A result measured over the whole run
(no steady-state window) cannot show that it keeps up. ``count_needed`` is the fewest requests
a stream needs for a window that resolves it at given latencies; ``served_alone`` gives the
lowest latencies a deployment can have (one request at a time), which ``_resolvable`` uses to
tell whether any deployment could be judged on a stream at all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from archsim.metrics.serving_window import MIN_WINDOW_SENDS, MIN_WINDOW_SHARE, min_window_sends
from archsim.spec.scenario import ScenarioSpec

KEEP_UP_TOLERANCE = 0.05
"""A probe keeps up when it serves at least 1 − this share of the requests that arrive in its
steady-state window. A judgement: a tighter one needs longer streams (the window count_needed
asks for grows as 1 / tolerance²: at 30 req/s and a 5 s mean latency, 23 s at 5%, 58 s at 2%);
a deployment short by less than this still queues without bound, and only the SLO over the
stream can catch it."""
RESOLUTION_SIGMAS = 2.0
"""A window resolves the served share when this many standard errors (``share_error``) fit in
KEEP_UP_TOLERANCE (a judgement: about 95% one-sided confidence)."""


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
    first arrival, holds at least MIN_WINDOW_SHARE of the arrivals and MIN_WINDOW_SENDS, and
    lasts W with RESOLUTION_SIGMAS × √(2 λ mean_e2e) / (λ W) ≤ KEEP_UP_TOLERANCE."""
    window = max(RESOLUTION_SIGMAS * math.sqrt(2 * mean_e2e / rate) / KEEP_UP_TOLERANCE,
                 MIN_WINDOW_SENDS / rate)
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
            f"stream's arrivals, or under {MIN_WINDOW_SENDS}, after it), so it cannot show "
            "that it keeps up; over the whole "
            f"run it served {_fmt_rate(d.get('completed_per_s_whole_run'))} against "
            f"{_fmt_rate(rate)} offered" + _more(d, rate))
        return out
    span = st["end_s"] - st["start_s"]
    if st.get("saturated"):
        # its queue never emptied from before the last arrival until after it: it is behind
        out["share"] = st["requests_per_s"] / rate if rate else None
        out["why"] = (f"does not keep up: its queue never emptied from {_fmt_s(st['start_s'])} "
                      f"to {_fmt_s(st['end_s'])}, past the last arrival; at capacity it serves "
                      f"{_fmt_rate(st['requests_per_s'])} against {_fmt_rate(rate)} offered")
        return out
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


def _passes(d: Mapping[str, Any]) -> bool:
    return bool(d.get("feasible") and d.get("meets_slo") and keeping_up(d)["keeps_up"])


def _needed(d: Mapping[str, Any], rate: float) -> int | None:
    """The count a stream needs for this probe's latencies, and more than the probe's own
    requests, which were too few.

    With a steady-state window, from what the probe measured: the window needs
    A = RESOLUTION_SIGMAS / KEEP_UP_TOLERANCE × √(2 × λ_w × mean end-to-end latency)
    arrivals (λ_w the rate that arrived in it: :func:`share_error` within the tolerance),
    each added request adds one, and RESOLUTION_SIGMAS standard deviations of the Poisson
    count that arrives before the window starts (λ × p99) are added as a margin. Without
    one, :func:`count_needed` at the nominal rate. (The nominal estimate alone had asked a
    200-request probe whose stream came 4% short for 201, then 202 for 201, ...: 215 were
    needed.)"""
    mean, p99 = d.get("e2e_latency_s"), d.get("e2e_p99_s")
    if not (rate and mean and p99):
        return None
    requests = int(d.get("requests") or 0)
    needed = count_needed(rate, mean, p99)
    st = d.get("steady_state") or {}
    if st and not st.get("whole_run") and st.get("arrivals_in_window"):
        arrivals = st["arrivals_in_window"]
        arrived = arrivals / (st["end_s"] - st["start_s"])
        want = RESOLUTION_SIGMAS / KEEP_UP_TOLERANCE * math.sqrt(2 * arrived * mean)
        margin = RESOLUTION_SIGMAS * math.sqrt(rate * p99)
        needed = max(needed, requests + math.ceil(want - arrivals) + math.ceil(margin))
    return max(needed, requests + 1)


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
    (serving_window.steady_state: at least MIN_WINDOW_SHARE of the arrivals, and
    MIN_WINDOW_SENDS, from one p99
    latency after the first arrival to the last) that resolves the served share
    (RESOLUTION_SIGMAS × share_error ≤ KEEP_UP_TOLERANCE)."""
    t0, t1 = float(arrivals.min()) + p99_e2e, float(arrivals.max())
    n = int(((arrivals >= t0) & (arrivals <= t1)).sum())
    if not t1 > t0 or n < min_window_sends(arrivals.size):
        return False
    return RESOLUTION_SIGMAS * share_error(n / (t1 - t0) * mean_e2e, n) <= KEEP_UP_TOLERANCE


def _fmt_s(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3g} s"


def _fmt_rate(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g} req/s"


def _fmt_pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"
