"""The result of a simulation and its JSON form (CONTRACT.md, "Result JSON").

Metric definitions (each defined once, here):

* ``step_time_s`` — wall time of one optimizer step over the global batch, including input
  loading not hidden behind the step (``time_breakdown.io_s``; archsim/plan/io.py).
* ``tokens_per_s`` — training: global_batch · seq_len / step_time_s; inference: generated
  tokens per second.
* ``mfu`` — model FLOPs per step / (step_time_s · devices · dense peak of the dtype the GEMMs
  run in: the workload dtype, or fp8 / int8 under such a compression plan);
  model FLOPs count forward + backward matrix FLOPs without recomputation (Korthikanti et al.
  2022, eq. 7 generalised to the op graph). Heterogeneous pipelines: Σ device peaks instead.
* ``hfu`` — the same with the FLOPs actually executed, recomputation included (PaLM).
  Training counts a causal attention's full s × s product in both (Narayanan et al. 2021);
  inference counts the work done, the causal half a fused kernel computes
  (``PhaseCost.masked_flops``), in MFU, HFU, TFLOP/s and ``phases.*.flops_per_device``.
  Under 2:4 sparsity MFU counts the sparse GEMMs' FLOPs against the device's sparse peak
  (archsim/metrics/common.py ``mfu_peak``: the dense peak × ``sparsity.peak_factor``), so it
  stays within 0..1 (against the dense peak a 2:4 prefill had read 114.8%); HFU counts the
  half they execute against the dense peak.
* ``gemm_dtype`` — the dtype whose peak MFU and HFU divide by.
* ``mfu_peak_tflops`` (training, inference) — the peak per device MFU divides by, in TFLOP/s:
  the dense peak of ``gemm_dtype``, blended with the sparse peak under 2:4 sparsity (and, in
  distillation, with the teacher's GEMM dtype's peak for its forward FLOPs).
* ``mfu_basis`` (training, inference) — those peaks in words where a reader could not guess
  them (fp8 GEMMs, 2:4-sparse GEMMs, a teacher in another dtype); null for a plain 16-bit run.
* ``uncertainty`` — the calibrated error bar (archsim/accuracy.py): the cross-validated
  error of the device profile on measured runs of this kind, as intervals on the headline
  metrics, and where the run lies outside what the profile was calibrated on.
* ``tflops_per_device`` — executed matrix TFLOP/s per device.
* ``memory.peak_bytes_per_device`` — the largest, over pipeline stages, of model states +
  peak live activations (read off the simulated schedule) + runtime reserve; on a cluster of
  several device types, that of the stage that fills its device's memory the most (the one
  that decides whether the plan fits), with that device's ``capacity_bytes``.
* ``memory.per_stage[].micro_batches_alive`` — micro-batches whose activations a stage holds
  at its peak, in whole micro-batches: chunks alive / virtual stages under interleaving (19 of
  4 chunks each a quarter of the stage's layers: 4.75).
* ``pipeline.bubble_fraction`` — bubble_s / step_time_s (the step includes fixed overheads and
  exposed communication); ``pipeline.ideal_bubble_fraction`` — (p − 1) / (v · m), the bubble
  of uniform stages as a share of their compute (Narayanan et al. 2021): the two have
  different denominators; ``pipeline.bubble_over_compute`` — bubble_s / the critical stage's
  compute (recomputation included), on the ideal's basis (it is above the ideal where stages
  are uneven or sends take time); ``pipeline.stages`` — each stage's ``compute_s`` (its
  compute and recomputation) and ``bubble_s`` (idle up to its last backward).
* ``kv_cache_bytes_per_token`` (inference) — KV-cache bytes one token takes across a
  replica's tensor-parallel group: K/V heads replicated over tp ranks when fewer than tp are
  counted on every rank that holds them (the memory it occupies, not the model's own figure).
* ``offered_requests_per_s`` (serving) — the arrival rate asked for (``workload.arrival
  .rate_per_s``; a trace's mean rate; null for a burst or a closed loop, whose clients
  wait for their answers);
  ``requests_per_s`` is the rate served in the steady state (a burst's over the whole run:
  ``steady_state.burst``). A closed loop's latency statistics are over the requests sent in
  that window (``steady_state.latencies_in_window``; without a window, those after its first
  wave), every other stream's over all requests;
  ``steady_state.ttft_mean_s`` / ``tpot_mean_s`` / ``e2e_mean_s`` are the window's means.
* ``communication.exposed_time_s`` — communication time on the critical path of the busiest
  stage (blocking collectives plus gradient reduction not hidden behind backward).
* ``communication.bytes_per_device``, ``communication.by_kind.*.bytes`` — the sum of each
  collective's buffer size S, nccl-tests' ``size`` convention (the whole array of an
  all-gather or reduce-scatter, one message of a point-to-point send), per device of the
  busiest stage over one step (inference and serving: over the run). S is not traffic,
  and kinds do not compare by it: ZeRO-1's reduce-scatter + all-gather count 2S where ZeRO-0's
  all-reduce of the same gradients counts S, though both send the same.
  ``communication.wire_bytes_per_device``, ``communication.by_kind.*.wire_bytes`` — the bytes
  the device sends for them on a ring of each collective's n ranks: all-reduce 2(n−1)/n·S,
  all-gather, reduce-scatter and all-to-all (n−1)/n·S, point-to-point S
  (archsim/plan/opcost.py ``wire_bytes``). ZeRO-1/2 then send what ZeRO-0 sends and
  ZeRO-3 1.5× it at one micro-batch a step (Rajbhandari et al. 2020 §7); sequence
  parallelism's all-gathers and reduce-scatters what the all-reduces they replace do
  (Korthikanti et al. 2022 §4.2.2), plus the backward's re-gathers of GEMM inputs. The
  tensor-parallel all-gather of a pipeline send's activations on arrival (without sequence
  parallelism) is in ``p2p``'s time, not in its bytes.
* ``energy_joules`` — devices × (busy time × TDP + idle time × idle power), one step/run;
  the accelerators only (no host CPUs, NICs, switches or facility overhead / PUE). Training
  counts its compute stream's time as busy — kernels, blocking collectives (their kernels
  occupy the stream) and the optimizer step — and the pipeline bubble, waits for other
  stages and the per-step framework overhead as idle; inference and serving count every
  busy second, memory-bound decode included. TDP while busy is an upper bound: collectives
  and memory-bound kernels draw less.
* ``cost_usd`` — devices × price per device-hour × time; null without a price.
* ``energy_per_token_j`` — ``energy_joules`` / the tokens of that step or run (serving: every
  output token of the whole run, start-up and drain included); ``cost_per_million_tokens_usd``
  — training and inference: cost per step or run / its tokens; serving: price per hour over the
  steady-state output rate (archsim/metrics/serving_window.py), so a serving run's two
  per-token figures have different bases (4 A100s: $0.455 per million in the steady state,
  $0.498 over the whole run).
* ``totals`` (training) — time, tokens, energy and cost of ``workload.steps`` identical steps
  and the checkpoint pauses between them (``totals.checkpoint_s``; devices held and idle).
* ``io.checkpoint.amortized_s_per_step`` — time training waits per checkpoint / checkpoint
  interval in steps; ``io.step_time_with_checkpoint_s`` = step_time_s + that;
  ``io.cost_per_million_tokens_with_checkpoint_usd`` and
  ``io.energy_per_token_with_checkpoint_j`` — over a long run, the pauses included.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

METRIC_KEYS = ("step_time_s", "tokens_per_s", "mfu", "hfu", "tflops_per_device", "ttft_s",
               "tpot_s", "e2e_latency_s", "ttft_p50_s", "ttft_p99_s", "tpot_p50_s",
               "tpot_p99_s", "requests_per_s", "slo_attainment", "energy_joules", "cost_usd")
"""CONTRACT.md's metric keys: every result has each, null where its mode has no such metric
(a training step has no TTFT), so a reader can index any of them."""

RESULT_VERSION = 2
"""2: the in-situ performance model and its calibrated error bar (numbers of version 1 are
the isolated-kernel model's and are not comparable)."""


@dataclass
class Result:
    """Metrics of one simulated scenario. ``to_dict()`` is the JSON of CONTRACT.md."""

    data: dict[str, Any]
    spans: list = field(default_factory=list, repr=False)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    @property
    def feasible(self) -> bool:
        return bool(self.data["feasible"])

    @property
    def mode(self) -> str:
        return self.data["mode"]

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(self.data)

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        return value
    if hasattr(value, "item"):  # numpy scalars
        return _jsonable(value.item())
    return value


def empty_memory(capacity: float) -> dict[str, Any]:
    return {"peak_bytes_per_device": None, "capacity_bytes": capacity,
            "breakdown": {k: None for k in ("weights", "gradients", "optimizer_states",
                                            "activations", "kv_cache", "other")}}


def empty_communication() -> dict[str, Any]:
    return {"total_time_s": None, "exposed_time_s": None, "bytes_per_device": None,
            "wire_bytes_per_device": None,
            "by_kind": {k: {"time_s": 0.0, "bytes": 0.0, "wire_bytes": 0.0}
                        for k in ("allreduce", "allgather", "reducescatter", "alltoall", "p2p")}}
