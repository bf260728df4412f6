"""Data loading and checkpoint writes of a training job, from the storage profile.

Input pipeline (sharded loading, as Megatron-LM does it): each data-parallel replica reads its
1/dp of the global batch; inside a replica the tensor-parallel rank 0 of the first pipeline
stage reads the tokens and the one of the last stage reads them again for the labels (then
broadcasts to its tensor-parallel peers), so ``pp > 1`` reads twice. A sample is seq_len + 1
stored tokens (the label of the last position). The readers sit on ``reader nodes``; the read
takes latency + bytes / min(aggregate read bandwidth, reader nodes × per-client bandwidth)
(per-node storage: reader nodes × the node's bandwidth). With prefetch (loader workers read
the next step's batch during this step) only the part longer than the step is exposed.

Checkpoint (one write of the training state): the unique bytes of the weights in the training
dtype plus the optimizer states (fp32 master weights and moments: 12 B per parameter with
Adam, reference/formulas.md), summed over the devices with ZeRO / tensor / pipeline sharding
undone (MoE experts sharded over ep are counted once per rank: an undercount for ep > 1).
Fully parallel save: every node writes a slice; else data-parallel rank 0 of each
model-parallel shard writes. sync: training waits for the write; async: it waits for a copy of
each device's slice to host memory, and a write longer than the checkpoint interval exposes
the rest. The amortized cost per step is the exposed time / interval.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from archsim.cost.memory import model_state_bytes
from archsim.plan.layout import Layout
from archsim.spec.hardware import StorageSpec
from archsim.spec.io import CheckpointSpec, DataSpec
from archsim.spec.scenario import ScenarioSpec

# Megatron-LM's indexed dataset stores token ids as uint16 below this vocabulary size, else
# int32 (megatron/core/datasets/indexed_dataset.py, DType.optimal_dtype / __best_fitting_dtype).
UINT16_VOCAB_LIMIT = 65500


@dataclass(frozen=True)
class DataCost:
    bytes_per_step: float
    """Bytes read from storage per step (all readers)."""
    reader_nodes: int
    bandwidth: float
    read_s: float
    exposed_s: float
    prefetch: bool


@dataclass(frozen=True)
class CheckpointCost:
    bytes: float
    writer_nodes: int
    bandwidth: float
    write_s: float
    snapshot_s: float
    exposed_s: float
    """Time the training waits per checkpoint."""
    interval_steps: int
    mode: str

    @property
    def amortized_s_per_step(self) -> float:
        return self.exposed_s / self.interval_steps


def _bandwidth(storage: StorageSpec, nodes: int, write: bool) -> float:
    agg = storage.write_bandwidth if write else storage.read_bandwidth
    if storage.scope == "per-node":
        return agg * nodes
    client = storage.client_write_bandwidth if write else storage.client_read_bandwidth
    return min(agg, nodes * client) if client is not None else agg


def _nodes_of(devices: int, per_node: int, spread: int) -> int:
    """Nodes holding ``devices`` devices of one role spaced ``spread`` ranks apart."""
    if spread >= per_node:
        return devices
    return max(1, math.ceil(devices * spread / per_node))


def data_loading(sc: ScenarioSpec, layout: Layout, step_s: float) -> DataCost | None:
    """Input-pipeline cost of one step (None without a storage profile)."""
    storage = sc.cluster.storage
    if storage is None:
        return None
    wl = sc.workload
    spec = getattr(wl, "data", None) or DataSpec()
    if spec.bytes_per_sample is not None:
        per_sample = spec.bytes_per_sample
    else:
        per_token = spec.bytes_per_token or (2 if sc.model.vocab < UINT16_VOCAB_LIMIT else 4)
        per_sample = per_token * (wl.seq_len + 1)
    copies = 2 if layout.pp > 1 else 1  # first stage (tokens) and last stage (labels)
    nbytes = wl.global_batch * per_sample * copies
    per_node = sc.cluster.pools[0].devices_per_node
    readers = layout.dp * copies
    nodes = _nodes_of(layout.dp, per_node, layout.tp * layout.cp) * copies
    bw = _bandwidth(storage, min(nodes, readers), write=False)
    read = storage.latency + nbytes / bw
    exposed = max(0.0, read - step_s) if spec.prefetch else read
    return DataCost(bytes_per_step=nbytes, reader_nodes=min(nodes, readers), bandwidth=bw,
                    read_s=read, exposed_s=exposed, prefetch=spec.prefetch)


def checkpoint_bytes(sc: ScenarioSpec, layout: Layout, stage_params: list[tuple[float, float]],
                     include_optimizer: bool = True) -> tuple[float, float]:
    """(unique checkpoint bytes, bytes per device) of the training state.

    ``stage_params`` is, per pipeline stage, (parameters on one rank, of which MoE expert
    parameters). A checkpoint holds what the ranks of one data-parallel replica hold, as
    Megatron-LM's per-rank checkpoint files do: each tensor-parallel rank's parameters (so the
    ones tensor parallelism replicates — norms, row-parallel biases, learned positions — once
    per rank, and a tied embedding on both the first and the last stage: about 0.5% more than
    the unique parameters for GPT-3 175B at tp 8, pp 8), the experts of all ep ranks (each rank
    keeps experts/ep of them), with their optimizer states unless left out. Derived copies (an
    fp8 training copy of the weights) are not saved. Every rank of the stage writes an equal
    share (a distributed checkpoint).
    """
    wl = sc.workload
    total = per_device_max = 0.0
    for params, experts in stage_params:
        full = params - experts + experts * layout.ep  # one tensor-parallel rank, all experts
        st = model_state_bytes(full, wl.dtype, wl.optimizer, zero=0, shard=1)
        unique = (st.weights + (st.optimizer_states if include_optimizer else 0.0)) * layout.tp
        total += unique
        per_device_max = max(per_device_max, unique / (layout.tp * layout.dp_shard))
    return total, per_device_max


def checkpointing(sc: ScenarioSpec, layout: Layout, stage_params: list[tuple[float, float]],
                  step_s: float, devices_per_node: int) -> CheckpointCost | None:
    """Cost of one checkpoint and its share per step (None unless workload.checkpoint)."""
    storage = sc.cluster.storage
    spec: CheckpointSpec | None = getattr(sc.workload, "checkpoint", None)
    if spec is None or storage is None:
        return None
    nbytes, per_device = checkpoint_bytes(sc, layout, stage_params, spec.include_optimizer)
    nodes = max(1, math.ceil(layout.devices / devices_per_node))
    if not spec.parallel:  # data-parallel rank 0 of each stage: its first tp·cp ranks
        nodes = min(nodes, layout.pp * math.ceil(layout.tp * layout.cp / devices_per_node))
    bw = _bandwidth(storage, nodes, write=True)
    write = storage.latency + nbytes / bw
    if spec.mode == "sync":
        snapshot, exposed = 0.0, write
    else:
        snapshot = per_device / spec.snapshot_bandwidth
        exposed = snapshot + max(0.0, write - spec.interval_steps * step_s)
    return CheckpointCost(bytes=nbytes, writer_nodes=nodes, bandwidth=bw, write_s=write,
                          snapshot_s=snapshot, exposed_s=exposed,
                          interval_steps=spec.interval_steps, mode=spec.mode)


def io_block(sc: ScenarioSpec, data: DataCost | None, ckpt: CheckpointCost | None,
             step_s: float) -> dict | None:
    """The result's ``io`` section (None when no storage is modelled)."""
    storage = sc.cluster.storage
    if storage is None:
        return None
    out: dict = {"storage": storage.name or storage.kind,
                 "data": asdict(data) if data is not None else None, "checkpoint": None}
    if ckpt is not None:
        out["checkpoint"] = {**asdict(ckpt), "amortized_s_per_step": ckpt.amortized_s_per_step}
    out["step_time_with_checkpoint_s"] = step_s + (ckpt.amortized_s_per_step if ckpt else 0.0)
    return out
