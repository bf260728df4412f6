"""Backward ops of the forward op graph, gradient accumulation and the optimizer step.

Assumptions: the backward of a matmul is two matmuls of the same FLOPs (data and weight
gradient); fused flash attention's backward is 2.5× its forward FLOPs (FlashAttention-2
recomputes the scores); memory-bound kernels read the output gradient and the saved input and
write the input gradient (1.5× the forward traffic) unless the op says otherwise.
"""

from __future__ import annotations

from dataclasses import replace

from archsim.graph.ops import Op
from archsim.spec.units import BYTES_PER_ELEMENT, keeps_master_copy

_ADAM_FLOPS_PER_PARAM = 12.0
# FlashAttention-2 backward: 5 matmuls of the forward's 2 (Dao 2023, §3.1.2) → 2.5×, i.e.
# 1.25× the nominal 2× backward.
_FLASH_BWD_WORK = 1.25


def backward_of(op: Op) -> list[Op]:
    """Backward ops of a forward op (data gradient first, then weight gradient)."""
    name = op.name
    if op.kind == "comm":
        assert op.comm is not None
        # the conjugate collective: all-gather ↔ reduce-scatter; an all-reduce (Megatron-LM's g,
        # identity in backward) stands in for the backward all-reduce of the f paired with it
        # (Comm.backward), and has none where there is no such f
        if not op.comm.backward:
            return []
        conj = {"allreduce": "allreduce", "allgather": "reducescatter",
                "reducescatter": "allgather", "alltoall": "alltoall", "p2p": "p2p"}
        kind = conj[op.comm.kind]
        out = [replace(op, name=name + ".bwd", phase="bwd", comm=replace(op.comm, kind=kind))]
        if op.comm.group == "cp" and op.comm.kind == "allgather":
            # ring attention keeps only the rank's own K/V: its backward receives every other
            # block again while their gradients travel back to their owners, twice the
            # forward's bytes (Transformer Engine AttnFuncWithCPAndKVP2P.backward sends K/V
            # and dK/dV in one buffer)
            out.insert(0, replace(op, name=name + ".bwd_kv", phase="bwd"))
        return out
    if op.kind == "matmul":
        assert op.shape is not None
        batch, m, k, n = op.shape
        # dX = dY·Wᵀ: (m×n)·(n×k); dW = Xᵀ·dY: (k×m)·(m×n). Both run dense (a 2:4 pattern of
        # W is not one of Wᵀ) and without dequantization (training keeps 16-bit weights).
        comm, regather = op.dgrad_comm, op.regather
        op = replace(op, work_fraction=1.0, executed=1.0, vector_flops=0.0, dgrad_comm=None,
                     regather=None)
        weight = op.layout is not None
        dx = replace(op, name=name + ".dgrad", phase="bwd", shape=(batch, m, n, k), params=0.0,
                     saved_bytes=0.0, layout="nn" if weight else None)
        ops = [dx]
        if regather is not None:  # issued before the data gradient, which hides it
            ops.insert(0, Op(name=name + ".regather", kind="comm", phase="bwd", dtype=op.dtype,
                             comm=regather))
        if comm is not None:
            ops.append(Op(name=name + ".dgrad_comm", kind="comm", phase="bwd", dtype=op.dtype,
                          comm=comm))
        if op.params or op.attention_core:
            ops.append(replace(op, name=name + ".wgrad", phase="bwd", shape=(batch, k, m, n),
                               params=0.0, saved_bytes=0.0, layout="tn" if weight else None))
        else:
            ops.append(replace(op, name=name + ".dgrad2", phase="bwd", shape=(batch, k, m, n),
                               params=0.0, saved_bytes=0.0, layout="tn" if weight else None))
        return ops
    if op.kind == "attention":
        return [replace(op, name=name + ".bwd", phase="bwd", flops=2.0 * op.flops,
                        bytes=2.0 * op.bytes, saved_bytes=0.0, params=0.0,
                        work_fraction=op.work_fraction * _FLASH_BWD_WORK)]
    if op.kind == "optimizer":
        return []
    # memory-bound kernels: read the output gradient and the saved input, write the input
    # gradient → 1.5× the forward traffic (two reads + one write vs one read + one write)
    nbytes = op.bwd_bytes if op.bwd_bytes is not None else 1.5 * op.bytes
    return [replace(op, name=name + ".bwd", phase="bwd", flops=2.0 * op.flops,
                    bytes=nbytes, saved_bytes=0.0, params=0.0, bwd_bytes=None)]


def backward_ops(forward: list[Op]) -> list[Op]:
    """Backward ops of a forward op list, in reverse order."""
    out: list[Op] = []
    block = 0  # where the backward of the forward op after the current one starts
    for op in reversed(forward):
        ops = backward_of(op)
        if op.comm is not None and op.comm.group == "cp" and op.comm.overlappable:
            # ring attention's exchange runs beside the attention backward of the op after it
            # in the forward pass (placed before it: an overlappable collective is hidden
            # behind the compute op that follows it)
            out[block:block] = ops
            continue
        block = len(out)
        out.extend(ops)
    return out


def grad_accumulate_op(params: float, dtype: str, name: str = "grad_accumulate",
                       bytes_per_param: float | None = None) -> Op:
    """Adding one micro-batch's weight gradients into the gradient buffer (Megatron-LM's
    ``main_grad`` hook, PyTorch's ``.grad`` accumulation): reads both, writes the buffer — 3e
    bytes per parameter in the training dtype, or ``bytes_per_param`` (another accumulation
    mode, archsim/cost/gradients.py)."""
    e = BYTES_PER_ELEMENT[dtype]
    per = 3 * e if bytes_per_param is None else bytes_per_param
    return Op(name=name, kind="elementwise", phase="bwd", flops=params, bytes=per * params,
              dtype=dtype)


def optimizer_op(params: float, optimizer: str, dtype: str, name: str = "optimizer") -> Op:
    """Parameter update over ``params`` local parameters (memory-bound).

    Adam with fp32 master weights (mixed precision): reads and writes the fp32 master weight and
    both fp32 moments (24 B), reads the gradient (dtype), writes the 16-bit weight (dtype).
    SGD with momentum: fp32 weight and momentum (16 B) plus gradient and weight. In fp32
    training the master weight is the weight: nothing more to write.
    """
    e = BYTES_PER_ELEMENT[dtype]
    per_param = (24.0 if optimizer == "adam" else 16.0) + (2 * e if keeps_master_copy(dtype)
                                                            else e)
    return Op(name=name, kind="optimizer", phase="opt", flops=_ADAM_FLOPS_PER_PARAM * params,
              bytes=per_param * params, dtype=dtype)


def op_params(ops: list[Op]) -> float:
    return sum(op.params for op in ops)
