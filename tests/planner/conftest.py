"""Fixtures: the small scenarios of planner_cases, every plan simulated once per session."""

import pytest
from planner_cases import (
    MIXED_SPACE,
    TINY_MOE,
    TINY_SPACE,
    mixed_scenario,
    simulate_everything,
    tiny_scenario,
)


@pytest.fixture(scope="session")
def dense_overlap():
    sc = tiny_scenario(overlap_comm=True)
    return sc, TINY_SPACE, simulate_everything(sc, TINY_SPACE)


@pytest.fixture(scope="session")
def dense_blocking():
    sc = tiny_scenario(overlap_comm=False, flash_attention=False)
    return sc, TINY_SPACE, simulate_everything(sc, TINY_SPACE)


@pytest.fixture(scope="session")
def moe():
    sc = tiny_scenario(model=TINY_MOE, capacity="1.2 GiB", overlap_comm=False)
    axes = {"tp": [1, 2, 4], "pp": [1, 2], "cp": [1], "ep": [1, 2, 4],
            "micro_batch": [1, 4], "virtual_stages": [2]}
    return sc, axes, simulate_everything(sc, axes)


@pytest.fixture(scope="session")
def mixed():
    sc = mixed_scenario(overlap_comm=False)
    return sc, MIXED_SPACE, simulate_everything(sc, MIXED_SPACE)


@pytest.fixture(params=["dense_overlap", "dense_blocking", "moe", "mixed"])
def everything(request):
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="session")
def tiny():
    return tiny_scenario()
