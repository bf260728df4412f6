"""Compression plans on inference: weight-only int4, W8A8, fp8 KV cache, worked scenarios."""

import pytest

import archsim
from archsim.cost.compute import matmul_peak
from archsim.metrics.inference import resolve_precision
from archsim.plan.inference import Degrees, build_inference_plan

H200_70B = {
    "model": "llama2-70b",
    "hardware": {"device": "h200-sxm-141gb", "count": 1},
    "workload": {"kind": "inference", "batch": 1, "prompt_len": 256, "gen_len": 64,
                 "cuda_graphs": True},
}


def test_int4_decode_tpot_follows_the_weight_bytes():
    """Batch-1 decode is bound by memory bandwidth: TPOT ≈ bytes read per step / bandwidth.
    int4 with fp16 scales per 128 weights reads 0.5 + 2/128 B per weight instead of 2 B; the
    predicted TPOT ratio, less the profile's fixed cost per forward pass (the same in both:
    ``insitu.iteration_overhead``), must match the ratio of the bytes each decode step moves
    within 10%.
    The embedding and the output layer stay in fp16 (AWQ/GPTQ quantize the decoder layers'
    linears only): Llama-2-70B's 80 layers hold 80 × (8192 · 18432 + 3 · 8192 · 28672 +
    2 · 8192) = 68,452,352,000 parameters, its two 32000 × 8192 tables and final norm
    524,296,192."""
    r = archsim.simulate({**H200_70B, "compression": {"weight_dtype": "int4"}}).to_dict()
    base = archsim.simulate(H200_70B).to_dict()
    assert base["feasible"] and r["feasible"]
    layers, ends = 80 * (8192 * 18432 + 3 * 8192 * 28672 + 2 * 8192), 2 * 32000 * 8192 + 8192
    assert r["compression"]["ratios"]["memory.breakdown.weights"] == pytest.approx(
        (layers * (0.5 + 2 / 128) + ends * 2) / ((layers + ends) * 2))
    bytes_ratio = (r["phases"]["decode"]["bytes_per_device"]
                   / base["phases"]["decode"]["bytes_per_device"])
    assert bytes_ratio == pytest.approx(0.26, abs=0.01)  # ~4x fewer bytes (KV unchanged)
    assert r["compression"]["ratios"]["tpot_s"] == pytest.approx(r["tpot_s"] / base["tpot_s"])
    ins = archsim.load_scenario(H200_70B).hardware.device.insitu
    fixed = ins.value("iteration_overhead", 0.0, 0.0)
    assert (r["tpot_s"] - fixed) / (base["tpot_s"] - fixed) == pytest.approx(bytes_ratio,
                                                                              rel=0.10)
    assert r["phases"]["decode"]["bound_by"] == "memory"


def _gemm_peaks(sc_dict):
    sc = archsim.load_scenario(sc_dict)
    pool = sc.cluster.pools[0]
    precision = resolve_precision(sc, pool.device)
    plan = build_inference_plan(sc, pool, Degrees(), precision)
    ops = [op for op, _ in plan.step_ops(0, 4, 512, 512, 4) if op.kind == "matmul"
           and op.params and op.name != "logits"]  # the output layer stays 16-bit
    return {matmul_peak(pool.device, op.dtype) for op in ops}, precision


W8A8 = {"weight_dtype": "int8", "activation_dtype": "int8"}
PREFILL = {"model": "llama2-7b", "workload": {"kind": "inference", "batch": 4,
                                              "prompt_len": 512, "gen_len": 8}}


def test_w8a8_prefill_on_h100_uses_the_int8_peak():
    peaks, _ = _gemm_peaks({**PREFILL, "hardware": {"device": "h100-sxm5-80gb", "count": 1},
                            "compression": W8A8})
    assert peaks == {1978.9e12}  # hardware.csv: H100 SXM int8 dense 1978.9 TOPS
    r = archsim.simulate({**PREFILL, "hardware": {"device": "h100-sxm5-80gb", "count": 1},
                          "compression": W8A8}).to_dict()
    assert r["compression"]["ratios"]["ttft_s"] < 0.75  # compute-bound prefill gets faster


