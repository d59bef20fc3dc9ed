"""The loss of every model in ``fnn.models``, in plain NumPy over the same flat param dicts.

``<model>_loss(params, x, y, **hyperparameters) -> loss ()`` takes the
hyperparameters of ``<model>.loss_and_grad`` and returns the same loss;
``fnn.tape.grad`` of it is the independent check of the model's gradients.
"""
import re

import numpy as np

from .ops import (
    bce_with_logits,
    dropout as dropout_reference,
    flatten,
    gelu,
    leaky_relu,
    relu,
    sigmoid,
    softmax_cross_entropy,
    tanh,
)
from .spatial import conv2d, maxpool2d

__all__ = [
    "REFERENCE_ACTIVATIONS", "perceptron_loss", "linear_regression_loss", "logistic_regression_loss",
    "mlp_loss", "cnn_loss",
]

REFERENCE_ACTIVATIONS = {
    "sigmoid": sigmoid,
    "tanh": tanh,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "gelu": gelu,
}
"""Activation name (as in ``fnn.ops.ACTIVATIONS``) -> reference forward with default hyperparameters."""


def perceptron_loss(params, x, y, *, rule="perceptron"):
    """x (N, D), y (N,) of 0/1 -> () with scores z = x w + b and bipolar targets s = 2y - 1.

    "perceptron": mean(max(0, -s z)), the perceptron criterion.
    "delta": 0.5 mean((s - z)^2), the Widrow-Hoff (ADALINE) loss on bipolar targets.
    """
    z = x @ params["w"] + params["b"]                                 # (N,)
    s = 2 * y.astype(z.dtype) - 1
    if rule == "perceptron":
        return np.maximum(-s * z, 0).mean()
    if rule == "delta":
        return 0.5 * np.mean((s - z) ** 2)
    raise ValueError(f"rule is {rule!r}; expected 'perceptron' or 'delta'")


def linear_regression_loss(params, x, y, *, l2=0.0, l1=0.0):
    """x (N, D), y (N,) -> () mean((x w + b - y)^2) + l2 sum(w^2) + l1 sum(|w|); b unpenalised."""
    w = params["w"]
    residual = x @ w + params["b"] - y
    return np.mean(residual ** 2) + l2 * np.sum(w ** 2) + l1 * np.sum(np.abs(w))


def logistic_regression_loss(params, x, y, *, l2=0.0, pos_weight=None):
    """x (N, D), y (N,) -> () cross-entropy + l2 sum(w^2).

    Binary when w is (D,): binary cross-entropy of the logits x w + b against
    y in {0, 1}. Multiclass when w is (D, V): softmax cross-entropy against
    integer labels y.
    """
    w = params["w"]
    logits = x @ w + params["b"]
    if w.ndim == 1:
        data = bce_with_logits(logits, np.asarray(y).astype(logits.dtype), pos_weight=pos_weight)
    else:
        data = softmax_cross_entropy(logits, y)
    return data + l2 * np.sum(w * w)


def _layer_count(params):
    return max(int(m.group(1)) for k in params if (m := re.fullmatch(r"dense(\d+)\.w", k)))


def mlp_loss(params, x, y, *, activation="relu", dropout=0.0, rng=None):
    """x (N, D), y (N,) integer labels -> () mean softmax cross-entropy of the MLP's logits.

    h = x; for each hidden layer i: h = dropout(act(h w_i + b_i)); logits = h w_L + b_L.
    Dropout (when > 0) draws its masks from ``rng`` in the order the model
    does, so the same seed gives the same masks.
    """
    act = REFERENCE_ACTIVATIONS[activation]
    n_layers = _layer_count(params)
    h = x
    for i in range(1, n_layers):
        h = act(h @ params[f"dense{i}.w"] + params[f"dense{i}.b"])
        if dropout > 0:
            h = dropout_reference(h, p=dropout, rng=rng, training=True)
    logits = h @ params[f"dense{n_layers}.w"] + params[f"dense{n_layers}.b"]
    return softmax_cross_entropy(logits, y)


def cnn_loss(params, x, y, *, config=None):
    """x (N, C, H, W), y (N,) integer labels -> () mean softmax cross-entropy of the LeNet-style CNN.

    For each conv layer i: h = maxpool(relu(conv(h, w_i, b_i, padding=p_i)), pool);
    then h = flatten(h), relu(dense) for the hidden layers and a last dense to
    the logits. ``config`` is an ``fnn.models.cnn.Config`` (only its
    ``conv_padding`` and ``pool_size`` are read; the rest is in the param
    shapes); None means LeNet-5's: paddings (2, 0) and 2x2 pools.
    """
    paddings = (2, 0) if config is None else tuple(config.conv_padding)
    pool = 2 if config is None else config.pool_size
    h = x
    for i, pad in enumerate(paddings, start=1):
        h = relu(conv2d(h, params[f"conv{i}.w"], params[f"conv{i}.b"], padding=pad))   # (N, F_i, H', W')
        h = maxpool2d(h, kernel_size=pool)
    h = flatten(h)                                                                       # (N, F*H*W)
    n_dense = _layer_count(params)
    for i in range(1, n_dense):
        h = relu(h @ params[f"dense{i}.w"] + params[f"dense{i}.b"])
    logits = h @ params[f"dense{n_dense}.w"] + params[f"dense{n_dense}.b"]
    return softmax_cross_entropy(logits, y)
