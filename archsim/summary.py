"""Readable text summaries of results (what ``archsim simulate`` prints without --json).

Each mode registers a renderer in ``RENDERERS``; common sections (memory, communication,
energy/cost) are shared.
"""

from __future__ import annotations

from collections.abc import Callable

from archsim.accuracy import uncertainty_lines
from archsim.metrics.cluster_summary import cluster_lines
from archsim.result import Result
from archsim.spec.errors import plural
from archsim.textfmt import human_bytes, human_energy, human_time, num, pct, table, usd

RENDERERS: dict[str, Callable[[dict], list[str]]] = {}


def renderer(mode: str) -> Callable[[Callable[[dict], list[str]]], Callable[[dict], list[str]]]:
    def wrap(fn: Callable[[dict], list[str]]) -> Callable[[dict], list[str]]:
        if mode in RENDERERS:
            raise ValueError(f"summary renderer for {mode!r} registered twice")
        RENDERERS[mode] = fn
        return fn

    return wrap


def render_summary(result: Result) -> str:
    d = result.to_dict()
    lines = [f"{d['name']} — {_what(d)} on {_hardware(d)}"]
    if not d["feasible"]:
        lines.append("")
        lines.append("INFEASIBLE:")
        lines.extend(f"  - {r}" for r in d["infeasible_reasons"])
        if d.get("memory", {}).get("peak_bytes_per_device") is None:
            return "\n".join(lines)
    body = RENDERERS.get(d["mode"])
    if body is not None:
        lines.append("")
        lines.extend(body(d))
    if d.get("uncertainty"):
        lines.append("")
        lines.extend(uncertainty_lines(d))
    if d.get("compression"):
        lines.append("")
        lines.extend(compression_section(d["compression"]))
    # warnings outside a compression block (a distillation training job has none: its
    # student-larger-than-teacher warning had reached the JSON only) and a distillation's
    # user-supplied accuracy note
    shown = (d.get("compression") or {}).get("warnings") or []
    extra = [w for w in d.get("warnings") or [] if w not in shown]
    note = (d.get("distillation") or {}).get("accuracy_note")
    if extra or note:
        lines.append("")
        lines.extend(f"WARNING: {w}" for w in extra)
        if note:
            lines.append(f"accuracy (user-supplied, not simulated): {note['text']}")
    lines.append("")
    lines.extend(memory_section(d))
    lines.append("")
    lines.extend(communication_section(d))
    lines.append("")
    lines.extend(energy_section(d))
    sim = d.get("sim", {})
    lines.append("")
    events = sim.get("events")
    lines.append(f"simulated with {sim.get('engine')} in {human_time(sim.get('wall_s'))} "
                 f"({'?' if events is None else plural(events, 'event')})")
    return "\n".join(lines)


def _used(d: dict) -> dict[str, int]:
    """Devices a serving placement runs on, per pool name (empty: every pool's all)."""
    used: dict[str, int] = {}
    for g in d.get("groups") or []:
        if isinstance(g, dict) and g.get("pool") is not None:
            n = g.get("replicas", 1) * g.get("tp", 1) * g.get("pp", 1)
            used[g["pool"]] = used.get(g["pool"], 0) + n
    return used


def _unused_devices(d: dict) -> int:
    """Devices of the cluster a serving placement leaves out (they cost nothing here)."""
    used = _used(d)
    if not used:
        return 0
    return sum(max(0, p["count"] - used.get(p.get("name"), 0)) for p in d["hardware"]["pools"])


def _hardware(d: dict) -> str:
    """'8× h100-sxm5-80gb', or '2 of 8× h100-sxm5-80gb, 12× inferentia2' where a serving
    placement uses fewer devices of a pool than the cluster has."""
    used = _used(d)
    parts = []
    for p in d["hardware"]["pools"]:
        n = used.get(p.get("name"), 0 if used else p["count"])
        if n == 0:
            parts.append(f"{p['count']}× {p['device']} (unused)")
        elif n < p["count"]:
            parts.append(f"{n} of {p['count']}× {p['device']}")
        else:
            parts.append(f"{p['count']}× {p['device']}")
    return ", ".join(parts)


def _what(d: dict) -> str:
    """'training of llama2-7b', 'distillation of llama2-7b from teacher llama2-70b', ..."""
    dist = d.get("distillation")
    if d["mode"] == "training" and isinstance(dist, dict) and dist.get("teacher"):
        return f"distillation training of {d['model']} from teacher {dist['teacher']}"
    if d.get("encoder"):
        return f"encoder inference of {d['model']}"
    return f"{d['mode']} of {d['model']}"


