import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fnn.check import op_gradient_errors
from fnn.ops import (
    bce_with_logits_backward, bce_with_logits_forward, mae_backward, mae_forward, mse_backward, mse_forward,
    softmax_cross_entropy_backward, softmax_cross_entropy_forward,
)

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3)
seeds = st.integers(0, 2**31 - 1)


def check(forward, backward, args):
    errors = op_gradient_errors(forward, backward, args, argnums=[0], rng=np.random.default_rng(0))
    assert errors[0] < 1e-6, errors


# -- gradients vs central differences -----------------------------------------

@given(shape=shapes, seed=seeds)
def test_mse_gradient(shape, seed):
    rng = np.random.default_rng(seed)
    check(mse_forward, mse_backward, (rng.standard_normal(shape), rng.standard_normal(shape)))


@given(shape=shapes, seed=seeds)
def test_mae_gradient_away_from_ties(shape, seed):
    rng = np.random.default_rng(seed)
    target = rng.standard_normal(shape)
    z = rng.standard_normal(shape)
    pred = target + np.where(z >= 0, 1.0, -1.0) * (0.1 + np.abs(z))
    check(mae_forward, mae_backward, (pred, target))


@given(shape=shapes, seed=seeds, weighting=st.sampled_from(["none", "scalar", "vector"]))
def test_bce_with_logits_gradient(shape, seed, weighting):
    rng = np.random.default_rng(seed)
    logits = 3.0 * rng.standard_normal(shape)
    target = rng.uniform(0, 1, shape)
    target[rng.random(shape) < 0.3] = 1.0  # hard labels as well as soft ones
    pos_weight = {"none": None, "scalar": 2.5, "vector": rng.uniform(0.1, 4.0, shape[-1])}[weighting]
    check(lambda x, y: bce_with_logits_forward(x, y, pos_weight=pos_weight), bce_with_logits_backward,
          (logits, target))


@given(lead=st.lists(st.integers(1, 4), min_size=1, max_size=2), V=st.integers(1, 6), seed=seeds,
       ignore_index=st.sampled_from([-100, -1, 0]))
def test_softmax_cross_entropy_gradient_with_ignored_labels(lead, V, seed, ignore_index):
    rng = np.random.default_rng(seed)
    logits = 2.0 * rng.standard_normal((*lead, V))
    labels = rng.integers(0, V, lead)
    labels[rng.random(lead) < 0.3] = ignore_index
    check(lambda x, y: softmax_cross_entropy_forward(x, y, ignore_index=ignore_index),
          softmax_cross_entropy_backward, (logits, labels))


# -- known values computed independently --------------------------------------

def test_regression_losses_equal_naive_means():
    pred = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, 0.0]])
    target = np.array([[0.0, -2.0, 1.5], [1.0, 1.0, 0.0]])
    pairs = list(zip(pred.ravel(), target.ravel()))
    assert math.isclose(mse_forward(pred, target)[0], sum((p - t) ** 2 for p, t in pairs) / 6, rel_tol=1e-15)
    assert math.isclose(mae_forward(pred, target)[0], sum(abs(p - t) for p, t in pairs) / 6, rel_tol=1e-15)
    _, cache = mae_forward(pred, target)
    np.testing.assert_array_equal(mae_backward(1.0, cache) * 6, [[1.0, 0.0, -1.0], [1.0, -1.0, 0.0]])


def test_bce_matches_naive_formula_where_safe():
    rng = np.random.default_rng(4)
    x = rng.uniform(-5, 5, (4, 3))
    y = rng.uniform(0, 1, (4, 3))
    w = np.array([0.5, 1.0, 3.0])
    s = 1 / (1 + np.exp(-x))
    naive = -(w * y * np.log(s) + (1 - y) * np.log(1 - s))
    loss, cache = bce_with_logits_forward(x, y, pos_weight=w)
    assert math.isclose(loss, naive.mean(), rel_tol=1e-12)
    loss_unweighted, cache_unweighted = bce_with_logits_forward(x, y)
    assert math.isclose(loss_unweighted, (-(y * np.log(s) + (1 - y) * np.log(1 - s))).mean(), rel_tol=1e-12)
    np.testing.assert_allclose(bce_with_logits_backward(1.0, cache_unweighted), (s - y) / y.size, rtol=1e-12)


def test_cross_entropy_is_mean_negative_log_probability_of_label():
    logits = np.array([[[1.0, 2.0, 0.5], [0.0, 0.0, 0.0]], [[-1.0, 3.0, 2.0], [5.0, -5.0, 1.0]]])
    labels = np.array([[2, -100], [1, 0]])
    expected = []
    for n in range(2):
        for t in range(2):
            if labels[n, t] == -100:
                continue
            row = logits[n, t]
            expected.append(-math.log(math.exp(row[labels[n, t]]) / sum(math.exp(v) for v in row)))
    loss, cache = softmax_cross_entropy_forward(logits, labels)
    assert math.isclose(loss, sum(expected) / len(expected), rel_tol=1e-14)
    grad = softmax_cross_entropy_backward(1.0, cache)
    np.testing.assert_array_equal(grad[0, 1], 0.0)
    # Each counted row is (softmax - onehot) / 3 and so sums to zero.
    np.testing.assert_allclose(grad.sum(axis=-1), 0.0, atol=1e-16)
    p = np.exp(logits[1, 1]) / np.exp(logits[1, 1]).sum()
    np.testing.assert_allclose(grad[1, 1], (p - [1.0, 0.0, 0.0]) / 3, rtol=1e-13)


