"""Runs of weight 0 are predicted by the fit on all the other runs, which never saw them:
their errors join the cross-validated ones in the profile's error bar (a serving run under load,
too slow to fit, is such a run in the shipped corpus: reference/calibration/RUNS.md)."""

import csv
import io

import pytest

from archsim.insitu.overlay import NEVER_FITTED, calibrate_runs
from archsim.insitu.predict import load_runs
from archsim.insitu.runs import read_runs

COLUMNS = ["run", "source", "kind", "metric", "measured", "device", "devices", "model",
           "batch", "prompt_len", "gen_len", "arrival", "concurrency", "requests", "weight"]


def _runs(tmp_path, serving_measured: float, serving_source: str = "lab9") -> list:
    common = {"device": "a100-sxm4-80gb", "devices": 1, "model": "gpt3-1.7b"}
    rows = [{**common, "run": f"s{i}", "source": f"lab{i}", "kind": "inference",
             "metric": "ttft_s", "measured": m, "batch": 1, "prompt_len": p, "gen_len": 1}
            for i, (p, m) in enumerate([(512, 0.012), (1024, 0.022)])]
    rows.append({**common, "run": "load", "source": serving_source, "kind": "serving",
                 "metric": "ttft_s", "measured": serving_measured, "prompt_len": 512,
                 "gen_len": 16, "arrival": "closed", "concurrency": 2, "requests": 12,
                 "weight": 0})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    path = tmp_path / "runs.csv"
    path.write_text(buf.getvalue())
    return load_runs(read_runs(path))


def test_a_weight_0_run_counts_in_the_error_bar_as_held_out(tmp_path):
    loaded = _runs(tmp_path, serving_measured=0.02)
    (cal,) = calibrate_runs(loaded, cv="source")
    never = [h for h in cal.held if h.fold == NEVER_FITTED]
    assert [h.prediction.run.id for h in never] == ["load"]
    # predicted by the fit on the two weighted runs: the fit's own prediction of it
    (full,) = [p for p in cal.fit.predictions if p.run.id == "load"]
    assert never[0].prediction.predicted == full.predicted
    assert not never[0].prior_only
    ttft = cal.insitu.accuracy["ttft"]
    assert ttft.runs == 3 and ttft.sources == 3  # two sources held out in turn, and lab9
    errors = sorted(abs(h.prediction.error) for h in cal.held)
    assert ttft.mape == pytest.approx(sum(errors) / 3, abs=1e-4)
    # never fitted: the provenance counts the two weighted runs; a serving run is calibrated
    # as inference (its forward passes are inference's)
    assert cal.insitu.provenance["runs_used"] == 2
    assert "serving" not in cal.insitu.calibrated_range.kinds


def test_without_cross_validation_no_error_bar_is_made_of_weight_0_runs(tmp_path):
    loaded = _runs(tmp_path, serving_measured=0.02)
    (cal,) = calibrate_runs(loaded, cv="none")
    assert cal.held == [] and "ttft" not in cal.insitu.accuracy


def test_a_fold_of_weight_0_runs_only_is_not_fitted(tmp_path):
    """Leaving out a source whose runs all have weight 0 scores nothing: no fold is made of
    it (each such fold had refitted every device for nothing)."""
    from archsim.insitu.crossval import folds

    loaded = _runs(tmp_path, serving_measured=0.02)
    assert [name for name, _ in folds(loaded, "source")] == ["lab0", "lab1"]
    assert [name for name, _ in folds(loaded, "run")] == ["s0", "s1"]
    assert [len(f) for _, f in folds(loaded, "3")] == [1, 1]  # the third holds "load" alone


def test_a_weight_0_run_of_a_fitted_source_is_scored_in_its_source_fold(tmp_path):
    """Beside a weighted run of its own source, a weight-0 run is predicted by the fit that
    left the whole source out, as leave-one-source-out says — not by the fit on everything,
    which saw its source's other run (the audit of 2026-12-07)."""
    from archsim.insitu.fit import fit_device
    from archsim.insitu.predict import predict

    loaded = _runs(tmp_path, serving_measured=0.02, serving_source="lab0")
    (cal,) = calibrate_runs(loaded, cv="source")
    (load,) = [h for h in cal.held if h.prediction.run.id == "load"]
    assert load.fold == "lab0" and not [h for h in cal.held if h.fold == NEVER_FITTED]
    others = [ld for ld in loaded if ld.run.source != "lab0"]
    alone = fit_device(others, others[0].device)
    expected = predict(loaded[2], alone.insitu(others[0].device.insitu))
    # the same optimum, sought from the full fit (crossval start=): equal to the fit's tolerance
    assert load.prediction.predicted == pytest.approx(expected.predicted, rel=1e-3)
    # and not the full fit's (1.6% apart here: lab0's weighted run moves the fit)
    (full,) = [p for p in cal.fit.predictions if p.run.id == "load"]
    assert abs(full.predicted / load.prediction.predicted - 1) > 0.005
    assert cal.insitu.accuracy["ttft"].runs == 3
