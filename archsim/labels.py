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
    "rate_basis": ("rates measured over", ""),
    "mfu": ("MFU", "% of peak"),
    "hfu": ("HFU", "% of peak"),
    "ttft_s": ("time to first token", "s"),
    "tpot_s": ("time per output token", "s"),
    "e2e_latency_s": ("latency per batch", "s"),
    "ttft_p50_s": ("TTFT p50", "s"), "ttft_p99_s": ("TTFT p99", "s"),
    "tpot_p50_s": ("TPOT p50", "s"), "tpot_p99_s": ("TPOT p99", "s"),
    "itl_p50_s": ("inter-token latency p50", "s"), "itl_p99_s": ("inter-token latency p99", "s"),
    "slo_attainment": ("SLO attainment", "% of requests"),
    "memory.peak_bytes_per_device": ("peak memory per device", "bytes"),
    "memory.breakdown.weights": ("weights memory", "bytes"),
    "memory.breakdown.activations": ("activations memory", "bytes"),
    "memory.breakdown.kv_cache": ("KV-cache memory", "bytes"),
    "memory_headroom": ("memory headroom", "% of capacity"),
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
    "workload.micro_batch": ("micro-batch", ""),
    "workload.global_batch": ("global batch", ""),
    "workload.batch": ("batch", ""),
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


# units that a formatted cell already carries (times, bytes, money, shares): a table header
# need not repeat them
_CARRIED = ("s", "bytes", "USD", "J", "% of peak", "% of requests", "% of capacity")
PERCENT_KEYS = ("mfu", "hfu", "slo_attainment", "memory_headroom")


def header(key: str) -> str:
    """A table header for ``key``: with its unit unless the cells carry it."""
    return short_label(key) if unit(key) in _CARRIED else label(key)


def with_unit(key: str, text: str) -> str:
    """``text`` (a formatted value of ``key``) followed by the unit the cell does not carry."""
    u = unit(key)
    return text if not u or u in _CARRIED or text in ("-", "no price") else f"{text} {u}"
