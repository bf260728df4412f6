"""What a plan search returns: the top plans, the scenario's own plan, why the others lost."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archsim.planner import why

if TYPE_CHECKING:
    from archsim.planner.inference import InferencePoint
    from archsim.planner.space import Candidate

OBJECTIVES = ("throughput", "latency", "cost")

TIE_TOLERANCE = 1e-3
"""Relative difference in the objective within which plans tie: a judgement, far below the
error bar of any estimate here (4–13% cross-validated). A tie goes to the simpler plan."""

SAME = 0.005
"""Relative gap below which the scenario's plan counts as as good as the best found."""


def rank(rows: list[PlanRow], key: Callable[[dict[str, Any]], float]) -> list[PlanRow]:
    """``rows`` best first by ``key`` (smaller is better); plans within TIE_TOLERANCE of the
    first of their run are ordered by :func:`simplicity` (dp 8 before dp 2 · cp 4 at the same
    step time, which moves four times the bytes)."""
    ordered = sorted(rows, key=lambda r: key(r.result))
    out: list[PlanRow] = []
    i = 0
    while i < len(ordered):
        first = key(ordered[i].result)
        j = i + 1
        while j < len(ordered) and \
                abs(key(ordered[j].result) - first) <= TIE_TOLERANCE * abs(first):
            j += 1
        out += sorted(ordered[i:j], key=simplicity)
        i = j
    return out


def simplicity(row: PlanRow) -> tuple[int, float]:
    """Parallel dimensions above 1 (tp, pp, cp, ep), then bytes communicated per device."""
    c = row.candidate
    dims = sum(getattr(c, d, 1) > 1 for d in ("tp", "pp", "cp", "ep")) if c is not None else 0
    comm = row.result.get("communication", {}).get("bytes_per_device") or 0.0
    return dims, comm


@dataclass
class PlanRow:
    """One simulated plan with the metrics the planner ranks and shows."""

    candidate: Candidate | InferencePoint | None
    label: str
    result: dict[str, Any]

    @property
    def step_time_s(self) -> float:
        return self.result["step_time_s"]

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "plan": self.candidate.to_dict() if self.candidate else r.get("parallel"),
            "label": self.label,
            "feasible": r["feasible"],
            "step_time_s": r.get("step_time_s"),
            "ttft_s": r.get("ttft_s"), "tpot_s": r.get("tpot_s"),
            "e2e_latency_s": r.get("e2e_latency_s"),
            "tokens_per_s": r["tokens_per_s"],
            "mfu": r["mfu"],
            "memory_per_device_bytes": r["memory"]["peak_bytes_per_device"],
            "capacity_bytes": r["memory"]["capacity_bytes"],
            "cost_per_million_tokens_usd": r.get("cost_per_million_tokens_usd"),
            "time_breakdown": r.get("time_breakdown"),
            "infeasible_reasons": r["infeasible_reasons"],
            "above_published": list((r.get("uncertainty") or {}).get("above_published", [])),
            "uncertainty": error_bar(r),
        }


def error_bar(result: Mapping[str, Any]) -> dict[str, Any] | None:
    """The result's own ``uncertainty`` block (as ``archsim simulate --json`` gives it:
    ``intervals``, ``errors``, ``in_range``, ``out_of_range`` …) with ``labels``: each
    interval's band label ("likely (80%)", "likely (widened band)" …); None where the result
    has none (an infeasible plan)."""
    from archsim.accuracy import likely

    block = result.get("uncertainty")
    if not block:
        return None
    mode = result.get("mode", "")
    return {**copy.deepcopy(dict(block)),
            "labels": {key: likely(block, key, mode) for key in block.get("intervals", {})}}


def ranked_metric(objective: str, training: bool) -> str:
    """The result key the objective ranks by, whose own band judges the ranking."""
    return {"throughput": "tokens_per_s", "cost": "cost_per_million_tokens_usd"}.get(
        objective, "step_time_s" if training else "e2e_latency_s")


def band_spread(result: Mapping[str, Any], key: str) -> float | None:
    """Width of ``key``'s interval over its value (0.28: the interval spans 28% of it); None
    where the result has no interval for it."""
    band = ((result.get("uncertainty") or {}).get("intervals") or {}).get(key)
    value = result.get(key)
    if not band or not isinstance(value, (int, float)) or not value:
        return None
    return (band[1] - band[0]) / value


