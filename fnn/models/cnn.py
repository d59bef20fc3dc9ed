"""A LeNet-5-style convolutional network for 28x28 single-channel images.

    x (N, 1, 28, 28)
    -> conv1 6@5x5, pad 2 -> ReLU -> maxpool 2   (N, 6, 14, 14)
    -> conv2 16@5x5       -> ReLU -> maxpool 2   (N, 16, 5, 5)
    -> flatten (N, 400) -> dense 120 -> ReLU -> dense 84 -> ReLU -> dense 10 (logits)

The code applies each max-pool before its ReLU. The two commute exactly:
ReLU is monotone, so max(relu(window)) = relu(max(window)), and the gradient
reaches the same input (the window's argmax when its maximum is positive,
nothing otherwise). Pooling first runs the ReLU on a quarter of the values.

Parameters live in a flat dict (``conv1.w`` (6, 1, 5, 5), ``conv1.b`` (6,),
..., ``dense3.b`` (10,)); the layer sizes live in a frozen :class:`Config`,
passed as ``config=`` (default :data:`LENET5`).
"""
from dataclasses import dataclass

import numpy as np

from .. import init as initializers
from .._validate import require_float, require_ndim
from ..ops import (
    conv2d_backward,
    conv2d_forward,
    dense_backward,
    dense_forward,
    flatten_backward,
    flatten_forward,
    maxpool2d_backward,
    maxpool2d_forward,
    relu_backward,
    relu_forward,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)


@dataclass(frozen=True)
class Config:
    """Layer sizes of the network; the defaults are LeNet-5 for 28x28 MNIST digits."""

    in_channels: int = 1
    image_size: int = 28
    conv_channels: tuple = (6, 16)
    kernel_size: int = 5
    # Padding 2 on the first conv keeps 28x28, as LeNet-5 saw 32x32 inputs.
    conv_padding: tuple = (2, 0)
    pool_size: int = 2
    hidden: tuple = (120, 84)
    num_classes: int = 10

    def feature_size(self):
        """Side length of the last pooled feature map (5 for LeNet-5)."""
        side = self.image_size
        for pad in self.conv_padding:
            side = (side + 2 * pad - self.kernel_size + 1) // self.pool_size
        return side

    def flat_features(self):
        return self.conv_channels[-1] * self.feature_size() ** 2


LENET5 = Config()


def init(rng, config=LENET5, *, dtype=np.float32):
    """He-initialised conv and dense weights, zero biases."""
    if config.feature_size() < 1:
        raise ValueError(f"config {config} leaves no spatial extent after the last pool")
    params = {}
    channels = (config.in_channels,) + tuple(config.conv_channels)
    k = config.kernel_size
    for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:]), start=1):
        params[f"conv{i}.w"] = initializers.he_normal(rng, (c_out, c_in, k, k), dtype=dtype)
        params[f"conv{i}.b"] = np.zeros(c_out, dtype)
    sizes = (config.flat_features(),) + tuple(config.hidden) + (config.num_classes,)
    for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"dense{i}.w"] = initializers.he_normal(rng, (d_in, d_out), dtype=dtype)
        params[f"dense{i}.b"] = np.zeros(d_out, dtype)
    return params


def forward(params, x, *, config=LENET5):
    """x (N, C, H, W) -> logits (N, num_classes)."""
    require_float("x", x)
    require_ndim("x", x, 4, "(N, C, H, W)")
    expected = (config.in_channels, config.image_size, config.image_size)
    if x.shape[1:] != expected:
        raise ValueError(f"x has shape {x.shape}; expected (N, C, H, W) = (N, {', '.join(map(str, expected))})")
    caches = []
    h = x
    for i, pad in enumerate(config.conv_padding, start=1):
        # The image is data: its gradient would cost a full correlation for nothing.
        h, conv_cache = conv2d_forward(h, params[f"conv{i}.w"], params[f"conv{i}.b"], padding=pad, input_grad=i > 1)
        h, pool_cache = maxpool2d_forward(h, kernel_size=config.pool_size)
        h, relu_cache = relu_forward(h)
        caches.append((conv_cache, pool_cache, relu_cache))
    h, flat_cache = flatten_forward(h)
    n_dense = len(config.hidden) + 1
    for i in range(1, n_dense + 1):
        h, dense_cache = dense_forward(h, params[f"dense{i}.w"], params[f"dense{i}.b"])
        relu_cache = None
        if i < n_dense:
            h, relu_cache = relu_forward(h)
        caches.append((dense_cache, relu_cache))
    return h, (config, caches, flat_cache)


def backward(params, cache, dout):
    """dout (N, num_classes), the gradient wrt the logits -> grads with the keys of ``params``."""
    config, caches, flat_cache = cache
    n_conv = len(config.conv_padding)
    grads = {}
    d = dout
    for i in range(len(caches) - n_conv, 0, -1):
        dense_cache, relu_cache = caches[n_conv + i - 1]
        if relu_cache is not None:
            d = relu_backward(d, relu_cache)
        d, grads[f"dense{i}.w"], grads[f"dense{i}.b"] = dense_backward(d, dense_cache)
    d = flatten_backward(d, flat_cache)
    for i in range(n_conv, 0, -1):
        conv_cache, pool_cache, relu_cache = caches[i - 1]
        d = relu_backward(d, relu_cache)
        d = maxpool2d_backward(d, pool_cache)
        d, grads[f"conv{i}.w"], grads[f"conv{i}.b"] = conv2d_backward(d, conv_cache)
    return {k: grads[k] for k in params}


def loss_and_grad(params, x, y, *, config=LENET5):
    """Mean softmax cross-entropy of the logits against integer labels y (N,), and its gradient."""
    logits, cache = forward(params, x, config=config)
    loss, loss_cache = softmax_cross_entropy_forward(logits, y)
    return loss, backward(params, cache, softmax_cross_entropy_backward(1.0, loss_cache))


def predict(params, x, *, config=LENET5, batch_size=1000):
    """x (N, C, H, W) -> predicted labels (N,), evaluated in batches to bound memory."""
    labels = [np.argmax(forward(params, x[i:i + batch_size], config=config)[0], axis=1)
              for i in range(0, len(x), batch_size)]
    return np.concatenate(labels) if labels else np.zeros(0, np.int64)
