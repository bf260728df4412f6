"""Compression input that is not compression (exit 2), fallbacks the device lacks, and the
warnings and notes that label what archsim cannot vouch for."""

import subprocess
import sys

import pytest

import archsim
from archsim.plan.compress import PUBLISHED_MAX_PRUNED_SHARE
from archsim.spec.errors import SpecError

INFERENCE = {"model": "llama2-7b", "hardware": {"device": "a100-sxm4-80gb", "count": 1},
             "workload": {"kind": "inference", "batch": 8, "prompt_len": 2048, "gen_len": 128,
                          "dtype": "bf16"}}


def run(compression, device="a100-sxm4-80gb", **workload):
    return archsim.simulate({**INFERENCE, "hardware": {"device": device, "count": 1},
                             "workload": {**INFERENCE["workload"], **workload},
                             "compression": compression}).to_dict()


# ------------------------------------------------------------------ F3: fallback the device lacks

A100_DTYPES = "fp64, fp32, tf32, bf16, fp16, int8, int4"


@pytest.mark.parametrize(("fallback", "lacks"), [
    ("fp8", "no fp8 support, the dtype the plan falls back from"),
    ("fp4", "no fp8 support and no fp4 support either"),
])
@pytest.mark.parametrize("kind", ["inference", "serving"])
def test_a_fallback_the_device_lacks_is_infeasible(fallback, lacks, kind):
    """As training refuses a fallback it cannot run (a reason, feasible: false). It had run
    with 1-byte GEMM inputs at the bf16 peak and no conversion, noting "computing in fp8"."""
    workload = ({} if kind == "inference" else
                {"kind": "serving", "batch": None, "prompt_len": 512, "gen_len": 64,
                 "arrival": {"process": "poisson", "rate_per_s": 2, "count": 10, "seed": 1}})
    wl = {k: v for k, v in {**INFERENCE["workload"], **workload}.items() if v is not None}
    r = archsim.simulate({**INFERENCE, "workload": wl, "compression": {
        "weight_dtype": "fp8", "activation_dtype": "fp8", "fallback": fallback}}).to_dict()
    reason = (f"compression.fallback {fallback}: device a100-sxm4-80gb has {lacks} (its "
              f"dtypes: {A100_DTYPES}); set compression.fallback: bf16")
    assert r["feasible"] is False
    pool = "pool main: " if kind == "serving" else ""
    assert r["infeasible_reasons"] == [pool + reason]
    notes = r["compression"]["notes"]
    assert not any("computing in" in n for n in notes)


def test_a_fallback_the_device_has_still_runs():
    r = run({"weight_dtype": "fp8", "activation_dtype": "fp8", "fallback": "bf16"})
    assert r["feasible"] and r["gemm_dtype"] == "bf16"


# ------------------------------------------------------------------ F8: bad input, exit 2

@pytest.mark.parametrize(("compression", "message"), [
    ({"sparsity": {"pattern": "2:4", "ratio": 0.99}},
     "compression.sparsity.ratio: pattern 2:4 keeps exactly two of every four weights (ratio "
     "0.5); leave ratio out, or use pattern: unstructured for another ratio (got 0.99)"),
    ({"sparsity": {"pattern": "2:4", "ratio": 0.3}},
     "compression.sparsity.ratio: pattern 2:4 keeps exactly two of every four weights (ratio "
     "0.5); leave ratio out, or use pattern: unstructured for another ratio (got 0.3)"),
    ({"weight_dtype": "fp32"},
     "compression.weight_dtype fp32 (4 B per element) is wider than workload.dtype bf16 (2 B), "
     "which is not compression; leave compression.weight_dtype out or give a dtype narrower "
     "than bf16"),
    ({"activation_dtype": "fp32"},
     "compression.activation_dtype fp32 (4 B per element) is wider than workload.dtype bf16 "
     "(2 B), which is not compression; leave compression.activation_dtype out or give a dtype "
     "narrower than bf16"),
    ({"kv_cache_dtype": "fp32"},
     "compression.kv_cache_dtype fp32 (4 B per element) is wider than workload.dtype bf16 "
     "(2 B), which is not compression; leave compression.kv_cache_dtype out or give a dtype "
     "narrower than bf16"),
    ({"weight_dtype": "int4", "scale_dtype": "int4"},
     "compression.scale_dtype: Input should be 'fp32', 'bf16', 'fp16', 'fp8' or 'int8' (got "
     "'int4')"),
])
def test_input_that_is_not_compression_is_refused(compression, message):
    with pytest.raises(SpecError) as exc:
        archsim.load_scenario({**INFERENCE, "compression": compression})
    assert str(exc.value) == f"<scenario>: {message}"


