"""Shared fixtures: one small training scenario, simulated and reported once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_cases import SMALL_TRAINING


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
