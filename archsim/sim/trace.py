"""Chrome trace-event JSON (opens in Perfetto and chrome://tracing)."""

from __future__ import annotations

import json
from pathlib import Path

from archsim.sim.engine import Span


def chrome_trace(spans: list[Span], process_name: str = "archsim") -> dict:
    """Trace-event document: one thread per track, complete ('X') events in microseconds."""
    tracks: dict[str, int] = {}
    events: list[dict] = [{"name": "process_name", "ph": "M", "pid": 0, "tid": 0,
                           "args": {"name": process_name}}]
    for span in spans:
        if span.track not in tracks:
            tid = len(tracks) + 1
            tracks[span.track] = tid
            events.append({"name": "thread_name", "ph": "M", "pid": 0, "tid": tid,
                           "args": {"name": span.track}})
            events.append({"name": "thread_sort_index", "ph": "M", "pid": 0, "tid": tid,
                           "args": {"sort_index": tid}})
        ev = {"name": span.name, "cat": span.category, "ph": "X", "pid": 0,
              "tid": tracks[span.track], "ts": span.start * 1e6,
              "dur": (span.end - span.start) * 1e6}
        if span.args:
            ev["args"] = span.args
        events.append(ev)
    return {"traceEvents": events, "displayTimeUnit": "ms"}


def write_chrome_trace(spans: list[Span], path: str | Path, process_name: str = "archsim"
                       ) -> None:
    """Write the trace atomically (temp file + rename)."""
    from archsim.io import write_text_atomic

    write_text_atomic(Path(path), json.dumps(chrome_trace(spans, process_name)))
