"""The error bar as reports and ``archsim capacity`` print it: every interval the result has,
the bands of the calibrated devices beside the note of an uncalibrated one, and a widened band
said to be the wider reference band, not an 80% one.

The hand-made ``uncertainty`` blocks below are what archsim/accuracy.py writes; the numbers are
chosen by hand, their text worked out by hand.
"""

from __future__ import annotations

import archsim
from archsim.cli.capacity import error_bar_lines
from archsim.report.error_bar import error_bar_sentence
from archsim.report.fmt import human_time

NOTE = ("no measured runs calibrate inferentia2: the error of this estimate is unknown "
        "(archsim calibrate --runs fits a profile to yours)")
WIDENED = ("outside the calibrated range: the widest band of the shipped profiles calibrated "
           "on ≥ 5 runs of this kind")


def err(p10: float, p90: float, widened: str | None = None, method: str = "leave-one-source-out",
        runs: int = 10) -> dict:
    return {"mape": 0.05, "bias": 0.0, "p10": p10, "p90": p90, "runs": runs, "sources": 2,
            "method": method, "from_defaults": 0, **({"widened": widened} if widened else {})}


def test_inference_shows_its_throughput_and_cost_intervals():
    """Throughput 1,000 tokens/s in −10% … +10%: 900 … 1,100 tokens/s; $0.55 per M tokens
    (a time) 0.55/1.1 … 0.55/0.9 = $0.500 … $0.611."""
    r = {"mode": "inference", "tokens_per_s": 1000.0, "cost_per_million_tokens_usd": 0.55,
         "uncertainty": {"errors": {"throughput": err(-0.1, 0.1)}, "out_of_range": [],
                         "intervals": {"tokens_per_s": [900.0, 1100.0],
                                       "cost_per_million_tokens_usd": [0.5, 0.55 / 0.9]}}}
    assert error_bar_sentence(r) == (
        "Error bar (the profile's cross-validated error on measured runs: throughput runs: MAPE "
        "5.0% over 10 held-out published runs from 2 sources, for 80% of them the predicted "
        "time was -10% … +10% off the measured one): likely (80%) throughput 900 tokens/s to "
        "1,100 tokens/s, $ per million tokens $0.500 to $0.611.")


def test_serving_shows_its_end_to_end_percentiles():
    """An MI300X-like profile calibrated on end-to-end latency alone: the p50 and p99 are its
    only intervals, and had been left out (a header with no value)."""
    r = {"mode": "serving", "e2e_p50_s": 2.0, "e2e_p99_s": 3.0,
         "uncertainty": {"errors": {"e2e_latency": err(-0.5, 0.25)}, "out_of_range": [],
                         "intervals": {"e2e_p50_s": [1.6, 4.0], "e2e_p99_s": [2.4, 6.0]}}}
    assert error_bar_sentence(r).endswith(
        ": likely (80%) end-to-end p50 1.600 s to 4.000 s, end-to-end p99 2.400 s to "
        "6.000 s.")


def test_a_widened_band_is_the_wider_reference_band():
    r = {"mode": "inference", "ttft_s": 1.0,
         "uncertainty": {"errors": {"ttft": err(-0.2, 0.25, WIDENED)}, "out_of_range": [],
                         "intervals": {"ttft_s": [0.8, 1.25]}}}
    text = error_bar_sentence(r)
    assert ("ttft runs: in-range MAPE 5.0% over 10 held-out published runs from 2 sources, "
            "predicted times taken as -20% … +25% off the measured ones, the wider reference band "
            f"({WIDENED})): likely (the wider reference band) TTFT 800.000 ms to 1.250 s.") \
        in text
    assert "80%" not in text.replace("an 80% band", "")


def test_only_the_widened_intervals_are_marked_beside_80_percent_ones():
    r = {"mode": "inference", "ttft_s": 1.0, "tokens_per_s": 100.0,
         "uncertainty": {"errors": {"ttft": err(-0.2, 0.25, WIDENED),
                                    "throughput": err(-0.1, 0.1)}, "out_of_range": [],
                         "intervals": {"ttft_s": [0.8, 1.25], "tokens_per_s": [90.0, 110.0]}}}
    assert error_bar_sentence(r).endswith(
        ": likely (80%) TTFT 800.000 ms to 1.250 s (widened band), throughput 90 tokens/s "
        "to 110 tokens/s.")


def test_the_calibrated_pools_keep_their_bands_beside_the_note():
    """Prefill on H100s, decode on Inferentia2 (no runs): the H100's TTFT band
    (hardware_profiles/devices/h100-sxm5-80gb.yaml ttft: 11 runs, 2 sources, MAPE 0.0696,
    p10 −0.0576, p90 0.0604) stays, beside the note; the report had printed the note alone."""
    r = archsim.simulate("llama2-7b-disagg-h100-inf2").to_dict()
    v = r["ttft_p99_s"]
    assert error_bar_sentence(r) == (
        f"Error bar: {NOTE}. Where calibrated (the profile's cross-validated error on measured "
        "runs: ttft runs: MAPE 7.0% over 11 held-out published runs from 2 sources, for 80% of "
        "them the predicted time was -6% … +6% off the measured one): likely (80%) TTFT p99 "
        f"{human_time(v / 1.0604)} to {human_time(v / (1 - 0.0576))}.")


def test_a_device_with_no_calibrated_band_keeps_the_note_alone():
    r = {"mode": "serving", "uncertainty": {"note": NOTE, "errors": {}, "intervals": {},
                                            "out_of_range": []}}
    assert error_bar_sentence(r) == f"Error bar: {NOTE}."


def row(errors: dict, intervals: dict, note: str | None = None) -> dict:
    return {"device": "x", "uncertainty": {"errors": errors, "intervals": intervals,
                                           "out_of_range": [], **({"note": note} if note else {})}}


def test_capacity_says_a_widened_band_is_not_an_80_percent_one():
    """Capacity had labelled every interval '80% of held-out measured runs'."""
    wide = row({"ttft": err(-0.2, 0.25, WIDENED), "tpot": err(-0.2, 0.25, WIDENED)},
               {"ttft_p99_s": [0.08, 0.125], "tpot_p99_s": [0.008, 0.0125]})
    assert error_bar_lines(wide) == [
        "x: likely (the wider reference band, not an 80% one) TTFT p99 80.000 ms–125.000 ms, "
        "TPOT p99 8.000 ms–12.500 ms"]
    mixed = row({"ttft": err(-0.2, 0.25, WIDENED), "e2e_latency": err(-0.1, 0.1)},
                {"ttft_p99_s": [0.08, 0.125], "e2e_p99_s": [9.0, 11.0]})
    assert error_bar_lines(mixed) == [
        "x: likely (80% of held-out measured runs; *: the wider reference band) TTFT p99 "
        "80.000 ms–125.000 ms*, end-to-end p99 9.000 s–11.000 s"]


def test_capacity_keeps_the_bands_beside_the_note():
    mixed = row({"ttft": err(-0.1, 0.1)}, {"ttft_p99_s": [0.09, 0.11]}, NOTE)
    assert error_bar_lines(mixed) == [
        f"x: {NOTE}", "x: likely (80% of held-out measured runs) TTFT p99 90.000 ms–110.000 ms"]
