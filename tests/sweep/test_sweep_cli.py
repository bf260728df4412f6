"""`archsim sweep` from the command line: tables and JSON at the end, exit 2 on bad input."""

import json
import re
import socket
import time

import pytest

import archsim
from archsim.cli import main


def test_sweep_prints_best_points_and_pareto_front(write_sweep, tmp_path, capsys):
    path = write_sweep()
    out = tmp_path / "r.csv"
    assert main(["sweep", str(path), "--out", str(out), "--workers", "1"]) == 0
    text = capsys.readouterr().out
    assert "sweep tiny-sweep: 16 points" in text
    assert "10 feasible, 6 infeasible, 0 failed" in text
    assert "Best 10 by max tokens_per_s (10 of 16 points pass the filters):" in text
    assert "Pareto front (max tokens_per_s, min cost_per_million_tokens_usd, max " \
           "memory_headroom)" in text
    summary = json.loads((tmp_path / "r.summary.json").read_text())
    assert summary["run"]["ran"] == 16 and summary["run"]["executor"] == "this process"


def test_a_sweep_without_pareto_goals(write_sweep, tmp_path, capsys):
    path = write_sweep(pareto=[])
    assert main(["sweep", str(path), "--out", str(tmp_path / "r.csv"), "--workers", "1"]) == 0
    text = capsys.readouterr().out
    assert "Best 10 by max tokens_per_s" in text
    assert text.rstrip().endswith("Pareto front: none (the sweep file gives no pareto goals)")


def test_json_summary_best_point_is_the_fastest_plan(write_sweep, tmp_path, capsys):
    path = write_sweep(objective={"maximize": "tokens_per_s"}, top=3)
    out = tmp_path / "r.parquet"
    assert main(["sweep", str(path), "--out", str(out), "--workers", "1", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["points"] == {"in_table": 16, "feasible": 10, "infeasible": 6, "failed": 0,
                                 "after_filters": 10}
    assert len(summary["best"]) == 3
    from sweep_cases import BASE

    speeds = {}
    for tp in (1, 2, 4, 8):
        for pp in (1, 2, 4, 8):
            r = archsim.simulate(BASE, {"plan.tp": tp, "plan.pp": pp})
            if r["feasible"]:
                speeds[(tp, pp)] = r["tokens_per_s"]
    best = max(speeds, key=speeds.get)
    top = summary["best"][0]
    assert (top["plan.tp"], top["plan.pp"]) == best
    assert top["tokens_per_s"] == speeds[best]
    front = summary["pareto"]["front"]
    assert front and all(r["feasible"] for r in front)


def test_resume_and_overwrite(write_sweep, tmp_path, capsys):
    path = write_sweep()
    out = tmp_path / "r.csv"
    assert main(["sweep", str(path), "--out", str(out), "--workers", "1"]) == 0
    assert main(["sweep", str(path), "--out", str(out), "--workers", "1"]) == 2
    assert capsys.readouterr().err == (f"archsim sweep: {out}: already exists; pass --resume "
                                       "to continue that sweep or --overwrite to start again\n")
    assert main(["sweep", str(path), "--out", str(out), "--workers", "1", "--resume",
                 "--json"]) == 0
    run = json.loads(capsys.readouterr().out)["run"]
    assert (run["skipped_finished"], run["ran"]) == (16, 0)
    assert main(["sweep", str(path), "--out", str(out), "--workers", "1", "--overwrite",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run"]["ran"] == 16


@pytest.mark.parametrize("fields, message", [
    ({"axes": {"plan.tpp": [1, 2]}},
     r"axes.plan.tpp: unknown key 'plan.tpp'; closest: plan.tp, plan.pp"),
    ({"axes": {}}, r"axes: needs at least one axis"),
    ({"axes": {"plan.tp": []}}, r"axes.plan.tp: is empty"),
    ({"constraints": ["plan.tp <= (8"]},
     r"constraints\[0\]: cannot parse 'plan.tp <= \(8': expected '\)', got the end of the "
     r"expression at column 14"),  # 13 characters: the end is column 14
])
def test_bad_sweep_files_exit_2_with_one_line_each(write_sweep, tmp_path, capsys, fields,
                                                   message):
    path = write_sweep(**fields)
    assert main(["sweep", str(path), "--out", str(tmp_path / "r.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"archsim sweep: {path}: ")
    assert re.search(message, err), err
    assert "Traceback" not in err and not (tmp_path / "r.csv").exists()


def test_unreachable_scheduler_is_a_clear_error_within_10_s(write_sweep, tmp_path, capsys):
    pytest.importorskip("distributed")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    code = main(["sweep", str(write_sweep()), "--out", str(tmp_path / "r.csv"),
                 "--scheduler", f"tcp://127.0.0.1:{port}"])
    elapsed = time.monotonic() - t0
    err = capsys.readouterr().err
    assert code == 2 and elapsed < 10
    assert f"--scheduler tcp://127.0.0.1:{port}: cannot reach the Dask scheduler within 5 s" \
        in err


@pytest.mark.parametrize("args, message", [
    (["--scheduler", "tcp://h:1", "--dask", "local"], "give --scheduler ADDRESS or --dask local"),
    (["--scheduler", "nowhere"], "--scheduler 'nowhere': expected an address such as "
                                 "tcp://host:8786"),
    (["--workers", "0"], "--workers must be at least 1, got 0"),
    (["--retry-errors"], "--retry-errors goes with --resume"),
])
def test_bad_options_exit_2(write_sweep, tmp_path, capsys, args, message):
    assert main(["sweep", str(write_sweep()), "--out", str(tmp_path / "r.csv"), *args]) == 2
    assert message in capsys.readouterr().err


def test_unknown_sweep_name(capsys):
    assert main(["sweep", "gpt3-plans"]) == 2
    assert "unknown sweep 'gpt3-plans'; closest: gpt3-175b-1024xa100-plans" in \
        capsys.readouterr().err


def test_runs_on_an_existing_dask_scheduler(write_sweep, tmp_path, capsys):
    pytest.importorskip("distributed")
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                      dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://")
        out = tmp_path / "r.csv"
        assert main(["sweep", str(write_sweep()), "--out", str(out), "--scheduler", address,
                     "--json"]) == 0
    run = json.loads(capsys.readouterr().out)["run"]
    assert run["ran"] == 16 and run["feasible"] == 10
    assert run["executor"] == f"the Dask cluster at {address}"


def test_progress_bar_shows_rate_and_eta(capsys):
    from archsim.cli.progress import ProgressBar
    from archsim.sweep.runner import Progress

    bar = ProgressBar(width=10)
    bar.update(Progress(done=50, total=200, feasible=20, failed=1, elapsed_s=10.0))
    bar.finish()
    err = capsys.readouterr().err
    # 50 of 200 in 10 s: 5.0 points/s, 150 left → 30 s
    assert "[##........] 50/200  25.0%      5.0 pt/s  ETA 0:30  feasible 20  failed 1" in err
    assert err.endswith("\n")
