"""Quantities with units, parsed once into SI floats.

Profiles and scenarios write dimensioned values as strings a person reads
(``"80 GiB"``, ``"3.35 TB/s"``, ``"312 TFLOPS"``, ``"2 us"``); inside archsim they are
plain floats in SI units: bytes, bytes/s, FLOP/s, seconds, watts, US dollars per hour.

Assumptions
-----------
* Decimal prefixes (k, M, G, T, P) are powers of 1000; binary prefixes (Ki, Mi, Gi, Ti) are
  powers of 1024. ``GB/s`` is 1e9 bytes/s, ``Gb/s`` (lower-case b) is 1e9 bits/s.
* ``TOPS`` (integer operations) is treated as the same dimension as ``TFLOPS``.
* A bare number for a dimensioned field is an error: the unit is never guessed.

Raises
------
ValueError
    With a message naming the expected unit and the offending value; pydantic turns it
    into a validation error carrying the field path.
"""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_DECIMAL = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
_BINARY = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50}
_SUBSECOND = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9, "min": 60.0, "h": 3600.0}

_NUMBER = r"(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_QUANTITY_RE = re.compile(rf"^\s*{_NUMBER}\s*(?P<unit>\S.*?)?\s*$")

# dimension -> (example for messages, parser of the unit part returning the SI factor)
DIMENSIONS = ("bytes", "bandwidth", "flops", "time", "power", "price", "frequency", "energy")
_EXAMPLES = {
    "bytes": "'80 GiB' or '40 MB'",
    "bandwidth": "'3.35 TB/s', '900 GB/s' or '200 Gb/s'",
    "flops": "'312 TFLOPS' or '624 TOPS'",
    "time": "'2 us', '1.5 ms' or '3 s'",
    "power": "'400 W' or '1.2 kW'",
    "price": "'2.50 USD/h'",
    "frequency": "'1.41 GHz'",
    "energy": "'1.5 kWh' or '10 J'",
}


def _prefix_factor(prefix: str) -> float | None:
    if prefix in _BINARY:
        return _BINARY[prefix]
    if prefix in _DECIMAL:
        return _DECIMAL[prefix]
    return None


def _unit_factor(dimension: str, unit: str) -> float | None:
    """SI factor of ``unit`` for ``dimension``, or None when the unit does not belong to it."""
    if dimension == "bytes":
        m = re.fullmatch(r"(Ki|Mi|Gi|Ti|Pi|[kKMGTPE]?)(B|bytes?)", unit)
        return _prefix_factor(m.group(1)) if m else None
    if dimension == "bandwidth":
        m = re.fullmatch(r"(Ki|Mi|Gi|Ti|[kKMGTP]?)(B|b|bit|bytes?)(?:/s|ps)", unit)
        if not m:
            return None
        factor = _prefix_factor(m.group(1))
        if factor is None:
            return None
        return factor / 8.0 if m.group(2) in ("b", "bit") else factor
    if dimension == "flops":
        m = re.fullmatch(r"([kMGTPE]?)(FLOPS|FLOP/s|flops|OPS|ops|OP/s)", unit)
        return _prefix_factor(m.group(1)) if m else None
    if dimension == "time":
        return _SUBSECOND.get(unit)
    if dimension == "power":
        m = re.fullmatch(r"([kMG]?)W", unit)
        return _prefix_factor(m.group(1)) if m else None
    if dimension == "price":
        return 1.0 if unit in ("USD/h", "$/h", "USD/hour", "$/hour") else None
    if dimension == "frequency":
        m = re.fullmatch(r"([kMG]?)Hz", unit)
        return _prefix_factor(m.group(1)) if m else None
    if dimension == "energy":
        if unit == "J":
            return 1.0
        m = re.fullmatch(r"([kMG]?)Wh", unit)
        return _prefix_factor(m.group(1)) * 3600.0 if m else None
    raise KeyError(dimension)


# The range of a non-zero quantity, per dimension (SI units). Far outside every real device,
# link and price (shipped profiles span 16 MB-256 GiB, 1 GB/s-80 TB/s, 1.28 TFLOPS-9 PFLOPS,
# 0.5 us-2 ms, 20-1000 W, 1-5 USD/h), yet tight enough that a time computed from them (work /
# rate, bytes / bandwidth) stays a finite float: "1e-300 FLOPS" would make a step take
# infinitely long and still look feasible.
_RANGES = {  # dimension: (low, high, as written in messages)
    "bytes": (1.0, 2.0**60, "1 B", "1 EiB"),
    "bandwidth": (1e3, 1e18, "1 kB/s", "1 EB/s"),
    "flops": (1e3, 1e21, "1 kFLOPS", "1e21 FLOPS"),
    "time": (1e-15, 3.2e7, "1 fs", "3.2e7 s (about a year)"),
    "power": (1e-3, 1e9, "1 mW", "1 GW"),
    "price": (1e-6, 1e6, "1e-6 USD/h", "1e6 USD/h"),
    "frequency": (1.0, 1e12, "1 Hz", "1 THz"),
    "energy": (1e-9, 1e18, "1 nJ", "1e18 J"),
}


