"""The prefill sequences of one continuous-batching pass share one attention kernel per op."""

import pytest

import archsim
from archsim.plan.inference import build_inference_plan
from archsim.plan.inference_setup import Degrees, resolve_precision


def stage(model="llama2-7b", device="a100-sxm4-80gb"):
    sc = archsim.load_scenario({"model": model, "workload": {"kind": "inference"},
                                "hardware": {"device": device, "count": 1}})
    pool = sc.cluster.pools[0]
    return build_inference_plan(sc, pool, Degrees(), resolve_precision(sc, pool.device))


def test_equal_prefills_cost_what_one_batched_kernel_does():
    """16 prompts of 128 tokens in one pass: a variable-length kernel over them (vLLM, SGLang,
    TensorRT-LLM) is the batched kernel of 16 equal sequences, the same FLOPs and bytes in one
    call; it had been priced as 16 kernels, each paying its own fixed cost at a small size."""
    plan = stage()
    st = plan.stages[0]
    merged = st.prefill_attention_s([(128, 128)] * 16)
    assert merged == pytest.approx(st.attention(16, 128, 128).time_s, rel=1e-9)
    assert merged < 16 * st.attention(1, 128, 128).time_s
    # one sequence: its own kernel, as before
    assert st.prefill_attention_s([(128, 128)]) == st.attention(1, 128, 128).time_s


def test_mixed_prefills_cost_between_their_parts_and_one_kernel_each():
    st = stage().stages[0]
    mix = [(128, 128), (512, 512), (64, 1024)]
    merged = st.prefill_attention_s(mix)
    apart = sum(st.attention(1, q, kv).time_s for q, kv in mix)
    assert max(st.attention(1, q, kv).time_s for q, kv in mix) < merged < apart
