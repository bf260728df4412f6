"""Random bytes, random nesting and random huge numbers into the scenario loader, the sweep
loader and the expression parser: each answer is a SpecError (exit 2 at the CLI) or a result,
within a few seconds and a bounded amount of memory."""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
import time
import tracemalloc
from pathlib import Path

from hostile_cases import SCENARIO, SERVING, sweep_mapping
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archsim
from archsim.cli import main
from archsim.spec.errors import SpecError
from archsim.sweep import load_sweep
from archsim.sweep.expr import ExprEvalError, ExprSyntaxError, parse
from archsim.sweep.space import enumerate_points

# Generous bounds for one tiny input, far above what any answer needs (a few ms, a few MB)
# and far below what the hostile inputs of the issue took (minutes, gigabytes).
SECONDS = 15.0
PEAK_BYTES = 100 * 2**20

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


@contextlib.contextmanager
def bounded():
    """Fail if the block takes more than SECONDS or allocates more than PEAK_BYTES at once."""
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert elapsed < SECONDS, f"took {elapsed:.1f} s"
    assert peak < PEAK_BYTES, f"peaked at {peak / 2**20:.0f} MiB"


def _answer(call) -> object:
    """The call's result, or None for a SpecError (exit 2); anything else fails the test."""
    with bounded():
        try:
            return call()
        except SpecError as exc:
            assert str(exc) and "Traceback" not in str(exc)
            return None


