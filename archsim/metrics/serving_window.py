"""Steady-state rates and load over time of a serving run, from its requests' timestamps.

A simulated run starts empty and ends by draining its queues, so rates over the whole run
(completions / (last completion − first arrival)) read below the offered load even when the
deployment keeps up. The **steady-state window** leaves out both ends: it starts once the
system has filled — one p99 end-to-end latency after the first arrival, when the requests in
flight are as many as they stay — and ends at the last arrival (after which nothing new comes
in and the queues drain). Within it:

* output tokens/s = output tokens emitted in the window / its length. A request's first token
  is emitted at ``first_token_s`` and the others evenly spaced up to ``finish_s`` (its mean
  time per output token);
* requests/s = Σ over requests of the share of its output tokens emitted in the window / its
  length (a request counts where its work is done, so a deployment that keeps up serves the
  offered rate);
* goodput = the same over the requests that meet the SLO.

A stream whose window is empty or holds fewer than ``MIN_WINDOW_SHARE`` of its arrivals (or
fewer than ``MIN_WINDOW_SENDS``) is either overloaded, so that the latency outgrows the stream,
or too short to fill the system.
An overloaded deployment's queue stays non-empty from some time on to the last arrival, and
then until the last waiting request is scheduled: that stretch, from once its batch has filled
(one p99 service time — first scheduled to finish — after the first arrival), is its window
(``saturated``; it must admit ``MIN_WINDOW_SHARE`` of the requests and ``MIN_WINDOW_SENDS``),
and the rates in it are its capacity. The whole run had been measured instead, start-up and
draining tail included, which read about 5% below (8.26–8.41 requests/s where the saturated
stretch serves 8.72), and read lower the more overloaded the deployment; and the stretch had
ended at the last arrival, which at 10,000 requests/s (2,000 of them in 0.2 s) left only the
start-up while the first batch filled: 2,294 tokens/s where the deployment serves 19,361. A stream
with no such stretch is measured over the whole run (``whole_run``; a window of a few arrivals
gives a rate that can read well above both the offered load and the whole run's).
``load_series`` samples,
over the run, the requests waiting for their first prefill, the requests in flight, and the
tokens their KV caches hold (prompt + tokens emitted so far, an estimate: block rounding is
left out and a preempted request counts as holding its cache until it finishes, so the share
reads high when the cache is full; it is capped at 1).

Price follows from the steady-state rate (``cost_per_million``): devices × price per
device-hour / (3600 × steady-state output tokens/s) × 10⁶.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

FILL_PERCENTILE = 99
"""The window starts this percentile of the end-to-end latency after the first arrival."""
MIN_WINDOW_SENDS = 20
"""A steady-state window holds at least this many arrivals, and a closed loop's twice its
clients (a judgement: one client's window of 2 of 4 requests had read 2.41 requests/s where it
served 0.69; an open stream of 4 requests at 5/s had a window of its last 3 arrivals, 4 ms
apart, in which no token was emitted yet, and read 0 tokens/s)."""


def closed_min_sends(clients: int) -> int:
    """Sends a closed loop's steady-state window must hold (``MIN_WINDOW_SENDS``)."""
    return max(MIN_WINDOW_SENDS, 2 * clients)


def min_window_sends(total: int, clients: int | None = None) -> float:
    """Arrivals a steady-state window of a stream of ``total`` requests must hold: a quarter of
    them (``MIN_WINDOW_SHARE``) and at least ``MIN_WINDOW_SENDS`` (a closed loop's
    ``closed_min_sends``)."""
    floor = closed_min_sends(clients) if clients is not None else MIN_WINDOW_SENDS
    return max(MIN_WINDOW_SHARE * total, floor)


SERIES_POINTS = 240
"""Samples of the load over time kept in a result."""
MIN_WINDOW_SHARE = 0.25
"""The window must hold at least this share of the stream's arrivals (a judgement: a rate read
off a quarter of a Poisson stream of n requests has a relative spread of about 2/√n)."""


