"""The real thing on this machine's CPU: a quick calibration, the reduced validation set and the
two-process check, end to end through the CLI (1–1.5 min on 2 cores).

Targets are asserted loosely here (CI machines are shared and noisy; tiny models are dominated
by per-op overheads); the issue's targets are asserted by the full run, which is skipped unless
ARCHSIM_FULL_VALIDATION=1 (about 10 minutes; see the README).
"""

from __future__ import annotations

import json
import os

import pytest
import yaml

torch = pytest.importorskip("torch")

from archsim import simulate  # noqa: E402
from archsim.cli import main  # noqa: E402
from archsim.spec.device import DeviceSpec  # noqa: E402

THREADS = "1"
"""One thread per process: on a shared 2-core CI machine a second thread waits on a core that
other jobs hold; the distributed check's two ranks take one core each."""


@pytest.fixture(scope="module")
def profile(tmp_path_factory):
    path = tmp_path_factory.mktemp("cal") / "cpu.yaml"
    assert main(["calibrate", "--device", "cpu", "--quick", "--threads", THREADS,
                 "--out", str(path), "--name", "ci-cpu"]) == 0
    return path


def test_calibrated_profile_is_a_device_with_its_measurements(profile):
    data = yaml.safe_load(profile.read_text())
    spec = DeviceSpec.model_validate(data)
    assert spec.name == "ci-cpu" and spec.kind == "cpu"
    assert spec.peak["fp32"] > 1e9  # a CPU core does more than a GFLOP/s of fp32 GEMM
    # the vector peak is the fp32 GEMM peak itself (archsim/validate/fit.py: elementwise
    # kernels run on the same FMA units); calibrate writes both to the YAML as quantities at 6
    # significant digits and they are parsed back separately, so the 1e-6 slack covers only
    # that write/parse rounding, not a difference between the two
    assert spec.peak["fp32"] <= spec.vector_flops * 1.000001
    assert 0 < spec.launch_overhead < 1e-3
    cal = data["calibration"]
    assert cal["info"]["threads"] == 1 and cal["info"]["device"] == "cpu"
    raw = cal["raw"]
    assert {"overhead", "gemm", "memory", "vector", "loss", "attention", "optimizer",
            "framework", "streaming"} <= set(raw)
    assert len(raw["gemm"]) == 4 * 4 * 3 + 4 * 3  # fp32 grid × 3 layouts + 4 bf16 shapes × 3
    # 2 families × 1 and 3 layers × decode and training steps
    assert len(raw["framework"]) == 8
    assert all(r["time_s"] > 0 for r in raw["framework"])
    # the in-model costs land in the profile as micro-benchmark defaults of its in-situ block
    defaults = data["insitu"]["defaults"]
    assert set(defaults) == {"kernel_overhead", "step_overhead", "inference_kernel_overhead",
                             "iteration_overhead"}
    assert defaults["kernel_overhead"] > 0 and defaults["inference_kernel_overhead"] > 0
    # the streaming benchmark: 2 families × the quick grid's 2 widths, each step timed with
    # its weight GEMMs' op ranges inside it, and one point per width in the in-situ block
    assert [(r["model"], r["width"]) for r in raw["streaming"]] == [
        ("gpt", 16), ("llama", 16), ("gpt", 384), ("llama", 384)]
    assert all(0 < inside < step for r in raw["streaming"] for step, inside in r["runs"])
    # cold steps beside the hot ones, one per hot step, on copies that together stream at
    # least ROTATE_BYTES (capped at MAX_COPIES copies for tiny models)
    from archsim.validate.bench import MAX_COPIES, ROTATE_BYTES

    for r in raw["streaming"]:
        assert len(r["cold_runs"]) == len(r["runs"])
        assert all(0 < inside < step for step, inside in r["cold_runs"])
        others = (r["cold_copies"] - 1) * r["model_weight_bytes"]  # between two uses of one
        assert r["cold_copies"] == MAX_COPIES + 1 or others >= ROTATE_BYTES
    curve = spec.insitu.inference_op_overhead_by_pass_bytes
    assert len(curve) == 2 and all(cost > 0 for _, cost in curve)
    # the weight-read scale: width 384 only (width 16's reads take less than its GEMMs' fixed
    # costs), at the same pass bytes as the op-cost curve's second point
    scale = spec.insitu.inference_weight_read_scale_by_pass_bytes
    assert [b for b, _ in scale] == [curve[1][0]] and 0.1 <= scale[0][1] <= 10
    # the quick grid times attention at 256 queries with and without the causal mask: how
    # much of the masked work the kernel skips (efficiency.causal_skip)
    skip = data["efficiency"]["causal_skip"]
    assert [q for q, _ in skip] == [256] and 0 <= skip[0][1] <= 1
    assert "# best measured FLOP/s" in profile.read_text()  # values carry their source


def test_simulate_accepts_the_profile_by_path(profile):
    result = simulate({"model": {"layers": 2, "hidden": 256, "heads": 4, "vocab": 4096},
                       "hardware": {"device": str(profile), "count": 1},
                       "workload": {"kind": "training", "seq_len": 128, "global_batch": 4,
                                    "micro_batch": 4, "dtype": "fp32"}})
    assert result.feasible and result["step_time_s"] > 0


