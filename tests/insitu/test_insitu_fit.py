"""The fit recovers known in-situ parameters from runs simulated with them; a corrupted row is
named and does not drag the fit; the overlay it writes is what every command then uses; the
error bar of a result follows from the accuracy it records."""

import csv
import io
import re
from pathlib import Path

import pytest
import yaml

import archsim
from archsim.accuracy import uncertainty_block
from archsim.cli import main
from archsim.insitu.crossval import cross_validate
from archsim.insitu.fit import fit_device
from archsim.insitu.predict import load_runs, predict
from archsim.insitu.runs import read_runs
from archsim.spec.insitu import AccuracySpec, InSituSpec

TRUTH = {"sustained_compute": 0.75, "memory_efficiency": 0.8, "kernel_overhead": 9e-6,
         "step_overhead": 0.05, "inference_compute": 0.9, "inference_kernel_overhead": 4e-6,
         "iteration_overhead": 2e-3}

COLUMNS = ["run", "source", "kind", "metric", "measured", "device", "devices", "layers",
           "hidden", "heads", "vocab", "seq_len", "global_batch", "micro_batch", "batch",
           "prompt_len", "gen_len", "set"]
# tiny-to-small models on one A100: compute-bound, memory-bound and overhead-bound runs
SHAPES = [  # (layers, hidden, heads, seq or prompt, batch)
    (2, 256, 4, 128, 4), (4, 1024, 16, 512, 8), (8, 2048, 16, 1024, 8), (4, 4096, 32, 2048, 4),
    (12, 768, 12, 512, 32), (6, 3072, 24, 1024, 2)]

ROOT = Path(__file__).resolve().parents[2]


def runs_csv(values: dict[str, float] | None = None, corrupt: int | None = None) -> str:
    """The runs, measured = archsim's prediction with ``values`` (1 placeholder without)."""
    rows = []
    for i, (layers, hidden, heads, seq, batch) in enumerate(SHAPES):
        common = {"device": "a100-sxm4-80gb", "devices": 1, "layers": layers,
                  "hidden": hidden, "heads": heads, "vocab": 8192,
                  "set": f"model.max_seq_len={seq + 64}"}
        rows.append({"run": f"t{i}", "source": f"lab{i % 3}", "kind": "training",
                     "metric": "step_time_s", "measured": 1, "seq_len": seq,
                     "global_batch": batch, "micro_batch": min(batch, 4), **common})
        rows.append({"run": f"i{i}", "source": f"lab{i % 3}", "kind": "inference",
                     "metric": "ttft_s" if i % 2 else "tpot_s", "measured": 1,
                     "prompt_len": seq, "gen_len": 8, "batch": batch, **common})
    if values is not None:
        truth = InSituSpec().model_copy(update=values)  # SI floats, as the fit writes them
        loaded = load_runs(read_runs_text(_write(rows)))
        for row, ld in zip(rows, loaded, strict=True):
            row["measured"] = predict(ld, _with(ld, truth)).predicted
    if corrupt is not None:
        rows[corrupt]["measured"] *= 1.8
    return _write(rows)


def _with(ld, truth: InSituSpec) -> InSituSpec:
    base = ld.device.insitu or InSituSpec()
    return base.model_copy(update={k: getattr(truth, k) for k in TRUTH})


def _write(rows) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def read_runs_text(text: str, tmp=None):
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp())
    path = folder / "runs.csv"
    path.write_text(text)
    return read_runs(path)


@pytest.fixture(scope="module")
def synthetic():
    return load_runs(read_runs_text(runs_csv(TRUTH)))


@pytest.fixture(scope="module")
def fitted(synthetic):
    return fit_device(synthetic, synthetic[0].device)


def test_the_fit_reproduces_runs_made_with_known_parameters(fitted):
    """The runs come back within 1% on average, 5% at worst: the prior toward the
    micro-benchmark defaults trades a little of the fit where the runs hardly tell kernel
    overheads from kernel speed."""
    errors = [abs(p.error) for p in fitted.predictions]
    assert sum(errors) / len(errors) < 0.01 and max(errors) < 0.05


def test_the_fit_recovers_the_parameters_that_made_them(fitted):
    """The parameters the runs constrain come back within 6% (the prior pulls a little toward
    the micro-benchmark defaults: that is its job)."""
    for name in ("sustained_compute", "memory_efficiency", "inference_compute",
                 "step_overhead"):
        assert fitted.values[name] == pytest.approx(TRUTH[name], rel=0.06), name
    for name, value in fitted.values.items():
        from archsim.insitu.fit import PARAMS

        assert PARAMS[name].lo <= value <= PARAMS[name].hi


def test_a_corrupted_row_is_named_and_does_not_drag_the_fit(tmp_path, capsys):
    path = tmp_path / "runs.csv"
    path.write_text(runs_csv(TRUTH, corrupt=4))  # t2's step measured 1.8x too long
    out = tmp_path / "cal.yaml"
    assert main(["calibrate", "--runs", str(path), "--out", str(out), "--cv", "none"]) == 0
    printed = capsys.readouterr().out
    assert "run t2 (row 6) is -" in printed and "check its row" in printed
    cal = yaml.safe_load(out.read_text())["devices"]["a100-sxm4-80gb"]["insitu"]
    assert cal["sustained_compute"] == pytest.approx(TRUTH["sustained_compute"], rel=0.1)


