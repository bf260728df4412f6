"""``grad_accumulation: native`` makes m − 1 accumulation passes a step, the fp32 modes m.

PyTorch's autograd ``AccumulateGrad`` hands the first micro-batch's gradient to ``.grad``
without a copy when ``.grad`` is None (``zero_grad(set_to_none=True)``, the default since
PyTorch 2.0) and adds the later ones in place: m − 1 passes of 3 · 2 B per parameter (read
both, write one), none at one micro-batch. Megatron-LM's fp32 ``main_grad`` hook adds every
micro-batch into a zeroed buffer: m passes of 2 + 8 B. The plan spreads native's m − 1 as
(m − 1)/m of a pass over each of the m backward tasks (archsim/plan/training.py
``accumulation_passes``).

Toy dense model of tests/plan/test_grad_accumulation.py: P = 2 · 41088 + 16448 + 16384 =
115008 parameters, bf16, 8 ranks (dp 8, ZeRO-1, so every pass covers all P), no overlap (the
reduction does not slow the backward's kernels, so compute_s is the kernels alone).
"""

import sys
from pathlib import Path

import pytest

import archsim
from archsim.cost.compute import compute_time
from archsim.graph.backward import grad_accumulate_op
from archsim.plan.training import accumulation_passes

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_moe_gradients import TOY_DENSE, toy

P = 2 * 41088 + 16448 + 16384


def compute_s(mode: str, micro_batches: int) -> float:
    sc = archsim.load_scenario(
        toy(model=TOY_DENSE, grad_accumulation=mode, overlap_comm=False).model_dump(),
        {"workload.global_batch": 8 * micro_batches})
    d = archsim.simulate(sc).to_dict()
    assert d["parallel"]["micro_batches"] == micro_batches
    return d["time_breakdown"]["compute_s"]


def test_passes_per_step():
    assert [accumulation_passes("native", m) for m in (1, 4)] == [0, 3]
    assert [accumulation_passes(mode, 4) for mode in ("fp32", "fp32-fused", "fp32-cast")] \
        == [4, 4, 4]


def test_native_at_one_micro_batch_makes_no_pass():
    assert compute_s("native", 1) == pytest.approx(compute_s("fp32-fused", 1), rel=1e-12)


def test_native_at_four_micro_batches_makes_three_passes():
    """One pass moves 3 · 2 B · P = 690048 B (as grad_accumulate_op costs it on the A100);
    four micro-batches: 3 of them more than fp32-fused's none."""
    device = toy(model=TOY_DENSE).hardware.device
    one_pass = grad_accumulate_op(P, "bf16")
    assert one_pass.bytes == 6 * P == 690048
    expected = 3 * compute_time(one_pass, device)
    assert compute_s("native", 4) - compute_s("fp32-fused", 4) == pytest.approx(expected,
                                                                                 rel=1e-9)


def test_fp32_hook_still_adds_every_micro_batch():
    """fp32: 2 + 8 B per parameter, four passes at four micro-batches."""
    device = toy(model=TOY_DENSE).hardware.device
    expected = 4 * compute_time(grad_accumulate_op(P, "bf16", bytes_per_param=10.0), device)
    assert compute_s("fp32", 4) - compute_s("fp32-fused", 4) == pytest.approx(expected,
                                                                              rel=1e-9)
