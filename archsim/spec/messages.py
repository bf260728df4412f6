"""Pydantic's validation errors as archsim's one line per problem: the file (or ``--set``) the
value came from, the field path, what was expected and the value found.

* an unknown key lists the keys the spec at that place accepts (workload keys of its kind,
  ``model.moe``, ``hardware.device.memory``, pools in a cluster, ...);
* a missing or unknown ``workload.kind`` lists the kinds;
* ``true``/``false`` for a number says so once (pydantic would list every member of a union);
* a check over a whole section (``model: hidden 12289 is not divisible by heads 96``) blames
  the ``--set`` overrides below that section, with the file the rest came from.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from archsim.spec.base import BoolInput, StrictModel
from archsim.spec.errors import SpecError, format_location
from archsim.spec.shape import format_path

# pydantic adds the chosen member of a union to the location: these are never field names
_UNION_TAGS = ("str", "int", "float", "dict[str,any]", "tuple[str, str]", "list[int]")

# a number in exponent notation without the dot and signed exponent YAML 1.1 needs (1e30,
# 2.5e3): text to YAML, so an integer field says "unable to parse string"
_EXPONENT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+")

# fields whose value may be a registry name instead of a mapping (see archsim/spec/loader.py)
_REGISTRY_FIELDS = {"model": "models", "device": "devices", "intra_node": "interconnects",
                    "inter_node": "interconnects", "cluster": "clusters", "storage": "storage",
                    "student": "models", "interconnect": "interconnects"}


class Origins:
    """Which file each part of the merged mapping came from, for error messages."""

    def __init__(self, root: str):
        self.root = root
        self.by_prefix: dict[tuple, str] = {}

    def set(self, path: tuple, source: str) -> None:
        self.by_prefix[path] = source

    def source_of(self, loc: tuple, section: bool = False) -> tuple[str, tuple]:
        """(file, path inside that file) for an error location in the merged mapping.

        An error about a whole ``section`` (a check across its fields) names the ``--set``
        overrides inside that section first, then the file the section came from.
        """
        best: tuple = ()
        for prefix in self.by_prefix:
            if loc[: len(prefix)] == prefix and len(prefix) > len(best):
                best = prefix
        source, inner = (self.by_prefix[best], loc[len(best):]) if best else (self.root, loc)
        if source.startswith("--set ") or not section:
            return source, inner
        below = [s for p, s in self.by_prefix.items()
                 if s.startswith("--set ") and len(p) > len(loc) and p[: len(loc)] == loc]
        if below:
            return f"{', '.join(dict.fromkeys(below))} (with {source})", inner
        return source, inner


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The spec classes an annotation may hold (through unions, lists, tuples, dict values)."""
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    if origin is dict:
        return _models_in(typing.get_args(annotation)[1])
    if origin is not None:
        for arg in typing.get_args(annotation):
            out.extend(_models_in(arg))
    return out


def _tag(model: type[BaseModel]) -> Any:
    field = model.model_fields.get("kind")
    return field.default if field is not None else None


def specs_at(root: type[BaseModel], loc: Iterable) -> list[type[BaseModel]]:
    """The spec classes that may be at pydantic location ``loc`` below ``root``."""
    models: list[type[BaseModel]] = [root]
    for part in loc:
        if isinstance(part, int):
            continue  # a list position: the same element classes
        chosen = [m for m in models if part in (m.__name__, _tag(m))]
        if chosen and not any(part in m.model_fields for m in models):
            models = chosen
            continue
        found: list[type[BaseModel]] = []
        for m in models:
            field = m.model_fields.get(part) if isinstance(part, str) else None
            if field is not None:
                found.extend(_models_in(field.annotation))
        if not found:
            return []
        models = list(dict.fromkeys(found))
    return models


def spec_at(root: type[BaseModel], loc: Iterable) -> type[BaseModel] | None:
    """The spec class at pydantic location ``loc`` below ``root`` (None if not one class)."""
    models = specs_at(root, loc)
    return models[0] if len(models) == 1 else None


def _spec_names() -> set[str]:
    names, todo = set(), [StrictModel]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


def _clean(loc: tuple) -> tuple:
    """The location as the user wrote it: union members and discriminator tags removed."""
    out = []
    classes = _spec_names()
    for i, part in enumerate(loc):
        if isinstance(part, str) and (part.startswith(("function-", "constrained-"))
                                      or part in _UNION_TAGS or part in classes):
            continue  # function-after[...], str, LengthDistribution, ...
        if i == 1 and loc[0] == "workload" and part in ("training", "inference", "serving"):
            continue
        out.append(part)
    return tuple(out)


