"""Plans that do not divide are infeasible results whose reasons name the numbers."""

import pytest

import archsim

BASE = {
    "model": "gpt3-1.7b",  # 24 layers, 24 heads, hidden 2304
    "hardware": {"device": "a100-sxm4-80gb", "count": 16},
    "workload": {"kind": "training", "global_batch": 64, "micro_batch": 1, "seq_len": 2048},
}


def reasons(**plan):
    result = archsim.simulate({**BASE, "plan": plan})
    assert result["feasible"] is False
    return result["infeasible_reasons"]


def test_devices_not_divisible():
    assert reasons(tp=3) == ["16 devices are not divisible by tp·pp·cp = 3·1·1 = 3"]


def test_dp_that_does_not_match_the_devices():
    assert reasons(dp=3, tp=2)[0] == "dp·tp·pp·cp = 3·2·1·1 = 6 does not equal the 16 devices"


def test_heads_not_divisible():
    assert "heads 24 are not divisible by tp 16" in reasons(tp=16)


def test_layers_not_divisible():
    assert reasons(pp=16) == ["layers 24 are not divisible by pp·virtual_stages = 16·1 = 16"]


def test_batch_not_divisible():
    result = archsim.simulate({**BASE, "workload": {**BASE["workload"], "global_batch": 100},
                               "plan": {"tp": 2}})
    assert result["infeasible_reasons"] == [
        "global_batch 100 is not divisible by micro_batch·dp = 1·8 = 8"]


def test_causal_context_parallelism_needs_2cp_chunks():
    """cp 4 splits a causal sequence into 8 chunks (rank i takes i and 7−i, megatron-core's
    load balance, which the half-of-the-causal-work model assumes): seq_len 2052 divides by 4
    but not by 8."""
    result = archsim.simulate({**BASE, "workload": {**BASE["workload"], "seq_len": 2052},
                               "model": {"name": "g", "layers": 4, "hidden": 1024,
                                         "heads": 16, "vocab": 32000, "max_seq_len": 4096},
                               "plan": {"cp": 4}})
    assert result["infeasible_reasons"] == [
        "seq_len 2052 is not divisible by 2·cp = 8: causal context parallelism splits the "
        "sequence into 2·cp chunks"]


def test_interleaved_needs_micro_batches_divisible_by_pp():
    result = archsim.simulate({**BASE, "workload": {**BASE["workload"], "global_batch": 6},
                               "plan": {"pp": 4, "dp": 2, "tp": 2, "schedule": "interleaved",
                                        "virtual_stages": 2}})
    assert "the interleaved schedule needs micro-batches per pipeline (3) divisible by pp 4" in \
        result["infeasible_reasons"]


def test_interleaved_needs_two_chunks_per_device():
    """schedule interleaved with virtual_stages 1 had run as 1F1B with twice its warm-up: as
    slow, with up to twice the micro-batches in flight (the pipeline audit of 2026-12-07)."""
    assert reasons(pp=4, tp=2, schedule="interleaved") == [
        "the interleaved schedule needs virtual_stages ≥ 2 (model chunks per device; got 1): "
        "set plan.virtual_stages, or schedule: 1f1b"]


def test_the_speed_balance_counts_selective_recomputation_working_bytes():
    """GPT-3 7.5B on 8 A100-40GB, pp 8, micro-batch 3, selective recomputation without flash
    attention: a layer's backward brings back its attention core's s×s tensors, 5·a·s²·b =
    5·32·2048²·3 B = 1.875 GiB (Korthikanti et al. 2022). The speed balance had left them out
    of its memory caps and chosen a split whose stage 2 needed 41.79 GiB of 40."""
    d = archsim.simulate({
        "model": "gpt3-7.5b", "hardware": {"device": "a100-sxm4-40gb", "count": 8},
        "workload": {"kind": "training", "seq_len": 2048, "global_batch": 48, "micro_batch": 3},
        "plan": {"pp": 8, "recompute": "selective", "flash_attention": False,
                 "placement": {"balance": "speed"}}}).to_dict()
    assert d["feasible"], d["infeasible_reasons"]
    assert d["memory"]["peak_bytes_per_device"] <= d["memory"]["capacity_bytes"]


def test_layers_per_stage_must_sum_to_layers():
    assert reasons(pp=2, layers_per_stage=[10, 10]) == [
        "layers_per_stage sums to 20, the model has 24 layers"]


def test_does_not_fit_in_memory_names_the_numbers():
    result = archsim.simulate({**BASE, "model": "gpt3-18.4b",
                               "workload": {**BASE["workload"], "micro_batch": 4}})
    assert result["feasible"] is False
    (reason,) = result["infeasible_reasons"]
    assert reason.startswith("stage 0 needs ") and "per device, has 80 GiB" in reason
    # 18.4B parameters × 16 bytes of model states alone exceed 80 GiB
    assert result["memory"]["breakdown"]["optimizer_states"] == pytest.approx(
        12 * result["memory"]["breakdown"]["weights"] / 2, rel=1e-9)


def test_dp_defaults_to_count_over_model_parallel():
    result = archsim.simulate({**BASE, "plan": {"tp": 2, "pp": 2}})
    assert result["feasible"] and result["parallel"]["dp"] == 4


def test_context_parallelism_without_flash_attention_is_noted():
    """Megatron-core runs cp > 1 only through Transformer Engine's fused attention
    (DotProductAttention asserts context_parallel_size == 1): an unfused plan is priced and
    says so; with flash attention there is no note."""
    note = ("cp > 1 without flash attention: Megatron-core runs context parallelism only with "
            "Transformer Engine's fused attention; the unfused s×s attention is priced as a "
            "framework that allows it would run it")
    plan = {"cp": 2, "tp": 2}
    unfused = archsim.simulate({**BASE, "plan": {**plan, "flash_attention": False}}).to_dict()
    fused = archsim.simulate({**BASE, "plan": {**plan, "flash_attention": True}}).to_dict()
    assert unfused["feasible"] and note in unfused["notes"]
    assert note not in fused.get("notes", [])
