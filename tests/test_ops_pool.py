"""fnn.ops.pool: gradients vs central differences, dtype, immutability, argument errors.

Kernel-level agreement with naive loops lives in test_kernels_pool.py; here
the wrappers are checked as ops.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fnn.check import numerical_grad, op_gradient_errors, rel_error
from fnn.ops import (
    avgpool2d_backward,
    avgpool2d_forward,
    dense_backward,
    dense_forward,
    flatten_backward,
    flatten_forward,
    maxpool2d_backward,
    maxpool2d_forward,
)

POOLS = {
    "max": (maxpool2d_forward, maxpool2d_backward),
    "avg": (avgpool2d_forward, avgpool2d_backward),
}


@st.composite
def geometries(draw):
    """(x shape, kernel_size, stride, padding) as the user passes them: ints, pairs or None."""
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    H = draw(st.integers(max(1, kh - 2 * ph), 6))
    W = draw(st.integers(max(1, kw - 2 * pw), 6))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), H, W)
    square = kh == kw and sh == sw and ph == pw
    if square and draw(st.booleans()):
        return shape, kh, (None if sh == kh else sh), ph
    return shape, (kh, kw), (sh, sw), (ph, pw)


def separated_values(rng, shape):
    """A random permutation of 0, 0.5, 1, ...: no two entries within 0.5, so max pooling's
    choice cannot flip under a 1e-6 central-difference step."""
    size = int(np.prod(shape))
    return rng.permutation(size).reshape(shape) * 0.5 - size / 4


@given(case=geometries(), kind=st.sampled_from(sorted(POOLS)), seed=st.integers(0, 2**31 - 1))
def test_pool_gradients_match_central_differences(case, kind, seed):
    shape, k, s, p = case
    rng = np.random.default_rng(seed)
    forward, backward = POOLS[kind]
    x = separated_values(rng, shape) if kind == "max" else rng.standard_normal(shape)
    errors = op_gradient_errors(
        lambda x: forward(x, kernel_size=k, stride=s, padding=p), backward, (x,), rng=rng
    )
    assert errors[0] < 1e-6, errors


@given(case=geometries(), kind=st.sampled_from(sorted(POOLS)))
def test_pool_output_shape_follows_floor_formula(case, kind):
    shape, k, s, p = case
    kh, kw = (k, k) if isinstance(k, int) else k
    sh, sw = (kh, kw) if s is None else ((s, s) if isinstance(s, int) else s)
    ph, pw = (p, p) if isinstance(p, int) else p
    out, _ = POOLS[kind][0](np.zeros(shape), kernel_size=k, stride=s, padding=p)
    N, C, H, W = shape
    assert out.shape == (N, C, (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1)


def test_maxpool_2x2_picks_window_maxima_and_routes_gradient():
    x = np.array([[[[1.0, 2.0, 0.0, 0.0], [4.0, 3.0, 0.0, 9.0]]]])
    out, cache = maxpool2d_forward(x)
    np.testing.assert_array_equal(out, [[[[4.0, 9.0]]]])
    dx = maxpool2d_backward(np.array([[[[10.0, 20.0]]]]), cache)
    np.testing.assert_array_equal(dx, [[[[0.0, 0.0, 0.0, 0.0], [10.0, 0.0, 0.0, 20.0]]]])


def test_avgpool_padding_counts_in_divisor():
    # 2x2 windows, stride 2, padding 1 on a 2x2 plane of ones: each window holds
    # one real cell and three padded zeros, so every output is 1/4.
    out, _ = avgpool2d_forward(np.ones((1, 1, 2, 2)), kernel_size=2, stride=2, padding=1)
    np.testing.assert_array_equal(out, np.full((1, 1, 2, 2), 0.25))


def test_maxpool_padding_never_wins():
    # All-negative input with padding: a zero pad would win every border window.
    x = -1.0 - np.arange(9.0).reshape(1, 1, 3, 3)
    out, _ = maxpool2d_forward(x, kernel_size=3, stride=1, padding=1)
    assert (out < 0).all()
    assert out[0, 0, 0, 0] == -1.0


@pytest.mark.parametrize("kind", sorted(POOLS))
@pytest.mark.parametrize("geometry", [{}, {"kernel_size": 3, "stride": 1, "padding": 1}])
def test_pool_keeps_float32(kind, geometry):
    forward, backward = POOLS[kind]
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    out, cache = forward(x, **geometry)
    dx = backward(np.ones_like(out), cache)
    assert out.dtype == np.float32 and dx.dtype == np.float32


@pytest.mark.parametrize("kind", sorted(POOLS))
def test_pool_does_not_mutate_inputs_and_accepts_views(kind):
    forward, backward = POOLS[kind]
    rng = np.random.default_rng(1)
    base = rng.standard_normal((2, 3, 6, 8))
    x = base.transpose(0, 1, 3, 2)  # a non-contiguous view, (2, 3, 8, 6)
    x_before = x.copy()
    out, cache = forward(x, kernel_size=2)
    dout = rng.standard_normal(out.shape)
    dout_before = dout.copy()
    dx = backward(dout[:, :, :, :], cache)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(dout, dout_before)
    out_c, cache_c = forward(np.ascontiguousarray(x), kernel_size=2)
    np.testing.assert_array_equal(out, out_c)
    np.testing.assert_array_equal(dx, backward(dout, cache_c))


@pytest.mark.parametrize("kind", sorted(POOLS))
def test_pool_backward_is_independent_of_later_writes_to_x(kind):
    forward, backward = POOLS[kind]
    rng = np.random.default_rng(2)
    x = separated_values(rng, (1, 2, 4, 4))
    out, cache = forward(x)
    dout = rng.standard_normal(out.shape)
    dx_before = backward(dout, cache)
    x[...] = -x  # would move every argmax if the cache referenced x
    np.testing.assert_array_equal(backward(dout, cache), dx_before)


@given(seed=st.integers(0, 2**31 - 1), M=st.integers(1, 3))
def test_maxpool_mid_network_composite_gradient(seed, M):
    """tanh -> maxpool -> flatten -> dense, backpropagated by hand through all four ops."""
    rng = np.random.default_rng(seed)
    # tanh is monotonic, so well-separated inputs stay separated after it.
    x = separated_values(rng, (2, 2, 4, 4)) / 8
    w = rng.standard_normal((2 * 2 * 2, M))
    b = rng.standard_normal(M)
    dout = rng.standard_normal((2, M))

    def forward(x):
        t = np.tanh(x)
        p, p_cache = maxpool2d_forward(t, kernel_size=2)
        f, f_cache = flatten_forward(p)
        out, d_cache = dense_forward(f, w, b)
        return out, (t, p_cache, f_cache, d_cache)

    out, (t, p_cache, f_cache, d_cache) = forward(x)
    df, _, _ = dense_backward(dout, d_cache)
    dx = maxpool2d_backward(flatten_backward(df, f_cache), p_cache) * (1 - t * t)
    numeric = numerical_grad(lambda xs: np.sum(forward(xs)[0] * dout), x)
    assert rel_error(dx, numeric) < 1e-6


@pytest.mark.parametrize(
    "shape, dtype, kwargs, match",
    [
        ((2, 3, 4), np.float64, {}, r"x has shape \(2, 3, 4\); expected 4 axes \(N, C, H, W\)"),
        ((1, 1, 4, 4), np.int64, {}, r"x has shape \(1, 1, 4, 4\) and dtype int64; expected a float32 or float64"),
        ((1, 1, 4, 4), np.float64, {"kernel_size": 0}, r"kernel_size is 0; expected every entry to be at least 1"),
        ((1, 1, 4, 4), np.float64, {"kernel_size": (2, 2, 2)}, r"kernel_size is \(2, 2, 2\); expected an int or a pair"),
        ((1, 1, 4, 4), np.float64, {"kernel_size": 2.0}, r"kernel_size is 2\.0; expected an int or a pair"),
        ((1, 1, 4, 4), np.float64, {"stride": True}, r"stride is True; expected an int or a pair"),
        ((1, 1, 4, 4), np.float64, {"stride": (1, 0)}, r"stride is \(1, 0\); expected every entry to be at least 1"),
        ((1, 1, 4, 4), np.float64, {"padding": -1}, r"padding is -1; expected every entry to be at least 0"),
        ((1, 1, 4, 4), np.float64, {"kernel_size": 3, "padding": (1, 2)},
         r"padding is \(1, 2\) with kernel_size \(3, 3\); expected padding <= kernel_size // 2 = \(1, 1\)"),
        ((1, 1, 2, 5), np.float64, {"kernel_size": 3},
         r"x has shape \(1, 1, 2, 5\); a 3x3 window with padding \(0, 0\) does not fit in its 2x5 planes"),
    ],
)
@pytest.mark.parametrize("kind", sorted(POOLS))
def test_pool_rejects_bad_input(kind, shape, dtype, kwargs, match):
    with pytest.raises(ValueError, match=match):
        POOLS[kind][0](np.ones(shape, dtype=dtype), **kwargs)


@pytest.mark.parametrize("kind", sorted(POOLS))
def test_pool_backward_rejects_bad_dout(kind):
    forward, backward = POOLS[kind]
    out, cache = forward(np.ones((2, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"dout has shape \(2, 3, 4, 4\); expected \(N, C, OH, OW\) = \(2, 3, 2, 2\)"):
        backward(np.ones((2, 3, 4, 4)), cache)
    with pytest.raises(ValueError, match=r"dout has dtype float32; expected float64 to match x"):
        backward(np.ones(out.shape, np.float32), cache)
