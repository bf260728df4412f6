"""Deployments a request stream was too short to judge: tps skipped because even one request
served at a time leaves no window that resolves the served share (``_Short``), and cheaper
probes that met the SLO but whose window was too short to show that they keep up. Either makes
an accepted row possibly oversized; the notes say which and the ``workload.arrival.count``
that would judge them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from archsim.capacity.row import CapacityRow, _deployment_cost, _Search
from archsim.capacity.window import KEEP_UP_TOLERANCE, _fmt_pct, _fmt_s, count_needed


@dataclass(frozen=True)
class _Short:
    """A tp skipped because the stream is too short for any of its deployments to show that it
    keeps up, even at the latencies of one request served at a time."""

    tp: int
    p99_e2e_s: float
    count_needed: int


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
