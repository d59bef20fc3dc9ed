import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fnn.check import numerical_grad, numerical_grad_at, rel_error, sample_indices
from fnn.models import cnn

SMALL = cnn.Config(in_channels=2, image_size=10, conv_channels=(3, 4), kernel_size=3,
                   conv_padding=(1, 0), hidden=(6,), num_classes=3)


def _perturbed(params, rng):
    # Nonzero biases keep ReLU inputs off the kink and max-pool windows free of ties.
    return {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in params.items()}


# Each example costs ~450 full forward passes; a few shapes are enough here, the ops are checked widely elsewhere.
@settings(max_examples=6)
@given(n=st.integers(1, 3), seed=st.integers(0, 2**31 - 1))
def test_small_cnn_gradients_match_central_differences(n, seed):
    rng = np.random.default_rng(seed)
    params = _perturbed(cnn.init(rng, SMALL, dtype=np.float64), rng)
    x = rng.standard_normal((n, 2, 10, 10))
    y = rng.integers(0, 3, n)
    _, grads = cnn.loss_and_grad(params, x, y, config=SMALL)
    numeric = numerical_grad(lambda p: cnn.loss_and_grad(p, x, y, config=SMALL)[0], params)
    assert rel_error(grads, numeric) < 1e-6


def test_lenet5_shapes_and_sampled_gradients():
    rng = np.random.default_rng(0)
    params = _perturbed(cnn.init(rng, dtype=np.float64), rng)
    expected = {"conv1.w": (6, 1, 5, 5), "conv2.w": (16, 6, 5, 5), "dense1.w": (400, 120),
                "dense2.w": (120, 84), "dense3.w": (84, 10), "dense3.b": (10,)}
    for key, shape in expected.items():
        assert params[key].shape == shape
    x, y = rng.standard_normal((2, 1, 28, 28)), rng.integers(0, 10, 2)
    logits, _ = cnn.forward(params, x)
    assert logits.shape == (2, 10)
    _, grads = cnn.loss_and_grad(params, x, y)
    for key in params:
        idx = sample_indices(params[key].shape, 6, rng)
        numeric = numerical_grad_at(lambda p: cnn.loss_and_grad(p, x, y)[0], params, idx, key=key)
        assert rel_error(grads[key].reshape(-1)[idx], numeric) < 1e-6, key


def test_cnn_keeps_float32_and_is_pure():
    rng = np.random.default_rng(1)
    params = cnn.init(rng)
    before = {k: v.copy() for k, v in params.items()}
    x = rng.standard_normal((4, 1, 28, 28)).astype(np.float32)
    loss, grads = cnn.loss_and_grad(params, x, rng.integers(0, 10, 4))
    assert np.asarray(loss).dtype == np.float32
    assert list(grads) == list(params)
    for k in params:
        assert grads[k].dtype == np.float32 and grads[k].shape == params[k].shape
        np.testing.assert_array_equal(params[k], before[k])


def test_cnn_predict_batches_agree_with_one_pass():
    rng = np.random.default_rng(2)
    params = cnn.init(rng)
    x = rng.standard_normal((7, 1, 28, 28)).astype(np.float32)
    np.testing.assert_array_equal(cnn.predict(params, x, batch_size=3), np.argmax(cnn.forward(params, x)[0], axis=1))


def test_cnn_rejects_wrong_image_shape():
    params = cnn.init(np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"x has shape \(2, 1, 32, 32\); expected \(N, C, H, W\) = \(N, 1, 28, 28\)"):
        cnn.forward(params, np.zeros((2, 1, 32, 32), np.float32))
    with pytest.raises(ValueError, match=r"expected 4 axes"):
        cnn.forward(params, np.zeros((2, 784), np.float32))


def test_config_feature_size():
    assert cnn.LENET5.feature_size() == 5 and cnn.LENET5.flat_features() == 400
    assert SMALL.feature_size() == 1 and SMALL.flat_features() == 4