def metric_value(key: str, value: object) -> str:
    """A result metric as a reader wants it: times, bytes, money, shares, rates."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-" if value is None else str(value)
    if "bytes" in key or key.startswith("memory."):
        return human_bytes(value)
    if key.endswith("_usd"):
        return usd(value)
    if key.endswith("_j"):
        return f"{num(value, 3)} J"
    if key in ("mfu", "hfu", "slo_attainment", "memory_headroom"):
        return pct(value)
    if key.endswith("_per_s") or key == "goodput_rps":
        from archsim.labels import unit

        text = f"{value:,.1f}" if value < 1e4 else f"{value:,.0f}"
        return f"{text} {unit(key)}".rstrip()
    if key.endswith("_s"):
        return human_time(value)
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return num(value)


def compression_section(block: dict) -> list[str]:
    from archsim.labels import short_label

    base, comp, ratios = block["baseline"], block["compressed"], block["ratios"]
    rows = []
    for key, ratio in ratios.items():
        b, c = base.get(key), comp.get(key)
        if b is None and c is None:
            continue
        rows.append([short_label(key), metric_value(key, b), metric_value(key, c),
                     "-" if ratio is None else f"{ratio:.3f}×"])
    out = [f"Compression: {base.get('model')} baseline vs compressed",
           table(["metric", "baseline", "compressed", "compressed / baseline"], rows)]
    for side, part in (("baseline", base), ("compressed", comp)):
        if part.get("feasible") is False:
            reasons = "; ".join(part.get("infeasible_reasons") or ["no reason recorded"])
            out.append(f"  the {side} does not run ({reasons}): its speed, energy and cost are "
                       "not compared")
    out.extend(f"  note: {n}" for n in block.get("notes", []))
    out.extend(f"  WARNING: {w}" for w in block.get("warnings", []))
    if block.get("accuracy_note"):
        note = block["accuracy_note"]
        out.append(f"  accuracy (user-supplied, not simulated): {note['text']}")
    return out


MEMORY_LABELS = {"weights": "weights", "gradients": "gradients",
                 "optimizer_states": "optimizer states", "activations": "activations",
                 "kv_cache": "kv cache", "teacher": "teacher weights + logits", "other": "other"}


def memory_section(d: dict) -> list[str]:
    mem = d["memory"]
    b = mem["breakdown"]
    rows = [[MEMORY_LABELS.get(k, k.replace("_", " ")), human_bytes(b.get(k))] for k in
            MEMORY_LABELS if b.get(k)]
    rows.append(["peak per device", human_bytes(mem["peak_bytes_per_device"])])
    rows.append(["capacity", human_bytes(mem["capacity_bytes"])])
    return ["Memory per device (busiest stage)", table(["part", "bytes"], rows)]


def communication_section(d: dict) -> list[str]:
    comm = d["communication"]
    # buffer bytes S (nccl-tests' size) and what the device sends of them on a ring
    # (archsim/result.py): only the second compares kinds
    rows = [[kind, human_time(v["time_s"]), human_bytes(v["bytes"]),
             human_bytes(v.get("wire_bytes"))]
            for kind, v in comm["by_kind"].items() if v["time_s"] or v["bytes"]]
    kv = d.get("kv_transfer")
    out = ["Communication per device",
           table(["kind", "time", "buffer bytes (S)", "sent (ring)"], rows) if rows
           else "  none inside a replica (no tensor or pipeline parallelism)" if kv
           else "  (none)"]
    if kv:
        out.append(f"KV-cache transfer prefill → decode over {kv['link']}: "
                   f"{human_bytes(kv['bytes_total'])} for {plural(kv['requests'], 'request')} "
                   f"({human_bytes(kv['bytes_per_request_mean'])} each), "
                   f"{human_time(kv['time_mean_s'])} mean, link busy "
                   f"{pct(kv['link_utilization'])}"
                   + (f"; {kv['bandwidth_bytes_per_s'] / 1e9:.3g} GB/s each, set by "
                      f"{kv['limited_by']}" if kv.get("limited_by") else ""))
    out.append(f"total {human_time(comm['total_time_s'])}, exposed (not hidden behind "
               f"compute) {human_time(comm['exposed_time_s'])}")
    algos = comm.get("algorithms")
    if algos:
        out.append("algorithms: " + ", ".join(f"{k}={v}" for k, v in sorted(algos.items())))
    return out


def energy_section(d: dict) -> list[str]:
    cost = d.get("cost_usd")
    energy = d.get("energy_joules")
    unit = "per step" if d["mode"] == "training" else "per run"
    # the scope and bound of the figure (archsim/result.py energy_joules)
    parts = [f"energy {human_energy(energy)} {unit} (accelerators at TDP while busy: an "
             "upper bound; host, network and PUE not included)"]
    parts.append("cost " + ("n/a (no price in the device profile)" if cost is None
                            else f"{usd(cost)} {unit}"))
    if d.get("cost_per_million_tokens_usd") is not None:
        from archsim.metrics.serving_window import rate_basis

        basis = rate_basis(d.get("steady_state"))
        what = f"output tokens ({basis})" if d["mode"] == "serving" else "tokens"
        parts.append(f"{usd(d['cost_per_million_tokens_usd'])} per million {what}")
    if unused := _unused_devices(d):
        # as the planner says of the plans that leave a pool out
        parts.append(f"the cluster's {plural(unused, 'device')} the placement leaves out "
                     "count as released: no cost, no energy (held idle, they would be paid)")
    return ["; ".join(parts)]


def mfu_basis_suffix(d: dict) -> str:
    """`` (<the peaks MFU and HFU divide by>)`` where the result names them (its
    ``mfu_basis``: 2:4-sparse GEMMs, a GEMM dtype below 16 bits, a teacher in another
    dtype), else empty."""
    basis = d.get("mfu_basis")
    return f" ({basis})" if basis else ""


@renderer("training")
def _training(d: dict) -> list[str]:
    par = d["parallel"]
    tb = d["time_breakdown"]
    step = d["step_time_s"]
    plan = (f"dp {par['dp']} · tp {par['tp']} · pp {par['pp']} · cp {par['cp']} · "
            f"ep {par['ep']}{' · sp' if par['sp'] else ''} · zero {par['zero']} · "
            f"{par['schedule']}" + (f" (v={par['virtual_stages']})"
                                    if par["virtual_stages"] > 1 else "")
            + f" · recompute {par['recompute']} · "
              f"{plural(par['micro_batches'], 'micro-batch', 'micro-batches')} of "
              f"{par['micro_batch']}")
    rows = [["step time", human_time(step)],
            ["throughput", f"{d['tokens_per_s']:,.0f} tokens/s"],
            ["MFU / HFU", f"{pct(d['mfu'])} / {pct(d['hfu'])}{mfu_basis_suffix(d)}"],
            ["achieved per device", f"{d['tflops_per_device']:.1f} TFLOP/s"]]
    executed = d.get("executed_utilization")
    if executed is not None and d["hfu"] and executed < 0.98 * d["hfu"]:
        rows.append(["executed (causal half skipped)",
                     f"{pct(executed)} · {executed / d['hfu'] * d['tflops_per_device']:.1f} "
                     "TFLOP/s"])
    names = {"overhead": "fixed overhead"}
    breakdown = [[names.get(k, k.replace("_", " ")), human_time(tb[k + "_s"]),
                  pct(tb[k + "_s"] / step)]
                 for k in ("teacher_forward", "compute", "recompute", "exposed_comm", "bubble",
                           "optimizer", "io", "overhead") if tb.get(k + "_s") is not None
                 and (tb[k + "_s"] or k not in ("teacher_forward", "io", "overhead"))]
    return [f"plan: {plan}", "", table(["metric", "value"], rows), "",
            f"Step time on the critical stage ({tb['critical_stage']})"
            + (" — the teacher's forward pass, then the student's step"
               if tb.get("teacher_forward_s") else ""),
            table(["part", "time", "share"], breakdown),
            f"pipeline bubble {pct(d['pipeline']['bubble_fraction'])} of the step, "
            f"{pct(d['pipeline']['bubble_over_compute'])} of the critical stage's compute "
            f"(the ideal (p-1)/(v·m): {pct(d['pipeline']['ideal_bubble_fraction'])})",
            *_stage_spread(d["pipeline"].get("stages") or []),
            *(f"note: {n}" for n in d.get("notes", [])),
            *cluster_lines(d)]


def _stage_spread(stages: list[dict]) -> list[str]:
    """The pipeline stages' compute, lightest to heaviest (none for one stage)."""
    if len(stages) < 2:
        return []
    compute = [s["compute_s"] for s in stages]
    lo, hi = min(compute), max(compute)
    return [f"stage compute {human_time(lo)} (stage {compute.index(lo)}) to {human_time(hi)} "
            f"(stage {compute.index(hi)}): the bubble holds the stages' imbalance too"]


import archsim.metrics.inference_summary  # noqa: E402,F401  (registers inference/serving)
