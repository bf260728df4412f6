"""Loading sweep files: axis forms, and bad input answered with file, field and expectation."""

import pytest
from sweep_cases import BASE, sweep_mapping

from archsim.spec.errors import SpecError
from archsim.sweep.spec import load_sweep


def axis_values(axes, **fields):
    sweep = load_sweep(sweep_mapping(axes=axes, **fields))
    return {a.key: a.values for a in sweep.axes}


def test_axis_forms():
    got = axis_values({
        "plan.tp": [1, 2, 4],
        "plan.sp": {"values": [True, False]},
        "workload.global_batch": {"range": [512, 2048], "step": 512},
        "workload.micro_batch": {"range": [1, 16], "factor": 2},
        "workload.seq_len": {"range": [1024, 8192], "num": 4, "scale": "log"},
        "model.dropout": {"range": [0.0, 0.2], "num": 3},
    })
    assert got["plan.tp"] == (1, 2, 4)
    assert got["plan.sp"] == (True, False)
    assert got["workload.global_batch"] == (512, 1024, 1536, 2048)
    assert got["workload.micro_batch"] == (1, 2, 4, 8, 16)
    # 1024 · 8^(i/3): 1024, 2048, 4096, 8192
    assert got["workload.seq_len"] == (1024, 2048, 4096, 8192)
    assert got["model.dropout"] == (0.0, 0.1, 0.2)


def test_continuous_range_is_for_sampling_modes():
    sweep = load_sweep(sweep_mapping(mode="lhs", n=4,
                                     axes={"model.dropout": {"range": [0.0, 0.2]}}))
    axis = sweep.axes[0]
    assert not axis.finite and (axis.low, axis.high) == (0.0, 0.2)
    with pytest.raises(SpecError, match=r"<sweep>: axes.model.dropout: a continuous range "
                                        r"needs step, factor or num in grid mode"):
        load_sweep(sweep_mapping(axes={"model.dropout": {"range": [0.0, 0.2]}}))


def test_unknown_axis_key_names_the_closest_keys():
    with pytest.raises(SpecError, match=r"<sweep>: axes.plan.tpp: unknown key 'plan.tpp'; "
                                        r"closest: plan.tp, plan.pp"):
        load_sweep(sweep_mapping(axes={"plan.tpp": [1, 2]}))
    with pytest.raises(SpecError, match=r"axes.workload.microbatch: unknown key "
                                        r"'workload.microbatch'; closest: workload.micro_batch"):
        load_sweep(sweep_mapping(axes={"workload.microbatch": [1, 2]}))
    with pytest.raises(SpecError, match=r"axes.hardware.count.x: unknown key "
                                        r"'hardware.count.x': hardware.count is a single value"):
        load_sweep(sweep_mapping(axes={"hardware.count.x": [1]}))


def test_unknown_key_in_a_file_names_the_file(write_sweep):
    path = write_sweep(axes={"plan.shedule": ["1f1b"]})
    with pytest.raises(SpecError, match=rf"{path}: axes.plan.shedule: unknown key "
                                        r"'plan.shedule'; closest: plan.schedule"):
        load_sweep(path)


def test_empty_axes():
    with pytest.raises(SpecError, match=r"<sweep>: axes: needs at least one axis"):
        load_sweep(sweep_mapping(axes={}))
    with pytest.raises(SpecError, match=r"<sweep>: axes.plan.tp: is empty; give at least one "
                                        r"value"):
        load_sweep(sweep_mapping(axes={"plan.tp": []}))
    with pytest.raises(SpecError, match=r"<sweep>: axes.plan.tp: expected a list of values"):
        load_sweep(sweep_mapping(axes={"plan.tp": 4}))


def test_bad_axis_values_are_caught_at_load():
    with pytest.raises(SpecError, match=r"axes.plan.schedule: 'interleave' is not one of "
                                        r"'gpipe', '1f1b', 'interleaved'"):
        load_sweep(sweep_mapping(axes={"plan.schedule": ["1f1b", "interleave"]}))
    with pytest.raises(SpecError, match=r"unknown device 'a100-80gb'; closest: "):
        load_sweep(sweep_mapping(axes={"hardware.device": ["a100-80gb"]}))
    with pytest.raises(SpecError, match=r"axes.plan.tp: repeats a value \(2\)"):
        load_sweep(sweep_mapping(axes={"plan.tp": [1, 2, 2]}))
    with pytest.raises(SpecError, match=r"range \[8, 1\]: low is greater than high"):
        load_sweep(sweep_mapping(axes={"plan.tp": {"range": [8, 1], "step": 1}}))


def test_values_no_scenario_can_take_name_their_index():
    """Checked against the base before any point runs (the points would only fail)."""
    with pytest.raises(SpecError) as exc:
        load_sweep(sweep_mapping(axes={"plan.tp": [1, "x", -2],
                                       "workload.seq_len": [1024, "long"]}))
    assert exc.value.problems == [
        "<sweep>: axes.plan.tp[1]: Input should be a valid integer, unable to parse string as "
        "an integer (got 'x')",
        "<sweep>: axes.plan.tp[2]: Input should be greater than or equal to 1 (got -2)",
        "<sweep>: axes.workload.seq_len[1]: Input should be a valid integer, unable to parse "
        "string as an integer (got 'long')"]


