"""The planner on static-batch inference: tp × pp (dp derived), ranked by latency."""

import pytest

import archsim
from archsim.planner import SearchSpace, search_plans
from archsim.spec.errors import SpecError

SCENARIO = {
    "name": "llama2-7b-8xh100",
    "model": "llama2-7b",  # 32 layers, 32 heads (MHA)
    "hardware": {"device": "h100-sxm5-80gb", "count": 8},
    "workload": {"kind": "inference", "batch": 4, "prompt_len": 512, "gen_len": 16},
    "plan": {"tp": 2, "pp": 2},
}


@pytest.fixture(scope="module")
def found():
    return search_plans(archsim.load_scenario(SCENARIO), objective="latency", top=3)


def test_counts_by_hand(found):
    # tp, pp ∈ {1, 2, 4, 8} (divisors of 8 devices): 16 pairs; tp·pp must divide 8 (10 do),
    # and dp = 8 / (tp·pp) must divide the batch of 4: dp 8 (tp 1 · pp 1) does not → 9
    assert found.counts["plans"] == 16
    assert found.counts["not_divisible"] == 7
    assert found.counts["simulated"] == 9


def test_best_is_the_lowest_latency_of_all_plans(found):
    latencies = []
    for tp, pp in [(1, 2), (1, 4), (1, 8), (2, 1), (2, 2), (2, 4), (4, 1), (4, 2), (8, 1)]:
        r = archsim.simulate(SCENARIO, {"plan.tp": tp, "plan.pp": pp})
        if r["feasible"]:
            latencies.append(r["e2e_latency_s"])
    assert [row.result["e2e_latency_s"] for row in found.top] == \
        pytest.approx(sorted(latencies)[:3], rel=1e-12)
    assert found.best.result["e2e_latency_s"] <= found.given.result["e2e_latency_s"]


def test_throughput_is_generated_tokens_over_latency(found):
    best = found.best.result
    assert best["tokens_per_s"] == pytest.approx(4 * 16 / best["e2e_latency_s"])
    d = found.to_dict()
    assert d["top"][0]["objective_value"] == best["e2e_latency_s"]
    assert d["top"][0]["plan"]["dp"] * d["top"][0]["plan"]["tp"] * d["top"][0]["plan"]["pp"] \
        == 8


def test_training_axes_are_refused_for_inference():
    sc = archsim.load_scenario(SCENARIO)
    with pytest.raises(SpecError, match=r"--axis zero, recompute: not an axis of inference "
                                        r"plans \(axes: tp, pp, ep\)"):
        search_plans(sc, space=SearchSpace.from_axes({"zero": [1], "recompute": ["full"]}))


def test_a_cluster_of_several_pools_is_refused_with_the_way_out():
    sc = archsim.load_scenario({**SCENARIO, "hardware": {"cluster": {
        "pools": [{"name": "h", "device": "h100-sxm5-80gb", "count": 4},
                  {"name": "a", "device": "a100-sxm4-80gb", "count": 4}],
        "links": [{"between": ["h", "a"], "interconnect": "ib-hdr-200g"}]}}})
    with pytest.raises(SpecError, match=r"hardware\.cluster: the planner searches static-batch "
                                        r"inference plans on one pool; this cluster has 2 pools "
                                        r"\(simulate a pipeline across them with "
                                        r"plan\.placement\.stages\)"):
        search_plans(sc)
