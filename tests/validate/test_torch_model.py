"""Real PyTorch models built from ModelSpecs: same parameters as the op graph, a KV cache that
reproduces the full forward pass, clear errors for what is not built."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from archsim.graph.transformer import Shape, embedding_forward, head_forward, layer_forward  # noqa: E402
from archsim.spec.errors import SpecError  # noqa: E402
from archsim.spec.model import ModelSpec  # noqa: E402
from archsim.validate.cases import MODELS  # noqa: E402
from archsim.validate.torch_model import (  # noqa: E402
    build_model,
    count_parameters,
    random_tokens,
)


def _graph_params(spec: ModelSpec) -> float:
    shape = Shape(batch=1, seq=8, kv_seq=8, dtype="fp32", causal=not spec.encoder)
    ops = embedding_forward(spec, shape) + head_forward(spec, shape)
    for i in range(spec.layers):
        ops += layer_forward(spec, shape, i)
    return sum(op.params for op in ops)


@pytest.mark.parametrize("name", ["gpt-tiny", "llama-tiny", "bert-tiny", "llama-small"])
def test_parameters_match_the_op_graph(name):
    spec = MODELS[name]
    model = build_model(spec, "cpu", "fp32")
    assert count_parameters(model) == _graph_params(spec)


def test_gpt_tiny_parameters_by_hand():
    # 2 layers, h 256, V 4096, learned positions (2048), tied head, biases everywhere:
    # per layer: 2 LN (2·2h) + qkv (h·3h + 3h) + proj (h² + h) + fc1 (h·4h + 4h) + fc2 (4h·h + h)
    h = 256
    layer = 4 * h + 3 * h * h + 3 * h + h * h + h + 4 * h * h + 4 * h + 4 * h * h + h
    total = 4096 * h + 2048 * h + 2 * layer + 2 * h  # + final LN
    assert count_parameters(build_model(MODELS["gpt-tiny"], "cpu", "fp32")) == total


@pytest.mark.parametrize("name", ["gpt-tiny", "llama-tiny"])
def test_kv_cache_decode_reproduces_the_full_forward(name):
    spec = MODELS[name]
    model = build_model(spec, "cpu", "fp32").eval()
    tokens = random_tokens(spec, 2, 12, "cpu")
    with torch.inference_mode():
        full = model(tokens)  # logits of every position, causal
        cache = model.new_cache(2, 12)
        model.hidden_states(tokens[:, :8], cache)  # prefill 8 tokens
        steps = [model.logits(model.hidden_states(tokens[:, i:i + 1], cache))[:, 0]
                 for i in range(8, 12)]
    for j, logits in enumerate(steps):
        torch.testing.assert_close(logits, full[:, 8 + j], rtol=1e-4, atol=1e-4)


def test_parallel_block_sums_attention_and_mlp_of_the_same_input():
    spec = MODELS["gpt-tiny"].model_copy(update={"parallel_attention": True, "layers": 1})
    model = build_model(spec, "cpu", "fp32").eval()
    assert count_parameters(model) == _graph_params(spec)
    block = model.blocks[0]
    x = torch.randn(2, 5, spec.hidden)
    with torch.inference_mode():
        got = block(x, None, None, 0)
        want = x + block.attn(block.ln_attn(x), None, None, 0) + block.mlp(block.ln_mlp(x))
    torch.testing.assert_close(got, want)


def test_next_token_is_the_argmax_of_the_last_position():
    spec = MODELS["gpt-tiny"]
    model = build_model(spec, "cpu", "fp32").eval()
    tokens = random_tokens(spec, 1, 6, "cpu")
    with torch.inference_mode():
        expected = model(tokens)[:, -1].argmax(dim=-1)
        got = model.next_token(tokens, model.new_cache(1, 6))
    assert got.tolist() == [expected.tolist()]


def test_unbuildable_models_are_spec_errors():
    moe = ModelSpec(name="m", layers=1, hidden=64, heads=4, vocab=32,
                    moe={"experts": 4, "top_k": 2})
    with pytest.raises(SpecError, match="model m: moe: mixture-of-experts layers are not built"):
        build_model(moe, "cpu", "fp32")
    alibi = ModelSpec(name="a", layers=1, hidden=64, heads=4, vocab=32, position="alibi")
    with pytest.raises(SpecError, match="position: 'alibi' is not built by archsim validate"):
        build_model(alibi, "cpu", "fp32")
    with pytest.raises(SpecError, match=r"workload\.dtype: 'fp8' cannot be run"):
        build_model(MODELS["gpt-tiny"], "cpu", "fp8")


def test_the_stopwatch_sums_each_ops_ranges_over_layers(monkeypatch):
    """gpt-tiny has 2 layers. With a clock that advances 1 s per reading, each op range lasts
    exactly 1 s: one decode step gives qkv, fc1 (…) 2 s, one per layer, under one name
    without the ``L<i>.`` prefix, and the head's logits 1 s."""
    import archsim.validate.torch_model as tm

    spec = MODELS["gpt-tiny"]
    model = build_model(spec, "cpu", "fp32").eval()
    prompt = random_tokens(spec, 1, 8, "cpu")
    cache = model.new_cache(1, 9)
    clock = iter(range(10_000))
    watch: dict[str, float] = {}
    with torch.inference_mode():
        model.next_token(prompt, cache)
        monkeypatch.setattr(tm.time, "perf_counter", lambda: float(next(clock)))
        model.labels.stopwatch = watch
        model.next_token(prompt[:, -1:], cache)
    model.labels.stopwatch = None
    assert spec.layers == 2
    assert {name: watch[name] for name in ("qkv", "proj", "fc1", "fc2", "logits")} == {
        "qkv": 2.0, "proj": 2.0, "fc1": 2.0, "fc2": 2.0, "logits": 1.0}
    assert not any(name.startswith("L") and "." in name for name in watch)
