"""Per-row-count matmul curves (efficiency.matmul.by_rows): which GEMMs read them and how they
interpolate, against hand calculation."""

from __future__ import annotations

import math

import pytest
import yaml

from archsim.cli import main
from archsim.cost.compute import compute_time
from archsim.graph.ops import Op
from archsim.spec.efficiency import MatmulEfficiencySpec
from archsim.spec.loader import load_spec_file

BASE = load_spec_file("devices", "a100-sxm4-80gb").model_copy(update={"insitu": None})
FLOPS = 2.0 * 64 * 4096 * 4096  # 2.1 GFLOP


def device(by_rows):
    matmul = MatmulEfficiencySpec(points=((1e6, 0.8),), by_rows=by_rows)
    return BASE.model_copy(update={"efficiency": BASE.efficiency.model_copy(
        update={"matmul": matmul})})


DEV = device([{"rows": 1, "points": [[1e6, 0.1]]}, {"rows": 16, "points": [[1e6, 0.5]]},
              {"layout": "tn", "rows": 64, "points": [[1e6, 0.6]]}])


def gemm(m: int, layout: str | None = "nt", core: bool = False) -> Op:
    # bytes kept tiny: compute-bound, so t = FLOPs / (peak · η) + launch
    return Op(name="g", kind="matmul", phase="fwd" if layout == "nt" else "bwd", flops=FLOPS,
              bytes=1.0, dtype="bf16", shape=(1, m, 4096, 4096), attention_core=core,
              layout=layout)


def eta_of(op: Op) -> float:
    t = compute_time(op, DEV) - DEV.launch_overhead
    return FLOPS / (DEV.peak_for("bf16") * t)


def test_listed_row_counts_read_their_own_curve():
    assert eta_of(gemm(1)) == pytest.approx(0.1)
    assert eta_of(gemm(16)) == pytest.approx(0.5)


def test_between_two_row_counts_the_efficiency_is_interpolated_in_log_rows():
    # m 4 lies half-way between 1 and 16 in log m: (0.1 + 0.5) / 2
    assert eta_of(gemm(4)) == pytest.approx(0.3)
    w = math.log(8) / math.log(16)
    assert eta_of(gemm(8)) == pytest.approx(0.1 + w * 0.4)


def test_beyond_the_listed_rows_the_nearest_curve_holds():
    assert eta_of(gemm(1024)) == pytest.approx(0.5)


def test_each_layout_reads_its_own_curves_and_the_flops_curve_without_any():
    assert eta_of(gemm(1, layout="tn")) == pytest.approx(0.6)  # its only curve, m 64
    assert eta_of(gemm(1, layout="nn")) == pytest.approx(0.8)  # no nn curves
    assert eta_of(gemm(1, layout=None, core=True)) == pytest.approx(0.8)  # attention QKᵀ


def test_the_graph_marks_a_linear_layers_three_gemms_with_their_layouts():
    from archsim.graph.backward import backward_ops
    from archsim.graph.transformer import Shape, layer_forward

    model = load_spec_file("models", "llama2-7b")
    fwd = [op for op in layer_forward(model, Shape(batch=1, seq=8, kv_seq=8, flash=False))
           if op.is_matmul]
    layouts = {op.name.split(".", 1)[1]: op.layout for op in fwd}
    assert layouts["qkv"] == layouts["fc2"] == "nt" and layouts["qk"] is None
    bwd = {op.name.split(".", 1)[1]: op for op in backward_ops(fwd)}
    assert bwd["fc1.dgrad"].layout == "nn" and bwd["fc1.wgrad"].layout == "tn"
    # dW = xᵀ·dy: its rows are the layer's input width
    assert bwd["fc1.wgrad"].shape[1] == model.hidden


def test_unsorted_row_curves_in_a_profile_are_one_line_exit_2(tmp_path, capsys):
    data = BASE.model_dump(mode="json", exclude_none=True)
    data["efficiency"]["matmul"] = {"points": [[1e6, 0.8]],
                                    "by_rows": [{"rows": 16, "points": [[1e6, 0.5]]},
                                                {"rows": 1, "points": [[1e6, 0.1]]}]}
    path = tmp_path / "dev.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["simulate", "--set", f"hardware.device={path}"]) == 2
    # the file, the field, what was expected, and the value (cut short in the message)
    assert capsys.readouterr().err == (
        f"archsim simulate: {path}: efficiency.matmul.by_rows: by_rows must be sorted by "
        "strictly increasing rows within each layout (nt: [16, 1]) (got [{'points': "
        "[[1000000.0, 0.5]], 'rows': 16}, {'points': [...)\n")
