"""The model's error bar on each report's answer: serving capacity (SLO and cost bands), the
training device counts (the step-time band's upper end) and the sweep's best points."""

from __future__ import annotations

import pandas as pd
import pytest

from archsim.report.capacity import TrainingTarget, fewest_devices, slow_tokens_per_s
from archsim.report.scaling import ScalePoint
from archsim.report.serving_bands import band_rows, band_sentence, verdict
from archsim.report.sweep_bands import band, ranking_sentence
from archsim.report.sweep_bands import band_sentence as sweep_band_sentence
from archsim.report.sweep_goals import Goal
from archsim.report.training_answer import band_end_clause
from archsim.report.training_planner import PlannedPoint
from archsim.report.training_scaling import planner_sentence


def _interval(t: float, p10: float, p90: float) -> list[float]:
    """A time t spans t / (1 + p90) … t / (1 + p10) (archsim/accuracy.py)."""
    return [t / (1 + p90), t / (1 + p10)]


def _row(device, devices, ttft, tpot, cost, p10=-0.2, p90=0.05):
    iv = {"ttft_p99_s": _interval(ttft, p10, p90), "tpot_p99_s": _interval(tpot, p10, p90)}
    if cost is not None:
        iv["cost_per_million_tokens_usd"] = _interval(cost, p10, p90)
    errors = {g: {"p10": p10, "p90": p90} for g in ("ttft", "tpot", "throughput")}
    return {"device": device, "feasible": True, "devices": devices, "replicas": devices,
            "tp": 1, "cost_per_million_tokens_usd": cost,
            "uncertainty": {"intervals": iv, "errors": errors, "out_of_range": []}}


SLO = {"ttft_s": 0.5, "tpot_s": 0.04, "attainment": 0.9}


def test_serving_bands_against_the_slo_and_each_other():
    """Bands with p10 −20%, p90 +5%: t / 1.05 … t / 0.8.

    H100: TPOT p99 22 ms → 20.952 … 27.500 ms, TTFT 80 ms → 76.190 … 100 ms: both ends within
    500 ms / 40 ms. A100: TPOT p99 38 ms → 36.190 … 47.500 ms: straddles 40 ms. L40S (no price):
    TPOT p99 41 ms → 39.048 … 51.250 ms. Costs: H100 $0.28 → $0.267 … $0.350; A100 $0.32 →
    $0.305 … $0.400: 0.305 ≤ 0.350, the bands overlap."""
    h100 = _row("h100", 2, 0.080, 0.022, 0.28)
    a100 = _row("a100", 4, 0.138, 0.038, 0.32)
    l40s = _row("l40s", 10, 0.2, 0.041, None)
    assert verdict(h100, SLO) == "within the SLO across its band"
    assert verdict(a100, SLO) == ("meets the SLO at the estimate, not across its band: its "
                                  "TPOT p99 band 36.190 ms to 47.500 ms straddles the 40 ms "
                                  "objective")
    past = _row("x", 1, 0.1, 0.046, 1.0)  # 43.810 … 57.500 ms: wholly past 40 ms
    assert verdict(past, SLO).endswith("43.810 ms to 57.500 ms lies past the 40 ms objective")
    cap = {"rows": [a100, h100, l40s], "best": "h100", "best_by": "cost per million tokens",
           "slo": SLO}
    text = band_sentence(cap)
    assert text.startswith("Error bar of these deployments, likely (80%): 2 × h100 at $0.267 "
                           "to $0.350 per million output tokens, within the SLO across its "
                           "band; 4 × a100 at $0.305 to $0.400")
    assert "The cost band of h100 overlaps that of a100 ($0.305 to $0.400)" in text
    assert [r[5] for r in band_rows(cap)] == ["no: TPOT p99 up to 47.500 ms > 40 ms", "yes",
                                              "no: TPOT p99 up to 51.250 ms > 40 ms"]
    # an A100 at $0.40 → $0.381 … $0.500: above the H100's dearest end $0.350
    cap["rows"][0] = _row("a100", 4, 0.138, 0.038, 0.40)
    assert "h100 stays the cheapest across the cost bands" in band_sentence(cap)


def test_a_widened_band_is_named_and_no_band_is_unknown():
    row = _row("h100", 2, 0.08, 0.022, 0.28)
    row["uncertainty"]["errors"] = {g: {"p10": -0.2, "p90": 0.05, "widened": "why"}
                                    for g in ("ttft", "tpot", "throughput")}
    cap = {"rows": [row], "best": "h100", "best_by": "cost per million tokens", "slo": SLO}
    assert band_sentence(cap).startswith("Error bar of these deployments, likely (the wider "
                                         "reference band)")
    bare = {**row, "uncertainty": {"intervals": {}, "errors": {}, "note": "no runs"}}
    assert verdict(bare, SLO) == "its error is unknown (no calibrated band)"


def _point(dp, high=1.25):
    # 1000 tokens/s per replica, a 1 s step whose band reaches 1.25 s
    return ScalePoint(dp * 8, dp, True, 1000.0 * dp, 1.0, 1.0, 1.0, (), high)


