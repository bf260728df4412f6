"""The points of a sweep: grid, random or Latin-hypercube samples of the axes, then derived keys
and constraints, each point keyed by a stable hash of what it resolves to.

* grid — every combination of the axes' values (axis order: the file's; the last varies
  fastest).
* random — ``n`` points drawn with numpy's PCG64 generator seeded by ``seed``; when every axis
  is a finite list, ``n`` distinct combinations (all of them if ``n`` is at least the grid's
  size); continuous ranges are drawn uniformly (log-uniformly with ``scale: log``).
* lhs — Latin hypercube (McKay, Beckman & Conover 1979): each axis's unit interval is cut into
  ``n`` equal strata, each stratum is used once, in a random order per axis; a stratum maps to
  a value of a finite axis by position (``floor(u · k)``) and to a continuous range linearly
  (or logarithmically).

The hash covers the base scenario (registry names resolved), the point's values, the content of
registry entries and profile files the point names (``hardware.device: h100-sxm5-80gb`` or
``hardware.device: devs/tuned.yaml``) and the engine, so editing the base or a profile changes
the hash and ``--resume`` re-runs the point. It names what is simulated, not the code that
simulates it: rows of another archsim version are dropped on resume by the results table
(archsim/sweep/versions.py), so a re-run point keeps its hash and its one row.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from archsim.spec.errors import SpecError
from archsim.spec.registry import load_registry_mapping
from archsim.sweep.axes import REGISTRY_KEYS, Axis, fingerprint
from archsim.sweep.expr import ExprEvalError
from archsim.sweep.files import is_path_value
from archsim.sweep.keys import MISSING, check_key
from archsim.sweep.spec import Sweep, base_value, scalar_of

# Most points a sweep enumerates unless raised (--max-points, or max_points: in the file):
# enumerating and holding a point costs ~8 us and ~450 bytes (measured: 1,000,000 points 8 s,
# 440 MB), and running it far more, so this refuses only a slip such as an axis too many.
DEFAULT_MAX_POINTS = 1_000_000


@dataclass(frozen=True, slots=True)
class Point:
    index: int
    """Position in the sweep's enumeration (stable across runs of the same file)."""
    values: dict[str, Any]
    """Input columns: the axes' values, then the derived keys'."""
    hash: str
    error: str | None = None
    """Set when a derived key or constraint could not be evaluated for this point."""


@dataclass
class Space:
    points: list[Point]
    """Points that pass the constraints (or whose constraints failed to evaluate)."""
    enumerated: int
    excluded: int
    """Points the constraints ruled out."""
    duplicates: int = 0
    """Samples equal to an earlier one (random or lhs over few values); run once."""


def enumerate_points(sweep: Sweep) -> Space:
    """All points of ``sweep`` that its constraints allow."""
    points: list[Point] = []
    excluded = enumerated = duplicates = 0
    seen: set[str] = set()
    for index, raw in enumerate(_samples(sweep)):
        enumerated += 1
        values = dict(zip([a.key for a in sweep.axes], raw, strict=True))
        error = None
        where, expr = "", None
        try:
            for key, expr in sweep.derived:
                where = f"derived.{key}"
                values[key] = normalize(expr.evaluate(_lookup(values, sweep)))
            allowed = True
            for i, expr in enumerate(sweep.constraints):
                where = f"constraints[{i}]"
                verdict = expr.evaluate(_lookup(values, sweep))
                if not isinstance(verdict, bool):
                    raise ExprEvalError(f"gave {verdict!r}, not true or false")
                if not verdict:
                    allowed = False
                    break
        except ExprEvalError as exc:
            text = expr.text if expr is not None else ""
            error, allowed = f"{sweep.source}: {where}: cannot evaluate {text!r}: {exc}", True
            for key, _ in sweep.derived:
                values.setdefault(key, None)
        if not allowed:
            excluded += 1
            continue
        key = point_hash(sweep, values)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        points.append(Point(index, values, key, error))
    if points and all(p.error is not None for p in points):
        raise SpecError(_never_evaluated(points))
    return Space(points=points, enumerated=enumerated, excluded=excluded, duplicates=duplicates)


def _never_evaluated(points: list[Point]) -> list[str]:
    """Every point's expressions fail: one line per failing expression (its first point's
    message), rather than a table of failed rows."""
    first: dict[str, str] = {}
    for p in points:
        assert p.error is not None
        first.setdefault(p.error.split(": cannot evaluate ")[0], p.error)
    every = "the one point" if len(points) == 1 else f"all {len(points):,} points"
    return [f"{message} ({every} of the sweep fail here; nothing was run)"
            for message in first.values()]


