"""Errors, MAPE, per-op rows and the report writers, on hand-made numbers."""

from __future__ import annotations

import json

import pytest

from archsim.validate.compare import (
    CaseResult,
    error,
    mape,
    markdown,
    op_rows,
    report_dict,
    round_spread,
    sum_layers,
    summarize,
    weighted_error,
    write_report,
)


def test_error_and_mape():
    assert error(1.1, 1.0) == pytest.approx(0.1)
    assert error(0.8, 1.0) == pytest.approx(-0.2)
    assert mape([0.1, -0.2, 0.3]) == pytest.approx(0.2)
    assert mape([]) is None


def test_layers_are_summed_per_op():
    assert sum_layers({"L0.qkv": 1.0, "L1.qkv": 2.0, "L0.qkv.bwd": 4.0, "logits": 8.0}) == {
        "qkv": 3.0, "qkv.bwd": 4.0, "logits": 8.0}


def test_op_rows_scale_profiled_times_to_the_unprofiled_wall_time():
    # profiled span 20 ms, un-profiled step 10 ms: every measured op is halved
    measured = {"step": {"L0.qkv": 0.008, "L1.qkv": 0.004, "loss": 0.002, "total": 0.020}}
    predicted = {"step": {"L0.qkv": 0.003, "L1.qkv": 0.003, "loss": 0.002}}
    rows = {r["op"]: r for r in op_rows(measured, predicted, {"step": 0.010})}
    assert rows["qkv"]["measured_s"] == pytest.approx(0.006)  # (8 + 4) ms / 2
    assert rows["qkv"]["error"] == pytest.approx(0.0)  # 6 ms predicted
    assert rows["qkv"]["matmul"] and not rows["loss"]["matmul"]
    assert rows["loss"]["error"] == pytest.approx(1.0)  # 2 ms predicted vs 1 ms


def _case(name, mode, measured, predicted, ops=()):
    return CaseResult(name=name, mode=mode, model=name.split()[1], params=1000,
                      measured=measured, predicted=predicted, spread={}, ops=list(ops))


def test_summary_over_cases():
    a = _case("train m1", "training", {"step_time_s": 1.0}, {"step_time_s": 1.1},
              [{"phase": "step", "op": "fc1", "measured_s": 0.5, "predicted_s": 0.4,
                "matmul": True, "error": -0.2},
               {"phase": "step", "op": "gelu", "measured_s": 1e-6, "predicted_s": 2e-6,
                "matmul": False, "error": 1.0}])
    b = _case("infer m2", "inference", {"ttft_s": 0.1, "e2e_latency_s": 1.0},
              {"ttft_s": 0.12, "e2e_latency_s": 0.7})
    s = summarize([a, b])
    assert s["e2e_mape"] == pytest.approx((0.1 + 0.3) / 2)
    assert s["e2e_mape_by_mode"] == {"inference": pytest.approx(0.3),
                                     "training": pytest.approx(0.1)}
    assert s["mape_by_metric"]["ttft_s"] == pytest.approx(0.2)
    assert s["matmul_op_mape"] == pytest.approx(0.2)
    assert s["all_op_rows"] == 1  # the 1 us GeLU is below the per-op floor
    assert s["all_op_weighted_error"] == pytest.approx(0.1 / 0.5)  # |0.4 - 0.5| / 0.5
    assert s["models"] == ["m1", "m2"]


def test_report_files_are_written(tmp_path):
    a = _case("train m1", "training", {"step_time_s": 1.0}, {"step_time_s": 1.1})
    report = report_dict([a], {"device": "cpu", "host": "h", "threads": 2})
    paths = write_report(report, tmp_path / "out")
    assert [p.name for p in paths] == ["validation.json", "validation.md", "validation.png"]
    data = json.loads(paths[0].read_text())
    assert data["summary"]["e2e_mape"] == pytest.approx(0.1)
    md = paths[1].read_text()
    assert "| train m1 | 0.0M | step_time_s | 1000.000 | 1100.000 | +10.0% |" in md
    assert paths[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_weighted_per_op_error_counts_time_not_rows():
    # a 0.5 s GEMM 20% fast and a 20 us add predicted at 2 ms (99x too slow): the MAPE is
    # (0.2 + 99) / 2 = 49.6, the weighted error (0.1 + 0.00198) / 0.50002 = 0.2040
    rows = [{"phase": "step", "op": "fc1", "measured_s": 0.5, "predicted_s": 0.4,
             "matmul": True, "error": -0.2},
            {"phase": "step", "op": "bda_attn.bwd", "measured_s": 20e-6, "predicted_s": 2e-3,
             "matmul": False, "error": 99.0}]
    s = summarize([_case("train m1", "training", {"step_time_s": 1.0}, {"step_time_s": 1.0},
                         rows)])
    assert s["all_op_mape"] == pytest.approx(49.6)
    assert s["all_op_weighted_error"] == pytest.approx(0.10198 / 0.50002)
    assert weighted_error([]) is None


def test_rounds_give_the_median_and_say_which_cases_moved_more_than_they_missed():
    # case a: rounds 1.0, 1.3, 1.1 s → spread (1.3 − 1.0) / 1.1 = 27%, error +10% (1.21 vs
    # 1.1): the rounds lay further apart. case b: rounds 2.0, 2.02 → 1%, error −20%: not.
    a = CaseResult(name="train m1", mode="training", model="m1", params=1,
                   measured={"step_time_s": 1.1}, predicted={"step_time_s": 1.21}, spread={},
                   rounds={"step_time_s": [1.0, 1.3, 1.1]})
    b = CaseResult(name="train m2", mode="training", model="m2", params=1,
                   measured={"step_time_s": 2.01}, predicted={"step_time_s": 1.608}, spread={},
                   rounds={"step_time_s": [2.0, 2.02]})
    assert round_spread([1.0, 1.3, 1.1]) == pytest.approx(0.3 / 1.1)
    assert round_spread([1.0]) is None
    s = summarize([a, b])
    assert s["rounds_apart_beyond_error"] == 1
    report = report_dict([a, b], {"device": "cpu", "host": "h", "threads": 2})
    assert report["cases"][0]["rounds"] == {"step_time_s": [1.0, 1.3, 1.1]}
    md = markdown(report)
    assert "| cases whose rounds lay further apart than their end-to-end error | 1 of 2 |" in md
    assert "| train m1 | 0.0M | step_time_s | 1100.000 | 1210.000 | +10.0% | 0% | – | 27% |" in md
    # MAPE and the worst absolute error are unsigned (|+10%| and |−20%| average to 15%)
    assert "| end-to-end MAPE | 15.0% |" in md
    assert "| worst end-to-end error (abs) | 20.0% |" in md
    # one round: no column, no summary row
    one = [_case("train m1", "training", {"step_time_s": 1.0}, {"step_time_s": 1.1})]
    assert "rounds_apart_beyond_error" not in summarize(one)
    assert "| rounds |" not in markdown(report_dict(one, {"device": "cpu"}))
    assert "| rounds |" in md