def test_runs_left_out_of_the_fit_are_not_counted_as_fitted(tmp_path, capsys):
    """A 40B-parameter model trained on one 80 GB A100 (its Adam states alone are 640 GB)
    does not run in archsim, and a row of weight 0 is evaluated, not fitted: the overlay's
    provenance and the report count the 12 runs the fit used, not the 14 rows."""
    rows = list(csv.DictReader(io.StringIO(runs_csv(TRUTH))))
    common = {"device": "a100-sxm4-80gb", "devices": 1, "vocab": 8192, "source": "lab9"}
    rows.append({**common, "run": "huge", "kind": "training", "metric": "step_time_s",
                 "measured": 60, "layers": 48, "hidden": 8192, "heads": 64, "seq_len": 2048,
                 "global_batch": 8, "micro_batch": 1})
    # weight 0, and measured far off: predicted and shown apart, never in the in-sample error
    rows.append({**rows[0], "run": "check", "source": "lab8", "weight": 0,
                 "measured": float(rows[0]["measured"]) * 0.3})
    runs = tmp_path / "runs.csv"
    with runs.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[*COLUMNS, "weight"])
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "cal.yaml"
    assert main(["calibrate", "--runs", str(runs), "--out", str(out), "--cv", "none"]) == 0
    printed = capsys.readouterr().out
    assert "run huge (row 14) left out: does not run in archsim" in printed
    ins = yaml.safe_load(out.read_text())["devices"]["a100-sxm4-80gb"]["insitu"]
    assert ins["fitted_from"] == "12 runs (lab0, lab1, lab2)"
    assert ins["provenance"]["runs_used"] == 12
    assert ins["provenance"]["sources"] == ["lab0", "lab1", "lab2"]
    assert "(14 runs, 12 of them fitted)" in out.with_suffix(".md").read_text()
    assert "run check" not in printed.split("in-sample error")[0]  # not a suspect of the fit
    in_sample, unweighted = printed.split("in-sample error")[1].split("runs of weight 0")
    assert "training     6" in in_sample  # the 6 fitted training runs, not 7
    assert "training     1" in unweighted
    assert "Runs of weight 0 (predicted by the fit, not in it)" in \
        out.with_suffix(".md").read_text()


def test_the_overlay_is_what_every_command_uses(tmp_path, capsys):
    runs = tmp_path / "runs.csv"
    runs.write_text(runs_csv(TRUTH))
    out = tmp_path / "cal.yaml"
    assert main(["calibrate", "--runs", str(runs), "--out", str(out), "--cv", "3"]) == 0
    capsys.readouterr()
    data = yaml.safe_load(out.read_text())
    assert data["kind"] == "insitu-calibration"
    assert data["provenance"]["rows"] == 12 and len(data["provenance"]["runs_sha256"]) == 64
    ins = data["devices"]["a100-sxm4-80gb"]["insitu"]
    assert set(ins["accuracy"]) == {"training", "ttft", "tpot"}
    assert ins["calibrated_range"]["kinds"] == ["inference", "training"]
    # validate --runs with the overlay: the runs back within 2% on average
    assert main(["validate", "--runs", str(runs), "--profile", str(out), "--out",
                 str(tmp_path / "v")]) == 0
    text = capsys.readouterr().out
    # one line per kind of run: the 6 training runs, and the 6 inference runs half ttft, half
    # tpot (runs_csv: odd i ttft, even i tpot)
    mapes = {m[1]: (float(m[2]), int(m[3])) for m in re.finditer(
        r"^  (\w+): MAPE ([\d.]+)% over (\d+) runs \(bias ", text, re.MULTILINE)}
    assert {group: runs for group, (_, runs) in mapes.items()} == {
        "training": 6, "ttft": 3, "tpot": 3}, text
    assert max(mape for mape, _ in mapes.values()) < 2.0
    # the overlay through --set on a scenario: its fitted values are the device's
    sc = archsim.load_scenario({"model": "gpt3-1.7b", "hardware": {
        "device": "a100-sxm4-80gb", "count": 1}, "workload": {"kind": "training"},
        "calibration": str(out)})
    assert sc.hardware.device.insitu.sustained_compute == ins["sustained_compute"]
    plain = archsim.load_scenario({"model": "gpt3-1.7b", "hardware": {
        "device": "a100-sxm4-80gb", "count": 1}, "workload": {"kind": "training"},
        "calibration": "uncalibrated"})
    assert plain.hardware.device.insitu.sustained_compute is None  # its default applies
    assert plain.hardware.device.insitu.accuracy == {}
    iso = archsim.load_scenario({"model": "gpt3-1.7b", "hardware": {
        "device": "a100-sxm4-80gb", "count": 1}, "workload": {"kind": "training"},
        "calibration": "isolated"})
    assert iso.hardware.device.insitu is None


def test_cross_validation_predicts_every_run_from_the_others(synthetic):
    held = cross_validate(synthetic, "source")
    assert sorted(h.prediction.run.id for h in held) == sorted(ld.run.id for ld in synthetic)
    assert {h.fold for h in held} == {"lab0", "lab1", "lab2"}
    assert max(abs(h.prediction.error) for h in held) < 0.08  # consistent synthetic runs


