"""Runs held out from the micro-benchmark defaults, not from a fit.

When every run of a device comes from one source, leaving that source out leaves nothing to
fit: cross-validation predicts its runs with the defaults, and their errors are the defaults'
error, which the fit written to the profile then removes. Such a band must not be read as the
fitted profile's: it is counted (``from_defaults``), said, and widened.
"""

import csv
from pathlib import Path

import pytest
import yaml
from test_insitu_fit import TRUTH, _with_accuracy, read_runs_text, runs_csv

import archsim
from archsim.accuracy import reference_band, uncertainty_block
from archsim.cli import main
from archsim.insitu.crossval import accuracy, cross_validate
from archsim.insitu.predict import load_runs
from archsim.spec.insitu import AccuracySpec

ROOT = Path(__file__).resolve().parents[2]


def test_one_source_is_held_out_from_the_defaults():
    text = runs_csv(TRUTH).replace("lab1", "lab0").replace("lab2", "lab0")
    loaded = load_runs(read_runs_text(text))
    held = cross_validate(loaded, "source")
    assert len(held) == len(loaded) and all(h.prior_only for h in held)
    table = accuracy(held)
    assert table and all(a.from_defaults == a.runs for a in table.values())


def test_several_sources_are_held_out_from_fits(tmp_path):
    """Two sources: each is predicted by a fit on the other (none from the defaults)."""
    text = runs_csv(TRUTH).replace("lab2", "lab0")
    loaded = [ld for ld in load_runs(read_runs_text(text)) if ld.run.kind == "inference"]
    held = cross_validate(loaded, "source")
    assert {h.fold for h in held} == {"lab0", "lab1"}
    assert not any(h.prior_only for h in held)
    assert all(a.from_defaults == 0 for a in accuracy(held).values())


def _training(acc):
    return _with_accuracy(archsim.load_scenario({"model": "gpt3-1.7b", "hardware": {
        "device": "a100-sxm4-80gb", "count": 8}, "workload": {"kind": "training"}}), acc)


def test_a_band_from_the_defaults_is_widened_to_take_in_the_reference(monkeypatch):
    """Six runs of one source held out from the defaults at −31% … −10% (the defaults too
    fast): read as the fitted profile's band, a predicted 10 s step would be 'likely'
    11.1 … 14.5 s, all of it slower than the fit that removed that bias predicts. Widened to
    the union with the reference band −20% … +15%: 10/1.15 … 10/0.69 s, which holds 10 s."""
    import archsim.accuracy as acc_module

    monkeypatch.setattr(acc_module, "reference_band", lambda group: (-0.2, 0.15))
    own = AccuracySpec(runs=6, sources=1, mape=0.19, bias=-0.19, p10=-0.31, p90=-0.10)
    block = uncertainty_block({"mode": "training", "step_time_s": 10.0}, _training(own))
    assert block["intervals"]["step_time_s"] == pytest.approx([10 / 0.9, 10 / 0.69])
    assert "widened" not in block["errors"]["training"]

    defaults = own.model_copy(update={"from_defaults": 6})
    block = uncertainty_block({"mode": "training", "step_time_s": 10.0}, _training(defaults))
    lo, hi = block["intervals"]["step_time_s"]
    assert (lo, hi) == pytest.approx((10 / 1.15, 10 / 0.69)) and lo < 10 < hi
    err = block["errors"]["training"]
    assert err["from_defaults"] == 6 and (err["p10"], err["p90"]) == (-0.31, 0.15)
    assert err["widened"] == (
        "its held-out runs were predicted from the micro-benchmark defaults, their fold "
        "leaving no run of their kind to fit, so they measure the defaults' error, not the "
        "fit's: the "
        "widest band of the shipped profiles calibrated on ≥ 5 runs of this kind")


def _shipped_accuracy() -> dict[str, tuple[dict, dict]]:
    out = {}
    for path in sorted((ROOT / "hardware_profiles/devices").glob("*.yaml")):
        insitu = yaml.safe_load(path.read_text()).get("insitu") or {}
        if insitu.get("accuracy"):
            out[path.stem] = (insitu, insitu["accuracy"])
    return out


