"""An extrapolation on a device whose fit moved parameters far from their priors takes in the
run with those parameters at their priors (archsim/metrics/prior_band.py)."""

from __future__ import annotations

import pytest

import archsim
from archsim.spec.loader import load_spec_file

DECODE = {"name": "llama2-7b-decode", "model": "llama2-7b",
          "hardware": {"device": "mi300x", "count": 1},
          "workload": {"kind": "inference", "batch": 1, "prompt_len": 1024, "gen_len": 256,
                       "dtype": "bf16"}}


def test_an_mi300x_bf16_decode_takes_in_its_far_fitted_parameters_at_their_priors():
    """The MI300X's memory efficiency was fitted to six vLLM FP8 tp 8 runs, far from its
    stream prior (0.925, the profile's default; accuracy.far_fitted). A bf16 batch-1 decode
    on one MI300X lies outside those runs: its TPOT band reaches the run with it at its prior
    — simulated here through --set, not through the module — and that run decodes faster
    than an MI250X, as 5.3 TB/s of HBM against 3.28 TB/s at the same 0.925 must (the weights
    read per token are the same 13.5 GB)."""
    from archsim.summary import render_summary

    fitted = load_spec_file("devices", "mi300x").insitu.memory_efficiency
    assert fitted < 0.6  # why this test exists
    d = archsim.simulate(DECODE).to_dict()
    block = d["uncertainty"]
    assert not block["in_range"]
    assert block["at_priors"]["parameters"] == {
        "mi300x": {"memory_efficiency": [pytest.approx(fitted), 0.925]}}
    at_priors = archsim.simulate(DECODE, ["hardware.device.insitu.memory_efficiency=0.925"],
                                 slow_end=False).to_dict()
    lo, hi = block["intervals"]["tpot_s"]
    assert lo == pytest.approx(at_priors["tpot_s"]) and hi > d["tpot_s"] > lo
    mi250x = archsim.simulate(DECODE, ["hardware.device=mi250x"]).to_dict()
    assert at_priors["tpot_s"] < mi250x["tpot_s"]
    assert "at the priors: the same run with its far-fitted parameters at their priors " \
        f"(mi300x: memory_efficiency {fitted:.3g} → 0.925)" in \
        render_summary(archsim.simulate(DECODE))


def test_no_prior_run_inside_the_range_or_without_far_fitted_parameters():
    """An H100 has no parameter fitted that far: its band is the cross-validated one. And
    `slow_end=False` (capacity's probes) skips the extra run."""
    h100 = archsim.simulate(DECODE, ["hardware.device=h100-sxm5-80gb"]).to_dict()
    assert "at_priors" not in h100["uncertainty"]
    assert "at_priors" not in archsim.simulate(DECODE, slow_end=False).to_dict()["uncertainty"]
