"""The readable report of a plan search (what ``archsim plan`` prints without --json)."""

from __future__ import annotations

from archsim.metrics.common import TIGHT_MEMORY_SHARE, fits_tightly
from archsim.planner.result import TIE_TOLERANCE, PlanRow, PlanSearch
from archsim.spec.errors import plural
from archsim.textfmt import human_bytes, human_time, pct, table

_REASON_WORDS = {
    "memory": "does not fit in memory",
    "cost": "costs more per token",
    "bubbles": "more pipeline bubble",
    "communication": "more exposed communication",
    "recomputation": "more recomputation",
    "compute": "slower compute",
    "optimizer": "slower optimizer step",
    "divisibility": "does not divide evenly",
    "infeasible": "cannot run",
}


def _columns(training: bool) -> list[str]:
    if training:
        return ["step time", "tokens/s", "MFU", "memory/device", "$/Mtok"]
    return ["e2e latency", "TTFT", "TPOT", "tokens/s", "memory/device", "$/Mtok"]


def _metrics_row(row: PlanRow, training: bool) -> list[str]:
    r = row.result
    cost = r.get("cost_per_million_tokens_usd")
    tail = [f"{r['tokens_per_s']:,.0f}"]
    if training:
        head = [human_time(r["step_time_s"])]
        tail.append(pct(r.get("mfu")))
    else:
        head = [human_time(r["e2e_latency_s"]), human_time(r["ttft_s"]),
                human_time(r["tpot_s"])]
    mem = r["memory"]
    memory = human_bytes(mem["peak_bytes_per_device"])
    if len((r.get("hardware") or {}).get("pools", [])) > 1 and mem.get("capacity_bytes"):
        # several device types: the stage that fills its device most, of that device's memory
        memory += f" of {human_bytes(mem['capacity_bytes'])}"
    if _tight(r):
        memory += " !"
    return [*head, *tail, memory, "-" if cost is None else f"{cost:,.3f}"]


def _tight(result: dict) -> bool:
    """Whether a plan fits with under 1 − TIGHT_MEMORY_SHARE of its memory to spare (marked
    ``!`` in the table: its result's own note says so only when it is simulated alone)."""
    mem = result.get("memory") or {}
    peak, capacity = mem.get("peak_bytes_per_device"), mem.get("capacity_bytes")
    return bool(result.get("feasible") and peak and capacity and fits_tightly(peak, capacity))


def _latency(row: PlanRow) -> float:
    step = row.result.get("step_time_s")
    return step if step is not None else row.result["e2e_latency_s"]


SAME = 0.005
"""Relative gap below which the scenario's plan counts as as good as the best found."""


def _fewer_devices(best: PlanRow, given: PlanRow) -> str:
    """Where the best plan leaves devices of the scenario's plan out: its price counts only
    the devices it runs on."""
    used, had = best.result.get("devices"), given.result.get("devices")
    if isinstance(used, int) and isinstance(had, int) and used < had:
        return f" (on {used} of the {had} devices: the others taken as released, not idle)"
    return ""


def _versus_best(ps: PlanSearch, given: PlanRow, training: bool) -> str:
    """How the scenario's own plan compares with the best found, by the search's objective."""
    best = ps.best
    assert best is not None
    if ps.objective == "cost":
        mine = given.result.get("cost_per_million_tokens_usd")
        top = best.result.get("cost_per_million_tokens_usd")
        if mine and top and mine / top > 1 + SAME:
            fewer = _fewer_devices(best, given)
            return f"the best plan costs {mine / top:.2f}× less per token{fewer}"
        return "no plan found costs less per token (within 0.5%): the scenario's plan is best"
    if ps.objective == "throughput":
        ratio = best.result["tokens_per_s"] / given.result["tokens_per_s"]
        better = (f"the best plan is {ratio:.2f}× as fast" if training
                  else f"the best plan has {ratio:.2f}× the throughput")
    else:
        ratio = _latency(given) / _latency(best)
        better = f"the best plan's {'step' if training else 'latency'} is {ratio:.2f}× shorter"
    if ratio > 1 + SAME:
        return better
    return "no plan found is better by more than 0.5%: the scenario's plan is as good as the best"