def normalize(value: Any) -> Any:
    """A derived value as stored and applied: whole floats become ints (``64.0`` → ``64``)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def point_hash(sweep: Sweep, values: dict[str, Any]) -> str:
    registry = {}
    for key, value in values.items():
        kind = REGISTRY_KEYS.get(key)
        if kind is not None and is_path_value(value):
            registry[key] = fingerprint(sweep.profile_file(key, value, f"derived.{key}"))
        elif kind is not None and isinstance(value, str):
            registry[key] = _registry_fingerprint(kind, value)
    return fingerprint({"base": sweep.base_fingerprint, "set": values, "registry": registry,
                        "engine": sweep.engine})


@lru_cache(maxsize=256)
def _registry_fingerprint(kind: str, name: str) -> str:
    data, _ = load_registry_mapping(kind, name)
    return fingerprint(data)


def _lookup(values: dict[str, Any], sweep: Sweep):
    def lookup(name: str) -> Any:
        if name in values:
            return values[name]
        if name in sweep.constants:
            return sweep.constants[name]
        for key, value in values.items():
            if name.startswith(key + "."):
                return _below(sweep, key, value, name)
        raise ExprEvalError(f"unknown name {name!r}")

    return lookup


def _below(sweep: Sweep, key: str, value: Any, name: str) -> Any:
    """The value of ``name`` under the swept key ``key`` (e.g. model.layers under model)."""
    rest = name[len(key) + 1:]
    kind = REGISTRY_KEYS.get(key)
    if is_path_value(value) and kind is not None:
        try:
            value = sweep.profile_file(key, value, f"derived.{key}")
        except SpecError as exc:
            raise ExprEvalError(str(exc)) from None
    elif isinstance(value, str) and kind is not None:
        try:
            value, _ = load_registry_mapping(kind, value)
        except SpecError as exc:
            raise ExprEvalError(str(exc)) from None
    if not isinstance(value, dict):
        raise ExprEvalError(f"{name!r}: {key} is {value!r}, not a section")
    found = base_value(value, rest)
    if found is MISSING:
        found = check_key(name).default
    if found is MISSING:
        raise ExprEvalError(f"{name!r} has no value for {key} = {scalar_of(value)!r}")
    return scalar_of(found)


# --------------------------------------------------------------------------- sampling


def _samples(sweep: Sweep) -> Iterator[tuple[Any, ...]]:
    axes, spec = sweep.axes, sweep.spec
    limit = max_points(sweep)
    raise_it = "raise it with --max-points N (or max_points: N in the sweep file)"
    if spec.mode == "grid":
        size = math.prod(len(a.values or ()) for a in axes)
        if size > limit:
            raise SpecError([f"{sweep.source}: axes: the grid has {size:,} points, more than "
                             f"the limit of {limit:,}; {raise_it}, or use mode random or lhs "
                             "with n"])
        return itertools.product(*(a.values or () for a in axes))
    if (spec.n or 0) > limit:
        raise SpecError([f"{sweep.source}: n: {spec.n:,} points are more than the limit of "
                         f"{limit:,}; {raise_it}"])
    import numpy as np

    rng = np.random.default_rng(spec.seed)
    n = spec.n or 0
    if spec.mode == "random":
        return iter(_random(axes, n, rng))
    return iter(_latin_hypercube(axes, n, rng))


def max_points(sweep: Sweep) -> int:
    """The most points ``sweep`` may enumerate (its ``max_points``, else the default)."""
    return sweep.spec.max_points or DEFAULT_MAX_POINTS


def _random(axes: list[Axis], n: int, rng: Any) -> list[tuple[Any, ...]]:
    if all(a.finite for a in axes):
        sizes = [len(a.values or ()) for a in axes]
        total = math.prod(sizes)
        if total <= 2**62:
            count = min(n, total)
            picks = rng.choice(total, size=count, replace=False) if count < total \
                else rng.permutation(total)
            return [_decode(int(i), axes, sizes) for i in picks]
    columns = [_draw(a, rng.random(n)) for a in axes]
    return list(zip(*columns, strict=True))


def _decode(index: int, axes: list[Axis], sizes: list[int]) -> tuple[Any, ...]:
    """Mixed-radix digits of ``index`` (last axis fastest, as in the grid)."""
    out = []
    for axis, size in zip(reversed(axes), reversed(sizes), strict=True):
        index, digit = divmod(index, size)
        out.append((axis.values or ())[digit])
    return tuple(reversed(out))


def _latin_hypercube(axes: list[Axis], n: int, rng: Any) -> list[tuple[Any, ...]]:
    columns = []
    for axis in axes:
        u = (rng.permutation(n) + rng.random(n)) / n
        columns.append(_draw(axis, u))
    return list(zip(*columns, strict=True))


def _draw(axis: Axis, u: Any) -> list[Any]:
    """Map unit-interval samples ``u`` onto the axis."""
    if axis.values is not None:
        k = len(axis.values)
        return [axis.values[min(int(x * k), k - 1)] for x in u]
    lo, hi = axis.low, axis.high
    out: list[Any] = []
    for x in u:
        if axis.integer:
            if axis.log:
                v = math.floor(math.exp(math.log(lo) + x * (math.log(hi + 1) - math.log(lo))))
            else:
                v = math.floor(lo + x * (hi - lo + 1))
            out.append(int(min(max(v, lo), hi)))
        else:
            v = math.exp(math.log(lo) + x * (math.log(hi) - math.log(lo))) if axis.log \
                else lo + x * (hi - lo)
            out.append(float(v))
    return out
