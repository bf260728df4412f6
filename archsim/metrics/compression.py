"""The ``compression`` block of a result: baseline and compressed side by side, with ratios.

A side that does not run (``feasible: false``) keeps its memory metrics — they say why — but
has no time, throughput, energy or cost, so no ratio of those is given for it.
``memory_breakdown`` holds both sides' memory parts on the busiest device (for side-by-side
bars).
"""

from __future__ import annotations

from typing import Any

from archsim.plan.compress import Compression
from archsim.result import Result

# metrics compared per mode (dotted paths into the result)
COMPARED = {
    "training": ["step_time_s", "tokens_per_s", "mfu", "memory.peak_bytes_per_device",
                 "memory.breakdown.weights", "memory.breakdown.activations",
                 "energy_per_token_j", "cost_per_million_tokens_usd"],
    "inference": ["ttft_s", "tpot_s", "e2e_latency_s", "tokens_per_s",
                  "memory.peak_bytes_per_device", "memory.breakdown.weights",
                  "memory.breakdown.kv_cache", "max_batch_that_fits", "energy_per_token_j",
                  "cost_per_million_tokens_usd"],
    "serving": ["ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "tpot_p99_s", "requests_per_s",
                "tokens_per_s", "slo_attainment", "memory.peak_bytes_per_device",
                "energy_per_token_j", "cost_per_million_tokens_usd"],
}


# an encoder's forward pass has no first token or decode steps (archsim/metrics/inference.py)
ENCODER_COMPARED = ["e2e_latency_s", "sequences_per_s", "tokens_per_s",
                    "memory.peak_bytes_per_device", "memory.breakdown.weights",
                    "memory.breakdown.activations", "max_batch_that_fits",
                    "energy_per_token_j", "cost_per_million_tokens_usd"]


def is_memory_metric(key: str) -> bool:
    """Memory metrics hold for a side that does not fit (they say why); the rest do not."""
    return key.startswith("memory.") or key == "max_batch_that_fits"


def _get(d: dict, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def compression_block(baseline: Result, compressed: Result, comp: Compression,
                      accuracy_note: str | None) -> dict[str, Any]:
    """Baseline vs compressed metrics of the same mode, ratios compressed / baseline."""
    b, c = baseline.to_dict(), compressed.to_dict()
    keys = ENCODER_COMPARED if c.get("encoder") else COMPARED.get(c["mode"], [])
    # a side that cannot run has no speed, energy or cost: a memory-bound plan's step time
    # is not a speed-up anyone gets (its memory numbers stay: they say why it does not run)
    base_vals = {k: _get(b, k) if b["feasible"] or is_memory_metric(k) else None
                 for k in keys}
    comp_vals = {k: _get(c, k) if c["feasible"] or is_memory_metric(k) else None
                 for k in keys}
    ratios = {}
    for k in keys:
        x, y = base_vals[k], comp_vals[k]
        ok = isinstance(x, (int, float)) and isinstance(y, (int, float)) and x
        ratios[k] = (y / x) if ok else None
    # MFU over two peaks is not a ratio of utilisation: an fp8 run's is of the fp8 peak, a
    # 2:4 run's partly of the sparse peak (an fp8 step 1.5× faster had read "MFU 0.752×")
    peaks = (b.get("mfu_peak_tflops"), c.get("mfu_peak_tflops"))
    mfu_over_other_peaks = (ratios.get("mfu") is not None and all(peaks)
                            and abs(peaks[1] - peaks[0]) > 0.005 * peaks[0])
    if mfu_over_other_peaks:
        ratios["mfu"] = None
    block: dict[str, Any] = {
        "baseline": {"feasible": b["feasible"], "infeasible_reasons": b["infeasible_reasons"],
                     "model": b.get("model"), **base_vals},
        "compressed": {"feasible": c["feasible"],
                       "infeasible_reasons": c["infeasible_reasons"],
                       "model": c.get("model"), **comp_vals},
        "ratios": ratios,
        "memory_breakdown": {"baseline": _get(b, "memory.breakdown"),
                             "compressed": _get(c, "memory.breakdown"),
                             "capacity_bytes": _get(c, "memory.capacity_bytes")},
        "effects": {"weight_dtype": comp.weight_dtype, "matmul_dtype": comp.matmul_dtype,
                    "kv_cache_dtype": comp.kv_dtype,
                    "weight_bytes_per_element": comp.weight_bytes,
                    "weight_storage_bytes_per_element": comp.weight_storage_bytes,
                    "sparse_gemm_speedup": comp.sparse_speedup,
                    "dequantization": comp.dequant, "fp8_training": comp.fp8_training},
        "notes": list(comp.notes),
        "warnings": list(comp.warnings),
    }
    if mfu_over_other_peaks:
        block["notes"].append(
            f"MFU is not compared as a ratio: the baseline's is of {peaks[0]:,.0f} TFLOP/s per "
            f"device, the compressed run's of {peaks[1]:,.0f}; tokens/s compares their speed")
    if accuracy_note:
        block["accuracy_note"] = {"text": accuracy_note,
                                  "source": "user-supplied; archsim does not simulate model "
                                            "quality"}
    return block
