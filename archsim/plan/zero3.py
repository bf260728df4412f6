"""ZeRO-3 / FSDP parameter gathers inside a forward or backward task, layer by layer.

Each layer's parameters are all-gathered before the layer runs (``plan.zero3_granularity``:
one collective for the whole layer, as FSDP wraps a transformer block, or one per weight
tensor, as DeepSpeed ZeRO-3 fetches parameters). With ``overlap_comm`` the gather of layer
i + 1 … i + d (d = ``plan.zero3_prefetch``) runs while layer i computes; the first gather of a
task is never hidden, and a gather that outlasts its layer's compute holds the next layer up.
In the backward pass each layer is gathered again (the forward freed it) and its gradients'
reduce-scatter shares the same network, so a layer's network time is gather + reduce-scatter.
While a collective is in flight the layer's kernels run ``overlap_slowdown`` × slower
(archsim/cost/insitu.py). Without overlap, or with prefetch 0, gathers and compute alternate.

The recurrence (per task, layers in execution order, ``extra`` = embedding / head gathers
issued first):

    gather_end[i]   = max(gather_end[i−1], compute_start[i−d]) + net[i]
    compute_start[i] = max(compute_end[i−1], gather_end[i])
    compute_end[i]  = compute_start[i] + slowed(c[i], the network time overlapping it)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from archsim.cost.comm import CommGroup, collective_time
from archsim.graph.ops import Op


@dataclass(frozen=True, slots=True)
class GatherTask:
    """A task's duration with its parameter gathers and the gathers' own time."""

    duration_s: float
    gather_s: float
    """Time the gathers (and, in backward, the reduce-scatters sharing their network) run."""


def layer_gather_s(ops: Sequence[Op], e: float, dense_group: CommGroup,
                   expert_group: CommGroup, is_expert, granularity: str,
                   extra_params: float = 0.0) -> float:
    """All-gather time of one layer's parameters (``ops``: its forward ops; ``is_expert(op)``
    says whether an op's weights belong to local experts, gathered over ``expert_group``;
    ``extra_params``: one more dense tensor, e.g. the last stage's tied embedding copy)."""
    if granularity == "tensor":
        total = 0.0
        for op in ops:
            if op.params:
                group = expert_group if is_expert(op) else dense_group
                total += collective_time("allgather", e * op.params, group).time_s
        if extra_params:
            total += collective_time("allgather", e * extra_params, dense_group).time_s
        return total
    dense = extra_params + sum(op.params for op in ops if op.params and not is_expert(op))
    expert = sum(op.params for op in ops if op.params and is_expert(op))
    t = collective_time("allgather", e * dense, dense_group).time_s
    if expert:
        t += collective_time("allgather", e * expert, expert_group).time_s
    return t


def task_with_gathers(compute: Sequence[float], net: Sequence[float], extra_s: float,
                      other_s: float, prefetch: int, overlap: bool, slowdown: float
                      ) -> GatherTask:
    """Duration of a task whose layers take ``compute[i]`` seconds of kernels and need
    ``net[i]`` seconds of network (gather, + reduce-scatter in backward) before / beside
    them; ``other_s``: kernels outside the layers (embedding, head), ``extra_s``: their
    gathers. See the module docstring."""
    gathers = extra_s + sum(net)
    if not overlap or prefetch <= 0 or not compute:
        return GatherTask(other_s + sum(compute) + gathers, gathers)
    n = len(compute)
    gather_end = [0.0] * n
    start = [0.0] * n
    end_prev = 0.0
    g_prev = extra_s
    for i in range(n):
        issue = g_prev if i < prefetch else max(g_prev, start[i - prefetch])
        gather_end[i] = issue + net[i]
        g_prev = gather_end[i]
        start[i] = max(end_prev, gather_end[i])
        # network work overlapping this layer: the gathers issued for the layers ahead
        ahead = sum(net[i + 1:i + 1 + prefetch])
        end_prev = start[i] + _slowed(compute[i], ahead, slowdown)
    return GatherTask(end_prev + other_s, gathers)


def _slowed(compute_s: float, comm_s: float, slowdown: float) -> float:
    """Kernels of ``compute_s`` with ``comm_s`` of collectives in flight beside them: the
    time the compute takes (the collective may finish later; that wait is counted where the
    next layer needs its parameters)."""
    if slowdown == 1.0 or comm_s <= 0:
        return compute_s
    return min(compute_s * slowdown, compute_s + comm_s * (1.0 - 1.0 / slowdown))


def reducing_backward_s(backward_s: float, reduce_s: float, slowdown: float) -> float:
    """A backward task whose gradient buckets reduce beside it (overlap_comm): its kernels
    slowed while the reduction is in flight; the reduction's own tail is the DES's."""
    return _slowed(backward_s, reduce_s, slowdown)


def gather_beyond_s(compute_s: float, gather_s: float, slowdown: float) -> float:
    """Time a gather of ``gather_s`` started with ``compute_s`` of kernels adds to them: the
    longer of the gather and the kernels slowed beside it, less the kernels alone."""
    return max(gather_s, _slowed(compute_s, gather_s, slowdown)) - compute_s


__all__ = ["GatherTask", "gather_beyond_s", "layer_gather_s", "reducing_backward_s",
           "task_with_gathers"]
