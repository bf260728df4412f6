"""In-model costs from the framework benchmark (archsim/validate/overheads.py): the fit gives
back the per-op and per-step costs that made the records — added to every op on a CPU, the
host's issue cost on a GPU (archsim/cost/host.py) — and the profile then predicts the records."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from archsim.cost.insitu import factors, inference_device
from archsim.spec.device import DeviceSpec
from archsim.validate.calibrate import with_overheads
from archsim.validate.overheads import (
    FAMILIES,
    LAYERS,
    PHASES,
    fit_overheads,
    insitu_block,
    predicted,
)

PROFILE = Path(__file__).resolve().parents[2] / "reports" / "validation" / "cpu" / \
    "cpu-local-example.yaml"


@pytest.fixture(scope="module")
def device() -> dict:
    data = yaml.safe_load(PROFILE.read_text())
    return {k: v for k, v in data.items() if k not in ("calibration", "insitu")}


def benchmark_records(device: dict, time_of) -> list[dict]:
    """The benchmark's records if each step took ``time_of(phase, P, n)`` (P: archsim's
    prediction with ``device``, n: its kernel count)."""
    out = []
    for family in FAMILIES:
        for phase in PHASES:
            for layers in LAYERS:
                p, n = predicted(family, layers, phase, device, "fp32")
                out.append({"model": family, "phase": phase, "layers": layers,
                            "time_s": time_of(phase, p, n)})
    return out


def records_made_with(device: dict, kernel: dict, step: dict) -> list[dict]:
    """What the benchmark would measure if every op cost ``kernel[phase]`` in the model (the
    launch overhead's part already in archsim's prediction) and every step ``step[phase]``
    more: T = P + n · (kernel − launch) + step."""
    launch = DeviceSpec.model_validate(device).launch_overhead
    return benchmark_records(
        device, lambda phase, p, n: p + n * (kernel[phase] - launch) + step[phase])


def test_the_fit_gives_back_the_costs_that_made_the_records(device):
    kernel = {"decode": 13e-6, "train": 21e-6}
    step = {"decode": 40e-6, "train": 300e-6}
    ov = fit_overheads(records_made_with(device, kernel, step), device, "fp32")
    assert ov is not None
    for phase in PHASES:
        assert ov.kernel[phase] == pytest.approx(kernel[phase], rel=1e-6)
        assert ov.step[phase] == pytest.approx(step[phase], rel=1e-6, abs=1e-12)


def test_a_layer_adds_the_ops_of_the_op_graph(device):
    """A decode layer is 11 kernels in the op graph (2 norms, QKV, attention, KV write,
    projection, 2 residual adds, 2 MLP GEMMs, activation); a training step's layer adds its
    backward kernels too."""
    n1 = predicted("gpt", 1, "decode", device, "fp32")[1]
    n3 = predicted("gpt", 3, "decode", device, "fp32")[1]
    assert n3 - n1 == 2 * 11
    t1 = predicted("gpt", 1, "train", device, "fp32")[1]
    t3 = predicted("gpt", 3, "train", device, "fp32")[1]
    assert t3 - t1 > 2 * 2 * 11


def test_the_profile_runs_with_them_and_only_a_cpu_profile_takes_them(device):
    kernel = {"decode": 13e-6, "train": 21e-6}
    step = {"decode": 40e-6, "train": 300e-6}
    raw = {"framework": records_made_with(device, kernel, step)}
    out = with_overheads({**device, "kind": "cpu"}, raw, "fp32")
    spec = DeviceSpec.model_validate(out)
    f = factors(spec)
    assert f.kernel_overhead == pytest.approx(21e-6, rel=1e-3)
    assert f.step_overhead == pytest.approx(300e-6, rel=1e-3)
    assert f.vector_scale == 1.0 and f.default_matmul_scale == 1.0  # nothing else moves
    served = inference_device(spec)
    assert factors(served).kernel_overhead == pytest.approx(13e-6, rel=1e-3)
    assert factors(served).iteration_overhead == pytest.approx(40e-6, rel=1e-3)
    assert f.host_op_cost is None  # a CPU's host is its device: no queue
    assert with_overheads({**device, "kind": "cpu"}, {}, "fp32") == {**device, "kind": "cpu"}


def host_bound_records(device: dict, host: dict, step: dict) -> list[dict]:
    """What a GPU whose host issues an op every ``host[phase]`` seconds would measure: the
    longer of the device's time and the host's, plus the per-step cost (archsim/cost/host.py)."""
    return benchmark_records(device, lambda phase, p, n: max(p, n * host[phase]) + step[phase])


HOST = {"decode": 60e-6, "train": 45e-6}
"""Per-op host costs well above the example profile's per-kernel device time (launch 7.7 µs
plus a few hundred FLOPs), so the synthetic host is the slower of the two at both depths."""


def test_on_a_gpu_the_fit_gives_back_the_hosts_cost_per_op(device):
    step = {"decode": 150e-6, "train": 2e-3}
    ov = fit_overheads(host_bound_records(device, HOST, step), device, "fp32",
                       asynchronous=True)
    assert ov is not None and ov.asynchronous
    for phase in PHASES:
        assert ov.kernel[phase] == pytest.approx(HOST[phase], rel=1e-6)
        assert ov.step[phase] == pytest.approx(step[phase], rel=1e-6)


def test_a_gpu_profile_with_the_host_costs_predicts_the_benchmark(device):
    """Round trip through the engine: the profile written from host-bound records predicts
    those records (host issue time + per-step cost), kernels' costs unchanged."""
    from archsim.api import simulate
    from archsim.validate.overheads import scenario

    step = {"decode": 150e-6, "train": 2e-3}
    records = host_bound_records(device, HOST, step)
    out = with_overheads({**device, "kind": "gpu"}, {"framework": records}, "fp32")
    assert out["insitu"]["host_op_cost"] == "45 us"
    assert out["insitu"]["inference_host_op_cost"] == "60 us"
    spec = DeviceSpec.model_validate(out)
    assert factors(spec).host_op_cost == pytest.approx(45e-6)
    assert factors(spec).kernel_overhead == pytest.approx(spec.launch_overhead)
    assert factors(inference_device(spec)).host_op_cost == pytest.approx(60e-6)
    for r in records:
        got = simulate(scenario(r["model"], r["layers"], r["phase"], out, "fp32"))
        metric = "tpot_s" if r["phase"] == "decode" else "step_time_s"
        assert got[metric] == pytest.approx(r["time_s"], rel=1e-6), r


