"""Base class for every ``*Spec``: strict (unknown keys rejected), frozen, validated at the door.

Beyond pydantic's own checks, every spec refuses non-finite floats (``.inf``, ``.nan``) and
``true``/``false`` where a number is expected (pydantic alone reads ``count: true`` as 1): such
a value reaches the number's validator as :class:`BoolInput`, which it rejects at the field's
own path.
"""

from __future__ import annotations

import types
import typing
from functools import cache
from typing import Any, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainValidator, model_validator
from pydantic.fields import FieldInfo


class BoolInput:
    """``true``/``false`` given for a number (written back as the user wrote it)."""

    __slots__ = ("value",)

    def __init__(self, value: bool):
        self.value = value

    def __repr__(self) -> str:
        return "true" if self.value else "false"


@cache
def _numbers_only(annotation: Any) -> str | None:
    """How ``annotation`` holds numbers that true/false must not stand for: ``"scalar"`` (int,
    float), ``"items"`` (a list / tuple of them), or None."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _numbers_only(typing.get_args(annotation)[0])
    members = typing.get_args(annotation) if origin in (Union, types.UnionType) \
        else (annotation,)
    members = tuple(typing.get_args(m)[0] if typing.get_origin(m) is typing.Annotated else m
                    for m in members)
    if any(m is bool or m is Any for m in members):
        return None
    if any(m in (int, float) for m in members):
        return "scalar"
    for m in members:
        if typing.get_origin(m) in (list, tuple):
            args = [a for a in typing.get_args(m) if a is not Ellipsis]
            if args and all(_numbers_only(a) == "scalar" for a in args):
                return "items"
    return None


def _kind(field: FieldInfo) -> str | None:
    if any(isinstance(m, (BeforeValidator, PlainValidator)) for m in field.metadata):
        return None  # a quantity: its parser refuses true/false with its own message
    return _numbers_only(field.annotation)


class StrictModel(BaseModel):
    """A validated, immutable input record; unknown keys are errors, never silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        fields = cls.model_fields
        out = None
        for name, value in data.items():
            if not isinstance(value, (bool, list, tuple)) or name not in fields:
                continue
            kind = _kind(fields[name])
            if kind == "scalar" and isinstance(value, bool):
                new: Any = BoolInput(value)
            elif kind == "items" and not isinstance(value, bool) \
                    and any(isinstance(v, bool) for v in value):
                new = [BoolInput(v) if isinstance(v, bool) else v for v in value]
            else:
                continue
            if out is None:
                out = dict(data)
            out[name] = new
        return data if out is None else out
