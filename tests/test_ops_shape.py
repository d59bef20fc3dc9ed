import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fnn.check import op_gradient_errors
from fnn.ops import flatten_backward, flatten_forward


@st.composite
def shapes_and_axes(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    return shape, axis


@given(case=shapes_and_axes(), seed=st.integers(0, 2**31 - 1))
def test_flatten_gradient_matches_central_differences(case, seed):
    shape, axis = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    errors = op_gradient_errors(lambda x: flatten_forward(x, start_axis=axis), flatten_backward, (x,), rng=rng)
    assert errors[0] < 1e-6, errors


@given(case=shapes_and_axes())
def test_flatten_keeps_leading_axes_and_row_major_order(case):
    shape, axis = case
    x = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    out, cache = flatten_forward(x, start_axis=axis)
    keep = shape[: axis % len(shape)]
    assert out.shape == keep + (int(np.prod(shape[axis % len(shape):])),)
    # Row-major flattening keeps the memory order, so the raveled values agree.
    np.testing.assert_array_equal(out.ravel(), x.ravel())
    np.testing.assert_array_equal(flatten_backward(out, cache), x)


def test_flatten_default_is_nchw_to_n_by_chw():
    out, _ = flatten_forward(np.zeros((2, 3, 4, 5)))
    assert out.shape == (2, 60)


def test_flatten_keeps_float32():
    x = np.ones((2, 3, 4), np.float32)
    out, cache = flatten_forward(x)
    assert out.dtype == np.float32
    assert flatten_backward(np.ones_like(out), cache).dtype == np.float32


def test_flatten_cache_survives_later_writes():
    # out may be a view of x; the cache keeps only shapes, so writing into
    # x or out after the forward cannot change what the backward returns.
    x = np.arange(24.0).reshape(2, 3, 4)
    x_before = x.copy()
    out, cache = flatten_forward(x)
    dout = np.arange(24.0).reshape(2, 12) * 2
    out[...] = -1.0
    x[...] = 7.0
    dx = flatten_backward(dout, cache)
    np.testing.assert_array_equal(dx, (dout.reshape(2, 3, 4)))
    assert not np.array_equal(x, x_before)  # the writes really reached x (out was a view)


def test_flatten_does_not_mutate_inputs_and_handles_non_contiguous_x():
    base = np.arange(24.0).reshape(2, 4, 3)
    x = base.transpose(0, 2, 1)  # (2, 3, 4), not contiguous
    x_before = x.copy()
    out, cache = flatten_forward(x)
    np.testing.assert_array_equal(out, x_before.reshape(2, 12))
    np.testing.assert_array_equal(x, x_before)
    dout = np.ones((2, 12))
    dout_before = dout.copy()
    flatten_backward(dout, cache)
    np.testing.assert_array_equal(dout, dout_before)


@pytest.mark.parametrize(
    "x, kwargs, match",
    [
        (np.ones((2, 3), np.int32), {}, r"x has shape \(2, 3\) and dtype int32; expected a float32 or float64"),
        (np.array(1.0), {}, r"x has shape \(\); expected at least 1 axis"),
        (np.ones((2, 3)), {"start_axis": 2}, r"start_axis is 2 for x of shape \(2, 3\); expected -2 <= start_axis < 2"),
        (np.ones((2, 3)), {"start_axis": -3}, r"start_axis is -3 for x of shape \(2, 3\)"),
        (np.ones((2, 3)), {"start_axis": 1.0}, r"start_axis is 1\.0; expected an int"),
    ],
)
def test_flatten_rejects_bad_input(x, kwargs, match):
    with pytest.raises(ValueError, match=match):
        flatten_forward(x, **kwargs)


def test_flatten_backward_rejects_bad_dout():
    _, cache = flatten_forward(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match=r"dout has shape \(2, 3, 4\); expected the flattened output's shape = \(2, 12\)"):
        flatten_backward(np.ones((2, 3, 4)), cache)
    with pytest.raises(ValueError, match=r"dout has dtype float32; expected float64 to match x"):
        flatten_backward(np.ones((2, 12), np.float32), cache)
