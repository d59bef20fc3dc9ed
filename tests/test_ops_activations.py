import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fnn.check import op_gradient_errors
from fnn.ops import (
    ACTIVATIONS, gelu_backward, gelu_forward, get_activation, leaky_relu_backward, leaky_relu_forward,
    relu_backward, relu_forward, sigmoid_backward, sigmoid_forward, softmax_backward, softmax_forward,
    step_backward, step_forward, tanh_forward,
)

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3)
seeds = st.integers(0, 2**31 - 1)

# (name, forward, backward) for every differentiable elementwise activation and mode.
ELEMENTWISE = [
    ("sigmoid", sigmoid_forward, sigmoid_backward),
    ("tanh", *ACTIVATIONS["tanh"]),
    ("relu", relu_forward, relu_backward),
    ("leaky_relu", leaky_relu_forward, leaky_relu_backward),
    ("leaky_relu_0.2", lambda x: leaky_relu_forward(x, slope=0.2), leaky_relu_backward),
    ("gelu", gelu_forward, gelu_backward),
    ("gelu_tanh", lambda x: gelu_forward(x, approximate="tanh"), gelu_backward),
]
IDS = [name for name, _, _ in ELEMENTWISE]


def away_from_zero(rng, shape):
    """Normal draws pushed to |x| >= 0.1 so central differences never straddle a kink."""
    z = rng.standard_normal(shape)
    return np.where(z >= 0, 1.0, -1.0) * (0.1 + np.abs(z))


@pytest.mark.parametrize("name, forward, backward", ELEMENTWISE, ids=IDS)
@given(shape=shapes, seed=seeds)
def test_elementwise_gradients_match_central_differences(name, forward, backward, shape, seed):
    rng = np.random.default_rng(seed)
    x = away_from_zero(rng, shape)
    errors = op_gradient_errors(forward, backward, (x,), rng=rng)
    assert errors[0] < 1e-6, (name, errors)


