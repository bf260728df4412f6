"""What `archsim simulate`, `list`, `capacity` and `plan` print: readable units, nothing that
reads as a different number than the result holds."""

from __future__ import annotations

import pytest

import archsim
from archsim.cli import main
from archsim.result import Result
from archsim.summary import render_summary
from archsim.textfmt import human_energy, usd


def test_energy_is_written_in_a_unit_that_fits():
    assert human_energy(2.9e3 * 3.6e9) == "2.90 GWh"  # was "2.9e+03 MWh"
    assert human_energy(806 * 3.6e9) == "806 MWh"
    assert human_energy(0.09003 * 3.6e6) == "90.0 Wh"
    assert human_energy(105.0) == "105 J"


def test_small_costs_keep_their_significant_digits():
    assert usd(0.0012345) == "$0.00123"  # was "$0.00"
    assert usd(0.39) == "$0.390" and usd(12.345) == "$12.35" and usd(98765.4) == "$98,765"


def test_tied_embedding_all_reduce_counts_its_bytes():
    """GPT-3 18.4B ties its embedding: the first and last stage all-reduce its gradient,
    vocab 51200 × hidden 6144 × 2 B (bf16) / tp 8 on each device — was listed as 0 B."""
    d = archsim.simulate("gpt3-18b-hetero-h100-a100").to_dict()
    ar = d["communication"]["by_kind"]["allreduce"]
    assert ar["time_s"] > 0
    assert ar["bytes"] == pytest.approx(51200 * 6144 * 2 / 8)


def test_list_devices_quotes_the_dtype_a_device_has_in_one_unit_per_column(capsys):
    assert main(["list", "devices"]) == 0
    lines = {ln.split()[0]: ln for ln in capsys.readouterr().out.splitlines()[2:]}
    assert "24.5 TOP/s int8" in lines["alveo-u280"] and "bf16" not in lines["alveo-u280"]
    assert "312 TFLOP/s bf16/fp16" in lines["a100-sxm4-80gb"]
    # L40S: 48 GB (decimal) = 44.7 GiB; Inferentia2: 820 GiB/s = 880.5 GB/s
    assert "44.7 GiB" in lines["l40s"] and "880.5 GB/s" in lines["inferentia2"]
    for line in lines.values():
        assert " GB " not in line and "GiB/s" not in line and "Gb/s" not in line


def test_list_takes_several_kinds(capsys):
    assert main(["list", "devices", "models"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("devices:\n") and "\nmodels:\n" in out and "llama2-7b" in out


def test_disaggregated_serving_shows_the_kv_cache_crossing_the_link():
    text = render_summary(archsim.simulate("llama2-7b-disagg-h100-a100"))
    assert "(none)" not in text
    assert "KV-cache transfer prefill → decode over ib-ndr-400g:" in text
    assert "21.5 GB/s each, set by the receiving pool a100's 1 NIC (ib-hdr-200g)" in text


def test_small_run_cost_is_not_rounded_to_zero():
    text = render_summary(archsim.simulate("bert-large-2of4-a100"))
    assert "$0.00 " not in text and "cost $0.0" in text


def test_an_encoder_is_not_reported_as_a_generator():
    text = render_summary(archsim.simulate("bert-large-2of4-a100"))
    assert "encoder inference of bert-large" in text.splitlines()[0]
    assert "latency per batch" in text and "sequences/s" in text
    for word in ("time to first token", "generated tokens", "kv cache"):
        assert word not in text.lower().split("compression")[0], word


def test_plan_says_when_the_scenario_plan_is_already_the_best(capsys):
    assert main(["plan", "llama2-7b-inference-a100", "--top", "1"]) == 0
    out = capsys.readouterr().out
    assert "1.00×" not in out
    assert "the scenario's plan is as good as the best" in out


def test_summary_renders_a_result_round_trip():
    r = archsim.simulate("llama2-70b-int4-1xh100")
    assert render_summary(Result(r.to_dict())) == render_summary(r)