def test_shipped_profiles_count_the_runs_held_out_from_the_defaults():
    """From the corpus itself: a device whose fitted runs in reference/calibration/runs.csv
    come from one source, with no sibling profile to take a prior from, was held out from the
    defaults on every fitted run; any other device on none. Runs of weight 0 are predicted by
    the fit on all the others (never from the defaults where a run was fitted)."""
    from archsim.insitu.runs import METRICS

    with (ROOT / "reference/calibration/runs.csv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(line for line in fh if not line.startswith("#"))]
    sources: dict[str, set[str]] = {}
    fitted: dict[tuple[str, str], int] = {}
    for r in rows:
        if r["weight"] and float(r["weight"]) == 0:
            continue
        sources.setdefault(r["device"], set()).add(r["source"])
        group = METRICS[r["metric"]][2] or (
            "training" if r["kind"] == "training" else "throughput")
        fitted[r["device"], group] = fitted.get((r["device"], group), 0) + 1
    shipped = _shipped_accuracy()
    assert "l40s" in shipped
    for device, (insitu, table) in shipped.items():
        alone = len(sources[device]) == 1 and not insitu.get("prior_from")
        for group, acc in table.items():
            expected = fitted.get((device, group), 0) if alone else 0
            assert acc.get("from_defaults", 0) == expected, (device, group)
    assert len(sources["l40s"]) == 1  # TensorRT-LLM's v0.9.0 tables only
    # its throughput error also holds TensorRT-LLM v0.13's serving runs, predicted by the fit
    l40s = shipped["l40s"][1]["throughput"]
    assert l40s["runs"] > l40s["from_defaults"] == fitted["l40s", "throughput"]


def test_the_reference_band_leaves_out_bands_from_the_defaults():
    lows, highs = [], []
    for _, table in _shipped_accuracy().values():
        t = table.get("throughput")
        if t and t["runs"] >= 5 and not t.get("from_defaults"):
            lows.append(t["p10"])
            highs.append(t["p90"])
    assert lows
    assert reference_band("throughput") == (min(lows), max(highs))


def test_the_l40s_tpot_interval_holds_its_own_prediction():
    """The L40S profile is fitted to its one source; its held-out band is the defaults'
    (−31% … −10% on time: the defaults were too fast). Its results' intervals hold the
    fitted prediction and say why they were widened."""
    d = archsim.simulate({"model": "llama2-7b", "hardware": {"device": "l40s", "count": 1},
                          "workload": {"kind": "inference", "batch": 64, "prompt_len": 128,
                                       "gen_len": 2048, "dtype": "fp8"}}).to_dict()
    u = d["uncertainty"]
    for key in ("tpot_s", "ttft_s", "tokens_per_s"):
        lo, hi = u["intervals"][key]
        assert lo <= d[key] <= hi, key
    assert "predicted from the micro-benchmark defaults" in u["errors"]["tpot"]["widened"]


def test_calibrate_says_which_devices_were_held_out_from_the_defaults(tmp_path, capsys):
    text = runs_csv(TRUTH).replace("lab1", "lab0").replace("lab2", "lab0")
    rows = text.splitlines()
    runs = tmp_path / "runs.csv"
    runs.write_text("\n".join(rows[:5]) + "\n")  # 4 runs, one source
    out = tmp_path / "cal.yaml"
    assert main(["calibrate", "--runs", str(runs), "--out", str(out)]) == 0
    line = ("a100-sxm4-80gb: all 4 of its held-out runs were predicted from the "
            "micro-benchmark defaults of their kind's parameters, not from a fitted value "
            "(leaving out its one source, lab0, left no run of their kind to fit), so their "
            "error is the defaults', not the fit's")
    assert f"  note: {line}" in capsys.readouterr().out
    assert f"- {line}" in (tmp_path / "cal.md").read_text()
    acc = yaml.safe_load(out.read_text())["devices"]["a100-sxm4-80gb"]["insitu"]["accuracy"]
    assert acc and all(a["from_defaults"] == a["runs"] for a in acc.values())
    # leave one run out: each run is predicted by a fit on the other three, none from defaults
    out_run = tmp_path / "cal-run.yaml"
    assert main(["calibrate", "--runs", str(runs), "--out", str(out_run), "--cv", "run"]) == 0
    assert "predicted from the micro-benchmark defaults" not in capsys.readouterr().out
    acc = yaml.safe_load(out_run.read_text())["devices"]["a100-sxm4-80gb"]["insitu"]["accuracy"]
    assert acc and not any(a.get("from_defaults") for a in acc.values())
