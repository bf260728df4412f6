"""Pareto fronts by hand, and the summary's filters and ranking."""

import pandas as pd
from sweep_cases import sweep_mapping

from archsim.sweep.pareto import pareto_mask, summarize
from archsim.sweep.spec import load_sweep


def test_front_when_maximizing_both():
    values = [(1, 5), (2, 4), (3, 3), (2, 2), (1, 1)]
    # (2, 2) is beaten by (2, 4) and (3, 3); (1, 1) by everything else
    assert pareto_mask(values, [True, True]) == [True, True, True, False, False]


def test_front_with_mixed_directions_keeps_ties():
    # (cost, throughput): minimize cost, maximize throughput
    values = [(1.0, 1.0), (2.0, 3.0), (3.0, 2.0), (2.0, 3.0)]
    # (3, 2) costs more and does less than (2, 3); the two (2, 3) tie and both stay
    assert pareto_mask(values, [False, True]) == [True, True, False, True]


def test_single_goal_front_is_the_best_value():
    assert pareto_mask([(3.0,), (5.0,), (5.0,), (1.0,)], [True]) == [False, True, True, False]
    assert pareto_mask([], [True]) == []


def rows():
    base = {"plan.tp": 1, "plan.pp": 1, "error": None, "feasible": True, "mfu": 0.5,
            "cost_per_million_tokens_usd": 1.0, "memory.peak_bytes_per_device": 1.0,
            "step_time_s": 1.0, "cost_usd": 1.0}
    table = [
        {"hash": "a", "tokens_per_s": 100.0, "memory_headroom": 0.5},
        {"hash": "b", "tokens_per_s": 300.0, "memory_headroom": 0.1},
        {"hash": "c", "tokens_per_s": 200.0, "memory_headroom": 0.3},
        {"hash": "d", "tokens_per_s": 150.0, "memory_headroom": 0.2},   # beaten by c
        {"hash": "e", "tokens_per_s": 900.0, "memory_headroom": -0.2, "feasible": False},
        {"hash": "f", "tokens_per_s": None, "memory_headroom": None, "feasible": None,
         "error": "SpecError: bad"},
    ]
    return pd.DataFrame([{**base, "point": i, **r} for i, r in enumerate(table)])


def test_summary_filters_ranks_and_fronts():
    sweep = load_sweep(sweep_mapping(
        pareto=[{"maximize": "tokens_per_s"}, {"maximize": "memory_headroom"}]))
    summary = summarize(sweep, rows())
    assert summary["points"] == {"in_table": 6, "feasible": 4, "infeasible": 1, "failed": 1,
                                 "after_filters": 4}
    assert [r["hash"] for r in summary["best"]] == ["b", "c", "d", "a"]
    assert [r["hash"] for r in summary["pareto"]["front"]] == ["b", "c", "a"]
    assert summary["objective"] == "max tokens_per_s"


def test_summary_headroom_and_where_filters():
    sweep = load_sweep(sweep_mapping(
        objective={"minimize": "step_time_s * 1000 / tokens_per_s"},
        filters={"min_memory_headroom": 0.25, "where": ["tokens_per_s < 250"]}))
    summary = summarize(sweep, rows())
    # headroom ≥ 0.25 keeps a (0.5) and c (0.3); both pass tokens_per_s < 250
    assert [r["hash"] for r in summary["best"]] == ["c", "a"]  # 1000/200 = 5 < 1000/100 = 10
    assert summary["best"][0]["step_time_s * 1000 / tokens_per_s"] == 5.0
    only = summarize(sweep, rows(), hashes=["a"])
    assert [r["hash"] for r in only["best"]] == ["a"]


def test_no_goals_no_front():
    # with no goals no row is better than another, so none is dominated
    assert pareto_mask([(), ()], []) == [True, True]
    sweep = load_sweep(sweep_mapping(pareto=[]))  # the sweep file asks for no front
    summary = summarize(sweep, rows())
    assert summary["pareto"] == {"goals": [], "left_out_missing_values": 0, "front": []}
    assert [r["hash"] for r in summary["best"]] == ["b", "c", "d", "a"]
