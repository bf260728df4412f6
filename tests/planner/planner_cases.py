"""Small scenarios whose whole plan space the planner tests simulate (no pruning)."""

from dataclasses import dataclass

import archsim
from archsim.planner.bounds import Bounder, PlanBound
from archsim.planner.space import Candidate, SearchSpace, enumerate_space, scenario_for

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
    result: dict


def simulate_everything(sc, axes) -> list[Evaluated]:
    """Every plan of the space that divides: its bounds and its full simulation."""
    space = SearchSpace.from_axes(axes)
    bounder = Bounder(sc)
    out = []
    for cand in enumerate_space(sc, space).valid:
        result = archsim.simulate(scenario_for(sc, cand)).to_dict()
        out.append(Evaluated(cand, bounder.bound(cand), result))
    return out


