"""The search: pruning never loses the true top K, it beats the Megatron plan for GPT-3 175B
by the simulator's own estimate, and it says why the others lost with their numbers."""

import csv
import re
from pathlib import Path

import pytest

import archsim
from archsim.planner import SearchSpace, search_plans
from archsim.spec.errors import SpecError

REFERENCE = Path(__file__).resolve().parents[2] / "reference" / "megatron_weak_scaling.csv"
# a reduced GPT-3 175B space around the Megatron plan (the full space: benchmarks/)
GPT3_AXES = {"tp": [4, 8], "pp": [8, 16], "cp": [1], "micro_batch": [1, 2], "zero": [0, 1],
             "recompute": ["selective", "full"], "virtual_stages": [2]}


def test_pruned_search_finds_the_true_top_k(everything):
    sc, axes, evaluated = everything
    truth = sorted(ev.result["step_time_s"] for ev in evaluated if ev.result["feasible"])
    found = search_plans(sc, top=5, space=SearchSpace.from_axes(axes))
    # the same five plans; within 0.1% of each other the simpler one is ranked first
    assert sorted(row.step_time_s for row in found.top) == pytest.approx(truth[:5], rel=1e-12)
    c = found.counts
    assert c["plans"] == c["not_divisible"] + len(evaluated)
    assert len(evaluated) == (c["pruned_by_memory_bound"] + c["pruned_by_time_bound"]
                              + c["simulated"])
    assert c["simulated"] < len(evaluated) / 10  # the bounds did the work
    assert not found.bound_violations


def test_every_loser_has_one_reason(dense_overlap):
    sc, axes, evaluated = dense_overlap
    found = search_plans(sc, top=3, space=SearchSpace.from_axes(axes))
    counted = sum(loss.count for loss in found.losses.values())
    assert counted == found.counts["plans"] - len(found.top)
    assert found.losses["memory"].count == sum(not ev.result["feasible"] for ev in evaluated)
    assert found.losses["divisibility"].count == found.counts["not_divisible"]


def test_gpt3_175b_best_plan_no_worse_than_megatron():
    with REFERENCE.open() as fh:
        rows = {float(r["params_b"]): r for r in csv.DictReader(fh)}
    # Megatron's plan at this scale (SC21 Table 1: 145.6B on 1536 GPUs, 310.1B on 1920)
    assert (rows[145.6]["tp"], rows[145.6]["pp"]) == ("8", "8")
    sc = archsim.load_scenario(None)  # GPT-3 175B on 1024 A100s with Megatron's TP 8, PP 8
    found = search_plans(sc, top=3, space=SearchSpace.from_axes(GPT3_AXES))
    given = found.given.result
    assert (given["parallel"]["tp"], given["parallel"]["pp"]) == (8, 8)
    assert given["step_time_s"] == pytest.approx(archsim.simulate(sc)["step_time_s"])
    assert found.best.step_time_s <= given["step_time_s"]
    assert found.best.result["tokens_per_s"] >= given["tokens_per_s"]


def test_memory_loss_names_the_numbers():
    """TP 8 without pipelining: model states alone are 16 B × 21,855,215,616 parameters per
    device (hand count in test_planner_bounds) = 325.67 GiB, plus 1 GiB reserved."""
    sc = archsim.load_scenario(None)
    axes = {"tp": [8], "pp": [1], "cp": [1], "micro_batch": [1], "zero": [0],
            "recompute": ["full"], "schedule": ["1f1b"], "sp": [False]}
    found = search_plans(sc, top=1, space=SearchSpace.from_axes(axes))
    assert found.top == [] and found.notes == ["no plan in the space is feasible"]
    loss = found.losses["memory"]
    assert loss.count == 1 and loss.best_label.startswith("tp 8 · pp 1 · dp 128")
    needs = float(re.search(r"needs ≥ ([\d.]+) GiB per device, has 80\.00 GiB",
                            loss.detail).group(1))
    assert needs >= 16 * 21_855_215_616 / 2**30 + 1
    assert needs < 16 * 21_855_215_616 / 2**30 + 20  # + a micro-batch of activations


def test_cost_objective_ranks_by_price_per_token():
    sc = archsim.load_scenario(None)
    axes = {**GPT3_AXES, "tp": [8], "pp": [8, 16]}
    by_cost = search_plans(sc, objective="cost", top=3, space=SearchSpace.from_axes(axes))
    by_speed = search_plans(sc, top=3, space=SearchSpace.from_axes(axes))
    assert [r.label for r in by_cost.top] == [r.label for r in by_speed.top]
    best = by_cost.best.result
    # 1.79 USD per A100-hour (profile) × 1024 devices × step / (1536 × 2048 tokens)
    usd = 1.79 * 1024 * best["step_time_s"] / 3600
    assert best["cost_per_million_tokens_usd"] == pytest.approx(usd / (1536 * 2048) * 1e6)


