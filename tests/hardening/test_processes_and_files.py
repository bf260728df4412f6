"""Issue items 5 and 6: no worker outlives a killed sweep, no temporary outlives a killed run,
and one table has one writer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile_cases import HERE, LINUX_PROC, SCENARIO, alive, children, sweep_mapping, write_yaml

from archsim.cli import main
from archsim.io import clean_stale, temp_path
from archsim.spec.errors import SpecError
from archsim.sweep import read_results
from archsim.sweep.store import open_store

SLOW_AXES = {"plan.tp": [1, 2, 4, 8], "workload.global_batch": [16 * i for i in range(1, 9)]}




def _start_slow_sweep(tmp_path: Path, out: Path, *extra: str) -> subprocess.Popen:
    sweep = write_yaml(tmp_path / "slow.yaml", sweep_mapping(axes=SLOW_AXES))
    return subprocess.Popen([sys.executable, str(HERE / "slow_sweep.py"), str(sweep), "--out",
                             str(out), "--batch-size", "1", "--no-progress", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_for(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _rows(out: Path) -> int:
    return max(0, out.read_text().count("\n") - 1) if out.exists() else 0


@pytest.mark.skipif(not LINUX_PROC, reason="reads worker processes from /proc")
def test_workers_die_with_a_killed_sweep(tmp_path):
    out = tmp_path / "r.csv"
    proc = _start_slow_sweep(tmp_path, out, "--workers", "2")
    try:
        _wait_for(lambda: len(children(proc.pid)) == 2 and _rows(out) >= 1)
        workers = children(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    t0 = time.monotonic()
    _wait_for(lambda: not any(alive(w) for w in workers), timeout=10)
    assert time.monotonic() - t0 < 5  # each checks every 0.5 s; they used to run > 10 min


def test_a_second_sweep_on_the_same_table_is_refused(tmp_path, capsys):
    for suffix in (".csv", ".parquet"):
        # a stem per table: the two formats would otherwise share r.summary.json, which a
        # sweep refuses to overwrite for another table (tests/sweep/test_summary_table.py)
        out = tmp_path / f"r-{suffix[1:]}{suffix}"
        first = _start_slow_sweep(tmp_path, out, "--workers", "1")
        try:
            _wait_for(lambda out=out: out.exists() or out.with_name(out.name + ".parts")
                      .is_dir())
            sweep = write_yaml(tmp_path / "slow.yaml", sweep_mapping(axes=SLOW_AXES))
            assert main(["sweep", str(sweep), "--out", str(out), "--resume",
                         "--workers", "1"]) == 2
            assert capsys.readouterr().err == (
                f"archsim sweep: {out}: another archsim sweep (pid {first.pid}) is writing "
                "this table; wait for it to finish, or use another --out\n")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        # the kernel released the lock with the process: the table resumes and keeps one row
        # per point (4 · 8 = 32)
        assert main(["sweep", str(sweep), "--out", str(out), "--resume", "--workers",
                     "1"]) == 0
        table = read_results(out)
        assert len(table) == 32 and table["hash"].is_unique
        assert not (tmp_path / f".{out.name}.lock").exists()


def test_the_store_holds_the_lock_until_closed(tmp_path):
    path = tmp_path / "r.csv"
    columns = [("hash", "str"), ("error", "str")]
    store = open_store(path, columns)
    with pytest.raises(SpecError, match=rf"^{path}: another archsim sweep \(pid {os.getpid()}\) "
                                        r"is writing this table"):
        open_store(path, columns, resume=True)
    store.close()
    open_store(path, columns, resume=True).close()


def _killed_at_rename(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(HERE / "killed_at_rename.py"), *args],
                          capture_output=True, text=True, timeout=120)


def test_temporaries_of_a_run_killed_at_the_rename_are_removed_next_time(tmp_path):
    scenario = write_yaml(tmp_path / "s.yaml", SCENARIO)
    result, report = tmp_path / "r.json", tmp_path / "rep"
    proc = _killed_at_rename("simulate", str(scenario), "--out", str(result))
    assert proc.returncode == -signal.SIGKILL
    left = [p.name for p in tmp_path.iterdir() if p.name.startswith(".r.json.")]
    assert len(left) == 1 and left[0].endswith(".tmp") and not result.exists()
    assert main(["simulate", str(scenario), "--out", str(result), "--json"]) == 0
    assert result.exists() and not any(p.name.startswith(".r.json.") for p in tmp_path.iterdir())

    proc = _killed_at_rename("report", str(result), "--out", str(report))
    assert proc.returncode == -signal.SIGKILL
    left = [p for p in tmp_path.iterdir() if p.name.startswith(".rep.")]
    assert len(left) == 1 and left[0].is_dir() and (left[0] / "index.html").exists()
    assert main(["report", str(result), "--out", str(report)]) == 0
    assert (report / "index.html").exists()
    assert not any(p.name.startswith(".rep.") for p in tmp_path.iterdir())


def test_only_dead_processes_temporaries_are_removed(tmp_path):
    target = tmp_path / "r.json"
    mine = temp_path(target)  # this process is alive: its temporary stays
    mine.write_text("being written")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    stale = mine.with_name(mine.name.replace(f"-{os.getpid()}-", f"-{pid}-"))
    stale.write_text("left by a kill")
    other = tmp_path / ".r.json.bak.tmp"  # not a name archsim gives a temporary
    other.write_text("x")
    unrelated = tmp_path / ".notes.tmp"
    unrelated.write_text("x")
    assert clean_stale(target) == [stale]
    assert mine.exists() and other.exists() and unrelated.exists()
    # an old temporary without host and pid (archsim before this change) goes after a day
    legacy = tmp_path / ".r.json.k2j4_x1a.tmp"
    legacy.write_text("x")
    assert clean_stale(target) == []
    day_ago = time.time() - 25 * 3600
    os.utime(legacy, (day_ago, day_ago))
    assert clean_stale(target) == [legacy]
