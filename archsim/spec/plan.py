"""Parallel plan and compression plan specs (what to run where; how the model is compressed)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from archsim.spec.base import StrictModel
from archsim.spec.device import Dtype
from archsim.spec.model import ModelSpec
from archsim.spec.units import BYTES_PER_ELEMENT


class ParallelPlan(StrictModel):
    """How the work is split over devices (Megatron-LM / DeepSpeed vocabulary)."""

    dp: int | None = Field(default=None, ge=1)
    """Data-parallel replicas; default count / (tp · pp · cp)."""
    tp: int = Field(default=1, ge=1)
    pp: int = Field(default=1, ge=1)
    sp: bool = False
    """Megatron sequence parallelism (reduce-scatter / all-gather instead of all-reduce)."""
    cp: int = Field(default=1, ge=1)
    ep: int = Field(default=1, ge=1)
    zero: int = Field(default=0, ge=0, le=3)
    schedule: Literal["gpipe", "1f1b", "interleaved"] = "1f1b"
    virtual_stages: int = Field(default=1, ge=1)
    recompute: Literal["none", "selective", "full"] = "none"
    overlap_comm: bool = True
    """Overlap the data-parallel gradient reduction with the backward pass."""
    flash_attention: bool = True
    """Fused attention kernel that never stores the s×s score matrix (Dao et al. 2022)."""
    tp_comm_overlap: bool = False
    """With sp: overlap each tensor-parallel all-gather / reduce-scatter with its GEMM
    (Transformer Engine userbuffers, NeMo / Megatron-core ``tp_comm_overlap``)."""
    attention_kernel: Literal["auto", "flash2", "flash3"] = "auto"
    """Generation of the fused attention kernel (with flash_attention): flash2
    (FlashAttention-2), flash3 (FlashAttention-3, cuDNN / Transformer Engine fused attention
    on Hopper) or auto, the best the device's in-situ profile has (archsim/spec/insitu.py)."""
    grad_accumulation: Literal["native", "fp32", "fp32-fused", "fp32-cast"] = "native"
    """Where weight gradients accumulate over micro-batches (archsim/cost/gradients.py):
    native (the training dtype, in place), fp32 (Megatron-LM's fp32 ``main_grad`` hook),
    fp32-fused (the weight-gradient GEMM adds into fp32 ``main_grad``) or fp32-cast (DeepSpeed's
    BF16_Optimizer: cast, then add). Sets the accumulation pass, the gradient memory and the
    data-parallel reduction's element size."""
    moe_grouped_gemm: bool = True
    """Mixture-of-experts layers run their local experts' GEMMs (and activations) as one
    grouped kernel per projection (vLLM's fused_moe, TensorRT-LLM, Megatron-core
    ``--moe-grouped-gemm``): each expert's work is costed by its own size, but only the group
    pays a kernel's fixed cost. False: a kernel per expert (Megatron's SequentialMLP, eager
    Hugging Face Mixtral)."""
    zero3_granularity: Literal["layer", "tensor"] = "layer"
    """ZeRO-3 / FSDP: one parameter all-gather per layer (FSDP wrapping each transformer
    block) or one per weight tensor (DeepSpeed ZeRO-3), see archsim/plan/zero3.py."""
    zero3_prefetch: int = Field(default=1, ge=0, le=8)
    """ZeRO-3 / FSDP: layers whose gathers may run ahead of compute (0: none, gathers and
    compute alternate; FSDP's backward prefetch and rate limiter keep about one ahead)."""
    layers_per_stage: list[int] | None = None
    """Explicit layers per pipeline stage (default: even split)."""
    placement: Any = None
    """Heterogeneous clusters: which pool runs which stages (or prefill / decode)."""


class SparsityPlan(StrictModel):
    """Weight sparsity: unstructured pruning at ``ratio`` or NVIDIA's 2:4 pattern (ratio 0.5)."""

    pattern: Literal["unstructured", "2:4"]
    ratio: float = Field(default=0.5, ge=0, lt=1)
    """Fraction of the weights removed; 2:4 removes two of every four, so only 0.5."""
    index_bits: int = Field(default=16, ge=1, le=64)
    """Unstructured: bits of the column index stored per kept weight (CSR/COO format)."""

    @field_validator("ratio")
    @classmethod
    def _two_four_is_half(cls, ratio: float, info: ValidationInfo) -> float:
        """Raises ValueError for a 2:4 pattern with a ratio other than 0.5."""
        if info.data.get("pattern") == "2:4" and ratio != 0.5:
            raise ValueError("pattern 2:4 keeps exactly two of every four weights (ratio 0.5); "
                             "leave ratio out, or use pattern: unstructured for another ratio")
        return ratio


