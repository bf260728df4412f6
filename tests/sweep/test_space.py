"""Points of a sweep: grid order, constraints, derived keys, random and Latin-hypercube samples,
and the hash that keys each row."""

import math

from sweep_cases import BASE, sweep_mapping

from archsim.sweep.space import enumerate_points
from archsim.sweep.spec import load_sweep


def points(**fields):
    return enumerate_points(load_sweep(sweep_mapping(**fields)))


def test_grid_enumerates_every_combination_last_axis_fastest():
    space = points(axes={"plan.tp": [1, 2], "plan.pp": [1, 2, 4]})
    assert [tuple(p.values.values()) for p in space.points] == [
        (1, 1), (1, 2), (1, 4), (2, 1), (2, 2), (2, 4)]
    assert [p.index for p in space.points] == list(range(6))
    assert space.enumerated == 6 and space.excluded == 0


def test_constraints_exclude_points():
    # tp·pp ≤ 8 over {1,2,4,8}²: tp=1 → 4 values of pp, tp=2 → 3, tp=4 → 2, tp=8 → 1: 10 stay
    space = points(constraints=["plan.tp * plan.pp <= hardware.count"])
    assert len(space.points) == 10 and space.excluded == 6
    assert all(p.values["plan.tp"] * p.values["plan.pp"] <= 8 for p in space.points)


def test_derived_keys_use_axes_base_values_and_defaults():
    space = points(axes={"plan.tp": [1, 2, 4]},
                   derived={"plan.dp": "hardware.count / (plan.tp * plan.pp * plan.cp)",
                            "workload.micro_batch": "plan.dp // 2"})
    # count 8 from the base; pp and cp default to 1: dp = 8, 4, 2 (whole floats become ints)
    got = [(p.values["plan.dp"], p.values["workload.micro_batch"]) for p in space.points]
    assert got == [(8, 4), (4, 2), (2, 1)]
    assert all(type(p.values["plan.dp"]) is int for p in space.points)


def test_names_below_a_swept_registry_entry():
    # gpt3-1.7b has 24 layers (SC21 Table 1), llama2-7b 32 (Touvron et al. 2023 Table 1)
    space = points(axes={"model": ["gpt3-1.7b", "llama2-7b"]},
                   derived={"workload.global_batch": "model.layers * 2"})
    assert [p.values["workload.global_batch"] for p in space.points] == [48, 64]


def test_links_derived_from_a_swept_device_profile():
    # scale_up in hardware_profiles/devices: A100 SXM4 → NVLink 3, H100 SXM5 → NVLink 4
    space = points(axes={"hardware.device": ["a100-sxm4-80gb", "h100-sxm5-80gb"]},
                   derived={"hardware.intra_node": "hardware.device.scale_up"})
    assert [p.values["hardware.intra_node"] for p in space.points] == [
        "nvlink3-nvswitch", "nvlink4-nvswitch"]


def test_a_constraint_that_cannot_be_evaluated_is_an_error_on_its_point():
    space = points(axes={"plan.tp": [1, 2]}, constraints=["8 / (plan.tp - 1) > 1"])
    first, second = space.points
    assert "division by zero in 8 / 0" in first.error
    assert second.error is None and second.values == {"plan.tp": 2}


def test_random_draws_distinct_combinations_reproducibly():
    a = points(mode="random", n=5, seed=1)
    b = points(mode="random", n=5, seed=1)
    c = points(mode="random", n=5, seed=2)
    key = [tuple(p.values.values()) for p in a.points]
    assert len(set(key)) == 5
    assert key == [tuple(p.values.values()) for p in b.points]
    assert key != [tuple(p.values.values()) for p in c.points]
    everything = points(mode="random", n=100, seed=1)  # more than the 16 combinations
    assert len({tuple(p.values.values()) for p in everything.points}) == 16


def test_latin_hypercube_uses_each_stratum_once():
    space = points(mode="lhs", n=10, seed=3, axes={
        "model.dropout": {"range": [0.0, 0.5]},
        "plan.tp": [1, 2, 4, 8, 16],
        "workload.global_batch": {"range": [1, 10]}})
    dropout = [p.values["model.dropout"] for p in space.points]
    # ten strata of width 0.05: each holds exactly one sample
    assert sorted(math.floor(d / 0.05) for d in dropout) == list(range(10))
    # five values over ten strata: each value is drawn from two strata
    tps = [p.values["plan.tp"] for p in space.points]
    assert sorted(tps) == [1, 1, 2, 2, 4, 4, 8, 8, 16, 16]
    # integers 1..10 over ten strata: each exactly once
    assert sorted(p.values["workload.global_batch"] for p in space.points) == list(range(1, 11))


def test_repeated_samples_run_once():
    # 12 Latin-hypercube samples of a 2 × 3 grid: at most 6 distinct points
    space = points(mode="lhs", n=12, seed=0, axes={"plan.tp": [1, 2], "plan.pp": [1, 2, 4]})
    assert space.enumerated == 12
    assert len(space.points) + space.duplicates == 12 and len(space.points) <= 6
    assert len({p.hash for p in space.points}) == len(space.points)


def test_hash_is_stable_and_covers_base_values_and_engine():
    one = [p.hash for p in points().points]
    assert one == [p.hash for p in points().points]
    assert len(set(one)) == 16 and all(len(h) == 16 for h in one)
    other_base = {**BASE, "workload": {**BASE["workload"], "global_batch": 32}}
    assert set(one).isdisjoint(p.hash for p in points(base=other_base).points)
    assert set(one).isdisjoint(p.hash for p in points(engine="fast").points)
