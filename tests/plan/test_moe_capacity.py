"""MoE capacity factor, expert widths and ZeRO-3 expert gathers (toy model of
tests/plan/test_moe_gradients.py, whose docstring has the hand counts)."""

import pytest

import archsim
from archsim.spec.errors import SpecError
from tests.plan.test_moe_gradients import DENSE_LAYER, EMBED, HEAD, LAYERS, TOY_MOE, toy


def run(**kw):
    return archsim.simulate(toy(**kw)).to_dict()


def with_moe(**moe):
    return TOY_MOE | {"moe": TOY_MOE["moe"] | moe}


def test_capacity_padding_executes_and_dropping_is_not_model_work():
    """No recomputation. Let X be the experts' FLOPs at capacity 1 and D the rest. Capacity
    1.25 executes 1.25·X (the padding: hardware FLOPs + 0.25·X, model FLOPs unchanged);
    capacity 0.5 drops half the token copies: 0.5·X executes and all of it is model work, so
    model FLOPs fall by 0.5·X — twice what 1.25 adds to the hardware's — and MFU ≤ HFU."""
    one, pad, drop = (run(model=with_moe(capacity_factor=cf), recompute="none")
                      for cf in (1.0, 1.25, 0.5))
    padding = pad["hardware_flops_per_step"] - one["hardware_flops_per_step"]
    dropped = one["model_flops_per_step"] - drop["model_flops_per_step"]
    assert pad["model_flops_per_step"] == pytest.approx(one["model_flops_per_step"])
    assert padding > 0
    assert dropped == pytest.approx(2 * padding)
    assert drop["model_flops_per_step"] == pytest.approx(drop["hardware_flops_per_step"])
    assert drop["mfu"] <= drop["hfu"] + 1e-12


def test_capacity_factor_above_experts_over_top_k_is_refused():
    with pytest.raises(SpecError, match=r"capacity_factor 5 is above experts / top_k = 4, "
                                        r"where each expert already has a slot for every token"):
        toy(model=with_moe(capacity_factor=5))


def test_an_expert_width_tp_does_not_divide_is_a_reason():
    d = run(model=with_moe(expert_ffn_hidden=130), tp=4, sp=True, ep=1)
    assert not d["feasible"]
    assert "moe.expert_ffn_hidden 130 is not divisible by tp 4" in d["infeasible_reasons"]


def test_zero3_gathers_no_experts_when_each_rank_holds_its_own():
    """ep 8 = dp 8: one rank per expert-data-parallel group, so experts are never sharded or
    gathered. One micro-batch; its forward and backward each gather the rank's dense
    parameters, 2 layers · 17024 + embedding 16384 + head 16448 = 66880, at 2 bytes."""
    d = run(ep=8, zero=3)
    dense = LAYERS * DENSE_LAYER + EMBED + HEAD
    assert d["communication"]["by_kind"]["allgather"]["bytes"] == pytest.approx(2 * 2 * dense)


def test_inference_routes_without_a_capacity():
    """vLLM, SGLang and TensorRT-LLM are dropless: a training capacity factor changes nothing
    in inference, and the result says it was not applied."""
    def infer(cf):
        sc = {"model": with_moe(capacity_factor=cf),
              "hardware": {"device": "a100-sxm4-80gb", "count": 1},
              "workload": {"kind": "inference", "batch": 4, "prompt_len": 32, "gen_len": 8}}
        return archsim.simulate(sc).to_dict()

    one, two = infer(1.0), infer(2.0)
    assert two["ttft_s"] == pytest.approx(one["ttft_s"])
    assert two["tpot_s"] == pytest.approx(one["tpot_s"])
    assert two["memory"]["peak_bytes_per_device"] == one["memory"]["peak_bytes_per_device"]
    assert any("capacity_factor 2 is a training setting" in n for n in two["notes"])
    assert not any("capacity_factor" in n for n in one.get("notes") or [])


def test_serving_with_expert_parallelism_gives_only_that_reason():
    """Serving refuses ep > 1; it no longer sizes replicas for a layout that does not run (it
    had quoted the unsharded model's weights as a second reason)."""
    sc = archsim.load_scenario("llama2-7b-serving-a100", overrides=[
        "model=mixtral-8x7b", "hardware.device=h100-sxm5-80gb", "hardware.count=8",
        "plan.tp=1", "plan.ep=8", "workload.arrival.count=20"])
    d = archsim.simulate(sc).to_dict()
    assert d["infeasible_reasons"] == ["expert parallelism (ep 8) is simulated for static-batch "
                                       "inference only; serve MoE models with tp"]
