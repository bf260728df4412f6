"""The training report's answer and capacity plan: how long, how many devices, what cost."""

from __future__ import annotations

from typing import Any

from archsim.report import fmt
from archsim.report.capacity import (
    SECONDS_PER_DAY,
    RunEstimate,
    TrainingTarget,
    band_end_days,
    run_estimate,
    sustained,
)
from archsim.report.document import Section
from archsim.report.error_bar import error_bar_sentence
from archsim.report.scaling import ScalePoint
from archsim.spec.model import ModelSpec


def _plan_text(r: dict[str, Any]) -> str:
    par = r.get("parallel") or {}
    keys = [k for k in ("dp", "tp", "pp", "cp", "ep") if par.get(k, 1) != 1 or k == "dp"]
    return ", ".join(f"{k} {par[k]}" for k in keys if k in par)


def band_end_clause(p: Any, target: TrainingTarget, fix: Any, what: str = "devices") -> str:
    """What the upper end of point ``p``'s step-time band gives: its days, and, past the
    deadline, the count ``fix`` (the fewest that meet it there; None: none simulated does)."""
    slow = band_end_days(p, target.tokens)
    if slow is None:
        return ""
    head = f"at the upper end of its step-time band it takes {fmt.days(slow)}"
    if slow <= target.days:
        return f"{head}, still within {fmt.days(target.days)}"
    if fix is None:
        return f"{head}, past the deadline, and no {what} simulated meets it there"
    dp = f" (dp {fix.dp})" if getattr(fix, "dp", None) else ""
    return (f"{head}, past the deadline: there {fix.devices:,} {what}{dp} are needed, "
            f"{fmt.days(band_end_days(fix, target.tokens))}")


def answer_section(r: dict[str, Any], device_names: list[str], hw: str, model: ModelSpec | None,
            params: float | None, target: TrainingTarget | None, here: RunEstimate | None,
            best: ScalePoint | None, points: list[ScalePoint],
            best_slow: ScalePoint | None = None) -> Section:
    sec = Section("answer", "Question and answer")
    size = f" ({fmt.count(params)} parameters)" if params else ""
    device = device_names[0]
    devices = int(r.get("devices") or 0) or sum(p["count"] for p in r["hardware"]["pools"])
    if target is not None and len(device_names) > 1:
        question = (f"How long does it take, and at what cost, to train {r['model']}{size} on "
                    f"{fmt.count(target.tokens)} tokens on {hw}, and does it finish within "
                    f"{fmt.days(target.days)}?")
    elif target is not None:
        question = (f"How many {device} devices does it take to train {r['model']}{size} on "
                    f"{fmt.count(target.tokens)} tokens within {fmt.days(target.days)}, for how "
                    "long, and at what cost?")
    else:
        question = f"How fast and at what cost does {r['model']} train on {hw}?"
    sec.text("Question: " + question)
    if not r.get("feasible"):
        reasons = "; ".join(r.get("infeasible_reasons") or ["no reason recorded"])
        answer = (f"The plan as given ({hw}) does not run: {reasons}.")
        if best is not None and target is not None:
            est = run_estimate(best.devices, best.tokens_per_s or 0.0,
                               best.cost_per_million_tokens_usd, best.energy_per_token_j,
                               target.tokens)
            answer += (f" With the same tp/pp and dp {best.dp}, {best.devices} devices run it "
                       f"and meet the target: {fmt.days(est.days)}, {fmt.money(est.cost_usd)}.")
        sec.text("Answer: " + answer)
        return sec
    tps, _ = sustained(r)
    with_ckpt = (r.get("io") or {}).get("step_time_with_checkpoint_s")
    step = (f"On {hw} ({_plan_text(r)}) one step takes {fmt.human_time(r['step_time_s'])}"
            + (f" ({fmt.human_time(with_ckpt)} with checkpoint writes amortized), "
               f"{fmt.rate(tps, 'tokens/s')} sustained" if tps != r["tokens_per_s"]
               else f", {fmt.rate(tps, 'tokens/s')}"))
    if here is None or target is None:
        sec.text(f"Answer: {step}; cost {fmt.money(r.get('cost_per_million_tokens_usd'))} per "
                 "million tokens.")
        bar = error_bar_sentence(r)
        if bar:
            sec.text(bar)
        return sec
    first = (f"{step}, so {fmt.count(target.tokens)} tokens take {fmt.days(here.days)} and cost "
             f"{fmt.money(here.cost_usd)} ({fmt.kwh(here.energy_kwh)}).")
    if best is None and not points:
        verb = "finishes" if here.days <= target.days else "does not finish"
        second = (f"That {verb} within {fmt.days(target.days)}; no other device count was "
                  "simulated.")
    elif best is None:
        top = max((p for p in points if p.feasible and p.tokens_per_s), default=None,
                  key=lambda p: p.tokens_per_s or 0.0)
        second = (f"No device count with this tp/pp and global batch reaches "
                  f"{fmt.days(target.days)}" + (
                      f"; the fastest simulated, {top.devices} devices, needs "
                      f"{fmt.days(target.tokens / (top.tokens_per_s or 1) / SECONDS_PER_DAY)}"
                      if top else "") + ": a larger global batch or another plan is needed.")
    else:
        est = run_estimate(best.devices, best.tokens_per_s or 0.0,
                           best.cost_per_million_tokens_usd, best.energy_per_token_j,
                           target.tokens)
        band = band_end_clause(best, target, best_slow)
        if best.devices == devices:
            second = (f"{devices} devices are also the fewest that finish within "
                      f"{fmt.days(target.days)}" + (f"; {band}." if band else "."))
        else:
            verb = "needs only" if best.devices < devices else "needs"
            second = (f"Finishing within {fmt.days(target.days)} {verb} {best.devices} devices "
                      f"(dp {best.dp}): {fmt.days(est.days)}, {fmt.money(est.cost_usd)}"
                      + (f"; {band}." if band else "."))
    sec.text("Answer: " + first + " " + second)
    bar = error_bar_sentence(r, here.days, here.cost_usd)
    if bar:
        sec.text(bar)
    return sec


