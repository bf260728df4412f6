"""The machine-drift probes of ``archsim validate`` (archsim/validate/drift.py): which
calibration records they time again, and how the ratios are reported. The timing itself runs
in tests/validate/test_cpu_run.py."""

from __future__ import annotations

import pytest

from archsim.validate.drift import (
    MachineProbe,
    drift_line,
    drift_markdown,
    drift_rows,
    drift_warning,
    probe_records,
    sustained_drift,
)


def gemm(m, k, n, time_s, layout="nt", dtype="fp32"):
    return {"m": m, "k": k, "n": n, "layout": layout, "dtype": dtype, "time_s": time_s}


RAW = {
    "gemm": [gemm(1, 256, 256, 20e-6), gemm(1, 768, 32000, 7e-3), gemm(64, 1024, 1024, 2e-3),
             gemm(1024, 1024, 4096, 0.048), gemm(4096, 768, 32000, 1.0),  # too long a probe
             gemm(2048, 2048, 2048, 0.01, layout="nn"),  # not the forward layout
             gemm(1, 4096, 4096, 1e-3, dtype="bf16")],  # not the primary dtype
    "memory": [{"kernel": "copy", "elements": 2**20, "dtype": "fp32", "time_s": 1e-4},
               {"kernel": "copy", "elements": 2**26, "dtype": "fp32", "time_s": 0.0145},
               {"kernel": "add", "elements": 2**27, "dtype": "fp32", "time_s": 0.05}],
    "overhead": [{"op": "linear", "time_s": 6e-6}, {"op": "gelu", "time_s": 9e-6}],
}


def test_the_probes_are_the_calibrations_own_records():
    probes = probe_records(RAW)
    # the most FLOPs among fp32 forward GEMMs that took at most 50 ms: 1024×1024×4096
    assert probes["GEMM"] == RAW["gemm"][3]
    # m = 1 with the largest weight: the 768×32000 logits GEMV
    assert probes["GEMV"] == RAW["gemm"][1]
    assert probes["copy"] == RAW["memory"][1]  # the largest copy, not the add
    assert probes["tiny ops"] == RAW["overhead"]


def test_ratios_are_time_now_over_time_then():
    probes = probe_records(RAW)
    before = {"GEMM": 0.0528, "GEMV": 7e-3, "copy": 0.0145, "tiny ops": 15e-6}
    after = {"GEMM": 0.048, "GEMV": 7.7e-3, "copy": 0.029, "tiny ops": 12e-6}
    rows = {r["probe"]: r for r in drift_rows(probes, before, after)}
    assert rows["GEMM"]["before_ratio"] == pytest.approx(1.1)
    assert rows["GEMM"]["after_ratio"] == pytest.approx(1.0)
    assert rows["GEMV"]["after_ratio"] == pytest.approx(1.1)
    assert rows["copy"]["after_ratio"] == pytest.approx(2.0)
    # the tiny ops: 6 + 9 µs at calibration
    assert rows["tiny ops"]["calibrated_s"] == pytest.approx(15e-6)
    assert rows["tiny ops"]["after_ratio"] == pytest.approx(0.8)
    assert list(rows) == ["GEMM", "GEMV", "copy", "tiny ops"]
    d = {"calibrated_at": "2026-12-05T09:19:11+00:00", "rows": list(rows.values())}
    md = "\n".join(drift_markdown(d))
    assert "| GEMM | 1024×1024×4096 fp32 | 48.000 ms | 52.800 ms | 48.000 ms | 1.10 … 1.00 |" in md
    assert "| copy | 67108864 fp32 elements | 14.500 ms | 14.500 ms | 29.000 ms | 1.00 … 2.00 |" \
        in md
    assert "| tiny ops | 2 ops, 100 calls each | 15.0 µs | 15.0 µs | 12.0 µs | 1.00 … 0.80 |" in md
    assert "(taken 2026-12-05T09:19:11+00:00)" in md
    assert drift_line(d).endswith("GEMM 1.10 … 1.00, GEMV 1.00 … 1.10, copy 1.00 … 2.00, "
                                  "tiny ops 1.00 … 0.80")
    # copy 2.00 after but 1.00 before: a swing, not the whole run; no warning
    assert drift_warning(d) is None and "Warning" not in md


