"""Why a plan lost: one reason per plan, with the numbers that make it.

* ``divisibility`` — the degrees do not divide devices, heads, layers, batch or sequence.
* ``memory`` — it does not fit: its memory lower bound (pruned) or its simulated peak
  exceeds the device's capacity.
* ``bubbles`` / ``communication`` / ``recomputation`` / ``compute`` / ``optimizer`` — it fits
  but is slower than the best plan; the reason is the part of the step time in which it
  exceeds the best plan the most (pipeline bubble; exposed communication; recomputed
  forward passes; compute proper, e.g. smaller and less efficient kernels; the optimizer
  step). For a plan pruned by the time bound the parts are those of its lower bound: their
  sum bounds its simulated step from below, a single part need not (the bound may place time
  in another part than the simulation would).
* ``cost`` — with the cost objective: it is not slower than the best plan but costs more per
  token (more devices, or pricier ones).
* ``infeasible`` — the simulation found another reason it cannot run.
"""

from __future__ import annotations

from collections.abc import Mapping

from archsim.planner.bounds import PlanBound
from archsim.textfmt import human_bytes, human_time

REASONS = ("memory", "cost", "bubbles", "communication", "recomputation", "compute",
           "optimizer", "divisibility", "infeasible")
TIME_PARTS = {"bubble_s": "bubbles", "comm_s": "communication",
              "recompute_s": "recomputation", "compute_s": "compute",
              "optimizer_s": "optimizer"}
_PART_WORDS = {"bubble_s": "pipeline bubble", "comm_s": "exposed communication",
               "recompute_s": "recomputation", "compute_s": "compute",
               "optimizer_s": "optimizer step"}


def result_parts(result: Mapping) -> dict[str, float]:
    """The step-time parts of a simulated training result (time_breakdown), named as the
    bound names them."""
    tb = result["time_breakdown"]
    return {"compute_s": tb["compute_s"], "recompute_s": tb["recompute_s"],
            "comm_s": tb["exposed_comm_s"], "bubble_s": tb["bubble_s"],
            "optimizer_s": tb["optimizer_s"]}


def slower_reason(parts: Mapping[str, float], best: Mapping[str, float], bound: bool = False
                  ) -> tuple[str, str]:
    """(reason, detail) for a plan whose step-time parts are ``parts`` against the best
    plan's ``best``: the part with the largest excess."""
    key = max(TIME_PARTS, key=lambda k: parts[k] - best[k])
    excess = parts[key] - best[key]
    if excess <= 0:
        return "compute", "slower overall by less than any single part"
    where = " in its lower bound" if bound else ""
    return TIME_PARTS[key], (f"{_PART_WORDS[key]} {human_time(parts[key])}{where} vs "
                             f"{human_time(best[key])} in the best plan")


def costlier_detail(step_s: float, usd: float, devices: int, best_step_s: float,
                    best_usd: float, best_devices: int, bound: bool = False) -> str:
    """Why a plan no slower than the best costs more: its devices and price per token."""
    ge = "≥ " if bound else ""
    return (f"step {ge}{human_time(step_s)} vs {human_time(best_step_s)}, but on {devices} "
            f"devices vs {best_devices}: {ge}${usd:.3g} per million tokens vs ${best_usd:.3g}")


def memory_detail_from_bound(b: PlanBound) -> str:
    mp = b.memory_parts
    return (f"needs ≥ {human_bytes(b.memory_bytes)} per device, has "
            f"{human_bytes(b.capacity_bytes)} (stage {mp['stage']}: model states "
            f"{human_bytes(mp['weights'] + mp['gradients'] + mp['optimizer_states'])}, "
            f"activations of {mp['micro_batches_alive']:g} micro-batches "
            f"{human_bytes(mp['activations'])})")


def infeasible_reason(result: Mapping) -> tuple[str, str]:
    """(reason, detail) for a simulated plan with ``feasible: false``."""
    reasons = list(result.get("infeasible_reasons") or [])
    text = "; ".join(reasons) or "infeasible"
    if any("per device, has" in r for r in reasons):
        return "memory", text
    if any("divisible" in r or "must divide" in r for r in reasons):
        return "divisibility", text
    return "infeasible", text