@pytest.mark.parametrize("overrides,kwargs,message", [
    ({"hardware.device": "h200-sxm-141gb"}, {"objective": "cost"},
     r"objective cost needs price_per_hour in the device profile; h200-sxm-141gb has none"),
    ({}, {"objective": "speed"}, r"objective 'speed' is not one of: throughput, latency, cost"),
    ({}, {"top": 0}, r"top 0: expected at least 1"),
])
def test_bad_requests_are_named(overrides, kwargs, message):
    sc = archsim.load_scenario(None, overrides)
    with pytest.raises(SpecError, match=message):
        search_plans(sc, **kwargs)


def test_serving_is_not_searched():
    sc = archsim.load_scenario({"model": "llama2-7b",
                                "hardware": {"device": "h100-sxm5-80gb", "count": 8},
                                "workload": {"kind": "serving",
                                             "arrival": {"rate_per_s": 1, "count": 10}}})
    with pytest.raises(SpecError, match=r"workload\.kind: the planner searches training and "
                                        r"inference plans; got 'serving'"):
        search_plans(sc)


def test_cost_objective_weighs_the_pools_a_placement_uses(mixed):
    """On 8 H100 (2.99 USD/h) + 8 A100 (1.79 USD/h) a placement may leave a pool idle, so
    the cheapest plan per token need not be the fastest: the search must still return the
    true cheapest plans."""
    sc, axes, evaluated = mixed
    feasible = [ev.result for ev in evaluated if ev.result["feasible"]]
    found = search_plans(sc, objective="cost", top=3, space=SearchSpace.from_axes(axes))
    cheapest = sorted(r["cost_per_million_tokens_usd"] for r in feasible)[:3]
    got = [row.result["cost_per_million_tokens_usd"] for row in found.top]
    # the true cheapest three; within 0.1% of each other the simpler plan is ranked first
    assert sorted(got) == pytest.approx(cheapest, rel=1e-12)
    best = found.best
    price = {"fast": 2.99, "slow": 1.79}
    usd_per_s = sum(best.candidate.tp * best.candidate.cp * best.candidate.dp * price[p]
                    for p in best.candidate.placement) / 3600
    assert got[0] == pytest.approx(usd_per_s * best.step_time_s / (32 * 1024) * 1e6)
    assert not found.bound_violations


def test_distillation_search_finds_the_true_best_plan():
    """Distillation: a step is the teacher's forward plus the student's training step. The
    planner had bounded every plan as the teacher's whole training step: its bounds exceeded
    the simulated steps, it pruned plans that fit and recommended a slower one. Every plan of a
    small space simulated here must not beat the planner's best, and no bound is violated."""
    teacher = {"name": "teacher", "layers": 8, "hidden": 1024, "heads": 16, "vocab": 8192,
               "max_seq_len": 1024}
    student = {"name": "student", "layers": 4, "hidden": 512, "heads": 8, "vocab": 8192,
               "max_seq_len": 1024}
    sc = archsim.load_scenario({
        "model": teacher, "hardware": {"device": "a100-sxm4-80gb", "count": 8},
        "workload": {"kind": "training", "seq_len": 1024, "global_batch": 32},
        "plan": {"tp": 2, "pp": 2}, "compression": {"distill": {"student": student}}})
    axes = {"tp": [1, 2, 4], "pp": [1, 2, 4], "cp": [1], "micro_batch": [1, 4],
            "zero": [0, 1], "recompute": ["none"], "virtual_stages": [2]}
    found = search_plans(sc, top=1, space=SearchSpace.from_axes(axes))
    assert not found.bound_violations
    from archsim.planner.space import enumerate_space, scenario_for

    steps = [archsim.simulate(scenario_for(sc, c)).to_dict()
             for c in enumerate_space(sc, SearchSpace.from_axes(axes)).valid]
    best = min(r["step_time_s"] for r in steps if r["feasible"])
    assert found.top[0].step_time_s == pytest.approx(best, rel=1e-12)


def test_plans_that_tie_go_to_the_simpler_one():
    """Within 0.1% (TIE_TOLERANCE) the plan with fewer parallel dimensions above 1 ranks first,
    then the one moving fewer bytes; outside it, the faster plan wins whatever its shape."""
    from archsim.planner.result import PlanRow, rank
    from archsim.planner.space import Candidate

    def row(step: float, cp: int, dp: int, nbytes: float) -> PlanRow:
        cand = Candidate(tp=1, pp=1, dp=dp, cp=cp, ep=1, sp=False, zero=2, micro_batch=8 // dp,
                         recompute="none", schedule="1f1b", virtual_stages=1)
        return PlanRow(cand, cand.label(), {"step_time_s": step,
                                           "communication": {"bytes_per_device": nbytes}})

    cp4 = row(7.6440, cp=4, dp=2, nbytes=273.5e9)   # 0.0013% faster than dp 8
    dp8 = row(7.6441, cp=1, dp=8, nbytes=67.4e9)
    cp2 = row(7.6441, cp=2, dp=4, nbytes=140.0e9)
    faster = row(7.6300, cp=4, dp=2, nbytes=273.5e9)  # 0.18% faster: not a tie
    key = lambda r: r["step_time_s"]  # noqa: E731
    assert [r.candidate.cp for r in rank([cp4, cp2, dp8], key)] == [1, 2, 4]
    assert [r.candidate.cp for r in rank([dp8, faster], key)] == [4, 1]