def test_fewest_devices_at_the_upper_end_of_the_step_time_band():
    """Target 10,500 tokens/s in 1 day = 907.2 M tokens. At the estimate dp 12 (12,000
    tokens/s) is the fewest of the valid dps 1, 2, 3, 4, 6, 8, 12, 16, 24, 48: 907.2e6 / 12,000
    / 86,400 = 0.875 days. At the band's upper end a step takes 1.25×: 9,600 tokens/s, 1.09375
    days > 1, so dp 16 (12,800 tokens/s at that end) is needed: 0.8203 days = 19.7 hours."""
    from test_capacity import _scenario

    sc = _scenario()
    target = TrainingTarget(10_500 * 86_400, 1.0, "test")
    best, seen = fewest_devices(sc, [], target.tokens_per_s, lambda _s, dp: _point(dp))
    slow, _ = fewest_devices(sc, seen, target.tokens_per_s, lambda _s, dp: _point(dp),
                             rate=slow_tokens_per_s)
    assert (best.dp, slow.dp) == (12, 16)
    assert slow_tokens_per_s(best) == pytest.approx(9_600.0)
    assert band_end_clause(best, target, slow) == (
        "at the upper end of its step-time band it takes 1.1 days, past the deadline: there "
        "128 devices (dp 16) are needed, 19.7 hours")
    # a band up to 1.1 s: 12,000 / 1.1 = 10,909 tokens/s ≥ 10,500 → still within
    assert band_end_clause(_point(12, 1.1), target, None) == (
        "at the upper end of its step-time band it takes 23.1 hours, still within 1.0 days")
    assert band_end_clause(_point(12, None), target, None) == ""


def test_planner_sentence_names_the_count_at_the_band_end():
    """300 B tokens in 30 days = 115,741 tokens/s. 1024 devices: 140,000 tokens/s, 24.8 days;
    step 22.5 s, band to 27.9 s → 140,000 × 22.5 / 27.9 = 112,903 tokens/s < 115,741: 30.8
    days. 1536 devices: 200,000 tokens/s, the same band → 161,290 tokens/s: 21.5 days."""
    target = TrainingTarget(300e9, 30.0, "test")
    planned = [PlannedPoint(1024, "plan a", 140_000.0, 22.5, 1.0, 1.0, "", 27.9),
               PlannedPoint(1536, "plan b", 200_000.0, 22.5, 1.0, 1.0, "", 27.9)]
    text = planner_sentence(planned, target, None)
    assert "1,024 devices are enough: 24.8 days" in text
    assert text.endswith("at the upper end of its step-time band it takes 30.8 days, past the "
                         "deadline: there 1,536 devices of the counts searched are needed, "
                         "21.5 days.")


def _sweep_rows():
    """The committed sweep's best H100 and A100 points: cost × tokens/s / high … / low."""
    return pd.DataFrame([
        {"hardware.device": "h100-sxm5-80gb", "tokens_per_s": 77_686.0,
         "tokens_per_s_low": 62_863.0, "tokens_per_s_high": 84_366.0,
         "cost_per_million_tokens_usd": 0.08553,
         "tokens_per_s_widened": False},
        {"hardware.device": "a100-sxm4-80gb", "tokens_per_s": 32_486.0,
         "tokens_per_s_low": 30_654.0, "tokens_per_s_high": 34_799.0,
         "cost_per_million_tokens_usd": 0.12244,
         "tokens_per_s_widened": False}])


def test_sweep_band_and_ranking_at_the_band_ends():
    """H100: $0.08553 × 77,686 / 84,366 = $0.07876 … × 77,686 / 62,863 = $0.10570. A100's
    cheapest end: $0.12244 × 32,486 / 34,799 = $0.11430 > $0.10570: the ranking holds. With
    the A100 at $0.10 instead: $0.09335 < $0.10570: the bands overlap."""
    rows = _sweep_rows()
    h100, a100 = rows.iloc[0], rows.iloc[1]
    cost = Goal("cost_per_million_tokens_usd", False)
    assert band(h100, cost.column) == pytest.approx((0.07876, 0.10570), abs=1e-5)
    assert band(a100, cost.column)[0] == pytest.approx(0.11430, abs=1e-5)
    assert sweep_band_sentence(h100, cost) == (
        "Error bar of the best point: likely (80%) throughput 62,863 tokens/s to 84,366 "
        "tokens/s, cost per million tokens $0.0788 to $0.106.")
    assert ranking_sentence(h100, a100, cost, "the A100").endswith(
        "at most $0.106 for the best point against at least $0.114 for the A100: the ranking "
        "holds across the bands.")
    cheap = a100.copy()
    cheap["cost_per_million_tokens_usd"] = 0.10
    assert "the bands overlap" in ranking_sentence(h100, cheap, cost, "the A100")
    # by throughput: the H100's slowest end 62,863 > the A100's fastest 34,799
    assert ranking_sentence(h100, a100, Goal("tokens_per_s", True), "the A100").endswith(
        "at least 62,863 tokens/s for the best point against at most 34,799 tokens/s for the "
        "A100: the ranking holds across the bands.")


def test_sweep_report_shows_the_band(tmp_path):
    from archsim.report import ReportOptions, build_report

    path = tmp_path / "sweep.csv"
    table = _sweep_rows().assign(feasible=True, devices=8)
    table.to_csv(path, index=False)
    report = build_report(path, options=ReportOptions(
        objective="min:cost_per_million_tokens_usd"))
    answer = next(s for s in report.sections if s.id == "answer")
    text = " ".join(getattr(b, "text", "") for b in answer.blocks)
    assert "cost per million tokens $0.0788 to $0.106" in text
    assert ("against at least $0.114 for the best a100-sxm4-80gb point: the ranking holds "
            "across the bands") in text
    best = next(s for s in report.sections if s.id == "best")
    bands = [b for b in best.blocks if getattr(b, "rows", None)][1]
    assert bands.rows[0] == ("1", "h100-sxm5-80gb", "62,863 tokens/s to 84,366 tokens/s",
                             "$0.0788 to $0.106")
