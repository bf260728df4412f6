"""The safe expression language of sweep files: values by hand, errors with positions, no eval."""

import pytest

from archsim.sweep.expr import ExprEvalError, ExprSyntaxError, evaluate, parse

VALUES = {"plan.tp": 4, "plan.pp": 8, "plan.cp": 1, "hardware.count": 1024,
          "plan.schedule": "interleaved", "plan.sp": True, "x": 2.5}


@pytest.mark.parametrize("text, expected", [
    ("hardware.count / (plan.tp * plan.pp * plan.cp)", 32.0),   # 1024 / 32
    ("hardware.count // (plan.tp * plan.pp)", 32),
    ("1 + 2 * 3", 7),                                            # * before +
    ("(1 + 2) * 3", 9),
    ("2 ** 3 ** 2", 512),                                        # right-assoc: 2 ** 9
    ("-2 ** 2", -4),                                             # as in Python: -(2 ** 2)
    ("17 % 5", 2),
    ("7 - 2 - 1", 4),                                            # left-assoc
    ("plan.tp * plan.pp <= 32", True),
    ("plan.tp < plan.pp < 16", True),                            # chained: 4 < 8 and 8 < 16
    ("plan.tp < plan.pp < 8", False),
    ("plan.schedule == 'interleaved' and plan.pp > 1", True),
    ("not plan.sp or plan.tp == 1", False),
    ("2 if plan.schedule == \"interleaved\" else 1", 2),
    ("plan.tp in [1, 2, 4]", True),
    ("plan.pp not in [1, 2, 4]", True),
    ("'leave' in plan.schedule", True),
    ("max(plan.tp, plan.pp, 3)", 8),
    ("min([3, 1, 2])", 1),
    ("ceil(x) + floor(x)", 5),                                   # 3 + 2
    ("log2(hardware.count)", 10.0),
    ("round(x * 3, 1)", 7.5),
    ("abs(-3) + int(2.9) + sqrt(16)", 9.0),                     # 3 + 2 + 4
    ("1.5e3 + .5", 1500.5),
    ("true and not false", True),
    ("null == None", True),
])
def test_values(text, expected):
    value = evaluate(text, VALUES)
    assert value == expected and type(value) is type(expected)


def test_names_in_order_of_appearance():
    expr = parse("plan.tp * plan.pp + plan.tp > hardware.count")
    assert expr.names() == ["plan.tp", "plan.pp", "hardware.count"]


@pytest.mark.parametrize("text, column, message", [
    ("plan.tp * * 2", 11, "expected a number, a string, a name, '\\(' or '\\[', got '\\*'"),
    ("plan.tp +", 10, "got the end of the expression"),
    ("(plan.tp + 1", 13, "expected '\\)'"),
    ("plan.tp 4", 9, "expected an operator or the end"),
    ("plan.tp = 4", 9, "unexpected character '='"),
    ("'abc", 1, "an unclosed string"),
    ("", 1, "empty expression"),
    ("x if y", 7, "expected 'else'"),
    ("open('f')", 1, "unknown function 'open'"),
    ("__import__('os')", 1, "unknown function '__import__'"),
    ("max()", 1, "max\\(\\) takes 1 to 64 argument"),
    ("[1, 2](0)", 7, "expected an operator"),
])
def test_syntax_errors_name_the_column(text, column, message):
    with pytest.raises(ExprSyntaxError, match=message) as info:
        parse(text)
    assert info.value.position + 1 == column
    assert f"at column {column} of {text!r}" in str(info.value)


@pytest.mark.parametrize("text, message", [
    ("1 / (plan.tp - 4)", "division by zero in 1 / 0"),
    ("plan.schedule + 1", "'\\+' needs numbers, got 'interleaved'"),
    ("plan.schedule < 3", "cannot order 'interleaved' and 3"),
    ("plan.tp and true", "expected true or false, got 4"),
    ("missing.key > 1", "unknown name 'missing.key'"),
    # a dotted name is only ever a key for the lookup, never attribute access
    ("plan.tp.__class__ == 1", "unknown name 'plan.tp.__class__'"),
    ("2 ** 5000", "exponent 5000 is too large"),
    ("log2(0)", "log2 needs a positive number"),
    ("3 in 5", "'in' needs a list or a string"),
])
def test_evaluation_errors(text, message):
    with pytest.raises(ExprEvalError, match=message):
        evaluate(text, VALUES)


def test_short_circuit_skips_the_unsafe_side():
    # the right side would divide by zero; 'and' stops at the first false value
    assert evaluate("plan.tp == 1 and 1 / 0 > 0", VALUES) is False
    assert evaluate("plan.tp == 4 or 1 / 0 > 0", VALUES) is True
    assert evaluate("1 if plan.tp == 4 else 1 / 0", VALUES) == 1
