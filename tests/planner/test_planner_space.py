"""The plan space: which points divide (the same rules as the engine's layout), counted by
hand on a small grid, and clear errors for bad axes."""

import pytest
from planner_cases import MIXED_SPACE, TINY_MOE, TINY_SPACE, mixed_scenario, tiny_scenario

import archsim
from archsim.plan.balance import resolve_pipeline
from archsim.plan.compress import resolve_compression
from archsim.plan.layout import resolve_layout
from archsim.planner.placements import placed_points
from archsim.planner.space import (
    SearchSpace,
    divisibility_problem,
    enumerate_space,
    grid_points,
    scenario_for,
)
from archsim.spec.errors import SpecError


@pytest.mark.parametrize("model", [None, TINY_MOE], ids=["dense", "moe-gqa"])
def test_divisibility_agrees_with_the_engine_layout(model):
    sc = tiny_scenario(model=model)
    axes = SearchSpace.from_axes({**TINY_SPACE, "tp": [1, 2, 3, 4, 8], "pp": [1, 2, 3, 4],
                                  "ep": [1, 2, 4], "zero": [0], "recompute": ["none"],
                                  "micro_batch": [1, 2, 3, 4], "virtual_stages": [2, 3]}
                                 ).resolved(sc)
    checked = rejected = 0
    for cand in grid_points(axes, 16):
        problem = divisibility_problem(sc.model, 16, 1024, 32, cand)
        layout, reasons = resolve_layout(scenario_for(sc, cand))
        checked += 1
        if problem is None:
            assert layout is not None and not reasons, (cand.label(), reasons)
        else:
            rejected += 1
            assert problem in reasons, (cand.label(), problem, reasons)
    assert checked > 500 and 0 < rejected < checked


def test_counts_on_a_small_grid_by_hand():
    # 8 devices, 4 layers, 4 heads, global batch 8. tp 8 > heads (3 pp × 2 mb = 6 points),
    # tp·pp = 4·4 = 16 > 8 devices (2 points), and tp 1 · pp 1 → dp 8 with mb 2 needs a
    # batch of 16 (1 point) do not divide: 24 − 9 = 15 plans remain.
    sc = archsim.load_scenario(
        {"model": {"layers": 4, "hidden": 256, "heads": 4, "vocab": 1000},
         "hardware": {"device": "a100-sxm4-80gb", "count": 8},
         "workload": {"kind": "training", "seq_len": 512, "global_batch": 8}})
    space = SearchSpace.from_axes({"tp": [1, 2, 4, 8], "pp": [1, 2, 4], "cp": [1],
                                   "micro_batch": [1, 2], "zero": [0], "recompute": ["none"],
                                   "schedule": ["1f1b"], "sp": [False]})
    enum = enumerate_space(sc, space)
    assert (enum.total, len(enum.valid), enum.rejected) == (24, 15, 9)
    assert {c.dp for c in enum.valid} == {8, 4, 2, 1}
    assert all(c.dp * c.tp * c.pp == 8 for c in enum.valid)


def test_default_axes_follow_the_scenario(tiny):
    axes = SearchSpace().resolved(tiny)
    assert axes["tp"] == (1, 2, 4, 8)          # divisors of 16 up to 8 heads
    assert axes["pp"] == (1, 2, 4, 8)          # divisors of 16 up to 8 layers
    assert axes["cp"] == (1, 2, 4, 8)          # up to the 8 devices of a node
    assert axes["ep"] == (1,)                  # dense model
    assert axes["micro_batch"] == (1, 2, 4, 8, 16, 32)  # divisors of the global batch ≤ 32


@pytest.mark.parametrize("axes,message", [
    ({"tensor": [2]}, r"--axis tensor: unknown axis; expected one of: tp, pp, cp"),
    ({"tp": ["two"]}, r"--axis tp: expected whole numbers, got 'two'"),
    ({"zero": [4]}, r"--axis zero: expected 0\.\.3, got 4"),
    ({"pp": [0]}, r"--axis pp: expected 1\.\.∞, got 0"),
    ({"recompute": ["some"]}, r"--axis recompute: expected one of none, selective, full, "
                              r"got 'some'"),
    ({"sp": ["maybe"]}, r"--axis sp: expected true or false, got 'maybe'"),
])
def test_bad_axes_are_named(axes, message):
    with pytest.raises(SpecError, match=message):
        SearchSpace.from_axes(axes)


def test_placements_divide_as_the_engine_says():
    """On a cluster of several pools every ordered choice of pools is a placement, the
    stages take all of each chosen pool, and the engine balances the layers (near-even split
    allowed): the planner's rule agrees with the engine's own set-up of the pipeline."""
    sc = mixed_scenario()
    space = SearchSpace.from_axes({**MIXED_SPACE, "tp": [1, 2, 3, 4], "micro_batch": [1, 3, 4],
                                   "virtual_stages": [2, 3], "zero": [0],
                                   "recompute": ["none"]})
    orders = {c.placement[0] + ">" + c.placement[-1] for c, _ in placed_points(sc, space)}
    assert orders == {"fast>fast", "slow>slow", "fast>slow", "slow>fast"}
    comp = resolve_compression(sc)
    checked = 0
    for cand, devices in placed_points(sc, space):
        assert devices == 8 * len(set(cand.placement))
        assert cand.tp * cand.cp * cand.dp * cand.pp == devices
        problem = divisibility_problem(sc.model, devices, 1024, 32, cand, near_even=True)
        layout, placement, _, reasons = resolve_pipeline(scenario_for(sc, cand), comp)
        ok = layout is not None and placement is not None and not reasons
        assert ok == (problem is None), (cand.label(), problem, reasons)
        if problem is not None:
            assert problem in reasons
        checked += 1
    assert checked > 300


def test_expert_and_tensor_parallelism_come_with_sequence_parallelism():
    """Megatron-LM refuses ep > 1 with tp > 1 and no sequence parallelism (arguments.py:
    "When using expert parallelism and tensor parallelism, sequence parallelism must be
    used"): where the space offers sp, the planner does not propose such a plan; pinned off,
    it still does, and the result says Megatron-LM would refuse it."""
    sc = tiny_scenario(model=TINY_MOE)
    axes = SearchSpace.from_axes({**TINY_SPACE, "ep": [1, 2]}).resolved(sc)
    points = list(grid_points(axes, 16))
    assert any(c.ep > 1 and c.tp > 1 and c.sp for c in points)
    assert not any(c.ep > 1 and c.tp > 1 and not c.sp for c in points)
    assert any(c.ep == 1 and c.tp > 1 and not c.sp for c in points)
    pinned = SearchSpace.from_axes({**TINY_SPACE, "ep": [2], "sp": [False]}).resolved(sc)
    assert any(c.tp > 1 and not c.sp for c in grid_points(pinned, 16))
    d = archsim.simulate(tiny_scenario(model=TINY_MOE, ep=2, capacity="80 GiB")).to_dict()
    assert ("ep > 1 with tp > 1 and no sequence parallelism: Megatron-LM refuses this plan "
            "(it requires sp with expert and tensor parallelism); it is priced as a framework "
            "that allows it would run it") in d["notes"]
