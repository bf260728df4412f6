"""The calibration times self-attention over a prompt as a model's layer calls it: q, k, v as
views of the packed qkv projection, the output transposed back and reshaped."""

from __future__ import annotations

import dataclasses

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from archsim.validate.bench import _packed_attention, bench_attention, default_grid  # noqa: E402
from archsim.validate.torch_model import Attention  # noqa: E402


def test_packed_attention_is_the_attention_of_the_split_heads():
    torch.manual_seed(0)
    b, s, h, d = 2, 5, 3, 4
    packed = torch.randn(b, s, 3 * h * d)
    got = _packed_attention(packed, h, d, causal=True)()
    # by hand: head j of q is columns j·d … (j+1)·d of the packed row, k and v follow
    q, k, v = (packed[..., i * h * d:(i + 1) * h * d].reshape(b, s, h, d).permute(0, 2, 1, 3)
               for i in range(3))
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert got.shape == (b, s, h * d)
    assert torch.allclose(got, expected.permute(0, 2, 1, 3).reshape(b, s, h * d), atol=1e-6)


def test_the_packed_layout_is_the_validation_models_own():
    # the model's Attention splits its qkv projection the same way (GPT block, no RoPE)
    from archsim.spec.model import ModelSpec
    from archsim.validate.torch_model import OpLabels

    spec = ModelSpec(name="t", layers=1, hidden=12, heads=3, vocab=16, mlp="gelu",
                     norm="layernorm", position="learned", bias=True, max_seq_len=8)
    attn = Attention(spec, "L0.", OpLabels()).eval()
    x = torch.randn(2, 5, 12)
    with torch.no_grad():
        packed = attn.qkv(x)
        expected = attn.proj(_packed_attention(packed, 3, 4, causal=True)())
        assert torch.allclose(attn(x, None, None, 0), expected, atol=1e-6)


def test_prompt_records_are_packed_and_decode_records_are_not():
    grid = dataclasses.replace(default_grid("cpu", quick=True), min_total_s=0.0, repeats=2,
                               attention=((1, 2, 8, 8, 16, True), (1, 2, 1, 8, 16, False)))
    records = bench_attention("cpu", grid, "fp32", lambda what: None)
    assert [(r["q"], r["phase"], r.get("layout")) for r in records] == [
        (8, "fwd", "packed"), (8, "bwd", "packed"), (1, "fwd", None)]
    assert all(r["time_s"] >= 0 for r in records)
