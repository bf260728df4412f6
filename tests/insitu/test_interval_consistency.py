"""A static batch's intervals agree with one another: end-to-end = TTFT + n·TPOT."""

import pytest

import archsim


def intervals(gen_len):
    d = archsim.simulate("llama2-7b-inference-a100", [f"workload.gen_len={gen_len}"]).to_dict()
    return d, d["uncertainty"]["intervals"]


def test_one_generated_token_has_the_ttft_interval():
    """gen_len 1: the end-to-end latency is the TTFT; its interval had come from the
    throughput runs and sat below TTFT's ([0.449, 0.494] s against [0.456, 0.609] s)."""
    d, iv = intervals(1)
    assert d["e2e_latency_s"] == d["ttft_s"]
    assert iv["e2e_latency_s"] == iv["ttft_s"]


@pytest.mark.parametrize("gen_len", [2, 128])
def test_end_to_end_interval_is_ttft_plus_the_decode_steps(gen_len):
    """[lo_ttft + n·lo_tpot, hi_ttft + n·hi_tpot], widened where the throughput runs' band
    is wider (the batch's latency and throughput are one time: the next test)."""
    d, iv = intervals(gen_len)
    n = gen_len - 1  # decode steps after the prefill's token
    assert d["e2e_latency_s"] == pytest.approx(d["ttft_s"] + n * d["tpot_s"], rel=1e-9)
    lo, hi = iv["e2e_latency_s"]
    e2e, tput = d["e2e_latency_s"], d["uncertainty"]["errors"]["throughput"]
    composed = (iv["ttft_s"][0] + n * iv["tpot_s"][0], iv["ttft_s"][1] + n * iv["tpot_s"][1])
    assert lo == pytest.approx(min(composed[0], e2e / (1 + tput["p90"])), rel=1e-9)
    assert hi == pytest.approx(max(composed[1], e2e / (1 + tput["p10"])), rel=1e-9)
    assert lo <= d["e2e_latency_s"] <= hi and hi >= iv["ttft_s"][1]


def test_a_static_batchs_latency_throughput_and_cost_share_one_band():
    """Llama-2-7B, a batch of 8 × 256 generated tokens on an A100: tokens/s is exactly
    2048 / latency, and cost and energy are that latency × price and power; so each
    interval is the latency's, read the other way for rates. The throughput had had a band
    of its own: [461.1, 502.4] tokens/s beside a latency of [4.081, 4.558] s, which puts
    2048 tokens at 449.3–501.8 tokens/s."""
    d, iv = intervals(256)
    wl = archsim.load_scenario("llama2-7b-inference-a100").workload
    tokens = wl.batch * wl.gen_len
    assert d["tokens_per_s"] == pytest.approx(tokens / d["e2e_latency_s"], rel=1e-9)
    lo, hi = iv["e2e_latency_s"]
    assert iv["tokens_per_s"] == pytest.approx([tokens / hi, tokens / lo], rel=1e-9)
    assert iv["sequences_per_s"] == pytest.approx([wl.batch / hi, wl.batch / lo], rel=1e-9)
    for key in ("cost_usd", "energy_joules", "cost_per_million_tokens_usd"):
        v, e2e = d[key], d["e2e_latency_s"]
        assert iv[key] == pytest.approx([v * lo / e2e, v * hi / e2e], rel=1e-9), key
    errors = d["uncertainty"]["errors"]
    assert errors["throughput"]["p10"] == pytest.approx(e2e / hi - 1, rel=1e-9)
    assert errors["throughput"]["joined"] == errors["e2e_latency"]["joined"]


