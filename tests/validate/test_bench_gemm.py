"""The calibration's GEMM records read weights and, in the forward layout, write outputs the
way a model's linear layers do: the weight cold, the forward output into evicted memory."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from archsim.validate.bench import (  # noqa: E402
    FRESH_MAPPING_BYTES,
    MAX_COPIES,
    ROTATE_BYTES,
    _copies,
    _gemm_call,
    rotates_output,
)


def test_forward_gemm_writes_each_call_into_the_next_of_its_rotated_outputs():
    # 4×16 fp32 outputs are 256 bytes: the rotation is capped at MAX_COPIES (64) buffers
    fn = _gemm_call(torch, "nt", 4, 8, 16, "cpu", torch.float32)
    outs = [fn() for _ in range(MAX_COPIES + 1)]
    assert all(o.shape == (4, 16) for o in outs)
    addresses = [o.data_ptr() for o in outs]
    assert len(set(addresses)) == MAX_COPIES
    assert addresses[MAX_COPIES] == addresses[0]  # then it starts over


def _cells(fn) -> dict:
    """A closure's free variables by name."""
    return {name: cell.cell_contents
            for name, cell in zip(fn.__code__.co_freevars, fn.__closure__, strict=True)}


def test_forward_gemm_output_is_x_times_each_rotated_weight_transposed():
    fn = _gemm_call(torch, "nt", 3, 5, 7, "cpu", torch.float32)
    a, weight = _cells(fn)["a"], _cells(fn)["weight"]
    copies = _cells(weight)["copies"]
    assert len(copies) == MAX_COPIES  # 140-byte weights: capped
    for i in range(3):  # the first call takes the second copy, and so on
        assert torch.allclose(fn(), a @ copies[i + 1].t())


def test_a_cpu_forward_output_of_32_mib_or_more_is_allocated_afresh_by_each_call():
    # glibc serves it with a new mmap in a model too: the page faults belong in the record
    assert FRESH_MAPPING_BYTES == 32 * 2**20
    assert not rotates_output("cpu", 1024, 8192, 4)  # 32 MiB of fp32
    assert rotates_output("cpu", 1024, 8191, 4)
    assert rotates_output("cpu", 1024, 8192, 2)  # 16 MiB of bf16
    assert rotates_output("cuda", 4096, 32000, 4)  # a GPU's caching allocator reuses blocks
    fn = _gemm_call(torch, "nt", 1024, 4, 8192, "cpu", torch.float32)
    cells = _cells(fn)
    assert "output" not in cells
    copies = _cells(cells["weight"])["copies"]
    assert torch.allclose(fn(), cells["a"] @ copies[1].t())


def test_rotated_buffers_add_up_to_the_rotation_bytes():
    # 1024×2048 fp32 is 8 MiB: 32 of them make the 256 MiB no cache measured here holds
    outs = _copies(torch, (1024, 2048), "cpu", torch.float32, random=False)
    assert len(outs) == ROTATE_BYTES // (1024 * 2048 * 4) == 32
    assert all(float(o.abs().sum()) == 0.0 for o in outs)  # written (zeros): pages exist


def test_backward_layouts_return_a_fresh_product_each_call():
    # nn (dy·W) and tn (dyᵀ·x) keep one output each: only the forward's is rotated
    for layout in ("nn", "tn"):
        fn = _gemm_call(torch, layout, 4, 8, 16, "cpu", torch.float32)
        assert fn().shape == (4, 16)
