"""The compression comparison of a report: baseline and compressed side by side — a ratio per
metric (log axis: ×0.25 and ×4 are the same distance from "unchanged"), memory of both on the
busiest device as stacked bars against the capacity, and the table."""

from __future__ import annotations

from typing import Any

from archsim.labels import short_label, unit
from archsim.report import fmt, plots, plots_compare
from archsim.report.document import Plot, Section

# metrics where a larger value is better (the rest: smaller is better)
HIGHER_IS_BETTER = ("tokens_per_s", "mfu", "hfu", "requests_per_s", "slo_attainment",
                    "max_batch_that_fits", "samples_per_s", "sequences_per_s")
MEMORY_PARTS = ("weights", "gradients", "optimizer_states", "activations", "kv_cache",
                "teacher", "other")


def is_better(metric: str, ratio: float) -> bool:
    """Whether compressed / baseline = ``ratio`` is an improvement (no change counts as one)."""
    if ratio == 1:
        return True
    return (ratio > 1) == (metric.split(".")[-1] in HIGHER_IS_BETTER)


def _metric(key: str, value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if key.startswith("memory."):
            return fmt.human_bytes(float(value))
        if key.endswith("_j"):
            return f"{value:.3g} J"
        if key.endswith("_per_s"):
            return fmt.rate(float(value), unit(key))
    return fmt.metric_text(key, value)


def _fields(values: dict[str, Any]) -> str:
    return ", ".join(f"{k} {str(v).lower() if isinstance(v, bool) else v}"
                     for k, v in values.items() if v is not None)


def _memory_plot(block: dict[str, Any]) -> Plot | None:
    mem = block.get("memory_breakdown")
    if not isinstance(mem, dict):
        return None
    sides = [mem.get("baseline") or {}, mem.get("compressed") or {}]
    parts = {p.replace("_", " "): [float(side.get(p) or 0.0) for side in sides]
             for p in MEMORY_PARTS}
    if not any(v for values in parts.values() for v in values):
        return None
    feasible = [(block.get(k) or {}).get("feasible") is not False
                for k in ("baseline", "compressed")]
    labels = [name if ok else f"{name}\n(does not run)" if any(side.values()) else
              f"{name}\n(not computed)"
              for name, ok, side in zip(("baseline", "compressed"), feasible,
                                        ({k: v for k, v in s.items() if v} for s in sides),
                                        strict=True)]
    png = plots.memory_plot(labels, parts,
                            float(mem.get("capacity_bytes") or 0.0),
                            "Memory of the busiest device: baseline and compressed")
    return Plot("compression_memory", "Memory per device of the baseline and the compressed "
                                      "plan, stacked by part, against the capacity (dashed)",
                png)


def compression_section(r: dict[str, Any]) -> Section | None:
    """Baseline vs compressed, side by side, from the result's ``compression`` block."""
    block = r.get("compression")
    if not isinstance(block, dict) or "ratios" not in block:
        return None
    base, comp, ratios = block.get("baseline", {}), block.get("compressed", {}), block["ratios"]
    sec = Section("compression", "Compression comparison")
    effects = {k: v for k, v in (block.get("effects") or {}).items()
               if v not in (None, False, 1.0)}
    sec.text("The same scenario simulated without the compression plan (baseline) and with it. "
             + ("Effects: " + _fields(effects) + "." if effects else ""))
    shown = [(k, v) for k, v in ratios.items() if isinstance(v, (int, float)) and v > 0]
    if shown:
        better = [is_better(k, v) for k, v in shown]
        sec.add(Plot("compression", "Compressed / baseline for each metric (log scale; 1 = "
                                    "unchanged; green: better, red: worse)",
                     plots_compare.ratio_plot([short_label(k) for k, _ in shown],
                                              [v for _, v in shown], better,
                                              "Compressed relative to the baseline")))
    memory = _memory_plot(block)
    if memory is not None:
        sec.add(memory)
    rows = [(short_label(k), _metric(k, base.get(k)), _metric(k, comp.get(k)),
             "-" if ratios[k] is None else f"{ratios[k]:.3f}×") for k in ratios]
    sec.table(["metric", "baseline", "compressed", "compressed / baseline"], rows)
    for label, part in (("baseline", base), ("compressed", comp)):
        if part.get("feasible") is False:
            sec.text(f"The {label} does not run: "
                     + "; ".join(part.get("infeasible_reasons") or ["no reason recorded"])
                     + ". Its memory is shown where it was computed; its speed, energy and "
                       "cost are not compared.")
    notes = list(block.get("notes") or []) + [f"warning: {w}" for w in block.get("warnings") or []]
    note = block.get("accuracy_note")
    if isinstance(note, dict) and note.get("text"):
        notes.append(f"accuracy: {note['text']} ({note.get('source', 'user-supplied')})")
    else:
        notes.append("accuracy: archsim does not simulate model quality; no accuracy note was "
                     "given with this compression plan")
    sec.bullets(notes)
    return sec