@contextlib.contextmanager
def _file(data: bytes):
    """``data`` as ``input.yaml`` in a fresh folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="archsim-fuzz-") as folder:
        path = Path(folder) / "input.yaml"
        path.write_bytes(data)
        yield path


# YAML-ish bytes: random bytes, and random mixes of YAML's own punctuation and words
_YAML_BITS = st.sampled_from([b"{", b"}", b"[", b"]", b": ", b"- ", b"\n", b"  ", b"&a ", b"*a",
                              b"<<: ", b"!!python/object:os.system ", b"'", b'"', b"model",
                              b"hardware", b"workload", b"kind", b"axes", b"plan.tp", b"1e400",
                              b"9" * 30, b".inf", b"true", b"\xff", b"\x00", b"\xfe\xff", b"#"])
YAML_BYTES = st.one_of(st.binary(max_size=300), st.lists(_YAML_BITS, max_size=60).map(b"".join))


@FUZZ
@given(YAML_BYTES)
def test_random_bytes_as_a_scenario_or_a_sweep(data):
    with _file(data) as path:
        _answer(lambda: archsim.load_scenario(path))
        _answer(lambda: load_sweep(path))


@FUZZ
@given(YAML_BYTES)
def test_random_bytes_at_the_command_line_exit_0_or_2(data):
    err = io.StringIO()
    with _file(data) as path, bounded(), contextlib.redirect_stderr(err), \
            contextlib.redirect_stdout(io.StringIO()):
        code = main(["simulate", str(path), "--json"])
    assert code in (0, 2), err.getvalue()
    assert "internal error" not in err.getvalue() and "Traceback" not in err.getvalue()


def _nested(depth: int, width: int, leaf: object, mapping: bool) -> object:
    value = leaf
    for i in range(depth):
        value = {f"k{i}": value} if mapping and i % 2 else [value] * width
    return value


NESTING = st.tuples(st.integers(1, 400), st.integers(1, 12),
                    st.sampled_from([1, "x", None, 1e300]), st.booleans())
PLACES = st.sampled_from(["plan", "model", "workload.arrival", "compression.distill.student",
                          "plan.placement", "hardware.device"])


@settings(FUZZ, max_examples=40)
@given(NESTING, PLACES)
def test_random_nesting_in_a_file_and_in_a_mapping(shape, place):
    """Deep trees and wide shared ones (a list repeating one object is what YAML aliases
    build): refused by depth or by expanded size, never a RecursionError or a blow-up."""
    depth, width, leaf, mapping = shape
    value = _nested(depth, width, leaf, mapping)
    base = json.loads(json.dumps(SERVING if place.startswith("workload") else SCENARIO))
    node = base
    *parents, last = place.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    _answer(lambda: archsim.load_scenario(base))
    _answer(lambda: load_sweep(sweep_mapping(axes={"plan.tp": [1]}, base=base)))
    if depth < 200 and width ** (depth // (2 if mapping else 1)) < 10**5:
        text = json.dumps(base)  # JSON is YAML: the same tree as a file (written out in full)
        with _file(text.encode()) as path:
            _answer(lambda: archsim.load_scenario(path))


HUGE = st.one_of(st.integers(-(10**30), 10**30), st.integers(2**52, 2**64),
                 st.floats(allow_nan=True, allow_infinity=True),
                 st.sampled_from([10**400, -(2**63), 2**40, 10**18, 1e-300, 0, -1, True]))
NUMERIC_KEYS = st.sampled_from([
    "workload.global_batch", "workload.micro_batch", "workload.seq_len", "workload.steps",
    "plan.tp", "plan.pp", "plan.dp", "plan.cp", "plan.ep", "plan.zero", "plan.virtual_stages",
    "model.layers", "model.hidden", "model.heads", "model.vocab", "model.max_seq_len",
    "model.dropout", "hardware.count", "hardware.devices_per_node", "compression.group_size"])
SERVING_KEYS = st.sampled_from([
    "workload.arrival.count", "workload.arrival.rate_per_s", "workload.arrival.seed",
    "workload.prompt_len", "workload.gen_len", "workload.max_num_seqs", "workload.block_size",
    "workload.gpu_memory_utilization", "workload.replicas", "workload.slo.ttft_s"])


@FUZZ
@given(st.dictionaries(NUMERIC_KEYS, HUGE, min_size=1, max_size=3),
       st.dictionaries(SERVING_KEYS, HUGE, min_size=1, max_size=3))
def test_random_huge_numbers_in_scenarios(training, serving):
    spec = _answer(lambda: archsim.load_scenario(SCENARIO, training))
    if spec is not None:  # accepted: every number in it is a finite, bounded one
        assert spec.cluster.total_devices <= 2**20 and spec.model.layers <= 100_000
        for value in training.values():
            assert isinstance(value, (int, float)) and math.isfinite(value)
    _answer(lambda: archsim.load_scenario(SERVING, serving))


@FUZZ
@given(st.dictionaries(NUMERIC_KEYS, HUGE, min_size=1, max_size=2))
def test_random_huge_numbers_in_sweep_axes(values):
    axes = {key: {"range": sorted([v, v]), "step": 1} if isinstance(v, int) and
            not isinstance(v, bool) else [v] for key, v in values.items()}
    sweep = _answer(lambda: load_sweep(sweep_mapping(axes=axes)))
    if sweep is not None:
        _answer(lambda: enumerate_points(sweep))


_EXPR_BITS = st.sampled_from(["(", ")", "[", "]", "-", "+", "*", "/", "//", "%", "**", "not ",
                              " and ", " or ", " if ", " else ", "==", "<", ",", "1", "0", "2.5",
                              "1e308", "10", "9" * 40, "plan.tp", "true", "'s'", "min(",
                              "max(", "round(", "float(", "int(", "log2(", "sqrt(", "abs("])
EXPRESSIONS = st.one_of(st.text(max_size=80), st.lists(_EXPR_BITS, max_size=200).map("".join))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(EXPRESSIONS)
def test_random_expressions_parse_and_evaluate_in_bounded_time(text):
    with bounded():
        try:
            expr = parse(text)
        except ExprSyntaxError:
            return
        try:
            value = expr.evaluate(lambda name: 4)
        except ExprEvalError:
            return
    assert value is None or isinstance(value, (bool, int, float, str, list))
    if isinstance(value, int) and not isinstance(value, bool):
        assert value.bit_length() <= 1024
    if isinstance(value, float):
        assert math.isfinite(value)
