"""Every plan the planner shows carries its own error bar: in the JSON (intervals, in_range,
out_of_range, band labels; the ranking verdict; the scenario's plan against the best) and in
the table (``*`` with a legend of what lies outside the calibration, per plan)."""

import json
from pathlib import Path
from types import SimpleNamespace as NS

import pytest
import yaml

from archsim.cli import main

PROFILES = Path(__file__).resolve().parents[2] / "hardware_profiles" / "devices"


def _training_range(device: str, axis: str) -> tuple[int, int]:
    data = yaml.safe_load((PROFILES / f"{device}.yaml").read_text())
    span = data["insitu"]["calibrated_range"]
    lo, hi = span.get("by_kind", {}).get("training", {}).get(axis) or span[axis]
    return lo, hi


def _any_range(device: str, axis: str) -> tuple[int, int]:
    data = yaml.safe_load((PROFILES / f"{device}.yaml").read_text())
    lo, hi = data["insitu"]["calibrated_range"][axis]
    return lo, hi


# GPT-3 175B on 1024 A100s, tp 4, pp 8 or 16, every other axis fixed: 2 plans
A100_AXES = ["--axis", "tp=4", "--axis", "pp=8,16", "--axis", "cp=1", "--axis", "sp=true",
             "--axis", "micro_batch=1", "--axis", "zero=1", "--axis", "recompute=selective",
             "--axis", "schedule=1f1b"]


