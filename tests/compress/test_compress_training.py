"""Compression plans on training: FP8 training, dtype support, pruning, sparsity, bad input."""

import pytest

import archsim
from archsim.plan.compress import prune_model, resolve_compression
from archsim.spec.errors import SpecError
from archsim.spec.plan import PruningPlan

LLAMA = {
    "model": "llama2-7b",
    "hardware": {"device": "h100-sxm5-80gb", "count": 8},
    "workload": {"kind": "training", "seq_len": 4096, "global_batch": 32, "micro_batch": 1},
    "plan": {"tp": 2, "recompute": "selective"},
}


def simulate(compression, **hardware):
    hw = {**LLAMA["hardware"], **hardware}
    return archsim.simulate({**LLAMA, "hardware": hw, "compression": compression}).to_dict()


def test_fp8_on_a100_is_infeasible_without_a_fallback():
    r = simulate({"weight_dtype": "fp8", "activation_dtype": "fp8"}, device="a100-sxm4-80gb")
    assert r["feasible"] is False
    assert r["infeasible_reasons"] == [
        "device a100-sxm4-80gb has no fp8 support (its dtypes: fp64, fp32, tf32, bf16, fp16, "
        "int8, int4); set compression.fallback (e.g. bf16) to run in another dtype"]
    assert r["compression"]["baseline"]["feasible"] is True


def test_fallback_runs_in_the_named_dtype():
    r = simulate({"weight_dtype": "fp8", "activation_dtype": "fp8", "fallback": "bf16"},
                 device="a100-sxm4-80gb")
    assert r["feasible"]
    assert any("computing in bf16" in n for n in r["compression"]["notes"])
    assert not any(n.startswith("FP8 training:") for n in r["compression"]["notes"])
    assert r["compression"]["ratios"]["step_time_s"] == pytest.approx(1.0, abs=0.02)


