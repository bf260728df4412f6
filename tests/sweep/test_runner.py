"""Running sweeps: rows equal direct simulations, failures become rows, resume skips finished
points, a killed worker or process loses nothing, and Dask gives the same rows as local
processes."""

import multiprocessing
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from sweep_cases import BASE, sweep_mapping

import archsim
from archsim.sweep import executors, worker
from archsim.sweep.executors import WORKER_DIED, InProcess, LocalProcesses
from archsim.sweep.runner import run_sweep
from archsim.sweep.spec import load_sweep
from archsim.sweep.store import read_results


def test_rows_equal_direct_simulations(tmp_path):
    sweep = load_sweep(sweep_mapping())
    run = run_sweep(sweep, tmp_path / "r.csv", InProcess())
    # 8 devices: tp·pp must divide 8; over {1,2,4,8}² that leaves 10 pairs (tp·pp ∈ {1,2,4,8});
    # for each, 24 heads, 9216 ffn, 24 layers and batch 16 divide too, and 1.7B params fit
    assert (run.ran, run.feasible, run.infeasible, run.failed) == (16, 10, 6, 0)
    frame = read_results(tmp_path / "r.csv")
    assert len(frame) == 16 and frame["hash"].is_unique
    for row in frame.to_dict("records"):
        direct = archsim.simulate(BASE, {"plan.tp": row["plan.tp"], "plan.pp": row["plan.pp"]})
        assert row["feasible"] == direct["feasible"]
        if direct["feasible"]:
            assert row["step_time_s"] == direct["step_time_s"]
            assert row["memory.peak_bytes_per_device"] == \
                direct["memory"]["peak_bytes_per_device"]
        else:
            assert "8 devices are not divisible by tp·pp·cp" in row["infeasible_reasons"]


def test_a_failing_point_records_its_error_and_the_sweep_goes_on(tmp_path):
    # an axis value no scenario takes is refused at load (test_spec.py); a derived value is
    # known only at its point: tp 1 derives micro-batch 0
    sweep = load_sweep(sweep_mapping(axes={"plan.tp": [1, 2, 4]},
                                     derived={"workload.micro_batch": "plan.tp // 2"}))
    run = run_sweep(sweep, tmp_path / "r.csv")
    assert (run.ran, run.failed, run.feasible) == (3, 1, 2)
    frame = read_results(tmp_path / "r.csv").set_index("plan.tp")
    assert "workload.micro_batch: Input should be greater than or equal to 1 (got 0)" in \
        frame.loc[1, "error"]
    assert frame.loc[2, "feasible"] and frame.loc[4, "feasible"]


def test_resume_skips_finished_points(tmp_path):
    out = tmp_path / "r.parquet"
    first = run_sweep(load_sweep(sweep_mapping(constraints=["plan.tp <= 2"])), out)
    assert first.ran == 8
    second = run_sweep(load_sweep(sweep_mapping()), out, resume=True)
    assert (second.skipped, second.ran) == (8, 8)
    frame = read_results(out)
    assert len(frame) == 16 and frame["hash"].is_unique
    third = run_sweep(load_sweep(sweep_mapping()), out, resume=True)
    assert (third.skipped, third.ran) == (16, 0)


def test_retry_errors_reruns_only_failed_points(tmp_path):
    out = tmp_path / "r.csv"
    sweep = load_sweep(sweep_mapping(axes={"plan.tp": [1, 2]},
                                     constraints=["1 / (plan.tp - 1) > 0"]))
    assert run_sweep(sweep, out).failed == 1
    again = run_sweep(sweep, out, resume=True, retry_errors=True)
    assert (again.skipped, again.ran, again.failed) == (1, 1, 1)  # the same error again
    assert len(read_results(out)) == 2


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                    reason="needs fork to carry the patched worker into the pool")
def test_a_killed_worker_becomes_an_error_row(tmp_path, monkeypatch):
    original = worker.run_point

    def kill_on_point_5(ctx, point):
        if point.index == 5:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(ctx, point)

    monkeypatch.setattr(worker, "run_point", kill_on_point_5)
    monkeypatch.setattr(executors, "_mp_context", lambda: multiprocessing.get_context("fork"))
    run = run_sweep(load_sweep(sweep_mapping()), tmp_path / "r.csv", LocalProcesses(2),
                    batch_size=4)
    assert (run.ran, run.failed) == (16, 1)
    frame = read_results(tmp_path / "r.csv").set_index("point")
    assert frame.loc[5, "error"] == WORKER_DIED
    assert frame.drop(index=5)["error"].isna().all()
    assert frame.drop(index=5)["feasible"].sum() == 10 - 1  # point 5 (tp 2, pp 2) divides 8