def capacity_section(r: dict[str, Any], devices: int, target: TrainingTarget | None,
              here: RunEstimate | None, best: ScalePoint | None, points: list[ScalePoint],
              best_slow: ScalePoint | None = None) -> Section:
    sec = Section("capacity", "Capacity plan")
    tps, cpm = sustained(r)
    ept = r.get("energy_per_token_j")
    label = "throughput" if tps == r.get("tokens_per_s") else \
        "throughput (sustained, checkpoint writes included)"
    rows = [(label, fmt.rate(tps, "tokens/s") if r.get("feasible") else "does not run"),
            ("tokens per day", f"{fmt.count(tps * SECONDS_PER_DAY)} tokens"
             if tps and r.get("feasible") else "-"),
            ("cost per million tokens", fmt.money(cpm) if r.get("feasible") else "-"),
            ("energy per million tokens", fmt.kwh(ept * 1e6 / 3.6e6)
             if ept and r.get("feasible") else "-")]
    if target is not None and here is not None and r.get("feasible"):
        rows += [(f"time to train {fmt.count(target.tokens)} tokens", fmt.days(here.days)),
                 ("cost of the run", fmt.money(here.cost_usd)),
                 ("energy of the run", fmt.kwh(here.energy_kwh))]
    sec.table(["at the simulated plan", f"{devices} devices"], rows)
    if target is None:
        sec.text("No target: the model is not in the registry, so give --train-tokens.")
        return sec
    need = target.tokens_per_s
    sec.text(f"Target: {fmt.count(target.tokens)} tokens within {fmt.days(target.days)} = "
             f"{fmt.rate(need, 'tokens/s')} sustained ({target.note}).")
    if best is not None:
        est = run_estimate(best.devices, best.tokens_per_s or 0.0,
                           best.cost_per_million_tokens_usd, best.energy_per_token_j,
                           target.tokens)
        rows = [("devices", f"{best.devices} (dp {best.dp})"),
                ("throughput", fmt.rate(best.tokens_per_s, "tokens/s")),
                ("time to train", fmt.days(est.days)),
                ("cost", fmt.money(est.cost_usd)),
                ("energy", fmt.kwh(est.energy_kwh))]
        slow = band_end_days(best, target.tokens)
        if slow is not None:
            rows += [("time to train at the upper end of the step-time band", fmt.days(slow)),
                     ("fewest devices that meet the target there",
                      f"{best_slow.devices} (dp {best_slow.dp}): "
                      f"{fmt.days(band_end_days(best_slow, target.tokens))}"
                      if best_slow is not None else "none simulated")]
        sec.table(["fewest devices that meet the target", "value"], rows,
                  caption="The upper end of the step-time band: the step time's calibrated "
                          "interval (see the answer's error bar) at each device count's own "
                          "simulation; time to train scales with the step time."
                  if slow is not None else "")
        below = max((p for p in points if p.dp < best.dp), default=None, key=lambda p: p.dp)
        sec.text(f"Found among the data-parallel degrees that divide the global batch and "
                 f"fill whole nodes ({len(points)} device counts simulated, see the scaling "
                 "section); "
                 + (f"the next smaller one, {below.devices} devices, "
                    + (f"reaches only {fmt.rate(below.tokens_per_s, 'tokens/s')}."
                       if below.feasible else "does not run.")
                    if below is not None else "no smaller count divides the batch."))
    elif points:
        sec.text("No simulated device count meets the target with this plan and global batch.")
    else:
        sec.text("Other device counts were not simulated (see \"Not in this report\"), so "
                 "the fewest devices that meet the target are not known.")
    return sec
