"""Tables of a calibration or a validation on runs: per run and per kind of run.

Each row of a table is one measured run: measured and predicted value, the error on time
(predicted / measured time − 1; negative means archsim is too fast) and where the prediction
came from (the fit that left its source out, or the profile under test). Rows whose scenario
does not run in archsim (it does not fit in memory, ...) are listed with the reason and kept
out of the statistics.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from archsim.insitu.predict import Prediction


def group_stats(predictions: Sequence[Prediction]) -> list[dict]:
    """Per accuracy group and device: runs, sources, MAPE, bias, worst error."""
    groups: dict[tuple[str, str], list[Prediction]] = {}
    for p in predictions:
        if p.error is not None:
            key = (p.run.device, p.run.group)
            groups.setdefault(key, []).append(p)
    out = []
    for (device, group), items in sorted(groups.items()):
        errs = [p.error for p in items]  # type: ignore[misc]
        out.append({"device": device, "group": group, "runs": len(errs),
                    "sources": len({p.run.source for p in items}),
                    "mape": statistics.fmean(abs(e) for e in errs),
                    "bias": statistics.fmean(errs),
                    "worst": max(errs, key=abs)})
    return out


def overall(predictions: Sequence[Prediction]) -> dict[str, dict]:
    """Per accuracy group over all devices: runs and MAPE."""
    groups: dict[str, list[float]] = {}
    for p in predictions:
        if p.error is not None:
            groups.setdefault(p.run.group, []).append(p.error)
    return {g: {"runs": len(e), "mape": statistics.fmean(abs(x) for x in e),
                "bias": statistics.fmean(e)} for g, e in sorted(groups.items())}


def markdown(predictions: Sequence[Prediction], title: str, how: Sequence[str] = ()) -> str:
    """The per-group and per-run tables as Markdown."""
    lines = [f"# {title}", ""]
    lines += list(how)
    if how:
        lines.append("")
    lines += ["## By device and kind of run", "",
              "| device | kind of run | runs | sources | MAPE | bias | worst |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for g in group_stats(predictions):
        lines.append(f"| {g['device']} | {g['group']} | {g['runs']} | {g['sources']} | "
                     f"{100 * g['mape']:.1f}% | {100 * g['bias']:+.1f}% | "
                     f"{100 * g['worst']:+.1f}% |")
    lines += ["", "| kind of run | runs | MAPE | bias |", "|---|---:|---:|---:|"]
    for group, g in overall(predictions).items():
        lines.append(f"| {group} | {g['runs']} | {100 * g['mape']:.1f}% | "
                     f"{100 * g['bias']:+.1f}% |")
    lines += ["", "## Every run", "",
              "| run | source | device | metric | measured | predicted | error |",
              "|---|---|---|---|---:|---:|---:|"]
    for p in predictions:
        r = p.run
        pred = "infeasible: " + "; ".join(p.reasons) if p.predicted is None \
            else f"{p.predicted:.6g}"
        err = "" if p.error is None else f"{100 * p.error:+.1f}%"
        lines.append(f"| {r.id} | {r.source} | {r.device} | {r.metric} | {r.measured:.6g} | "
                     f"{pred} | {err} |")
    return "\n".join(lines) + "\n"


def csv_rows(predictions: Sequence[Prediction]) -> list[dict]:
    return [{"run": p.run.id, "source": p.run.source, "device": p.run.device,
             "kind": p.run.kind, "group": p.run.group, "metric": p.run.metric,
             "measured": p.run.measured, "predicted": p.predicted,
             "error": p.error, "infeasible": "; ".join(p.reasons)} for p in predictions]


def text_table(predictions: Sequence[Prediction]) -> str:
    """The per-device-and-group table for the terminal."""
    from archsim.textfmt import table

    rows = [[g["device"], g["group"], str(g["runs"]), str(g["sources"]),
             f"{100 * g['mape']:.1f}%", f"{100 * g['bias']:+.1f}%", f"{100 * g['worst']:+.1f}%"]
            for g in group_stats(predictions)]
    return table(["device", "kind of run", "runs", "sources", "MAPE", "bias", "worst"], rows)
