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
