"""The training fast path against the full DES: same plan and cost functions, a scheduler
without an event queue; pinned within 2% (the issue's bound) on contention-free cases across
schedules, ZeRO stages, overlap on/off and recomputation."""

import pytest

import archsim
from archsim.sweep.fastpath import simulate_training_fast

BASE = {
    "model": "gpt3-1.7b",
    "hardware": {"device": "a100-sxm4-80gb", "count": 16},  # two nodes of 8
    "workload": {"kind": "training", "seq_len": 2048, "global_batch": 32, "micro_batch": 1},
    "plan": {"tp": 2, "pp": 4},  # dp = 16 / 8 = 2, 16 micro-batches per pipeline
}
METRICS = ("step_time_s", "mfu", "hfu")


def compare(overrides):
    scenario = archsim.load_scenario(BASE, overrides)
    des = archsim.simulate(scenario).to_dict()
    fast = simulate_training_fast(scenario).to_dict()
    assert des["sim"]["engine"] == "des" and fast["sim"]["engine"] == "fast"
    assert des["feasible"], des["infeasible_reasons"]  # else None == approx(None): vacuous
    assert fast["feasible"] == des["feasible"]
    for key in METRICS:
        assert fast[key] == pytest.approx(des[key], rel=0.02), key
    for path in (("memory", "peak_bytes_per_device"), ("communication", "exposed_time_s"),
                 ("time_breakdown", "bubble_s")):
        assert fast[path[0]][path[1]] == pytest.approx(des[path[0]][path[1]], rel=0.02,
                                                       abs=1e-12), path
    return des, fast


@pytest.mark.parametrize("overlap", [True, False])
@pytest.mark.parametrize("zero", [0, 1, 2, 3])
@pytest.mark.parametrize("schedule", ["gpipe", "1f1b", "interleaved"])
def test_fast_path_matches_the_des(schedule, zero, overlap):
    compare({"plan.schedule": schedule, "plan.zero": zero, "plan.overlap_comm": overlap,
             "plan.virtual_stages": 2 if schedule == "interleaved" else 1})


@pytest.mark.parametrize("overrides", [
    {"plan.recompute": "full", "workload.micro_batch": 2},
    {"plan.recompute": "selective", "plan.sp": True},
    {"plan.tp": 1, "plan.pp": 8, "plan.schedule": "interleaved", "plan.virtual_stages": 3},
    {"plan.tp": 8, "plan.pp": 1, "plan.zero": 3},
    {"plan.pp": 4, "plan.layers_per_stage": [9, 5, 5, 5]},
    {"plan.tp": 1, "plan.pp": 1, "hardware.count": 1, "workload.global_batch": 4},
    {"hardware.device": "h100-sxm5-80gb", "workload.dtype": "fp8"},  # FP8 training
    {"hardware": {"cluster": "h100-a100-ib"}, "plan.pp": 2, "workload.global_batch": 64},
])
def test_fast_path_matches_the_des_on_other_plans(overrides):
    compare(overrides)


def test_the_flow_network_model_runs_the_des():
    # transfers share links under hardware.network: flow; the fast path does not apply
    scenario = archsim.load_scenario(BASE, {"hardware.network": "flow"})
    fast = simulate_training_fast(scenario).to_dict()
    assert fast["sim"]["engine"] == "des"
    assert fast["step_time_s"] == archsim.simulate(scenario)["step_time_s"]


def test_infeasible_plans_are_reported_the_same_way():
    scenario = archsim.load_scenario(BASE, {"plan.tp": 3})
    des = archsim.simulate(scenario).to_dict()
    fast = simulate_training_fast(scenario).to_dict()
    assert not fast["feasible"] and fast["step_time_s"] is None
    assert fast["infeasible_reasons"] == des["infeasible_reasons"]
    assert "16 devices are not divisible by tp·pp·cp = 3·4·1 = 12" in fast["infeasible_reasons"]


def test_the_fast_engine_assembles_the_result_as_the_des_does():
    """``simulate(..., engine="fast")`` (what a sweep with ``engine: fast`` runs): a
    distillation is still teacher forward + student step (not the teacher's training step),
    and a fast training result has its error bar and every contract key."""
    distill = {**BASE, "plan": {"tp": 2, "pp": 1},
               "compression": {"distill": {"student": "gpt3-1.7b"}}}
    des = archsim.simulate(distill).to_dict()
    fast = archsim.simulate(distill, engine="fast").to_dict()
    assert fast["step_time_s"] == pytest.approx(des["step_time_s"], rel=1e-12)
    assert fast["distillation"]["teacher_forward_s"] > 0
    plain = archsim.simulate(BASE, engine="fast").to_dict()
    assert plain["sim"]["engine"] == "fast"
    assert plain["uncertainty"]["intervals"]["step_time_s"][0] < plain["step_time_s"]
    assert plain["ttft_s"] is None and "slo_attainment" in plain
