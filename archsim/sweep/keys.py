"""Dotted scenario keys (``plan.tp``, ``hardware.device.memory.capacity``) checked against the
scenario spec's fields, with the closest valid keys when one is wrong.

A key is valid when each part names a field of the pydantic model reached so far (any member of
a union, e.g. the three workload kinds), a key of a ``dict`` field (checked against its
``Literal`` key type when it has one), or anything below a field typed ``Any``. Keys through
lists (``hardware.cluster.pools.0.count``) are not supported by dotted overrides and are
rejected.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, Union

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from archsim.spec.scenario import ScenarioSpec

MISSING = object()
"""Marks a key without a default."""


@dataclass(frozen=True)
class KeyInfo:
    """What a valid key leads to: its allowed literal values (if any) and default."""

    key: str
    choices: tuple[Any, ...] | None
    """The values a ``Literal`` field accepts, else None."""
    default: Any
    """The field's default, or ``MISSING`` when it has none (required or inside ``Any``)."""



def _members(annotation: Any) -> list[Any]:
    """The alternatives of a union / Optional / Annotated annotation."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out.extend(_members(arg))
        return out
    return [annotation]


def _models(annotation: Any) -> list[type[BaseModel]]:
    return [m for m in _members(annotation) if isinstance(m, type) and issubclass(m, BaseModel)]


def _dict_value(annotation: Any) -> tuple[Any, Any] | None:
    for m in _members(annotation):
        if typing.get_origin(m) is dict:
            key_type, value_type = typing.get_args(m)
            return key_type, value_type
    return None


def _is_any(annotation: Any) -> bool:
    return any(m is Any for m in _members(annotation))


def _literal_choices(annotation: Any) -> tuple[Any, ...] | None:
    choices: list[Any] = []
    for m in _members(annotation):
        if typing.get_origin(m) is Literal:
            choices.extend(typing.get_args(m))
        elif m is type(None):
            choices.append(None)
        else:
            return None
    return tuple(choices) if choices else None


def _field_default(field: Any) -> Any:
    if field.default_factory is not None:
        return field.default_factory()
    return MISSING if field.default is PydanticUndefined else field.default


class UnknownKeyError(ValueError):
    """A dotted key the scenario spec does not have; the message names the closest keys."""


def check_key(key: str) -> KeyInfo:
    """Validate ``key`` against ScenarioSpec; raises UnknownKeyError with the closest valid keys."""
    parts = key.split(".")
    if any(not p for p in parts):
        raise UnknownKeyError(f"{key!r} is not a dotted key such as plan.tp")
    annotation: Any = ScenarioSpec
    default: Any = MISSING
    for i, part in enumerate(parts):
        prefix = ".".join(parts[:i])
        if _is_any(annotation) and not _models(annotation):
            return KeyInfo(key, None, MISSING)
        models = _models(annotation)
        if models:
            for model in models:
                if part in model.model_fields:
                    field = model.model_fields[part]
                    annotation = field.annotation
                    default = _sub_default(default, part, field)
                    break
            else:
                raise UnknownKeyError(_unknown(key, prefix, models))
            continue
        mapping = _dict_value(annotation)
        if mapping is not None:
            key_type, value_type = mapping
            allowed = _literal_choices(key_type)
            if allowed is not None and part not in allowed:
                raise UnknownKeyError(f"unknown key {key!r}: {part!r} is not one of "
                                f"{', '.join(map(str, allowed))}")
            annotation = value_type
            default = default.get(part, MISSING) if isinstance(default, dict) else MISSING
            continue
        if typing.get_origin(annotation) is list or any(
                typing.get_origin(m) is list for m in _members(annotation)):
            raise UnknownKeyError(f"{key!r}: {prefix} is a list; sweeping inside a list is not "
                            "supported (sweep the whole list or use inline variants)")
        raise UnknownKeyError(f"unknown key {key!r}: {prefix} is a single value, not a section")
    return KeyInfo(key, _literal_choices(annotation), default)


def _sub_default(parent_default: Any, part: str, field: Any) -> Any:
    if isinstance(parent_default, BaseModel):
        return getattr(parent_default, part, MISSING)
    return _field_default(field)


def _unknown(key: str, prefix: str, models: list[type[BaseModel]]) -> str:
    close = closest_keys(key)
    fields = list(dict.fromkeys(f for m in models for f in m.model_fields))
    where = f"under {prefix}" if prefix else "at the top level"
    hint = f"; closest: {', '.join(close)}" if close else ""
    return f"unknown key {key!r}{hint} (keys {where}: {', '.join(fields)})"


@lru_cache(maxsize=1)
def all_keys() -> tuple[str, ...]:
    """Every dotted key reachable through nested models (dict keys from Literal key types)."""
    out: list[str] = []

    def walk(annotation: Any, prefix: str, depth: int) -> None:
        if depth > 6:
            return
        for model in _models(annotation):
            for name, field in model.model_fields.items():
                key = f"{prefix}{name}"
                if key not in out:
                    out.append(key)
                walk(field.annotation, key + ".", depth + 1)
        mapping = _dict_value(annotation)
        if mapping is not None:
            allowed = _literal_choices(mapping[0]) or ()
            for k in allowed:
                out.append(f"{prefix}{k}")

    walk(ScenarioSpec, "", 0)
    return tuple(out)


def closest_keys(key: str, n: int = 3) -> list[str]:
    """Valid keys closest to ``key``: same section first, then anywhere."""
    keys = all_keys()
    head, _, last = key.rpartition(".")
    siblings = [k for k in keys if k.rpartition(".")[0] == head]
    near = difflib.get_close_matches(key, siblings, n=n, cutoff=0.6)
    if len(near) < n:
        more = difflib.get_close_matches(key, keys, n=n, cutoff=0.75)
        near += [k for k in more if k not in near]
    if len(near) < n and last:
        ends = [k for k in keys if k.rpartition(".")[2] == last and k not in near]
        near += ends
    return near[:n]
