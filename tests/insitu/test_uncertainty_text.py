"""The error bar as ``archsim simulate`` and ``archsim plan`` print it (hand-made blocks)."""

from __future__ import annotations

from archsim.accuracy import uncertainty_lines

# an error of −20% on time is a predicted time 0.8× the measured one: a rate 1/0.8 = 1.25×
HEADER = ("Error bar (cross-validated on measured runs: archsim/accuracy.py; an error is "
          "(predicted − measured) / measured time, so for a rate such as throughput −20% "
          "means predicted 25% fast)")


def err(p10: float, p90: float, **more) -> dict:
    return {"mape": 0.332, "bias": -0.11, "p10": p10, "p90": p90, "runs": 6, "sources": 2,
            "method": "leave-one-source-out", "from_defaults": 0, **more}


def test_serving_prints_its_end_to_end_percentiles():
    """A profile calibrated on end-to-end latency alone (the MI300X's): its band's header had
    been printed with no value under it. e2e p50 2.5 s in −50% … +25%: 2.5/1.25 … 2.5/0.5."""
    d = {"mode": "serving", "e2e_p50_s": 2.5, "e2e_p99_s": 4.0,
         "uncertainty": {"errors": {"e2e_latency": err(-0.5, 0.25)}, "out_of_range": [],
                         "intervals": {"e2e_p50_s": [2.0, 5.0], "e2e_p99_s": [3.2, 8.0]}}}
    assert uncertainty_lines(d) == [
        HEADER,
        "  end-to-end latency: MAPE 33.2% over 6 held-out runs from 2 sources "
        "(leave-one-source-out); for 80% of them the predicted time was -50% … +25% off the "
        "measured one",
        "  end-to-end p50: 2.5 s, likely (80%) 2–5 s",
        "  end-to-end p99: 4 s, likely (80%) 3.2–8 s"]


def test_a_band_widened_outside_the_range_gives_the_in_range_mape():
    """The MAPE was measured in range; outside it the band is the reference one."""
    why = ("outside the calibrated range: the widest band of the shipped profiles calibrated "
           "on ≥ 5 runs of this kind")
    d = {"mode": "training", "step_time_s": 10.0,
         "uncertainty": {"errors": {"training": err(-0.2, 0.25, widened=why)},
                         "out_of_range": ["x: tp 8 outside the calibrated 1–4"],
                         "intervals": {"step_time_s": [8.0, 12.5]}}}
    assert uncertainty_lines(d) == [
        HEADER,
        "  training: in-range MAPE 33.2% over 6 held-out runs from 2 sources "
        "(leave-one-source-out); predicted times taken as -20% … +25% off the measured ones, "
        f"the wider reference band ({why})",
        "  step time: 10.0 s, likely (widened band) 8–12.5 s",
        "  outside the calibration: x: tp 8 outside the calibrated 1–4"]


def test_a_static_batchs_end_to_end_band_says_it_is_read_off_the_ttft_and_tpot_bands():
    """TTFT 1 s in −20% … +25% gives 0.8 … 1.25 s; TPOT 0.01 s in −10% … +25%, 0.008 … 0.0111 s;
    99 decode steps: 1.8 … 2.35 s around 2 s, i.e. errors 2/2.35 − 1 = −15% … 2/1.8 − 1 = +11%.
    No run measured that latency: the line claims no held-out runs and no 80%."""
    from archsim.accuracy import _compose_end_to_end

    d = {"mode": "inference", "ttft_s": 1.0, "tpot_s": 0.01, "e2e_latency_s": 1.99,
         "uncertainty": {"errors": {"ttft": err(-0.2, 0.25), "tpot": err(-0.1, 0.25)},
                         "out_of_range": [],
                         "intervals": {"ttft_s": [0.8, 1.25], "tpot_s": [0.008, 1 / 90]}}}
    _compose_end_to_end(d["uncertainty"], d)
    lo, hi = d["uncertainty"]["intervals"]["e2e_latency_s"]
    assert (lo, hi) == (0.8 + 99 * 0.008, 1.25 + 99 / 90)
    lines = uncertainty_lines(d)
    assert ("  end-to-end latency: TTFT + 99 × TPOT, each at its own band's ends; "
            f"{100 * (1.99 / hi - 1):+.0f}% … {100 * (1.99 / lo - 1):+.0f}% off the measured "
            "time at the ends of the TTFT and TPOT bands it is read off (no band of its own)"
            ) in lines
    assert f"  latency: 1.99 s, likely (from the TTFT and TPOT bands) {lo:.3g}–{hi:.3g} s" \
        in lines
