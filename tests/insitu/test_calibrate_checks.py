"""What ``archsim calibrate --runs`` tells the user about a fit: runs far off after it, the
cross-validation method its error bars come from, and parameters only the fitted runs inform."""

from types import SimpleNamespace

from archsim.insitu.crossval import accuracy
from archsim.insitu.fit import fit_device
from archsim.insitu.overlay import far_off_runs
from archsim.insitu.predict import load_runs
from tests.insitu.test_insitu_fit import read_runs_text


def pred(error, weight=1.0):
    return SimpleNamespace(error=error, run=SimpleNamespace(weight=weight))


def test_with_few_runs_every_run_far_off_is_named():
    """Three runs give no spread to measure: a 100×-off row (−99%) is named, rows 5% and 10%
    off are not, and a weight-0 row (predicted, not fitted) never is."""
    runs = [pred(-0.99), pred(0.05), pred(-0.10), pred(3.0, weight=0.0)]
    assert far_off_runs(runs) == [runs[0]]


def test_with_four_or_more_a_run_must_also_stand_out_of_the_spread():
    """Errors 1, 2, −3, 5, 40%: median 2%, absolute deviations 1, 0, 5, 3, 38 → MAD 3%, so
    3 MAD = 9%: the 40% run (38 from the median) is named. Errors −40, −20, 0, 20, 40%:
    median 0, deviations 40, 20, 0, 20, 40 → MAD 20%, 3 MAD = 60%: no run stands out,
    although two are 40% off."""
    tight = [pred(e) for e in (0.01, 0.02, -0.03, 0.05, 0.40)]
    assert far_off_runs(tight) == [tight[4]]
    assert far_off_runs([pred(e) for e in (-0.40, -0.20, 0.0, 0.20, 0.40)]) == []


def test_error_bars_name_the_cross_validation_they_come_from():
    held = [SimpleNamespace(prior_only=False, prediction=SimpleNamespace(
        error=e, run=SimpleNamespace(group="ttft", source="s", id=str(i))))
        for i, e in enumerate((0.1, -0.2, 0.05))]
    assert accuracy(held, "run")["ttft"].method == "leave-one-run-out"
    assert accuracy(held, "3")["ttft"].method == "3-fold cross-validation"
    assert accuracy(held)["ttft"].method == "leave-one-source-out"


def test_a_training_row_left_out_informs_no_training_parameter():
    """GPT-3 175B cannot train on one A100 (its weights alone exceed 80 GB): that row is left
    out, so the fit of the inference row beside it fits inference parameters only."""
    text = ("run,source,kind,metric,measured,device,devices,model,prompt_len,gen_len,batch,"
            "seq_len,global_batch,micro_batch\n"
            "inf,lab,inference,ttft_s,0.02,a100-sxm4-80gb,1,llama2-7b,128,1,1,,,\n"
            "big,lab,training,step_time_s,10,a100-sxm4-80gb,1,gpt3-175b,,,,2048,1,1\n")
    loaded = load_runs(read_runs_text(text))
    fit = fit_device(loaded, loaded[0].device, max_evaluations=20)
    assert [p.run.id for p in fit.infeasible] == ["big"]
    assert not {"sustained_compute", "step_overhead", "kernel_overhead"} & set(fit.fitted)
    assert "inference_compute" in fit.fitted


def test_a_parameter_stopped_at_its_range_is_named():
    """inference_compute may lie in [0.5, 1] (archsim/insitu/fit.py PARAMS): at 0.5 it is
    named, at 0.93 not."""
    from archsim.cli.calibrate_runs import at_bounds
    from archsim.insitu.fit import defaults
    from archsim.spec.loader import load_spec_file

    device = load_spec_file("devices", "a100-sxm4-80gb")

    def cal(value):
        return SimpleNamespace(insitu=device.insitu, fit=SimpleNamespace(
            fitted=["inference_compute"], values={"inference_compute": value},
            defaults=defaults(device)))

    assert at_bounds(cal(0.5)) == [
        "inference_compute 0.5 stopped at the lower end of its physical range: the runs ask for "
        "more than any value in range gives, so what is left of their error is the model's or "
        "theirs"]
    assert at_bounds(cal(0.93)) == []


UNIT_SLIP_RUNS = (
    "run,source,kind,metric,measured,device,devices,model,prompt_len,gen_len,batch,dtype\n"
    "a,lab,inference,ttft_s,0.0162,a100-sxm4-80gb,1,llama2-7b,128,1,1,fp16\n"
    "b,lab,inference,ttft_s,1.62,a100-sxm4-80gb,1,llama2-7b,128,1,1,fp16\n"
    "c,lab,inference,ttft_s,0.1324,a100-sxm4-80gb,1,llama2-7b,2048,1,1,fp16\n")
"""Three A100 TTFT rows of Llama-2-7B (TensorRT-LLM v0.9: 16.2 ms at 128 prompt tokens, 132.4 ms
at 2048), one repeated at 100× its value (1.62 s, a unit slip)."""