def parse_quantity(value: object, dimension: str, *, allow_zero: bool = False) -> float:
    """Parse ``value`` (a string with a unit) into an SI float of ``dimension``.

    Raises ValueError naming the expected unit when the value is a bare number, has a unit of
    another dimension, cannot be read, is not positive (zero allowed with ``allow_zero``) or
    lies outside the range archsim accepts for the dimension.
    """
    example = _EXAMPLES[dimension]
    if isinstance(value, bool) or value is None:
        raise ValueError(f"expected a quantity in {dimension} with a unit, e.g. {example}; "
                         f"got {value!r}")
    if isinstance(value, (int, float)):
        raise ValueError(f"a bare number {value!r} has no unit; expected a quantity in "
                         f"{dimension}, e.g. {example}")
    if not isinstance(value, str):
        raise ValueError(f"expected a quantity in {dimension} as a string with a unit, "
                         f"e.g. {example}; got {type(value).__name__} {value!r}")
    m = _QUANTITY_RE.match(value)
    if not m:
        raise ValueError(f"cannot read {value!r} as a quantity; expected e.g. {example}")
    unit = (m.group("unit") or "").strip()
    if not unit:
        raise ValueError(f"{value!r} has no unit; expected a quantity in {dimension}, "
                         f"e.g. {example}")
    factor = _unit_factor(dimension, unit)
    if factor is None:
        raise ValueError(f"unit {unit!r} in {value!r} is not a unit of {dimension}; "
                         f"expected e.g. {example}")
    number = float(m.group("num")) * factor
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite quantity")
    if number < 0 or (number == 0 and not allow_zero):
        bound = "zero or more" if allow_zero else "greater than zero"
        raise ValueError(f"{value!r} must be {bound}")
    low, high, low_text, high_text = _RANGES[dimension]
    if number != 0 and not low <= number <= high:
        what = "below the smallest" if number < low else "above the largest"
        raise ValueError(f"{value!r} is {what} {dimension} value archsim accepts "
                         f"({low_text} to {high_text})")
    return number


_FORMAT_UNITS = {
    "bytes": ("B", [(2.0**40, "TiB"), (2.0**30, "GiB"), (2.0**20, "MiB"), (2.0**10, "KiB")]),
    "bandwidth": ("B/s", [(1e12, "TB/s"), (1e9, "GB/s"), (1e6, "MB/s"), (1e3, "kB/s")]),
    "flops": ("FLOPS", [(1e15, "PFLOPS"), (1e12, "TFLOPS"), (1e9, "GFLOPS"), (1e6, "MFLOPS")]),
    "time": ("s", [(1.0, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns")]),
    "power": ("W", [(1e3, "kW"), (1.0, "W")]),
    "price": ("USD/h", []),
    "frequency": ("Hz", [(1e9, "GHz"), (1e6, "MHz"), (1e3, "kHz")]),
    "energy": ("J", [(3.6e6, "kWh"), (1.0, "J")]),
}


def format_quantity(value: float, dimension: str, digits: int = 4) -> str:
    """Write an SI float back as a readable quantity string that :func:`parse_quantity` reads."""
    base, scales = _FORMAT_UNITS[dimension]
    for factor, unit in scales:
        if abs(value) >= factor:
            return f"{value / factor:.{digits}g} {unit}"
    return f"{value:.{digits}g} {base}"


# Significant digits when a spec is dumped back to YAML/JSON: enough that reloading it (the
# API's and the sweep's overrides do) gives the same float to ~1e-15, not only 6 digits.
_DUMP_DIGITS = 15


def _quantity_type(dimension: str, *, allow_zero: bool = False) -> object:
    return Annotated[
        float,
        BeforeValidator(lambda v: parse_quantity(v, dimension, allow_zero=allow_zero)),
        PlainSerializer(lambda v: format_quantity(v, dimension, digits=_DUMP_DIGITS),
                        return_type=str),
    ]


Bytes = _quantity_type("bytes")
Bandwidth = _quantity_type("bandwidth")
FlopRate = _quantity_type("flops")
Duration = _quantity_type("time")
DurationOrZero = _quantity_type("time", allow_zero=True)
BytesOrZero = _quantity_type("bytes", allow_zero=True)
Power = _quantity_type("power")
Price = _quantity_type("price", allow_zero=True)
Energy = _quantity_type("energy")

BYTES_PER_ELEMENT = {
    "fp64": 8.0,
    "fp32": 4.0,
    "tf32": 4.0,
    "bf16": 2.0,
    "fp16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "fp6": 0.75,
    "fp4": 0.5,
    "int4": 0.5,
}
"""Storage size of one element per dtype name (tf32 is stored as fp32)."""


def keeps_master_copy(dtype: str) -> bool:
    """Whether training in ``dtype`` keeps a separate fp32 master copy of the weights: mixed
    precision does (Micikevicius et al. 2018); fp32 (or wider) weights are their own master."""
    return BYTES_PER_ELEMENT[dtype] < 4.0
