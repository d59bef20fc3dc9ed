"""Every model's loss_and_grad three ways: by hand, fnn.tape on the fnn.reference loss, central differences.

float64, hypothesis-drawn sizes, every variant (activations, dropout with a
fixed seed, l1/l2, binary/multiclass, pos_weight, perceptron rules). Draws
that put a kink (relu, |w|, the perceptron margin) within reach of a
finite-difference step are rejected rather than tolerated.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import fnn.models
import fnn.reference as R
from fnn.check import compare
from fnn.check_cases import model_case
from fnn.models import cnn, linear_regression, logistic_regression, mlp, perceptron

SEEDS = st.integers(0, 2**31 - 1)
KINK_MARGIN = 1e-3

# Models checked below. A new model needs its reference loss in
# fnn.reference.models, a test here, and its name in this set.
TESTED_MODELS = {"perceptron", "linear_regression", "logistic_regression", "mlp", "cnn"}


def assert_three_way(triple):
    loss_and_grad, reference_loss, params = triple
    table = compare(loss_and_grad, reference_loss, params)
    assert table.passed, "\n" + str(table)
    assert [r.parameter for r in table] == ["(loss)", *params]


@given(d=st.integers(1, 5), n=st.integers(1, 8), rule=st.sampled_from(["perceptron", "delta"]), seed=SEEDS)
def test_perceptron(d, n, rule, seed):
    rng = np.random.default_rng(seed)
    params = perceptron.init(rng, d, scale=1.0, dtype=np.float64)
    params["b"] = rng.standard_normal(1)
    x, y = rng.standard_normal((n, d)), rng.integers(0, 2, n)
    assume(np.min(np.abs(x @ params["w"] + params["b"])) > KINK_MARGIN)  # the perceptron margin's kink
    assert_three_way(model_case(perceptron, R.perceptron_loss, params, x, y, rule=rule))


@given(d=st.integers(1, 5), n=st.integers(1, 8), l2=st.sampled_from([0.0, 0.3]), l1=st.sampled_from([0.0, 0.2]),
       seed=SEEDS)
def test_linear_regression(d, n, l2, l1, seed):
    rng = np.random.default_rng(seed)
    params = linear_regression.init(rng, d, scale=1.0)
    params["b"] = rng.standard_normal(1)
    assume(l1 == 0 or np.min(np.abs(params["w"])) > KINK_MARGIN)  # |w| has a kink at 0
    x, y = rng.standard_normal((n, d)), rng.standard_normal(n)
    assert_three_way(model_case(linear_regression, R.linear_regression_loss, params, x, y, l2=l2, l1=l1))


@given(d=st.integers(1, 5), n=st.integers(1, 8), classes=st.integers(2, 5), l2=st.sampled_from([0.0, 0.1]),
       pos_weight=st.sampled_from([None, 0.5, 3.0]), seed=SEEDS)
def test_logistic_regression_binary_and_multiclass(d, n, classes, l2, pos_weight, seed):
    rng = np.random.default_rng(seed)
    params = logistic_regression.init(rng, d, classes, scale=1.0, dtype=np.float64)
    params["b"] = rng.standard_normal(params["b"].shape)
    x, y = rng.standard_normal((n, d)), rng.integers(0, classes, n)
    kw = {"pos_weight": pos_weight} if classes == 2 else {}
    assert_three_way(model_case(logistic_regression, R.logistic_regression_loss, params, x, y, l2=l2, **kw))


def _hidden_preactivations(params, x, activation, dropout, seed):
    """Inputs of every hidden activation, with the dropout masks the model will draw."""
    rng = np.random.default_rng(seed) if dropout else None
    n_layers = mlp.num_layers(params)
    h, found = x, []
    for i in range(1, n_layers):
        a = R.dense(h, params[f"dense{i}.w"], params[f"dense{i}.b"])
        found.append(a)
        h = R.REFERENCE_ACTIVATIONS[activation](a)
        if dropout:
            h = R.dropout(h, p=dropout, rng=rng)
    return found


@given(sizes=st.lists(st.integers(1, 5), min_size=2, max_size=4), n=st.integers(1, 6),
       activation=st.sampled_from(sorted(R.REFERENCE_ACTIVATIONS)), dropout=st.sampled_from([0.0, 0.3, 0.6]),
       seed=SEEDS)
def test_mlp_every_activation_with_and_without_dropout(sizes, n, activation, dropout, seed):
    rng = np.random.default_rng(seed)
    sizes = sizes[:-1] + [max(sizes[-1], 2)]
    params = mlp.init(rng, sizes, dtype=np.float64)
    params = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in params.items()}
    x, y = rng.standard_normal((n, sizes[0])), rng.integers(0, sizes[-1], n)
    mask_seed = int(rng.integers(2**31))
    if activation in ("relu", "leaky_relu"):
        pre = _hidden_preactivations(params, x, activation, dropout, mask_seed)
        assume(all(np.min(np.abs(a)) > KINK_MARGIN for a in pre))
    assert_three_way(model_case(mlp, R.mlp_loss, params, x, y, activation=activation, dropout=dropout,
                                seed=mask_seed if dropout else None))


def _pool_margin(h, k):
    """Smallest lead of a k x k window's max over its runner-up, over windows whose max is > 0.

    Windows that are all zero (every input cut by the ReLU) pass no gradient, so their ties do not matter.
    """
    N, C, H, W = h.shape
    OH, OW = H // k, W // k
    windows = h[:, :, :OH * k, :OW * k].reshape(N, C, OH, k, OW, k).transpose(0, 1, 2, 4, 3, 5)
    ranked = np.sort(windows.reshape(N, C, OH, OW, k * k), axis=-1)
    live = ranked[..., -1] > 0
    return float(np.min((ranked[..., -1] - ranked[..., -2])[live], initial=np.inf))


def _cnn_margin(params, x, config):
    """Distance of the forward pass from every ReLU kink and max-pool tie."""
    margins, h = [], x
    for i, pad in enumerate(config.conv_padding, start=1):
        a = R.conv2d(h, params[f"conv{i}.w"], params[f"conv{i}.b"], padding=pad)
        margins.append(np.min(np.abs(a)))
        margins.append(_pool_margin(R.relu(a), config.pool_size))
        h = R.maxpool2d(R.relu(a), kernel_size=config.pool_size)
    h = R.flatten(h)
    for i in range(1, len(config.hidden) + 1):
        a = R.dense(h, params[f"dense{i}.w"], params[f"dense{i}.b"])
        margins.append(np.min(np.abs(a)))
        h = R.relu(a)
    return min(margins)


@settings(max_examples=10)  # each example differentiates a small CNN ~600 times
@given(n=st.integers(1, 3), in_channels=st.integers(1, 2), image_size=st.sampled_from([8, 10]),
       conv_channels=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       hidden=st.sampled_from([(4,), (5, 3)]), seed=SEEDS)
def test_cnn(n, in_channels, image_size, conv_channels, hidden, seed):
    config = cnn.Config(in_channels=in_channels, image_size=image_size, conv_channels=conv_channels,
                        kernel_size=3, conv_padding=(1, 0), hidden=hidden, num_classes=3)
    rng = np.random.default_rng(seed)
    params = cnn.init(rng, config, dtype=np.float64)
    params = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in params.items()}
    x, y = rng.standard_normal((n, in_channels, image_size, image_size)), rng.integers(0, 3, n)
    assume(_cnn_margin(params, x, config) > KINK_MARGIN)
    assert_three_way(model_case(cnn, R.cnn_loss, params, x, y, config=config))


def test_cnn_reference_defaults_to_lenet5():
    rng = np.random.default_rng(0)
    params = cnn.init(rng, dtype=np.float64)
    x, y = rng.standard_normal((2, 1, 28, 28)), rng.integers(0, 10, 2)
    assert cnn.LENET5.conv_padding == (2, 0) and cnn.LENET5.pool_size == 2
    np.testing.assert_allclose(R.cnn_loss(params, x, y), cnn.loss_and_grad(params, x, y)[0], rtol=1e-12)


def test_every_model_has_a_reference_loss_and_a_three_way_test():
    models = set(fnn.models.__all__)
    assert models <= TESTED_MODELS, f"models without a three-way test: {sorted(models - TESTED_MODELS)}"
    for name in models:
        assert callable(getattr(R, f"{name}_loss")), name


@pytest.mark.parametrize("model, reference, hyper", [
    (perceptron, R.perceptron_loss, {"rule": "perceptron"}),
    (perceptron, R.perceptron_loss, {"rule": "delta"}),
    (linear_regression, R.linear_regression_loss, {"l2": 0.1, "l1": 0.1}),
    (logistic_regression, R.logistic_regression_loss, {"l2": 0.1, "pos_weight": 2.0}),
    (mlp, R.mlp_loss, {"activation": "gelu"}),
    (cnn, R.cnn_loss, {}),
], ids=["perceptron", "delta", "linear", "logistic", "mlp", "cnn"])
def test_reference_losses_keep_float32_and_match_the_models(model, reference, hyper):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 3)).astype(np.float32)
    if model is cnn:
        x = rng.standard_normal((2, 1, 28, 28)).astype(np.float32)
        params, y = cnn.init(rng), rng.integers(0, 10, 2)
    elif model is mlp:
        params, y = mlp.init(rng, [3, 4, 3], dtype=np.float32), rng.integers(0, 3, 6)
    elif model is linear_regression:
        params, y = linear_regression.init(rng, 3, scale=1.0, dtype=np.float32), x[:, 0] - x[:, 1]
    elif model is logistic_regression:
        params, y = logistic_regression.init(rng, 3, 2, scale=1.0, dtype=np.float32), rng.integers(0, 2, 6)
    else:
        params, y = perceptron.init(rng, 3, scale=1.0, dtype=np.float32), rng.integers(0, 2, 6)
    expected, _ = model.loss_and_grad(params, x, y, **hyper)
    got = reference(params, x, y, **hyper)
    assert np.asarray(got).dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5)