def test_calibrate_names_a_run_far_off_among_three(tmp_path, capsys):
    """Three A100 TTFT rows of Llama-2-7B (TensorRT-LLM v0.9: 16.2 ms at 128 prompt tokens,
    132.4 ms at 2048), one repeated at 100× its value (1.62 s, a unit slip): it is named with
    its row, the others are not."""
    from archsim.cli import main

    runs = tmp_path / "runs.csv"
    runs.write_text(UNIT_SLIP_RUNS)
    assert main(["calibrate", "--runs", str(runs), "--out", str(tmp_path / "o.yaml"),
                 "--cv", "none"]) == 0
    out = capsys.readouterr().out
    assert "run b (row 3) is -99% off after the fit: check its row." in out
    assert "run a (row 2)" not in out and "run c (row 4)" not in out


def _overlay(tmp_path, body: str):
    path = tmp_path / "mine.yaml"
    path.write_text("kind: insitu-calibration\n" + body)
    return path


def test_a_bad_value_in_an_overlay_is_the_overlays(tmp_path):
    import pytest

    import archsim
    from archsim.spec.errors import SpecError

    path = _overlay(tmp_path, "devices: {a100-sxm4-80gb: {insitu: {inference_compute: x}}}\n")
    with pytest.raises(SpecError) as err:
        archsim.simulate("llama2-7b-inference-a100", {"calibration": str(path)})
    (problem,) = err.value.problems
    assert problem.startswith(f"{path.resolve()}: devices.a100-sxm4-80gb.insitu."
                              "inference_compute: ")
    assert problem.endswith("(got 'x')")


def test_a_device_the_overlay_does_not_hold_says_it_keeps_its_shipped_calibration(tmp_path):
    import archsim

    path = _overlay(tmp_path, "devices: {a100-sxm4-80gb: {insitu: {}}}\n")
    d = archsim.simulate("llama2-7b-inference-a100", {"calibration": str(path),
                                                      "hardware.device": "h100-sxm5-80gb"})
    assert (f"h100-sxm5-80gb: not in the calibration overlay {path}: its shipped calibration "
            "applies") in d.to_dict()["uncertainty"]["out_of_range"]


def test_an_overlay_fitted_on_inference_runs_keeps_the_profiles_training_calibration(tmp_path):
    """Three A100 TTFT rows inform no training parameter: the overlay keeps the shipped A100's
    fitted training values and its training error bar, and says so in its provenance (it had
    dropped them for the micro-benchmark defaults: a training step 15% faster)."""
    import yaml

    from archsim.cli import main
    from archsim.spec.loader import load_spec_file

    runs = tmp_path / "runs.csv"
    runs.write_text(
        "run,source,kind,metric,measured,device,devices,model,prompt_len,gen_len,batch,dtype,"
        "tp\n"
        "a,lab,inference,ttft_s,0.0162,a100-sxm4-80gb,1,llama2-7b,128,1,1,fp16,1\n"
        "b,lab,inference,ttft_s,0.1324,a100-sxm4-80gb,1,llama2-7b,2048,1,1,fp16,1\n"
        "c,lab,inference,ttft_s,0.0456,a100-sxm4-80gb,4,llama2-70b,128,1,1,fp16,4\n")
    out = tmp_path / "o.yaml"
    assert main(["calibrate", "--runs", str(runs), "--out", str(out), "--cv", "none"]) == 0
    ins = yaml.safe_load(out.read_text())["devices"]["a100-sxm4-80gb"]["insitu"]
    shipped = load_spec_file("devices", "a100-sxm4-80gb").insitu
    kept = ins["provenance"]["kept_from_profile"]
    assert {"sustained_compute", "step_overhead", "kernel_overhead"} <= set(kept)
    assert ins["sustained_compute"] == shipped.sustained_compute
    assert ins["accuracy"]["training"]["mape"] == shipped.accuracy["training"].mape
    assert "training" in ins["calibrated_range"]["kinds"]
    assert ins["calibrated_range"]["by_kind"]["training"]["tp"] == list(
        shipped.calibrated_range.by_kind["training"].tp)


def test_validate_says_when_its_errors_are_in_sample_or_from_the_shipped_profile(tmp_path,
                                                                                  capsys):
    """An overlay validated on the runs it was fitted to (same file hash) shows in-sample
    errors; a device it does not hold is predicted with its shipped calibration."""
    from archsim.cli import main

    runs = tmp_path / "runs.csv"
    runs.write_text(
        "run,source,kind,metric,measured,device,devices,model,prompt_len,gen_len,batch,dtype\n"
        "a,lab,inference,ttft_s,0.0162,a100-sxm4-80gb,1,llama2-7b,128,1,1,fp16\n"
        "b,lab,inference,ttft_s,0.1324,a100-sxm4-80gb,1,llama2-7b,2048,1,1,fp16\n")
    out = tmp_path / "o.yaml"
    assert main(["calibrate", "--runs", str(runs), "--out", str(out), "--cv", "none"]) == 0
    capsys.readouterr()
    assert main(["validate", "--runs", str(runs), "--profile", str(out),
                 "--out", str(tmp_path / "v")]) == 0
    assert (f"note: {out} was fitted to this runs file (a100-sxm4-80gb): the errors above are "
            "in-sample") in capsys.readouterr().out
    other = tmp_path / "h100.csv"
    other.write_text(runs.read_text().replace("a100-sxm4-80gb", "h100-sxm5-80gb"))
    assert main(["validate", "--runs", str(other), "--profile", str(out),
                 "--out", str(tmp_path / "w")]) == 0
    printed = capsys.readouterr().out
    assert (f"note: h100-sxm5-80gb is not in {out}: its runs were predicted with its shipped "
            "calibration") in printed
    assert "in-sample" not in printed


