"""The training capacity report: how many devices, for how long, at what cost — with evidence.

Sections (each where the input allows): question and answer; inputs and assumptions; sources of
the profile numbers; step-time breakdown; memory per stage against capacity; timeline of one
step; roofline of the ops; scaling curves; the capacity plan; validation error of the profile.
"""

from __future__ import annotations

from typing import Any

from archsim.report import fmt, plots, plots_compare
from archsim.report.capacity import (
    SECONDS_PER_DAY,
    RunEstimate,
    TrainingTarget,
    default_target,
    fewest_devices,
    model_parameters,
    run_estimate,
    sustained,
)
from archsim.report.document import Plot, Report, Section
from archsim.report.inputs import ReportInput
from archsim.report.options import ReportOptions
from archsim.report.roofline import roofline_section
from archsim.report.scaling import ScalePoint, can_scale, scaling_points, simulate_at
from archsim.report.sections import (
    compression_section,
    memory_section,
    result_rows,
    scenario_rows,
    sources_section,
    validation_caveat,
    validation_section,
)
from archsim.report.timeline import timeline_plot
from archsim.spec.model import ModelSpec

BREAKDOWN_LABELS = {"compute_s": "compute", "recompute_s": "recompute",
                    "exposed_comm_s": "exposed communication", "bubble_s": "pipeline bubble",
                    "optimizer_s": "optimizer step", "io_s": "exposed data loading"}


def _model(inp: ReportInput) -> ModelSpec | None:
    if inp.scenario is not None:
        return inp.scenario.model
    from archsim.spec.errors import SpecError
    from archsim.spec.loader import load_spec_file

    try:
        spec = load_spec_file("models", str((inp.result or {}).get("model")))
    except SpecError:  # a model given inline in the scenario has no registry entry
        return None
    return spec if isinstance(spec, ModelSpec) else None


def training_report(inp: ReportInput, opts: ReportOptions) -> Report:
    r = inp.result
    assert r is not None
    sc = inp.scenario
    devices = sum(p["count"] for p in r["hardware"]["pools"])
    hw = " + ".join(f"{p['count']} × {p['device']}" for p in r["hardware"]["pools"])
    device_names = list(dict.fromkeys(p["device"] for p in r["hardware"]["pools"]))
    model = _model(inp)
    params = model_parameters(model) if model is not None else None
    target = default_target(model, opts.train_tokens, opts.days) if model is not None else (
        TrainingTarget(opts.train_tokens, opts.days or 30.0, "--train-tokens, --days")
        if opts.train_tokens else None)
    omitted: list[tuple[str, str]] = []

    points: list[ScalePoint] = []
    best: ScalePoint | None = None
    why_not = "the input is a result JSON (no scenario to re-simulate)" if sc is None else \
        can_scale(sc) or (None if opts.scaling else "--no-scaling was given")
    if sc is not None and why_not is None:
        base_dp = int(r["parallel"]["dp"]) if r.get("parallel") else 1
        points = scaling_points(sc, base_dp)
        if target is not None:
            best, points = fewest_devices(sc, points, target.tokens_per_s, simulate_at)

    here = _estimate(r, devices, target)
    answer = _answer(r, device_names, hw, model, params, target, here, best, points)
    for name in device_names:
        caveat = validation_caveat(name, "training")
        if caveat:
            answer.text(caveat)
    sections = [answer, _inputs(inp, params, target)]
    if r.get("time_breakdown") and r.get("step_time_s"):
        sections.append(_breakdown(r))
    else:
        omitted.append(("Step-time breakdown", "the plan does not run, so no step was simulated"))
    sections.append(memory_section(r))
    if inp.spans:
        sections.append(_timeline(r, inp.spans))
    else:
        omitted.append(("Timeline of one step", "no trace: "
                        + ("the input is a result JSON; report the scenario to get one"
                           if sc is None else "the plan does not run")))
    if sc is not None:
        roof = roofline_section(sc)
        if roof is not None:
            sections.append(roof)
        else:
            omitted.append(("Roofline of the ops", "the plan does not divide the model"))
    else:
        omitted.append(("Roofline of the ops", "needs the scenario (the result JSON has no op "
                                               "shapes)"))
    if points:
        sections.append(_scaling(r, points, devices))
    else:
        omitted.append(("Scaling curves", why_not or "no other device count divides the batch"))
    sections.append(_capacity(r, devices, target, here, best, points))
    comp = compression_section(r)
    if comp is not None:
        sections.append(comp)
    sections.append(_sources(inp))
    for i, name in enumerate(device_names):
        sec = validation_section(name, "training")
        if i:
            sec.id, sec.title = f"validation-{name}", f"Validation error of the {name} profile"
        sections.append(sec)
    title = f"Training capacity plan: {r['model']} on {' + '.join(device_names)}"
    subtitle = (f"{r['name']} — {hw}; generated by archsim from "
                f"{'scenario' if sc is not None else 'result'} {inp.source}")
    return Report(title, subtitle, sections, omitted)


