"""The rotary-embedding records: the validation model's RoPE on its packed q/k layout, mapped
to the op graph's ``rope`` op."""

from __future__ import annotations

import dataclasses

import pytest

torch = pytest.importorskip("torch")

from archsim.validate.bench import (  # noqa: E402
    ROPE_HEAD_DIM,
    _rope_kernel,
    bench_vector,
    default_grid,
)
from archsim.validate.records import vector_op  # noqa: E402


def _rotated_by_hand(x: torch.Tensor, sign: float = 1.0) -> torch.Tensor:
    """Each pair (x_i, x_{i+d/2}) of position p turned by sign · p / 10000^(2i/d) (Su et al.
    2021, rotate-half pairing as in Llama), element by element."""
    d = x.shape[-1]
    half = d // 2
    pos = torch.arange(x.shape[2], dtype=torch.float64)[:, None]
    theta = sign * pos / 10000.0 ** (torch.arange(half, dtype=torch.float64) * 2 / d)
    lo, hi = x[..., :half].double(), x[..., half:].double()
    return torch.cat([lo * theta.cos() - hi * theta.sin(),
                      hi * theta.cos() + lo * theta.sin()], dim=-1)


def test_the_kernel_rotates_the_packed_queries_and_keys():
    fn, (q, k) = _rope_kernel(12, 2 * ROPE_HEAD_DIM, "cpu", torch.float32)
    # two heads each of queries and keys, transposed views of one packed projection
    assert q.shape == k.shape == (1, 2, 12, ROPE_HEAD_DIM) and not q.is_contiguous()
    assert q.untyped_storage().data_ptr() == k.untyped_storage().data_ptr()
    rq, rk = fn()
    assert torch.allclose(rq.double(), _rotated_by_hand(q.detach()), atol=1e-5)
    assert torch.allclose(rk.double(), _rotated_by_hand(k.detach()), atol=1e-5)
    # the backward stops at the views and turns the gradient back
    gq, gk = torch.autograd.grad((rq, rk), [q, k], (torch.ones_like(rq), torch.ones_like(rk)))
    assert torch.allclose(gq.double(), _rotated_by_hand(torch.ones_like(rq), -1.0), atol=1e-5)
    assert torch.allclose(gk, gq)


def test_records_are_the_graphs_rope_op():
    grid = dataclasses.replace(default_grid("cpu", quick=True), min_total_s=0.0, repeats=2,
                               vector_rows_cols=((32, 128),))
    records = [r for r in bench_vector("cpu", grid, "fp32", lambda what: None)
               if r["kernel"] == "rope"]
    assert [(r["phase"], r["head_dim"]) for r in records] == [("fwd", 64), ("bwd", 64)]
    assert all(r["time_s"] >= 0 for r in records)
    fwd, bwd = (vector_op(r) for r in records)
    # 32 tokens × (2 query + 2 key heads of 64) fp32 elements, read and written once, and the
    # cos and sin tables of 32 positions
    elements = 32 * 2 * 128
    assert (fwd.name, fwd.variant, fwd.flops) == ("L0.rope", "rope", 3 * elements)
    assert fwd.bytes == 4 * 2 * elements + 4 * 2 * 32 * 64
    assert (bwd.name, bwd.phase, bwd.bytes) == ("L0.rope.bwd", "bwd", fwd.bytes)
