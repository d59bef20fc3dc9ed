import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fnn.check import op_gradient_errors
from fnn.ops import dropout_backward, dropout_forward


def seeded_dropout(p, seed, training=True):
    """A forward that draws the same mask on every call, so it is a fixed linear map of x."""
    return lambda x: dropout_forward(x, p=p, rng=np.random.default_rng(seed), training=training)


@given(
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    p=st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]),
    training=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_dropout_gradient_matches_central_differences(shape, p, training, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    errors = op_gradient_errors(seeded_dropout(p, seed, training), dropout_backward, (x,), rng=rng)
    assert errors[0] < 1e-6, errors


def test_kept_values_are_scaled_and_dropped_values_are_zero():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 40))
    p = 0.25
    out, _ = dropout_forward(x, p=p, rng=np.random.default_rng(1))
    kept = out != 0
    assert 0 < kept.sum() < x.size
    np.testing.assert_allclose(out[kept], x[kept] / (1 - p), rtol=1e-15)


def test_backward_uses_the_forward_mask():
    x = np.random.default_rng(0).standard_normal((6, 7)) + 5.0  # no exact zeros in x
    out, cache = dropout_forward(x, p=0.5, rng=np.random.default_rng(2))
    dout = np.full_like(x, 3.0)
    dx = dropout_backward(dout, cache)
    np.testing.assert_array_equal(dx != 0, out != 0)
    np.testing.assert_allclose(dx[out != 0], 6.0, rtol=1e-15)


def test_seeded_rng_gives_identical_masks_and_different_seeds_differ():
    x = np.ones((20, 30))
    a, _ = dropout_forward(x, p=0.5, rng=np.random.default_rng(7))
    b, _ = dropout_forward(x, p=0.5, rng=np.random.default_rng(7))
    c, _ = dropout_forward(x, p=0.5, rng=np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert np.any(a != c)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_mean_is_preserved_in_expectation(p):
    n = 200_000
    x = np.ones(n)
    out, _ = dropout_forward(x, p=p, rng=np.random.default_rng(11))
    # Each element is 1/(1-p) with prob 1-p else 0: mean 1, variance p/(1-p).
    sigma_of_mean = np.sqrt(p / (1 - p) / n)
    assert abs(out.mean() - 1.0) < 5 * sigma_of_mean
    keep_rate = np.mean(out != 0)
    assert abs(keep_rate - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("kwargs", [dict(training=False, p=0.5), dict(p=0.0)])
def test_identity_in_eval_and_at_p_zero_needs_no_rng(kwargs):
    x = np.random.default_rng(0).standard_normal((4, 5))
    out, cache = dropout_forward(x, **kwargs)
    np.testing.assert_array_equal(out, x)
    assert out is not x
    dout = np.random.default_rng(1).standard_normal((4, 5))
    dx = dropout_backward(dout, cache)
    np.testing.assert_array_equal(dx, dout)
    assert dx is not dout


def test_p_one_drops_everything_without_dividing_by_zero():
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    with np.errstate(all="raise"):
        out, cache = dropout_forward(x, p=1.0)
        dx = dropout_backward(np.ones_like(x), cache)
    np.testing.assert_array_equal(out, 0.0)
    np.testing.assert_array_equal(dx, 0.0)
    assert out.dtype == np.float32 and dx.dtype == np.float32


@pytest.mark.parametrize("p, training", [(0.5, True), (0.0, True), (0.5, False), (1.0, True)])
def test_float32_is_preserved_including_the_mask(p, training):
    x = np.ones((5, 6), dtype=np.float32)
    out, cache = dropout_forward(x, p=p, rng=np.random.default_rng(0), training=training)
    dx = dropout_backward(np.ones_like(out), cache)
    assert out.dtype == np.float32 and dx.dtype == np.float32
    mask = cache[0]
    assert mask is None or mask.dtype == np.float32


def test_inputs_are_not_mutated():
    x = np.random.default_rng(0).standard_normal((4, 4))
    dout = np.random.default_rng(1).standard_normal((4, 4))
    x_copy, dout_copy = x.copy(), dout.copy()
    out, cache = dropout_forward(x, p=0.5, rng=np.random.default_rng(2))
    dropout_backward(dout, cache)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(dout, dout_copy)


def test_missing_rng_is_a_clear_error():
    with pytest.raises(ValueError, match=r"rng is NoneType; dropout with p=0.3 in training needs a numpy.random.Generator"):
        dropout_forward(np.ones(3), p=0.3)
    with pytest.raises(ValueError, match=r"rng is RandomState"):
        dropout_forward(np.ones(3), p=0.3, rng=np.random.RandomState(0))


@pytest.mark.parametrize("p, match", [
    (-0.1, r"p is -0.1; expected a probability in \[0, 1\]"),
    (1.5, r"p is 1.5; expected a probability in \[0, 1\]"),
    (float("nan"), r"p is nan; expected a probability in \[0, 1\]"),
    ("0.5", r"p is '0.5'; expected a probability in \[0, 1\]"),
])
def test_p_is_validated(p, match):
    with pytest.raises(ValueError, match=match):
        dropout_forward(np.ones(3), p=p, rng=np.random.default_rng(0))


def test_bad_arrays_are_rejected():
    with pytest.raises(ValueError, match=r"x has shape \(3,\) and dtype int64; expected a float32 or float64"):
        dropout_forward(np.ones(3, dtype=np.int64), p=0.5, rng=np.random.default_rng(0))
    _, cache = dropout_forward(np.ones((2, 3)), p=0.5, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"dout has shape \(3, 2\); expected x.shape = \(2, 3\)"):
        dropout_backward(np.ones((3, 2)), cache)
    with pytest.raises(ValueError, match=r"dout has dtype float32; expected float64 to match x"):
        dropout_backward(np.ones((2, 3), dtype=np.float32), cache)
