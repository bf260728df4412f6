"""The calibration's backward records time what a model's backward runs, nothing more."""

from __future__ import annotations

import dataclasses

import pytest

torch = pytest.importorskip("torch")

from archsim.validate.bench import _fwd_bwd_records, default_grid  # noqa: E402


def test_backward_records_return_gradients_instead_of_accumulating_them():
    # .backward() on leaf inputs would add every timed call's input gradient into the .grad
    # of the call before (an extra pass over the input no activation pays inside a model)
    x = torch.randn(64, 32, requires_grad=True)
    w = torch.ones(32, requires_grad=True)
    grid = dataclasses.replace(default_grid("cpu", quick=True), min_total_s=0.0, repeats=3)
    records = _fwd_bwd_records(lambda: torch.nn.functional.rms_norm(x, (32,), w), [x, w],
                               "cpu", grid, {"kernel": "rms_norm", "rows": 64, "cols": 32,
                                             "dtype": "fp32"})
    assert x.grad is None and w.grad is None
    assert [r["phase"] for r in records] == ["fwd", "bwd"]
    assert records[1]["fwd_bwd_time_s"] > records[0]["time_s"] > 0