def test_local_processes_and_dask_give_the_same_rows(tmp_path):
    pytest.importorskip("distributed")
    from archsim.sweep.executors import DaskCluster

    sweep = load_sweep(sweep_mapping(axes={"plan.tp": [1, 2, 4], "plan.pp": [1, 2, 4],
                                           "plan.schedule": ["1f1b", "gpipe"]}))
    local = run_sweep(sweep, tmp_path / "local.csv", LocalProcesses(2))
    dask = run_sweep(sweep, tmp_path / "dask.csv", DaskCluster(workers=2, processes=False))
    assert local.ran == dask.ran == 18
    a = read_results(tmp_path / "local.csv").sort_values("hash").reset_index(drop=True)
    b = read_results(tmp_path / "dask.csv").sort_values("hash").reset_index(drop=True)
    timing = ["sim.wall_s"]
    pd.testing.assert_frame_equal(a.drop(columns=timing), b.drop(columns=timing))


LONG_SWEEP = sweep_mapping(axes={"plan.tp": [1, 2, 4, 8], "plan.pp": [1, 2, 4, 8],
                                 "workload.micro_batch": [1, 2],
                                 "plan.recompute": ["none", "selective", "full"],
                                 "plan.zero": [0, 1, 2, 3]})  # 384 points
STOPPED_SWEEP = Path(__file__).with_name("stopped_sweep.py")


def _start_stopped_sweep(tmp_path, mode, out):
    """``archsim sweep`` of LONG_SWEEP in batches of 4, stopped after two batches (8 rows) are
    in the table (see stopped_sweep.py); returns the process once it has stopped there."""
    sweep_file = tmp_path / "long.yaml"
    sweep_file.write_text(yaml.safe_dump(LONG_SWEEP))
    proc = subprocess.Popen([sys.executable, str(STOPPED_SWEEP), mode, str(sweep_file),
                             "--out", str(out), "--batch-size", "4", "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # blocks until the sweep has stopped (or ended)
    assert line == "stopped\n", f"the sweep did not stop where expected: {proc.communicate()}"
    return proc, sweep_file


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_sigkill_mid_write_leaves_a_consistent_table_that_resumes(tmp_path, suffix):
    out = tmp_path / f"r{suffix}"
    proc, sweep_file = _start_stopped_sweep(tmp_path, "torn-write", out)
    proc.kill()  # in the middle of the third batch's write
    proc.communicate()
    if suffix == ".csv":
        assert not out.read_bytes().endswith(b"\n")  # half a row, as a kill can leave it
    else:
        assert not out.exists()  # not merged yet: the table is in its parts
        assert [p.suffix for p in (tmp_path / "r.parquet.parts").iterdir()].count(".tmp") == 1
    frame = read_results(out)
    assert len(frame) == 8 and frame["hash"].is_unique  # the two whole batches
    assert frame["feasible"].notna().all() and frame["error"].isna().all()
    run = run_sweep(load_sweep(sweep_file), out, resume=True)
    assert (run.skipped, run.ran) == (8, 384 - 8)
    after = read_results(out)
    assert len(after) == 384 and after["hash"].is_unique
    if suffix == ".parquet":
        assert not (tmp_path / "r.parquet.parts").exists()  # merged; the torn part removed
    kept = after.set_index("hash").loc[frame["hash"]].reset_index()
    # the rows written before the kill are unchanged (an int column may read back as float
    # once later rows bring nulls into it)
    pd.testing.assert_frame_equal(kept, frame, check_dtype=False)


def test_ctrl_c_stops_cleanly_with_exit_130(tmp_path):
    out = tmp_path / "r.csv"
    proc, _ = _start_stopped_sweep(tmp_path, "simulating", out)
    proc.send_signal(signal.SIGINT)  # while the third batch is being simulated
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "interrupted; 8 points written" in err and "--resume" in err
    assert "Traceback" not in err
    frame = read_results(out)
    assert len(frame) == 8 and frame["hash"].is_unique
    assert out.read_text().endswith("\n")
