"""A serving sweep's table says where each point's rates were measured (``rate_basis``), and
its report says when the points mix bases: a burst's rate over its whole run and a Poisson
stream's steady-state rate are not the same measurement."""

from __future__ import annotations

from sweep_cases import sweep_mapping

from archsim.report import build_report
from archsim.sweep.runner import run_sweep
from archsim.sweep.spec import load_sweep
from archsim.sweep.store import read_results

BASE = {"name": "tiny-serving", "model": "gpt3-1.7b",
        "hardware": {"device": "a100-sxm4-80gb", "count": 1},
        "workload": {"kind": "serving", "arrival": {"rate_per_s": 5, "count": 10},
                     "prompt_len": 64, "gen_len": 4}}
BURST = {"process": "burst", "count": 40}
STEADY = {"rate_per_s": 5, "count": 200}  # 200 arrivals over ~40 s: a steady-state window


def _sweep(tmp_path, arrivals):
    out = tmp_path / "r.csv"
    run_sweep(load_sweep(sweep_mapping(base=BASE, axes={"workload.arrival": arrivals})), out)
    return out, read_results(out)


def test_each_serving_point_names_its_rate_basis(tmp_path):
    _, table = _sweep(tmp_path, [BURST, STEADY])
    by_count = {int(a.split('"count": ')[1].split(",")[0].rstrip("}")): b
                for a, b in zip(table["workload.arrival"], table["rate_basis"], strict=True)}
    assert by_count == {40: "whole run: every request arrived at once", 200: "steady state"}


def test_the_report_says_when_the_points_mix_rate_bases(tmp_path):
    out, _ = _sweep(tmp_path, [BURST, STEADY])
    report = build_report(out)
    answer = " ".join(b.text for b in next(s for s in report.sections if s.id == "answer").blocks
                      if hasattr(b, "text"))
    assert ("The serving points' rates were measured on different bases (1 point steady state, "
            "1 point whole run: every request arrived at once)") in answer
    best = next(s for s in report.sections if s.id == "best")
    table = next(b for b in best.blocks if getattr(b, "rows", None))
    assert "rates measured over" in table.header


def test_one_basis_says_nothing(tmp_path):
    out, table = _sweep(tmp_path, [STEADY, {"rate_per_s": 4, "count": 200}])
    assert set(table["rate_basis"]) == {"steady state"}
    report = build_report(out)
    text = " ".join(b.text for s in report.sections for b in s.blocks if hasattr(b, "text"))
    assert "different bases" not in text


def test_training_points_have_no_rate_basis(tmp_path):
    base = {"name": "tiny-training", "model": "gpt3-1.7b",
            "hardware": {"device": "a100-sxm4-80gb", "count": 1},
            "workload": {"kind": "training", "seq_len": 128, "global_batch": 2,
                         "micro_batch": 1}}
    out = tmp_path / "t.csv"
    run_sweep(load_sweep(sweep_mapping(base=base, axes={"workload.micro_batch": [1, 2]})), out)
    assert read_results(out)["rate_basis"].isna().all()
