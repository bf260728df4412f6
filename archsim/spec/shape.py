"""The shape of user data before it is validated: nesting, size, types and numbers.

Any spec, sweep or override (from YAML or from Python) is a tree of mappings, lists and plain
values. :func:`check_tree` walks it once, without recursion, and refuses what no spec needs and
what would make later steps (copying, validating, hashing, writing rows) exhaust the machine:

* nesting deeper than :data:`MAX_NESTING`;
* more than :data:`MAX_VALUES` values once YAML aliases are expanded (an "alias bomb" of a
  few lines expands to billions of values; shared parts are counted once per use, but each is
  visited once, so the check itself costs the size of the file);
* a mapping or list that contains itself;
* keys that are not text, values that are not text, numbers, true/false, null, mappings or lists
  (YAML dates, ``!!binary``, ``!!set``);
* numbers that are not finite or larger than :data:`MAX_NUMBER`.

Raises SpecError naming the source, the path of the offending value and the limit.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

from archsim.spec.errors import SpecError

# Deepest nesting of mappings and lists accepted: the deepest shipped file (a device's
# efficiency curve points inside a cluster pool) nests 7 levels, and copying or validating a
# tree takes a few stack frames per level, so 32 stays far from Python's recursion limit.
MAX_NESTING = 32

# Most values (mappings, lists and leaves, aliases expanded) in one tree: shipped scenarios,
# profiles and sweeps hold under 1,000; 200,000 takes ~0.1 s to validate and ~100 MB to hold.
MAX_VALUES = 200_000

# Largest number accepted anywhere: every count, length and size a spec writes as a bare
# number is far smaller (the largest shipped is 1.3e14, FLOPs of one GEMM in an efficiency
# curve), and up to 1e18 a whole number still fits numpy's int64.
MAX_NUMBER = 1e18

_LEAVES = (str, bool, type(None))


def format_path(path: tuple) -> str:
    """``("plan", "layers_per_stage", 3)`` → ``plan.layers_per_stage.3`` (as pydantic's
    locations are written in every archsim message)."""
    return ".".join(str(part) for part in path)


def _fail(source: str, path: tuple, message: str) -> SpecError:
    where = format_path(path)
    return SpecError([f"{source}: {where}: {message}" if where else f"{source}: {message}"])


def number_problem(value: Any) -> str | None:
    """Why ``value`` (a number) is not accepted, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Integral):
        if abs(int(value)) > MAX_NUMBER:
            return f"the number {_short(value)} is larger than {MAX_NUMBER:.0e}, the most " \
                   "archsim accepts"
        return None
    number = float(value)
    if not math.isfinite(number):
        return f"{number!r} is not a finite number"
    if abs(number) > MAX_NUMBER:
        return f"the number {number!r} is larger than {MAX_NUMBER:.0e}, the most archsim accepts"
    return None


def _short(value: Any) -> str:
    number = int(value)
    if abs(number) < 10**24:
        return str(number)
    return f"of about {int(abs(number).bit_length() * 0.30103) + 1} digits"


def _leaf_problem(value: Any) -> str | None:
    if isinstance(value, _LEAVES):
        return None
    if isinstance(value, numbers.Real):
        return number_problem(value)
    if hasattr(value, "model_fields"):  # an already validated spec (Python API)
        return None
    kind = type(value).__name__
    hint = "; write it in quotes if it is text" if kind in ("date", "datetime") else ""
    return f"a {kind} value is not accepted (expected text, a number, true/false, null, a " \
           f"mapping or a list){hint}"


def check_tree(value: Any, source: str, root: tuple = ()) -> None:
    """SpecError unless ``value`` has a shape a spec may have (see the module notes).

    ``source`` names the file (or ``--set KEY``); ``root`` is the path of ``value`` in it.
    """
    done: dict[int, tuple[int, int]] = {}  # id → (values below, aliases expanded; height)
    active: set[int] = set()
    keep: list[Any] = []  # holds what ``done`` refers to by id, while the walk runs
    stack: list[tuple[Any, tuple, bool]] = [(value, root, False)]
    while stack:
        node, path, closing = stack.pop()
        if not isinstance(node, (Mapping, list, tuple)):
            problem = _leaf_problem(node)
            if problem:
                raise _fail(source, path, problem)
            continue
        key = id(node)
        children = list(node.values()) if isinstance(node, Mapping) else list(node)
        if closing:
            active.discard(key)
            size, height = 1, 0
            for child in children:
                below = done.get(id(child)) if isinstance(child, (Mapping, list, tuple)) \
                    else None
                size += below[0] if below else 1
                height = max(height, below[1] if below else 0)
            done[key] = (size, height + 1)
            keep.append(node)
            if size > MAX_VALUES:
                raise _fail(source, path, f"holds more than {MAX_VALUES:,} values (YAML aliases "
                                          "expanded), the most archsim reads")
            continue
        if key in active:
            raise _fail(source, path, "contains itself (a YAML alias to its own parent)")
        depth = len(path) - len(root)
        if key in done:
            if depth + done[key][1] > MAX_NESTING:
                raise _fail(source, path, f"nests deeper than {MAX_NESTING} levels")
            continue
        if depth >= MAX_NESTING:
            raise _fail(source, path, f"nests deeper than {MAX_NESTING} levels")
        if len(children) > MAX_VALUES:
            raise _fail(source, path, f"holds more than {MAX_VALUES:,} values, the most archsim "
                                      "reads")
        active.add(key)
        stack.append((node, path, True))
        if isinstance(node, Mapping):
            for name, child in node.items():
                if not isinstance(name, str):
                    raise _fail(source, path, f"key {name!r} is not text (write it in quotes)")
                stack.append((child, (*path, name), False))
        else:
            for i, child in enumerate(node):
                stack.append((child, (*path, i), False))
