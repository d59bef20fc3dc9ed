"""Logistic regression: binary (sigmoid of one score) and multiclass (softmax of V scores).

Binary: w (D,), b (1,), ``p(y=1|x) = sigmoid(x w + b)``, trained with
binary cross-entropy on logits. Multiclass: w (D, V), b (V,),
``p(y|x) = softmax(x w + b)``, trained with softmax cross-entropy. An optional
``l2`` adds ``l2 * sum(w^2)`` to the loss (bias unpenalised).
"""
import numpy as np

from .._validate import require_float, require_ndim
from ..ops import (
    bce_with_logits_backward,
    bce_with_logits_forward,
    dense_backward,
    dense_forward,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)


def init(rng, num_features, num_classes=2, *, scale=0.01, dtype=np.float32):
    """Binary model when num_classes == 2 (w (D,)), multiclass otherwise (w (D, V))."""
    if num_classes < 2:
        raise ValueError(f"num_classes is {num_classes}; expected >= 2")
    if num_classes == 2:
        return {"w": (scale * rng.standard_normal(num_features)).astype(dtype), "b": np.zeros(1, dtype)}
    w = (scale * rng.standard_normal((num_features, num_classes))).astype(dtype)
    return {"w": w, "b": np.zeros(num_classes, dtype)}


def is_binary(params):
    return params["w"].ndim == 1


def forward(params, x):
    """x (N, D) -> logits (N,) for the binary model, (N, V) for the multiclass one."""
    require_float("x", x)
    require_ndim("x", x, 2, "(N, D)")
    if is_binary(params):
        z, cache = dense_forward(x, params["w"][:, None], params["b"], input_grad=False)
        return z[:, 0], cache
    return dense_forward(x, params["w"], params["b"], input_grad=False)


def backward(params, cache, dout):
    """dout, gradient wrt the logits -> {"w", "b"} (data term only)."""
    if is_binary(params):
        _, dw, db = dense_backward(dout[:, None], cache)
        return {"w": dw[:, 0], "b": db}
    _, dw, db = dense_backward(dout, cache)
    return {"w": dw, "b": db}


def loss_and_grad(params, x, y, *, l2=0.0, pos_weight=None):
    """Cross-entropy (+ l2 penalty) and its gradient.

    Binary: y (N,) of 0/1 in any numeric dtype; ``pos_weight`` up-weights the
    positive class for imbalanced data. Multiclass: y (N,) integer labels.
    """
    logits, cache = forward(params, x)
    if is_binary(params):
        target = np.asarray(y).astype(logits.dtype)
        loss, loss_cache = bce_with_logits_forward(logits, target, pos_weight=pos_weight)
        dlogits = bce_with_logits_backward(1.0, loss_cache)
    else:
        loss, loss_cache = softmax_cross_entropy_forward(logits, y)
        dlogits = softmax_cross_entropy_backward(1.0, loss_cache)
    grads = backward(params, cache, dlogits)
    if l2:
        w = params["w"]
        loss = loss + l2 * np.sum(w * w)
        grads["w"] = grads["w"] + (2 * l2) * w
    return params["w"].dtype.type(loss), grads


def predict_proba(params, x):
    """x (N, D) -> p(y=1) (N,) for the binary model, class probabilities (N, V) otherwise."""
    logits, _ = forward(params, x)
    if is_binary(params):
        # Split by sign so exp never overflows.
        e = np.exp(-np.abs(logits))
        return np.where(logits >= 0, 1 / (1 + e), e / (1 + e))
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def predict(params, x):
    """x (N, D) -> predicted labels (N,)."""
    logits, _ = forward(params, x)
    if is_binary(params):
        return (logits >= 0).astype(np.int64)
    return np.argmax(logits, axis=1)
