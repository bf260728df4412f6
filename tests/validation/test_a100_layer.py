"""Per-op prediction of one GPT-3 175B layer, TP 4 on 4× A100-80GB (LLMCompass measurements).

reference/a100_gpt3_layer_tp4.csv: batch 8, fp16, standard (non-flash) attention run as PyTorch
ops; prefill at s = 2048 and one decode step at KV length 3072. Each op was timed on its own, so
each measured latency includes the measurement harness's fixed cost per call. That cost is read
off the calibration sweep taken with the same harness (reference/a100_gemm.csv, its two smallest
GEMMs) — the same number the A100 profile's efficiencies were derived with — and replaces the
in-stream launch overhead. Nothing is fitted to the layer file. The csv's totals exclude the
bias-dropout-add kernels, so archsim's are left out of the comparison (and printed apart).

Run with ``pytest tests/validation/test_a100_layer.py -s`` to see the table.
"""

import csv
from pathlib import Path

import pytest

from archsim.cost.comm import collective_time
from archsim.cost.compute import bound_by, compute_time
from archsim.graph.inference import inference_layer
from archsim.graph.transformer import Shape
from archsim.plan.inference import Degrees, comm_groups
from archsim.spec.hardware import PoolSpec
from archsim.spec.loader import load_spec_file

REFERENCE = Path(__file__).resolve().parents[2] / "reference"
# Each op was timed alone by LLMCompass's harness, the same harness as the GEMM sweep the
# profile's isolated curve comes from: the isolated-kernel model (no in-situ block) is the
# model of that measurement. The in-situ model describes sustained runs (its cuBLASLt sweep
# reaches 0.80 of peak where these one-off timings reach 0.87) and predicts the prefill
# layer +25% slow, the decode step -3% (README, Accuracy).
A100 = load_spec_file("devices", "a100-sxm4-80gb").model_copy(update={"insitu": None})
NVLINK3 = load_spec_file("interconnects", "nvlink3-nvswitch")
GPT3 = load_spec_file("models", "gpt3-175b")
POOL = PoolSpec(name="node", device=A100, count=4, devices_per_node=4, intra_node=NVLINK3)

# archsim op (suffix of L0.<name>) -> LLMCompass op
CSV_NAME = {"ln_attn": "LayerNorm_MHA", "qkv": "Q_K_V", "qk": "Q_mul_K", "softmax": "Softmax",
            "av": "A_mul_V", "proj": "Wo_proj", "ar_attn": "AllReduce_MHA",
            "ln_mlp": "LayerNorm_FFN", "fc1": "W1_proj", "gelu": "GeLU", "fc2": "W2_proj",
            "ar_mlp": "AllReduce_FFN"}
PHASES = {"prefill": Shape(batch=8, seq=2048, kv_seq=2048, tp=4, flash=False, dtype="fp16",
                           training=False, kv_cache=True),
          "decode": Shape(batch=8, seq=1, kv_seq=3072, tp=4, flash=False, dtype="fp16",
                          training=False, kv_cache=True)}


def harness_call_cost() -> float:
    """Fixed cost per timed call of the LLMCompass harness: the line through the two smallest
    GEMMs of reference/a100_gemm.csv (bytes moved vs latency), at zero bytes."""
    with open(REFERENCE / "a100_gemm.csv", newline="", encoding="utf-8") as fh:
        rows = {(int(r["m"]), int(r["k"]), int(r["n"])): float(r["latency_ms"]) * 1e-3
                for r in csv.DictReader(fh)}
    def moved(m, k, n):
        return 2.0 * (m * k + k * n + m * n)
    (m1, t1), (m2, t2) = ((8192, 64, 64), rows[(8192, 64, 64)]), \
        ((8192, 128, 128), rows[(8192, 128, 128)])
    b1, b2 = moved(*m1), moved(*m2)
    return t1 - b1 * (t2 - t1) / (b2 - b1)


def measured() -> dict[tuple[str, str], float]:
    with open(REFERENCE / "a100_gpt3_layer_tp4.csv", newline="", encoding="utf-8") as fh:
        return {(r["phase"], r["op"]): float(r["latency_ms"]) * 1e-3
                for r in csv.DictReader(fh)}