def test_w8a8_on_a_device_without_int8_tensor_cores():
    hw = {"device": "gaudi2", "count": 1}
    r = archsim.simulate({**PREFILL, "hardware": hw, "compression": W8A8}).to_dict()
    assert r["feasible"] is False
    assert r["infeasible_reasons"] == [
        "device gaudi2 has no int8 support (its dtypes: bf16, fp8); set compression.fallback "
        "(e.g. bf16) to run in another dtype"]
    peaks, precision = _gemm_peaks({**PREFILL, "hardware": hw,
                                    "compression": {**W8A8, "fallback": "bf16"}})
    assert peaks == {432e12}  # Gaudi 2 bf16 dense (hardware.csv), not an int8 peak
    assert any("computing in bf16" in n for n in precision.notes)


def test_a_fallback_converts_its_narrower_weights_like_weight_only_quantization():
    """FP8 W8A8 on an A100 with fallback bf16: the weights stay stored in fp8 and are converted
    for each bf16 GEMM — the weight-only fp8 run, not the bf16 one with fp8 bytes for free."""
    fallback = archsim.simulate("llama2-7b-inference-a100", {"compression": {
        "weight_dtype": "fp8", "activation_dtype": "fp8", "fallback": "bf16"}}).to_dict()
    weight_only = archsim.simulate("llama2-7b-inference-a100", {"compression": {
        "weight_dtype": "fp8"}}).to_dict()
    for key in ("ttft_s", "tpot_s", "e2e_latency_s"):
        assert fallback[key] == pytest.approx(weight_only[key], rel=1e-12)
    assert fallback["memory"]["breakdown"]["weights"] == \
        weight_only["memory"]["breakdown"]["weights"]
    assert fallback["compression"]["effects"]["dequantization"]


def test_fp8_kv_cache_halves_kv_memory_and_fits_more_sequences():
    sc = {"model": "llama2-7b", "hardware": {"device": "a100-sxm4-80gb", "count": 1},
          "workload": {"kind": "inference", "batch": 8, "prompt_len": 1024, "gen_len": 1024},
          "compression": {"kv_cache_dtype": "fp8"}}
    r = archsim.simulate(sc).to_dict()
    c = r["compression"]
    assert c["ratios"]["memory.breakdown.kv_cache"] == 0.5
    n, m = c["baseline"]["max_batch_that_fits"], c["compressed"]["max_batch_that_fits"]
    assert 10 < n < m
    # one memory rule: max_batch_that_fits is the largest batch whose own run fits
    base = {**sc, "compression": None}
    for spec, fits in ((base, n), (sc, m)):
        assert archsim.simulate(spec, {"workload.batch": fits}).to_dict()["feasible"]
        over = archsim.simulate(spec, {"workload.batch": fits + 1}).to_dict()
        assert not over["feasible"] and "needs" in over["infeasible_reasons"][0]
    # by hand at the baseline's answer: weights + KV (2·32·32·128·2048·2 B per sequence) +
    # activations + reserve fit in 80 GiB
    at_n = archsim.simulate(base, {"workload.batch": n}).to_dict()["memory"]
    kv_per_seq = 2 * 32 * 32 * 128 * 2048 * 2
    assert at_n["breakdown"]["kv_cache"] == n * kv_per_seq
    assert sum(at_n["breakdown"].values()) == pytest.approx(at_n["peak_bytes_per_device"])
    assert at_n["peak_bytes_per_device"] <= at_n["capacity_bytes"]


# ------------------------------------------------------------------ worked scenarios


def test_llama2_70b_int4_on_one_h100_vs_bf16_on_two():
    int4 = archsim.simulate("llama2-70b-int4-1xh100").to_dict()
    bf16 = archsim.simulate("llama2-70b-bf16-2xh100").to_dict()
    assert int4["feasible"] and bf16["feasible"]
    # the same model does not fit in bf16 on one device: the compression block says so
    assert int4["compression"]["baseline"]["feasible"] is False
    # weights: the 68.45e9 parameters of the 80 layers at 0.5 + 2/128 B each and the two
    # 32000 × 8192 tables and final norm (524.3e6) at 2 B on one device, vs 68.98e9 (model
    # test) at 2 B each split over two devices
    layers, ends = 80 * (8192 * 18432 + 3 * 8192 * 28672 + 2 * 8192), 2 * 32000 * 8192 + 8192
    assert int4["memory"]["breakdown"]["weights"] == pytest.approx(
        layers * (0.5 + 2 / 128) + ends * 2, rel=1e-9)
    assert bf16["memory"]["breakdown"]["weights"] == pytest.approx(69.0e9, rel=0.01)
    # decode lower bound: the weight bytes over the H100's 3.35 TB/s
    assert int4["tpot_s"] > int4["memory"]["breakdown"]["weights"] / 3.35e12
    assert bf16["tpot_s"] > bf16["memory"]["breakdown"]["weights"] / 3.35e12
    assert int4["compression"]["accuracy_note"]["source"].startswith("user-supplied")