def test_a_bad_overlay_path_is_exit_2(capsys):
    assert main(["simulate", "--set", "calibration=nowhere.yaml"]) == 2
    assert "calibration: no such overlay file 'nowhere.yaml'" in capsys.readouterr().err


def test_the_error_bar_of_a_result_by_hand():
    """p10 = −10%, p90 = +20% on time: a predicted 10 s step was measured 10/1.2 … 10/0.9 s;
    a predicted 1000 tokens/s rate was 900 … 1200."""
    acc = AccuracySpec(runs=5, sources=2, mape=0.1, bias=0.05, p10=-0.1, p90=0.2)
    sc = archsim.load_scenario({"model": "gpt3-1.7b", "hardware": {
        "device": "a100-sxm4-80gb", "count": 8}, "workload": {"kind": "training"}})
    device = sc.hardware.device
    device = device.model_copy(update={"insitu": device.insitu.model_copy(update={
        "accuracy": {"training": acc}, "calibrated_range": None})})
    sc = sc.model_copy(update={"hardware": sc.hardware.model_copy(update={"device": device})})
    block = uncertainty_block({"mode": "training", "step_time_s": 10.0,
                               "tokens_per_s": 1000.0}, sc)
    assert block["intervals"]["step_time_s"] == pytest.approx([10 / 1.2, 10 / 0.9])
    assert block["intervals"]["tokens_per_s"] == pytest.approx([900.0, 1200.0])
    assert block["errors"]["training"]["mape"] == 0.1 and block["in_range"]


def test_results_outside_the_calibrated_range_say_so():
    d = archsim.simulate({"model": "gpt3-1.7b", "hardware": {"device": "a100-sxm4-80gb",
                          "count": 4096}, "workload": {"kind": "training", "seq_len": 2048,
                                                       "global_batch": 4096}}).to_dict()
    u = d["uncertainty"]
    assert u["calibrated"] and not u["in_range"]
    assert any("devices 4096 outside the calibrated" in x for x in u["out_of_range"])
    tpu = archsim.simulate({"model": "gpt3-1.7b", "hardware": {"device": "tpu-v5e",
                            "count": 8}, "workload": {"kind": "training"},
                            "plan": {"zero": 3}}).to_dict()
    assert not tpu["uncertainty"]["calibrated"]
    assert "the error of this estimate is unknown" in tpu["uncertainty"]["note"]


def _with_accuracy(sc, acc, calibrated_range=None):
    device = sc.hardware.device
    device = device.model_copy(update={"insitu": device.insitu.model_copy(update={
        "accuracy": {"training": acc}, "calibrated_range": calibrated_range})})
    return sc.model_copy(update={"hardware": sc.hardware.model_copy(update={"device": device})})


def test_a_band_from_too_few_runs_is_widened_to_the_reference_band(monkeypatch):
    """Two held-out runs at +11% and +13% give a 'band' of 2 points: the interval takes the
    reference band −20% … +15% instead, so a predicted 10 s step spans 10/1.15 … 10/0.8 s."""
    import archsim.accuracy as accuracy

    monkeypatch.setattr(accuracy, "reference_band", lambda group: (-0.2, 0.15))
    acc = AccuracySpec(runs=2, sources=1, mape=0.12, bias=0.12, p10=0.11, p90=0.13)
    sc = _with_accuracy(archsim.load_scenario({"model": "gpt3-1.7b", "hardware": {
        "device": "a100-sxm4-80gb", "count": 8}, "workload": {"kind": "training"}}), acc)
    block = uncertainty_block({"mode": "training", "step_time_s": 10.0}, sc)
    assert block["intervals"]["step_time_s"] == pytest.approx([10 / 1.15, 10 / 0.8])
    err = block["errors"]["training"]
    assert (err["p10"], err["p90"]) == (-0.2, 0.15) and err["mape"] == 0.12
    assert err["widened"].startswith("2 held-out runs cannot fix an 80% band")
    # five runs and in range: the profile's own band stands
    acc5 = acc.model_copy(update={"runs": 5})
    block = uncertainty_block({"mode": "training", "step_time_s": 10.0},
                              _with_accuracy(sc, acc5))
    assert block["intervals"]["step_time_s"] == pytest.approx([10 / 1.13, 10 / 1.11])
    assert "widened" not in block["errors"]["training"]


def test_an_extrapolation_takes_the_union_of_its_band_and_the_reference(monkeypatch):
    """Own band −5% … +25%, reference −20% … +15%, the run outside the calibrated device
    count: the interval is the union −20% … +25%."""
    import archsim.accuracy as accuracy
    from archsim.spec.insitu import CalibratedRange

    monkeypatch.setattr(accuracy, "reference_band", lambda group: (-0.2, 0.15))
    acc = AccuracySpec(runs=9, sources=2, mape=0.1, bias=0.05, p10=-0.05, p90=0.25)
    sc = _with_accuracy(archsim.load_scenario({"model": "gpt3-1.7b", "hardware": {
        "device": "a100-sxm4-80gb", "count": 8}, "workload": {"kind": "training"}}), acc,
        CalibratedRange(devices=(1, 4)))
    block = uncertainty_block({"mode": "training", "step_time_s": 10.0}, sc)
    assert block["intervals"]["step_time_s"] == pytest.approx([10 / 1.25, 10 / 0.8])
    assert block["errors"]["training"]["widened"].startswith("outside the calibrated range")
    assert not block["in_range"]