# ----------------------------------------------------------------------------- helpers

def _sources(inp: ReportInput) -> Section:
    if inp.scenario is not None:
        cluster = inp.scenario.cluster
        pools = cluster.pools
        return sources_section(
            [p.device for p in pools],
            [link for p in pools for link in (p.intra_node, p.inter_node) if link is not None]
            + [link.interconnect for link in cluster.links])
    hw = (inp.result or {})["hardware"]["pools"]
    return sources_section([p["device"] for p in hw],
                           [n for p in hw for n in (p.get("intra_node"), p.get("inter_node"))
                            if n])


def _estimate(r: dict[str, Any], devices: int, target: TrainingTarget | None
              ) -> RunEstimate | None:
    tps, cpm = sustained(r)
    if target is None or not r.get("feasible") or not tps:
        return None
    return run_estimate(devices, tps, cpm,
                        r.get("energy_per_token_j"), target.tokens)


def _plan_text(r: dict[str, Any]) -> str:
    par = r.get("parallel") or {}
    keys = [k for k in ("dp", "tp", "pp", "cp", "ep") if par.get(k, 1) != 1 or k == "dp"]
    return ", ".join(f"{k} {par[k]}" for k in keys if k in par)


def _answer(r: dict[str, Any], device_names: list[str], hw: str, model: ModelSpec | None,
            params: float | None, target: TrainingTarget | None, here: RunEstimate | None,
            best: ScalePoint | None, points: list[ScalePoint]) -> Section:
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
        if best.devices == devices:
            second = (f"{devices} devices are also the fewest that finish within "
                      f"{fmt.days(target.days)}.")
        else:
            verb = "needs only" if best.devices < devices else "needs"
            second = (f"Finishing within {fmt.days(target.days)} {verb} {best.devices} devices "
                      f"(dp {best.dp}): {fmt.days(est.days)}, {fmt.money(est.cost_usd)}.")
    sec.text("Answer: " + first + " " + second)
    return sec


def _inputs(inp: ReportInput, params: float | None, target: TrainingTarget | None) -> Section:
    sec = Section("inputs", "Inputs and assumptions")
    rows = scenario_rows(inp.scenario, params) if inp.scenario is not None else \
        result_rows(inp.result or {})
    sec.table(["part", "value"], rows)
    items = []
    if target is not None:
        items.append(f"Target: {fmt.count(target.tokens)} tokens within "
                     f"{fmt.days(target.days)} ({target.note}).")
    items += [
        "Time to train = tokens / simulated throughput; every step is the simulated step. "
        "Failures, restarts, checkpoints, evaluation and data-loading stalls are not included.",
        "Cost = devices × the profile's price per device-hour × time; no networking, storage "
        "or staff costs.",
        "Energy = devices × (TDP while computing + idle power otherwise); cooling and facility "
        "overhead (PUE) are not included. TDP while busy is an upper bound, so energy errs high.",
        "Scaling varies only the data-parallel degree at the same global batch, tp, pp and "
        "micro-batch.",
    ]
    sec.bullets(items)
    return sec


def _breakdown(r: dict[str, Any]) -> Section:
    tb, step = r["time_breakdown"], r["step_time_s"]
    parts = [(BREAKDOWN_LABELS.get(k, k.removesuffix("_s").replace("_", " ")), float(v))
             for k, v in tb.items() if k.endswith("_s") and isinstance(v, (int, float)) and v > 0]
    sec = Section("step-time", "Step-time breakdown")
    crit = tb.get("critical_stage")
    sec.text(f"Where one optimizer step of {fmt.human_time(step)} goes on the critical pipeline "
             f"stage ({crit}). Exposed communication is the part not hidden behind compute; "
             "recompute is the forward pass redone in the backward (activation checkpointing).")
    sec.add(Plot("step_time", f"Step time on stage {crit}, by part (seconds and share)",
                 plots.breakdown_plot(parts, step, "Where the step time goes")))
    rows = [(name, fmt.human_time(v), fmt.pct(v / step)) for name, v in parts]
    rows.append(("step", fmt.human_time(step), fmt.pct(sum(v for _, v in parts) / step)))
    sec.table(["part", "time", "share of step"], rows)
    comm = r.get("communication") or {}
    kinds = [(k, v) for k, v in (comm.get("by_kind") or {}).items()
             if v.get("time_s") or v.get("bytes")]
    if kinds:
        sec.table(["collective", "time per step", "bytes per device"],
                  [(k, fmt.human_time(v["time_s"]), fmt.human_bytes(v["bytes"]))
                   for k, v in kinds],
                  caption=f"Communication of the critical stage: "
                          f"{fmt.human_time(comm.get('total_time_s'))} in total, "
                          f"{fmt.human_time(comm.get('exposed_time_s'))} exposed.")
    ckpt = (r.get("io") or {}).get("checkpoint")
    if isinstance(ckpt, dict) and ckpt.get("interval_steps"):
        with_ckpt = r["io"].get("step_time_with_checkpoint_s")
        sec.text(f"Checkpoints ({ckpt.get('mode', '?')}): {fmt.human_bytes(ckpt.get('bytes'))} "
                 f"every {ckpt['interval_steps']} steps to {r['io'].get('storage', 'storage')}, "
                 f"{fmt.human_time(ckpt.get('exposed_s'))} of waiting each, "
                 f"{fmt.human_time(ckpt.get('amortized_s_per_step'))} per step amortized: an "
                 f"average step takes {fmt.human_time(with_ckpt)}. The capacity plan uses that "
                 "sustained rate.")
    mfu, hfu = r.get("mfu"), r.get("hfu")
    if mfu is not None:
        sec.text(f"Model FLOPs utilization {fmt.pct(mfu)}, hardware FLOPs utilization "
                 f"{fmt.pct(hfu)}, {r.get('tflops_per_device', 0):.1f} TFLOP/s per device.")
    return sec


