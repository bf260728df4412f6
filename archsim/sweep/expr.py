"""A small, safe expression language for sweep files (derived axes, constraints, objectives).

Parsed by a recursive-descent parser into a tree of a few node types and evaluated by walking
that tree: no ``eval``, no attribute access, no imports — only the operators and functions
listed here, over numbers, strings, booleans, null and lists.

Grammar (Python-like precedence, lowest first)::

    expr       := or_expr ['if' or_expr 'else' expr]
    or_expr    := and_expr ('or' and_expr)*
    and_expr   := not_expr ('and' not_expr)*
    not_expr   := 'not' not_expr | comparison
    comparison := sum (('=='|'!='|'<'|'<='|'>'|'>='|'in'|'not' 'in') sum)*   # chains like a<b<c
    sum        := term (('+'|'-') term)*
    term       := unary (('*'|'/'|'//'|'%') unary)*
    unary      := ('-'|'+') unary | power
    power      := atom ['**' unary]
    atom       := NUMBER | STRING | NAME | NAME '(' [expr (',' expr)*] ')' | '(' expr ')'
                | '[' [expr (',' expr)*] ']' | true | false | null

A NAME is a dotted path such as ``plan.tp`` or ``memory.peak_bytes_per_device``; what it
means is up to the caller's lookup function. ``/`` is true division (``6 / 3`` is ``2.0``).
Functions: min, max, abs, ceil, floor, round, int, float, log2, sqrt.

Raises :class:`ExprSyntaxError` (with the 0-based character position) on text that does not
parse, and :class:`ExprEvalError` on a value error while evaluating (division by zero,
comparing a string with a number, an unknown name).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

Lookup = Callable[[str], Any]


class ExprSyntaxError(ValueError):
    """Text that is not an expression; ``position`` is the 0-based offset of the problem."""

    def __init__(self, message: str, text: str, position: int):
        self.message, self.text, self.position = message, text, position
        super().__init__(f"{message} at column {position + 1} of {text!r}")


class ExprEvalError(ValueError):
    """An expression that parses but cannot be evaluated for these values."""


_KEYWORDS = {"and", "or", "not", "in", "if", "else", "true", "false", "True", "False",
             "null", "None"}
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>'[^'\\]*'|"[^"\\]*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op>\*\*|//|==|!=|<=|>=|[-+*/%<>(),\[\]])
""", re.VERBOSE)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # number | string | name | keyword | op | end
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            ch = text[pos]
            what = "an unclosed string" if ch in "'\"" else f"unexpected character {ch!r}"
            raise ExprSyntaxError(what, text, pos)
        kind = m.lastgroup
        assert kind is not None
        if kind != "space":
            word = m.group()
            if kind == "name" and word in _KEYWORDS:
                kind = "keyword"
            tokens.append(Token(kind, word, pos))
        pos = m.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


# --------------------------------------------------------------------------- tree nodes


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


# --------------------------------------------------------------------------- parser