def test_a_gpu_whose_device_set_the_pace_gets_no_host_cost(device):
    """Records the device's own time explains (host faster than every kernel): no host cost
    is written, and the profile stays the isolated model."""
    records = records_made_with(device, {"decode": 7.7e-6, "train": 7.7e-6},
                                {"decode": 1e-5, "train": 1e-4})
    gpu = {**device, "kind": "gpu"}
    out = with_overheads(gpu, {"framework": records}, "fp32")
    assert "insitu" not in out
    ov = fit_overheads(records, device, "fp32", asynchronous=True)
    assert ov is not None and ov.kernel == {} and len(ov.detail) == 4


def test_the_block_names_its_source():
    from archsim.validate.overheads import Overheads

    block = insitu_block(Overheads(kernel={"decode": 1e-5}, step={"decode": 2e-6}, detail=[]),
                         "fp32")
    assert block["defaults"] == {"inference_kernel_overhead": 1e-5, "iteration_overhead": 2e-6}
    assert "framework benchmark" in block["sources"]["inference_kernel_overhead"]


@pytest.mark.parametrize("mode", ["training", "inference"])
def test_an_insitu_block_at_the_launch_overhead_changes_nothing(device, mode):
    """The block only carries the in-model costs: with them at the launch overhead and zero
    per step, every prediction is the isolated model's (curves read in the primary dtype)."""
    from archsim.api import simulate
    from archsim.validate.cases import Case
    from archsim.validate.predict import scenario_for

    launch = DeviceSpec.model_validate(device).launch_overhead
    same = {**device, "insitu": {"curve_dtype": "fp32", "defaults": {
        "kernel_overhead": launch, "inference_kernel_overhead": launch,
        "step_overhead": 0.0, "iteration_overhead": 0.0}}}
    case = (Case("llama-small", "training", 2, 256) if mode == "training"
            else Case("gpt-small", "inference", 2, 128, 8))
    plain = simulate(scenario_for(case, device)).to_dict()
    block = simulate(scenario_for(case, same)).to_dict()
    for key in ("step_time_s", "ttft_s", "tpot_s"):
        if plain.get(key) is not None:
            assert block[key] == pytest.approx(plain[key], rel=1e-9), key
