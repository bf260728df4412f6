"""Input-pipeline and checkpoint specs of a training workload (``workload.data``,
``workload.checkpoint``); the storage they use is ``hardware.storage`` (StorageSpec)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from archsim.spec.base import StrictModel
from archsim.spec.units import Bandwidth, Bytes


class DataSpec(StrictModel):
    """Reading the training data: tokenized samples, sharded over the data-parallel replicas."""

    bytes_per_token: int | None = Field(default=None, ge=1, le=8)
    """Bytes of one stored token id; default as Megatron-LM's indexed dataset picks it: 2
    (uint16) when the vocabulary is below 65,500 tokens, else 4 (int32)."""
    bytes_per_sample: Bytes | None = None
    """Bytes read per sample instead (e.g. images, audio, uncompressed features)."""
    prefetch: bool = True
    """Loader workers read the next step's data during this step (PyTorch DataLoader)."""


class CheckpointSpec(StrictModel):
    """Writing checkpoints of the training state to storage."""

    interval_steps: int = Field(ge=1)
    """Steps between checkpoints."""
    mode: Literal["sync", "async"] = "sync"
    """sync: training waits for the write; async: it waits only for a snapshot to host
    memory, and the write runs behind the next steps."""
    parallel: bool = True
    """Every data-parallel rank writes a slice (Megatron-LM's fully parallel save); False:
    only data-parallel rank 0 of each model-parallel shard writes."""
    include_optimizer: bool = True
    snapshot_bandwidth: Bandwidth = 25.6e9
    """async: device → host copy bandwidth per device. Default: PCIe Gen4 x16 at 80% of
    32 GB/s, as hardware_profiles/interconnects/pcie4-x16.yaml (UNVERIFIED estimate)."""