def test_mi300x_throughput_carries_its_latency_band():
    """The MI300X's end-to-end band rests on 6 runs (MAPE 34.9%), its throughput's on 2:
    Llama-3-70B fp8 at batch 64 had a latency of 1.47–3.17 s beside 3,281–4,230 tokens/s.
    64 × 128 tokens over that latency is 2,581–5,560 tokens/s."""
    sc = {"model": "llama3-70b", "hardware": {"device": "mi300x", "count": 8},
          "workload": {"kind": "inference", "batch": 64, "prompt_len": 128, "gen_len": 128,
                       "dtype": "bf16", "cuda_graphs": True},
          "compression": {"weight_dtype": "fp8", "activation_dtype": "fp8",
                          "kv_cache_dtype": "fp8"}, "plan": {"tp": 8}}
    d = archsim.simulate(sc).to_dict()
    iv = d["uncertainty"]["intervals"]
    lo, hi = iv["e2e_latency_s"]
    assert iv["tokens_per_s"] == pytest.approx([64 * 128 / hi, 64 * 128 / lo], rel=1e-9)
    assert iv["tokens_per_s"][1] / iv["tokens_per_s"][0] == pytest.approx(hi / lo)
    assert hi / lo > 2  # the 34.9% band, not the throughput runs' ±5%


def test_a_prompt_longer_than_any_calibrated_one_is_out_of_range():
    """The A100's inference runs had prompts of 128–2048 tokens (reference/calibration/
    runs.csv); a 30,000-token prompt's TTFT is an extrapolation, and says so. It had been
    in range: the calibrated sequence lengths were the training runs'."""
    sc = {"model": {"name": "long", "layers": 4, "hidden": 4096, "heads": 32,
                    "vocab": 32000, "max_seq_len": 32768, "position": "rope"},
          "hardware": {"device": "a100-sxm4-80gb", "count": 1},
          "workload": {"kind": "inference", "batch": 1, "prompt_len": 30000, "gen_len": 16}}
    u = archsim.simulate(sc).to_dict()["uncertainty"]
    lo, hi = archsim.load_scenario(sc).cluster.pools[0].device.insitu.calibrated_range.prompt_len
    assert (lo, hi) == (128, 2048)
    assert "a100-sxm4-80gb: prompt_len 30000 outside the calibrated 128–2048" in \
        u["out_of_range"]
    assert not u["in_range"]


def test_a_decode_outside_the_batches_and_contexts_that_decoded_is_out_of_range():
    """The A100's batch-1 runs generate one token (TTFT runs); every A100 run that decodes
    batches more (reference/calibration/runs.csv). A batch-1 decode had passed as calibrated
    with a ±4% band; so had 8,000 generated tokens, where no run decoded that far. Both now
    say so, against the spans the profile records for its runs that decode."""
    import csv
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    with (root / "reference/calibration/runs.csv").open() as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    a100 = [r for r in rows if r["device"] == "a100-sxm4-80gb" and r["kind"] == "inference"
            and r["gen_len"] and int(r["gen_len"]) > 1]
    assert a100 and min(int(r["batch"]) for r in a100) > 1
    longest = max(int(r["prompt_len"]) + int(r["gen_len"]) for r in a100)
    rng = archsim.load_scenario("llama2-7b-inference-a100").cluster.pools[0].device.insitu \
        .calibrated_range
    assert rng.decode_batch[0] == min(int(r["batch"]) for r in a100)
    assert rng.context[1] >= longest  # serving runs decode too
    one = archsim.simulate("llama2-7b-inference-a100", [
        "workload.batch=1", "workload.prompt_len=512", "workload.gen_len=512"]).to_dict()
    u = one["uncertainty"]
    assert (f"a100-sxm4-80gb: decode batch 1 outside the calibrated {rng.decode_batch[0]:,}–"
            f"{rng.decode_batch[1]:,} of its runs that decode") in u["out_of_range"]
    assert not u["in_range"] and u["errors"]["tpot"].get("widened")
    long = archsim.simulate("llama2-7b-inference-a100", [
        "model=llama3-8b", "workload.batch=16", "workload.prompt_len=128",
        "workload.gen_len=8000"]).to_dict()
    assert (f"a100-sxm4-80gb: context 8,128 tokens (prompt + generated) beyond the longest its "
            f"calibrated runs decoded ({rng.context[1]:,})") in long["uncertainty"]["out_of_range"]
    # a TTFT run (one generated token) decodes nothing: no decode check
    ttft = archsim.simulate("llama2-7b-inference-a100", ["workload.batch=1",
                                                         "workload.gen_len=1"]).to_dict()
    assert not any("decode batch" in x for x in ttft["uncertainty"]["out_of_range"])
