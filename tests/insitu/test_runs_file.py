"""The runs file (archsim/insitu/runs.py): what a row becomes, and every bad cell named by file,
row and column (exit 2 from the CLI)."""

import pytest

from archsim.cli import main
from archsim.insitu.predict import load_runs
from archsim.insitu.runs import read_runs
from archsim.spec.errors import SpecError

HEADER = "run,source,kind,metric,measured,device,devices,model,tp,micro_batch,set\n"


def write(tmp_path, text, name="runs.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_row_becomes_a_scenario(tmp_path):
    path = write(tmp_path, "# a comment line\n" + HEADER +
                 "r1,paper,training,step_time_s,1.5,a100-sxm4-80gb,8,gpt3-1.7b,2,4,"
                 "plan.zero=1; workload.seq_len=1024\n")
    (run,) = read_runs(path)
    assert run.id == "r1" and run.source == "paper" and run.line == 3
    assert run.scenario["hardware"] == {"device": "a100-sxm4-80gb", "count": 8}
    assert run.scenario["plan"] == {"tp": 2}
    assert run.scenario["workload"] == {"kind": "training", "micro_batch": 4}
    assert run.overrides == ("plan.zero=1", "workload.seq_len=1024")
    assert run.group == "training" and not run.is_rate
    (loaded,) = load_runs([run])
    assert loaded.scenario.plan.zero == 1 and loaded.scenario.workload.seq_len == 1024


def test_inline_shapes_and_inference_metrics(tmp_path):
    path = write(tmp_path, "run,kind,metric,measured,device,devices,layers,hidden,heads,vocab,"
                           "batch,prompt_len,gen_len\n"
                           "r,inference,tokens_per_s,100,h100-sxm5-80gb,1,2,256,4,1000,8,64,16\n")
    (run,) = read_runs(path)
    assert run.source == "r"  # default: the run id (leave one run out)
    assert run.scenario["model"] == {"name": "r", "layers": 2, "hidden": 256, "heads": 4,
                                     "vocab": 1000}
    assert run.group == "throughput" and run.is_rate


@pytest.mark.parametrize("row,message", [
    ("r,s,training,step_time_s,abc,a100-sxm4-80gb,8,gpt3-1.7b,1,1,",
     r"row 2, column measured: 'abc': expected a number"),
    ("r,s,training,step_time_s,-1,a100-sxm4-80gb,8,gpt3-1.7b,1,1,",
     r"row 2, column measured: '-1': expected a number greater than 0"),
    ("r,s,training,ttft_s,1,a100-sxm4-80gb,8,gpt3-1.7b,1,1,",
     r"row 2, column metric: 'ttft_s' is not a training metric"),
    ("r,s,serve,step_time_s,1,a100-sxm4-80gb,8,gpt3-1.7b,1,1,",
     r"row 2, column kind: 'serve': expected training, inference or serving"),
    ("r,s,serving,step_time_s,1,a100-sxm4-80gb,8,gpt3-1.7b,1,1,",
     r"row 2, column metric: 'step_time_s' is not a serving metric"),
    ("r,s,training,step_time_s,1,a100-sxm4-80gb,8,gpt3-1.7b,two,1,",
     r"row 2, column tp: 'two': expected a whole number"),
    ("r,s,training,step_time_s,1,a100-sxm4-80gb,8,gpt3-1.7b,1,1,plan.zero",
     r"row 2, column set: 'plan.zero': expected key=value"),
    ("r,s,training,step_time_s,1,a100-sxm4-80gb,,gpt3-1.7b,1,1,",
     r"row 2, column devices: required, but empty"),
    ("r,s,training,step_time_s,1,a100-sxm4-80gb,8,,1,1,",
     r"row 2, column model: empty, and the shape columns layers, hidden, heads, vocab"),
])
def test_bad_cells_name_file_row_and_column(tmp_path, row, message):
    path = write(tmp_path, HEADER + row + "\n")
    with pytest.raises(SpecError, match=str(path).replace(".", r"\.") + ": " + message):
        read_runs(path)


def test_header_problems(tmp_path):
    path = write(tmp_path, "run,kind,metric,mesured,device,devices\n")
    with pytest.raises(SpecError) as err:
        read_runs(path)
    text = str(err.value)
    assert "header: unknown column 'mesured' (did you mean 'measured'?)" in text
    assert "header: missing required column measured" in text


def test_repeated_run_ids(tmp_path):
    row = "r,s,training,step_time_s,1,a100-sxm4-80gb,8,gpt3-1.7b,1,1,\n"
    path = write(tmp_path, HEADER + row + row)
    with pytest.raises(SpecError, match=r"row 3, column run: 'r' repeats row 2"):
        read_runs(path)


def test_a_bad_registry_name_names_the_file_row_and_column(tmp_path):
    path = write(tmp_path, HEADER + "r,s,training,step_time_s,1,a100-sxm9,8,gpt3-1.7b,1,1,\n")
    with pytest.raises(SpecError) as err:
        load_runs(read_runs(path))
    assert str(err.value).startswith(f"{path}: row 2, column device (run r): hardware.device: "
                                     "unknown device 'a100-sxm9'")


@pytest.mark.parametrize("cells, column, message", [
    ("a100-sxm4-80gb,8,gpt-nope,1,1,", "model", "model: unknown model 'gpt-nope'"),
    ("a100-sxm4-80gb,8,gpt3-1.7b,1,1,plan.nonsense=3", "set",
     "--set plan.nonsense: unknown key"),
    ("a100-sxm4-80gb,8,gpt3-1.7b,1,1,workload.seq_len=1024; plan.recompute=sometimes", "set",
     "plan.recompute"),
])
def test_scenario_errors_name_the_cell_that_set_the_field(tmp_path, cells, column, message):
    path = write(tmp_path, HEADER + "r,s,training,step_time_s,1," + cells + "\n")
    with pytest.raises(SpecError) as err:
        load_runs(read_runs(path))
    text = str(err.value)
    assert text.startswith(f"{path}: row 2, column {column} (run r): ")
    assert message in text


def test_validate_runs_checks_the_profile_argument_once(tmp_path, capsys):
    path = write(tmp_path, HEADER + "r,s,training,step_time_s,1,a100-sxm4-80gb,8,gpt3-1.7b,1,1,"
                                    "\nq,s,training,step_time_s,1,a100-sxm4-80gb,8,gpt3-1.7b,1,1,\n")
    assert main(["validate", "--runs", str(path), "--profile", "a100-sxm4-80gb",
                 "--out", str(tmp_path / "v")]) == 2
    err = capsys.readouterr().err
    assert err.count("--profile a100-sxm4-80gb: with --runs, expected a calibration overlay") == 1
    assert "name it (registry name or profile path) in the runs file's device column" in err
    assert "Traceback" not in err and not (tmp_path / "v").exists()


def test_cli_exit_2_without_traceback(tmp_path, capsys):
    path = write(tmp_path, HEADER + "r,s,training,step_time_s,x,a100-sxm4-80gb,8,gpt3-1.7b,1,1,\n")
    for argv in (["calibrate", "--runs", str(path), "--out", str(tmp_path / "c.yaml")],
                 ["validate", "--runs", str(path), "--out", str(tmp_path / "v")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"{path}: row 2, column measured: 'x': expected a number" in err
        assert "Traceback" not in err
    assert not (tmp_path / "c.yaml").exists()


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(SpecError, match="no such runs file"):
        read_runs(tmp_path / "none.csv")
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"run,kind\n\xff\xfe\x00")
    with pytest.raises(SpecError, match="not UTF-8 text"):
        read_runs(binary)


def test_the_gradient_accumulation_column(tmp_path):
    """How a run accumulated its gradients (archsim/cost/gradients.py) is a column of its own;
    a mode that does not exist names the row and the column."""
    head = "run,source,kind,metric,measured,device,devices,model,grad_accumulation\n"
    path = write(tmp_path, head + "r,s,training,step_time_s,1,a100-sxm4-80gb,8,gpt3-1.7b,"
                                  "fp32-cast\n")
    (loaded,) = load_runs(read_runs(path))
    assert loaded.scenario.plan.grad_accumulation == "fp32-cast"
    bad = write(tmp_path, head + "r,s,training,step_time_s,1,a100-sxm4-80gb,8,gpt3-1.7b,fp64\n",
                "bad.csv")
    with pytest.raises(SpecError) as err:
        load_runs(read_runs(bad))
    assert str(err.value).startswith(f"{bad}: row 2, column grad_accumulation (run r): "
                                     "plan.grad_accumulation: Input should be 'native', 'fp32', "
                                     "'fp32-fused' or 'fp32-cast'")


def test_a_repeated_header_column_is_refused(tmp_path):
    """Two ``measured`` columns: which one the fit used was the last one, silently."""
    path = write(tmp_path, "run,kind,metric,measured,device,devices,model,measured,tp,tp,tp\n"
                           "r,training,step_time_s,1,a100-sxm4-80gb,8,gpt3-1.7b,5,1,1,1\n")
    with pytest.raises(SpecError) as err:
        read_runs(path)
    assert err.value.problems == [f"{path}: header: column 'measured' appears twice",
                                  f"{path}: header: column 'tp' appears 3 times"]


def test_an_error_of_the_set_column_names_it(tmp_path):
    """The tp column is empty; the set column's ``plan.tp=abc`` is at fault."""
    path = write(tmp_path, HEADER + "r,s,training,step_time_s,1,a100-sxm4-80gb,8,gpt3-1.7b,,1,"
                                    "plan.zero=1; plan.tp=abc\n")
    with pytest.raises(SpecError) as err:
        load_runs(read_runs(path))
    (problem,) = err.value.problems
    assert problem.startswith(f"{path}: row 2, column set (run r): --set plan.tp: ")
    assert problem.endswith("(got 'abc')")


def test_set_may_not_override_a_column_of_the_row_or_the_calibration(tmp_path):
    """A row labelled A100 but predicted on an H100 through ``set`` would be fitted into an
    H100 entry of the overlay; a row choosing its own calibration would escape the one under
    test. Both are refused with the row and the column."""
    path = write(tmp_path, HEADER
                 + "r,s,training,step_time_s,1,a100-sxm4-80gb,8,gpt3-1.7b,1,1,"
                   "hardware.device=h100-sxm5-80gb; plan.tp=2\n"
                 + "q,s,training,step_time_s,1,a100-sxm4-80gb,8,gpt3-1.7b,1,1,"
                   "calibration=isolated\n")
    with pytest.raises(SpecError) as err:
        read_runs(path)
    assert err.value.problems == [
        f"{path}: row 2, column set: 'hardware.device=h100-sxm5-80gb': hardware.device is the "
        "device column's, and that column is set in this row",
        f"{path}: row 2, column set: 'plan.tp=2': plan.tp is the tp column's, and that column "
        "is set in this row",
        f"{path}: row 3, column set: 'calibration=isolated': a run cannot choose its "
        "calibration (the one being fitted or validated applies to every run)"]


@pytest.mark.parametrize("cell, message", [
    ("1e300", "'1e300': the number 1e+300 is larger than 1e+18, the most archsim accepts"),
    ("1e-300", "'1e-300': the number 1e-300 is smaller than 1e-18, the least archsim accepts"),
])
def test_measured_is_bounded_as_scenario_numbers_are(tmp_path, cell, message):
    path = write(tmp_path, HEADER + f"r,s,training,step_time_s,{cell},a100-sxm4-80gb,8,"
                                    "gpt3-1.7b,1,1,\n")
    with pytest.raises(SpecError) as err:
        read_runs(path)
    assert err.value.problems == [f"{path}: row 2, column measured: {message}"]


def test_a_plan_that_does_not_divide_is_a_bad_row(tmp_path):
    """A measured run ran, so 8 devices at tp 3 is a typo in the row, not a plan archsim cannot
    run: exit 2 with the row and the cells it comes from (it had been left out, exit 0)."""
    path = write(tmp_path, HEADER + "r,s,training,step_time_s,1,a100-sxm4-80gb,8,gpt3-1.7b,3,1,"
                                    "\n")
    with pytest.raises(SpecError) as err:
        load_runs(read_runs(path))
    assert err.value.problems == [
        f"{path}: row 2, columns devices, tp, model, micro_batch (run r): 8 devices are not "
        "divisible by tp·pp·cp = 3·1·1 = 3; a measured run ran as its row says, so one of "
        "these cells is wrong"]


def test_a_sequence_past_the_models_positions_names_its_cells(tmp_path):
    """GPT-3 1.7B has 2048 learned positions: a training row at seq_len 8192 names seq_len
    and model (it had named devices, tp, pp and the batch as a plan that does not divide), and
    says where a longer context goes."""
    path = write(tmp_path, "run,source,kind,metric,measured,device,devices,model,seq_len,"
                           "global_batch,micro_batch\n"
                           "r,s,training,step_time_s,1,a100-sxm4-80gb,1,gpt3-1.7b,8192,8,1\n")
    with pytest.raises(SpecError) as err:
        load_runs(read_runs(path))
    assert err.value.problems == [
        f"{path}: row 2, columns seq_len, model (run r): seq_len 8192 exceeds the model's "
        "learned positions (max_seq_len 2048); a measured run ran as its row says, so one of "
        "these cells is wrong; a longer context than the model's registry entry allows goes in "
        "the row's set column (model.max_seq_len=N), as reference/calibration/runs.csv does"]


def test_an_inference_context_past_the_model_is_a_bad_row_not_a_silent_drop(tmp_path):
    """Llama-2-7B holds 4096 tokens: 4000 in and 500 out had been left out of the fit as a
    run that does not run (exit 0), and its kind's error vanished from the table."""
    path = write(tmp_path, "run,source,kind,metric,measured,device,devices,model,batch,"
                           "prompt_len,gen_len\n"
                           "r,s,inference,ttft_s,0.3,a100-sxm4-80gb,1,llama2-7b,1,4000,500\n")
    with pytest.raises(SpecError) as err:
        load_runs(read_runs(path))
    assert err.value.problems == [
        f"{path}: row 2, columns prompt_len, gen_len, model (run r): prompt_len 4000 + gen_len "
        "500 = 4500 tokens exceed the model's max_seq_len 4096; a measured run ran as its row "
        "says, so one of these cells is wrong; a longer context than the model's registry entry "
        "allows goes in the row's set column (model.max_seq_len=N), as "
        "reference/calibration/runs.csv does"]
