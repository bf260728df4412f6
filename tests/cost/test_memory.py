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
