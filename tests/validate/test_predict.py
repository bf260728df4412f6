"""Simulating validation cases: the per-op split adds up to the engine's end-to-end time."""

from __future__ import annotations

import pytest

from archsim.spec.loader import load_spec_file
from archsim.validate.cases import MODELS, Case, default_cases
from archsim.validate.predict import forward_label, predicted_ops, simulate_case

# a device by hand: 100 GFLOP/s at a flat 0.5 efficiency, 20 GB/s, 5 us per op
DEVICE = {"name": "toy-cpu", "kind": "cpu", "peak": {"fp32": "100 GFLOPS"},
          "vector_peak": "100 GFLOPS",
          "memory": {"capacity": "64 GiB", "bandwidth": "20 GB/s"}, "tdp": "50 W",
          "launch_overhead": "5 us", "devices_per_node": 1,
          "efficiency": {"memory": 1.0, "vector": 0.05, "matmul": {"points": [[1e6, 0.5]]},
                         "attention": {"points": [[1e6, 0.25]]}}}


def test_backward_op_names_map_to_their_forward_range():
    assert forward_label("L3.fc1.dgrad") == "L3.fc1"
    assert forward_label("L3.fc1.wgrad") == "L3.fc1"
    assert forward_label("L0.attn.bwd") == "L0.attn"
    assert forward_label("logits") == "logits"


@pytest.mark.parametrize("case", [Case("gpt-tiny", "training", 4, 128),
                                  Case("llama-tiny", "training", 2, 64),
                                  Case("bert-tiny", "training", 4, 64)], ids=lambda c: c.name)
def test_training_ops_add_up_to_the_simulated_step(case):
    step = simulate_case(case, DEVICE)["step_time_s"]
    ops = predicted_ops(case, load_spec_file("devices", DEVICE))["step"]
    assert sum(ops.values()) == pytest.approx(step, rel=1e-9)


def test_inference_prefill_and_decode_add_up_to_ttft_and_tpot():
    case = Case("gpt-tiny", "inference", 2, 64, gen_len=2)
    pred = simulate_case(case, DEVICE)
    ops = predicted_ops(case, load_spec_file("devices", DEVICE))
    assert sum(ops["prefill"].values()) == pytest.approx(pred["ttft_s"], rel=1e-9)
    # with gen_len 2 the only decode step attends to prompt + 1 tokens, as the profiled one
    assert sum(ops["decode"].values()) == pytest.approx(pred["tpot_s"], rel=1e-9)


def test_hand_check_of_one_gemm_in_the_prediction():
    # gpt-tiny fc1 for 4·128 = 512 tokens: 2·512·256·1024 = 268.4 MFLOP at 0.5 of 100 GFLOP/s
    # = 5.369 ms (the memory term, 4·(512·256 + 256·1024 + 512·1024) / 20e9 = 0.18 ms, is
    # smaller) + 5 us, in each of the 2 layers
    case = Case("gpt-tiny", "training", 4, 128)
    ops = predicted_ops(case, load_spec_file("devices", DEVICE))["step"]
    per_layer = 2 * 512 * 256 * 1024 / 50e9 + 5e-6
    assert ops["L0.fc1"] == pytest.approx(per_layer)
    assert ops["L1.fc1"] == pytest.approx(per_layer)


def test_case_sets_cover_the_issue():
    full = default_cases("cpu")
    assert len(full) >= 12
    assert {c.mode for c in full} == {"training", "inference"}
    assert len({c.spec.name for c in full}) >= 3
    families = {(m.mlp, m.n_kv_heads < m.heads, m.encoder) for m in MODELS.values()}
    assert ("gelu", False, False) in families      # GPT: GeLU, MHA
    assert ("swiglu", True, False) in families     # Llama: SwiGLU, GQA
    assert ("gelu", False, True) in families       # BERT encoder
    assert all(MODELS[c.model].num_labels == 9 for c in full if MODELS[c.model].encoder)
    assert {c.dtype for c in default_cases("cuda")} == {"bf16"}


@pytest.mark.parametrize("case", [Case("gpt-tiny", "training", 4, 128),
                                  Case("llama-tiny", "inference", 2, 64, 8)],
                         ids=lambda c: c.name)
def test_kernel_only_times_leave_out_5_us_per_kernel(case):
    """The toy device charges 5 us per kernel: each op name's full time exceeds its kernel
    time by 5 us times the number of kernels behind that name (a whole, positive number)."""
    spec = load_spec_file("devices", DEVICE)
    full, kernels = predicted_ops(case, spec), predicted_ops(case, spec, kernel_only=True)
    assert full.keys() == kernels.keys()
    for phase, ops in full.items():
        assert ops.keys() == kernels[phase].keys()
        for name, seconds in ops.items():
            count = (seconds - kernels[phase][name]) / 5e-6
            assert count == pytest.approx(round(count), abs=1e-6) and round(count) >= 1, name
