"""The issue's cross-validated targets on the calibration corpus, read from what the shipped
profiles carry (written by scripts/calibrate_corpus.py: leave-one-source-out error per kind of
run). Training ≤ 8%, inference ≤ 12% per metric, over all devices (run-weighted)."""

from __future__ import annotations

import pytest

from archsim.spec.loader import load_spec_file
from archsim.spec.registry import list_names

TARGETS = {"training": 0.08, "throughput": 0.12, "ttft": 0.12, "tpot": 0.12,
           "e2e_latency": 0.12}


def pooled_mape() -> dict[str, tuple[float, int]]:
    """Run-weighted MAPE per kind over every shipped profile's fitted accuracy."""
    sums: dict[str, list[float]] = {}
    for name in list_names("devices"):
        insitu = load_spec_file("devices", name).insitu
        accuracy = (insitu.accuracy or {}) if insitu is not None else {}
        for kind, acc in accuracy.items():
            s = sums.setdefault(kind, [0.0, 0])
            s[0] += acc.mape * acc.runs
            s[1] += acc.runs
    return {k: (total / runs, runs) for k, (total, runs) in sums.items()}


def test_every_kind_of_run_is_cross_validated_on_the_corpus():
    assert set(TARGETS) == set(pooled_mape())


@pytest.mark.parametrize("kind", [k for k in TARGETS if k != "e2e_latency"])
def test_leave_one_source_out_error_meets_the_issue_target(kind):
    mape, runs = pooled_mape()[kind]
    assert runs >= 2
    assert mape <= TARGETS[kind], f"{kind}: {mape:.1%} over {runs} runs"


def test_mi300x_end_to_end_latency_regression_guard():
    """The one kind below its target (next test) must not get worse unnoticed: the shipped
    mi300x.yaml insitu.accuracy.e2e_latency says mape 0.349 over 6 runs from 2 sources (the only
    profile with end-to-end latency runs); the guard leaves 1.1 points for a recalibration."""
    mape, runs = pooled_mape()["e2e_latency"]
    assert runs >= 6
    assert mape <= 0.36, f"e2e_latency: {mape:.1%} over {runs} runs"


@pytest.mark.xfail(strict=True, reason="issue target not met: MI300X end-to-end latency, 34.9% "
                   "over 6 runs (target 12%), two sources that disagree (README, The shipped "
                   "calibration); guarded above")
def test_mi300x_end_to_end_latency_meets_the_issue_target():
    mape, _ = pooled_mape()["e2e_latency"]
    assert mape <= TARGETS["e2e_latency"]