def _timeline(r: dict[str, Any], spans: list) -> Section:
    sec = Section("timeline", "Timeline of one step")
    png, note = timeline_plot(spans, f"One training step of {r['name']}")
    par = r.get("parallel") or {}
    sec.text(f"One optimizer step as simulated: {par.get('micro_batches', '?')} micro-batches "
             f"per pipeline under the {par.get('schedule', '?')} schedule; backward bars include "
             "recomputation. " + note)
    sec.add(Plot("timeline", "Gantt chart of one step: compute and communication per track",
                 png))
    return sec


def _scaling(r: dict[str, Any], points: list[ScalePoint], devices: int) -> Section:
    sec = Section("scaling", "Scaling with the number of devices")
    base = next((p for p in points if p.devices == devices), None)
    png = plots_compare.scaling_plot([p.devices for p in points], [p.tokens_per_s for p in points],
                             [p.feasible for p in points], devices, "tokens/s",
                             "Throughput and scaling efficiency (data parallel)")
    sec.text("The scenario simulated again with more and fewer data-parallel replicas (same "
             "global batch, so fewer micro-batches per pipeline as replicas are added). "
             "Efficiency is throughput per device relative to the scenario as given.")
    sec.add(Plot("scaling", "Throughput and scaling efficiency against the device count", png))
    rows = []
    for p in points:
        eff = (p.tokens_per_s / p.devices) / (base.tokens_per_s / base.devices) \
            if base and base.tokens_per_s and p.tokens_per_s else None
        rows.append((str(p.devices), str(p.dp), fmt.human_time(p.step_time_s),
                     fmt.rate(p.tokens_per_s, "tokens/s"), fmt.pct(eff),
                     fmt.money(p.cost_per_million_tokens_usd),
                     "yes" if p.feasible else "no: " + "; ".join(p.reasons)))
    sec.table(["devices", "dp", "step time", "throughput", "efficiency", "$ per M tokens",
               "feasible"], rows)
    return sec


def _capacity(r: dict[str, Any], devices: int, target: TrainingTarget | None,
              here: RunEstimate | None, best: ScalePoint | None, points: list[ScalePoint]
              ) -> Section:
    sec = Section("capacity", "Capacity plan")
    tps, cpm = sustained(r)
    ept = r.get("energy_per_token_j")
    label = "throughput" if tps == r.get("tokens_per_s") else \
        "throughput (sustained, checkpoint writes included)"
    rows = [(label, fmt.rate(tps, "tokens/s") if r.get("feasible") else "does not run"),
            ("tokens per day", f"{fmt.count(tps * SECONDS_PER_DAY)} tokens"
             if tps and r.get("feasible") else "-"),
            ("cost per million tokens", fmt.money(cpm)),
            ("energy per million tokens", fmt.kwh(ept * 1e6 / 3.6e6) if ept else "-")]
    if target is not None and here is not None:
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
        sec.table(["fewest devices that meet the target", "value"],
                  [("devices", f"{best.devices} (dp {best.dp})"),
                   ("throughput", fmt.rate(best.tokens_per_s, "tokens/s")),
                   ("time to train", fmt.days(est.days)),
                   ("cost", fmt.money(est.cost_usd)),
                   ("energy", fmt.kwh(est.energy_kwh))])
        below = max((p for p in points if p.dp < best.dp), default=None, key=lambda p: p.dp)
        sec.text(f"Found by bisecting over the data-parallel degrees that divide the global "
                 f"batch ({len(points)} device counts simulated); "
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