@dataclass(frozen=True)
class Stamps:
    """Per request (finished ones only): arrival, first scheduled, first token, finish (s),
    prompt and output lengths, and whether it met the SLO."""

    arrival: np.ndarray
    scheduled: np.ndarray
    first: np.ndarray
    finish: np.ndarray
    prompt: np.ndarray
    gen: np.ndarray
    ok: np.ndarray


def tokens_by(s: Stamps, t: float | np.ndarray) -> np.ndarray:
    """Output tokens each request has emitted by time ``t`` (an array of times gives one row
    per time)."""
    t = np.asarray(t, dtype=float)[..., None]
    step = np.where(s.gen > 1, (s.finish - s.first) / np.maximum(s.gen - 1, 1), 0.0)
    after = t >= s.first
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(step > 0, np.floor((t - s.first) / np.where(step > 0, step, 1.0)) + 1,
                     s.gen)
    return np.where(after, np.clip(k, 0, s.gen), 0)


@dataclass(frozen=True)
class SteadyState:
    start_s: float
    end_s: float
    tokens_per_s: float
    requests_per_s: float
    input_tokens_per_s: float
    goodput_rps: float
    whole_run: bool
    """True when the window was empty and the whole run was measured instead."""
    arrivals: int
    """Requests that arrived in the window (a short window gives a noisy rate)."""
    saturated: bool = False
    """True when the window is the stretch over which the queue never emptied (an overloaded
    deployment: the rates are its capacity)."""

    def to_dict(self) -> dict[str, float | bool]:
        return {"start_s": self.start_s, "end_s": self.end_s,
                "tokens_per_s": self.tokens_per_s, "requests_per_s": self.requests_per_s,
                "input_tokens_per_s": self.input_tokens_per_s,
                "goodput_rps": self.goodput_rps, "whole_run": self.whole_run,
                "saturated": self.saturated, "arrivals_in_window": self.arrivals}


def steady_state(s: Stamps, all_arrivals: np.ndarray, end_s: float,
                 clients: int | None = None) -> SteadyState:
    """Rates in the steady-state window (module docstring); ``all_arrivals`` includes
    requests that never finished. ``clients``: a closed loop's concurrency — its window also
    holds at least ``closed_min_sends(clients)`` sends, and it is never overloaded (its queue
    holds at most its clients), so it falls back to the whole run, not to a saturated
    stretch. A stream whose requests all arrive at once (a burst) is measured over the whole
    run."""
    first, t1 = float(all_arrivals.min()), float(all_arrivals.max())
    e2e = s.finish - s.arrival
    t0 = first + (float(np.percentile(e2e, FILL_PERCENTILE)) if e2e.size else np.inf)
    arrived = int(((all_arrivals >= t0) & (all_arrivals <= t1)).sum())
    need = min_window_sends(all_arrivals.size, clients)
    whole = not t1 > t0 or arrived < need
    saturated = False
    if whole and clients is None and t1 > first and (start := queued_since(s, t1)) is not None:
        # overloaded: at capacity while requests wait, once its batch has filled (one p99
        # service time, first scheduled to finish, after the first arrival) until its queue
        # empties (the last first scheduling, after the last arrival)
        fill = first + float(np.percentile(s.finish - s.scheduled, FILL_PERCENTILE))
        lo, hi = max(start, fill), float(s.scheduled.max())
        admitted = int(((s.scheduled >= lo) & (s.scheduled <= hi)).sum())
        if hi > lo and admitted >= need:
            t0, t1, whole, saturated = lo, hi, False, True
            arrived = int(((all_arrivals >= t0) & (all_arrivals <= t1)).sum())
    if whole:
        t0, t1 = first, max(end_s, first + 1e-12)
        emitted = s.gen.astype(float)
    else:
        emitted = (tokens_by(s, t1) - tokens_by(s, np.nextafter(t0, -np.inf))).astype(float)
    span = t1 - t0
    share = emitted / np.maximum(s.gen, 1)
    if whole:
        arrived = int(all_arrivals.size)
    return SteadyState(t0, t1, float(emitted.sum()) / span, float(share.sum()) / span,
                       float((share * s.prompt).sum()) / span,
                       float(share[s.ok].sum()) / span, whole, arrived, saturated)


