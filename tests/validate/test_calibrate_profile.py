"""Writing a calibrated profile: YAML with comments and raw records that loads back, and the
unmeasurable fields taken from a registry profile (``--base``)."""

from __future__ import annotations

import pytest
import yaml

import archsim
from archsim.spec.device import DeviceSpec
from archsim.spec.errors import SpecError
from archsim.validate.calibrate import build_spec, device_mapping, profile_text, with_base
from archsim.validate.fit import FitResult


def _fit() -> FitResult:
    return FitResult(launch_s=5e-6, bandwidth=4.3e12, memory_efficiency=1.0,
                     sustained_copy_bandwidth=4.3e12, cache_bytes=None, cache_bandwidth=None,
                     peaks={"bf16": 8e14, "fp32": 5e13}, vector_peak=5e13,
                     by_kind={"elementwise.fwd": 0.4, "norm.bwd": 0.2},
                     matmul_points=[(1e9, 0.3), (1e12, 0.8)],
                     attention_points=[(1e9, 0.2), (1e12, 0.6)], primary_dtype="bf16")


def test_profile_text_loads_back_with_its_records():
    raw = {"gemm": [{"m": 1, "k": 2, "n": 3, "layout": "nt", "dtype": "bf16",
                     "time_s": 1.234567891e-05}]}
    mapping = device_mapping(_fit(), name="gpu-x", kind="gpu", capacity=140 * 2**30, tdp=700,
                             info={"host": "h", "device": "cuda"}, raw=raw)
    text = profile_text(mapping)
    data = yaml.safe_load(text)
    spec = DeviceSpec.model_validate(data)
    assert spec.peak["bf16"] == 8e14 and spec.memory.bandwidth == 4.3e12
    assert spec.efficiency.attention is not None
    assert spec.efficiency.vector_for("norm", "bwd") == 0.2
    assert data["calibration"]["raw"]["gemm"][0]["time_s"] == pytest.approx(1.23457e-05)
    assert "launch_overhead: 5 us  # mean time per call of tiny ops" in text


def test_base_profile_supplies_links_power_and_node_size():
    mapping = with_base(device_mapping(_fit(), name="h200-calibrated", kind="gpu",
                                       capacity=140 * 2**30, tdp=500), "h200-sxm-141gb")
    spec = build_spec(mapping)
    assert spec.scale_up == "nvlink4-nvswitch" and spec.scale_out == "ib-ndr-400g"
    assert spec.devices_per_node == 8 and spec.tdp == 700.0  # from the base, not the 500 given
    assert spec.peak["bf16"] == 8e14  # measured values stay
    assert "idle_power" in spec.unverified and "tdp" not in spec.unverified
    assert "from h200-sxm-141gb" in spec.source
    # usable like any registry device: 8 of them, TP 2 × PP 2 over NVLink
    result = archsim.simulate({"model": {"layers": 4, "hidden": 512, "heads": 8,
                                         "vocab": 32000},
                               "hardware": {"device": mapping, "count": 8},
                               "workload": {"kind": "training", "seq_len": 512,
                                            "global_batch": 16},
                               "plan": {"tp": 2, "pp": 2}})
    assert result.feasible and result["step_time_s"] > 0


def test_unknown_base_is_a_spec_error():
    with pytest.raises(SpecError, match="unknown device 'h201'"):
        with_base(device_mapping(_fit(), name="x", kind="gpu", capacity=1e9, tdp=1), "h201")
