"""Per-op times of a real run, read from torch.profiler and named like archsim's ops.

The model runs with its op labels on (:class:`archsim.validate.torch_model.OpLabels`): every
kernel group sits inside a profiler range named like the op graph's op (``L0.qkv``). Forward
time of an op is the total length of its ranges. Backward kernels run in the autograd engine,
outside any range; each backward node carries the sequence number of the forward op that
created it, so its time is added to ``<op>.bwd`` of the range that forward op ran in. The
optimizer step is the profiler's ``Optimizer.step`` range. Whatever is in no range (Python and
autograd-engine overhead, views between ranges, the gradient buffers' zeroing) is ``other``.

Needs torch (imported by the caller's run); the parser itself only reads event objects.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Iterable

OPTIMIZER_RANGE = "Optimizer.step#"
BACKWARD_PREFIX = "autograd::engine::evaluate_function: "


def _label_of(event, labels: set[str]) -> str | None:
    node = event
    while node is not None:
        if node.name in labels:
            return node.name
        node = node.cpu_parent
    return None


def _wall_us(event) -> float:
    return event.time_range.end - event.time_range.start


def _device_us(event) -> float:
    return event.device_time_total


def _host_side(event) -> bool:
    """An event of the CPU's timeline. With CUDA, torch.profiler also lists each range a
    second time as a GPU-side user annotation spanning the kernels queued inside it (and the
    queue ahead of them): counting those too would count every op twice."""
    device_type = getattr(event, "device_type", None)
    return device_type is None or getattr(device_type, "name", str(device_type)) == "CPU"


def attribute(events: Iterable, labels: set[str], device_time: bool = False
              ) -> dict[str, float]:
    """Seconds per op name (``name`` forward, ``name.bwd`` backward, ``optimizer``, ``other``)
    from profiler events; ``total`` is the span from the first to the last event.

    On CPU an op's time is the wall time of its ranges; with ``device_time`` (CUDA, where the
    CPU only launches kernels) it is the time of the GPU kernels launched inside them, and
    ``total`` is the time of every kernel of the run.
    """
    events = [ev for ev in events if _host_side(ev)]
    _us = _device_us if device_time else _wall_us
    out: dict[str, float] = {}
    seq_label: dict[int, str] = {}
    start = min((e.time_range.start for e in events), default=0.0)
    end = max((e.time_range.end for e in events), default=0.0)
    for ev in events:
        if ev.name in labels and (ev.cpu_parent is None or
                                  _label_of(ev.cpu_parent, labels) is None):
            out[ev.name] = out.get(ev.name, 0.0) + _us(ev)
        elif ev.name.startswith(OPTIMIZER_RANGE) and ev.cpu_parent is None:
            out["optimizer"] = out.get("optimizer", 0.0) + _us(ev)
        if getattr(ev, "sequence_nr", -1) >= 0 and not ev.name.startswith(BACKWARD_PREFIX):
            label = _label_of(ev, labels)
            if label is not None:
                seq_label.setdefault(ev.sequence_nr, label)
    for ev in events:
        if ev.name.startswith(BACKWARD_PREFIX) and ev.cpu_parent is None:
            label = seq_label.get(ev.sequence_nr)
            key = f"{label}.bwd" if label else "other.bwd"
            out[key] = out.get(key, 0.0) + _us(ev)
    seconds = {k: v * 1e-6 for k, v in out.items()}
    if device_time:
        # every kernel of the run (top-level events hold their children's kernels)
        seconds["total"] = sum(_us(ev) for ev in events if ev.cpu_parent is None) * 1e-6
    else:
        seconds["total"] = (end - start) * 1e-6
    seconds["other"] = max(0.0, seconds["total"] - sum(
        v for k, v in seconds.items() if k not in ("total", "other.bwd")) -
        seconds.get("other.bwd", 0.0)) + seconds.pop("other.bwd", 0.0)
    return seconds


_KINETO_NOISE = re.compile(rb"^(USDT|STAGE):\S+ \S+ \d+:\d+ \S+\.cpp:\d+\] ")


@contextlib.contextmanager
def _without_profiler_chatter():
    """The profiler's C++ library writes a status line to file descriptor 2 at each start and
    stop; keep everything else that is written there meanwhile."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            kept = [line for line in tmp.read().splitlines(keepends=True)
                    if not _KINETO_NOISE.match(line)]
            if kept:
                os.write(2, b"".join(kept))


def profile_call(fn: Callable[[], object], model, device: str, warmup: int = 1
                 ) -> dict[str, float]:
    """Run ``fn`` once under torch.profiler with the model's op labels on; seconds per op."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from archsim.validate.measure import synchronize

    for _ in range(warmup):
        fn()
    synchronize(device)
    activities = [ProfilerActivity.CPU]
    if device == "cuda":
        activities.append(ProfilerActivity.CUDA)
    model.labels.enabled = True
    try:
        with _without_profiler_chatter(), profile(activities=activities) as prof:
            fn()
            synchronize(device)
    finally:
        model.labels.enabled = False
    labels = _label_names(model)
    del torch
    return attribute(prof.events(), labels, device_time=device == "cuda")


def _label_names(model) -> set[str]:
    names = {"embed", "ln_final", "logits", "loss"}
    per_layer = ("ln_attn", "qkv", "rope", "attn", "kv_write", "proj", "bda_attn", "ln_mlp", "fc1",
                 "gelu", "swiglu", "fc2", "bda_mlp")
    for i in range(model.spec.layers):
        names.update(f"L{i}.{n}" for n in per_layer)
    return names
