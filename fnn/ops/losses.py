"""Scalar losses: ``<loss>_forward(pred, target, ...) -> (loss, cache)``,
``<loss>_backward(dloss, cache) -> dpred``.

The loss is a NumPy scalar of pred's dtype, averaged over elements (or over
non-ignored positions for cross-entropy). ``dloss`` is the upstream gradient
of whatever consumes the loss, a Python or NumPy real (1.0 when the loss is
the objective); it is cast to pred's dtype so float32 stays float32.

The two logit losses never exponentiate a positive number, so logits of any
finite size give finite losses and gradients without RuntimeWarnings.
"""
import math
import numbers

import numpy as np

from kernels.softmax_xent import softmax_xent_rows

from .._validate import describe, require_dtype, require_float, require_labels, require_min_ndim, require_shape
from .activations import _sigmoid

__all__ = [
    "mse_forward", "mse_backward",
    "mae_forward", "mae_backward",
    "bce_with_logits_forward", "bce_with_logits_backward",
    "softmax_cross_entropy_forward", "softmax_cross_entropy_backward",
]


def _require_nonempty(name, a):
    if a.size == 0:
        raise ValueError(f"{name} has shape {a.shape}; expected at least one element to average over")


def _require_target(pred, target):
    require_float("target", target)
    require_shape("target", target, pred.shape, "pred.shape")
    require_dtype("target", target, pred.dtype, "pred")


def _dloss(dloss):
    """The upstream scalar gradient as a finite real, checked before it scales anything."""
    if isinstance(dloss, np.ndarray) and dloss.ndim == 0:
        dloss = dloss.item()
    if isinstance(dloss, bool) or not isinstance(dloss, numbers.Real) or not math.isfinite(dloss):
        raise ValueError(f"dloss is {dloss!r}; expected a finite real scalar (usually 1.0)")
    return float(dloss)


# -- regression ---------------------------------------------------------------

def mse_forward(pred, target):
    """pred (...), target (...) -> loss () = mean((pred - target)^2) over all elements."""
    require_float("pred", pred)
    _require_nonempty("pred", pred)
    _require_target(pred, target)
    diff = pred - target
    loss = pred.dtype.type(np.mean(diff * diff))
    return loss, diff


def mse_backward(dloss, cache):
    """dloss () -> dpred (...) = dloss * 2 (pred - target) / size."""
    diff = cache
    scale = diff.dtype.type(2 * _dloss(dloss) / diff.size)
    return diff * scale


def mae_forward(pred, target):
    """pred (...), target (...) -> loss () = mean(|pred - target|) over all elements."""
    require_float("pred", pred)
    _require_nonempty("pred", pred)
    _require_target(pred, target)
    diff = pred - target
    loss = pred.dtype.type(np.mean(np.abs(diff)))
    return loss, np.sign(diff)


def mae_backward(dloss, cache):
    """dloss () -> dpred (...) = dloss * sign(pred - target) / size (subgradient 0 at ties)."""
    sign = cache
    return sign * sign.dtype.type(_dloss(dloss) / sign.size)


# -- binary cross-entropy on logits -------------------------------------------

def _softplus(z):
    """log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|)); exp only sees non-positive numbers."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def _pos_weight(pos_weight, logits):
    """None, or pos_weight as a scalar or (C,) array in logits' dtype (C = logits.shape[-1])."""
    if pos_weight is None:
        return None
    if isinstance(pos_weight, np.ndarray) and pos_weight.ndim > 0:
        require_float("pos_weight", pos_weight)
        require_dtype("pos_weight", pos_weight, logits.dtype, "logits")
        C = logits.shape[-1]
        if pos_weight.shape != (C,):
            raise ValueError(
                f"pos_weight has shape {pos_weight.shape}; expected a scalar or (C,) = ({C},), "
                f"broadcast over the last axis of logits {logits.shape}"
            )
        weight = pos_weight
    elif isinstance(pos_weight, (numbers.Real, np.ndarray)) and not isinstance(pos_weight, bool):
        weight = logits.dtype.type(pos_weight)
    else:
        raise ValueError(f"pos_weight has {describe(pos_weight)}; expected None, a real scalar or a (C,) array")
    if not np.all(np.isfinite(weight)) or np.any(weight < 0):
        shown = weight.item() if np.ndim(weight) == 0 else weight
        raise ValueError(f"pos_weight is {shown!r}; expected finite non-negative weights")
    return weight