def test_bert_large_2of4_sparse():
    r = archsim.simulate("bert-large-2of4-a100").to_dict()
    c = r["compression"]
    assert c["effects"]["sparse_gemm_speedup"] == 1.71
    # half the weights + 2-bit metadata: (2 + 0.25)/2 = 1.125 B per weight of 2 B → 0.5625,
    # applied to the weight matrices (embeddings and norms are not sparsified)
    assert 0.5625 <= c["ratios"]["memory.breakdown.weights"] < 0.75
    # the forward is GEMM-dominated: faster than dense, but by less than the GEMM speedup
    assert 1 / 1.71 < c["ratios"]["e2e_latency_s"] < 0.9
    # an encoder: one forward pass per batch, sequences/s, no first token, no KV cache
    assert r["encoder"] and r["ttft_s"] is None and r["tpot_s"] is None
    assert r["memory"]["breakdown"]["kv_cache"] == 0 and r["kv_cache_bytes_per_token"] == 0
    assert r["sequences_per_s"] == pytest.approx(32 / r["e2e_latency_s"])
    assert r["tokens_per_s"] == pytest.approx(32 * 384 / r["e2e_latency_s"])
    assert set(r["phases"]) == {"forward"} and "ttft_s" not in c["ratios"]


def test_two_four_gemms_execute_half_the_model_flops():
    """HFU and TFLOP/s count what the sparse tensor cores execute: the weight GEMMs' half,
    against the dense peak; MFU counts the dense model's FLOPs, its sparse GEMMs against the
    2:4 peak (2 × 312 TFLOPS, the A100 datasheet's 624 sparse). BERT-large (h 1024, 24
    layers, vocab 30522), 384 tokens per sequence, its head over one output per sequence. Per
    token: weight GEMMs W = 24·h²·L = 603,979,776, attention A = 4·s·h·L = 37,748,736, head
    H = 2·h·V / s = 162,786; executed W / 2 + A + H (the head stays dense: pruning leaves the
    embedding and the head, SparseGPT and Wanda). MFU's peak is the blend
    (W + A + H) / (W / 624 + (A + H) / 312) per TFLOP/s, so with a sparse peak twice the
    dense one MFU = (W + A + H) / blend = (W / 2 + A + H) / 312 = HFU."""
    r = archsim.simulate("bert-large-2of4-a100").to_dict()
    h, layers, s, vocab = 1024, 24, 384, 30522
    w, a, head = 24 * h * h * layers, 4 * s * h * layers, 2 * h * vocab / s
    assert r["mfu_peak_tflops"] == pytest.approx((w + a + head) / (w / 624 + (a + head) / 312),
                                                 rel=1e-9)
    assert r["mfu"] == pytest.approx(r["hfu"], rel=1e-9)
    assert r["tflops_per_device"] == pytest.approx(r["hfu"] * 312, rel=1e-9)  # dense fp16 peak
    dense = archsim.simulate("bert-large-2of4-a100", {"compression": None}).to_dict()
    assert dense["hfu"] == pytest.approx(dense["mfu"], rel=1e-12)
    assert dense["mfu_peak_tflops"] == pytest.approx(312)


def test_two_four_mfu_stays_below_one():
    """A 2:4 prefill faster than 1/MFU of its dense run: against the dense peak its MFU had
    read 114.8% (Llama-2-7B, 8 prompts of 2048 tokens, one A100: the audit of 2026-12-07).
    Against the sparse peak for the sparse GEMMs it cannot pass 1, and the summary names the
    two peaks."""
    sc = {"name": "llama2-7b-2of4-prefill", "model": "llama2-7b",
          "hardware": {"device": "a100-sxm4-80gb", "count": 1},
          "workload": {"kind": "inference", "batch": 8, "prompt_len": 2048, "gen_len": 1,
                       "dtype": "fp16"},
          "compression": {"sparsity": {"pattern": "2:4"}}}
    r = archsim.simulate(sc)
    d = r.to_dict()
    dense = archsim.simulate(sc, {"compression": None}).to_dict()
    assert d["e2e_latency_s"] < 0.73 * dense["e2e_latency_s"]  # faster than 1 / dense MFU
    assert d["mfu"] < 1 and d["mfu"] == pytest.approx(d["hfu"], rel=1e-9)
    assert 312 < d["mfu_peak_tflops"] < 624
    from archsim.summary import render_summary

    assert (f"2:4 GEMMs at the sparse peak: MFU of {d['mfu_peak_tflops']:,.0f}, HFU of 312 "
            "TFLOP/s") in render_summary(r)