def test_the_reference_band_is_the_widest_well_sampled_profile_band():
    """Read the shipped profiles directly: the lowest p10 and highest p90 of training
    accuracy blocks with at least 5 runs."""
    from archsim.accuracy import MIN_RUNS_FOR_SPREAD, reference_band

    lows, highs = [], []
    for path in (ROOT / "hardware_profiles/devices").glob("*.yaml"):
        acc = ((yaml.safe_load(path.read_text()).get("insitu") or {}).get("accuracy") or {})
        t = acc.get("training")
        if t and t["runs"] >= MIN_RUNS_FOR_SPREAD:
            lows.append(t["p10"])
            highs.append(t["p90"])
    assert lows, "no shipped profile has 5 training runs"
    assert reference_band("training") == (min(lows), max(highs))


def test_tensor_parallel_inference_runs_inform_the_collective_efficiency():
    """Inference alone on several devices (an inference-only profile such as the L40S's) is
    enough to fit the in-run collective bandwidth: each TP all-reduce of a prefill runs at it.
    Runs made with collective_efficiency 0.6 give it back when it is the parameter fitted."""
    from archsim.insitu.fit import informed

    rows = []
    for i, (tp, prompt) in enumerate([(2, 2048), (4, 2048), (8, 1024), (4, 512)]):
        rows.append({"run": f"p{i}", "source": "lab", "kind": "inference", "metric": "ttft_s",
                     "measured": 1, "device": "a100-sxm4-80gb", "devices": tp, "layers": 8,
                     "hidden": 8192, "heads": 64, "vocab": 32000, "prompt_len": prompt,
                     "gen_len": 1, "batch": 8,
                     "set": f"plan.tp={tp}; model.max_seq_len={prompt + 64}"})
    loaded = load_runs(read_runs_text(_write(rows)))
    assert "collective_efficiency" in informed(loaded)
    truth = {"collective_efficiency": 0.6}
    for row, ld in zip(rows, loaded, strict=True):
        base = ld.device.insitu or InSituSpec()
        row["measured"] = predict(ld, base.model_copy(update=truth)).predicted
    loaded = load_runs(read_runs_text(_write(rows)))
    fit = fit_device(loaded, loaded[0].device, names=["collective_efficiency"])
    assert fit.values["collective_efficiency"] == pytest.approx(0.6, rel=0.05)


def test_the_memory_efficiency_is_bounded_by_the_devices_fastest_streaming_kernel():
    """The A100 profile's BabelStream dot (1.75 of 2.039 TB/s = 0.858) bounds a fitted
    memory efficiency; without a measured ceiling the general bound (0.95) holds; a prior above
    the ceiling stays reachable."""
    from archsim.insitu.fit import PARAMS, bounds_for
    from archsim.spec.loader import load_spec_file

    ins = load_spec_file("devices", "a100-sxm4-80gb").insitu
    assert ins.memory_ceiling == pytest.approx(1.75 / 2.039, abs=5e-4)
    prior = {"memory_efficiency": 0.834}  # BabelStream triad, 1.70 of 2.039 TB/s
    assert bounds_for(ins, prior)["memory_efficiency"].hi == pytest.approx(0.858)
    assert bounds_for(InSituSpec(), prior)["memory_efficiency"].hi == \
        PARAMS["memory_efficiency"].hi == 0.95
    assert bounds_for(ins, {"memory_efficiency": 0.9})["memory_efficiency"].hi == 0.9


def test_runs_that_stream_faster_than_the_ceiling_pin_the_fit_at_it():
    """Decode steps of a 16-layer, 4096-wide model at batch 1 (memory-bound: 3.4 GB of bf16
    weights per token) made with memory efficiency 0.93: fitted on the A100 profile (ceiling
    0.858) the efficiency stops at the ceiling; without the ceiling the same runs give 0.93."""
    rows = [{"run": f"d{b}", "source": "lab", "kind": "inference", "metric": "tpot_s",
             "measured": 1, "device": "a100-sxm4-80gb", "devices": 1, "layers": 16,
             "hidden": 4096, "heads": 32, "vocab": 32000, "prompt_len": 128, "gen_len": 8,
             "batch": b, "set": "model.max_seq_len=256"} for b in (1, 2, 4)]
    base = load_runs(read_runs_text(_write(rows)))[0].device
    from archsim.insitu.fit import uncalibrated

    # every other parameter at the default the fit holds it at
    truth = uncalibrated(base).model_copy(update={"memory_efficiency": 0.93})
    for row, ld in zip(rows, load_runs(read_runs_text(_write(rows))), strict=True):
        row["measured"] = predict(ld, truth).predicted
    runs = load_runs(read_runs_text(_write(rows)))
    free_base = base.model_copy(update={
        "insitu": base.insitu.model_copy(update={"memory_ceiling": None})})
    capped = fit_device(runs, base, names=["memory_efficiency"]).values["memory_efficiency"]
    free = fit_device(runs, free_base, names=["memory_efficiency"]).values["memory_efficiency"]
    assert capped == pytest.approx(0.858, abs=0.002)
    assert free == pytest.approx(0.93, abs=0.01)


