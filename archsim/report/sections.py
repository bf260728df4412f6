"""Sections every kind of report shares: inputs and their sources, and the validation error."""

from __future__ import annotations

from typing import Any

from archsim.report import fmt, plots
from archsim.report.document import Plot, Section
from archsim.report.evidence import (
    cross_validation,
    device_profile,
    device_source_rows,
    interconnect_profile,
    interconnect_source_rows,
    validation_notes,
)
from archsim.spec.device import DeviceSpec
from archsim.spec.hardware import InterconnectSpec
from archsim.spec.scenario import ScenarioSpec

MEMORY_PARTS = ("weights", "gradients", "optimizer_states", "activations", "kv_cache", "teacher",
                "other")


def _fields(values: dict[str, Any]) -> str:
    """``k v, k v`` with booleans written as in YAML (true/false)."""
    return ", ".join(f"{k} {str(v).lower() if isinstance(v, bool) else v}"
                     for k, v in values.items() if v is not None)


def scenario_rows(sc: ScenarioSpec, params: float | None) -> list[tuple[str, str]]:
    """(part, value) rows describing a scenario as given (after defaults)."""
    m = sc.model
    rows = [("scenario", sc.name)]
    if sc.description:  # plain text: Markdown code marks (`...`) would show as backticks
        rows.append(("description", " ".join(sc.description.replace("`", "").split())))
    model = _fields({"layers": m.layers, "hidden": m.hidden, "heads": m.heads,
                     "kv_heads": m.n_kv_heads, "ffn_hidden": m.ffn, "vocab": m.vocab,
                     "mlp": m.mlp})
    if m.moe is not None:
        model += f", MoE {m.moe.experts} experts top-{m.moe.top_k}"
    if params:
        model += f"; {fmt.count(params)} parameters"
    rows.append((f"model {m.name}", model))
    for pool in sc.cluster.pools:
        links = _fields({"intra-node": pool.intra_node.name if pool.intra_node else None,
                         "inter-node": pool.inter_node.name if pool.inter_node else None})
        rows.append((f"hardware (pool {pool.name})",
                     f"{pool.count} × {pool.device.name}, {pool.node_size} per node"
                     + (f"; {links}" if links else "")))
    wl = sc.workload.model_dump(mode="json")
    rows.append((f"workload ({wl.pop('kind')})", _fields(_flat(wl))))
    plan = {k: v for k, v in sc.plan.model_dump(mode="json").items() if v is not None}
    rows.append(("parallel plan", _fields(plan)))
    if sc.compression is not None:
        comp = {k: v for k, v in sc.compression.model_dump(mode="json").items()
                if v is not None}
        rows.append(("compression", _fields(_flat(comp))))
    return rows


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def result_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """(part, value) rows of the inputs a result JSON records about itself."""
    rows = [("result", f"{result['name']} ({result['mode']})"),
            ("model", str(result.get("model", "-")))]
    for pool in result["hardware"]["pools"]:
        rows.append((f"hardware (pool {pool['name']})",
                     f"{pool['count']} × {pool['device']}, {pool.get('devices_per_node')} per "
                     f"node; intra-node {pool.get('intra_node')}, inter-node "
                     f"{pool.get('inter_node')}"))
    if isinstance(result.get("parallel"), dict):
        rows.append(("parallel plan", _fields(result["parallel"])))
    return rows


def _unique(items: list) -> list:
    """Items with distinct names (specs are unhashable), first occurrence kept."""
    seen: dict[str, object] = {}
    for item in items:
        seen.setdefault(item if isinstance(item, str) else item.name, item)
    return list(seen.values())


def sources_section(devices: list[DeviceSpec | str], links: list[InterconnectSpec | str]
                    ) -> Section:
    """Where the numbers of each device and interconnect profile come from."""
    sec = Section("sources", "Sources of the profile numbers")
    rows: list[tuple[str, str, str]] = []
    for item in _unique(devices):
        dev = device_profile(item) if isinstance(item, str) else item
        if dev is None:
            rows.append((str(item), "profile", "not in the registry; sources unknown"))
            continue
        rows += [(dev.name, what, src) for what, src in device_source_rows(dev)]
    for item in _unique(links):
        link = interconnect_profile(item) if isinstance(item, str) else item
        if link is None:
            rows.append((str(item), "profile", "not in the registry; sources unknown"))
            continue
        rows += [(link.name, what, src) for what, src in interconnect_source_rows(link)]
    sec.table(["profile", "numbers", "source"], rows)
    sec.text("Values listed as UNVERIFIED are estimates that the profile could not tie to a "
             "datasheet or measurement; results that depend on them carry that uncertainty.")
    return sec


def _side(errors: tuple[float, ...]) -> str:
    lo, hi = min(errors), max(errors)
    return ("optimistic (predicted faster than measured)" if hi < 0 else
            "pessimistic (predicted slower than measured)" if lo > 0 else
            "on both sides of the measurements")


def validation_caveat(device: str, mode: str) -> str | None:
    """One sentence on how far off the profile was where it was checked in this mode."""
    notes = [n for n in validation_notes(device) if n.mode in (mode, "all")]
    if not notes:
        return None
    parts = []
    for n in notes:
        side = _side(n.signed_errors_pct) if n.signed_errors_pct else ""
        every = f", {side} on every case" if side and not side.startswith("on both") else ""
        parts.append(f"{n.what}: {n.mape_pct:.0f}% mean absolute error{every}")
    return (f"Known error of the {device} profile in {mode}: {'; '.join(parts)}. Nothing here "
            "is corrected for it; see the validation section.")