def test_two_four_sparsity_leaves_the_embedding_and_the_head_dense():
    """Llama-2-7B, 2:4: the decoder layers' linears are stored at 0.5 × (2 B + 2 bits) =
    1.125 B per weight, 32 × (4 · 4096² + 3 · 4096 · 11008) = 6,476,005,376 of them (with the
    layers' two 4096-wide norms, which are stored at the layers' width as under quantization);
    the untied 32000 × 4096 embedding and output tables stay 2 B (SparseGPT, Wanda)."""
    r = archsim.simulate("llama2-7b-inference-a100",
                         {"compression": {"sparsity": {"pattern": "2:4"}}}).to_dict()
    dense = archsim.simulate("llama2-7b-inference-a100").to_dict()
    linears = 32 * (4 * 4096**2 + 3 * 4096 * 11008 + 2 * 4096)
    tables = 2 * 32000 * 4096
    saved = linears * (2.0 - 1.125)
    assert (dense["memory"]["breakdown"]["weights"] - r["memory"]["breakdown"]["weights"]) \
        == pytest.approx(saved, rel=1e-9)
    assert dense["memory"]["breakdown"]["weights"] > 2.0 * (linears + tables)
    assert ("the embedding and the output layer stay dense (SparseGPT and Wanda prune only "
            "the decoder layers' linears)") in r["compression"]["notes"]


def test_an_encoder_does_not_generate():
    r = archsim.simulate("bert-large-2of4-a100", {"workload.gen_len": 8}).to_dict()
    assert r["feasible"] is False
    assert r["infeasible_reasons"] == [
        "bert-large is an encoder (model.encoder: true): it runs one forward pass over each "
        "batch and generates nothing; gen_len 8 must be 1"]


def test_infeasible_baseline_has_no_speed_to_compare():
    """Llama-2 70B in bf16 needs ~130 GiB on one 80 GiB H100: its memory is compared (that is
    why it does not run) but no time, throughput, energy or cost, and no speed-up."""
    c = archsim.simulate("llama2-70b-int4-1xh100").to_dict()["compression"]
    assert c["baseline"]["feasible"] is False
    for key in ("ttft_s", "tpot_s", "e2e_latency_s", "tokens_per_s", "energy_per_token_j",
                "cost_per_million_tokens_usd"):
        assert c["baseline"][key] is None and c["ratios"][key] is None, key
        assert c["compressed"][key] is not None, key
    assert c["baseline"]["memory.peak_bytes_per_device"] > 80 * 2**30
    # as in test_int4_decode_tpot_follows_the_weight_bytes (same model, group 128, fp16 scales,
    # bf16 baseline): int4 decoder linears, 16-bit embedding, output layer and final norm
    layers, ends = 80 * (8192 * 18432 + 3 * 8192 * 28672 + 2 * 8192), 2 * 32000 * 8192 + 8192
    assert c["ratios"]["memory.breakdown.weights"] == pytest.approx(
        (layers * (0.5 + 2 / 128) + ends * 2) / ((layers + ends) * 2))
    from archsim.summary import compression_section

    text = "\n".join(compression_section(c))
    assert "the baseline does not run (stage 0 needs" in text
    assert "its speed, energy and cost are not compared" in text


def test_distillation_scenario():
    r = archsim.simulate("distill-llama2-70b-to-7b").to_dict()
    d = r["distillation"]
    assert r["feasible"]
    assert r["step_time_s"] == pytest.approx(d["teacher_forward_s"] + d["student_step_s"])
    assert 0.5 < d["teacher_share_of_step"] < 0.95  # the 10× larger teacher dominates


