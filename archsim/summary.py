"""Readable text summaries of results (what ``archsim simulate`` prints without --json).

Each mode registers a renderer in ``RENDERERS``; common sections (memory, communication,
energy/cost) are shared.
"""

from __future__ import annotations

from collections.abc import Callable

from archsim.metrics.cluster_summary import cluster_lines
from archsim.result import Result
from archsim.textfmt import human_bytes, human_time, num, pct, table

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
    hw = ", ".join(f"{p['count']}× {p['device']}" for p in d["hardware"]["pools"])
    lines = [f"{d['name']} — {d['mode']} of {d['model']} on {hw}"]
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
    if d.get("compression"):
        lines.append("")
        lines.extend(compression_section(d["compression"]))
    lines.append("")
    lines.extend(memory_section(d))
    lines.append("")
    lines.extend(communication_section(d))
    lines.append("")
    lines.extend(energy_section(d))
    sim = d.get("sim", {})
    lines.append("")
    lines.append(f"simulated with {sim.get('engine')} in {human_time(sim.get('wall_s'))} "
                 f"({sim.get('events')} events)")
    return "\n".join(lines)


def compression_section(block: dict) -> list[str]:
    base, comp, ratios = block["baseline"], block["compressed"], block["ratios"]
    rows = []
    for key, ratio in ratios.items():
        b, c = base.get(key), comp.get(key)
        if b is None and c is None:
            continue
        fmt = human_bytes if "bytes" in key or key.startswith("memory") else num
        rows.append([key, fmt(b), fmt(c), "-" if ratio is None else f"{ratio:.3f}×"])
    out = [f"Compression: {base.get('model')} baseline vs compressed "
           f"{'' if comp['feasible'] else '(INFEASIBLE) '}",
           table(["metric", "baseline", "compressed", "ratio"], rows)]
    out.extend(f"  note: {n}" for n in block.get("notes", []))
    out.extend(f"  WARNING: {w}" for w in block.get("warnings", []))
    if block.get("accuracy_note"):
        note = block["accuracy_note"]
        out.append(f"  accuracy (user-supplied, not simulated): {note['text']}")
    return out


def memory_section(d: dict) -> list[str]:
    mem = d["memory"]
    b = mem["breakdown"]
    rows = [[k.replace("_", " "), human_bytes(b.get(k))] for k in
            ("weights", "gradients", "optimizer_states", "activations", "kv_cache", "other")
            if b.get(k)]
    rows.append(["peak per device", human_bytes(mem["peak_bytes_per_device"])])
    rows.append(["capacity", human_bytes(mem["capacity_bytes"])])
    return ["Memory per device (busiest stage)", table(["part", "bytes"], rows)]


def communication_section(d: dict) -> list[str]:
    comm = d["communication"]
    rows = [[kind, human_time(v["time_s"]), human_bytes(v["bytes"])]
            for kind, v in comm["by_kind"].items() if v["time_s"] or v["bytes"]]
    out = ["Communication per device", table(["kind", "time", "bytes"], rows) if rows
           else "  (none)"]
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
    parts = [f"energy {num(energy / 3.6e6 if energy else None)} kWh {unit}"]
    parts.append("cost " + ("n/a (no price in the device profile)" if cost is None
                            else f"${cost:,.2f} {unit}"))
    if d.get("cost_per_million_tokens_usd") is not None:
        parts.append(f"${d['cost_per_million_tokens_usd']:.3f} per million tokens")
    return ["; ".join(parts)]


@renderer("training")
def _training(d: dict) -> list[str]:
    par = d["parallel"]
    tb = d["time_breakdown"]
    step = d["step_time_s"]
    plan = (f"dp {par['dp']} · tp {par['tp']} · pp {par['pp']} · cp {par['cp']} · "
            f"ep {par['ep']}{' · sp' if par['sp'] else ''} · zero {par['zero']} · "
            f"{par['schedule']}" + (f" (v={par['virtual_stages']})"
                                    if par["virtual_stages"] > 1 else "")
            + f" · recompute {par['recompute']} · {par['micro_batches']} micro-batches of "
              f"{par['micro_batch']}")
    rows = [["step time", human_time(step)],
            ["throughput", f"{d['tokens_per_s']:,.0f} tokens/s"],
            ["MFU / HFU", f"{pct(d['mfu'])} / {pct(d['hfu'])}"],
            ["achieved per device", f"{d['tflops_per_device']:.1f} TFLOP/s"]]
    breakdown = [[k, human_time(tb[k + "_s"]), pct(tb[k + "_s"] / step)]
                 for k in ("compute", "recompute", "exposed_comm", "bubble", "optimizer")]
    return [f"plan: {plan}", "", table(["metric", "value"], rows), "",
            f"Step time on the critical stage ({tb['critical_stage']})",
            table(["part", "time", "share"], breakdown),
            f"pipeline bubble {pct(d['pipeline']['bubble_fraction'])} of the step (the ideal "
            f"(p-1)/(v·m) = {pct(d['pipeline']['ideal_bubble_fraction'])} of the compute time)",
            *cluster_lines(d)]


import archsim.metrics.inference_summary  # noqa: E402,F401  (registers inference/serving)
