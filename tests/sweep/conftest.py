"""Fixtures for the sweep tests."""

from __future__ import annotations

import pytest
import yaml
from sweep_cases import sweep_mapping


@pytest.fixture
def write_sweep(tmp_path):
    def write(name="sweep.yaml", **fields):
        path = tmp_path / name
        path.write_text(yaml.safe_dump(sweep_mapping(**fields), sort_keys=False))
        return path

    return write
