"""Shared fixtures: one small training scenario, simulated and reported once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

SMALL_TRAINING = """\
name: gpt3-1.7b-16xa100
model: gpt3-1.7b
hardware: {device: a100-sxm4-80gb, count: 16, devices_per_node: 8,
           intra_node: nvlink3-nvswitch, inter_node: ib-hdr-200g}
workload: {kind: training, seq_len: 2048, global_batch: 64, micro_batch: 2, dtype: bf16}
plan: {tp: 2, pp: 2, recompute: selective, schedule: 1f1b}
"""

TRAINING_SECTIONS = ["answer", "inputs", "sources", "step-time", "memory", "timeline",
                     "roofline", "scaling", "capacity", "validation"]


@pytest.fixture(scope="session")
def small_scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scenario") / "small.yaml"
    path.write_text(SMALL_TRAINING)
    return path


@pytest.fixture(scope="session")
def training_report_dir(small_scenario: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``archsim report small.yaml --out DIR --train-tokens 1e10 --days 10`` (run once)."""
    from archsim.cli import main

    out = tmp_path_factory.mktemp("reports") / "training"
    assert main(["report", str(small_scenario), "--out", str(out), "--train-tokens", "1e10",
                 "--days", "10"]) == 0
    return out
