"""Small sweep files over a cheap scenario (GPT-3 1.7B on 8 A100s: a few ms per point)."""

from __future__ import annotations

BASE = {
    "name": "tiny",
    "model": "gpt3-1.7b",
    "hardware": {"device": "a100-sxm4-80gb", "count": 8},
    "workload": {"kind": "training", "seq_len": 2048, "global_batch": 16},
}

A100_TRAINING = {"name": "a100-training", "model": "gpt3-1.7b",
                 "hardware": {"device": "a100-sxm4-80gb", "count": 8},
                 "workload": {"kind": "training", "seq_len": 2048, "global_batch": 256,
                              "micro_batch": 4, "dtype": "bf16"},
                 "plan": {"tp": 1, "pp": 1, "zero": 1}}
"""A fully stated training point, inside the A100 profile's calibrated range at tp 1–4."""


def sweep_mapping(**fields):
    data = {"name": "tiny-sweep", "base": BASE,
            "axes": {"plan.tp": [1, 2, 4, 8], "plan.pp": [1, 2, 4, 8]}}
    data.update(fields)
    return data