class PruningPlan(StrictModel):
    """Structured pruning: the fraction of attention heads, FFN width or layers removed.

    The result is a smaller model that is simulated as such (its name gets a '-pruned' tag).
    """

    heads: float = Field(default=0.0, ge=0, lt=1)
    ffn: float = Field(default=0.0, ge=0, lt=1)
    layers: float = Field(default=0.0, ge=0, lt=1)


class DistillPlan(StrictModel):
    student: ModelSpec
    """A model name (resolved by the loader) or an inline model mapping."""
    teacher_dtype: Dtype | None = None
    """Dtype the teacher runs its forward pass in (default: the workload's). Narrower than the
    workload's: quantized by the rules of an inference compression plan (archsim.plan.compress):
    fp8 / fp6 / fp4 as weights and activations at the device's peak for it, int8 / int4 as
    weight-only with ``group_size`` scales; the embedding and output layer stay 16-bit."""


ScaleDtype = Literal["fp32", "bf16", "fp16", "fp8", "int8"]
"""Dtypes a quantization scale is stored in, as published schemes store them: fp16 (GPTQ,
Frantar et al. 2023, and AWQ, Lin et al. 2024, in their AutoGPTQ / AutoAWQ checkpoints), fp32
(bitsandbytes NF4 without double quantization, Dettmers et al. 2023, QLoRA), bf16 (the other
16-bit float), fp8 E4M3 (NVIDIA's NVFP4, one per 16 weights) and 8-bit integers (QServe's
second-level group scales, Lin et al. 2024, arXiv:2405.04532, beside fp16 per-channel ones).
No scheme stores a 4-bit scale: a scale sets the range of a group, so it is no narrower than
the values it scales."""


class CompressionPlan(StrictModel):
    """Fields of the compression plan; their effects are simulated by archsim.plan.compress."""

    weight_dtype: Dtype | None = None
    activation_dtype: Dtype | None = None
    kv_cache_dtype: Dtype | None = None
    group_size: int = Field(default=128, ge=1)
    """Weights per quantization scale (group-wise quantization); one ``scale_dtype`` each."""
    scale_dtype: ScaleDtype = "fp16"
    """Dtype of each group's scale (``ScaleDtype``: GPTQ and AWQ store fp16)."""
    fallback: Dtype | None = None
    """Dtype to compute in when the device lacks the requested one (e.g. fp8 on A100 → bf16);
    without it such a plan is infeasible."""
    sparsity: SparsityPlan | None = None
    pruning: PruningPlan | None = None
    distill: DistillPlan | None = None
    accuracy_note: str | None = None
    """User-supplied note on model quality, echoed into results (archsim does not simulate
    quality)."""


def compression_problems(plan: CompressionPlan, workload_dtype: str) -> list[str]:
    """Why ``plan`` does not compress a ``workload_dtype`` model: a weight, activation or
    KV-cache dtype wider than the workload's (fp32 weights on a bf16 model are larger, not
    compressed). One as wide is accepted and changes nothing (bf16 on fp16): a sweep over
    ``weight_dtype: [bf16, int8, int4]`` keeps its uncompressed point."""
    base = BYTES_PER_ELEMENT[workload_dtype]
    problems = []
    for key in ("weight_dtype", "activation_dtype", "kv_cache_dtype"):
        dtype = getattr(plan, key)
        if dtype is None:
            continue
        size = BYTES_PER_ELEMENT[dtype]
        if size > base:
            what = "wider than"
            problems.append(f"compression.{key} {dtype} ({size:g} B per element) is {what} "
                            f"workload.dtype {workload_dtype} ({base:g} B), which is not "
                            f"compression; leave compression.{key} out or give a dtype "
                            f"narrower than {workload_dtype}")
    return problems