def test_fpga_w8a8_scenario():
    """1.7B parameters in int8 on the U280, the tables and the output layer too (an int8-only
    device has no 16-bit GEMMs to leave them in): the 24 layers' 24 × (12 · 2304² + 13 · 2304)
    = 1,529,542,656, the 51200 × 2304 token and 2048 × 2304 position tables and the final norm
    122,688,000: 1.652e9 B. Decode reads ≥ 1.65e9 B of weights per token from 460 GB/s HBM, so
    TPOT ≥ 1.65e9 / 460e9 = 3.6 ms."""
    r = archsim.simulate("gpt3-1.7b-w8a8-alveo-u280").to_dict()
    assert r["feasible"]
    assert r["tpot_s"] >= 1.65e9 / 460e9
    layers = 24 * (12 * 2304 ** 2 + 13 * 2304)
    ends = 51200 * 2304 + 2048 * 2304 + 2 * 2304
    assert r["memory"]["breakdown"]["weights"] == pytest.approx(layers + ends, rel=1e-9)


def test_the_result_says_what_stays_unquantized():
    r = archsim.simulate({**PREFILL, "hardware": {"device": "h100-sxm5-80gb", "count": 1},
                          "compression": W8A8}).to_dict()
    assert ("the embedding and the output layer stay bf16 (ModelOpt, AWQ, GPTQ and Transformer "
            "Engine leave them unquantized)") in r["compression"]["notes"]
    fpga = archsim.simulate("gpt3-1.7b-w8a8-alveo-u280").to_dict()
    assert any(n.startswith("the embedding and the output layer are quantized too (alveo-u280 "
                            "has no ") for n in fpga["compression"]["notes"])


@pytest.mark.parametrize("scenario", ["llama2-7b-inference-a100", "llama2-7b-serving-a100"])
def test_a_pruned_deployment_is_named_as_such(scenario):
    r = archsim.simulate(scenario, {"compression.pruning.ffn": 0.25}).to_dict()
    assert r["model"] == r["compression"]["compressed"]["model"] == "llama2-7b-pruned"
    assert r["compression"]["baseline"]["model"] == "llama2-7b"


def test_a_fallback_run_is_judged_by_the_dtype_it_computes_in():
    """FP8 W8A8 on an A100 with fallback bf16 computes in bf16 (gemm_dtype bf16); its error bar
    had said "GEMMs in fp8; calibrated on bf16". What does lie outside the A100's runs is the
    weights it keeps in fp8 and converts for each GEMM (archsim/plan/compress.py): the A100's
    calibrated runs all held bf16 weights. (Both decode a batch of 8, below the 16 of the
    A100's smallest run that decodes: reference/calibration/runs.csv.)"""
    plan = {"weight_dtype": "fp8", "activation_dtype": "fp8", "fallback": "bf16"}
    d = archsim.simulate("llama2-7b-inference-a100", {"compression": plan}).to_dict()
    assert d["gemm_dtype"] == "bf16"
    batch = "a100-sxm4-80gb: decode batch 8 outside the calibrated 16–1,024 of its runs that decode"
    assert d["uncertainty"]["out_of_range"] == [
        "a100-sxm4-80gb: weights in fp8; calibrated on bf16 only", batch]
    plain = archsim.simulate("llama2-7b-inference-a100").to_dict()
    assert plain["uncertainty"]["out_of_range"] == [batch]


def test_an_fp8_inference_workload_is_an_fp8_deployment():
    """``workload.dtype: fp8`` in inference is what TensorRT-LLM / vLLM build for FP8: fp8
    layer weights, activations and KV cache, the embedding and output layer in bf16. Llama-2-7B
    (32000 × 4096 embedding and head, untied): its weights are 6.476e9 layer parameters at 1 B
    plus 2 × 131.1e6 at 2 B = 7.0006e9 B (it had been 6.74e9, the head in fp8 too); the
    scenario equals the explicit compression plan."""
    wl = {"kind": "inference", "batch": 1, "prompt_len": 512, "gen_len": 64}
    base = {"model": "llama2-7b", "hardware": {"device": "h100-sxm5-80gb", "count": 1}}
    fp8 = archsim.simulate({**base, "workload": {**wl, "dtype": "fp8"}}).to_dict()
    plan = {"weight_dtype": "fp8", "activation_dtype": "fp8", "kv_cache_dtype": "fp8"}
    explicit = archsim.simulate({**base, "workload": {**wl, "dtype": "bf16"},
                                 "compression": plan}).to_dict()
    assert fp8["tpot_s"] == explicit["tpot_s"] and fp8["ttft_s"] == explicit["ttft_s"]
    ends = 2 * 32000 * 4096
    layers = 6_738_415_616 - ends  # llama2-7b parameters (tests/spec/test_models.py)
    assert fp8["memory"]["breakdown"]["weights"] == pytest.approx(layers + 2 * ends, rel=1e-3)
    with pytest.raises(archsim.SpecError, match=r"workload\.dtype fp8 is an FP8 deployment"):
        archsim.load_scenario({**base, "workload": {**wl, "dtype": "fp8"},
                               "compression": {"kv_cache_dtype": "bf16"}})


