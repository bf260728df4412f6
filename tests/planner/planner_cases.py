"""Small scenarios whose whole plan space the planner tests simulate (no pruning)."""

from dataclasses import dataclass

import archsim
from archsim.planner.bounds import Bounder, PlanBound
from archsim.planner.placements import enumerate_placed, stage_pools
from archsim.planner.space import Candidate, SearchSpace, enumerate_space, scenario_for
from archsim.planner.train_search import _split_bound

TINY_MODEL = {"name": "tiny", "layers": 8, "hidden": 1024, "heads": 8, "vocab": 8192,
              "max_seq_len": 1024, "dropout": 0.1}
TINY_MOE = {"name": "tiny-moe", "layers": 4, "hidden": 512, "heads": 8, "kv_heads": 2,
            "vocab": 4096, "mlp": "swiglu", "ffn_hidden": 1024, "position": "rope",
            "bias": False, "norm": "rmsnorm", "tied_embeddings": False, "max_seq_len": 4096,
            "moe": {"experts": 4, "top_k": 2, "every": 2}}
# every axis with at least two values; 16 devices in 2 nodes so groups cross nodes
TINY_SPACE = {"tp": [1, 2, 4, 8], "pp": [1, 2, 4], "cp": [1, 2], "micro_batch": [1, 2, 4],
              "virtual_stages": [2]}


def tiny_scenario(model=None, capacity="2.5 GiB", **plan) -> archsim.ScenarioSpec:
    """A small GPT on 16 A100s (2 nodes of 8) whose memory is cut to ``capacity`` so that
    some plans do not fit."""
    return archsim.load_scenario(
        {"name": "tiny-16xa100", "model": model or TINY_MODEL,
         "hardware": {"device": "a100-sxm4-80gb", "count": 16, "devices_per_node": 8},
         "workload": {"kind": "training", "seq_len": 1024, "global_batch": 32,
                      "micro_batch": 1, "dtype": "bf16"},
         "plan": {"tp": 2, "pp": 2, **plan}},
        {"hardware.device.memory.capacity": capacity})


@dataclass
class Evaluated:
    candidate: Candidate
    bound: PlanBound
    """The bound the search orders by (on several pools: the one that holds for any split)."""
    exact_split: PlanBound | None
    """Several pools: the bound of the split the engine picks (None if the plan cannot run);
    one pool: the same as ``bound``."""
    result: dict


def simulate_everything(sc, axes) -> list[Evaluated]:
    """Every plan of the space that divides: its bounds and its full simulation."""
    space = SearchSpace.from_axes(axes)
    bounder = Bounder(sc)
    multi = len(sc.cluster.pools) > 1
    cands = (enumerate_placed(sc, space, bounder.sc.model) if multi
             else enumerate_space(sc, space)).valid
    out = []
    for cand in cands:
        result = archsim.simulate(scenario_for(sc, cand)).to_dict()
        if multi:
            bound = bounder.split_free_bound(cand, stage_pools(sc.cluster, cand))
            exact = _split_bound(bounder, cand)
        else:
            bound = exact = bounder.bound(cand)
        out.append(Evaluated(cand, bound, exact, result))
    return out


MIXED_CLUSTER = {
    "name": "tiny-mixed",
    "pools": [{"name": "fast", "device": "h100-sxm5-80gb", "count": 8, "devices_per_node": 4},
              {"name": "slow", "device": "a100-sxm4-80gb", "count": 8, "devices_per_node": 4}],
    "links": [{"between": ["fast", "slow"], "interconnect": "ib-hdr-200g"}],
}
MIXED_SPACE = {"tp": [1, 2, 4], "cp": [1], "micro_batch": [1, 4], "zero": [0, 3],
               "recompute": ["none", "full"], "virtual_stages": [2]}


def mixed_scenario(capacity_gib: float = 2.0, **plan) -> archsim.ScenarioSpec:
    """The small GPT on 8 H100 + 8 A100 (nodes of 4), every device's memory cut to
    ``capacity_gib``."""
    sc = archsim.load_scenario(
        {"name": "tiny-mixed", "model": TINY_MODEL, "hardware": {"cluster": MIXED_CLUSTER},
         "workload": {"kind": "training", "seq_len": 1024, "global_batch": 32,
                      "micro_batch": 1, "dtype": "bf16"},
         "plan": {"tp": 2, "pp": 2, **plan}})
    pools = [p.model_copy(update={"device": p.device.model_copy(update={
        "memory": p.device.memory.model_copy(update={"capacity": capacity_gib * 2**30})})})
        for p in sc.cluster.pools]
    cluster = sc.hardware.cluster.model_copy(update={"pools": pools})
    return sc.model_copy(update={"hardware": sc.hardware.model_copy(update={"cluster": cluster})})
