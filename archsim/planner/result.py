"""What a plan search returns: the top plans, the scenario's own plan, why the others lost."""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
        }


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario, "hardware": self.hardware,
            "objective": self.objective,
            "top": [dict(row.to_dict(), rank=i + 1,
                         objective_value=objective_value(self.objective, row.result))
                    for i, row in enumerate(self.top)],
            "given_plan": self.given.to_dict(),
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


