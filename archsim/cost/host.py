"""The host as a second queue: a device that runs asynchronously from its host (a GPU) waits
for the host only when the host issues ops more slowly than the device runs them.

The host issues the ops of a pass one after another, h seconds each (the profile's in-situ
``host_op_cost``, or ``inference_host_op_cost`` for inference); op i starts on the device when
it has been issued and op i − 1 has finished. A pass of n ops with device times d_i then ends
at max_k (k·h + Σ_{i≥k} d_i), which lies between max(n·h, Σ d_i) and that plus one op's
time. archsim charges

    t = max(Σ d_i, n·h)

(assumption: a pass is long enough that the first op's issue and the last op's run — a few
microseconds — do not matter; the host's per-pass work outside the ops, such as sampling and
the synchronisation that ends a step, is the in-situ ``iteration_overhead``/``step_overhead``
and adds in series). With h = None the host never sets the pace (serving engines, CUDA
graphs, the shipped profiles): t = Σ d_i. On a CPU the host *is* the device: its costs per
op add to every op (``kernel_overhead``), not through this queue.
"""

from __future__ import annotations


def host_wait_s(device_s: float, ops: float, host_op_cost: float | None) -> float:
    """Seconds the device waits for the host in a pass of ``ops`` ops that keep the device
    busy ``device_s`` seconds (0 when the device is the slower of the two)."""
    if not host_op_cost or ops <= 0:
        return 0.0
    return max(ops * host_op_cost - device_s, 0.0)