def test_the_cli_exits_2_naming_the_field(tmp_path):
    path = tmp_path / "wide.yaml"
    path.write_text("model: llama2-7b\nhardware: {device: a100-sxm4-80gb, count: 1}\n"
                    "workload: {kind: inference, batch: 1, prompt_len: 128, gen_len: 8}\n"
                    "compression: {weight_dtype: fp32, sparsity: {pattern: '2:4', "
                    "ratio: 0.99}}\n")
    out = subprocess.run([sys.executable, "-m", "archsim", "simulate", str(path)],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "compression.sparsity.ratio: pattern 2:4 keeps exactly two" in out.stderr


@pytest.mark.parametrize("compression", [
    {"sparsity": {"pattern": "2:4", "ratio": 0.5}},  # the ratio 2:4 has
    {"kv_cache_dtype": "bf16"},  # as wide as the workload's: an explicit no-op cache dtype
    {"weight_dtype": "bf16"},  # as wide: the uncompressed point of a weight_dtype sweep
    {"weight_dtype": "fp16", "activation_dtype": "fp16"},  # as wide (2 B), a no-op
    {"weight_dtype": "int4", "scale_dtype": "fp8", "group_size": 16},  # NVFP4-style scales
    {"weight_dtype": "int4", "scale_dtype": "int8"},  # QServe's second-level scales
])
def test_compression_input_that_stays_accepted(compression):
    archsim.load_scenario({**INFERENCE, "compression": compression})


def test_16_bit_weights_on_an_fp32_workload_are_narrower():
    sc = archsim.load_scenario({**INFERENCE, "workload": {**INFERENCE["workload"],
                                                          "dtype": "fp32"},
                                "compression": {"weight_dtype": "bf16"}})
    assert sc.compression.weight_dtype == "bf16"


def test_scales_that_undo_the_compression_are_a_warning():
    """int4 with an fp32 scale per weight: 0.5 + 4/1 = 4.5 B per weight, more than bf16's 2."""
    r = run({"weight_dtype": "int4", "scale_dtype": "fp32", "group_size": 1})
    assert r["warnings"] == ["int4 weights with a fp32 scale per 1 take 4.5 B each, no fewer "
                             "than bf16's 2 B: compression.group_size is too small to compress"]
    assert not run({"weight_dtype": "int4"}).get("warnings")


# ------------------------------------------------------------------ F8: extreme pruning

def test_the_published_pruning_share_is_sheared_llama():
    """Sheared-LLaMA-1.3B's config (24 layers, hidden 2048, ffn 5504, vocab 32000, untied,
    two norms a layer and a final one) against Llama-2-7B's (32, 4096, 11008, 32000)."""
    def params(layers: int, h: int, f: int, v: int = 32000) -> int:
        return layers * (4 * h * h + 3 * h * f + 2 * h) + 2 * v * h + h

    assert params(24, 2048, 5504) == 1_345_423_360
    assert params(32, 4096, 11008) == 6_738_415_616
    share = PUBLISHED_MAX_PRUNED_SHARE
    assert share == 1 - 1_345_423_360 / 6_738_415_616
    assert round(share, 4) == 0.8003


def test_pruning_beyond_published_evidence_is_a_warning():
    """heads, ffn and layers 0.99: 1 layer (round(32 · 0.01) = 0, at least 1), 1 head and ffn
    round(11008 · 0.01) = 110. Its parameters: the embedding and head 2 · 32000 · 4096 =
    262,144,000 plus one layer of 4 · 4096 · 128 (q, k, v, o of one 128-wide head) + 3 · 4096 ·
    110, 3,448,832, against 6,738,149,376 (archsim's estimate, norms left out): 96.1% removed."""
    r = run({"pruning": {"heads": 0.99, "ffn": 0.99, "layers": 0.99}})
    assert r["feasible"]
    kept = 262_144_000 + 4 * 4096 * 128 + 3 * 4096 * 110
    full = 2 * 32000 * 4096 + 32 * (4 * 4096 * 4096 + 3 * 4096 * 11008)
    assert f"{1 - kept / full:.1%}" == "96.1%"
    assert r["warnings"] == [
        "structured pruning removes 96.1% of llama2-7b's parameters, beyond the 80.0% of the "
        "deepest published pruning known to keep useful quality (Sheared-LLaMA-1.3B from "
        "Llama-2-7B, after 50B tokens of continued pre-training); archsim simulates its speed, "
        "not its quality"]
    assert r["compression"]["notes"][0] == ("structured pruning: llama2-7b → 1 layer, 1 head, "
                                            "ffn 110")


def test_pruning_within_published_evidence_is_not_a_warning():
    """ffn and layers 0.5: 16 layers of ffn 5504 and the whole embedding and head,
    16 · (4 · 4096² + 3 · 4096 · 5504) + 2 · 32000 · 4096 parameters kept, 64.1% removed: under
    the published 80.0%, no warning."""
    kept = 16 * (4 * 4096 ** 2 + 3 * 4096 * 5504) + 2 * 32000 * 4096
    full = 32 * (4 * 4096 ** 2 + 3 * 4096 * 11008) + 2 * 32000 * 4096
    assert f"{1 - kept / full:.1%}" == "64.1%"
    r = run({"pruning": {"ffn": 0.5, "layers": 0.5}})
    assert r["feasible"] and not r.get("warnings")


# ------------------------------------------------------------------ F7: labels

@pytest.mark.parametrize("device", ["h100-sxm5-80gb", "h200-sxm-141gb", "b200", "mi300x",
                                    "l40s"])
def test_a_borrowed_2_4_speedup_is_labelled_unverified(device):
    """These profiles' sparsity.source says the 1.71× is A100-class and assumed (or
    UNVERIFIED); the note says so and quotes the source."""
    r = run({"sparsity": {"pattern": "2:4"}}, device=device, dtype="fp16", batch=1,
            prompt_len=128, gen_len=2)
    source = archsim.load_scenario({**INFERENCE, "hardware": {"device": device, "count": 1}}
                                   ).cluster.pools[0].device.sparsity.source
    (note,) = [n for n in r["compression"]["notes"] if n.startswith("2:4 sparsity")]
    assert note == (f"2:4 sparsity: forward weight GEMMs 1.71× faster ({device} profile: "
                    f"achieved_speedup, UNVERIFIED for {device}: {source})")


def test_the_a100_2_4_speedup_is_not_labelled_borrowed():
    r = run({"sparsity": {"pattern": "2:4"}}, dtype="fp16", batch=1, prompt_len=128, gen_len=2)
    assert ("2:4 sparsity: forward weight GEMMs 1.71× faster (a100-sxm4-80gb profile: "
            "achieved_speedup)") in r["compression"]["notes"]


def test_the_shipped_int4_scenario_cites_its_accuracy_figure():
    note = archsim.simulate("llama2-70b-int4-1xh100").to_dict()["compression"]["accuracy_note"]
    assert note == {
        "text": "AWQ (Lin et al., MLSys 2024, arXiv:2306.00978) reports Llama-2-70B WikiText-2 "
                "perplexity 3.32 in FP16 and 3.41 with AWQ INT4 weights, group size 128: a "
                "published figure for that method, not simulated by archsim",
        "source": "user-supplied; archsim does not simulate model quality"}


def test_a_dtype_as_wide_as_the_workloads_changes_nothing():
    """bf16 weights on a bf16 model (a sweep's uncompressed point) run as the model itself."""
    assert run({"weight_dtype": "bf16"})["e2e_latency_s"] == run(None)["e2e_latency_s"]
