"""The ``compression`` block of a result: baseline and compressed side by side, with ratios."""

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
    keys = COMPARED.get(c["mode"], [])
    base_vals = {k: _get(b, k) for k in keys}
    comp_vals = {k: _get(c, k) for k in keys}
    ratios = {}
    for k in keys:
        x, y = base_vals[k], comp_vals[k]
        ok = isinstance(x, (int, float)) and isinstance(y, (int, float)) and x
        ratios[k] = (y / x) if ok else None
    block: dict[str, Any] = {
        "baseline": {"feasible": b["feasible"], "infeasible_reasons": b["infeasible_reasons"],
                     "model": b.get("model"), **base_vals},
        "compressed": {"feasible": c["feasible"],
                       "infeasible_reasons": c["infeasible_reasons"],
                       "model": c.get("model"), **comp_vals},
        "ratios": ratios,
        "effects": {"weight_dtype": comp.weight_dtype, "matmul_dtype": comp.matmul_dtype,
                    "kv_cache_dtype": comp.kv_dtype,
                    "weight_bytes_per_element": comp.weight_bytes,
                    "weight_storage_bytes_per_element": comp.weight_storage_bytes,
                    "sparse_gemm_speedup": comp.sparse_speedup,
                    "dequantization": comp.dequant, "fp8_training": comp.fp8_training},
        "notes": list(comp.notes),
        "warnings": list(comp.warnings),
    }
    if accuracy_note:
        block["accuracy_note"] = {"text": accuracy_note,
                                  "source": "user-supplied; archsim does not simulate model "
                                            "quality"}
    return block
