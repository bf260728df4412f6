"""The tree of a parsed sweep expression and what its operators mean.

Nodes evaluate themselves against a lookup function (name → value). Arithmetic takes numbers
only (booleans are not numbers here), ordering compares numbers with numbers or strings with
strings, ``and`` / ``or`` / ``not`` / ``if`` take true or false only. Anything else raises
:class:`ExprEvalError` naming the values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

Lookup = Callable[[str], Any]


class ExprEvalError(ValueError):
    """An expression that parses but cannot be evaluated for these values."""


class Node:
    """An expression tree node; ``evaluate(lookup)`` returns its value."""

    __slots__ = ()

    def evaluate(self, lookup: Lookup) -> Any:
        raise NotImplementedError

    def names(self) -> Iterator[str]:
        yield from ()


@dataclass(frozen=True, slots=True)
class Const(Node):
    value: Any

    def evaluate(self, lookup: Lookup) -> Any:
        return self.value


@dataclass(frozen=True, slots=True)
class Name(Node):
    name: str
    pos: int

    def evaluate(self, lookup: Lookup) -> Any:
        return lookup(self.name)

    def names(self) -> Iterator[str]:
        yield self.name


@dataclass(frozen=True, slots=True)
class ListLit(Node):
    items: tuple[Node, ...]

    def evaluate(self, lookup: Lookup) -> Any:
        return [item.evaluate(lookup) for item in self.items]

    def names(self) -> Iterator[str]:
        for item in self.items:
            yield from item.names()


@dataclass(frozen=True, slots=True)
class Unary(Node):
    op: str
    operand: Node

    def evaluate(self, lookup: Lookup) -> Any:
        value = self.operand.evaluate(lookup)
        if self.op == "not":
            return not _truth(value)
        _need_number(value, self.op)
        return -value if self.op == "-" else +value

    def names(self) -> Iterator[str]:
        yield from self.operand.names()


@dataclass(frozen=True, slots=True)
class Binary(Node):
    op: str
    left: Node
    right: Node

    def evaluate(self, lookup: Lookup) -> Any:
        a, b = self.left.evaluate(lookup), self.right.evaluate(lookup)
        return _arith(self.op, a, b)

    def names(self) -> Iterator[str]:
        yield from self.left.names()
        yield from self.right.names()


@dataclass(frozen=True, slots=True)
class Compare(Node):
    first: Node
    rest: tuple[tuple[str, Node], ...]

    def evaluate(self, lookup: Lookup) -> Any:
        left = self.first.evaluate(lookup)
        for op, node in self.rest:
            right = node.evaluate(lookup)
            if not _compare(op, left, right):
                return False
            left = right
        return True

    def names(self) -> Iterator[str]:
        yield from self.first.names()
        for _, node in self.rest:
            yield from node.names()


@dataclass(frozen=True, slots=True)
class BoolOp(Node):
    op: str  # and | or
    items: tuple[Node, ...]

    def evaluate(self, lookup: Lookup) -> Any:
        if self.op == "and":
            return all(_truth(item.evaluate(lookup)) for item in self.items)
        return any(_truth(item.evaluate(lookup)) for item in self.items)

    def names(self) -> Iterator[str]:
        for item in self.items:
            yield from item.names()


@dataclass(frozen=True, slots=True)
class IfElse(Node):
    cond: Node
    then: Node
    other: Node

    def evaluate(self, lookup: Lookup) -> Any:
        if _truth(self.cond.evaluate(lookup)):
            return self.then.evaluate(lookup)
        return self.other.evaluate(lookup)

    def names(self) -> Iterator[str]:
        yield from self.cond.names()
        yield from self.then.names()
        yield from self.other.names()


@dataclass(frozen=True, slots=True)
class Call(Node):
    func: str
    args: tuple[Node, ...]

    def evaluate(self, lookup: Lookup) -> Any:
        values = [a.evaluate(lookup) for a in self.args]
        return _call(self.func, values)

    def names(self) -> Iterator[str]:
        for a in self.args:
            yield from a.names()


# --------------------------------------------------------------------------- semantics


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _need_number(v: Any, op: str) -> None:
    if not _is_number(v):
        raise ExprEvalError(f"{op!r} needs numbers, got {v!r}")


def _truth(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    raise ExprEvalError(f"expected true or false, got {v!r}")


# The largest exponent accepted by '**': keeps a typo such as 10 ** 10 ** 10 from hanging the
# sweep (a guard, not a modelling number).
_MAX_EXPONENT = 1024


def _arith(op: str, a: Any, b: Any) -> Any:
    _need_number(a, op)
    _need_number(b, op)
    try:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return a / b
        if op == "//":
            return a // b
        if op == "%":
            return a % b
        if abs(b) > _MAX_EXPONENT:
            raise ExprEvalError(f"exponent {b!r} is too large (limit {_MAX_EXPONENT})")
        return a ** b
    except ZeroDivisionError:
        raise ExprEvalError(f"division by zero in {a!r} {op} {b!r}") from None
    except OverflowError:
        raise ExprEvalError(f"{a!r} {op} {b!r} overflows") from None


def _compare(op: str, a: Any, b: Any) -> bool:
    if op == "==":
        return a == b
    if op == "!=":
        return a != b
    if op in ("in", "not in"):
        if not isinstance(b, (list, str)):
            raise ExprEvalError(f"{op!r} needs a list or a string on the right, got {b!r}")
        if isinstance(b, str) and not isinstance(a, str):
            raise ExprEvalError(f"{op!r}: cannot look for {a!r} in the string {b!r}")
        return (a in b) == (op == "in")
    same = (_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str))
    if not same:
        raise ExprEvalError(f"cannot order {a!r} and {b!r} with {op!r}")
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    return a >= b


def _fn_round(*args: Any) -> Any:
    return round(args[0]) if len(args) == 1 else round(args[0], int(args[1]))


def _fn_log2(x: Any) -> float:
    if x <= 0:
        raise ExprEvalError(f"log2 needs a positive number, got {x!r}")
    return math.log2(x)


def _fn_sqrt(x: Any) -> float:
    if x < 0:
        raise ExprEvalError(f"sqrt needs a non-negative number, got {x!r}")
    return math.sqrt(x)


# name -> (function, least arguments, most arguments)
FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int]] = {
    "min": (min, 1, 64),
    "max": (max, 1, 64),
    "abs": (abs, 1, 1),
    "ceil": (math.ceil, 1, 1),
    "floor": (math.floor, 1, 1),
    "round": (_fn_round, 1, 2),
    "int": (int, 1, 1),
    "float": (float, 1, 1),
    "log2": (_fn_log2, 1, 1),
    "sqrt": (_fn_sqrt, 1, 1),
}


def _call(name: str, values: list[Any]) -> Any:
    fn, _, _ = FUNCTIONS[name]
    if name in ("min", "max") and len(values) == 1:
        if not isinstance(values[0], list) or not values[0]:
            raise ExprEvalError(f"{name}() of one argument needs a non-empty list")
        values = values[0]
    for v in values:
        _need_number(v, f"{name}()")
    try:
        return fn(*values)
    except (ValueError, OverflowError) as exc:
        raise ExprEvalError(f"{name}{tuple(values)}: {exc}") from None