def predict(phase: str, call_cost: float) -> tuple[dict[str, float], dict[str, float]]:
    """(predicted seconds per csv op, archsim ops outside the csv) for one layer."""
    groups = comm_groups(POOL, Degrees(tp=4))
    ours, extra = {}, {}
    for op in inference_layer(GPT3, PHASES[phase]):
        name = op.name.split(".", 1)[1]
        if op.kind == "comm":
            t = collective_time(op.comm.kind, op.comm.bytes, groups[op.comm.group]).time_s
        else:
            t = compute_time(op, A100) - A100.launch_overhead
        t += call_cost
        if name in CSV_NAME:
            ours[CSV_NAME[name]] = t
        else:
            extra[name] = t
    return ours, extra


@pytest.fixture(scope="module")
def table():
    call_cost = harness_call_cost()
    meas = measured()
    rows, totals = [], {}
    for phase in PHASES:
        ours, extra = predict(phase, call_cost)
        for op, t in ours.items():
            m = meas[(phase, op)]
            rows.append((phase, op, t, m))
        pred_total = sum(ours.values())
        meas_total = meas[(phase, "layer_latency_total(sum of ops)")]
        totals[phase] = (pred_total, meas_total, extra)
    lines = [f"harness fixed cost per call (from a100_gemm.csv): {call_cost * 1e6:.1f} us",
             f"{'phase':8} {'op':15} {'predicted ms':>12} {'measured ms':>12} {'error':>8}"]
    for phase, op, t, m in rows:
        lines.append(f"{phase:8} {op:15} {t * 1e3:12.4f} {m * 1e3:12.4f} "
                     f"{100 * (t - m) / m:7.1f}%")
    for phase, (p, m, extra) in totals.items():
        lines.append(f"{phase:8} {'LAYER TOTAL':15} {p * 1e3:12.4f} {m * 1e3:12.4f} "
                     f"{100 * (p - m) / m:7.1f}%   (not in the csv: " + ", ".join(
                         f"{k} {v * 1e3:.4f} ms" for k, v in extra.items()) + ")")
    errors = [abs(t - m) / m for _, _, t, m in rows]
    lines.append(f"per-op MAPE {100 * sum(errors) / len(errors):.1f}%, max "
                 f"{100 * max(errors):.1f}%")
    print("\n" + "\n".join(lines))
    return rows, totals, call_cost


def test_the_harness_cost_is_the_one_the_a100_profile_was_derived_with(table):
    _, _, call_cost = table
    assert call_cost == pytest.approx(28.2e-6, abs=0.05e-6)
    assert "28.2 us" in A100.efficiency.source


def test_every_csv_op_is_predicted(table):
    rows, _, _ = table
    assert {(p, op) for p, op, _, _ in rows} == {
        (p, op) for p, op in measured() if not op.startswith("layer_latency_total")}


@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_layer_total_within_12_percent(table, phase):
    _, totals, _ = table
    predicted, meas_total, _ = totals[phase]
    assert abs(predicted - meas_total) / meas_total <= 0.12


def test_prefill_gemms_are_compute_bound_and_close(table):
    """The big projections are where the time goes; each is compute bound and within 10% of
    its measurement.

    Compute bound by hand: an (m × k)·(k × n) fp16 GEMM does 2mkn FLOPs on 2(mk + kn + mn)
    bytes, an arithmetic intensity of 1 / (1/m + 1/k + 1/n) FLOP/B. At b = 8, s = 2048
    (m = 16384), h = 12288, tp 4: Q_K_V k = 12288, n = 3h/4 = 9216 → 3986; Wo_proj k = h/4 =
    3072, n = 12288 → 2137; W1_proj k = 12288, n = 4h/4 = 12288 → 4468; W2_proj k = 12288,
    n = 12288 → 4468. The A100's ridge is 312e12 / 2039e9 ≈ 153 FLOP/B (the efficiencies,
    ≤ 0.9 on compute and 0.925 on memory, move it by a few percent): each is 14× past it."""
    rows, _, _ = table
    gemms = {CSV_NAME[op.name.split(".", 1)[1]]: op
             for op in inference_layer(GPT3, PHASES["prefill"])
             if op.name.split(".", 1)[1] in ("qkv", "proj", "fc1", "fc2")}
    assert sorted(gemms) == ["Q_K_V", "W1_proj", "W2_proj", "Wo_proj"]
    for name, op in gemms.items():
        assert bound_by(op, A100) == "compute", name
    for phase, op, t, m in rows:
        if phase == "prefill" and op in ("Q_K_V", "Wo_proj", "W1_proj", "W2_proj"):
            assert abs(t - m) / m < 0.10, op