def test_the_checks_outlast_the_console(tmp_path, capsys):
    """A TTFT typed 100× too large: the far-off run and the parameter stopped at its range are
    written to the report beside the overlay, and the overlay's provenance records both (they
    had been printed only)."""
    import yaml

    from archsim.cli import main

    runs = tmp_path / "runs.csv"
    runs.write_text(UNIT_SLIP_RUNS)
    out = tmp_path / "o.yaml"
    assert main(["calibrate", "--runs", str(runs), "--out", str(out), "--cv", "none"]) == 0
    printed = capsys.readouterr().out
    report = out.with_suffix(".md").read_text()
    assert report.startswith("# Check these rows and values\n\n- a100-sxm4-80gb: run b (row 3) "
                             "is -99% off after the fit: check its row.")
    prov = yaml.safe_load(out.read_text())["devices"]["a100-sxm4-80gb"]["insitu"]["provenance"]
    assert prov["far_off_runs"] == ["b"]
    stopped = [line.strip().split(" ")[0] for line in printed.splitlines()
               if "stopped at the" in line]
    assert stopped and prov["at_range_ends"] == stopped
    checks = report.split("# In-sample")[0]
    assert all(f"a100-sxm4-80gb: {name} " in checks for name in stopped)


def test_a_value_fitted_to_a_zero_end_counts_as_stopped_there():
    """The L40S's iteration_overhead was fitted to 26.2 ns of its 0–10 ms range (l40s.yaml):
    2.6e-6 of the range from its lower end, which a tolerance relative to the end (0) could
    not see. Within a thousandth of the range counts (10 µs here); 20 µs does not. A log-scaled
    parameter is judged on its log: kernel_overhead 0.5–40 µs at 0.502 µs is at its end
    (log(0.502/0.5) = 0.004 ≤ 0.001·log(80) = 0.0044), at 0.51 µs not (0.0198)."""
    from types import SimpleNamespace

    from archsim.insitu.overlay import at_range_ends
    from archsim.spec.loader import load_spec_file

    start = load_spec_file("devices", "l40s").insitu
    defaults = {"memory_efficiency": 0.8}

    def stopped(**values):
        return at_range_ends(SimpleNamespace(fitted=list(values), values=values,
                                             defaults=defaults), start)

    assert stopped(iteration_overhead=26.2e-9) == ["iteration_overhead"]
    assert stopped(iteration_overhead=9.995e-3) == ["iteration_overhead"]
    assert stopped(iteration_overhead=20e-6) == []
    assert stopped(kernel_overhead=0.502e-6) == ["kernel_overhead"]
    assert stopped(kernel_overhead=0.51e-6) == []


def test_the_shipped_profiles_say_when_a_runs_file_is_their_own_corpus(tmp_path, capsys):
    """Two rows of the shipped corpus (reference/calibration/runs.csv), one of the H100's
    fitted sources and one run of a lab the profile never saw: validated against the shipped
    profiles, the first is in-sample and said to be (the corpus had come back at 1.6% for the
    MI300X, 34.9% held out, with no word); a file of only the lab's run says nothing."""
    import csv
    import io
    from pathlib import Path

    from archsim.cli import main
    from archsim.spec.loader import load_spec_file

    corpus = Path(__file__).resolve().parents[2] / "reference/calibration/runs.csv"
    text = "".join(line for line in corpus.read_text().splitlines(keepends=True)
                   if not line.startswith("#"))
    rows = list(csv.DictReader(io.StringIO(text)))
    sources = load_spec_file("devices", "h100-sxm5-80gb").insitu.provenance["sources"]
    row = next(r for r in rows if r["device"] == "h100-sxm5-80gb" and r["source"] in sources)
    lab = {**row, "run": "mine", "source": "MY_LAB"}

    def write(path, chosen):
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(row))
        writer.writeheader()
        writer.writerows(chosen)
        path.write_text(out.getvalue())
        return path

    runs = write(tmp_path / "runs.csv", [row, lab])
    assert main(["validate", "--runs", str(runs), "--out", str(tmp_path / "v")]) == 0
    assert ("note: the shipped profiles were fitted to these runs' sources (h100-sxm5-80gb 1 "
            "of 2 runs): their errors above are in-sample; the cross-validated error is each "
            "profile's accuracy block (archsim simulate prints it; README, 'The shipped "
            "calibration')") in capsys.readouterr().out
    mine = write(tmp_path / "mine.csv", [lab])
    assert main(["validate", "--runs", str(mine), "--out", str(tmp_path / "w")]) == 0
    assert "in-sample" not in capsys.readouterr().out