def ranking_verdict(top: Sequence[PlanRow], objective: str,
                    training: bool) -> dict[str, Any] | None:
    """Whether the second plan's gap behind the first is larger than the first plan's band of
    the ranked number: ``verdict`` ``tie`` (within TIE_TOLERANCE: the simpler plan ranks
    first), ``inside_band`` (not certain) or ``beyond_band``; ``says``: the line the text
    prints (None for ``beyond_band``). None with fewer than two plans or no band."""
    if len(top) < 2:
        return None
    key = ranked_metric(objective, training)
    value, second = top[0].result.get(key), top[1].result.get(key)
    span = band_spread(top[0].result, key)
    if not value or not second or span is None:
        return None
    gap = (value / second if key == "tokens_per_s" else second / value) - 1
    if abs(gap) <= TIE_TOLERANCE:
        verdict = "tie"
        says = (f"the second plan ties with it (within {100 * TIE_TOLERANCE:g}%): the simpler "
                "plan is ranked first (fewer parallel dimensions, then fewer bytes "
                "communicated)")
    elif gap < span:
        verdict = "inside_band"
        says = (f"the second plan is {100 * gap:.1f}% behind, inside the error bar's "
                f"{100 * span:.0f}% spread: the ranking of the top plans is not certain")
    else:
        verdict, says = "beyond_band", None
    return {"metric": key, "second_behind": gap, "spread": span, "verdict": verdict,
            "says": says}


def versus_best(best: PlanRow, given: PlanRow, objective: str,
                training: bool) -> dict[str, Any] | None:
    """How many times better the best plan is than the scenario's own by the objective
    (``ratio``: the given plan's price over the best's, the best's throughput over the given
    plan's, or the given plan's latency over the best's), whether that beats it by more than
    SAME (``better``) and whether the gain lies inside the best plan's band of the ranked
    number (``inside_band``: ratio − 1 below ``spread``; None where there is no band)."""
    key = ranked_metric(objective, training)
    mine, top = given.result.get(key), best.result.get(key)
    if not mine or not top:
        return None
    ratio = top / mine if key == "tokens_per_s" else mine / top
    span = band_spread(best.result, key)
    return {"metric": key, "ratio": ratio, "better": ratio > 1 + SAME, "spread": span,
            "inside_band": None if span is None else ratio - 1 < span}


@dataclass
class Loss:
    """Plans that lost for one reason, and the best of them."""

    reason: str
    count: int = 0
    best_label: str = ""
    best_time_s: float | None = None
    best_time_is_bound: bool = False
    detail: str = ""

    def add(self, label: str, time_s: float | None, detail: str, bound: bool,
            count: int = 1) -> None:
        self.count += count
        better = time_s is not None and (self.best_time_s is None or time_s < self.best_time_s)
        if not self.best_label or better:
            self.best_label, self.best_time_s = label, time_s
            self.best_time_is_bound, self.detail = bound, detail

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "count": self.count, "best_plan": self.best_label,
                "best_step_time_s": self.best_time_s,
                "best_step_time_is_lower_bound": self.best_time_is_bound,
                "detail": self.detail}


@dataclass
class PlanSearch:
    """What ``archsim plan`` reports: the top plans, the given plan, and why others lost."""

    scenario: str
    objective: str
    top: list[PlanRow]
    given: PlanRow
    counts: dict[str, int]
    losses: dict[str, Loss]
    wall_s: float
    hardware: str = ""
    bound_violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    """Wall seconds of enumeration (with the given plan's simulation), bounding and
    simulating the survivors."""

    @property
    def best(self) -> PlanRow | None:
        return self.top[0] if self.top else None

    @property
    def _training(self) -> bool:
        return self.given.result.get("mode") == "training"

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario, "hardware": self.hardware,
            "objective": self.objective,
            "top": [dict(row.to_dict(), rank=i + 1,
                         objective_value=objective_value(self.objective, row.result))
                    for i, row in enumerate(self.top)],
            "given_plan": self.given.to_dict(),
            "ranking": ranking_verdict(self.top, self.objective, self._training),
            "given_versus_best": (
                versus_best(self.best, self.given, self.objective, self._training)
                if self.best is not None and self.given.result.get("feasible") else None),
            "counts": dict(self.counts),
            "why_others_lost": [self.losses[r].to_dict() for r in why.REASONS
                                if r in self.losses and self.losses[r].count],
            "bound_violations": list(self.bound_violations),
            "notes": list(self.notes),
            "wall_s": self.wall_s,
            "timings_s": dict(self.timings),
        }


def objective_value(objective: str, result: Mapping[str, Any]) -> float | None:
    """The number the objective ranks by, as shown (tokens/s, seconds or USD/Mtok); latency is
    the step time in training and the end-to-end latency in inference."""
    if objective == "throughput":
        return result["tokens_per_s"]
    if objective == "latency":
        step = result.get("step_time_s")
        return step if step is not None else result.get("e2e_latency_s")
    return result.get("cost_per_million_tokens_usd")