def test_constraint_that_does_not_parse_names_the_column():
    with pytest.raises(SpecError, match=r"<sweep>: constraints\[1\]: cannot parse "
                                        r"'plan.tp \* \* plan.pp <= 8': expected a number, a "
                                        r"string, a name, .* got '\*' at column 11"):
        load_sweep(sweep_mapping(constraints=["plan.tp <= 8", "plan.tp * * plan.pp <= 8"]))


def test_constraint_names_must_exist():
    with pytest.raises(SpecError, match=r"constraints\[0\]: unknown key 'plan.tpp'; closest: "
                                        r"plan.tp"):
        load_sweep(sweep_mapping(constraints=["plan.tpp <= 8"]))


def test_a_constraint_on_a_value_archsim_derives_per_point_is_refused():
    """plan.dp left out of the base is count / (tp·pp·cp) per point: as a constant it was None,
    and every point failed ("cannot order None and 4"), exit 0."""
    with pytest.raises(SpecError, match=r"constraints\[0\]: 'plan.dp' is not set in the base "
                                        r"scenario \(archsim derives it per point\)"):
        load_sweep(sweep_mapping(constraints=["plan.dp >= 4"]))


def test_derived_may_not_use_a_later_derived_key():
    with pytest.raises(SpecError, match=r"derived.plan.sp: 'plan.cp' is defined later in "
                                        r"derived"):
        load_sweep(sweep_mapping(derived={"plan.sp": "plan.cp > 1", "plan.cp": "1"}))


def test_goal_columns_must_exist():
    with pytest.raises(SpecError, match=r"objective: unknown result column 'tokens_per_sec'; "
                                        r"closest: tokens_per_s"):
        load_sweep(sweep_mapping(objective={"maximize": "tokens_per_sec"}))
    with pytest.raises(SpecError, match=r"pareto\[0\]: expected \{maximize: EXPR\} or "
                                        r"\{minimize: EXPR\}"):
        load_sweep(sweep_mapping(pareto=[{"max": "mfu"}]))


def test_mode_and_n():
    with pytest.raises(SpecError, match=r"n: mode random needs n"):
        load_sweep(sweep_mapping(mode="random"))
    with pytest.raises(SpecError, match=r"n: grid mode runs every combination"):
        load_sweep(sweep_mapping(n=5))
    with pytest.raises(SpecError, match=r"<sweep>: mode: Input should be 'grid', 'random' or "
                                        r"'lhs' \(got 'sobol'\)"):
        load_sweep(sweep_mapping(mode="sobol"))
    with pytest.raises(SpecError, match=r"<sweep>: axis: unknown key; expected one of: name, "):
        load_sweep({**sweep_mapping(), "axis": {}})


def test_base_forms(tmp_path):
    (tmp_path / "base.yaml").write_text("model: gpt3-1.7b\nhardware: {device: a100-sxm4-80gb, "
                                        "count: 8}\nworkload: {kind: training}\n")
    sweep_file = tmp_path / "s.yaml"
    sweep_file.write_text("base: base.yaml\naxes: {plan.tp: [1, 2]}\n")
    assert load_sweep(sweep_file).base_spec.model.layers == 24  # found beside the sweep file
    assert load_sweep({"axes": {"plan.tp": [1]}}).base_spec.model.layers == 96  # the default
    with pytest.raises(SpecError, match=r"<sweep>: base: no such scenario file 'nope.yaml'"):
        load_sweep({"base": "nope.yaml", "axes": {"plan.tp": [1]}})
    with pytest.raises(SpecError, match=r"<sweep>: base: unknown scenario 'nope'"):
        load_sweep({"base": "nope", "axes": {"plan.tp": [1]}})
    bad = {**BASE, "plan": {"tp": 0}}
    with pytest.raises(SpecError, match=r"<sweep>: base: plan.tp: Input should be greater than "
                                        r"or equal to 1 \(got 0\)"):
        load_sweep({"base": bad, "axes": {"plan.pp": [1]}})


def test_registry_sweeps_load():
    from archsim.spec.registry import list_names

    names = list_names("sweeps")
    assert "gpt3-175b-1024xa100-plans" in names
    for name in names:
        sweep = load_sweep(name)
        assert sweep.axes and sweep.objective


def test_the_base_fingerprint_covers_the_hardware_as_built():
    """A base naming a device but not its links takes the device's default links from the
    registry: editing that link's profile must re-run the points on --resume. The fingerprint
    had covered only the mapping, which does not name the links."""
    from archsim.sweep.spec import _base_fingerprint

    sweep = load_sweep(sweep_mapping())
    hw = sweep.base_spec.hardware
    pool = sweep.base_spec.cluster.pools[0]
    slower = pool.intra_node.model_copy(update={"bandwidth": pool.intra_node.bandwidth / 10})
    edited = sweep.base_spec.model_copy(update={"hardware": hw.model_copy(
        update={"intra_node": slower})})
    assert _base_fingerprint(sweep.base_mapping, edited) != \
        _base_fingerprint(sweep.base_mapping, sweep.base_spec)
    assert _base_fingerprint(sweep.base_mapping, sweep.base_spec) == sweep.base_fingerprint
