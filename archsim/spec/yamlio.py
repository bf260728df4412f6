"""Reading YAML safely: PyYAML's C parser where available, duplicate keys refused, and the size
and nesting of a document bounded before it is built.

A document is first streamed as parser events (constant memory) and refused if it nests
deeper than :data:`archsim.spec.shape.MAX_NESTING` or holds more than
:data:`archsim.spec.shape.MAX_VALUES` values; only then is it built, and the built tree is
checked by :func:`archsim.spec.shape.check_tree` (aliases expanded, types, numbers). Only the
safe tags load (no Python objects). A key given twice in one mapping is an error naming both
lines (merge keys, ``<<: *anchor``, may still be overridden).

Raises SpecError naming the source, the line and column, and what is wrong.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from archsim.spec.errors import SpecError
from archsim.spec.shape import MAX_NESTING, MAX_VALUES, check_tree
from archsim.spec.textio import MAX_SPEC_BYTES, read_text

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


def _without_base60(resolvers: dict) -> dict:
    """YAML 1.1's implicit resolvers, except that a scalar with a colon is never a number:
    PyYAML reads an unquoted ``2:4`` (a sparsity pattern) as the base-60 integer 124 and
    ``1:30.5`` as 90.5; YAML 1.2 dropped base-60, and nothing archsim reads is written so."""
    out: dict = {}
    for first, entries in resolvers.items():
        out[first] = [(tag, re.compile(r"(?!.*:)" + regexp.pattern, regexp.flags)
                       if tag in _NUMBER_TAGS else regexp) for tag, regexp in entries]
    return out


class _Loader(_Base):  # type: ignore[misc,valid-type]
    """The safe loader (C where built) refusing a key given twice in one mapping and reading
    no base-60 numbers."""

    yaml_implicit_resolvers = _without_base60(_Base.yaml_implicit_resolvers)

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict:
        if isinstance(node, yaml.MappingNode):
            first: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    seen = first.setdefault(key, key_node.start_mark)
                except TypeError:
                    continue  # an unhashable key: the base class says so
                if seen is not key_node.start_mark:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"found the key {key!r} twice (first on line {seen.line + 1}); give "
                        "each key once", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def _mark_text(mark: yaml.Mark | None) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""


def _prescan(text: str, source: str) -> None:
    """Stream the events; SpecError if the document nests too deeply or holds too much."""
    depth = values = 0
    opening = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
    closing = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, opening):
            depth += 1
            values += 1
            if depth > MAX_NESTING:
                raise SpecError([f"{source}: {_mark_text(event.start_mark)}nests deeper than "
                                 f"{MAX_NESTING} levels, the most archsim reads"])
        elif isinstance(event, closing):
            depth -= 1
        elif isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)):
            values += 1
        if values > MAX_VALUES:
            raise SpecError([f"{source}: {_mark_text(event.start_mark)}holds more than "
                             f"{MAX_VALUES:,} values, the most archsim reads"])


def parse_yaml_text(text: str, source: str) -> object:
    """The value of the YAML document ``text``; SpecError naming ``source`` if it is bad."""
    try:
        _prescan(text, source)
        data = yaml.load(text, Loader=_Loader)  # _Loader derives from the safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError([f"{source}: malformed YAML: {_mark_text(mark)}{problem}"]) from None
    except RecursionError:  # the pure-Python parser, if the pre-scan let something through
        raise SpecError([f"{source}: nests too deeply to read"]) from None
    check_tree(data, source)
    return data


def read_yaml(path: Path, limit: int = MAX_SPEC_BYTES) -> object:
    """Parse a YAML file; SpecError naming the file (and line) for anything but good YAML."""
    return parse_yaml_text(read_text(Path(path), limit, what="YAML file"), str(path))
