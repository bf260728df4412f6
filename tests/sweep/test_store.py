"""The results table: rows appended as they come, readable at any moment, resumable, and never
left half-written (a torn CSV line is ignored and cut off; Parquet parts are merged)."""

import pytest

from archsim.spec.errors import SpecError
from archsim.sweep.store import open_store, read_results

COLUMNS = [("hash", "str"), ("point", "int"), ("plan.tp", "int"), ("feasible", "bool"),
           ("step_time_s", "float"), ("error", "str")]


def row(i, error=None):
    return {"hash": f"h{i}", "point": i, "plan.tp": 2 ** i, "feasible": i % 2 == 0,
            "step_time_s": None if error else 0.5 * i, "error": error}


@pytest.fixture(params=[".csv", ".parquet"])
def path(request, tmp_path):
    return tmp_path / f"results{request.param}"


def test_rows_are_readable_after_each_append(path):
    store = open_store(path, COLUMNS)
    store.append([row(0), row(1)])
    assert list(read_results(path)["hash"]) == ["h0", "h1"]  # before close
    store.append([row(2, error="SpecError: plan.tp: bad | second line")])
    store.close()
    frame = read_results(path)
    assert list(frame.columns) == [c for c, _ in COLUMNS]
    assert list(frame["plan.tp"]) == [1, 2, 4]
    assert list(frame["feasible"]) == [True, False, True]
    assert frame["step_time_s"].tolist()[:2] == [0.0, 0.5]
    assert frame["error"].tolist()[2] == "SpecError: plan.tp: bad | second line"


def test_resume_knows_finished_points_and_errors(path):
    store = open_store(path, COLUMNS)
    store.append([row(0), row(1, error="boom")])
    store.close()
    again = open_store(path, COLUMNS, resume=True)
    assert again.finished() == {"h0": False, "h1": True}
    again.append([row(1)])  # a retried point: the later row wins
    again.close()
    frame = read_results(path)
    assert list(frame["hash"]) == ["h0", "h1"]
    assert frame["error"].isna().all()


def test_existing_table_needs_resume_or_overwrite(path):
    open_store(path, COLUMNS).close()
    with pytest.raises(SpecError, match=r"already exists; pass --resume to continue that sweep "
                                        r"or --overwrite to start again"):
        open_store(path, COLUMNS)
    store = open_store(path, COLUMNS, overwrite=True)
    assert store.finished() == {}
    store.close()


def test_resume_refuses_another_sweeps_table(path):
    open_store(path, COLUMNS).close()
    other = [*COLUMNS[:2], ("plan.pp", "int"), *COLUMNS[3:]]
    with pytest.raises(SpecError, match=r"holds a different sweep's table \(columns missing "
                                        r"plan.pp; unexpected plan.tp\)"):
        open_store(path, other, resume=True)


def test_resume_of_a_table_with_other_result_columns_names_the_version(path):
    """A table whose inputs match but which lacks a result column this archsim writes (one
    from before ``uncertainty.above_published``) came from another archsim version."""
    older = [c for c in COLUMNS if c[0] != "step_time_s"]
    open_store(path, older).close()
    with pytest.raises(SpecError, match=r"was written by another archsim version \(result "
                                        r"columns missing step_time_s\); --overwrite runs the "
                                        r"sweep again"):
        open_store(path, COLUMNS, resume=True)


def test_a_torn_csv_line_is_ignored_then_cut_off(tmp_path):
    path = tmp_path / "r.csv"
    store = open_store(path, COLUMNS)
    store.append([row(0), row(1)])
    store.close()
    with path.open("a") as fh:
        fh.write("h2,2,4,tr")  # what a kill in the middle of a write could leave
    assert list(read_results(path)["hash"]) == ["h0", "h1"]
    store = open_store(path, COLUMNS, resume=True)
    assert set(store.finished()) == {"h0", "h1"}
    store.append([row(2)])
    store.close()
    assert path.read_text().count("\n") == 4  # header + 3 whole rows
    assert list(read_results(path)["hash"]) == ["h0", "h1", "h2"]


def test_parquet_parts_left_by_a_killed_run_are_merged(tmp_path):
    path = tmp_path / "r.parquet"
    store = open_store(path, COLUMNS)
    store.append([row(0)])
    store.compact()
    store.append([row(1)])
    store.append([row(2)])
    # no close(): as if killed; the main file holds one row, two parts the rest
    store.release()  # the kernel's part of a kill: the lock goes with the process
    parts = sorted(p.name for p in (tmp_path / "r.parquet.parts").iterdir())
    assert len(parts) == 2
    import pyarrow.parquet as pq

    assert pq.read_table(path).num_rows == 1  # the main file is whole on its own
    assert list(read_results(path)["hash"]) == ["h0", "h1", "h2"]
    store = open_store(path, COLUMNS, resume=True)  # merges the parts
    assert not (tmp_path / "r.parquet.parts").exists()
    assert pq.read_table(path).num_rows == 3
    store.close()


def test_bad_extension():
    with pytest.raises(SpecError, match=r"results file must end in .csv or .parquet, got "
                                        r"'.xlsx'"):
        open_store("r.xlsx", COLUMNS)


def test_a_row_says_whether_its_utilisation_is_above_every_published_run():
    """The training result's uncertainty.above_published (a list of claims) becomes a bool
    column; an inference result has none (empty cell). A TPU v5p plan simulated at 75% MFU is
    flagged against MaxText's 68.5%."""
    from archsim.sweep.columns import metrics_row

    flagged = {"mode": "training", "uncertainty": {"above_published": ["MFU 75.0% is above"]}}
    assert metrics_row(flagged)["uncertainty.above_published"] is True
    plain = {"mode": "training", "uncertainty": {"above_published": []}}
    assert metrics_row(plain)["uncertainty.above_published"] is False
    assert metrics_row({"mode": "inference", "uncertainty": {}})[
        "uncertainty.above_published"] is None
