"""Axes of a sweep file: a list of values, ``{values: [...]}``, or ``{range: [low, high]}``
with ``step`` (additive), ``factor`` (multiplicative), ``num`` (evenly spaced, ``scale: log``
for geometric spacing) or nothing (a continuous range, for modes random and lhs only).

Each axis key is checked against the scenario spec (closest valid keys when wrong); values of a
field with fixed choices (``plan.schedule``) and registry names (``hardware.device``) are
checked when the file is loaded, so a typo does not cost a sweep. A registry key's value
ending in ``.yaml`` is a profile file path instead (archsim/sweep/files.py, read by
:func:`archsim.sweep.spec.load_sweep`).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from archsim.spec.registry import registry_path
from archsim.sweep.files import is_path_value
from archsim.sweep.keys import check_key

# Most values one axis may hold: a list of them is kept per axis and combined into points;
# 1,000,000 is far beyond any grid axis (a few to a few hundred values) and cheap to hold.
MAX_AXIS_VALUES = 1_000_000

# dotted keys whose string value names a registry entry -> registry kind
REGISTRY_KEYS = {"model": "models", "hardware.device": "devices",
                 "hardware.intra_node": "interconnects", "hardware.inter_node": "interconnects",
                 "hardware.cluster": "clusters", "compression.distill.student": "models"}


@dataclass(frozen=True)
class Axis:
    """One swept key: a finite list of values, or a continuous range (random / lhs)."""

    key: str
    values: tuple[Any, ...] | None = None
    low: float = 0.0
    high: float = 0.0
    integer: bool = False
    log: bool = False

    @property
    def finite(self) -> bool:
        return self.values is not None


def _is_integral(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def parse_axis(key: str, value: Any, mode: str) -> Axis:
    """The axis ``key: value`` of a sweep in ``mode``; ValueError (or SpecError) if bad."""
    info = check_key(key)  # raises UnknownKeyError (a ValueError) with the closest keys
    if isinstance(value, list):
        values: list[Any] | None = value
    elif isinstance(value, dict) and set(value) <= {"values"} and "values" in value:
        values = value["values"]
        if not isinstance(values, list):
            raise ValueError(f"values must be a list, got {values!r}")
    elif isinstance(value, dict) and "range" in value:
        return _parse_range(key, value, mode, info.choices)
    else:
        raise ValueError(f"expected a list of values, {{values: [...]}} or {{range: [low, high], "
                         f"step|factor|num: ...}}; got {value!r}")
    if not values:
        raise ValueError("is empty; give at least one value")
    if info.choices is not None:
        bad = [v for v in values if v not in info.choices]
        if bad:
            raise ValueError(f"{bad[0]!r} is not one of "
                             f"{', '.join(repr(c) for c in info.choices)}")
    kind = REGISTRY_KEYS.get(key)
    if kind is not None:
        for v in values:
            if isinstance(v, str) and not is_path_value(v):  # paths: read by load_sweep
                registry_path(kind, v)  # SpecError with the closest names
    keys = [_canonical(v) for v in values]
    if len(set(keys)) != len(keys):
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"repeats a value ({', '.join(dupes)}); each value once")
    return Axis(key=key, values=tuple(values))


_RANGE_KEYS = {"range", "step", "factor", "num", "scale"}


def _parse_range(key: str, value: dict[str, Any], mode: str,
                 choices: tuple[Any, ...] | None) -> Axis:
    extra = set(value) - _RANGE_KEYS
    if extra:
        raise ValueError(f"unknown range key {sorted(extra)[0]!r}; expected range with one "
                         "of step, factor, num (and scale: linear|log with num)")
    if choices is not None:
        raise ValueError(f"takes one of {', '.join(map(repr, choices))}; give a list")
    bounds = value["range"]
    if (not isinstance(bounds, list) or len(bounds) != 2
            or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds)):
        raise ValueError(f"range must be [low, high] numbers, got {bounds!r}")
    low, high = bounds
    if not all(math.isfinite(b) for b in bounds):
        raise ValueError(f"range must be [low, high] finite numbers, got {bounds!r}")
    if high < low:
        raise ValueError(f"range [{low}, {high}]: low is greater than high")
    integer = _is_integral(low) and _is_integral(high)
    scale = value.get("scale", "linear")
    if scale not in ("linear", "log"):
        raise ValueError(f"scale must be linear or log, got {scale!r}")
    if scale == "log" and low <= 0:
        raise ValueError(f"a log scale needs low > 0, got {low}")
    given = [k for k in ("step", "factor", "num") if k in value]
    if len(given) > 1:
        raise ValueError(f"give one of step, factor, num, not {' and '.join(given)}")
    if not given:
        if mode == "grid":
            raise ValueError("a continuous range needs step, factor or num in grid mode "
                             "(or use mode random / lhs)")
        return Axis(key=key, low=low, high=high, integer=integer, log=scale == "log")
    what = given[0]
    amount = value[what]
    if not isinstance(amount, (int, float)) or isinstance(amount, bool) or amount <= 0 \
            or not math.isfinite(amount):
        raise ValueError(f"{what} must be a positive number, got {amount!r}")
    _check_count(value, _count(low, high, what, amount))
    if what == "step":
        values = _stepped(low, high, amount, integer and _is_integral(amount))
    elif what == "factor":
        if amount <= 1 or low <= 0:
            raise ValueError(f"factor needs factor > 1 and low > 0, got factor {amount}, "
                             f"low {low}")
        values = []
        x = low
        while x <= high * (1 + 1e-12):
            values.append(round(x) if integer and _is_integral(amount) else x)
            x *= amount
    else:
        if not _is_integral(amount):
            raise ValueError(f"num must be a whole number, got {amount!r}")
        values = _spaced(low, high, amount, scale == "log", integer)
    if not values:
        raise ValueError(f"range {value!r} gives no values")
    return Axis(key=key, values=tuple(dict.fromkeys(values)))


def _count(low: float, high: float, what: str, amount: float) -> float:
    """How many values a range gives (computed, not built: the range may be 1 to 1e18)."""
    if what == "step":
        return math.floor((high - low) / amount * (1 + 1e-12)) + 1
    if what == "factor":
        if amount <= 1 or low <= 0:
            return 1  # refused with its own message
        return math.floor(math.log(high / low) / math.log(amount) * (1 + 1e-12)) + 1
    return amount


def _check_count(value: dict[str, Any], count: float) -> None:
    if count > MAX_AXIS_VALUES:
        shown = f"{count:,.0f}" if count < 1e15 else f"{count:.3g}"
        raise ValueError(f"range {value!r} gives {shown} values; an axis holds at most "
                         f"{MAX_AXIS_VALUES:,} (use a larger step or factor, fewer num, or a "
                         "continuous range in mode random / lhs)")


def _stepped(low: float, high: float, step: float, integer: bool) -> list[Any]:
    count = math.floor((high - low) / step * (1 + 1e-12)) + 1
    if integer:
        return [int(low + i * step) for i in range(count)]
    return [low + i * step for i in range(count)]


def _spaced(low: float, high: float, num: int, log: bool, integer: bool) -> list[Any]:
    if num == 1:
        return [low]
    out = []
    for i in range(num):
        f = i / (num - 1)
        x = low * (high / low) ** f if log else low + (high - low) * f
        out.append(round(x) if integer else x)
    return out


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def fingerprint(mapping: Any) -> str:
    """A stable short hash of a JSON-like value."""
    return hashlib.sha256(_canonical(mapping).encode()).hexdigest()[:16]
