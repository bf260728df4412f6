"""Pipeline schedules: the order in which each stage runs forward and backward passes.

A schedule is, per stage, a list of tasks ``(phase, micro_batch, chunk)`` with phase "F" or
"B"; ``chunk`` is the model chunk (virtual stage) for the interleaved schedule, else 0.

* gpipe (Huang et al. 2019): all forwards, then all backwards.
* 1f1b (PipeDream-Flush, Narayanan et al. 2021): p−s−1 warm-up forwards on stage s, then one
  forward / one backward alternately, then the remaining backwards.
* interleaved (Narayanan et al. 2021 §2.2; Megatron-LM's
  ``forward_backward_pipelining_with_interleaving``): each stage holds v chunks; virtual
  micro-batch k runs chunk (k // p) mod v; warm-up (p−s−1)·2 + (v−1)·p. Needs m % p == 0.

The registry maps names to builders; a duplicate name is an error.
"""

from __future__ import annotations

from collections.abc import Callable

Task = tuple[str, int, int]
ScheduleBuilder = Callable[[int, int, int, int], list[Task]]

SCHEDULES: dict[str, ScheduleBuilder] = {}


def register(name: str) -> Callable[[ScheduleBuilder], ScheduleBuilder]:
    def wrap(fn: ScheduleBuilder) -> ScheduleBuilder:
        if name in SCHEDULES:
            raise ValueError(f"schedule {name!r} is registered twice")
        SCHEDULES[name] = fn
        return fn

    return wrap


@register("gpipe")
def gpipe(stage: int, stages: int, micro_batches: int, chunks: int = 1) -> list[Task]:
    return ([("F", i, 0) for i in range(micro_batches)]
            + [("B", i, 0) for i in range(micro_batches)])


@register("1f1b")
def one_f_one_b(stage: int, stages: int, micro_batches: int, chunks: int = 1) -> list[Task]:
    warmup = min(stages - stage - 1, micro_batches)
    order: list[Task] = [("F", i, 0) for i in range(warmup)]
    f, b = warmup, 0
    while f < micro_batches:
        order.append(("F", f, 0))
        f += 1
        order.append(("B", b, 0))
        b += 1
    order.extend(("B", i, 0) for i in range(b, micro_batches))
    return order


@register("interleaved")
def interleaved(stage: int, stages: int, micro_batches: int, chunks: int) -> list[Task]:
    p, m, v = stages, micro_batches, chunks
    total = m * v

    def chunk_of(k: int, forward: bool) -> int:
        c = (k // p) % v
        return c if forward else v - 1 - c

    def mb_of(k: int) -> int:
        return (k // (p * v)) * p + k % p

    warmup = min((p - stage - 1) * 2 + (v - 1) * p, total)
    order: list[Task] = [("F", mb_of(k), chunk_of(k, True)) for k in range(warmup)]
    f, b = warmup, 0
    while f < total:
        order.append(("F", mb_of(f), chunk_of(f, True)))
        f += 1
        order.append(("B", mb_of(b), chunk_of(b, False)))
        b += 1
    order.extend(("B", mb_of(k), chunk_of(k, False)) for k in range(b, total))
    return order


def build_schedule(name: str, stages: int, micro_batches: int, chunks: int = 1
                   ) -> list[list[Task]]:
    """Per-stage task order for schedule ``name``."""
    try:
        builder = SCHEDULES[name]
    except KeyError:
        raise ValueError(f"unknown schedule {name!r}; known: {', '.join(SCHEDULES)}") from None
    return [builder(s, stages, micro_batches, chunks) for s in range(stages)]


def bubble_fraction(stages: int, micro_batches: int, chunks: int = 1) -> float:
    """Ideal bubble as a fraction of the ideal compute time: (p−1)/(v·m) (formulas.md)."""
    return (stages - 1) / (chunks * micro_batches)


def alive_at_first_backward(schedule: str, s: int, p: int, m: int, v: int) -> int:
    """Micro-batch chunks whose forward has run when stage ``s`` starts its first backward (in
    the orders :func:`build_schedule` builds; megatron-core's warm-up count for interleaving)."""
    if schedule == "gpipe":
        return m
    if schedule == "interleaved":
        return min((p - s - 1) * 2 + (v - 1) * p + 1, m * v)
    return min(p - s, m)
