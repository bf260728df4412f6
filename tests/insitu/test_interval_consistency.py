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
    d, iv = intervals(gen_len)
    n = gen_len - 1  # decode steps after the prefill's token
    assert d["e2e_latency_s"] == pytest.approx(d["ttft_s"] + n * d["tpot_s"], rel=1e-9)
    lo, hi = iv["e2e_latency_s"]
    assert lo == pytest.approx(iv["ttft_s"][0] + n * iv["tpot_s"][0], rel=1e-9)
    assert hi == pytest.approx(iv["ttft_s"][1] + n * iv["tpot_s"][1], rel=1e-9)
    assert lo <= d["e2e_latency_s"] <= hi and hi >= iv["ttft_s"][1]


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