def test_cross_entropy_with_every_label_ignored_is_zero_with_zero_gradient():
    logits = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    loss, cache = softmax_cross_entropy_forward(logits, np.full(3, 7), ignore_index=7)
    assert loss == 0.0 and loss.dtype == np.float32
    grad = softmax_cross_entropy_backward(1.0, cache)
    np.testing.assert_array_equal(grad, np.zeros_like(logits))
    assert grad.dtype == np.float32


@pytest.mark.parametrize("forward, backward, args", [
    (mse_forward, mse_backward, "regression"),
    (mae_forward, mae_backward, "regression"),
    (bce_with_logits_forward, bce_with_logits_backward, "binary"),
    (softmax_cross_entropy_forward, softmax_cross_entropy_backward, "classes"),
])
def test_dloss_scales_the_gradient_and_is_validated(forward, backward, args):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4))
    y = {"regression": rng.standard_normal((3, 4)), "binary": rng.uniform(0, 1, (3, 4)),
         "classes": rng.integers(0, 4, 3)}[args]
    _, cache = forward(x, y)
    np.testing.assert_allclose(backward(np.float64(-2.5), cache), -2.5 * backward(1.0, cache), rtol=1e-14)
    for bad in (np.ones(2), "1.0", float("inf")):
        with pytest.raises(ValueError, match=r"dloss is .*; expected a finite real scalar"):
            backward(bad, cache)


# -- dtype, mutation ------------------------------------------------------------

def _float32_cases():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 5)).astype(np.float32)
    y = rng.standard_normal((4, 5)).astype(np.float32)
    u = rng.uniform(0, 1, (4, 5)).astype(np.float32)
    return [
        (mse_forward, mse_backward, (x, y), {}),
        (mae_forward, mae_backward, (x, y), {}),
        (bce_with_logits_forward, bce_with_logits_backward, (x, u), {}),
        (bce_with_logits_forward, bce_with_logits_backward, (x, u), {"pos_weight": np.float64(2.0)}),
        (bce_with_logits_forward, bce_with_logits_backward, (x, u), {"pos_weight": np.full(5, 2.0, np.float32)}),
        (softmax_cross_entropy_forward, softmax_cross_entropy_backward, (x, rng.integers(0, 5, 4)), {}),
        (softmax_cross_entropy_forward, softmax_cross_entropy_backward,
         (x.reshape(2, 2, 5), np.array([[0, -100], [4, 2]])), {}),
    ]


@pytest.mark.parametrize("forward, backward, args, kwargs", _float32_cases())
def test_float32_is_preserved_and_inputs_untouched(forward, backward, args, kwargs):
    copies = [a.copy() for a in args]
    loss, cache = forward(*args, **kwargs)
    grad = backward(1.0, cache)
    assert isinstance(loss, np.float32)
    assert grad.dtype == np.float32 and grad.shape == args[0].shape
    for a, c in zip(args, copies):
        np.testing.assert_array_equal(a, c)
    # The float32 result agrees with the same computation in float64.
    wide = [a.astype(np.float64) if a.dtype == np.float32 else a for a in args]
    wide_kwargs = {k: (v.astype(np.float64) if isinstance(v, np.ndarray) else v) for k, v in kwargs.items()}
    loss64, cache64 = forward(*wide, **wide_kwargs)
    assert math.isclose(loss, loss64, rel_tol=1e-5)
    np.testing.assert_allclose(grad, backward(1.0, cache64), rtol=1e-4, atol=1e-6)


# -- stability at huge logits ----------------------------------------------------

def test_bce_with_logits_is_stable_at_1e4():
    logits = np.array([[-1e4, 1e4, -1e4, 1e4, 0.0]], dtype=np.float32)
    target = np.array([[0.0, 1.0, 1.0, 0.0, 0.5]], dtype=np.float32)
    for pos_weight in (None, 3.0):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            loss, cache = bce_with_logits_forward(logits, target, pos_weight=pos_weight)
            grad = bce_with_logits_backward(1.0, cache)
            loss64, cache64 = bce_with_logits_forward(logits.astype(np.float64), target.astype(np.float64),
                                                      pos_weight=pos_weight)
        w = 1.0 if pos_weight is None else pos_weight
        # Confidently right costs 0, confidently wrong costs |logit| (times w for a missed positive);
        # a 0.5 target at logit 0 costs (w + 1) / 2 * log 2.
        expected = (0 + 0 + w * 1e4 + 1e4 + (w + 1) / 2 * math.log(2)) / 5
        assert np.isfinite(loss) and math.isclose(loss, expected, rel_tol=1e-6)
        assert math.isclose(loss, loss64, rel_tol=1e-6)
        assert np.all(np.isfinite(grad))
        np.testing.assert_allclose(grad, bce_with_logits_backward(1.0, cache64), rtol=1e-6)
        np.testing.assert_allclose(grad * 5, [[0.0, 0.0, -w, 1.0, (1 - w) / 4]], atol=1e-7)