def bce_with_logits_forward(logits, target, *, pos_weight=None):
    """logits (N, ...), target (N, ...) in [0, 1] -> loss () = mean binary cross-entropy.

    Per element, with s = sigmoid(x) and w = pos_weight (1 when None):
        l = -[w y log s + (1 - y) log(1 - s)] = w y softplus(-x) + (1 - y) softplus(x)
    using log s = -softplus(-x) and log(1 - s) = -softplus(x), which never
    overflow. This is PyTorch's ``BCEWithLogitsLoss(pos_weight=...)``: the
    weight multiplies only the positive term and broadcasts over the last axis.
    """
    require_float("logits", logits)
    require_min_ndim("logits", logits, 1, "(N, ...)")
    _require_nonempty("logits", logits)
    require_float("target", target)
    require_shape("target", target, logits.shape, "logits.shape")
    require_dtype("target", target, logits.dtype, "logits")
    if not np.all((target >= 0) & (target <= 1)):
        bad = target[~((target >= 0) & (target <= 1))][0].item()
        raise ValueError(f"target contains {bad!r}; expected values in [0, 1]")
    weight = _pos_weight(pos_weight, logits)
    positive = target * _softplus(-logits)
    if weight is not None:
        positive = positive * weight
    per_element = positive + (1 - target) * _softplus(logits)
    loss = logits.dtype.type(np.mean(per_element))
    return loss, (_sigmoid(logits), target, weight)


def bce_with_logits_backward(dloss, cache):
    """dloss () -> dlogits (N, ...) = dloss * [w y (s - 1) + (1 - y) s] / size.

    Without pos_weight that is the familiar dloss * (s - y) / size.
    """
    s, y, weight = cache
    if weight is None:
        g = s - y
    else:
        g = weight * y * (s - 1) + (1 - y) * s
    return g * s.dtype.type(_dloss(dloss) / s.size)


# -- softmax cross-entropy ----------------------------------------------------

def softmax_cross_entropy_forward(logits, labels, *, ignore_index=-100):
    """logits (N, V) or (N, T, V), labels (N,) or (N, T) integer -> loss () = mean -log softmax(logits)[label].

    Log-softmax is fused: with z = logits - max, log p[label] = z[label] - log sum exp z,
    so nothing overflows. Positions whose label equals ``ignore_index`` add
    nothing and are not counted; the mean is over the rest. If every label is
    ignored the loss is 0 and the gradient is zero (PyTorch returns NaN there;
    0 keeps a fully padded batch from poisoning a training run).
    """
    require_float("logits", logits)
    if logits.ndim not in (2, 3):
        raise ValueError(f"logits has shape {logits.shape}; expected 2 axes (N, V) or 3 axes (N, T, V)")
    V = logits.shape[-1]
    if V == 0:
        raise ValueError(f"logits has shape {logits.shape}; expected at least one class (V >= 1)")
    letters = "(N,)" if logits.ndim == 2 else "(N, T)"
    require_labels("labels", labels, logits.shape[:-1], letters)
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, numbers.Integral):
        raise ValueError(f"ignore_index is {ignore_index!r}; expected an integer")

    z = np.ascontiguousarray(logits.reshape(-1, V))
    flat_labels = labels.reshape(-1)
    # One label dtype for the kernel: a compiled specialisation per integer type would cost compile time.
    kernel_labels = np.ascontiguousarray(flat_labels, dtype=np.int64)
    grad = np.empty_like(z)
    # One fused pass per row (kernels.softmax_xent): exp only sees z - max z <= 0.
    loss_sum, count, bad_row = softmax_xent_rows(z, kernel_labels, ignore_index, grad)
    if bad_row >= 0:
        where = tuple(int(i) for i in np.unravel_index(bad_row, labels.shape))
        raise ValueError(
            f"labels contains {int(flat_labels[bad_row])} at index {where}; expected class indices in "
            f"[0, V) = [0, {V}) or ignore_index = {ignore_index}"
        )
    loss = logits.dtype.type(0) if count == 0 else logits.dtype.type(loss_sum / count)
    return loss, (grad, count, logits.shape)


def softmax_cross_entropy_backward(dloss, cache):
    """dloss () -> dlogits shaped like logits = dloss * (softmax - onehot) / count.

    Rows of ignored positions are zero; everything is zero when all are ignored.
    """
    grad, count, shape = cache
    scale = _dloss(dloss)
    if count == 0:
        return np.zeros(shape, dtype=grad.dtype)
    return (grad * grad.dtype.type(scale / count)).reshape(shape)