def test_fp8_training_memory_and_speed():
    r = simulate({"weight_dtype": "fp8", "activation_dtype": "fp8"})
    block = r["compression"]
    assert block["effects"]["fp8_training"] and block["effects"]["matmul_dtype"] == "fp8"
    # 16-bit weights plus an fp8 copy of the layers' weights: 3 bytes per layer parameter
    # instead of 2, the embedding and the head (16-bit, no copy) 2. Per device at tp 2:
    # 32 × ((4096·12288 + 4096² + 3·4096·11008) / 2 + 2·4096) = 3,238,264,832 layer
    # parameters; 2 × 32000·4096 / 2 + 4096 = 131,076,096 in the embedding, head and final norm
    layers, ends = 32 * ((4096 * 12288 + 4096 ** 2 + 3 * 4096 * 11008) // 2 + 2 * 4096), \
        2 * 32000 * 4096 // 2 + 4096
    assert block["ratios"]["memory.breakdown.weights"] == pytest.approx(
        (3 * layers + 2 * ends) / (2 * (layers + ends)), rel=1e-9)
    # fp8 GEMMs (twice the bf16 peak on H100) make the step faster but less than 2×
    assert 0.5 < block["ratios"]["step_time_s"] < 0.9


def test_fp8_training_mfu_is_of_the_fp8_peak_and_not_a_ratio_to_the_bf16_one():
    """An fp8 step's MFU is of the fp8 peak (1978.9 TFLOPS dense on an H100 SXM, hardware.csv),
    the baseline's of the bf16 peak (989.4): the summary says so, and the comparison gives no
    MFU ratio (a 1.5× faster fp8 step had read "MFU 0.752×", as if fp8 lowered utilisation)."""
    from archsim.summary import render_summary

    sc = {**LLAMA, "compression": {"weight_dtype": "fp8", "activation_dtype": "fp8"}}
    result = archsim.simulate(sc)
    r = result.to_dict()
    assert r["mfu_peak_tflops"] == pytest.approx(1978.9)
    assert r["mfu_basis"] == "of the fp8 peak, 1,979 TFLOP/s"
    assert r["compression"]["ratios"]["mfu"] is None
    assert ("MFU is not compared as a ratio: the baseline's is of 989 TFLOP/s per device, the "
            "compressed run's of 1,979; tokens/s compares their speed") in r["compression"]["notes"]
    assert "(of the fp8 peak, 1,979 TFLOP/s)" in render_summary(result)
    plain = archsim.simulate(LLAMA).to_dict()
    assert plain["mfu_basis"] is None and plain["mfu_peak_tflops"] == pytest.approx(989.4)


def test_fp8_training_dtype_is_fp8_gemms_on_a_bf16_model():
    """``workload.dtype: fp8`` trains as Transformer Engine does: the same run as a bf16
    workload with fp8 weight and activation dtypes (16-bit weights and gradients, fp32 master
    and moments), not a model whose only weights, gradients and norms are fp8."""
    by_dtype = archsim.simulate({**LLAMA, "workload": {**LLAMA["workload"], "dtype": "fp8"}})
    by_plan = simulate({"weight_dtype": "fp8", "activation_dtype": "fp8"})
    assert by_dtype["step_time_s"] == by_plan["step_time_s"]
    assert by_dtype["memory"] == by_plan["memory"]
    assert by_dtype["compression"]["effects"]["fp8_training"]
    # bf16 weights plus the fp8 copy: more than 2 bytes per parameter of the 6.74 B model
    # (tp 2, ZeRO 0), where an fp8-only model would hold 1
    assert by_dtype["memory"]["breakdown"]["weights"] > 2 * 6.738e9 / 2


def test_fp8_training_dtype_with_another_quantization_is_rejected():
    with pytest.raises(SpecError) as exc:
        archsim.load_scenario({**LLAMA, "workload": {**LLAMA["workload"], "dtype": "fp8"},
                               "compression": {"weight_dtype": "int4"}})
    assert ("workload.dtype fp8 is FP8 training (fp8 GEMMs on a bf16 model), but "
            "compression.weight_dtype is 'int4': give workload.dtype bf16 with "
            "compression.weight_dtype, or fp8 alone") in str(exc.value)


def test_weight_only_quantization_is_not_a_training_plan():
    r = simulate({"weight_dtype": "int4"})
    assert r["infeasible_reasons"] == [
        "compression int4 weights / bf16 activations is an inference technique; training "
        "supports 16-bit or fp8/fp8 (FP8 training)"]


def test_pruning_25_percent_of_ffn_width():
    """Llama-2-7B: ffn 11008 → 8256 (Δf = 2752). Parameters drop by 3·h·Δf per layer
    (gate, up, down) and model FLOPs per step by 6·B·s·L·3·h·Δf (forward + backward)."""
    h, L, df, B, s = 4096, 32, 2752, 32, 4096
    base = simulate(None)
    pruned = simulate({"pruning": {"ffn": 0.25}})
    sc = archsim.load_scenario(LLAMA)
    model = prune_model(sc.model, PruningPlan(ffn=0.25))
    assert model.ffn == 8256 and model.name == "llama2-7b-pruned"
    delta_flops = base["model_flops_per_step"] - pruned["model_flops_per_step"]
    assert delta_flops == pytest.approx(6 * B * s * L * 3 * h * df, rel=1e-9)
    tp = 2
    delta_weights = (base["memory"]["breakdown"]["weights"]
                     - pruned["memory"]["breakdown"]["weights"])
    assert delta_weights == pytest.approx(2 * L * 3 * h * df / tp, rel=1e-9)


def test_pruning_heads_keeps_whole_gqa_groups():
    model = archsim.load_scenario({**LLAMA, "model": "llama2-70b"}).model
    pruned = prune_model(model, PruningPlan(heads=0.25, layers=0.5))
    assert (pruned.heads, pruned.kv_heads, pruned.head_dim) == (48, 8, 128)
    assert pruned.layers == 40 and pruned.hidden == 8192


def test_pruning_heads_of_multi_head_attention_removes_heads_with_their_kv():
    """Llama-2-7B has 32 query and 32 K/V heads: 25% of them pruned leaves 24 of each (a no-op
    before, as every group is a single head). Per layer the QKV and output projections lose
    8 heads · 128 · 4096 · (3 + 1) parameters."""
    model = archsim.load_scenario(LLAMA).model
    pruned = prune_model(model, PruningPlan(heads=0.25))
    assert (pruned.heads, pruned.kv_heads, pruned.head_dim) == (24, 24, 128)
    removed_per_layer = 8 * 128 * 4096 * 4
    base, cut = simulate(None), simulate({"pruning": {"heads": 0.25}})
    assert cut["model"] == "llama2-7b-pruned"
    delta = base["memory"]["breakdown"]["weights"] - cut["memory"]["breakdown"]["weights"]
    assert delta == pytest.approx(2 * 32 * removed_per_layer / 2, rel=1e-9)  # bf16, tp 2


def test_two_four_sparsity_needs_sparse_tensor_cores():
    r = simulate({"sparsity": {"pattern": "2:4"}}, device="tpu-v4", intra_node="tpu-v4-ici")
    assert r["feasible"] is False
    assert ("device tpu-v4 has no structured sparsity; a 2:4 plan needs sparse tensor cores "
            "for bf16") in r["infeasible_reasons"]


def test_two_four_sparsity_speeds_up_forward_weight_gemms():
    sc = archsim.load_scenario({**LLAMA, "compression": {"sparsity": {"pattern": "2:4"}}})
    comp = resolve_compression(sc)
    assert comp.sparse_speedup == sc.hardware.device.sparsity.achieved_speedup == 1.71
    # half the weights at 2 bytes plus 2 bits of metadata each: 0.5·(2 + 0.25) B per weight
    assert comp.weight_bytes == pytest.approx(1.125)
    r = simulate({"sparsity": {"pattern": "2:4"}})
    assert r["compression"]["ratios"]["step_time_s"] < 1.0


def test_unstructured_sparsity_is_held_dense_and_says_so():
    """No profiled device has unstructured-sparse kernels, so 70% unstructured sparsity runs as
    the dense model: weights held at 2 B with their zeros (memory had counted a compressed 1.2 B
    while the GEMMs read dense weights), the same step; the note gives the compressed file's
    size, 30% kept at 2 B + 2 B of int16 index = 1.2 B per weight."""
    r, dense = simulate({"sparsity": {"pattern": "unstructured", "ratio": 0.7}}), simulate({})
    (note,) = r["compression"]["notes"]
    assert note == ("unstructured sparsity 0.7: weights held dense with their zeros; memory, "
                    "compute and GEMM traffic as dense (h100-sxm5-80gb has no unstructured-"
                    "sparse kernels; a compressed file (1.2 B per weight) is smaller on disk, "
                    "not in device memory)")
    assert r["compression"]["effects"]["weight_storage_bytes_per_element"] == 2.0
    assert r["memory"]["peak_bytes_per_device"] == dense["memory"]["peak_bytes_per_device"]
    assert r["step_time_s"] == dense["step_time_s"]


def test_accuracy_note_is_echoed_and_labelled():
    r = simulate({"weight_dtype": "fp8", "activation_dtype": "fp8",
                  "accuracy_note": "loss within 0.5% of bf16 (our runs)"})
    assert r["compression"]["accuracy_note"] == {
        "text": "loss within 0.5% of bf16 (our runs)",
        "source": "user-supplied; archsim does not simulate model quality"}


def test_student_larger_than_teacher_is_a_warning():
    r = archsim.simulate({**LLAMA, "model": "llama2-7b",
                          "compression": {"distill": {"student": "llama2-13b"}}}).to_dict()
    assert r["warnings"] == ["the student llama2-13b is larger than its teacher llama2-7b"]


@pytest.mark.parametrize(("compression", "message"), [
    ({"weight_dtype": "int3"}, r"compression.weight_dtype: Input should be 'fp64', 'fp32', "
                               r".* \(got 'int3'\)"),
    ({"sparsity": {"pattern": "2:4", "ratio": 1.0}},
     r"compression.sparsity.ratio: Input should be less than 1 \(got 1.0\)"),
    ({"sparsity": {"pattern": "unstructured", "ratio": -0.1}},
     r"compression.sparsity.ratio: Input should be greater than or equal to 0"),
    ({"sparsity": {"pattern": "3:8"}}, r"compression.sparsity.pattern: Input should be "
                                       r"'unstructured' or '2:4'"),
])
def test_bad_compression_input(compression, message):
    with pytest.raises(SpecError, match=message):
        archsim.load_scenario({**LLAMA, "compression": compression})


A100_TP8 = {"model": "llama2-7b", "hardware": {"device": "a100-sxm4-80gb", "count": 8},
            "workload": {"kind": "training", "seq_len": 4096, "global_batch": 64},
            "plan": {"tp": 8, "recompute": "none"}}
FP8_FALLBACK = {"weight_dtype": "fp8", "activation_dtype": "fp8", "fallback": "bf16"}


def _graph(compression):
    from archsim.graph.export import build_graph
    from archsim.plan.stage_costs import training_shape

    sc = archsim.load_scenario({**A100_TP8, "compression": compression}, ["model.layers=1"])
    comp = resolve_compression(sc) if compression else None
    return build_graph(sc.model, training_shape(sc, compression=comp),
                       optimizer=sc.workload.optimizer)


def test_a_training_fallback_is_the_plain_bf16_run():
    """FP8 training on A100s (no fp8) with fallback bf16 trains in bf16 everywhere: the same
    run as without compression. It had kept the fp8 weight width, reading 1-byte weights in
    bf16 GEMMs: a step faster than bf16 (13.161219 s vs 13.161791 s) and fc1 reading
    67,371,008 B instead of 2 × (4096·4096 + 2 · 4096·2752) = 78,643,200 (tokens × hidden in,
    the tp-8 shard of the gate and up projections, 2 × 11008 / 8 = 2752 wide, and its output;
    the difference is its 11,272,192 weights × 1 B)."""
    plain, fallback = _graph(None), _graph(FP8_FALLBACK)
    assert fallback.nodes["L0.fc1"]["bytes"] == plain.nodes["L0.fc1"]["bytes"] == \
        2 * (4096 * 4096 + 2 * 4096 * 2752)
    assert list(fallback.nodes) == list(plain.nodes)
    for name in plain.nodes:
        assert dict(fallback.nodes[name]) == dict(plain.nodes[name]), name

    bf16 = archsim.simulate(A100_TP8).to_dict()
    r = archsim.simulate({**A100_TP8, "compression": FP8_FALLBACK}).to_dict()
    assert r["step_time_s"] == bf16["step_time_s"]
    assert r["memory"] == bf16["memory"]
    block = r["compression"]
    assert block["effects"]["weight_dtype"] == block["effects"]["matmul_dtype"] == "bf16"
    assert block["effects"]["weight_bytes_per_element"] == 2.0
    assert not block["effects"]["fp8_training"]
    # nothing runs narrower than bf16, so nothing "stays bf16"
    assert block["notes"] == [
        "a100-sxm4-80gb has no fp8 tensor cores: computing in bf16 (compression.fallback: "
        "bf16), the same training run as without compression"]


def test_a_training_fallback_of_another_width_is_refused():
    r = archsim.simulate({**A100_TP8, "compression": {**FP8_FALLBACK,
                                                      "fallback": "fp32"}}).to_dict()
    assert r["feasible"] is False
    assert ("compression.fallback fp32: training without fp8 falls back to the workload's "
            "bf16 training; set compression.fallback: bf16") in r["infeasible_reasons"]
