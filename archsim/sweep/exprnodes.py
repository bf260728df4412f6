"""The tree of a parsed sweep expression and what its operators mean.

Nodes evaluate themselves against a lookup function (name → value). Arithmetic takes numbers
only (booleans are not numbers here), ordering compares numbers with numbers or strings with
strings, ``and`` / ``or`` / ``not`` / ``if`` take true or false only. Anything else raises
:class:`ExprEvalError` naming the values.

Every arithmetic result is a real, finite number whose size is bounded: a whole number below
2**:data:`MAX_INT_BITS` (checked before ``**`` computes it, so ``((10**1024)**1024)**1024``
costs nothing), a float that did not overflow. The work of an expression therefore grows with
its length, never with the size of its numbers.
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

    def children(self) -> tuple[Node, ...]:
        return ()


def tree_depth(root: Node) -> int:
    """Levels of the tree under ``root`` (a leaf is 1), without recursion."""
    depth: dict[int, int] = {}
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, closing = stack.pop()
        kids = node.children()
        if closing:
            depth[id(node)] = 1 + max((depth[id(k)] for k in kids), default=0)
        else:
            stack.append((node, True))
            stack.extend((k, False) for k in kids)
    return depth[id(root)]


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

    def children(self) -> tuple[Node, ...]:
        return self.items


@dataclass(frozen=True, slots=True)
class Unary(Node):
    op: str
    operand: Node

    def evaluate(self, lookup: Lookup) -> Any:
        value = self.operand.evaluate(lookup)
        if self.op == "not":
            return not _truth(value)
        _need_number(value, self.op)
        return _bounded(-value if self.op == "-" else +value, f"{self.op}{_short(value)}")

    def names(self) -> Iterator[str]:
        yield from self.operand.names()

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


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

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


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

    def children(self) -> tuple[Node, ...]:
        return (self.first, *(node for _, node in self.rest))


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

    def children(self) -> tuple[Node, ...]:
        return self.items


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

    def children(self) -> tuple[Node, ...]:
        return (self.cond, self.then, self.other)


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

    def children(self) -> tuple[Node, ...]:
        return self.args


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

# Whole numbers stay below 2**1024, the size of the largest float: a larger one can neither
# become a float nor mean anything in a sweep, and bounding it bounds the cost of every
# operation on it (10 ** 1024 ** 1024 would otherwise take hours and gigabytes).
MAX_INT_BITS = 1024


def _bounded(value: Any, what: str) -> Any:
    """``value`` if it is a finite real number of bounded size; ExprEvalError otherwise."""
    if isinstance(value, int):
        if value.bit_length() > MAX_INT_BITS:
            raise ExprEvalError(f"{what} is larger than 2**{MAX_INT_BITS}")
        return value
    if isinstance(value, complex):
        raise ExprEvalError(f"{what} is not a real number")
    if not math.isfinite(value):
        raise ExprEvalError(f"{what} overflows")
    return value


def _power(a: Any, b: Any) -> Any:
    if abs(b) > _MAX_EXPONENT:
        raise ExprEvalError(f"exponent {b!r} is too large (limit {_MAX_EXPONENT})")
    if isinstance(a, int) and isinstance(b, int) and b > 0 and \
            (abs(a).bit_length() - 1) * b > MAX_INT_BITS:
        raise ExprEvalError(f"{a!r} ** {b!r} is larger than 2**{MAX_INT_BITS}")
    return a ** b


def _arith(op: str, a: Any, b: Any) -> Any:
    _need_number(a, op)
    _need_number(b, op)
    try:
        if op == "+":
            value = a + b
        elif op == "-":
            value = a - b
        elif op == "*":
            value = a * b
        elif op == "/":
            value = a / b
        elif op == "//":
            value = a // b
        elif op == "%":
            value = a % b
        else:
            value = _power(a, b)
    except ZeroDivisionError:
        raise ExprEvalError(f"division by zero in {a!r} {op} {b!r}") from None
    except OverflowError:
        raise ExprEvalError(f"{a!r} {op} {b!r} overflows") from None
    return _bounded(value, f"{_short(a)} {op} {_short(b)}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 24 else f"{text[:10]}...({len(text)} digits)"


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


# round(x, n) with |n| beyond this computes 10**|n| for nothing: a float has 17 digits and
# whole numbers here stay below 2**1024 (309 digits).
_MAX_ROUND_DIGITS = 400


def _fn_round(*args: Any) -> Any:
    if len(args) == 1:
        return round(args[0])
    digits = int(args[1])
    if abs(digits) > _MAX_ROUND_DIGITS:
        raise ExprEvalError(f"round() to {digits} digits: at most {_MAX_ROUND_DIGITS}")
    return round(args[0], digits)


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
        value = fn(*values)
    except (ValueError, OverflowError) as exc:
        shown = ", ".join(_short(v) for v in values)
        raise ExprEvalError(f"{name}({shown}): {exc}") from None
    return _bounded(value, f"{name}(...)")