def test_softmax_cross_entropy_is_stable_at_1e4():
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [1e4, 1e4, -1e4]], dtype=np.float32)
    labels = np.array([1, 2, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, cache = softmax_cross_entropy_forward(logits, labels)
        grad = softmax_cross_entropy_backward(1.0, cache)
        loss64, cache64 = softmax_cross_entropy_forward(logits.astype(np.float64), labels)
    # Row losses: 2e4 (label 1e4 below the max), 0 (label is the max), log 2 (two tied maxima).
    assert np.isfinite(loss) and math.isclose(loss, (2e4 + 0 + math.log(2)) / 3, rel_tol=1e-6)
    assert math.isclose(loss, loss64, rel_tol=1e-6)
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, softmax_cross_entropy_backward(1.0, cache64), atol=1e-7)


# -- bad input ---------------------------------------------------------------------

def _f(shape, dtype=np.float64):
    return np.ones(shape, dtype=dtype)


@pytest.mark.parametrize("call, match", [
    (lambda: mse_forward(_f((2, 3)), _f((3, 2))), r"target has shape \(3, 2\); expected pred.shape = \(2, 3\)"),
    (lambda: mse_forward(_f((2, 3)), _f((2, 3), np.float32)), r"target has dtype float32; expected float64 to match pred"),
    (lambda: mse_forward(_f((2,), np.int64), _f((2,))), r"pred has shape \(2,\) and dtype int64; expected a float32"),
    (lambda: mse_forward(_f((0, 3)), _f((0, 3))), r"pred has shape \(0, 3\); expected at least one element"),
    (lambda: mae_forward(_f((2, 3)), [1.0]), r"target has type list; expected a float32 or float64"),
    (lambda: bce_with_logits_forward(_f((2, 3), np.int32), _f((2, 3))), r"logits has shape \(2, 3\) and dtype int32"),
    (lambda: bce_with_logits_forward(_f((2, 3)), _f((2, 2))), r"target has shape \(2, 2\); expected logits.shape"),
    (lambda: bce_with_logits_forward(_f((2,)), np.array([0.5, 1.5])), r"target contains 1.5; expected values in \[0, 1\]"),
    (lambda: bce_with_logits_forward(_f((2,)), np.array([0.5, np.nan])), r"target contains nan; expected values in \[0, 1\]"),
    (lambda: bce_with_logits_forward(_f((2, 3)), _f((2, 3)), pos_weight=_f(2)),
     r"pos_weight has shape \(2,\); expected a scalar or \(C,\) = \(3,\)"),
    (lambda: bce_with_logits_forward(_f((2, 3)), _f((2, 3)), pos_weight=_f(3, np.float32)),
     r"pos_weight has dtype float32; expected float64 to match logits"),
    (lambda: bce_with_logits_forward(_f((2, 3)), _f((2, 3)), pos_weight=-1.0), r"pos_weight is -1.0; expected finite non-negative"),
    (lambda: bce_with_logits_forward(_f((2, 3)), _f((2, 3)), pos_weight="2"), r"pos_weight has type str; expected None"),
    (lambda: softmax_cross_entropy_forward(_f((2, 3), np.int64), np.zeros(2, int)), r"logits has shape \(2, 3\) and dtype int64"),
    (lambda: softmax_cross_entropy_forward(_f((6,)), np.zeros(6, int)), r"logits has shape \(6,\); expected 2 axes \(N, V\) or 3 axes"),
    (lambda: softmax_cross_entropy_forward(_f((2, 3)), np.zeros(3, int)), r"labels has shape \(3,\); expected \(N,\) = \(2,\)"),
    (lambda: softmax_cross_entropy_forward(_f((2, 4, 3)), np.zeros((2, 3), int)), r"labels has shape \(2, 3\); expected \(N, T\) = \(2, 4\)"),
    (lambda: softmax_cross_entropy_forward(_f((2, 3)), np.zeros(2)), r"labels has shape \(2,\) and dtype float64; expected an integer"),
    (lambda: softmax_cross_entropy_forward(_f((2, 3)), np.array([1, 3])),
     r"labels contains 3 at index \(1,\); expected class indices in \[0, V\) = \[0, 3\) or ignore_index = -100"),
    (lambda: softmax_cross_entropy_forward(_f((2, 2, 3)), np.array([[0, -100], [-1, 2]])), r"labels contains -1 at index \(1, 0\)"),
    (lambda: softmax_cross_entropy_forward(_f((2, 3)), np.array([0, 1]), ignore_index=None), r"ignore_index is None; expected an integer"),
])
def test_bad_input_is_rejected(call, match):
    with pytest.raises(ValueError, match=match):
        call()
