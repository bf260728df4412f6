"""The token-classification head (ModelSpec.num_labels) of the op graph, by hand."""

from __future__ import annotations

from archsim.graph.transformer import Shape, head_forward
from archsim.spec.model import ModelSpec


def _ops(**model):
    spec = ModelSpec(name="enc", layers=2, hidden=256, heads=4, vocab=4096, encoder=True,
                     **model)
    return {op.name: op for op in head_forward(spec, Shape(batch=8, seq=64, kv_seq=64,
                                                            dtype="fp32", causal=False))}


def test_classifier_head_is_a_small_matrix_with_its_own_parameters():
    ops = _ops(num_labels=9)
    logits, loss = ops["logits"], ops["loss"]
    tokens = 8 * 64
    assert logits.shape == (1, tokens, 256, 9)
    assert logits.flops == 2 * tokens * 256 * 9
    assert logits.params == 256 * 9 + 9  # weight + bias, even with tied embeddings
    assert loss.flops == 5 * tokens * 9  # 5 FLOPs per logit, over 9 classes
    assert loss.bytes == tokens * 9 * (4 + 36)  # fp32 logits: e + 36 bytes per logit


def test_language_model_head_is_unchanged():
    ops = _ops()
    assert ops["logits"].shape == (1, 512, 256, 4096)
    assert ops["logits"].params == 0  # tied to the embedding table