def credibility_lines(ps: PlanSearch, training: bool) -> list[str]:
    """The best plan's error bar (with a caution where it promises more utilisation than any
    published run reached) and whether the gaps between the top plans are larger than it."""
    from archsim.accuracy import uncertainty_lines

    best = ps.best
    assert best is not None
    out = ["", *uncertainty_lines(best.result)]
    block = best.result.get("uncertainty") or {}
    # the ranked number and its own interval (throughput, latency or price: each has its band)
    key = {"throughput": "tokens_per_s", "cost": "cost_per_million_tokens_usd"}.get(
        ps.objective, "step_time_s" if training else "e2e_latency_s")
    band = block.get("intervals", {}).get(key)
    value, second = best.result.get(key), (ps.top[1].result.get(key) if len(ps.top) > 1
                                           else None)
    if band and value and second:
        higher_is_better = key == "tokens_per_s"
        gap = (value / second if higher_is_better else second / value) - 1
        span = (band[1] - band[0]) / value
        if abs(gap) <= TIE_TOLERANCE:
            out.append(f"  the second plan ties with it (within {100 * TIE_TOLERANCE:g}%): the "
                       "simpler plan is ranked first (fewer parallel dimensions, then fewer "
                       "bytes communicated)")
        elif gap < span:
            out.append(f"  the second plan is {100 * gap:.1f}% behind, inside the error bar's "
                       f"{100 * span:.0f}% spread: the ranking of the top plans is not certain")
    if block.get("above_published"):
        out.append("  " + _within_published(ps))
    return out


def _within_published(ps: PlanSearch) -> str:
    """Where the best plan claims more utilisation than any published run: the best-ranked
    of the top plans that does not (the planner ranks by the simulated numbers; a purchaser
    may prefer the best plan a team has been seen to reach)."""
    for i, row in enumerate(ps.top):
        if not (row.result.get("uncertainty") or {}).get("above_published"):
            return (f"the best of the top plans within the published utilisation is #{i + 1} "
                    f"({row.label}): MFU {100 * row.result['mfu']:.1f}%")
    return (f"none of the top {len(ps.top)} plans stays within the published utilisation "
            "(--top N shows more)")


def render_plan_search(ps: PlanSearch) -> str:
    """Top plans as a table, the given plan beside the best, and why the others lost."""
    c = ps.counts
    training = ps.given.result["mode"] == "training"
    lines = [f"Plan search for {ps.scenario} on {ps.hardware} — objective {ps.objective}",
             f"{plural(c['plans'], 'plan')}: {c['not_divisible']:,} do not divide, "
             f"{c['pruned_by_memory_bound']:,} pruned by the memory bound, "
             f"{c['pruned_by_time_bound']:,} pruned by the time bound, {c['simulated']:,} "
             f"simulated ({c['simulated_infeasible']:,} of them infeasible) in "
             f"{human_time(ps.wall_s)}", ""]
    columns = _columns(training)
    rows = [[str(i + 1), row.label, *_metrics_row(row, training)]
            for i, row in enumerate(ps.top)]
    if rows:
        lines += [f"Top {len(rows)}", table(["#", "plan", *columns], rows,
                                            align="rl" + "r" * len(columns))]
        if any(_tight(row.result) for row in ps.top):
            lines.append(f"  ! fills more than {TIGHT_MEMORY_SHARE:.0%} of its device's memory: "
                         "the runtime reserve is the only allowance, and the allocator's "
                         "fragmentation and communication buffers, not modelled, may not fit "
                         "beside it")
        lines += credibility_lines(ps, training)
    else:
        lines.append("No feasible plan in the space.")
    lines.append("")
    g = ps.given
    own = g.label.removeprefix("as given: ")
    if g.result["feasible"]:
        lines.append(f"Scenario's own plan ({own}): " + ", ".join(
            f"{h} {v}" for h, v in zip(columns, _metrics_row(g, training), strict=True)))
        if ps.best is not None:
            lines.append("  " + _versus_best(ps, g, training))
    else:
        lines.append(f"Scenario's own plan ({own}) is infeasible: "
                     + "; ".join(g.result["infeasible_reasons"]))
    if ps.losses:
        lines += ["", "Why the others lost (plans per reason; the best plan that lost for it)"]
        for loss in sorted(ps.losses.values(), key=lambda x: -x.count):
            when = ""
            word = "step" if training else "e2e"
            if loss.best_time_s is not None:
                when = (f" ({word} ≥ " if loss.best_time_is_bound else f" ({word} ") + \
                    human_time(loss.best_time_s) + ")"
            # a plan that does not divide has no time to rank it by: name one of them
            which = "e.g." if loss.best_time_s is None else "best:"
            lines.append(f"  {_REASON_WORDS.get(loss.reason, loss.reason)}: {loss.count:,}"
                         f" — {which} {loss.best_label}{when}")
            lines.append(f"      {loss.detail}")
    for v in ps.bound_violations[:5]:
        lines.append(f"WARNING: a lower bound exceeded the simulated value — {v}")
    lines += [f"note: {n}" for n in ps.notes]
    return "\n".join(lines)