def test_a_drift_through_the_whole_run_is_a_warning():
    """Beyond 1.25 (slower) or below 0.80 (faster) of the calibrated time, the same way before
    and after the cases: the run cannot separate the model from the machine."""
    probes = probe_records(RAW)
    before = {"GEMM": 0.048 * 0.83, "GEMV": 7e-3, "copy": 0.0145 * 0.72,
              "tiny ops": 15e-6 * 0.48}
    after = {"GEMM": 0.048 * 0.74, "GEMV": 7e-3 * 0.70, "copy": 0.0145 * 0.75,
             "tiny ops": 15e-6 * 0.44}
    d = {"calibrated_at": "t", "rows": drift_rows(probes, before, after)}
    # the tiny ops (0.48 … 0.44) are shown but do not warn: only GEMM, GEMV and copy do
    assert [r["probe"] for r in sustained_drift(d)] == ["copy"]
    assert drift_warning(d) == (
        "the machine ran unlike its calibration for the whole run (copy 0.72 … 0.75 of the "
        "calibrated time, beyond 0.80–1.25 before and after the cases): these errors measure "
        "that drift as much as the model; calibrate again and validate right after")
    assert drift_line(d).splitlines()[1].startswith("WARNING: the machine ran unlike")
    assert "**Warning: the machine ran unlike" in "\n".join(drift_markdown(d))
    slower = {"calibrated_at": "t", "rows": drift_rows(
        probes, {**before, "GEMM": 0.048 * 1.3}, {**after, "GEMM": 0.048 * 1.26})}
    assert [r["probe"] for r in sustained_drift(slower)] == ["GEMM", "copy"]
    tiny_only = {"calibrated_at": "t", "rows": drift_rows(
        probes, {**before, "copy": 0.0145}, {**after, "copy": 0.0145})}
    assert drift_warning(tiny_only) is None


def test_a_profile_without_calibration_records_is_not_checked():
    from archsim.spec.registry import load_registry_mapping

    h200, _ = load_registry_mapping("devices", "h200-sxm-141gb")
    probe = MachineProbe("cpu", h200)
    probe.start()  # times nothing
    d = probe.finish()
    assert d == {"skipped": "the profile holds no calibration records to time again "
                            "(a registry profile, or one written by hand)"}
    assert drift_markdown(d)[-1] == ("Not checked: the profile holds no calibration records "
                                     "to time again (a registry profile, or one written by "
                                     "hand).")


def test_before_each_case_the_cheap_probes_are_timed_against_calibration(monkeypatch):
    """GEMV and tiny ops only (a fraction of a second each case): 7 ms at calibration, 7.7 ms
    now is 1.10; 15 µs of tiny ops then, 12 µs now is 0.80."""
    import archsim.validate.drift as drift

    timed = []

    def fake_retime(device, probes, grid):
        timed.append(sorted(probes))
        return {"GEMM": 1.0, "GEMV": 7.7e-3, "copy": 1.0, "tiny ops": 12e-6}

    monkeypatch.setattr(drift, "retime", fake_retime)
    probe = MachineProbe("cpu", {"calibration": {"raw": RAW, "info": {"grid": "quick"}}})
    assert probe.case_check() == {"GEMV": pytest.approx(1.1), "tiny ops": pytest.approx(0.8)}
    assert timed == [["GEMV", "tiny ops"]]
    assert MachineProbe("cpu", {"name": "hand-written"}).case_check() is None


def test_the_cases_table_shows_each_cases_machine_check():
    from archsim.validate.compare import CaseResult, markdown, report_dict

    def result(name, machine):
        return CaseResult(name=name, mode="training", model="m", params=1_000_000,
                          measured={"step_time_s": 0.1}, predicted={"step_time_s": 0.09},
                          spread={}, machine=machine)

    report = report_dict([result("a", {"GEMV": 1.1, "tiny ops": 0.8}), result("b", None)],
                         {"device": "cpu"})
    assert report["cases"][0]["machine"] == {"GEMV": 1.1, "tiny ops": 0.8}
    assert "machine" not in report["cases"][1]
    md = markdown(report)
    assert "| error bar ms | machine now / then |" in md
    assert "| a | 1.0M | step_time_s | 100.000 | 90.000 | -10.0% | 0% | – | GEMV 1.10, tiny " \
           "ops 0.80 |" in md
    assert "| b | 1.0M | step_time_s | 100.000 | 90.000 | -10.0% | 0% | – | – |" in md
    # reports from before the check have no column
    plain = markdown(report_dict([result("b", None)], {"device": "cpu"}))
    assert "machine now / then" not in plain