def test_int8_activations_alone_store_int8_weights_and_say_so():
    """``activation_dtype: int8`` with no weight_dtype is W8A8 as TensorRT-LLM, vLLM and
    llama.cpp run it: the linear layers' weights quantized once and stored in int8. It had
    said "quantized to int8 on the fly" (16-bit weights held, converted for each GEMM) while
    counting 1 byte per weight. Llama-2-7B: 6,476,267,520 layer parameters at 1 B plus the
    embedding and head, 2 × 32000 × 4096 at 2 B = 7.0006e9 B, the explicit W8A8 plan's."""
    alone = archsim.simulate("llama2-7b-inference-a100",
                             {"compression": {"activation_dtype": "int8"}}).to_dict()
    w8a8 = archsim.simulate("llama2-7b-inference-a100", {"compression": W8A8}).to_dict()
    ends = 2 * 32000 * 4096
    layers = 6_738_415_616 - ends
    weights = alone["memory"]["breakdown"]["weights"]
    assert weights == w8a8["memory"]["breakdown"]["weights"] == \
        pytest.approx(layers + 2 * ends, rel=1e-3)
    assert alone["tpot_s"] == w8a8["tpot_s"] and alone["ttft_s"] == w8a8["ttft_s"]
    assert alone["compression"]["notes"][0] == (
        "weights stored in int8 too (W8A8; activation_dtype int8 with no weight_dtype: the "
        "linear layers' weights quantized once, offline, and held at 1 byte each, as "
        "TensorRT-LLM, vLLM and llama.cpp load them)")
    assert not any("on the fly" in n for n in alone["compression"]["notes"])


def test_an_int4_kv_cache_counts_its_scales_and_zero_points():
    """A 4-bit KV cache is quantized per head and token with an fp16 scale and zero point
    (LMDeploy's kv int4): Llama-2-7B caches 2 · 32 layers · 32 heads · (128 · 0.5 + 2 · 2) B =
    139,264 B per token, not the bare 131,072 of 4-bit values; an fp8 cache keeps one
    per-tensor scale, 2 · 32 · 32 · 128 · 1 = 262,144 B."""
    import archsim

    def per_token(kv: str) -> dict:
        return archsim.simulate({
            "model": "llama2-7b", "hardware": {"device": "h100-sxm5-80gb", "count": 1},
            "workload": {"kind": "inference", "batch": 8, "prompt_len": 2048, "gen_len": 128,
                         "dtype": "bf16"},
            "compression": {"kv_cache_dtype": kv}}).to_dict()

    int4, fp8 = per_token("int4"), per_token("fp8")
    assert int4["kv_cache_bytes_per_token"] == 2 * 32 * 32 * (128 * 0.5 + 2 * 2)
    assert fp8["kv_cache_bytes_per_token"] == 2 * 32 * 32 * 128
    assert int4["compression"]["notes"] == [
        "int4 KV cache: 0.5312 B per element, an fp16 scale and zero point per head and token "
        "(128 elements) beside the 4-bit values"]


def test_w4a4_says_its_accuracy_is_not_simulated():
    """W4A4 runs at the A100's int4 tensor-core peak; round-to-nearest 4-bit activations lose
    most of an LLM's accuracy unless their outliers are rotated away (QuaRot), which archsim
    cannot tell: the result says so beside its speed-up."""
    import archsim

    d = archsim.simulate({
        "model": "llama2-7b", "hardware": {"device": "a100-sxm4-80gb", "count": 1},
        "workload": {"kind": "inference", "batch": 1, "prompt_len": 128, "gen_len": 8},
        "compression": {"weight_dtype": "int4", "activation_dtype": "int4"}}).to_dict()
    assert d["feasible"]
    assert d["compression"]["notes"][0] == (
        "4-bit activations: the model's accuracy depends on how the activation outliers are "
        "handled (rotations such as QuaRot's); archsim simulates speed and memory, not model "
        "quality")
