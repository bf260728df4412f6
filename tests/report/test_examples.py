"""The example reports: the README command regenerates them all and each one builds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from report_checks import check_report_folder

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = {
    "training-capacity": ["answer", "inputs", "step-time", "memory", "timeline", "roofline",
                          "scaling", "capacity", "sources", "validation"],
    "serving-capacity": ["answer", "inputs", "latency", "memory", "load", "timeline",
                         "scaling", "capacity", "cost-latency", "max-rate", "sources",
                         "validation"],
    "compression-comparison": ["answer", "inputs", "latency", "memory", "timeline", "roofline",
                               "scaling", "capacity", "compression", "sources", "validation"],
    "sweep-llama2-7b-hardware": ["answer", "inputs", "sources", "pareto", "best",
                                 "by-hardware-device", "prices", "capacity", "failures"],
}


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("examples")
    # two at once: a report is one Python process, and CI has two cores
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_example_reports.py"),
                           "--out-root", str(out), "--workers", "2"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_example_regenerates_and_builds(regenerated, name):
    check_report_folder(regenerated / name, SECTIONS[name])


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_committed_example_is_a_complete_report(name):
    check_report_folder(ROOT / "reports" / name, SECTIONS[name])


def test_readme_names_the_command():
    assert "python scripts/make_example_reports.py" in (ROOT / "README.md").read_text()


def test_the_sweep_example_table_is_the_same_on_every_regeneration(regenerated, tmp_path):
    """Wall-clock columns are left out of the committed example table and summary, so a second
    regeneration writes the same bytes (the hashes are content hashes, the order is the
    sweep's own)."""
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_example_reports.py"),
                           "--out-root", str(tmp_path), "--only", "sweep-llama2-7b-hardware"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("llama2-7b-hardware.csv", "llama2-7b-hardware.summary.json"):
        again = (tmp_path / "inputs" / name).read_bytes()
        assert again == (regenerated / "inputs" / name).read_bytes()
        assert b"sim.wall_s" not in again and b"elapsed_s" not in again