_COMPARE_OPS = ("==", "!=", "<", "<=", ">", ">=")


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def at(self, *texts: str) -> bool:
        tok = self.tok
        return tok.kind in ("op", "keyword") and tok.text in texts

    def expect(self, text: str) -> Token:
        if not self.at(text):
            self.fail(f"expected {text!r}")
        return self.take()

    def fail(self, expected: str) -> None:
        tok = self.tok
        got = "the end of the expression" if tok.kind == "end" else repr(tok.text)
        raise ExprSyntaxError(f"{expected}, got {got}", self.text, tok.pos)

    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise ExprSyntaxError("empty expression", self.text, 0)
        node = self.expr()
        if self.tok.kind != "end":
            self.fail("expected an operator or the end of the expression")
        return node

    def expr(self) -> Node:
        node = self.or_expr()
        if self.at("if"):
            self.take()
            cond = self.or_expr()
            self.expect("else")
            return IfElse(cond, node, self.expr())
        return node

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.at("or"):
            self.take()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def and_expr(self) -> Node:
        items = [self.not_expr()]
        while self.at("and"):
            self.take()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def not_expr(self) -> Node:
        if self.at("not"):
            self.take()
            return Unary("not", self.not_expr())
        return self.comparison()

    def comparison(self) -> Node:
        first = self.sum()
        rest: list[tuple[str, Node]] = []
        while True:
            if self.at(*_COMPARE_OPS) or self.at("in"):
                op = self.take().text
            elif self.at("not") and self.tokens[self.i + 1].text == "in":
                self.i += 2
                op = "not in"
            else:
                break
            rest.append((op, self.sum()))
        return first if not rest else Compare(first, tuple(rest))

    def sum(self) -> Node:
        node = self.term()
        while self.at("+", "-"):
            op = self.take().text
            node = Binary(op, node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.at("*", "/", "//", "%"):
            op = self.take().text
            node = Binary(op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.at("-", "+"):
            op = self.take().text
            return Unary(op, self.unary())
        return self.power()

    def power(self) -> Node:
        node = self.atom()
        if self.at("**"):
            self.take()
            node = Binary("**", node, self.unary())
        return node

    def atom(self) -> Node:
        tok = self.tok
        if tok.kind == "number":
            self.take()
            text = tok.text
            is_float = any(c in text for c in ".eE")
            return Const(float(text) if is_float else int(text))
        if tok.kind == "string":
            self.take()
            return Const(tok.text[1:-1])
        if tok.kind == "keyword" and tok.text in ("true", "True", "false", "False"):
            self.take()
            return Const(tok.text in ("true", "True"))
        if tok.kind == "keyword" and tok.text in ("null", "None"):
            self.take()
            return Const(None)
        if tok.kind == "name":
            self.take()
            if self.at("("):
                return self.call(tok)
            return Name(tok.text, tok.pos)
        if self.at("("):
            self.take()
            node = self.expr()
            self.expect(")")
            return node
        if self.at("["):
            self.take()
            items = self.items("]")
            return ListLit(tuple(items))
        self.fail("expected a number, a string, a name, '(' or '['")
        raise AssertionError("unreachable")

    def items(self, close: str) -> list[Node]:
        items: list[Node] = []
        if self.at(close):
            self.take()
            return items
        while True:
            items.append(self.expr())
            if self.at(","):
                self.take()
                continue
            self.expect(close)
            return items

    def call(self, tok: Token) -> Node:
        if tok.text not in FUNCTIONS:
            raise ExprSyntaxError(f"unknown function {tok.text!r} (known: "
                                  f"{', '.join(FUNCTIONS)})", self.text, tok.pos)
        self.take()  # '('
        args = self.items(")")
        _, least, most = FUNCTIONS[tok.text]
        if not least <= len(args) <= most:
            want = str(least) if least == most else f"{least} to {most}"
            raise ExprSyntaxError(f"{tok.text}() takes {want} argument(s), got {len(args)}",
                                  self.text, tok.pos)
        return Call(tok.text, tuple(args))


@dataclass(frozen=True)
class Expression:
    """A parsed expression and its source text."""

    text: str
    tree: Node

    def evaluate(self, lookup: Lookup) -> Any:
        return self.tree.evaluate(lookup)

    def names(self) -> list[str]:
        """The dotted names it refers to, in order of first appearance."""
        return list(dict.fromkeys(self.tree.names()))


def parse(text: str) -> Expression:
    """Parse ``text``; raises ExprSyntaxError with the position of the problem."""
    if not isinstance(text, str):
        raise ExprSyntaxError(f"expected an expression as text, got {text!r}", str(text), 0)
    return Expression(text, _Parser(text).parse())


def evaluate(text: str, values: dict[str, Any]) -> Any:
    """Parse and evaluate ``text`` with names looked up in ``values`` (a convenience)."""

    def lookup(name: str) -> Any:
        try:
            return values[name]
        except KeyError:
            raise ExprEvalError(f"unknown name {name!r}") from None

    return parse(text).evaluate(lookup)
