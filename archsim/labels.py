"""Readable names, with units, for result keys and sweep columns (summaries, reports, plots).

``label(key)`` → 'time per output token (s)'; ``short_label(key)`` drops the unit. Keys not
listed fall back to their last dotted part with underscores as spaces and the unit read off the
suffix (``_s``, ``_usd``, ``_bytes``, ``_j``), so no raw key reaches a reader.
"""

from __future__ import annotations

# key → (name, unit or "")
LABELS: dict[str, tuple[str, str]] = {
    "step_time_s": ("step time", "s"),
    "tokens_per_s": ("throughput", "tokens/s"),
    "samples_per_s": ("throughput", "sequences/s"),
    "sequences_per_s": ("sequences per second", "sequences/s"),
    "requests_per_s": ("requests served", "req/s"),
    "goodput_rps": ("goodput", "req/s"),
    "mfu": ("MFU", "fraction of peak"),
    "hfu": ("HFU", "fraction of peak"),
    "ttft_s": ("time to first token", "s"),
    "tpot_s": ("time per output token", "s"),
    "e2e_latency_s": ("latency per batch", "s"),
    "ttft_p50_s": ("TTFT p50", "s"), "ttft_p99_s": ("TTFT p99", "s"),
    "tpot_p50_s": ("TPOT p50", "s"), "tpot_p99_s": ("TPOT p99", "s"),
    "slo_attainment": ("SLO attainment", "fraction"),
    "memory.peak_bytes_per_device": ("peak memory per device", "bytes"),
    "memory.breakdown.weights": ("weights memory", "bytes"),
    "memory.breakdown.activations": ("activations memory", "bytes"),
    "memory.breakdown.kv_cache": ("KV-cache memory", "bytes"),
    "memory_headroom": ("memory headroom", "fraction"),
    "max_batch_that_fits": ("largest batch that fits", "sequences"),
    "energy_per_token_j": ("energy per token", "J"),
    "energy_joules": ("energy", "J"),
    "cost_per_million_tokens_usd": ("cost per million tokens", "USD"),
    "cost_usd": ("cost", "USD"),
    "devices": ("devices", ""),
    "hardware.device": ("device", ""),
    "hardware.count": ("devices", ""),
    "plan.tp": ("tp", ""), "plan.pp": ("pp", ""), "plan.dp": ("dp", ""),
    "plan.cp": ("cp", ""), "plan.ep": ("ep", ""), "plan.sp": ("sp", ""),
    "plan.zero": ("ZeRO", ""), "plan.recompute": ("recompute", ""),
    "plan.schedule": ("schedule", ""), "plan.virtual_stages": ("virtual stages", ""),
    "workload.micro_batch": ("micro-batch", "sequences"),
    "workload.global_batch": ("global batch", "sequences"),
    "workload.batch": ("batch", "sequences"),
    "hardware.intra_node": ("intra-node link", ""),
    "hardware.inter_node": ("inter-node link", ""),
}
_SUFFIX_UNITS = (("_usd", "USD"), ("_bytes", "bytes"), ("_j", "J"), ("_per_s", "per s"),
                 ("_s", "s"))


def _parts(key: str) -> tuple[str, str]:
    if key in LABELS:
        return LABELS[key]
    last = key.split(".")[-1]
    for suffix, unit in _SUFFIX_UNITS:
        if last.endswith(suffix) and last != suffix.lstrip("_"):
            return last.removesuffix(suffix).replace("_", " "), unit
    return last.replace("_", " "), ""


def short_label(key: str) -> str:
    """The readable name of ``key`` without its unit."""
    return _parts(key)[0]


def label(key: str) -> str:
    """The readable name of ``key`` with its unit in brackets where it has one."""
    name, unit = _parts(key)
    return f"{name} ({unit})" if unit else name


def unit(key: str) -> str:
    """The unit of ``key`` ('' when it has none)."""
    return _parts(key)[1]
