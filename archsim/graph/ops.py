"""Typed operations of the computation graph.

An :class:`Op` is one kernel (or one collective) on one device: its FLOPs, the bytes it moves
through device memory, the parameters it owns and the activation bytes it keeps for the
backward pass. Sizes are per device, after tensor/sequence/context/expert sharding.

FLOPs are *nominal* (the convention of Narayanan et al. 2021 and Korthikanti et al. 2022: a
multiply-add is two FLOPs and causal attention counts the full s×s product). ``work_fraction``
says how much of that a kernel actually executes (0.5 for causal flash attention, which skips
the masked half), and is used only for time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

OpKind = Literal[
    "matmul",       # dense GEMM (m×k by k×n), optionally batched
    "attention",    # fused (flash) attention: QKᵀ, softmax, ·V in one kernel
    "elementwise",  # activation, dropout, bias, residual add, rotary
    "norm",         # layer norm / RMS norm
    "softmax",
    "embedding",    # table lookup
    "loss",         # cross entropy over the vocabulary
    "optimizer",    # parameter update
    "router",       # MoE gating (top-k)
    "comm",         # collective or point-to-point transfer (time from cost.comm)
]
Phase = Literal["fwd", "bwd", "opt"]
CollectiveKind = Literal["allreduce", "allgather", "reducescatter", "alltoall", "p2p"]
Group = Literal["tp", "cp", "ep", "dp", "pp"]

MATMUL_KINDS = frozenset({"matmul", "attention"})


@dataclass(frozen=True, slots=True)
class Comm:
    """A collective issued inside the op graph (tensor/context/expert parallel)."""

    kind: CollectiveKind
    group: Group
    bytes: float
    """Buffer size S in the nccl-tests convention (whole array for all-gather/reduce-scatter)."""
    overlappable: bool = False
    """True when the kernel that follows can hide it (ring attention's K/V exchange)."""
    overlap_gemm: bool = False
    """Overlapped with its neighbouring GEMM (Transformer Engine's userbuffers tensor-parallel
    overlap): an all-gather with the GEMM after it, a reduce-scatter with the GEMM before."""
    neighbours_only: bool = False
    """A ring of point-to-point sends between neighbouring ranks, not an NCCL collective (ring
    attention's K/V exchange, Transformer Engine ``AttnFuncWithCPAndKVP2P``): across nodes
    each boundary hop runs on the one NIC of the rank that sends it
    (archsim/cost/comm.py ``neighbour_ring_time``)."""
    backward: bool = True
    """Whether the backward pass runs the conjugate collective. A transformer layer pairs each
    of Megatron-LM's forward all-reduces (the g operator after a row-parallel GEMM, identity in
    backward) with the backward all-reduce of the f operator before the next column-parallel
    GEMM (identity in forward): same count, same size. False where no f stands in: the
    vocab-parallel embedding's output and the cross-entropy's reductions."""


GemmLayout = Literal["nt", "nn", "tn"]


@dataclass(frozen=True, slots=True)
class Op:
    """One kernel or collective on one device.

    ``shape`` is (batch, m, k, n) for matmuls; ``params`` counts parameters the op owns
    (forward ops only); ``saved_bytes`` is what the forward op keeps for the backward pass.
    """

    name: str
    kind: OpKind
    phase: Phase
    flops: float = 0.0
    bytes: float = 0.0
    dtype: str = "bf16"
    shape: tuple[int, int, int, int] | None = None
    params: float = 0.0
    saved_bytes: float = 0.0
    comm: Comm | None = None
    work_fraction: float = 1.0
    executed: float = 1.0
    """Share of ``flops`` the hardware executes: 0.5 for a 2:4-sparse weight GEMM, whose sparse
    tensor cores skip the pruned half (HFU and TFLOP/s count what executes)."""
    model_share: float = 1.0
    """Share of ``flops`` that is the model's own work (MFU): 1 / capacity_factor for MoE
    expert GEMMs padded to a capacity above 1 (the padding executes, so HFU counts it); 1
    below it (dropped token copies neither execute nor count)."""
    vector_flops: float = 0.0
    """Extra work on the vector units inside the same kernel (e.g. fused dequantization)."""
    bwd_bytes: float | None = None
    """Memory traffic of the op's backward when it is not 1.5× the forward's (see backward_of)."""
    attention_core: bool = False
    """Part of the attention core (QKᵀ, softmax, dropout, ·V) that selective recompute redoes."""
    layout: GemmLayout | None = None
    """A weight GEMM's operand layout, as ``archsim calibrate`` times them: ``nt`` the forward
    x·Wᵀ, ``nn`` its data gradient dy·W, ``tn`` its weight gradient xᵀ·dy (None: not a linear
    layer's GEMM). Calibrated profiles may price each layout by its row count (shape[1])."""
    variant: str | None = None
    """Which kernel implements an op of a kind that several implement (``layernorm`` or
    ``rmsnorm`` for a norm, ``gelu``, ``swiglu`` or ``relu`` for the MLP's activation): a
    calibrated profile may price each by its own measured efficiency (``by_kind`` keys
    ``norm.rmsnorm.bwd``, ...); None, or a variant the profile did not measure, takes the
    kind's."""
    dgrad_comm: Comm | None = None
    """A collective on this GEMM's input gradient in the backward pass that no forward
    collective stands in for: Megatron-LM's f operator before the vocab-parallel (column-
    parallel) logits GEMM, an all-reduce of the gradient of its input over tp."""
    regather: Comm | None = None
    """The all-gather that re-assembles this column-parallel GEMM's sequence-parallel input in
    the backward pass for its weight gradient: Megatron-core and Transformer Engine save only
    the rank's sequence shard and gather it again, overlapped with the data-gradient GEMM."""
    grouped: bool = False
    """Runs inside the grouped kernel of the op of its kind before it (an MoE layer's experts
    under a grouped GEMM: vLLM's fused_moe, TensorRT-LLM, Megatron-core ``moe_grouped_gemm``):
    its work is its own, its launch and fixed cost are not, and it is not a kernel of its own."""
    masked: float = 0.0
    """Share of a fused attention's full q×kv score work that its causal mask makes skippable
    (0.5 for a whole prefix; work_fraction assumes the kernel skips all of it). A profile that
    measured how much its kernel really skips (EfficiencySpec.causal_skip) prices the rest."""

    @property
    def skipped_flops(self) -> float:
        """The FLOPs a fused causal attention's kernel skips (counted in ``flops`` by the
        training convention)."""
        return self.flops * self.masked if self.kind == "attention" else 0.0

    @property
    def is_matmul(self) -> bool:
        return self.kind in MATMUL_KINDS
