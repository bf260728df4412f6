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

Bounds: text of at most :data:`MAX_EXPR_CHARS` characters, brackets / ``not`` / signs nested at
most :data:`MAX_NESTING` deep, a tree at most :data:`MAX_DEPTH` deep (a long ``a + b + ...`` is
a deep tree), whole-number literals below 2**1024 (see archsim/sweep/exprnodes.py for the
bounds on values).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from archsim.sweep.exprnodes import (
    FUNCTIONS,
    MAX_INT_BITS,
    Binary,
    BoolOp,
    Call,
    Compare,
    Const,
    ExprEvalError,
    IfElse,
    ListLit,
    Lookup,
    Name,
    Node,
    Unary,
    tree_depth,
)

__all__ = ["ExprEvalError", "ExprSyntaxError", "Expression", "evaluate", "parse", "tokenize"]

# Longest expression text: real ones are under 200 characters; the bound keeps a pasted blob
# (a 200,000-term sum) from being tokenized and parsed at all.
MAX_EXPR_CHARS = 4096

# Deepest nesting of brackets, 'not', signs and '**' while parsing: each level takes about ten
# Python frames in this recursive-descent parser, so 32 levels stay far below the recursion
# limit wherever the parser is called from.
MAX_NESTING = 32

# Deepest expression tree (evaluating takes one or two frames per level): a chain such as
# 1 + 1 + ... + 1 is a tree as deep as it is long; 100 levels is far beyond any real sweep.
MAX_DEPTH = 100


class ExprSyntaxError(ValueError):
    """Text that is not an expression; ``position`` is the 0-based offset of the problem."""

    def __init__(self, message: str, text: str, position: int):
        self.message, self.text, self.position = message, text, position
        super().__init__(f"{message} at column {position + 1} of {self.shown!r}")

    @property
    def shown(self) -> str:
        """The text, cut to 80 characters for messages."""
        return self.text if len(self.text) <= 80 else self.text[:77] + "..."


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


_COMPARE_OPS = ("==", "!=", "<", "<=", ">", ">=")


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.nesting = 0

    def enter(self) -> None:
        """One level deeper in the grammar's recursion; refused past MAX_NESTING."""
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise ExprSyntaxError(f"nests deeper than {MAX_NESTING} levels (brackets, 'not', "
                                  "signs)", self.text, self.tok.pos)

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
        self.enter()
        node = self.or_expr()
        if self.at("if"):
            self.take()
            cond = self.or_expr()
            self.expect("else")
            node = IfElse(cond, node, self.expr())
        self.nesting -= 1
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
            self.enter()
            node = Unary("not", self.not_expr())
            self.nesting -= 1
            return node
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
            self.enter()
            node = Unary(op, self.unary())
            self.nesting -= 1
            return node
        return self.power()

    def power(self) -> Node:
        node = self.atom()
        if self.at("**"):
            self.take()
            self.enter()
            node = Binary("**", node, self.unary())
            self.nesting -= 1
        return node

    def atom(self) -> Node:
        tok = self.tok
        if tok.kind == "number":
            self.take()
            text = tok.text
            is_float = any(c in text for c in ".eE")
            value = float(text) if is_float else int(text)
            if value == float("inf") or (not is_float and value.bit_length() > MAX_INT_BITS):
                raise ExprSyntaxError(f"the number {text[:20]}{'...' if len(text) > 20 else ''}"
                                      f" is too large (limit 2**{MAX_INT_BITS})", self.text,
                                      tok.pos)
            return Const(value)
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
        raise ExprSyntaxError(f"expected an expression as text, got {text!r:.60}",
                              str(text)[:60], 0)
    if len(text) > MAX_EXPR_CHARS:
        raise ExprSyntaxError(f"is {len(text):,} characters long; an expression has at most "
                              f"{MAX_EXPR_CHARS:,}", text, 0)
    tree = _Parser(text).parse()
    if tree_depth(tree) > MAX_DEPTH:
        raise ExprSyntaxError(f"is more than {MAX_DEPTH} operations deep; split it into "
                              "derived keys", text, 0)
    return Expression(text, tree)


def evaluate(text: str, values: dict[str, Any]) -> Any:
    """Parse and evaluate ``text`` with names looked up in ``values`` (a convenience)."""

    def lookup(name: str) -> Any:
        try:
            return values[name]
        except KeyError:
            raise ExprEvalError(f"unknown name {name!r}") from None

    return parse(text).evaluate(lookup)
