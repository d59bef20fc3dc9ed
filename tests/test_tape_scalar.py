import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fnn.tape
from fnn.tape import Value


def test_readme_example():
    x, y, z = Value(2.0), Value(-3.0), Value(10.0)
    f = x * y + z
    f.backward()
    assert (f.data, x.grad, y.grad, z.grad) == (4.0, -3.0, 2.0, 1.0)


def _central(f, a, b, eps=1e-6):
    """Central differences of the float function f(a, b) in a and in b."""
    return ((f(a + eps, b) - f(a - eps, b)) / (2 * eps), (f(a, b + eps) - f(a, b - eps)) / (2 * eps))


# name -> (expression on Values/numbers, domain of a, domain of b)
BINARY = {
    "add": (lambda a, b: a + b, (-3, 3), (-3, 3)),
    "sub": (lambda a, b: a - b, (-3, 3), (-3, 3)),
    "mul": (lambda a, b: a * b, (-3, 3), (-3, 3)),
    "div": (lambda a, b: a / b, (-3, 3), (0.5, 3)),
    "pow": (lambda a, b: a ** b, (0.5, 3), (-2, 2)),
    "mixed": (lambda a, b: (a * b).tanh() + (a - b).exp() / (1 + b * b) - (a * a + 1).log(), (-2, 2), (-2, 2)),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(u=st.floats(0, 1), w=st.floats(0, 1))
def test_binary_ops_match_central_differences(name, u, w):
    expr, (alo, ahi), (blo, bhi) = BINARY[name]
    a0, b0 = alo + u * (ahi - alo), blo + w * (bhi - blo)
    a, b = Value(a0), Value(b0)
    out = expr(a, b)
    out.backward()
    da, db = _central(lambda p, q: expr(Value(p), Value(q)).data, a0, b0)
    assert out.data == pytest.approx(expr(Value(a0), Value(b0)).data)
    assert a.grad == pytest.approx(da, rel=1e-6, abs=1e-7)
    assert b.grad == pytest.approx(db, rel=1e-6, abs=1e-7)


# A number on either side: the reflected operators.
WITH_NUMBER = {
    "radd": lambda a: 2.5 + a, "rsub": lambda a: 2.5 - a, "rmul": lambda a: 2.5 * a,
    "rtruediv": lambda a: 2.5 / a, "rpow": lambda a: 2.5 ** a, "pow number": lambda a: a ** 3,
    "add number": lambda a: a + 2, "sub number": lambda a: a - 2, "div number": lambda a: a / 4,
    "neg": lambda a: -a, "exp": lambda a: a.exp(), "log": lambda a: a.log(), "tanh": lambda a: a.tanh(),
    "sigmoid": lambda a: a.sigmoid(), "relu": lambda a: a.relu(),
}


@pytest.mark.parametrize("name", sorted(WITH_NUMBER))
@given(u=st.floats(0.2, 3.0), negative=st.booleans())
def test_unary_and_reflected_ops_match_central_differences(name, u, negative):
    expr = WITH_NUMBER[name]
    a0 = -u if negative and name != "log" else u  # |a0| >= 0.2 keeps relu away from its kink
    a = Value(a0)
    out = expr(a)
    out.backward()
    assert isinstance(out, Value)
    eps = 1e-6
    numeric = (expr(Value(a0 + eps)).data - expr(Value(a0 - eps)).data) / (2 * eps)
    assert a.grad == pytest.approx(numeric, rel=1e-6, abs=1e-7)


def test_values_agree_with_math():
    a = Value(0.7)
    assert (a.exp().data, a.log().data, a.tanh().data) == (math.exp(0.7), math.log(0.7), math.tanh(0.7))
    assert a.sigmoid().data == pytest.approx(1 / (1 + math.exp(-0.7)))
    assert Value(-800.0).sigmoid().data == 0.0 and Value(800.0).sigmoid().data == 1.0  # no overflow
    assert (Value(-1.5).relu().data, Value(1.5).relu().data) == (0.0, 1.5)


def test_backward_twice_gives_the_same_grads():
    a, b = Value(1.5), Value(-0.5)
    f = (a * b + a.exp()) * b
    f.backward()
    first = (a.grad, b.grad)
    f.backward()
    assert (a.grad, b.grad) == first


def test_diamond_accumulates():
    a = Value(1.25)
    b = a + a
    c = b * b
    c.backward()
    assert a.grad == 8 * 1.25
    assert b.grad == 2 * b.data


def test_value_exponent_of_negative_base_has_nan_gradient():
    a, b = Value(-2.0), Value(3.0)
    c = a ** b
    c.backward()
    assert c.data == -8.0
    assert a.grad == 3 * 4.0
    assert math.isnan(b.grad)


def test_value_exponent_gradient_is_a_pow_b_log_a():
    a, b = Value(2.0), Value(3.0)
    (a ** b).backward()
    assert b.grad == pytest.approx(8.0 * math.log(2.0))
    z, e = Value(0.0), Value(2.0)
    (z ** e).backward()
    assert e.grad == 0.0  # the limit of a^b log a at a = 0 for b > 0


def test_chain_of_100k_ops_has_no_recursion_limit():
    x = Value(0.5)
    y = x
    for _ in range(100_000):
        y = y * 1.0 + 0.0  # 200,000 nodes
    y.backward()
    assert x.grad == 1.0
    z = Value(1.0)
    w = z
    for _ in range(100_000):
        w = w * 0.99999
    w.backward()
    assert z.grad == pytest.approx(0.99999 ** 100_000, rel=1e-9)


def test_agrees_with_array_tape():
    def expr(a, b):
        return ((a * b).tanh() + 1) / (a * a + 1).log() - (b * 0.5).exp() if isinstance(a, Value) else \
            (np.tanh(a * b) + 1) / np.log(a * a + 1) - np.exp(b * 0.5)

    a, b = Value(1.3), Value(-0.4)
    out = expr(a, b)
    out.backward()
    value, (ga, gb) = fnn.tape.value_and_grad(expr, argnums=(0, 1))(1.3, -0.4)
    assert out.data == pytest.approx(value, rel=1e-12)
    assert (a.grad, b.grad) == (pytest.approx(ga, rel=1e-12), pytest.approx(gb, rel=1e-12))


def test_repr_is_readable():
    x = Value(2.0)
    y = x * 3
    y.backward()
    assert repr(x) == "Value(data=2, grad=3)"
    assert repr(y) == "Value(data=6, grad=1, op='*')"


@pytest.mark.parametrize("bad", ["2.0", None, True, [1.0], 1j])
def test_rejects_non_numbers(bad):
    with pytest.raises(ValueError, match="data has type .*; expected a real number"):
        Value(bad)
    with pytest.raises(TypeError):
        Value(1.0) + bad