@pytest.mark.parametrize("name, forward, backward", ELEMENTWISE, ids=IDS)
def test_strided_views_give_the_results_of_their_copies(name, forward, backward):
    """Kernel-backed activations (relu, gelu) flatten their inputs: transposed and strided views must work."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 5, 4)).astype(np.float32).transpose(2, 0, 1)[:, ::2]
    dout = rng.standard_normal((4, 5, 9)).astype(np.float32)[:, :, ::3].transpose(0, 2, 1)
    out, cache = forward(x)
    out_copy, cache_copy = forward(x.copy())
    np.testing.assert_array_equal(out, out_copy)
    np.testing.assert_array_equal(backward(dout, cache), backward(dout.copy(), cache_copy))


@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), seed=seeds, data=st.data())
def test_softmax_gradient_matches_central_differences(shape, seed, data):
    ndim = len(shape)
    axis = data.draw(st.sampled_from(sorted({0, ndim - 1, -1} | ({1} if ndim > 1 else set()))))
    rng = np.random.default_rng(seed)
    x = 2.0 * rng.standard_normal(shape)
    errors = op_gradient_errors(lambda a: softmax_forward(a, axis=axis), softmax_backward, (x,), rng=rng)
    assert errors[0] < 1e-6, (axis, errors)


def test_known_values_computed_independently():
    x = np.array([-2.0, -0.5, 0.0, 0.5, 3.0])
    np.testing.assert_allclose(sigmoid_forward(x)[0], [1 / (1 + math.exp(-v)) for v in x], rtol=1e-15)
    np.testing.assert_allclose(tanh_forward(x)[0], [math.tanh(v) for v in x], rtol=1e-15)
    np.testing.assert_array_equal(relu_forward(x)[0], [0.0, 0.0, 0.0, 0.5, 3.0])
    np.testing.assert_allclose(leaky_relu_forward(x, slope=0.1)[0], [-0.2, -0.05, 0.0, 0.5, 3.0], rtol=1e-15)
    exact = [v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x]
    np.testing.assert_allclose(gelu_forward(x)[0], exact, rtol=1e-14, atol=1e-300)
    np.testing.assert_array_equal(step_forward(x)[0], [0.0, 0.0, 1.0, 1.0, 1.0])


def test_gelu_tanh_approximation_is_close_to_exact():
    x = np.linspace(-6, 6, 1201)
    exact, _ = gelu_forward(x)
    approx, _ = gelu_forward(x, approximate="tanh")
    assert np.max(np.abs(exact - approx)) < 1e-3
    assert np.max(np.abs(exact - approx)) > 0  # they are different functions


def test_softmax_rows_sum_to_one_and_equal_exp_over_sum():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4, 5))
    for axis in (0, 1, -1):
        y, _ = softmax_forward(x, axis=axis)
        np.testing.assert_allclose(y.sum(axis=axis), 1.0, rtol=1e-14)
        e = np.exp(x)
        np.testing.assert_allclose(y, e / e.sum(axis=axis, keepdims=True), rtol=1e-13)


def test_softmax_is_shift_invariant_and_stable():
    x = np.array([[1000.0, 1001.0, 999.0], [-1e4, 0.0, 1e4]], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y, cache = softmax_forward(x)
        dx = softmax_backward(np.ones_like(y), cache)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))
    np.testing.assert_allclose(y[0], softmax_forward(np.array([1.0, 2.0, 0.0]))[0], rtol=1e-6)
    np.testing.assert_array_equal(y[1], [0.0, 0.0, 1.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_overflow_free(dtype):
    x = np.array([-1e4, -800.0, -100.0, -20.0, 0.0, 20.0, 100.0, 800.0, 1e4], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s, cache = sigmoid_forward(x)
        ds = sigmoid_backward(np.ones_like(x), cache)
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(ds))
    assert s[0] == 0.0 and s[-1] == 1.0 and s[4] == 0.5
    assert np.all(np.diff(s) >= 0)
    # Symmetry s(-x) = 1 - s(x), checked where 1 - s is representable.
    np.testing.assert_allclose(s[:4], 1 - s[::-1][:4], atol=np.finfo(dtype).eps)


def test_gelu_is_finite_at_large_inputs():
    x = np.array([-1e4, -50.0, 50.0, 1e4], dtype=np.float32)
    for mode in ("none", "tanh"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            y, cache = gelu_forward(x, approximate=mode)
            dx = gelu_backward(np.ones_like(x), cache)
        np.testing.assert_array_equal(y, [0.0, 0.0, 50.0, 1e4])
        np.testing.assert_array_equal(dx, [0.0, 0.0, 1.0, 1.0])


ALL_OPS = ELEMENTWISE + [("softmax", softmax_forward, softmax_backward)]


@pytest.mark.parametrize("name, forward, backward", ALL_OPS, ids=[n for n, _, _ in ALL_OPS])
def test_float32_is_preserved(name, forward, backward):
    x = away_from_zero(np.random.default_rng(1), (3, 4)).astype(np.float32)
    out, cache = forward(x)
    dx = backward(np.ones_like(out), cache)
    assert out.dtype == np.float32 and dx.dtype == np.float32


def test_step_preserves_dtype():
    for dtype in (np.float32, np.float64):
        out, _ = step_forward(np.array([-1.0, 0.0, 2.0], dtype=dtype))
        assert out.dtype == dtype


@pytest.mark.parametrize("name, forward, backward", ALL_OPS, ids=[n for n, _, _ in ALL_OPS])
def test_inputs_are_not_mutated(name, forward, backward):
    rng = np.random.default_rng(2)
    x = away_from_zero(rng, (3, 4))
    dout = rng.standard_normal((3, 4))
    x_copy, dout_copy = x.copy(), dout.copy()
    out, cache = forward(x)
    backward(dout, cache)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(dout, dout_copy)


def test_step_backward_refuses_and_points_to_alternatives():
    out, cache = step_forward(np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match=r"perceptron.*sigmoid"):
        step_backward(np.ones_like(out), cache)


def test_registry_and_lookup():
    assert set(ACTIVATIONS) == {"sigmoid", "tanh", "relu", "leaky_relu", "gelu"}
    assert get_activation("relu") == (relu_forward, relu_backward)
    with pytest.raises(ValueError, match=r"activation is 'swish'; expected one of \['gelu', 'leaky_relu'"):
        get_activation("swish")


@pytest.mark.parametrize("name, forward, backward", ALL_OPS, ids=[n for n, _, _ in ALL_OPS])
def test_forward_rejects_non_float_input(name, forward, backward):
    with pytest.raises(ValueError, match=r"x has shape \(2, 3\) and dtype int64; expected a float32 or float64"):
        forward(np.ones((2, 3), dtype=np.int64))


@pytest.mark.parametrize("name, forward, backward", ALL_OPS, ids=[n for n, _, _ in ALL_OPS])
def test_backward_rejects_bad_dout(name, forward, backward):
    out, cache = forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"dout has shape \(3, 2\); expected x.shape = \(2, 3\)"):
        backward(np.ones((3, 2)), cache)
    with pytest.raises(ValueError, match=r"dout has dtype float32; expected float64 to match x"):
        backward(np.ones((2, 3), dtype=np.float32), cache)


@pytest.mark.parametrize("call, match", [
    (lambda x: gelu_forward(x, approximate="fast"), r"approximate is 'fast'; expected one of \('none', 'tanh'\)"),
    (lambda x: softmax_forward(x, axis=2), r"axis is 2; expected an integer in \[-2, 2\) for x with 2 axes"),
    (lambda x: softmax_forward(x, axis=1.0), r"axis is 1.0; expected an integer"),
    (lambda x: softmax_forward(x[0, 0, ...]), r"x has shape \(\); expected at least 1 axes \(\.\.\., V\)"),
    (lambda x: leaky_relu_forward(x, slope="0.1"), r"slope is '0.1'; expected a finite real number"),
    (lambda x: leaky_relu_forward(x, slope=float("nan")), r"slope is nan; expected a finite real number"),
])
def test_hyperparameters_are_validated(call, match):
    with pytest.raises(ValueError, match=match):
        call(np.ones((2, 3)))


def test_leaky_relu_numpy_float64_slope_keeps_float32():
    x = np.array([-1.0, 2.0], dtype=np.float32)
    out, cache = leaky_relu_forward(x, slope=np.float64(0.25))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [-0.25, 2.0])
    np.testing.assert_array_equal(leaky_relu_backward(np.ones_like(x), cache), [0.25, 1.0])
