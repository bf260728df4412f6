"""Turn a simulated trace (archsim.sim.engine.Span) into a readable Gantt chart.

Tracks are ordered as the simulator names them (``stage N`` then its ``stage N dp-comm``);
the point-to-point link tracks (``link a->b``) are merged into one row, and when there are more
than ``MAX_STAGES`` pipeline stages an evenly spaced subset is drawn (the caption says which).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from archsim.report.plots import Bar, gantt_plot

MAX_STAGES = 12
MAX_OTHER_ROWS = 16
"""Rows of tracks that are not pipeline stages (serving replicas, ...) drawn at most."""
CATEGORY_ORDER = ("forward", "backward", "recompute", "optimizer", "comm", "dp-comm", "p2p",
                  "prefill", "decode", "io")
_STAGE = re.compile(r"stage (\d+)")


def _row_key(track: str) -> tuple[int, int, str]:
    match = _STAGE.match(track)
    if match:
        return (0, int(match.group(1)), track)
    return (1, 0, track)


def timeline_plot(spans: Sequence, title: str, origin: str = "the step started"
                  ) -> tuple[bytes, str]:
    """(PNG, a sentence on what was merged or left out) for ``spans``."""
    stages = sorted({int(m.group(1)) for s in spans if (m := _STAGE.match(s.track))})
    keep = set(stages)
    note = ""
    if len(stages) > MAX_STAGES:
        step = (len(stages) - 1) / (MAX_STAGES - 1)
        keep = {stages[round(i * step)] for i in range(MAX_STAGES)}
        note = (f"{MAX_STAGES} of the {len(stages)} pipeline stages are drawn (evenly "
                "spaced, first and last included). ")
    rows: dict[str, int] = {}
    bars: list[Bar] = []
    merged_links = False
    hidden = 0
    for track in sorted({s.track for s in spans}, key=_row_key):
        match = _STAGE.match(track)
        if match and int(match.group(1)) not in keep:
            continue
        if track.startswith("link "):
            merged_links = True
            continue
        if not match and sum(1 for t in rows if not _STAGE.match(t)) >= MAX_OTHER_ROWS:
            hidden += 1
            continue
        rows[track] = len(rows)
    if hidden:
        note += f"The first {MAX_OTHER_ROWS} of {MAX_OTHER_ROWS + hidden} rows are drawn. "
    if merged_links:
        rows["p2p links (all)"] = len(rows)
        note += "Pipeline sends on all links are merged into the last row."
    for s in spans:
        name = "p2p links (all)" if s.track.startswith("link ") else s.track
        if name in rows:
            bars.append(Bar(rows[name], s.start, s.end, s.category))
    present = {b.category for b in bars}
    categories = [c for c in CATEGORY_ORDER if c in present]
    categories += sorted(present - set(categories))
    return gantt_plot(list(rows), bars, categories, title, origin), note.strip()