def test_encoders_and_sparse_weights_outside_decoder_dense_runs_say_so():
    """A profile calibrated on dense decoders says a 2:4-sparse encoder lies outside its runs;
    an overlay from before these were recorded (empty lists) says nothing of them."""
    from archsim.accuracy import out_of_range
    from archsim.insitu.overlay import calibrated_range
    from archsim.spec.insitu import CalibratedRange

    bert = archsim.load_scenario("bert-large-2of4-a100")
    device = bert.hardware.device
    seen = CalibratedRange(kinds=["inference"], attention=["causal"], sparsity=["dense"])
    spec = device.model_copy(update={"insitu": device.insitu.model_copy(
        update={"calibrated_range": seen})})
    assert out_of_range(bert, spec) == [
        "a100-sxm4-80gb: attention bidirectional; calibrated on causal only",
        "a100-sxm4-80gb: weights 2:4; calibrated on dense only"]
    old = spec.model_copy(update={"insitu": spec.insitu.model_copy(
        update={"calibrated_range": CalibratedRange(kinds=["inference"])})})
    assert out_of_range(bert, old) == []

    from archsim.insitu.predict import Loaded
    from archsim.insitu.runs import Run

    got = calibrated_range([Loaded(Run(id="b", source="s", kind="inference", metric="ttft_s",
                                       measured=0.01, scenario={}), bert)])
    assert (got.attention, got.sparsity) == (["bidirectional"], ["2:4"])


def test_cuda_graphs_outside_streamed_runs_say_so():
    """The H100's inference runs (TensorRT-LLM v0.9's gptSessionBenchmark, no CUDA graphs:
    reference/calibration/RUNS.md) fitted a cost per streamed kernel; a deployment that replays
    graphs pays the profile's graph launch instead, outside what was calibrated. The range
    records the runs' launch path."""
    from archsim.accuracy import out_of_range
    from archsim.insitu.overlay import calibrated_range
    from archsim.insitu.predict import Loaded
    from archsim.insitu.runs import Run
    from archsim.spec.insitu import CalibratedRange

    sc = {"model": "llama2-7b", "hardware": {"device": "h100-sxm5-80gb", "count": 1},
          "workload": {"kind": "inference", "batch": 1, "prompt_len": 512, "gen_len": 64,
                       "cuda_graphs": True}}
    graphs = archsim.load_scenario(sc)
    device = graphs.hardware.device
    spec = device.model_copy(update={"insitu": device.insitu.model_copy(
        update={"calibrated_range": CalibratedRange(kinds=["inference"],
                                                    launch=["streamed"])})})
    assert out_of_range(graphs, spec) == [
        "h100-sxm5-80gb: kernels graphs (workload.cuda_graphs); calibrated on streamed runs "
        "only (their fitted cost per kernel is not this launch path's)"]
    streamed = archsim.load_scenario({**sc, "workload": {**sc["workload"],
                                                          "cuda_graphs": False}})
    assert out_of_range(streamed, spec) == []
    got = calibrated_range([Loaded(Run(id=i, source="s", kind="inference", metric="tpot_s",
                                       measured=0.01, scenario={}), s)
                            for i, s in (("a", graphs), ("b", streamed))])
    assert got.launch == ["graphs", "streamed"]


def test_a_metric_set_by_an_uncalibrated_device_gets_no_band():
    """Prompts prefill on H100s (calibrated), tokens decode on Inferentia2 (no runs): TTFT keeps
    the H100's band; TPOT, throughput and cost, which the Inferentia2 sets, get none."""
    d = archsim.simulate("llama2-7b-disagg-h100-inf2").to_dict()
    u = d["uncertainty"]
    assert not u["calibrated"] and "no measured runs calibrate inferentia2" in u["note"]
    assert set(u["intervals"]) == {"ttft_p50_s", "ttft_p99_s"}
    assert set(u["errors"]) == {"ttft"}


def test_a_proxied_band_widens_as_the_runs_it_was_read_off():
    """Latency read off 3 throughput runs widens to the throughput reference band, not to the
    (MI300X) end-to-end one: for a static batch, latency = tokens / throughput, so their
    intervals must agree."""
    from archsim.accuracy import reference_band

    acc = AccuracySpec(runs=3, sources=1, mape=0.01, bias=0.0, p10=-0.01, p90=0.01)
    sc = archsim.load_scenario("llama2-7b-inference-a100")
    device = sc.hardware.device
    device = device.model_copy(update={"insitu": device.insitu.model_copy(update={
        "accuracy": {"throughput": acc}, "calibrated_range": None})})
    sc = sc.model_copy(update={"hardware": sc.hardware.model_copy(update={"device": device})})
    tokens = 2048.0
    block = uncertainty_block({"mode": "inference", "e2e_latency_s": 4.0,
                               "tokens_per_s": tokens / 4.0}, sc)
    lo, hi = reference_band("throughput")
    # error = predicted / measured time − 1: the measured latency is 4 s / (1 + error)
    assert block["intervals"]["e2e_latency_s"] == pytest.approx([4.0 / (1 + hi),
                                                                4.0 / (1 + lo)])
    assert block["intervals"]["tokens_per_s"] == pytest.approx(
        [tokens / x for x in reversed(block["intervals"]["e2e_latency_s"])])


