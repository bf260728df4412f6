"""The readable report of a plan search (what ``archsim plan`` prints without --json)."""

from __future__ import annotations

from archsim.metrics.common import TIGHT_MEMORY_SHARE, fits_tightly
from archsim.planner.result import (
    PlanRow,
    PlanSearch,
    ranking_verdict,
    versus_best,
)
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


def _fewer_devices(best: PlanRow, given: PlanRow) -> str:
    """Where the best plan leaves devices of the scenario's plan out: its price counts only
    the devices it runs on."""
    used, had = best.result.get("devices"), given.result.get("devices")
    if isinstance(used, int) and isinstance(had, int) and used < had:
        return f" (on {used} of the {had} devices: the others taken as released, not idle)"
    return ""


def _versus_best(ps: PlanSearch, given: PlanRow, training: bool) -> str:
    """How the scenario's own plan compares with the best found, by the search's objective,
    and whether the gain lies inside the best plan's error bar (as the ranking of the top
    plans is judged)."""
    best = ps.best
    assert best is not None
    v = versus_best(best, given, ps.objective, training)
    if v is None or not v["better"]:
        if ps.objective == "cost":
            return ("no plan found costs less per token (within 0.5%): the scenario's plan "
                    "is best")
        return ("no plan found is better by more than 0.5%: the scenario's plan is as good as "
                "the best")
    ratio = v["ratio"]
    if ps.objective == "cost":
        better = (f"the best plan costs {ratio:.2f}× less per token"
                  f"{_fewer_devices(best, given)}")
    elif ps.objective == "throughput":
        better = (f"the best plan is {ratio:.2f}× as fast" if training
                  else f"the best plan has {ratio:.2f}× the throughput")
    else:
        better = f"the best plan's {'step' if training else 'latency'} is {ratio:.2f}× shorter"
    if v["inside_band"]:
        better += (f", a gain inside the error bar's {100 * v['spread']:.0f}% spread: not "
                   "certain" + _shared_error(best, given))
    return better


def _shared_error(best: PlanRow, given: PlanRow) -> str:
    """Where both plans run on the same device types: they share much of its profile's error,
    so their gap is likelier to hold than the spread of either band says."""
    devices = [(r.result.get("uncertainty") or {}).get("devices") for r in (best, given)]
    if not devices[0] or devices[0] != devices[1]:
        return ""
    shared = ("plans on one device share much of its profile's error" if len(devices[0]) == 1
              else "plans on the same devices share much of their profiles' error")
    return f" ({shared}, so their gap is likelier to hold than the spread says)"


def _outside(row: PlanRow) -> list[str]:
    """What the plan's error bar lists as outside its calibration (``uncertainty.out_of_range``)."""
    return list((row.result.get("uncertainty") or {}).get("out_of_range") or [])


def outside_lines(top: list[PlanRow]) -> list[str]:
    """The legend of the table's ``*``: each thing a shown plan lies outside its calibration
    for (a range its profile's runs did not span, an uncalibrated kind of run …), with the
    plans (by rank) it applies to, in the order first met."""
    plans: dict[str, list[str]] = {}
    for i, row in enumerate(top):
        for reason in _outside(row):
            plans.setdefault(reason, []).append(f"#{i + 1}")
    if not plans:
        return []
    return ["  * outside the calibration, by plan (a band widens where its plan leaves a "
            "calibrated range):",
            *(f"      {', '.join(ranks)}: {reason}" for reason, ranks in plans.items())]


def credibility_lines(ps: PlanSearch, training: bool) -> list[str]:
    """The best plan's error bar (with a caution where it promises more utilisation than any
    published run reached) and whether the gaps between the top plans are larger than it."""
    from archsim.accuracy import uncertainty_lines

    best = ps.best
    assert best is not None
    out = ["", *uncertainty_lines(best.result)]
    block = best.result.get("uncertainty") or {}
    verdict = ranking_verdict(ps.top, ps.objective, training)
    if verdict is not None and verdict["says"]:
        out.append("  " + verdict["says"])
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
    rows = [[f"{i + 1}{'*' if _outside(row) else ''}", row.label, *_metrics_row(row, training)]
            for i, row in enumerate(ps.top)]
    if rows:
        lines += [f"Top {len(rows)}", table(["#", "plan", *columns], rows,
                                            align="rl" + "r" * len(columns))]
        if any(_tight(row.result) for row in ps.top):
            lines.append(f"  ! fills more than {TIGHT_MEMORY_SHARE:.0%} of its device's memory: "
                         "the runtime reserve is the only allowance, and the allocator's "
                         "fragmentation and communication buffers, not modelled, may not fit "
                         "beside it")
        lines += outside_lines(ps.top)
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
