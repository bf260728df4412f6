"""A point's scenario: the cheap override path gives the same spec as load_scenario, and falls
back to it (and its messages) for everything else."""

import pytest
from sweep_cases import BASE

import archsim
from archsim.spec.errors import SpecError
from archsim.sweep.worker import RunContext, scenario_for


@pytest.fixture(scope="module")
def ctx():
    return RunContext(base_mapping=BASE, base_spec=archsim.load_scenario(BASE))


@pytest.mark.parametrize("overrides", [
    {"plan.tp": 2, "plan.pp": 4},
    {"plan.schedule": "interleaved", "plan.virtual_stages": 2, "plan.dp": None},
    {"workload.micro_batch": 2, "workload.dtype": "fp16", "plan.recompute": "full"},
    {"model.layers": 12, "model.moe.experts": 8},          # a section the base leaves out
    {"compression.weight_dtype": "fp8"},
    {"hardware.count": 16},                                # not cheap: load_scenario
    {"model": "llama2-7b"},                                # a registry name: load_scenario
])
def test_same_spec_as_load_scenario(ctx, overrides):
    assert scenario_for(ctx, overrides) == archsim.load_scenario(BASE, overrides)


@pytest.mark.parametrize("overrides, message", [
    ({"plan.tp": 0}, r"--set plan.tp: Input should be greater than or equal to 1 \(got 0\)"),
    ({"plan.schedule.x": 1}, r"<scenario>: plan.schedule: Input should be 'gpipe', '1f1b' or "
                             r"'interleaved'"),
    ({"workload.kind": "inference"}, r"^--set workload.kind \(with <scenario>\): "
                                     r"workload.seq_len: unknown key"),
    ({"workload.batches": 2}, r"--set workload.batches: unknown key"),
])
def test_bad_values_get_load_scenario_messages(ctx, overrides, message):
    with pytest.raises(SpecError, match=message):
        scenario_for(ctx, overrides)
    with pytest.raises(SpecError, match=message):
        archsim.load_scenario(BASE, overrides)