def test_each_kind_of_run_has_its_own_spans_and_training_its_step_times():
    """Two training runs on 8 and 64 GPUs and a one-GPU inference run: training's device span
    is 8–64 (the mixed span 1–64); a run measured at 1000 tokens/s per device on 8 GPUs with 16
    sequences of 2048 tokens per step took 16 × 2048 / (1000 × 8) = 4.096 s, one measured at
    a 2.5 s step 2.5 s."""
    from archsim.insitu.overlay import calibrated_range
    from archsim.insitu.predict import Loaded
    from archsim.insitu.runs import Run

    def loaded(kind, metric, measured, devices, **wl):
        sc = archsim.load_scenario({"model": "gpt3-1.7b", "hardware": {
            "device": "a100-sxm4-80gb", "count": devices}, "workload": {"kind": kind, **wl}})
        return Loaded(Run(id=f"{kind}{devices}", source="s", kind=kind, metric=metric,
                          measured=measured, scenario={}), sc)

    got = calibrated_range([
        loaded("training", "tokens_per_s_per_device", 1000.0, 8, seq_len=2048,
               global_batch=16),
        loaded("training", "step_time_s", 2.5, 64, seq_len=2048, global_batch=64),
        loaded("inference", "ttft_s", 0.1, 1, batch=1, prompt_len=128, gen_len=8)])
    assert got.devices == (1, 64)
    assert got.by_kind["training"].devices == (8, 64)
    assert got.by_kind["training"].step_time_s == pytest.approx((2.5, 4.096))
    assert got.by_kind["inference"].devices == (1, 1)
    assert got.by_kind["inference"].step_time_s is None


def test_a_one_gpu_training_step_shorter_than_any_calibrated_one_says_so():
    """A profile whose training runs span 8–512 GPUs and 0.6–20 s steps, with a fitted 20 ms
    fixed cost per step: a 50 ms step on one GPU is outside on both counts, the fixed cost
    20 / 50 = 40% of it. Inference runs on one GPU do not make one-GPU training in range."""
    from archsim.accuracy import out_of_range
    from archsim.spec.insitu import CalibratedRange, KindRange

    sc = archsim.load_scenario({"model": "gpt3-1.7b", "hardware": {
        "device": "a100-sxm4-80gb", "count": 1}, "workload": {"kind": "training"}})
    device = sc.hardware.device
    seen = CalibratedRange(kinds=["inference", "training"], devices=(1, 512), by_kind={
        "training": KindRange(devices=(8, 512), step_time_s=(0.6, 20.0)),
        "inference": KindRange(devices=(1, 8))})
    spec = device.model_copy(update={"insitu": device.insitu.model_copy(
        update={"calibrated_range": seen, "step_overhead": 0.02})})
    assert out_of_range(sc, spec, {"step_time_s": 0.05}) == [
        "a100-sxm4-80gb: devices 1 outside the calibrated 8–512 of its training runs",
        "a100-sxm4-80gb: step 50 ms shorter than the shortest calibrated training step "
        "(600 ms); its fitted fixed cost per step (insitu.step_overhead 20 ms) is 40% of it"]
    assert out_of_range(sc, spec, {"step_time_s": 0.7})[1:] == []  # a step inside the span
    # an overlay from before the kinds were split: the mixed span, no step check
    old = spec.model_copy(update={"insitu": spec.insitu.model_copy(update={
        "calibrated_range": CalibratedRange(kinds=["inference", "training"],
                                            devices=(1, 512))})})
    assert out_of_range(sc, old, {"step_time_s": 0.05}) == []


def test_values_fitted_to_one_kind_of_run_stay_with_that_kind():
    """The MI300X profile is calibrated on vLLM inference runs only: its fitted memory and
    collective efficiencies (read from the profile file) apply to inference; a training run
    takes their micro-benchmark defaults and says it lies outside the calibration."""
    raw = yaml.safe_load((ROOT / "hardware_profiles/devices/mi300x.yaml").read_text())["insitu"]
    assert raw["calibrated_range"]["kinds"] == ["inference"]
    assert {"memory_efficiency", "collective_efficiency"} <= set(raw["fitted"])
    hw = {"device": "mi300x", "count": 8}
    infer = archsim.load_scenario({"model": "llama2-7b", "hardware": hw, "workload": {
        "kind": "inference", "batch": 1, "prompt_len": 128, "gen_len": 8}}).hardware.device
    assert infer.insitu.memory_efficiency == raw["memory_efficiency"]
    assert infer.insitu.collective_efficiency == raw["collective_efficiency"]
    train = archsim.load_scenario({"model": "llama2-7b", "hardware": hw, "workload": {
        "kind": "training", "seq_len": 2048, "global_batch": 16}})
    ins = train.hardware.device.insitu
    assert ins.memory_efficiency is None and ins.collective_efficiency is None
    assert "memory_efficiency" not in ins.fitted
    defaults = raw.get("defaults", {})
    assert ins.value("memory_efficiency", train.hardware.device.efficiency.memory, 0.0) == \
        defaults.get("memory_efficiency", train.hardware.device.efficiency.memory)
    d = archsim.simulate(train).to_dict()
    assert "mi300x: calibrated on inference runs only, not training" in \
        d["uncertainty"]["out_of_range"]


