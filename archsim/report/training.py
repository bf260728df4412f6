"""The training capacity report: how many devices, for how long, at what cost — with evidence.

Sections (each where the input allows): question and answer; inputs and assumptions; sources of
the profile numbers; step-time breakdown; memory per stage against capacity; timeline of one
step; roofline of the ops; scaling curves; the capacity plan; validation error of the profile.
"""

from __future__ import annotations

from typing import Any

from archsim.report import fmt, plots
from archsim.report.capacity import (
    RunEstimate,
    TrainingTarget,
    default_target,
    fewest_devices,
    model_parameters,
    run_estimate,
    slow_tokens_per_s,
    sustained,
)
from archsim.report.compression import compression_section
from archsim.report.document import Plot, Report, Section
from archsim.report.inputs import ReportInput
from archsim.report.options import ReportOptions
from archsim.report.roofline import roofline_section
from archsim.report.scaling import ScalePoint, can_scale, scaling_points, simulate_at
from archsim.report.sections import (
    calibration_of,
    memory_section,
    result_rows,
    scenario_rows,
    sources_section,
    validation_caveat,
    validation_section,
)
from archsim.report.timeline import timeline_plot
from archsim.report.training_answer import answer_section, capacity_section
from archsim.report.training_planner import PlannedPoint, best_plan_at, planner_counts
from archsim.report.training_scaling import planner_sentence, scaling_section
from archsim.spec.model import ModelSpec

BREAKDOWN_LABELS = {"teacher_forward_s": "teacher forward (distillation)",
                    "compute_s": "compute", "recompute_s": "recompute",
                    "exposed_comm_s": "exposed communication", "bubble_s": "pipeline bubble",
                    "optimizer_s": "optimizer step", "io_s": "exposed data loading",
                    "overhead_s": "fixed overhead per step",
                    "host_wait_s": "device waiting for the host to issue ops"}


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
    best_slow: ScalePoint | None = None  # the fewest at the step-time band's upper end
    why_not = "the input is a result JSON (no scenario to re-simulate)" if sc is None else \
        can_scale(sc) or (None if opts.scaling else "--no-scaling was given")
    planned: list[PlannedPoint] = []
    if sc is not None and why_not is None:
        base_dp = int(r["parallel"]["dp"]) if r.get("parallel") else 1
        points = scaling_points(sc, base_dp)
        if target is not None:
            best, points = fewest_devices(sc, points, target.tokens_per_s, simulate_at)
            best_slow, points = fewest_devices(sc, points, target.tokens_per_s, simulate_at,
                                               rate=slow_tokens_per_s)
        if opts.planner:
            keep = [devices] + ([best.devices] if best is not None else [])
            planned = [best_plan_at(sc, n)
                       for n in planner_counts([p.devices for p in points], keep)]

    here = _estimate(r, devices, target)
    answer = answer_section(r, device_names, hw, model, params, target, here, best, points,
                            best_slow)
    more = planner_sentence(planned, target, best)
    if more:  # also where the plan as given does not run: the planner's plans may
        answer.text(more)
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
        sections.append(scaling_section(r, points, devices, target, best, planned))
    else:
        omitted.append(("Scaling curves", why_not or "no other device count divides the batch"))
    if points and not planned:
        omitted.append(("The planner's best plan at other device counts",
                        "--no-planner was given" if not opts.planner else
                        "the planner found nothing to search"))
    sections.append(capacity_section(r, devices, target, here, best, points, best_slow))
    comp = compression_section(r)
    if comp is not None:
        sections.append(comp)
    sections.append(_sources(inp))
    for i, name in enumerate(device_names):
        sec = validation_section(name, "training", calibration_of(r))
        if i:
            sec.id, sec.title = f"validation-{name}", f"Validation error of the {name} profile"
        sections.append(sec)
    dist = r.get("distillation") if isinstance(r.get("distillation"), dict) else {}
    what = (f"Distillation training plan: {r['model']} from teacher {dist['teacher']}"
            if dist.get("teacher") else f"Training capacity plan: {r['model']}")
    title = f"{what} on {' + '.join(device_names)}"
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
    # with the checkpoint pauses, as ``sustained`` counts them in time and cost (the devices
    # idle meanwhile)
    ept = (r.get("io") or {}).get("energy_per_token_with_checkpoint_j") or \
        r.get("energy_per_token_j")
    return run_estimate(devices, tps, cpm, ept, target.tokens)


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
        "The scaling curve varies only the data-parallel degree at the same global batch, "
        "tp, pp and micro-batch; the planner's best plans beside it vary the whole plan "
        "(within the space the scaling section names).",
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


