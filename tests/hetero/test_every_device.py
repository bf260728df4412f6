"""Every device profile runs: a small training job and a small inference job on each, feasible
or infeasible with a reason that names the problem — never an exception."""

import pytest

import archsim
from archsim.spec.registry import list_names

MODEL = {"layers": 4, "hidden": 512, "heads": 8, "vocab": 32000}
DEVICES = list_names("devices")
# int8 is the only peak in the FPGA's profile (reference/hardware.csv: no floating point)
NO_FLOAT = {"alveo-u280"}


def test_the_registry_has_every_device_kind():
    kinds = {archsim.load_scenario({"model": MODEL, "hardware": {"device": d, "count": 1},
                                    "workload": {"kind": "training"}}).hardware.device.kind
             for d in DEVICES}
    assert kinds == {"gpu", "tpu", "fpga", "asic", "cpu"}


@pytest.mark.parametrize("device", DEVICES)
def test_training_and_inference_on_each_device(device):
    train = archsim.simulate({
        "model": MODEL, "hardware": {"device": device, "count": 8},
        "workload": {"kind": "training", "seq_len": 512, "global_batch": 16},
        "plan": {"tp": 2, "pp": 2}}).to_dict()
    infer = archsim.simulate({
        "model": MODEL, "hardware": {"device": device, "count": 2},
        "workload": {"kind": "inference", "batch": 2, "prompt_len": 256, "gen_len": 8},
        "plan": {"tp": 2}}).to_dict()
    for d in (train, infer):
        if device in NO_FLOAT:
            assert not d["feasible"]
            assert f"device {device} has no bf16 support (its dtypes: int8)" in \
                d["infeasible_reasons"][0]
        else:
            assert d["feasible"], d["infeasible_reasons"]
    if device not in NO_FLOAT:
        assert train["step_time_s"] > 0 and infer["ttft_s"] > 0
        # the collectives chose an algorithm of the device's scale-up topology
        assert train["communication"]["algorithms"]["tp.allreduce"] in (
            "ring", "nvls", "direct", "dim-ordered", "ring(inter)", "tree(inter)")


def test_the_fpga_runs_a_w8a8_model():
    """The FPGA's only peak is int8: with W8A8 quantization (int8 weights and activations) the
    GEMMs run at that peak and the model is servable; decode stays bound by its 460 GB/s HBM."""
    r = archsim.simulate({
        "model": MODEL, "hardware": {"device": "alveo-u280", "count": 1},
        "workload": {"kind": "inference", "batch": 1, "prompt_len": 256, "gen_len": 8},
        "compression": {"weight_dtype": "int8", "activation_dtype": "int8"}}).to_dict()
    assert r["feasible"], r["infeasible_reasons"]
    assert r["phases"]["decode"]["bound_by"] == "memory"
    assert r["compression"]["effects"]["matmul_dtype"] == "int8"