SHIPPED = "shipped profiles"
"""``uncertainty.calibration`` of a result computed with the shipped profiles."""


def calibration_of(r: dict[str, Any]) -> str | None:
    """The calibration a result was computed with (``uncertainty.calibration``), or None."""
    return (r.get("uncertainty") or {}).get("calibration")


def validation_section(device: str, mode: str, calibration: str | None = None
                       ) -> Section:
    """The validation error of ``device``'s profile: its cross-validated error on published
    runs (the profile's calibration, behind the answer's error bar) and the checks recorded
    in reports/validation/. ``calibration``: the result's (``uncertainty.calibration``); under
    a calibration of the user's own these rows are the shipped profile's, for comparison."""
    sec = Section("validation", "Validation error of the profile")
    own = calibration not in (None, SHIPPED)
    if own:
        sec.text(f"The answers of this report were computed with the calibration {calibration}: "
                 "its own cross-validated error is the error bar the answer carries. The rows "
                 f"below are the shipped {device} profile's, on the public corpus of published "
                 "runs, shown for comparison; they are not this answer's error bar.")
    notes = validation_notes(device)
    cv = cross_validation(device)
    if not notes and not cv:
        sec.text(f"No validation of the {device} profile is recorded: no cross-validated "
                 "runs in its calibration and no check in reports/validation/. Treat the "
                 "numbers in this report as unvalidated estimates from the profile.")
        return sec
    mode = "inference" if mode == "serving" else mode
    rows = []
    for c in cv:
        applies = "yes" if c.mode == mode else f"no ({c.mode})"
        rows.append((f"cross-validated {c.group.replace('_', ' ')} runs: {c.runs} published "
                     f"runs from {c.sources} source{'s' if c.sources != 1 else ''}, each "
                     f"predicted by a fit that did not see it ({c.method}); 80% of errors "
                     f"{c.p10_pct:+.0f}% … {c.p90_pct:+.0f}%", f"{c.mape_pct:.1f}%", "-",
                     applies, c.file))
    for n in notes:
        applies = "yes" if n.mode in (mode, "all") else f"no ({n.mode})"
        rows.append((n.what, f"{n.mape_pct:.1f}%",
                     "-" if n.max_error_pct is None else f"{n.max_error_pct:.1f}%",
                     applies, n.file.split("reports/")[-1]))
    sec.table(["check", "mean abs. error (MAPE)", "max abs. error", f"same mode ({mode})",
               "report"], rows)
    if cv:
        sec.text(("The cross-validated runs are the shipped profile's calibration check. "
                  if own else
                  "The cross-validated runs are the profile's own calibration check: their "
                  "errors are the error bar the answer carries (widened where the answer says "
                  "so). ") + ("The other rows are separate checks, recorded in "
                            "reports/validation/." if notes else
                            f"No GPU or CPU check of the {device} profile is recorded in "
                            "reports/validation/."))
    for n in notes:
        if n.signed_errors_pct:
            lo, hi = min(n.signed_errors_pct), max(n.signed_errors_pct)
            side = _side(n.signed_errors_pct)
            sec.text(f"{n.what}: errors range from {lo:+.1f}% to {hi:+.1f}%, i.e. the model "
                     f"was {side}. These errors are reported, not corrected for: nothing in this "
                     "report is adjusted by them.")
    return sec


def memory_section(r: dict[str, Any]) -> Section:
    """Memory per device (per pipeline stage where known) as stacked bars against capacity."""
    mem = r["memory"]
    cap = mem.get("capacity_bytes") or 0.0
    stages = mem.get("per_stage") or []
    sec = Section("memory", "Memory per device")
    if len(stages) > 1:
        labels = [str(s["stage"]) for s in stages]
        parts = {p.replace("_", " "): [float(s.get(p) or 0.0) for s in stages]
                 for p in MEMORY_PARTS}
    elif mem.get("peak_bytes_per_device") is not None:
        labels = ["per device"]
        parts = {p.replace("_", " "): [float(mem["breakdown"].get(p) or 0.0)]
                 for p in MEMORY_PARTS}
    else:
        sec.text("The plan does not divide the model, so no memory was computed.")
        return sec
    title = ("Memory per device for each pipeline stage" if len(stages) > 1
             else "Memory of the busiest device")
    sec.add(Plot("memory", f"{title}, stacked by part, against the device capacity (dashed)",
                 plots.memory_plot(labels, parts, cap, title,
                                   "pipeline stage" if len(stages) > 1 else "")))
    peak = mem.get("peak_bytes_per_device") or 0.0
    head = cap - peak
    sec.text(f"Peak {fmt.human_bytes(peak)} of {fmt.human_bytes(cap)} per device "
             + (f"({fmt.human_bytes(head)} headroom)." if head >= 0 else
                f"({fmt.human_bytes(-head)} over capacity: the plan does not fit)."))
    b = mem["breakdown"]
    rows = [(p.replace("_", " "), fmt.human_bytes(b.get(p))) for p in MEMORY_PARTS if b.get(p)]
    rows += [("peak", fmt.human_bytes(peak)), ("capacity", fmt.human_bytes(cap))]
    sec.table(["part", "busiest device"], rows)
    return sec

