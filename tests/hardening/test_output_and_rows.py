"""Outputs and runs rows: a runs row of the wrong width, an output that cannot be written, a
command that would leave half its outputs, an output that names an input, a graph of a plan
that does not divide, and smaller CLI nits. Each is bad input: one line, exit 2, nothing
written."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from hostile_cases import SCENARIO, sweep_mapping, write_yaml

import archsim
from archsim.cli import main
from archsim.insitu.runs import read_runs
from archsim.io import OutputError, replace_together, write_bytes_atomic, write_text_atomic
from archsim.spec.errors import SpecError

HEADER = ("run,source,kind,metric,measured,device,devices,devices_per_node,model,dtype,seq_len,"
          "global_batch,micro_batch,tp,pp,zero,recompute,flash_attention,weight,notes\n")
ROW = ("t{n},src{s},training,step_time_s,{t},h100-sxm5-80gb,8,8,llama2-7b,bf16,4096,{b},1,{tp},2,"
       "1,selective,true,1,note\n")


def runs_text(tp: int = 2) -> str:
    return "# measured runs\n" + HEADER + "".join(
        ROW.format(n=n, s="AB"[n % 2], t=4 * n, b=64 * n, tp=tp) for n in (1, 2))


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def err_of(capsys) -> str:
    return capsys.readouterr().err


# --- 1: a runs row with the wrong number of cells -------------------------------------------

SHORT = "t9,srcA,training,step_time_s,4,h100-sxm5-80gb,8,8,llama2-7b,bf16,4096,64,1,2,2,1,selective"


@pytest.mark.parametrize("row, cells", [(SHORT, 17), (ROW.format(n=9, s="A", t=4, b=64, tp=2)
                                                      .rstrip("\n") + ",extra", 21)])
def test_a_row_of_the_wrong_width_is_named(tmp_path, capsys, row, cells):
    path = write(tmp_path / "runs.csv", runs_text() + row + "\n")
    message = f"{path}: row 5: {cells} cells, the header has 20"
    with pytest.raises(SpecError) as err:
        read_runs(path)
    assert err.value.problems == [message]
    out = tmp_path / "c.yaml"
    assert main(["calibrate", "--runs", str(path), "--out", str(out)]) == 2
    assert err_of(capsys) == f"archsim calibrate: {message}\n"
    assert main(["validate", "--runs", str(path), "--out", str(tmp_path / "v")]) == 2
    assert err_of(capsys) == f"archsim validate: {message}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.csv"]


def test_rows_after_a_quoted_line_break_keep_their_line_numbers(tmp_path):
    two_lines = ROW.format(n=1, s="A", t=4, b=64, tp=2).replace(",note", ',"two\nlines"')
    path = write(tmp_path / "runs.csv", "# comment\n" + HEADER + two_lines + "t2,A\n")
    with pytest.raises(SpecError) as err:
        read_runs(path)
    assert err.value.problems == [f"{path}: row 5: 2 cells, the header has 20"]
    (run,) = read_runs(write(path, "# comment\n" + HEADER + two_lines))
    assert (run.line, run.notes) == (3, "two\nlines")


def test_a_cell_csv_cannot_read_is_named(tmp_path):
    path = write(tmp_path / "runs.csv", HEADER + ROW.format(n=1, s="A", t=4, b=64, tp=2)
                 .replace(",note", "," + "x" * 200_000))
    with pytest.raises(SpecError) as err:
        read_runs(path)
    assert err.value.problems == [f"{path}: row 2: not readable as CSV: field larger than field "
                                  "limit (131072)"]


# --- 2: an output folder no file can be created in (root included) -------------------------

@pytest.fixture
def read_only(tmp_path):
    """``(folder, reason)``: a folder where creating a file fails, and the system's words for
    it: a 0555 folder, or /sys for root (whom os.access and modes do not stop)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        for candidate in (folder, Path("/sys")):
            probe = candidate / "archsim-test-probe"
            try:
                probe.touch()
            except OSError as exc:
                yield candidate, exc.strerror
                break
            probe.unlink()
        else:
            pytest.skip("no folder here refuses a new file")
    finally:
        folder.chmod(0o755)


