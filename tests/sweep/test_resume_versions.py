"""``--resume`` reuses only rows computed by the running archsim and result schema: rows of
another version (or of a table that did not record one) are dropped from the table, kept in
``r.bak.csv`` / ``r.bak.parquet``, and their points run again, so the table holds one row
per point."""

import csv

import pytest
from sweep_cases import sweep_mapping

import archsim
import archsim.result
from archsim.cli import main
from archsim.sweep.runner import run_sweep
from archsim.sweep.spec import load_sweep
from archsim.sweep.store import read_results

# tp, pp ∈ {1, 2}: 2 × 2 = 4 points, all feasible on 8 devices (tp·pp divides 8)
AXES = {"plan.tp": [1, 2], "plan.pp": [1, 2]}


def tiny_sweep():
    return load_sweep(sweep_mapping(axes=AXES))


def stored_rows(path):
    """Every row physically in the table (not deduplicated as read_results does)."""
    if path.suffix == ".csv":
        with path.open(newline="") as fh:
            return list(csv.DictReader(fh))
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("changed", ["archsim", "result"])
def test_resume_after_a_version_change_reruns_every_point_once(tmp_path, monkeypatch, suffix,
                                                               changed):
    out = tmp_path / f"r{suffix}"
    old = archsim.__version__
    first = run_sweep(tiny_sweep(), out)
    assert (first.ran, first.feasible) == (4, 4)
    assert {str(r["archsim_version"]) for r in stored_rows(out)} == {old}
    schema = str(archsim.result.RESULT_VERSION)
    assert {str(r["result_version"]) for r in stored_rows(out)} == {schema}

    if changed == "archsim":
        monkeypatch.setattr(archsim, "__version__", "99.0.0")
    else:
        monkeypatch.setattr(archsim.result, "RESULT_VERSION", archsim.result.RESULT_VERSION + 1)
    second = run_sweep(tiny_sweep(), out, resume=True)
    assert (second.skipped, second.ran, second.feasible) == (0, 4, 4)
    label = f"archsim {old} (result_version {schema})"
    assert second.ignored == {label: 4}
    assert second.backup == tmp_path / f"r.bak{suffix}"
    assert second.ignored_note == f"4 rows from {label} ignored (kept in {second.backup})"

    rows = stored_rows(out)
    assert len(rows) == 4  # one row per point, none left from the old version
    assert len({r["hash"] for r in rows}) == 4
    want = ("99.0.0", schema) if changed == "archsim" else (old, str(int(schema) + 1))
    assert {(str(r["archsim_version"]), str(r["result_version"])) for r in rows} == {want}
    assert len(read_results(out)) == 4
    if suffix == ".csv":  # the dropped rows, as they were
        with second.backup.open(newline="") as fh:
            kept = list(csv.DictReader(fh))
        assert len(kept) == 4 and {r["archsim_version"] for r in kept} == {old}

    third = run_sweep(tiny_sweep(), out, resume=True)  # same version again: nothing to do
    assert (third.skipped, third.ran, third.ignored) == (4, 0, {})


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_table_without_version_columns_is_run_again(tmp_path, suffix):
    """A table written before rows recorded their version: same sweep, unknown code."""
    out = tmp_path / f"r{suffix}"
    run_sweep(tiny_sweep(), out)
    frame = read_results(out).drop(columns=["archsim_version", "result_version"])
    if suffix == ".csv":
        frame.to_csv(out, index=False)
    else:
        frame.to_parquet(out, index=False)
    assert len(stored_rows(out)) == 4 and "archsim_version" not in stored_rows(out)[0]

    again = run_sweep(tiny_sweep(), out, resume=True)
    assert (again.skipped, again.ran) == (0, 4)
    assert again.ignored == {"an archsim that did not record its version": 4}
    rows = stored_rows(out)
    assert len(rows) == 4 and {r["archsim_version"] for r in rows} == {archsim.__version__}


def test_a_partly_finished_old_table_keeps_no_old_rows(tmp_path, monkeypatch):
    out = tmp_path / "r.csv"
    run_sweep(load_sweep(sweep_mapping(axes=AXES, constraints=["plan.tp == 1"])), out)
    monkeypatch.setattr(archsim, "__version__", "99.0.0")
    run = run_sweep(tiny_sweep(), out, resume=True)
    # 2 old rows (tp = 1) dropped; all 4 points run under the new version
    assert (run.skipped, run.ran, sum(run.ignored.values())) == (0, 4, 2)
    assert len(stored_rows(out)) == 4