def test_reduced_validation_and_two_processes(profile, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["validate", "--device", "cpu", "--quick", "--threads", THREADS,
                 "--profile", str(profile), "--out", str(out), "--repeats", "3",
                 "--rounds", "2", "--distributed", "--rank-profile", str(profile)]) == 0
    printed = capsys.readouterr().out
    assert "end-to-end MAPE" in printed
    report = json.loads((out / "validation.json").read_text())
    s = report["summary"]
    assert s["cases"] == 5 and len(s["models"]) == 3
    assert set(s["e2e_mape_by_mode"]) == {"training", "inference"}
    # loose bounds (see the module docstring); the full run asserts the issue's targets
    assert s["e2e_mape_by_mode"]["training"] <= 0.35
    assert s["e2e_mape_by_mode"]["inference"] <= 0.6
    assert s["matmul_op_mape"] <= 0.5
    for case in report["cases"]:
        ops = {row["op"] for row in case["ops"]}
        assert {"qkv", "attn", "proj", "fc1", "fc2", "logits"} <= ops
        # two rounds: each metric timed in both, measured = the median (mean) of the two
        assert set(case["rounds"]) == set(case["measured"])
        for metric, values in case["rounds"].items():
            assert len(values) == 2
            assert case["measured"][metric] == pytest.approx(sum(values) / 2)
    assert report["meta"]["rounds"] == 2
    # the summary's count against its definition: a case counts when its end-to-end metric's
    # rounds lie further apart, (max − min) / median (the median of two rounds is their mean),
    # than its end-to-end error |predicted / measured − 1| is large
    beyond = 0
    for case in report["cases"]:
        metric = {"training": "step_time_s", "inference": "e2e_latency_s"}[case["mode"]]
        a, b = case["rounds"][metric]
        beyond += (max(a, b) - min(a, b)) / ((a + b) / 2) > abs(case["errors"][metric])
    assert s["rounds_apart_beyond_error"] == beyond
    assert (f"rounds: {beyond} of 5 cases lay further apart over the rounds than their "
            "end-to-end error") in printed.splitlines()
    md = (out / "validation.md").read_text()
    assert "## Two processes (torch.distributed)" in md
    # the profile's calibration records timed again around the cases, each against its own
    # record (archsim/validate/drift.py)
    drift = report["machine_drift"]
    assert [r["probe"] for r in drift["rows"]] == ["GEMM", "GEMV", "copy", "tiny ops"]
    cal = yaml.safe_load(profile.read_text())["calibration"]
    assert drift["calibrated_at"] == cal["info"]["taken_at"]
    for row in drift["rows"]:
        assert row["before_s"] > 0 and row["after_s"] > 0
        assert row["before_ratio"] == pytest.approx(row["before_s"] / row["calibrated_s"])
    assert "## The machine against its calibration" in md
    # and the cheap probes right before each case
    for case in report["cases"]:
        assert set(case["machine"]) == {"GEMV", "tiny ops"}
        assert all(r > 0 for r in case["machine"].values())
    assert "| machine now / then |" in md
    assert "machine against its calibration (time now / then" in printed
    dist = report["distributed"]
    assert dist["info"]["backend"] == "gloo"
    assert len(dist["allreduce"]) >= 5
    assert dist["interconnect"]["kind"] == "loopback"
    assert abs(dist["dp_step"]["error"]) <= 0.6
    # the data-parallel step costs more than one rank alone (it all-reduces the gradients)
    assert dist["dp_step"]["measured_s"] > 0
    assert dist["dp_step"]["predicted_s"] > dist["dp_step"]["predicted_single_rank_s"]
    # calibrate and validate flushed denormals and pinned threads while measuring, and put
    # this process back as they found it (pytest starts with IEEE subnormals)
    from archsim.validate.measure import denormals_flushed

    assert not denormals_flushed()


@pytest.mark.skipif(os.environ.get("ARCHSIM_FULL_VALIDATION") != "1",
                    reason="the full validation takes 3-10 min; set ARCHSIM_FULL_VALIDATION=1")
def test_full_validation_meets_the_issue_targets(tmp_path):
    prof = tmp_path / "cpu.yaml"
    assert main(["calibrate", "--device", "cpu", "--out", str(prof)]) == 0
    assert main(["validate", "--device", "cpu", "--profile", str(prof),
                 "--out", str(tmp_path / "r")]) == 0
    s = json.loads((tmp_path / "r" / "validation.json").read_text())["summary"]
    assert s["cases"] >= 12 and len(s["models"]) >= 3
    assert s["e2e_mape"] <= 0.15
    assert s["e2e_mape_by_mode"]["inference"] <= 0.15  # "inference included"
    assert s["matmul_op_mape"] <= 0.25


def test_measuring_restores_the_threads_and_denormal_flushing_it_changes():
    from archsim.validate.measure import configure, denormals_flushed, preserved_torch_settings

    before = torch.get_num_threads()

    @preserved_torch_settings()
    def measure_something():
        configure("cpu", threads=2 if before == 1 else 1)
        assert denormals_flushed() and torch.get_num_threads() != before

    measure_something()
    assert torch.get_num_threads() == before
    assert not denormals_flushed()
