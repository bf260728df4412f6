"""A serving scenario that is a single server: one replica that holds one sequence at a time
(``max_num_seqs`` 1) serving identical requests (100-token prompts, 20 new tokens), so its
capacity is 1 / (one request's end-to-end latency served alone). The SLO is loose: only the
keep-up check can reject a deployment of it. Shared by the capacity tests."""

from __future__ import annotations

from typing import Any


def single_server(rate_per_s: float, count: int) -> dict[str, Any]:
    """The scenario with ``count`` evenly spaced requests at ``rate_per_s``."""
    return {"name": "seq", "model": "llama2-7b",
            "hardware": {"device": "h100-sxm5-80gb", "count": 1},
            "workload": {"kind": "serving",
                         "arrival": {"process": "uniform", "rate_per_s": rate_per_s,
                                     "count": count},
                         "prompt_len": 100, "gen_len": 20, "max_num_seqs": 1,
                         "slo": {"ttft_s": 1000.0, "tpot_s": 1.0}}}