def test_the_summary_line_says_how_many_rows_were_ignored(write_sweep, tmp_path, monkeypatch,
                                                          capsys):
    path = write_sweep(axes=AXES)
    out = tmp_path / "r.csv"
    assert main(["sweep", str(path), "--out", str(out), "--workers", "1"]) == 0
    old = archsim.__version__
    monkeypatch.setattr(archsim, "__version__", "99.0.0")
    capsys.readouterr()
    assert main(["sweep", str(path), "--out", str(out), "--workers", "1", "--resume"]) == 0
    text = capsys.readouterr().out
    schema = archsim.result.RESULT_VERSION
    assert (f"sweep tiny-sweep: 4 points; 4 rows from archsim {old} (result_version {schema}) "
            f"ignored (kept in {tmp_path / 'r.bak.csv'})") in text
    assert "ran 4 in" in text


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_rows_of_an_edited_base_are_replaced_and_other_points_rows_kept(tmp_path, suffix):
    from sweep_cases import BASE

    out = tmp_path / f"r{suffix}"
    run_sweep(tiny_sweep(), out)
    # a narrower sweep over the same table: the rows of the points it lacks stay
    narrow = run_sweep(load_sweep(sweep_mapping(axes=AXES, constraints=["plan.tp == 1"])), out,
                       resume=True)
    assert (narrow.skipped, narrow.ran, narrow.ignored) == (2, 0, {})
    assert len(stored_rows(out)) == 4
    # the same points on an edited base: each point's old row gives way to its new one
    edited = {**BASE, "workload": {**BASE["workload"], "global_batch": 32}}
    sweep = load_sweep(sweep_mapping(axes=AXES, base=edited))
    again = run_sweep(sweep, out, resume=True)
    assert (again.skipped, again.ran) == (0, 4)
    assert again.ignored == {"an earlier base scenario, profile or engine": 4}
    rows = stored_rows(out)
    assert len(rows) == 4
    assert {r["hash"] for r in rows} == set(again.hashes)
    assert not {r["hash"] for r in rows} & set(narrow.hashes)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_retried_point_keeps_one_row_after_the_next_resume(tmp_path, suffix):
    """tp = 1 divides by zero in a constraint: an error row, re-run by --retry-errors (the
    CSV appends the new row); the next resume leaves one row per point in the file."""
    out = tmp_path / f"r{suffix}"
    sweep = load_sweep(sweep_mapping(axes={"plan.tp": [1, 2]},
                                     constraints=["1 / (plan.tp - 1) > 0"]))
    assert run_sweep(sweep, out).failed == 1
    assert run_sweep(sweep, out, resume=True, retry_errors=True).ran == 1
    again = run_sweep(sweep, out, resume=True)
    assert (again.skipped, again.ran, again.ignored) == (2, 0, {})
    rows = stored_rows(out)
    assert len(rows) == 2 and len({r["hash"] for r in rows}) == 2


@pytest.mark.parametrize("first, second", [([5, 10], [5, 10, 12.5]), ([5, 12.5], [5, 10, 20])])
def test_a_parquet_table_resumes_when_an_axis_turns_fractional(tmp_path, first, second):
    """The arrival-rate column is int64 in a table of whole rates and double once a rate is a
    fraction; resuming either way widens it to double instead of failing to merge the
    parts; the rates of the first run are not run again."""
    base = {"name": "tiny-serving", "model": "gpt3-1.7b",
            "hardware": {"device": "a100-sxm4-80gb", "count": 1},
            "workload": {"kind": "serving", "arrival": {"rate_per_s": 5, "count": 10},
                         "prompt_len": 64, "gen_len": 4}}
    out = tmp_path / "r.parquet"
    axis = "workload.arrival.rate_per_s"
    assert run_sweep(load_sweep(sweep_mapping(base=base, axes={axis: first})), out).ran == 2
    again = run_sweep(load_sweep(sweep_mapping(base=base, axes={axis: second})), out,
                      resume=True)
    assert (again.skipped, again.ran) == (len(set(first) & set(second)),
                                          len(set(second) - set(first)))
    frame = read_results(out)
    assert sorted(frame[axis]) == sorted(set(first) | set(second))
    assert str(frame[axis].dtype) == "float64"
    assert not (tmp_path / "r.parquet.parts").exists()
