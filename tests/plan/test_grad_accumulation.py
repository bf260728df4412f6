"""plan.grad_accumulation: the accumulation pass, the gradient memory and the reduction's
element size of each mode, counted by hand (archsim/cost/gradients.py), through the training
plan and the planner's bounds.

Toy dense model as tests/plan/test_moe_gradients.py (tp = 1, bf16, 8 ranks, ZeRO-1): a layer
holds 12288 + 4096 + 128 + 16384 + 8192 = 41088 parameters, the head 16448, the embedding 16384.
"""

import sys
from pathlib import Path

import pytest

from archsim.cost.compute import compute_time
from archsim.cost.gradients import gradient_path
from archsim.cost.memory import model_state_bytes
from archsim.graph.backward import grad_accumulate_op

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "planner"))
from planner_cases import simulate_everything, tiny_scenario
from test_moe_gradients import EMBED, HEAD, TOY_DENSE, build, toy

LAYER = 12288 + 4096 + 128 + 16384 + 8192
TOTAL = HEAD + EMBED + 2 * LAYER


@pytest.mark.parametrize(("mode", "accumulate", "memory", "reduce"), [
    ("native", 6.0, 2.0, 2.0),       # read the new gradient and the buffer, write the buffer
    ("fp32", 10.0, 4.0, 4.0),        # read 2 + 4, write 4
    ("fp32-fused", 0.0, 4.0, 4.0),   # the weight-gradient GEMM adds into main_grad
    ("fp32-cast", 18.0, 6.0, 4.0),   # read 2, write a 4-byte copy; read 4 + 4, write 4
])
def test_bytes_per_parameter_in_bf16(mode, accumulate, memory, reduce):
    path = gradient_path(mode, "bf16")
    assert (path.accumulate, path.memory, path.reduce) == (accumulate, memory, reduce)


def test_accumulation_op_moves_the_modes_bytes():
    assert grad_accumulate_op(1000, "bf16").bytes == 6000
    assert grad_accumulate_op(1000, "bf16", bytes_per_param=18.0).bytes == 18000


def test_fp32_cast_reduces_and_holds_fp32_gradients():
    """DeepSpeed's BF16_Optimizer: buckets of 4 B per parameter, gradients of 2 + 4 B."""
    native = build(toy(model=TOY_DENSE))
    cast = build(toy(model=TOY_DENSE, grad_accumulation="fp32-cast"))
    ck = cast.chunks[0][0]
    assert ck.grad_buckets == [4 * HEAD, 4 * LAYER, 4 * LAYER, 4 * EMBED]
    assert native.chunks[0][0].grad_buckets == [2 * HEAD, 2 * LAYER, 2 * LAYER, 2 * EMBED]
    assert cast.states[0].gradients == 6 * TOTAL  # ZeRO-1 does not shard gradients
    assert cast.states[0] == model_state_bytes(TOTAL, "bf16", "adam", 1, 8, grad_bytes=6.0)
    assert cast.states[0].optimizer_states == native.states[0].optimizer_states


def test_backward_carries_the_accumulation_pass_of_its_mode():
    """The backward task differs between modes by exactly their accumulation ops' times
    (fused: none at all). The toy runs one micro-batch per step: ``native`` makes m − 1 = 0
    passes (PyTorch's AccumulateGrad keeps the first gradient as ``.grad``; it had been
    charged one pass here), ``fp32-cast`` adds every micro-batch into its fp32 buffer."""
    plans = {m: build(toy(model=TOY_DENSE, grad_accumulation=m))
             for m in ("native", "fp32-cast", "fp32-fused")}
    device = toy(model=TOY_DENSE).hardware.device
    bwd = {m: p.chunks[0][0].bwd.compute_s for m, p in plans.items()}
    cast_pass = compute_time(grad_accumulate_op(TOTAL, "bf16", bytes_per_param=18.0), device)
    assert plans["native"].layout.micro_batches == 1
    assert bwd["native"] == bwd["fp32-fused"]
    assert bwd["fp32-cast"] - bwd["fp32-fused"] == pytest.approx(cast_pass, rel=1e-9)


@pytest.mark.parametrize("mode", ["fp32-fused", "fp32-cast"])
def test_planner_bounds_stay_exact_without_a_pipeline(mode):
    """The bound counts the same gradient bytes as the engine: without a pipeline and with a
    blocking reduction it equals the simulated step, and its memory the simulated peak."""
    sc = tiny_scenario(overlap_comm=False, flash_attention=False, grad_accumulation=mode)
    axes = {"tp": [1, 2], "pp": [1], "cp": [1], "micro_batch": [1, 2], "zero": [0, 1]}
    evaluated = [ev for ev in simulate_everything(sc, axes) if ev.result["feasible"]]
    assert len(evaluated) >= 6
    for ev in evaluated:
        assert ev.bound.step_time_s == pytest.approx(ev.result["step_time_s"], rel=1e-9)
        assert ev.bound.memory_bytes == pytest.approx(
            ev.result["memory"]["peak_bytes_per_device"], rel=1e-9)


def test_under_zero_2_each_micro_batch_adds_into_the_shard():
    """ZeRO-2/3 reduce-scatter every micro-batch's gradients and add them into the rank's
    1/8 shard (DeepSpeed's partitioned gradients, FSDP's saved gradient shard): the pass moves
    bytes of TOTAL/8 parameters, not of all of them. ``fp32``'s hook adds every micro-batch
    (2 + 8 B; ``native`` makes no pass at the toy's one micro-batch:
    tests/plan/test_native_accumulation.py)."""
    plans = {m: build(toy(model=TOY_DENSE, zero=2, grad_accumulation=m))
             for m in ("fp32", "fp32-fused")}
    device = toy(model=TOY_DENSE).hardware.device
    shard_pass = compute_time(grad_accumulate_op(TOTAL / 8, "bf16", bytes_per_param=10.0),
                              device)
    fp32, fused = (plans[m].chunks[0][0].bwd.compute_s for m in ("fp32", "fp32-fused"))
    assert fp32 - fused == pytest.approx(shard_pass, rel=1e-9)
