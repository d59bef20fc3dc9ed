"""Linear regression y ~ x w + b, solved in closed form or by gradient descent, with ridge and lasso.

Loss (one definition for every solver here)::

    L(w, b) = mean((x w + b - y)^2) + l2 * sum(w^2) + l1 * sum(|w|)

The bias is never penalised. With l1 = 0 the minimiser has a closed form
(:func:`fit_normal_equation`); with l1 > 0 it does not, and
:func:`fit_gradient_descent` takes proximal steps (ISTA) whose soft-threshold
sets small weights exactly to zero, which plain subgradient steps never do.
"""
import numpy as np

from .._validate import require_float, require_ndim, require_shape
from ..ops import dense_backward, dense_forward, mse_backward, mse_forward


def init(rng, num_features, *, scale=0.0, dtype=np.float64):
    """w (D,) and b (1,): zeros by default, or N(0, scale^2) weights."""
    w = (scale * rng.standard_normal(num_features)).astype(dtype) if scale else np.zeros(num_features, dtype)
    return {"w": w, "b": np.zeros(1, dtype)}


def forward(params, x):
    """x (N, D) -> predictions (N,)."""
    require_float("x", x)
    require_ndim("x", x, 2, "(N, D)")
    out, cache = dense_forward(x, params["w"][:, None], params["b"], input_grad=False)
    return out[:, 0], cache


def backward(params, cache, dout):
    """dout (N,), gradient wrt the predictions -> {"w": (D,), "b": (1,)} (data term only)."""
    _, dw, db = dense_backward(dout[:, None], cache)
    return {"w": dw[:, 0], "b": db}


def _check_targets(y, pred):
    require_float("y", y)
    require_shape("y", y, pred.shape, "(N,)")
    if y.dtype != pred.dtype:
        raise ValueError(f"y has dtype {y.dtype}; expected {pred.dtype} to match x")


def loss_and_grad(params, x, y, *, l2=0.0, l1=0.0):
    """The loss in the module docstring and its (sub)gradient; sign(0) = 0 for the L1 term."""
    pred, cache = forward(params, x)
    _check_targets(y, pred)
    data_loss, loss_cache = mse_forward(pred, y)
    grads = backward(params, cache, mse_backward(1.0, loss_cache))
    w = params["w"]
    loss = data_loss + l2 * np.sum(w * w) + l1 * np.sum(np.abs(w))
    grads["w"] = grads["w"] + (2 * l2) * w + l1 * np.sign(w)
    return w.dtype.type(loss), grads


def fit_normal_equation(x, y, *, l2=0.0):
    """Closed-form minimiser of the loss with l1 = 0.

    Centring x and y removes the (unpenalised) bias from the system; the
    weights then solve ``min ||xc w - yc||^2 + N l2 ||w||^2`` as an augmented
    least-squares problem ``[xc; sqrt(N l2) I] w = [yc; 0]`` with ``lstsq``
    (SVD-based), which stays accurate where forming x^T x would square the
    condition number. The bias is ``mean(y) - mean(x) w``.
    """
    require_float("x", x)
    require_ndim("x", x, 2, "(N, D)")
    require_float("y", y)
    require_shape("y", y, (x.shape[0],), "(N,)")
    if l2 < 0:
        raise ValueError(f"l2 is {l2}; expected >= 0")
    n, d = x.shape
    x_mean, y_mean = x.mean(axis=0), y.mean()
    a, rhs = x - x_mean, y - y_mean
    if l2 > 0:
        a = np.vstack([a, np.sqrt(n * l2) * np.eye(d, dtype=x.dtype)])
        rhs = np.concatenate([rhs, np.zeros(d, dtype=y.dtype)])
    w, *_ = np.linalg.lstsq(a, rhs, rcond=None)
    b = y_mean - x_mean @ w
    return {"w": w.astype(x.dtype), "b": np.array([b], dtype=x.dtype)}


def fit_gradient_descent(x, y, *, lr=0.1, steps=1000, l2=0.0, l1=0.0, params=None, tol=0.0):
    """Batch gradient descent on the loss; the L1 term by a proximal (soft-threshold) step.

    Each step: ``w <- w - lr * grad(data + l2 term)``, then
    ``w <- sign(w) * max(|w| - lr*l1, 0)``. Stops early when the largest
    parameter change falls below ``tol``. Returns ``(params, losses)``.
    """
    if params is None:
        params = init(None, x.shape[1], dtype=x.dtype)
    w, b = params["w"].copy(), params["b"].copy()
    losses = []
    for _ in range(int(steps)):
        loss, grads = loss_and_grad({"w": w, "b": b}, x, y, l2=l2)
        losses.append(float(loss + l1 * np.sum(np.abs(w))))
        w_new = w - lr * grads["w"]
        if l1 > 0:
            w_new = np.sign(w_new) * np.maximum(np.abs(w_new) - lr * l1, 0)
        b_new = b - lr * grads["b"]
        change = max(np.max(np.abs(w_new - w)), np.max(np.abs(b_new - b)))
        w, b = w_new.astype(x.dtype), b_new.astype(x.dtype)
        if change < tol:
            break
    return {"w": w, "b": b}, losses


def predict(params, x):
    """x (N, D) -> predictions (N,)."""
    return forward(params, x)[0]