def _message(err: dict, loc: tuple, root: type[BaseModel]) -> tuple[str, tuple]:
    """(what is wrong, location) for one pydantic error."""
    kind = err["type"]
    msg = err["msg"].removeprefix("Value error, ")
    if kind == "extra_forbidden":
        model = spec_at(root, tuple(err["loc"])[:-1])
        hint = f"; expected one of: {', '.join(model.model_fields)}" if model else ""
        return f"unknown key{hint}", loc
    if kind == "missing":
        return "required field is missing", loc
    if kind in ("union_tag_not_found", "union_tag_invalid"):
        tags = ", ".join(str(_tag(m)) for m in specs_at(root, tuple(err["loc"])))
        if kind == "union_tag_not_found":
            return f"required field is missing; expected one of: {tags}", (*loc, "kind")
        return f"{err['ctx'].get('tag')!r} is not one of: {tags}", (*loc, "kind")
    if kind == "int_parsing" and isinstance(err.get("input"), str) \
            and _EXPONENT.fullmatch(err["input"].strip()):
        return ("Input should be a valid integer, written in digits: YAML reads exponent "
                "notation such as 1e3 as text"), loc
    if isinstance(err.get("input"), BoolInput):
        return f"expected a number, got {err['input']!r}", loc
    if kind == "model_type":
        last = next((p for p in reversed(loc) if isinstance(p, str)), "")
        registry = _REGISTRY_FIELDS.get(last)
        names = f" or a name from `archsim list {registry}`" if registry else ""
        return f"expected a mapping of fields{names}", loc
    return msg, loc


def _union_member(loc: tuple, classes: set[str]) -> tuple[tuple, bool] | None:
    """(location of the union, whether the member is a spec) for an error inside one member
    of a union such as ``int | LengthDistribution``, else None."""
    for i, part in enumerate(loc):
        if not isinstance(part, str):
            continue
        name = part[:-1].rsplit(", ", 1)[-1] if part.startswith("function-") else part
        if name in classes:  # function-after[_check(), LengthDistribution] or the bare name
            return loc[:i], True
        if part in _UNION_TAGS or part.startswith("constrained-"):
            return loc[:i], False
    return None


def _relevant(errors: list[dict]) -> list[dict]:
    """Errors of the union member the value was meant for: the spec's when a mapping was
    given (it has field errors below it), the number's otherwise."""
    classes = _spec_names()
    mapping_given: set[tuple] = set()
    members: dict[tuple, tuple[tuple, bool]] = {}
    for err in errors:
        loc = tuple(err["loc"])
        member = _union_member(loc, classes)
        if member is None:
            continue
        members[loc] = member
        at, is_spec = member
        if is_spec and err["type"] != "model_type":
            mapping_given.add(at)
    keep = []
    for err in errors:
        member = members.get(tuple(err["loc"]))
        if member is not None:
            at, is_spec = member
            if is_spec != (at in mapping_given):
                continue
        keep.append(err)
    return keep


# longest value quoted in a message (a list of a thousand numbers is cut, not printed whole)
_MAX_SHOWN = 60


def _got(value: Any) -> str:
    """`` (got VALUE)`` for a value a message quotes: scalars and lists (cut after
    ``_MAX_SHOWN`` characters); nothing for a mapping (a whole section) or a bool a number
    message already names."""
    if isinstance(value, (dict, BoolInput)):
        return ""
    text = repr(value)
    if len(text) > _MAX_SHOWN:
        text = text[: _MAX_SHOWN - 3] + "..."
    return f" (got {text})"


def format_validation_error(exc: ValidationError, origins: Origins,
                            root: type[StrictModel]) -> SpecError:
    """One line per problem; ``root`` is the spec the data was validated as (its keys are
    the ones an unknown key is told about)."""
    problems: list[str] = []
    kind_set = origins.by_prefix.get(("workload", "kind"), "")  # a --set that changed the kind
    for err in _relevant(exc.errors()):
        loc = _clean(tuple(err["loc"]))
        msg, loc = _message(err, loc, root)
        section = err["type"] == "value_error" and spec_at(root, tuple(err["loc"])) is not None
        source, inner = origins.source_of(loc, section)
        if (err["type"] in ("extra_forbidden", "missing") and loc[:1] == ("workload",)
                and kind_set.startswith("--set ") and not source.startswith("--set ")):
            # the file's key was right for its kind; the --set that changed the kind is not
            source = f"{kind_set} (with {source})"
        got = ""
        if err["type"] not in ("missing", "extra_forbidden", "union_tag_not_found",
                               "union_tag_invalid"):
            got = _got(err.get("input"))
        line = f"{format_location(source, format_path(inner))}: {msg}{got}"
        if line not in problems:
            problems.append(line)
    return SpecError(problems)
