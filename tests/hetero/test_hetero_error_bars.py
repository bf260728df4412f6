"""Error bars of a disaggregated deployment: a metric widens only where a device that sets it
lies outside its calibrated range, and each pool's engine is checked at its own tp and pp."""

from __future__ import annotations

import copy

from hetero_toys import mixed_inference

import archsim

BASE = {"model": "llama2-7b",
        "hardware": {"cluster": {
            "pools": [{"name": "h100", "device": "h100-sxm5-80gb", "count": 2},
                      {"name": "a100", "device": "a100-sxm4-80gb", "count": 1}],
            "links": [{"between": ["h100", "a100"], "interconnect": "ib-ndr-400g"}]}},
        # 16 requests: a decode batch within the A100's calibrated 16–1,024
        "workload": {"kind": "serving", "arrival": {"rate_per_s": 0.5, "count": 16, "seed": 1},
                     "prompt_len": 1000, "gen_len": 10},
        "plan": {"placement": {"prefill": "h100", "decode": "a100"}}}


def _errors(**changes):
    sc = copy.deepcopy(BASE)
    for key, value in changes.items():
        section, field = key.split("__")
        sc[section][field] = value
    u = archsim.simulate(sc).to_dict()["uncertainty"]
    return u["out_of_range"], u["errors"]


def test_a_decode_pool_outside_its_range_leaves_the_prefill_pools_ttft_band_alone():
    """Prompts of 3000 tokens: within the H100's calibrated prompts (up to 5000), outside the
    A100's (up to 2048). TTFT is the H100's alone and keeps its band; TPOT is the A100's and
    widens. Any device's extrapolation had widened every metric."""
    _, narrow = _errors()
    ranges, errors = _errors(workload__prompt_len=3000)
    assert ranges == ["a100-sxm4-80gb: prompt_len 3000 outside the calibrated 128–2048"]
    assert errors["ttft"] == narrow["ttft"] and "widened" not in errors["ttft"]
    assert "widened" in errors["tpot"] and errors["tpot"]["p10"] < narrow["tpot"]["p10"]


def test_each_phase_is_checked_at_its_own_pipeline_depth():
    """Prefill on 2 H100s at pp 2, decode on the A100 at pp 1: the H100's inference runs are
    all pp 1, so the H100 is outside its range and the A100 is not (the check had read
    plan.pp, 1, for both, and found nothing)."""
    placement = {"prefill": {"pool": "h100", "pp": 2}, "decode": "a100"}
    ranges, errors = _errors(plan__placement=placement)
    assert ranges == ["h100-sxm5-80gb: pp 2 outside the calibrated 1–1 of its inference runs"]
    assert "widened" in errors["ttft"] and "widened" not in errors["tpot"]


def test_a_mixed_pipeline_names_only_the_device_without_runs_of_the_kind():
    """Inference with stage 0 on an H100 (calibrated on inference runs) and stage 1 on an
    A100-40GB (training runs only): the bands are unknown because of the A100-40GB alone, and
    the messages say so (they had named the H100 too)."""
    sc = mixed_inference()
    u = archsim.simulate(sc).to_dict()["uncertainty"]
    assert "no calibrated runs of this kind (ttft) on a100-sxm4-40gb" in u["out_of_range"]
    assert u["note"].startswith("no measured ttft/tpot/e2e_latency/throughput runs calibrate "
                                "a100-sxm4-40gb: the error")