@pytest.fixture(scope="module")
def a100_plans(tmp_path_factory):
    """The JSON (--out) and the text of one search: both plans of A100_AXES."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("plan") / "plans.json"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["plan", *A100_AXES, "--top", "2", "--out", str(out)]) == 0
    return json.loads(out.read_text()), buf.getvalue()


def test_each_plan_row_carries_its_error_bar(a100_plans):
    """The A100 profile's training runs span pp 1–12 and 8–384 devices (read from its file):
    both plans run on 1024 devices, so neither is in range and both bands are widened; only
    the pp 16 plan lies outside the pp range, and its row says so."""
    data, _ = a100_plans
    lo, hi = _training_range("a100-sxm4-80gb", "pp")
    dlo, dhi = _training_range("a100-sxm4-80gb", "devices")
    assert (lo, hi) == (1, 12) and dhi < 1024
    rows = [*data["top"], data["given_plan"]]
    assert sorted(r["plan"]["pp"] for r in data["top"]) == [8, 16]
    for row in rows:
        u = row["uncertainty"]
        assert u["in_range"] is False
        assert f"a100-sxm4-80gb: devices 1024 outside the calibrated {dlo}–{dhi} of its " \
            "training runs" in u["out_of_range"]
        pp_line = f"a100-sxm4-80gb: pp {row['plan']['pp']} outside the calibrated {lo}–{hi} " \
            "of its training runs"
        assert (pp_line in u["out_of_range"]) == (row["plan"]["pp"] > hi)
        # a time's interval is value / (1 + p90) … value / (1 + p10), a rate's value ×
        # (1 + p10) … value × (1 + p90), with the band's ends
        err = u["errors"]["training"]
        step, rate = row["step_time_s"], row["tokens_per_s"]
        assert u["intervals"]["step_time_s"] == pytest.approx(
            [step / (1 + err["p90"]), step / (1 + err["p10"])])
        assert u["intervals"]["tokens_per_s"] == pytest.approx(
            [rate * (1 + err["p10"]), rate * (1 + err["p90"])])
        assert u["intervals"]["cost_per_million_tokens_usd"][0] < \
            row["cost_per_million_tokens_usd"] < u["intervals"]["cost_per_million_tokens_usd"][1]
        assert u["labels"]["step_time_s"] == "likely (widened band)"
        assert u["labels"]["tokens_per_s"] == "likely (widened band)"
        assert "outside the calibrated range" in err["widened"]


def test_the_rows_band_is_the_simulated_results(a100_plans):
    """The planner reuses the result it simulated: the pp 16 row's block is what `archsim
    simulate` gives that plan (labels added)."""
    import archsim
    from archsim.cli.common import load_cli_scenario
    from archsim.planner.space import Candidate, scenario_for

    data, _ = a100_plans
    row = next(r for r in data["top"] if r["plan"]["pp"] == 16)
    sc = load_cli_scenario(None, [])
    alone = archsim.simulate(scenario_for(sc, Candidate(**row["plan"]))).to_dict()["uncertainty"]
    mine = dict(row["uncertainty"])
    mine.pop("labels")
    assert json.loads(json.dumps(alone)) == mine


def test_the_table_marks_each_plan_outside_the_calibration(a100_plans):
    data, text = a100_plans
    pp16 = next(r["rank"] for r in data["top"] if r["plan"]["pp"] == 16)
    lines = text.splitlines()
    for r in data["top"]:
        row = next(ln for ln in lines if ln.lstrip().startswith(f"{r['rank']}*  "))
        assert r["label"] in row
    assert ("  * outside the calibration, by plan (a band widens where its plan leaves a "
            "calibrated range):") in lines
    assert "      #1, #2: a100-sxm4-80gb: devices 1024 outside the calibrated 8–384 of its " \
        "training runs" in lines
    assert f"      #{pp16}: a100-sxm4-80gb: pp 16 outside the calibrated 1–12 of its training " \
        "runs" in lines


def test_the_json_carries_the_ranking_verdict_the_text_prints(a100_plans):
    data, text = a100_plans
    ranking = data["ranking"]
    assert ranking["metric"] == "tokens_per_s"
    first, second = data["top"]
    lo, hi = first["uncertainty"]["intervals"]["tokens_per_s"]
    assert ranking["spread"] == pytest.approx((hi - lo) / first["tokens_per_s"])
    assert ranking["second_behind"] == pytest.approx(
        first["tokens_per_s"] / second["tokens_per_s"] - 1)
    inside = ranking["second_behind"] < ranking["spread"]
    assert ranking["verdict"] == ("inside_band" if inside else "beyond_band")
    if inside:
        assert "  " + ranking["says"] in text.splitlines()
    vs = data["given_versus_best"]
    assert vs["metric"] == "tokens_per_s" and vs["spread"] == pytest.approx(ranking["spread"])
    assert vs["ratio"] == pytest.approx(
        first["tokens_per_s"] / data["given_plan"]["tokens_per_s"])
    assert vs["inside_band"] == (vs["ratio"] - 1 < vs["spread"])


def test_h100_context_parallel_plans_are_marked(capsys):
    """The H100's runs span cp 1–2 (read from its profile): a cp 4 plan of a small GPT on 16
    H100s is starred and named in the legend; its cp 1 plan has no cp line."""
    lo, hi = _any_range("h100-sxm5-80gb", "cp")
    assert hi < 4
    scenario = {"name": "tiny-16xh100",
                "model": {"layers": 8, "hidden": 1024, "heads": 8, "vocab": 8192,
                          "max_seq_len": 4096},
                "hardware": {"device": "h100-sxm5-80gb", "count": 16, "devices_per_node": 8},
                "workload": {"kind": "training", "seq_len": 4096, "global_batch": 64,
                             "micro_batch": 1, "dtype": "bf16"},
                "plan": {"tp": 1, "pp": 1}}
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(scenario, f)
    axes = ["--axis", "tp=1", "--axis", "pp=1", "--axis", "cp=1,4", "--axis", "zero=1",
            "--axis", "micro_batch=1", "--axis", "recompute=none"]
    try:
        assert main(["plan", f.name, *axes, "--top", "2", "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert main(["plan", f.name, *axes, "--top", "2"]) == 0
        text = capsys.readouterr().out
    finally:
        Path(f.name).unlink()
    cp_line = f"h100-sxm5-80gb: cp 4 outside the calibrated {lo}–{hi}"
    by_cp = {r["plan"]["cp"]: r for r in data["top"]}
    assert set(by_cp) == {1, 4}
    assert cp_line in by_cp[4]["uncertainty"]["out_of_range"]
    assert by_cp[4]["uncertainty"]["in_range"] is False
    assert not any("cp " in x for x in by_cp[1]["uncertainty"]["out_of_range"])
    rank4 = by_cp[4]["rank"]
    assert any(ln.lstrip().startswith(f"{rank4}*  ") for ln in text.splitlines())
    assert any(ln.startswith("      #") and f"#{rank4}" in ln.split(": ")[0]
               and ln.endswith(": " + cp_line) for ln in text.splitlines())


def _err(p10, p90):
    return {"mape": 0.05, "bias": 0.0, "p10": p10, "p90": p90, "runs": 10, "sources": 2,
            "method": "leave-one-source-out", "from_defaults": 0}


def _row(tokens, usd=None, devices=("a100-sxm4-80gb",), p10=-0.19, p90=0.09):
    """A training result whose throughput band is the reference band (−19% … +9%)."""
    from archsim.planner.result import PlanRow

    u = {"devices": list(devices), "errors": {"training": _err(p10, p90)},
         "intervals": {"tokens_per_s": [tokens * (1 + p10), tokens * (1 + p90)]},
         "out_of_range": [], "in_range": True}
    if usd is not None:
        u["intervals"]["cost_per_million_tokens_usd"] = [usd / (1 + p90), usd / (1 + p10)]
    return PlanRow(None, "p", {"mode": "training", "feasible": True, "tokens_per_s": tokens,
                               "step_time_s": 1e6 / tokens,
                               "cost_per_million_tokens_usd": usd, "devices": 8,
                               "uncertainty": u})


def test_ranking_verdicts():
    """Spread 28% (−19% … +9% of a rate): 5% behind is inside it, 40% behind is beyond it, a
    0.05% gap is a tie (within 0.1%)."""
    from archsim.planner.result import ranking_verdict

    best = _row(105.0)
    inside = ranking_verdict([best, _row(100.0)], "throughput", True)
    assert inside["verdict"] == "inside_band"
    assert inside["spread"] == pytest.approx(0.28)
    assert inside["says"] == ("the second plan is 5.0% behind, inside the error bar's 28% "
                              "spread: the ranking of the top plans is not certain")
    assert ranking_verdict([best, _row(75.0)], "throughput", True)["verdict"] == "beyond_band"
    assert ranking_verdict([best, _row(75.0)], "throughput", True)["says"] is None
    assert ranking_verdict([best, _row(104.95)], "throughput", True)["verdict"] == "tie"
    assert ranking_verdict([best], "throughput", True) is None


def _vs(best, given, objective="throughput"):
    from archsim.planner.render import _versus_best

    return _versus_best(NS(best=best, objective=objective), given, True)


def test_a_gain_inside_the_band_is_said_to_be_uncertain():
    """1.06× as fast against a 28% spread: inside it, with the note that plans on one device
    share its profile's error; 1.61× is beyond it and stands alone."""
    assert _vs(_row(106.0), _row(100.0)) == (
        "the best plan is 1.06× as fast, a gain inside the error bar's 28% spread: not "
        "certain (plans on one device share much of its profile's error, so their gap is "
        "likelier to hold than the spread says)")
    assert _vs(_row(161.0), _row(100.0)) == "the best plan is 1.61× as fast"
    assert _vs(_row(100.2), _row(100.0)) == ("no plan found is better by more than 0.5%: the "
                                             "scenario's plan is as good as the best")


def test_a_cheaper_plan_inside_the_band_on_other_devices():
    """Cost: $3.00 against $3.30 is 1.10× less per token, inside the price band's spread
    (1/0.81 − 1/1.09 = 31.7% of the value); the plans run on different devices, so no note on
    a shared error."""
    best = _row(100.0, usd=3.0, devices=("h100-sxm5-80gb",))
    given = _row(100.0, usd=3.3, devices=("a100-sxm4-80gb", "h100-sxm5-80gb"))
    assert _vs(best, given, "cost") == ("the best plan costs 1.10× less per token, a gain "
                                        "inside the error bar's 32% spread: not certain")


def test_row_to_dict_copies_the_block_with_labels():
    """The row's `uncertainty` is its result's block, plus each interval's band label; a
    result with no block (an infeasible plan) has None."""

    row = _row(100.0)
    row.result.update(mfu=0.4, memory={"peak_bytes_per_device": 1, "capacity_bytes": 2},
                      infeasible_reasons=[])
    row.result["uncertainty"]["errors"]["training"]["widened"] = "outside the calibrated range"
    d = row.to_dict()["uncertainty"]
    assert d["intervals"] == {"tokens_per_s": pytest.approx([81.0, 109.0])}
    assert d["labels"] == {"tokens_per_s": "likely (widened band)"}
    assert d["in_range"] is True and d["out_of_range"] == []
    del row.result["uncertainty"]
    assert row.to_dict()["uncertainty"] is None
