"""``calibrate --runs --workers N``: N is bounded as ``sweep --workers`` is, never more
processes than folds, and no fold worker outlives a killed or terminated run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile_cases import HERE, LINUX_PROC, alive, children

from archsim.cli import main

# three one-device training runs of a 2-layer model: the fit on all of them takes about a second
RUNS = ("run,source,kind,metric,measured,device,devices,layers,hidden,heads,vocab,seq_len,"
        "global_batch,micro_batch\n"
        + "".join(f"{r},s{r},training,step_time_s,0.0{i + 1},a100-sxm4-80gb,1,2,256,4,1000,512,"
                  f"{8 * 2 ** i},8\n" for i, r in enumerate("abc")))


def _runs(tmp_path: Path) -> Path:
    path = tmp_path / "runs.csv"
    path.write_text(RUNS)
    return path


@pytest.mark.parametrize("cpus, most", [
    (2, 64),    # 4 per CPU is 8: the floor of 64 applies
    (32, 128),  # 4 × 32 = 128 is above the floor
])
def test_workers_are_bounded_like_sweeps(tmp_path, capsys, monkeypatch, cpus, most):
    """The cap is 4 local worker processes per CPU, at least 64 (as ``sweep --workers``)."""
    monkeypatch.setattr("archsim.sweep.executors.default_workers", lambda: cpus)
    out = tmp_path / "c.yaml"
    assert main(["calibrate", "--runs", str(_runs(tmp_path)), "--out", str(out),
                 "--workers", str(most + 1)]) == 2
    err = capsys.readouterr().err
    assert err == (f"archsim calibrate: --workers {most + 1}: at most {most} local worker "
                   f"processes on this machine (4 per CPU, at least 64); each is a Python "
                   "process of about 100 MB\n")
    assert not out.exists()


def _wait_for(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _start(tmp_path: Path, workers: int) -> tuple[subprocess.Popen, list[int]]:
    """A calibration with 3 folds (one per run) whose fold workers sleep a minute; returns it
    once its workers are busy, with their ids."""
    proc = subprocess.Popen([sys.executable, str(HERE / "slow_calibrate.py"), "--runs",
                             str(_runs(tmp_path)), "--cv", "run", "--out",
                             str(tmp_path / "c.yaml"), "--workers", str(workers)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    def busy() -> bool:
        assert proc.poll() is None, proc.communicate()[1]  # ended early: say why
        return len(children(proc.pid)) >= min(workers, 3)

    try:
        _wait_for(busy, timeout=30)
        time.sleep(0.3)  # let the workers reach their sleeping fold
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc, children(proc.pid)


@pytest.mark.skipif(not LINUX_PROC, reason="reads worker processes from /proc")
def test_fold_workers_die_with_a_killed_calibration(tmp_path):
    proc, workers = _start(tmp_path, 2)
    assert len(workers) == 2
    proc.kill()
    proc.wait()
    _wait_for(lambda: not any(alive(w) for w in workers), timeout=3)  # they used to stay
    assert proc.stderr.read() is not None  # no worker holds the pipe open: EOF comes
    assert not list(tmp_path.glob("c.*"))


@pytest.mark.skipif(not LINUX_PROC, reason="reads worker processes from /proc")
def test_a_terminated_calibration_stops_its_workers(tmp_path):
    proc, workers = _start(tmp_path, 8)
    assert len(workers) == 3  # one per fold, not 8
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=5)
    assert proc.returncode == 128 + signal.SIGTERM
    assert err.splitlines()[-1] == "archsim: terminated (SIGTERM); nothing written"
    assert not any(alive(w) for w in workers)
    assert not list(tmp_path.glob("c.*"))
    assert os.path.exists(tmp_path / "runs.csv")


def test_more_folds_than_runs_is_refused(tmp_path, capsys):
    """--cv 100 on three runs had run 100 folds, 97 of them empty."""
    out = tmp_path / "c.yaml"
    assert main(["calibrate", "--runs", str(_runs(tmp_path)), "--out", str(out),
                 "--cv", "100"]) == 2
    assert capsys.readouterr().err == ("archsim calibrate: --cv 100: more folds than the 3 runs "
                                       "to calibrate; expected at most 3 (or run: one run out)\n")
    assert not out.exists()
