"""Every model's loss_and_grad against central differences (float64), and the model contract."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fnn.check import numerical_grad, rel_error
from fnn.models import linear_regression, logistic_regression, mlp, perceptron

seeds = st.integers(0, 2**31 - 1)


def _assert_matches_numerical(loss_and_grad, params, tol=1e-6):
    loss, grads = loss_and_grad(params)
    numeric = numerical_grad(lambda p: loss_and_grad(p)[0], params)
    assert set(grads) == set(params)
    err = rel_error(grads, numeric)
    assert err < tol, err


@given(sizes=st.lists(st.integers(1, 5), min_size=2, max_size=4), n=st.integers(1, 6),
       activation=st.sampled_from(["relu", "tanh", "sigmoid", "leaky_relu", "gelu"]), seed=seeds)
def test_mlp_gradients(sizes, n, activation, seed):
    rng = np.random.default_rng(seed)
    sizes = sizes[:-1] + [max(sizes[-1], 2)]
    params = mlp.init(rng, sizes, dtype=np.float64)
    # Nonzero biases keep ReLU inputs away from the kink at 0.
    params = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in params.items()}
    x = rng.standard_normal((n, sizes[0]))
    y = rng.integers(0, sizes[-1], n)
    _assert_matches_numerical(lambda p: mlp.loss_and_grad(p, x, y, activation=activation), params)


@given(d=st.integers(1, 5), n=st.integers(1, 8), l2=st.sampled_from([0.0, 0.3]),
       l1=st.sampled_from([0.0, 0.2]), seed=seeds)
def test_linear_regression_gradients(d, n, l2, l1, seed):
    rng = np.random.default_rng(seed)
    params = linear_regression.init(rng, d, scale=1.0)
    x, y = rng.standard_normal((n, d)), rng.standard_normal(n)
    _assert_matches_numerical(lambda p: linear_regression.loss_and_grad(p, x, y, l2=l2, l1=l1), params)


@given(d=st.integers(1, 5), n=st.integers(1, 8), classes=st.integers(2, 4),
       pos_weight=st.sampled_from([None, 3.0]), seed=seeds)
def test_logistic_regression_gradients(d, n, classes, pos_weight, seed):
    rng = np.random.default_rng(seed)
    params = logistic_regression.init(rng, d, classes, scale=1.0, dtype=np.float64)
    x = rng.standard_normal((n, d))
    y = rng.integers(0, classes, n)
    kw = {"pos_weight": pos_weight} if classes == 2 else {}
    _assert_matches_numerical(lambda p: logistic_regression.loss_and_grad(p, x, y, l2=0.1, **kw), params)


@given(d=st.integers(1, 5), n=st.integers(1, 8), rule=st.sampled_from(["perceptron", "delta"]), seed=seeds)
def test_perceptron_gradients(d, n, rule, seed):
    rng = np.random.default_rng(seed)
    params = perceptron.init(rng, d, scale=1.0, dtype=np.float64)
    x, y = rng.standard_normal((n, d)), rng.integers(0, 2, n)
    _assert_matches_numerical(lambda p: perceptron.loss_and_grad(p, x, y, rule=rule), params)


def _float32_cases():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 3)).astype(np.float32)
    yc = rng.integers(0, 3, 6)
    yb = rng.integers(0, 2, 6)
    yield "mlp", mlp.init(rng, [3, 4, 3]), lambda p: mlp.loss_and_grad(p, x, yc)
    yield "logistic-binary", logistic_regression.init(rng, 3), lambda p: logistic_regression.loss_and_grad(p, x, yb)
    yield "logistic-multi", logistic_regression.init(rng, 3, 3), lambda p: logistic_regression.loss_and_grad(p, x, yc)
    yield "perceptron", perceptron.init(rng, 3, scale=1.0), lambda p: perceptron.loss_and_grad(p, x, yb)
    yield "linear", linear_regression.init(rng, 3, scale=1.0, dtype=np.float32), \
        lambda p: linear_regression.loss_and_grad(p, x, x[:, 0] - x[:, 1], l2=0.1, l1=0.1)


@pytest.mark.parametrize("name, params, loss_and_grad", list(_float32_cases()), ids=lambda v: v if isinstance(v, str) else "")
def test_models_keep_float32_return_fresh_grads_and_do_not_mutate(name, params, loss_and_grad):
    before = {k: v.copy() for k, v in params.items()}
    loss, grads = loss_and_grad(params)
    loss2, grads2 = loss_and_grad(params)
    assert np.asarray(loss).dtype == np.float32, name
    assert list(grads) == list(params)
    for k in params:
        assert grads[k].shape == params[k].shape and grads[k].dtype == params[k].dtype, k
        assert grads[k] is not grads2[k] and not np.shares_memory(grads[k], params[k])
        np.testing.assert_array_equal(params[k], before[k])
        np.testing.assert_array_equal(grads[k], grads2[k])


def test_mlp_dropout_gradients_match_numerical_for_a_fixed_mask():
    rng = np.random.default_rng(3)
    params = mlp.init(rng, [4, 6, 5, 3], dtype=np.float64)
    params = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in params.items()}
    x, y = rng.standard_normal((5, 4)), rng.integers(0, 3, 5)
    # A fresh generator with the same seed per call draws the same masks.
    f = lambda p: mlp.loss_and_grad(p, x, y, dropout=0.4, rng=np.random.default_rng(7))  # noqa: E731
    _assert_matches_numerical(f, params)
    loss_train, _ = f(params)
    loss_plain, _ = mlp.loss_and_grad(params, x, y)
    assert loss_train != loss_plain


def test_mlp_rejects_bad_params_and_input():
    rng = np.random.default_rng(0)
    params = mlp.init(rng, [3, 4, 2])
    with pytest.raises(ValueError, match=r"x has shape \(5,\); expected 2 axes \(N, D\)"):
        mlp.forward(params, np.ones(5, np.float32))
    broken = {k: v for k, v in params.items() if k != "dense1.w"}
    with pytest.raises(ValueError, match="expected dense1.w"):
        mlp.forward(broken, np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"sizes is \[3\]"):
        mlp.init(rng, [3])