def queued_since(s: Stamps, t1: float) -> float | None:
    """The time from which requests wait for their first prefill without a break until
    ``t1`` (the last arrival), or None when the queue is empty at ``t1``. Waiting: arrived,
    not yet scheduled; a request scheduled the moment it arrives never waits."""
    times = np.concatenate([s.arrival, s.scheduled[np.isfinite(s.scheduled)]])
    steps = np.concatenate([np.ones(s.arrival.size),
                            -np.ones(int(np.isfinite(s.scheduled).sum()))])
    order = np.lexsort((steps, times))  # by time; at one time, schedulings (−1) first
    times, waiting = times[order], np.cumsum(steps[order])
    upto = int(np.searchsorted(times, t1, side="right"))
    if upto == 0 or waiting[upto - 1] <= 0:
        return None
    empty = np.flatnonzero(waiting[:upto] <= 0)
    return float(times[empty[-1] + 1] if empty.size else times[0])


SERIES_CELLS = 4_000_000
"""Times × requests evaluated at once by :func:`load_series` (bounds its memory)."""


def load_series(s: Stamps, start_s: float, end_s: float, kv_capacity_tokens: float | None,
                decode_pool: bool = False, points: int = SERIES_POINTS
                ) -> dict[str, list[float]]:
    """Waiting and running requests and the KV-cache share in use at ``points`` times
    (``decode_pool``: disaggregated serving, where the cache counted is the decode replicas',
    which hold a request from its first token on)."""
    t = np.linspace(start_s, end_s, points)
    waiting, running, cached = (np.zeros(points) for _ in range(3))
    # a few times at once: (times × requests) arrays of a million-request run stay ~32 MB
    # (all 240 times at once had taken 7 GB)
    step = max(1, SERIES_CELLS // max(1, s.arrival.size))
    for i in range(0, points, step):
        part = t[i:i + step]
        tt = part[:, None]
        waiting[i:i + step] = ((tt >= s.arrival) & (tt < s.scheduled)).sum(axis=1)
        busy = (tt >= s.scheduled) & (tt < s.finish)
        running[i:i + step] = busy.sum(axis=1)
        holding = (tt >= s.first) & (tt < s.finish) if decode_pool else busy
        cached[i:i + step] = np.where(holding, s.prompt + tokens_by(s, part), 0).sum(axis=1)
    out = {"t_s": t.tolist(), "waiting": waiting.tolist(), "running": running.tolist()}
    if kv_capacity_tokens:  # preempted requests still count as holding theirs: at most full
        out["kv_cache_used"] = np.minimum(cached / kv_capacity_tokens, 1.0).tolist()
    return out


def deployment_price_per_hour(groups: list[Any]) -> float | None:
    """Σ devices × price per device-hour over the groups; None if a device has no price."""
    prices = [g.plan.device.price_per_hour for g in groups]
    if any(p is None for p in prices):
        return None
    return sum(g.devices * p for g, p in zip(groups, prices, strict=True))


def cost_per_million(per_hour: float | None, tokens_per_s: float | None) -> float | None:
    """USD per million output tokens: price per hour / (3600 × steady-state tokens/s) × 10⁶,
    the one definition every serving table uses (archsim.capacity too)."""
    if per_hour is None or not tokens_per_s:
        return None
    return per_hour / (3600.0 * tokens_per_s) * 1e6


def rate_basis(steady: dict[str, Any] | None) -> str:
    """Where a serving result's rates were measured, in words (the result's
    ``steady_state``)."""
    steady = steady or {}
    if steady.get("burst"):
        return "whole run: every request arrived at once"
    if steady.get("whole_run"):
        return "whole run: too short for a steady-state window"
    if steady.get("saturated"):
        return "overloaded: while the queue never emptied"
    return "steady state"