def test_int4_weights_and_experts_outside_bf16_dense_runs_say_so():
    """A profile calibrated on dense models with bf16 and fp8 weights: Llama-2-70B with int4
    weights (W4A16, its GEMMs in bf16) and a mixture-of-experts model lie outside it; fp16
    weights count as bf16."""
    from archsim.accuracy import out_of_range
    from archsim.spec.insitu import CalibratedRange

    seen = CalibratedRange(kinds=["inference", "training"], weights=["bf16", "fp8"],
                           layers=["dense"])

    def ranged(sc):
        device = sc.hardware.device
        return device.model_copy(update={"insitu": device.insitu.model_copy(
            update={"calibrated_range": seen})})

    int4 = archsim.load_scenario("llama2-70b-int4-1xh100")
    assert out_of_range(int4, ranged(int4)) == [
        "h100-sxm5-80gb: weights in int4; calibrated on bf16, fp8 only"]
    moe = archsim.load_scenario({"model": "mixtral-8x7b", "hardware": {
        "device": "h100-sxm5-80gb", "count": 8}, "workload": {"kind": "training",
                                                               "dtype": "fp16"}})
    assert out_of_range(moe, ranged(moe)) == [
        "h100-sxm5-80gb: layers moe; calibrated on dense only"]
    # the shipped H100 profile records what its runs had
    rng = int4.hardware.device.insitu.calibrated_range
    assert rng.weights == ["bf16", "fp8"] and rng.layers == ["dense"]


def test_accelerators_without_training_runs_take_the_calibrated_gpus_sustained_compute():
    """The GPUs, TPUs and training ASICs with no training run in the corpus: their sustained
    compute (GEMMs in a training step / the MAMF or isolated ceiling) is the mean of the
    A100-80GB's and H100's fitted values, read here from the profiles (within 0.01: a refit
    that moves them should move the prior); the H100 PCIe takes its SXM sibling's."""
    def fitted(name):
        raw = yaml.safe_load((ROOT / f"hardware_profiles/devices/{name}.yaml").read_text())
        return raw["insitu"]["sustained_compute"]

    prior = (fitted("a100-sxm4-80gb") + fitted("h100-sxm5-80gb")) / 2
    for name in ("b200", "l40s", "mi300x", "mi250x", "h100-pcie-80gb", "gaudi2", "gaudi3",
                 "trainium2", "tpu-v4", "tpu-v5e", "tpu-v5p", "tpu-v6e"):
        sc = archsim.load_scenario({"model": "llama2-7b", "hardware": {"device": name,
                                    "count": 8}, "workload": {"kind": "training"}})
        ins = sc.hardware.device.insitu
        assert "sustained_compute" not in ins.fitted
        expected = fitted("h100-sxm5-80gb") if name == "h100-pcie-80gb" else prior
        assert ins.value("sustained_compute", 0.0, 0.0) == pytest.approx(expected, abs=0.01)


def test_inference_replicas_are_judged_one_engine_at_a_time():
    """Inference runs record one engine's devices (tp·pp): sixteen tp-1 replicas of a
    profile calibrated on engines of 1–8 GPUs are inside it; one tp-16 engine is not."""
    from archsim.accuracy import out_of_range
    from archsim.spec.insitu import CalibratedRange, KindRange

    seen = CalibratedRange(kinds=["inference"], by_kind={
        "inference": KindRange(devices=(1, 8), tp=(1, 8), pp=(1, 1))})

    def ranged(sc):
        device = sc.hardware.device
        return device.model_copy(update={"insitu": device.insitu.model_copy(
            update={"calibrated_range": seen})})

    replicas = archsim.load_scenario("llama2-7b-inference-a100",
                                     ["hardware.count=16", "workload.batch=16"])
    assert out_of_range(replicas, ranged(replicas)) == []
    wide = archsim.load_scenario("llama2-7b-inference-a100",
                                 ["hardware.count=16", "plan.tp=16", "workload.batch=16"])
    assert out_of_range(wide, ranged(wide)) == [
        "a100-sxm4-80gb: devices per replica 16 outside the calibrated 1–8 of its inference "
        "runs", "a100-sxm4-80gb: tp 16 outside the calibrated 1–8 of its inference runs"]


def test_the_shared_fitted_parameters_are_those_both_kinds_inform():
    """spec/calibration.py keeps its own list (the spec layer does not import the fit): it must
    name exactly the fitted parameters whose runs are of both kinds."""
    from archsim.insitu.fit import PARAMS
    from archsim.spec.calibration import SHARED_FITTED

    both = {n for n, p in PARAMS.items() if {"training", "inference"} <= set(p.kinds)}
    assert set(SHARED_FITTED) == both


