"""`archsim simulate`, `list` and `graph` as CONTRACT.md describes them."""

import json
import subprocess
import sys

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archsim.cli import main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "archsim", *args], capture_output=True,
                          text=True, timeout=120)


def test_default_scenario_json(capsys):
    assert main(["simulate", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mode"] == "training" and out["feasible"]
    assert out["name"].startswith("gpt3-175b-1024xa100")
    for key in ("step_time_s", "tokens_per_s", "mfu", "hfu", "tflops_per_device"):
        assert out[key] > 0


def test_summary_has_tables(capsys):
    assert main(["simulate"]) == 0
    text = capsys.readouterr().out
    for heading in ("step time", "MFU / HFU", "Memory per device", "Communication per device",
                    "pipeline bubble"):
        assert heading in text
    # the energy figure says what it covers and that it is a bound
    assert ("(accelerators at TDP while busy: an upper bound; host, network and PUE not "
            "included)") in text


def test_set_out_and_trace(tmp_path, capsys):
    out, trace = tmp_path / "r.json", tmp_path / "t.json"
    assert main(["simulate", "--set", "plan.pp=16", "--set", "workload.global_batch=512",
                 "--json", "--out", str(out), "--trace", str(trace)]) == 0
    printed = json.loads(capsys.readouterr().out)
    stored = json.loads(out.read_text())
    assert printed == stored
    assert stored["parallel"]["pp"] == 16 and stored["parallel"]["dp"] == 8
    events = json.loads(trace.read_text())["traceEvents"]
    spans = [e for e in events if e["ph"] == "X"]
    assert spans and all(e["dur"] > 0 for e in spans)
    assert {"forward", "backward"} <= {e["cat"] for e in spans}


def test_python_m_entry_point_and_bad_input_exit_2():
    proc = run_cli("simulate", "--set", "hardware.device=no-such-device")
    assert proc.returncode == 2
    assert proc.stderr == ("archsim simulate: --set hardware.device: unknown device "
                           "'no-such-device' (see `archsim list devices`)\n")
    assert "Traceback" not in proc.stderr


def test_bad_input_lines(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: llama2-7b\nhardware: {device: a100-sxm4-80gb, count: 1}\n"
                   "workload: {kind: training, dtype: fp12}\nplan: {tp: two}\n")
    assert main(["simulate", str(bad)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert any(f"{bad}: workload.dtype: Input should be" in line and "'fp12'" in line
               for line in err)
    assert any(f"{bad}: plan.tp: Input should be a valid integer" in line for line in err)


def test_unwritable_output(capsys):
    assert main(["simulate", "--out", "/no/such/folder/r.json"]) == 2
    assert capsys.readouterr().err == ("archsim simulate: /no/such/folder/r.json: folder "
                                       "/no/such/folder does not exist\n")


def test_infeasible_is_exit_0(capsys):
    assert main(["simulate", "--set", "plan.tp=3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["feasible"] is False and "not divisible" in out["infeasible_reasons"][0]


def test_list(capsys):
    assert main(["list", "models"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert {"gpt3-175b", "llama3-405b", "mixtral-8x7b", "bert-large"} <= set(names)
    assert main(["list", "interconnects"]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()}
    # the domain limit and the vendors a link is built for (a TPU v5p pod: 8,960 chips,
    # reference/hardware.csv); a switched scale-out network has neither
    assert rows["tpu-v5p-ici"][-2:] == ["8,960", "Google"]
    assert rows["ib-hdr-200g"][-2:] == ["-", "any"]


@pytest.mark.parametrize("suffix", [".graphml", ".json", ".dot"])
def test_graph_export(tmp_path, suffix, capsys):
    path = tmp_path / f"g{suffix}"
    assert main(["graph", "--set", "model.layers=2", "--set", "plan.pp=1", "--out",
                 str(path)]) == 0
    text = path.read_text()
    if suffix == ".graphml":
        g = nx.read_graphml(path)
        assert "L1.fc2.wgrad" in g and g.nodes["L0.qkv"]["kind"] == "matmul"
    elif suffix == ".json":
        assert any(n["id"] == "optimizer" for n in json.loads(text)["nodes"])
    else:
        assert text.startswith("digraph archsim {") and '"L0.qkv" -> "L0.qk"' in text


def test_graph_is_the_graph_that_is_simulated(tmp_path, capsys):
    """An inference scenario exports its prefill pass (a KV-cache write per layer, logits for
    the 8 sampled positions only: 2 · 8 · 4096 · 32000 FLOPs); a compression plan shapes the
    graph as it shapes the simulation (int4 weights read at 0.5 + 2/128 bytes; a pruned FFN)."""
    path = tmp_path / "g.json"
    assert main(["graph", "llama2-7b-inference-a100", "--out", str(path)]) == 0
    nodes = {n["id"]: n for n in json.loads(path.read_text())["nodes"]}
    assert sum(1 for name in nodes if name.endswith(".kv_write")) == 32
    assert nodes["logits"]["flops"] == 2 * 8 * 4096 * 32000
    assert main(["graph", "llama2-7b-inference-a100", "--set",
                 "compression.weight_dtype=int4", "--out", str(path)]) == 0
    qkv = {n["id"]: n for n in json.loads(path.read_text())["nodes"]}["L0.qkv"]
    tokens, h = 8 * 1024, 4096
    assert qkv["bytes"] == 2 * tokens * h + (0.5 + 2 / 128) * h * 3 * h + 2 * tokens * 3 * h
    assert main(["graph", "--set", "model.layers=2", "--set", "plan.pp=1", "--set",
                 "compression.pruning.ffn=0.25", "--out", str(path)]) == 0
    graph = json.loads(path.read_text())
    fc1 = {n["id"]: n for n in graph["nodes"]}["L0.fc1"]
    assert graph["graph"]["model"] == "gpt3-175b-pruned"
    assert fc1["flops"] == 2 * 1 * 2048 * 12288 * (round(4 * 12288 * 0.75) // 8)


def test_distillation_graph_is_the_teachers_forward_and_the_students_step(tmp_path, capsys):
    """A distillation step runs the teacher's forward pass and the student's training step;
    the graph had been the teacher's whole training step (backward and optimizer included)
    with no student op."""
    path = tmp_path / "d.json"
    assert main(["graph", "distill-llama2-70b-to-7b", "--set", "model.layers=2", "--set",
                 "plan.pp=1", "--out", str(path)]) == 0
    graph = json.loads(path.read_text())
    ids = {n["id"] for n in graph["nodes"]}
    teacher = {i for i in ids if i.startswith("teacher.")}
    student = {i for i in ids if i.startswith("student.")}
    assert teacher and student and teacher | student == ids
    assert not any(i.endswith((".bwd", ".dgrad", ".wgrad")) or "optimizer" in i for i in teacher)
    assert "student.optimizer" in ids and "student.L0.qkv.wgrad" in ids
    assert any(e["source"].startswith("teacher.") and e["target"] == "student.loss"
               for e in graph["edges"])


def test_serving_graph_names_the_prompt_it_takes(tmp_path, capsys):
    assert main(["graph", "llama2-7b-serving-a100", "--set", "model.layers=2", "--out",
                 str(tmp_path / "s.json")]) == 0
    assert "one request of the stream's mean prompt" in capsys.readouterr().out


def test_graph_unknown_format(capsys):
    assert main(["graph", "--out", "g.png"]) == 2
    assert capsys.readouterr().err == ("archsim graph: --out g.png: unknown graph format "
                                       "'.png'; expected .graphml, .json or .dot\n")


# ---------------------------------------------------------------- property: never a traceback

_values = st.one_of(st.integers(-5, 5000), st.floats(allow_nan=True), st.text(max_size=8),
                    st.none(), st.booleans(), st.lists(st.integers(0, 4), max_size=3),
                    st.sampled_from(["80 GiB", "1 TB/s", "fp16", "gpt3-1.7b", "a100-sxm4-80gb",
                                     "1f1b", "interleaved", "full", "inference", "serving"]))
_keys = st.sampled_from([
    "model", "model.layers", "model.hidden", "model.heads", "model.kv_heads", "model.vocab",
    "model.mlp", "model.moe", "hardware.device", "hardware.count", "hardware.devices_per_node",
    "hardware.device.memory.capacity", "hardware.intra_node", "workload.kind",
    "workload.seq_len", "workload.global_batch", "workload.micro_batch", "workload.dtype",
    "plan.tp", "plan.pp", "plan.dp", "plan.cp", "plan.zero", "plan.schedule",
    "plan.virtual_stages", "plan.recompute", "plan.sp", "plan.layers_per_stage", "bogus"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_keys, _values, max_size=4))
def test_simulate_never_tracebacks(overrides):
    base = {"model": "gpt3-1.7b", "hardware": {"device": "a100-sxm4-80gb", "count": 8},
            "workload": {"kind": "training", "global_batch": 16}, "plan": {}}
    import io
    from contextlib import redirect_stderr, redirect_stdout

    import yaml

    args = ["simulate", "--json"]
    for k, v in overrides.items():
        args += ["--set", f"{k}={yaml.safe_dump(v, default_flow_style=True).strip()}"
                 .replace("\n...", "")]
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        yaml.safe_dump(base, fh)
    err, out = io.StringIO(), io.StringIO()
    with redirect_stderr(err), redirect_stdout(out):
        code = main([args[0], fh.name, *args[1:]])
    assert code in (0, 2), err.getvalue()
    assert "Traceback" not in err.getvalue()
    if code == 0:
        json.loads(out.getvalue())
    else:
        assert err.getvalue().strip()


@pytest.mark.parametrize("scenario", ["gpt3-175b-1024xa100", "llama2-7b-inference-a100",
                                      "llama2-7b-serving-a100"])
def test_every_contract_metric_key_exists_null_where_the_mode_has_none(scenario, capsys):
    """CONTRACT.md's Result JSON keys exist in every mode: a training result's TTFT and an
    inference result's step time are null, not missing."""
    assert main(["simulate", scenario, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    keys = ["step_time_s", "tokens_per_s", "mfu", "hfu", "tflops_per_device", "ttft_s",
            "tpot_s", "e2e_latency_s", "ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "tpot_p99_s",
            "requests_per_s", "slo_attainment", "energy_joules", "cost_usd"]
    assert [k for k in keys if k not in out] == []
    if out["mode"] == "training":
        assert out["ttft_s"] is None and out["slo_attainment"] is None
        assert out["step_time_s"] > 0
    elif out["mode"] == "inference":
        assert out["step_time_s"] is None and out["ttft_s"] > 0
    else:
        assert out["ttft_p99_s"] > 0 and out["mfu"] is None
