"""Model states per ZeRO stage against formulas.md (16 bytes per parameter, sharded)."""

import pytest

from archsim.cost.memory import model_state_bytes

P, N = 1.0e9, 8


@pytest.mark.parametrize(("zero", "expected"), [
    (0, 16 * P),
    (1, 2 * P + 2 * P + 12 * P / N),
    (2, 2 * P + (2 + 12) * P / N),
    (3, 16 * P / N),
])
def test_model_states_per_zero_stage(zero, expected):
    states = model_state_bytes(P, "bf16", "adam", zero, N)
    assert states.total == pytest.approx(expected, rel=1e-12)


def test_breakdown_and_inference_weights_only():
    states = model_state_bytes(P, "fp16", "adam", 0, 1)
    assert (states.weights, states.gradients, states.optimizer_states) == (2 * P, 2 * P, 12 * P)
    inf = model_state_bytes(P, "fp16", "adam", 0, 1, training=False)
    assert inf.total == 2 * P


def test_fp32_training_keeps_no_master_copy():
    """ZeRO (Rajbhandari et al. 2020) counts 16 B per parameter for mixed precision because of
    the fp32 master copy; in fp32 the weights are that copy: 4 + 4 + 8 B with Adam, 4 + 4 + 4
    with SGD's momentum."""
    adam = model_state_bytes(P, "fp32", "adam", 0, 1)
    assert (adam.weights, adam.gradients, adam.optimizer_states) == (4 * P, 4 * P, 8 * P)
    assert model_state_bytes(P, "fp32", "sgd", 1, N).optimizer_states == 4 * P / N


# Llama-2-7B by hand: a layer holds 4·4096² (attention) + 3·4096·11008 (SwiGLU MLP) + 2·4096
# (norms) = 202,383,360 parameters; with the 32000·4096 embedding and head and the final norm
# the model has 6,738,415,616.
LLAMA_LAYER, LLAMA_TOTAL, LLAMA_TABLE = 202_383_360, 6_738_415_616, 32000 * 4096


@pytest.mark.parametrize(("plan", "unit", "held"), [
    ({}, LLAMA_LAYER, 2),                                # FSDP: a layer + one prefetched
    ({"overlap_comm": False}, LLAMA_LAYER, 1),           # no prefetch: the layer computing
    ({"zero3_granularity": "tensor"}, LLAMA_TABLE, 2),   # DeepSpeed: the largest tensor
])
def test_zero3_holds_its_gathered_units_in_full(plan, unit, held):
    """ZeRO-3 keeps each rank's 1/16 shard and, beside it, the units it has gathered (bf16)
    and one unit's unsharded gradient until its reduce-scatter has run."""
    import archsim

    sc = {"model": "llama2-7b", "hardware": {"device": "a100-sxm4-80gb", "count": 16},
          "workload": {"kind": "training", "seq_len": 4096, "global_batch": 64,
                       "micro_batch": 1},
          "plan": {"zero": 3, "recompute": "full", **plan}}
    mem = archsim.simulate(sc)["memory"]["breakdown"]
    shard = 2 * LLAMA_TOTAL / 16
    assert mem["weights"] == pytest.approx(shard + held * 2 * unit, rel=1e-9)
    assert mem["gradients"] == pytest.approx(shard + 2 * unit, rel=1e-9)