def test_a_sibling_shares_only_the_fixed_costs_its_parent_fitted():
    """H100 training runs and H200 inference runs (the H200's prior_from is the H100): the
    H200 takes the H100's fitted cost per training step and kernel as they are (SHARED_FIXED),
    and fits its own costs per inference kernel and pass, which no H100 run informed — the
    H100's unfitted micro-benchmark defaults (5 µs, 0) are no evidence to freeze."""
    from archsim.insitu.overlay import calibrate_runs

    loaded = load_runs(read_runs(ROOT / "reference" / "calibration" / "runs.csv"))
    h100 = [ld for ld in loaded if ld.device.name == "h100-sxm5-80gb"
            and ld.run.kind == "training"][:2]
    h200 = [ld for ld in loaded if ld.device.name == "h200-sxm-141gb"
            and ld.run.kind == "inference"][:3]
    fits = {c.device: c.fit for c in calibrate_runs(h100 + h200, cv="none")}
    parent, child = fits["h100-sxm5-80gb"], fits["h200-sxm-141gb"]
    assert {"step_overhead", "kernel_overhead"} <= set(parent.fitted)
    assert not {"inference_kernel_overhead", "iteration_overhead"} & set(parent.fitted)
    assert {"inference_kernel_overhead", "iteration_overhead"} <= set(child.fitted)
    assert {"step_overhead", "kernel_overhead"} <= set(child.inherited)
    for name in ("step_overhead", "kernel_overhead"):
        assert child.values[name] == parent.values[name]


def test_an_overlay_fitted_without_cross_validation_is_called_fitted_not_uncalibrated(
        tmp_path, capsys):
    """calibrate --cv none fits the device but measures no held-out error: a result says it was
    fitted and that its error is unknown, and how to measure it (it had said no measured runs
    calibrate the device, and advised calibrating it)."""
    runs = tmp_path / "runs.csv"
    runs.write_text(runs_csv(TRUTH))
    out = tmp_path / "cal.yaml"
    assert main(["calibrate", "--runs", str(runs), "--out", str(out), "--cv", "none"]) == 0
    capsys.readouterr()
    d = archsim.simulate({"model": "gpt3-1.7b", "hardware": {"device": "a100-sxm4-80gb",
                                                             "count": 1},
                          "workload": {"kind": "training", "seq_len": 512, "global_batch": 8,
                                       "micro_batch": 1},
                          "calibration": str(out)}).to_dict()
    assert not d["uncertainty"]["calibrated"]
    assert d["uncertainty"]["note"] == (
        "a100-sxm4-80gb was fitted to measured runs without cross-validation (archsim "
        "calibrate --cv none): the error of this estimate is unknown (calibrate with --cv "
        "source, a fold count or run to measure it)")


def test_a_report_under_a_users_calibration_names_it_and_keeps_the_corpus_apart(tmp_path,
                                                                                 capsys):
    """A report computed with an overlay of the user's runs: its error bar is the overlay's,
    on measured (not published) runs, named; the profile's validation rows are the shipped
    corpus's, said to be for comparison (they had been called the answer's error bar, and the
    overlay appeared nowhere)."""
    from archsim.report import ReportOptions, build_report

    runs = tmp_path / "runs.csv"
    runs.write_text(runs_csv(TRUTH))
    out = tmp_path / "cal.yaml"
    assert main(["calibrate", "--runs", str(runs), "--out", str(out), "--cv", "3"]) == 0
    capsys.readouterr()
    sc = tmp_path / "train.yaml"
    sc.write_text("model: gpt3-1.7b\nhardware: {device: a100-sxm4-80gb, count: 1}\n"
                  "workload: {kind: training, seq_len: 512, global_batch: 8, micro_batch: 1}\n"
                  f"calibration: {out}\n")
    report = build_report(sc, options=ReportOptions(scaling=False, planner=False))
    answer = " ".join(getattr(b, "text", "") for s in report.sections if s.id == "answer"
                      for b in s.blocks)
    assert f"the calibration {out}'s cross-validated error on measured runs" in answer
    assert "held-out measured runs" in answer and "published run" not in answer
    validation = next(s for s in report.sections if s.id == "validation")
    first = validation.blocks[0].text
    assert first.startswith(f"The answers of this report were computed with the calibration "
                            f"{out}")
    assert "they are not this answer's error bar" in first


def test_a_fold_that_leaves_no_run_of_a_kind_says_its_runs_came_from_the_defaults(tmp_path,
                                                                                  capsys):
    """Training logs from one source, inference logs from another: leaving either source out
    leaves no run of its kind, so its runs are predicted from that kind's micro-benchmark
    defaults. The overlay counts them as from the defaults (it had counted that error as the
    fit's held-out error, without a word)."""
    rows = list(csv.DictReader(io.StringIO(runs_csv(TRUTH))))
    for row in rows:
        row["source"] = "TRAIN_LOGS" if row["kind"] == "training" else "INFER_LOGS"
    runs = tmp_path / "runs.csv"
    with runs.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "cal.yaml"
    assert main(["calibrate", "--runs", str(runs), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    acc = yaml.safe_load(out.read_text())["devices"]["a100-sxm4-80gb"]["insitu"]["accuracy"]
    training = sum(r["kind"] == "training" for r in rows)
    assert acc["training"]["from_defaults"] == acc["training"]["runs"] == training
    assert all(a["from_defaults"] == a["runs"] for a in acc.values())
    assert "predicted from the micro-benchmark defaults of their kind's parameters" in printed
