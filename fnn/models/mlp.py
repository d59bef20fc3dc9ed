"""Multilayer perceptron: dense layers with a nonlinearity (and optional dropout) between them.

Parameters live in a flat dict: ``dense1.w`` (D, H1), ``dense1.b`` (H1,), ...,
``denseL.w`` (H_{L-1}, M), ``denseL.b`` (M,). The last layer outputs logits;
:func:`loss_and_grad` applies softmax cross-entropy to them.
"""
import functools
import re

import numpy as np

from .. import init as initializers
from .._validate import require_float, require_ndim
from ..ops import (
    dense_backward,
    dense_forward,
    dropout_backward,
    dropout_forward,
    get_activation,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)

_WEIGHT_KEY = re.compile(r"dense(\d+)\.w")


def init(rng, sizes, *, weight_init="he_normal", dtype=np.float32):
    """Parameters for layer sizes ``[D, H1, ..., M]`` (at least input and output).

    Weights come from ``fnn.init`` (He for ReLU-like activations, Xavier for
    tanh/sigmoid), biases start at zero.
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes is {sizes}; expected at least [D, M] with every size >= 1")
    draw = initializers.get_initializer(weight_init)
    params = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"dense{i}.w"] = draw(rng, (fan_in, fan_out), dtype=dtype)
        params[f"dense{i}.b"] = np.zeros(fan_out, dtype=dtype)
    return params


def num_layers(params):
    """How many dense layers ``params`` holds (checked to be numbered 1..L)."""
    return _num_layers(tuple(params))


@functools.lru_cache(maxsize=64)
def _num_layers(keys):
    # Cached by the key tuple: the same parameter layout arrives every step.
    found = sorted(int(m.group(1)) for k in keys if isinstance(k, str) and (m := _WEIGHT_KEY.fullmatch(k)))
    if not found or found != list(range(1, len(found) + 1)):
        raise ValueError(f"params has keys {sorted(keys, key=str)}; expected dense1.w, dense1.b, ..., "
                         "denseL.w, denseL.b")
    return len(found)


def forward(params, x, *, activation="relu", dropout=0.0, training=False, rng=None):
    """x (N, D) -> logits (N, M).

    ``dropout`` is the drop probability after each hidden activation; it only
    acts when ``training`` is true, and then needs ``rng``.
    """
    require_float("x", x)
    require_ndim("x", x, 2, "(N, D)")
    act_forward, _ = get_activation(activation)
    n_layers = num_layers(params)
    use_dropout = training and dropout > 0.0
    h = x
    layer_caches = []
    for i in range(1, n_layers + 1):
        # x is data, not a parameter: skipping its gradient saves a matmul.
        h, dense_cache = dense_forward(h, params[f"dense{i}.w"], params[f"dense{i}.b"], input_grad=i > 1)
        act_cache = drop_cache = None
        if i < n_layers:
            h, act_cache = act_forward(h)
            if use_dropout:
                h, drop_cache = dropout_forward(h, p=dropout, rng=rng, training=True)
        layer_caches.append((dense_cache, act_cache, drop_cache))
    return h, (activation, layer_caches)


def backward(params, cache, dout):
    """dout (N, M), the gradient of the loss wrt the logits -> grads with the keys of ``params``."""
    activation, layer_caches = cache
    _, act_backward = get_activation(activation)
    grads = {}
    d = dout
    for i in range(len(layer_caches), 0, -1):
        dense_cache, act_cache, drop_cache = layer_caches[i - 1]
        if drop_cache is not None:
            d = dropout_backward(d, drop_cache)
        if act_cache is not None:
            d = act_backward(d, act_cache)
        d, grads[f"dense{i}.w"], grads[f"dense{i}.b"] = dense_backward(d, dense_cache)
    return {k: grads[k] for k in params}


def loss_and_grad(params, x, y, *, activation="relu", dropout=0.0, rng=None):
    """Mean softmax cross-entropy of the logits against integer labels y (N,), and its gradient.

    Dropout (when ``dropout > 0``) is active, as this is the training path.
    """
    logits, cache = forward(params, x, activation=activation, dropout=dropout, training=dropout > 0.0, rng=rng)
    loss, loss_cache = softmax_cross_entropy_forward(logits, y)
    dlogits = softmax_cross_entropy_backward(1.0, loss_cache)
    return loss, backward(params, cache, dlogits)


def predict(params, x, *, activation="relu"):
    """x (N, D) -> predicted class labels (N,)."""
    logits, _ = forward(params, x, activation=activation)
    return np.argmax(logits, axis=1)
