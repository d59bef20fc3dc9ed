"""Rosenblatt's perceptron and Widrow-Hoff's ADALINE (delta rule): one neuron, a step output.

The neuron computes a score ``z = x w + b`` and predicts ``step(z)`` (1 when
z >= 0, else 0). The step has no useful derivative, so the two classic rules
learn from the score instead:

* perceptron rule: ``w += lr (y - step(z)) x``. It is gradient descent on the
  perceptron criterion ``mean(max(0, -s z))`` with s = 2y - 1 in {-1, +1}: only
  misclassified points contribute, each pushing z towards its side.
* delta rule (ADALINE): ``w += lr (s - z) x``, gradient descent on
  ``0.5 mean((s - z)^2)``. Targets are bipolar, s = 2y - 1, as Widrow and Hoff
  used them: the least-squares fit then puts the decision boundary at z = 0,
  the same threshold the step uses (0/1 targets would put it at 0.5).

Both converge only when a line separates the classes; XOR has no such line.
"""
import numpy as np

from .._validate import require_float, require_ndim, require_shape
from ..ops import dense_backward, dense_forward, step_forward

RULES = ("perceptron", "delta")


def init(rng, num_features, *, scale=0.0, dtype=np.float32):
    """Weights w (D,) and bias b (1,): zeros by default (the classic start), or N(0, scale^2)."""
    w = (scale * rng.standard_normal(num_features)).astype(dtype) if scale else np.zeros(num_features, dtype)
    return {"w": w, "b": np.zeros(1, dtype)}


def forward(params, x):
    """x (N, D) -> scores z (N,) = x w + b. Class predictions are ``step(z)``; see :func:`predict`."""
    require_float("x", x)
    require_ndim("x", x, 2, "(N, D)")
    z, cache = dense_forward(x, params["w"][:, None], params["b"], input_grad=False)
    return z[:, 0], cache


def backward(params, cache, dout):
    """dout (N,), a gradient wrt the scores -> {"w": (D,), "b": (1,)}."""
    _, dw, db = dense_backward(dout[:, None], cache)
    return {"w": dw[:, 0], "b": db}


def _check_rule(rule):
    if rule not in RULES:
        raise ValueError(f"rule is {rule!r}; expected one of {RULES}")


def _check_targets(y, z):
    if not isinstance(y, np.ndarray):
        raise ValueError(f"y has type {type(y).__name__}; expected a numpy array of 0/1 targets (N,)")
    require_shape("y", y, z.shape, "(N,)")


def loss_and_grad(params, x, y, *, rule="perceptron"):
    """The rule's loss (see module doc) and its gradient; y (N,) holds 0/1 targets.

    One SGD step with learning rate lr on these gradients is exactly the rule's
    batch update ``w += lr * mean((y - output) x)``.
    """
    _check_rule(rule)
    z, cache = forward(params, x)
    _check_targets(y, z)
    y = y.astype(z.dtype, copy=False)
    n = z.shape[0]
    s = 2 * y - 1
    if rule == "perceptron":
        margin = -s * z
        loss = np.maximum(margin, 0).mean()
        dz = np.where(margin > 0, -s, 0).astype(z.dtype) / z.dtype.type(n)
    else:
        r = z - s
        loss = 0.5 * np.mean(r * r)
        dz = r / z.dtype.type(n)
    return z.dtype.type(loss), backward(params, cache, dz)


def predict(params, x):
    """x (N, D) -> 0/1 predictions (N,) in x's dtype."""
    z, _ = forward(params, x)
    return step_forward(z)[0]


def update(params, x_i, y_i, *, lr=1.0, rule="perceptron"):
    """One online step on a single example x_i (D,), y_i in {0, 1}: the rule as Rosenblatt wrote it.

    Returns ``(new_params, error)``. Perceptron rule: error = y_i - step(z), in
    {-1, 0, 1}. Delta rule: error = s_i - z with the bipolar target
    s_i = 2 y_i - 1. Pure: ``params`` is not modified.
    """
    _check_rule(rule)
    z = float(x_i @ params["w"] + params["b"][0])
    if rule == "perceptron":
        error = float(y_i) - (1.0 if z >= 0 else 0.0)
    else:
        error = (2.0 * float(y_i) - 1.0) - z
    dtype = params["w"].dtype.type
    return {"w": params["w"] + dtype(lr * error) * x_i.astype(params["w"].dtype), "b": params["b"] + dtype(lr * error)}, error
