"""The forward-pass cache of InferencePlan (archsim/plan/inference.py): a pass taken again
costs what it cost the first time, adds the same time to each stage, and a full cache is
cleared, not grown."""

from __future__ import annotations

import pytest

import archsim
import archsim.plan.inference as inference
from archsim.plan.serving import resolve_serving_layout

SPEC = {"model": "llama2-7b", "hardware": {"device": "a100-sxm4-80gb", "count": 2},
        "plan": {"pp": 2},
        "workload": {"kind": "serving", "prompt_len": 500, "gen_len": 4,
                     "arrival": {"rate_per_s": 10.0, "count": 4, "process": "uniform"}}}
PASSES = [(500, [(500, 500)], 0, 0, 1),  # a prompt
          (1, [], 1, 501, 1),  # one sequence's decode step
          (3, [], 3, 1600, 3)]  # three sequences' decode step


def plan():
    (group,) = resolve_serving_layout(archsim.load_scenario(SPEC))[0].groups
    return group.plan


@pytest.mark.parametrize("args", PASSES)
def test_a_pass_taken_again_costs_the_same_and_adds_the_same_stage_time(args):
    p = plan()
    first, again = [0.0, 0.0], [0.0, 0.0]
    t1 = p.forward_s(*args, first)
    t2 = p.forward_s(*args, again)
    assert t2 == t1 and again == first
    assert all(t > 0 for t in first)
    # stage times accumulate: a second pass into the same list doubles each stage's
    p.forward_s(*args, first)
    assert first == [2 * t for t in again]
    # and equal the pass computed afresh, on a plan with an empty cache
    fresh = [0.0, 0.0]
    assert plan()._forward_s(*args, fresh) == t1 and fresh == again


def test_a_full_cache_is_cleared(monkeypatch):
    monkeypatch.setattr(inference, "PASS_CACHE_SIZE", 2)
    p = plan()
    times = [p.forward_s(*args) for args in PASSES]
    assert len(p._passes) == 1  # the third pass found two kept and cleared them
    assert [p.forward_s(*args) for args in PASSES] == times


def test_a_serving_run_is_the_same_with_and_without_the_cache(monkeypatch):
    cached = archsim.simulate(SPEC).to_dict()
    monkeypatch.setattr(inference, "PASS_CACHE_SIZE", 0)  # only the last pass kept
    fresh = archsim.simulate(SPEC).to_dict()
    for key in ("ttft_p50_s", "tpot_p50_s", "e2e_p99_s", "energy_joules",
                "iterations"):
        assert cached[key] == fresh[key], key
