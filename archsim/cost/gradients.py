"""Where a training step keeps its weight gradients: the bytes of the pass that adds each
micro-batch's gradients into the buffer, of the buffer itself and of its data-parallel
reduction (``plan.grad_accumulation``).

Per parameter, with e the training dtype's bytes (2 for bf16/fp16):

* ``native`` — gradients in the training dtype, accumulated in place (PyTorch's ``.grad``
  accumulation; Megatron-LM's ``main_grad`` hook in the parameters' dtype): each micro-batch
  reads the new gradient and the buffer and writes the buffer, 3e bytes; the buffer holds e and
  is reduced in e (formulas.md: 2 B per parameter in 16-bit training).
* ``fp32`` — an fp32 ``main_grad`` buffer that the hook adds each micro-batch's gradient into
  (Megatron-LM ``--accumulate-allreduce-grads-in-fp32``, ``main_grad.add_(grad)``): reads e and
  4, writes 4, e + 8 bytes; the buffer holds 4 and is reduced in fp32.
* ``fp32-fused`` — the weight-gradient GEMM accumulates into the fp32 ``main_grad`` itself
  (Megatron-LM ``gradient_accumulation_fusion``, Transformer Engine ``fuse_wgrad_accumulation``):
  no separate pass; the buffer holds 4 and is reduced in fp32.
* ``fp32-cast`` — DeepSpeed's BF16_Optimizer (``update_hp_grads`` after every micro-batch's
  backward: ``hp_grad.add_(lp.grad.to(fp32))``): reads the e-byte gradient and writes an fp32
  copy (e + 4), then reads the copy and the buffer and writes the buffer (12), e + 16 bytes; the
  16-bit gradients stay allocated beside the fp32 buffer (e + 4) and the fp32 buffer is reduced.
"""

from __future__ import annotations

from dataclasses import dataclass

from archsim.cost.memory import sharded_bytes
from archsim.spec.units import BYTES_PER_ELEMENT

FP32 = 4.0


@dataclass(frozen=True, slots=True)
class GradientPath:
    """Bytes per parameter of one gradient-accumulation mode (see the module docstring)."""

    accumulate: float
    """Moved by the accumulation pass after each micro-batch (0: fused into the GEMM)."""
    memory: float
    """Held by the gradient buffers (before ZeRO-2/3 sharding)."""
    reduce: float
    """Sent by the data-parallel gradient reduction (its element size)."""


def accumulated_params(params: float, zero: int, shard: int, expert_params: float = 0.0,
                       expert_shard: int = 1) -> float:
    """Parameters whose gradients one micro-batch's pass adds into the buffer: all of the
    rank's, or under ZeRO-2/3, which reduce-scatter every micro-batch's gradients, its shard
    (DeepSpeed's partitioned gradients, FSDP's saved gradient shard)."""
    if zero < 2:
        return params
    return sharded_bytes(1.0, params, shard, expert_params, expert_shard)


def gradient_path(mode: str, dtype: str) -> GradientPath:
    """The gradient bytes per parameter of accumulation ``mode`` in training dtype ``dtype``."""
    e = BYTES_PER_ELEMENT[dtype]
    if mode == "native":
        return GradientPath(accumulate=3 * e, memory=e, reduce=e)
    if mode == "fp32":
        return GradientPath(accumulate=e + 2 * FP32, memory=FP32, reduce=FP32)
    if mode == "fp32-fused":
        return GradientPath(accumulate=0.0, memory=FP32, reduce=FP32)
    if mode == "fp32-cast":
        return GradientPath(accumulate=e + 4 * FP32, memory=e + FP32, reduce=FP32)
    raise ValueError(f"unknown gradient accumulation {mode!r}")