def test_an_output_folder_that_refuses_files_is_bad_input(tmp_path, capsys, read_only):
    folder, reason = read_only
    sc = write_yaml(tmp_path / "sc.yaml", SCENARIO)
    runs = write(tmp_path / "runs.csv", runs_text())
    cases = [
        (["simulate", str(sc), "--out", str(folder / "r.json")], folder / "r.json"),
        (["simulate", str(sc), "--trace", str(folder / "t.json")], folder / "t.json"),
        (["graph", str(sc), "--out", str(folder / "g.json")], folder / "g.json"),
        (["plan", str(sc), "--out", str(folder / "p.json")], folder / "p.json"),
        (["calibrate", "--runs", str(runs), "--out", str(folder / "c.yaml")],
         folder / "c.yaml"),
        (["validate", "--runs", str(runs), "--out", str(folder / "v")],
         f"--out {folder / 'v'}"),
    ]
    for argv, label in cases:
        assert main(argv) == 2, argv
        # "is not writable" (the up-front check), not "cannot write" (after the work)
        assert err_of(capsys) == (f"archsim {argv[0]}: {label}: folder {folder} is not "
                                  f"writable: {reason}\n")


def test_a_failed_write_is_bad_input_and_leaves_no_temporary(tmp_path, capsys, monkeypatch):
    def no_space(*_args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", no_space)
    out = tmp_path / "out" / "r.json"
    out.parent.mkdir()
    assert main(["simulate", str(write_yaml(tmp_path / "sc.yaml", SCENARIO)),
                 "--out", str(out)]) == 2
    assert err_of(capsys) == f"archsim simulate: {out}: cannot write: No space left on device\n"
    assert list(out.parent.iterdir()) == []


def test_replace_together_replaces_nothing_when_one_write_fails(tmp_path):
    a, b = write(tmp_path / "a.txt", "old a"), write(tmp_path / "b.txt", "old b")
    with pytest.raises(OutputError) as err, replace_together([a, b]) as (a_tmp, b_tmp):
        write_text_atomic(a_tmp, "new a")
        raise OutputError(b_tmp, "No space left on device")
    assert str(err.value) == f"{b}: cannot write: No space left on device"  # not the temporary
    assert (a.read_text(), b.read_text()) == ("old a", "old b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]
    with replace_together([a, b]) as (a_tmp, b_tmp):
        write_text_atomic(a_tmp, "new a")
        write_bytes_atomic(b_tmp, b"new b")
    assert (a.read_text(), b.read_text()) == ("new a", "new b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


# --- 3: no half-written outputs -------------------------------------------------------------

def test_calibrate_with_a_blocked_report_writes_nothing(tmp_path, capsys):
    runs = write(tmp_path / "runs.csv", runs_text())
    pw = tmp_path / "pw"
    (pw / "c.md").mkdir(parents=True)
    assert main(["calibrate", "--runs", str(runs), "--out", str(pw / "c.yaml")]) == 2
    assert err_of(capsys) == (f"archsim calibrate: {pw / 'c.md'}: is a folder; expected a file "
                              "path\n")
    assert [p.name for p in pw.iterdir()] == ["c.md"]


def test_calibrate_failing_its_last_write_leaves_none_of_its_outputs(tmp_path, capsys,
                                                                     monkeypatch):
    import archsim.io

    real = archsim.io.write_text_atomic

    def table_fails(path, text):
        if ".c.cv.csv." in Path(path).name:
            raise OutputError(path, "No space left on device")
        real(path, text)

    monkeypatch.setattr(archsim.io, "write_text_atomic", table_fails)
    runs = write(tmp_path / "runs.csv", runs_text())
    pw = tmp_path / "pw"
    pw.mkdir()
    assert main(["calibrate", "--runs", str(runs), "--out", str(pw / "c.yaml")]) == 2
    assert err_of(capsys).endswith(f"archsim calibrate: {pw / 'c.cv.csv'}: cannot write: No "
                                   "space left on device\n")
    assert list(pw.iterdir()) == []


@pytest.mark.parametrize("name, text, what, expected", [
    ("c.md", "# my notes on the H100 runs\n", "the report", "a report calibrate wrote"),
    ("c.cv.csv", "a,b\n1,2\n", "the table", "a table calibrate wrote"),
    ("c.yaml", "name: my-h100\nkind: gpu\n", "--out",
     "a calibration overlay (kind: insitu-calibration)"),
])
def test_calibrate_replaces_only_its_own_outputs(tmp_path, capsys, name, text, what, expected):
    """--out c.yaml writes c.md and c.cv.csv beside it: a file of the user's there (or a device
    profile named as --out) is refused before the fit, and left as it was; a rerun replaces
    the outputs calibrate wrote."""
    runs = write(tmp_path / "runs.csv", runs_text())
    out = tmp_path / "o"
    out.mkdir()
    mine = write(out / name, text)
    assert main(["calibrate", "--runs", str(runs), "--out", str(out / "c.yaml")]) == 2
    assert err_of(capsys) == (f"archsim calibrate: {what} {mine} exists and is not {expected}; "
                              "calibrate replaces only its own outputs: move the file or "
                              "choose another --out\n")
    assert [p.name for p in out.iterdir()] == [name] and mine.read_text() == text
    mine.unlink()
    assert main(["calibrate", "--runs", str(runs), "--out", str(out / "c.yaml")]) == 0
    first = {p.name: p.read_text() for p in out.iterdir()}
    assert sorted(first) == ["c.cv.csv", "c.md", "c.yaml"]
    assert main(["calibrate", "--runs", str(runs), "--out", str(out / "c.yaml")]) == 0
    assert {p.name: p.read_text() for p in out.iterdir()} == first


def test_validate_runs_with_a_blocked_table_writes_nothing(tmp_path, capsys):
    runs = write(tmp_path / "runs.csv", runs_text())
    blocked = tmp_path / "v" / "runs-validation.csv"
    blocked.mkdir(parents=True)
    assert main(["validate", "--runs", str(runs), "--out", str(tmp_path / "v")]) == 2
    assert err_of(capsys) == f"archsim validate: {blocked}: is a folder; expected a file path\n"
    assert [p.name for p in blocked.parent.iterdir()] == ["runs-validation.csv"]


# --- 4: an output that names an input, or another output -----------------------------------

def test_out_naming_the_scenario_is_refused(tmp_path, capsys, monkeypatch):
    sc = write_yaml(tmp_path / "small.yaml", SCENARIO)
    before = sc.read_text()
    monkeypatch.chdir(tmp_path)
    for command in ("simulate", "plan"):
        assert main([command, "small.yaml", "--out", "../" + tmp_path.name + "/small.yaml"]) == 2
        assert err_of(capsys) == (f"archsim {command}: --out ../{tmp_path.name}/small.yaml is "
                                  "the scenario being read\n")
    assert sc.read_text() == before


def test_out_and_trace_naming_one_file_are_refused(tmp_path, capsys):
    sc = write_yaml(tmp_path / "sc.yaml", SCENARIO)
    same = tmp_path / "same.json"
    assert main(["simulate", str(sc), "--out", str(same), "--trace", str(same)]) == 2
    assert err_of(capsys) == (f"archsim simulate: --out and --trace name the same file "
                              f"({same})\n")
    assert not same.exists()


def test_calibrate_outputs_naming_the_runs_file_are_refused(tmp_path, capsys):
    runs = write(tmp_path / "c.cv.csv", runs_text())
    assert main(["calibrate", "--runs", str(runs), "--out", str(tmp_path / "c.yaml")]) == 2
    assert err_of(capsys) == f"archsim calibrate: the table {runs} is the runs file being read\n"
    assert [p.name for p in tmp_path.iterdir()] == ["c.cv.csv"]


# --- 5: the graph of a plan that does not divide --------------------------------------------

@pytest.mark.parametrize("base, overrides, reason", [
    (SCENARIO, ["plan.tp=3"], "8 devices are not divisible by tp·pp·cp = 3·1·1 = 3"),
    ("llama2-7b-inference-a100", ["plan.tp=3", "hardware.count=3"],
     "heads 32 are not divisible by tp 3"),
])
def test_graph_of_a_plan_that_does_not_divide_is_refused(tmp_path, capsys, base, overrides,
                                                         reason):
    source = str(write_yaml(tmp_path / "sc.yaml", base)) if isinstance(base, dict) else base
    sc = archsim.load_scenario(source, overrides)
    assert reason in archsim.simulate(sc)["infeasible_reasons"]  # simulate's own words
    out = tmp_path / "g.json"
    argv = ["graph", source, "--out", str(out)] + [a for o in overrides for a in ("--set", o)]
    assert main(argv) == 2
    first = err_of(capsys).splitlines()[0]
    assert first == (f"archsim graph: {sc.name}: the plan does not divide: {reason} (simulate "
                     "reports it infeasible); no graph written")
    assert not out.exists()


# --- 6: smaller ----------------------------------------------------------------------------

def test_sweep_resume_and_overwrite_exclude_each_other(tmp_path, capsys):
    sweep = write_yaml(tmp_path / "sw.yaml", sweep_mapping())
    out = tmp_path / "r.csv"
    assert main(["sweep", str(sweep), "--out", str(out), "--resume", "--overwrite"]) == 2
    assert err_of(capsys) == ("archsim sweep: --resume and --overwrite exclude each other: "
                              "--resume continues the table, --overwrite replaces it\n")
    assert not out.exists()


def test_calibrate_with_no_run_to_fit_writes_nothing(tmp_path, capsys):
    """Llama-2-70B on 8 GPUs at tp 2 · pp 2 holds 70e9 · 2 B / 4 = 35 GB of weights per GPU and
    as much again of gradients, beside its optimizer states: neither row fits in 80 GB."""
    runs = write(tmp_path / "runs.csv", runs_text().replace("llama2-7b", "llama2-70b"))
    assert main(["calibrate", "--runs", str(runs), "--out", str(tmp_path / "c.yaml")]) == 2
    last = err_of(capsys).splitlines()[-1]  # after the progress bar's lines
    assert last.startswith(f"archsim calibrate: {runs}: no run could be fitted (2 runs do not "
                           "run in archsim, e.g. run t1 (row 3): stage 0 needs ")
    assert last.endswith("; nothing written")
    assert [p.name for p in tmp_path.iterdir()] == ["runs.csv"]


def test_calibrate_refuses_a_plan_that_does_not_divide(tmp_path, capsys):
    runs = write(tmp_path / "runs.csv", runs_text(tp=3))
    assert main(["calibrate", "--runs", str(runs), "--out", str(tmp_path / "c.yaml")]) == 2
    assert (f"{runs}: row 3, columns devices, tp, pp, model, global_batch, micro_batch (run t1): "
            "8 devices are not divisible by tp·pp·cp = 3·2·1 = 6; a measured run ran as its "
            "row says, so one of these cells is wrong") in err_of(capsys)
    assert [p.name for p in tmp_path.iterdir()] == ["runs.csv"]


def test_one_run_is_one_run(tmp_path, capsys):
    runs = write(tmp_path / "runs.csv", "".join(runs_text().splitlines(True)[:3]))
    assert main(["validate", "--runs", str(runs), "--out", str(tmp_path / "v")]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"1 run of {runs} predicted with the shipped profiles")
    assert "% over 1 run (bias " in out


def test_validate_help_says_runs_and_measured_need_no_torch(capsys):
    with pytest.raises(SystemExit) as done:
        main(["validate", "--help"])
    assert done.value.code == 0
    assert "Needs torch, except with --runs or --measured." in " ".join(
        capsys.readouterr().out.split())
