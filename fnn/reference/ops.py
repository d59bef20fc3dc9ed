"""Reference forwards of the dense layer, activations, dropout, losses and flatten.

Plain NumPy on elementary operations only, so :mod:`fnn.tape` can
differentiate every line; each returns the value of the matching
``fnn.ops.<name>_forward`` (without a cache). Constants are Python numbers,
which NumPy treats as weakly typed: float32 inputs give float32 outputs.
"""
import math

import numpy as np

from ..tape import erf

__all__ = [
    "dense", "step", "sigmoid", "tanh", "relu", "leaky_relu", "gelu", "softmax", "dropout",
    "mse", "mae", "bce_with_logits", "softmax_cross_entropy", "flatten",
]


def dense(x, w, b):
    """x (..., D), w (D, M), b (M,) -> (..., M) = x w + b."""
    return x @ w + b


# -- activations ---------------------------------------------------------------

def step(x):
    """x (...) -> (...) 1 where x >= 0 else 0. A comparison: no gradient flows through it."""
    return (x >= 0).astype(x.dtype)


def sigmoid(x):
    """x (...) -> (...) 1 / (1 + exp(-x)), written as (1 + tanh(x / 2)) / 2.

    The two are the same function; the tanh form never overflows, so very
    negative inputs need no special case.
    """
    return 0.5 * (1 + np.tanh(0.5 * x))


def tanh(x):
    """x (...) -> (...) tanh(x)."""
    return np.tanh(x)


def relu(x):
    """x (...) -> (...) max(x, 0)."""
    return np.maximum(x, 0)


def leaky_relu(x, *, slope=0.01):
    """x (...) -> (...) x where x > 0 else slope * x."""
    return np.where(x > 0, x, slope * x)


def gelu(x, *, approximate="none"):
    """x (...) -> (...) x Phi(x), Phi the standard normal CDF.

    "none": Phi(x) = (1 + erf(x / sqrt 2)) / 2 exactly.
    "tanh": Phi(x) ~ (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) / 2.
    """
    if approximate == "none":
        return x * (0.5 * (1 + erf(x * (1 / math.sqrt(2)))))
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)))
    raise ValueError(f"approximate is {approximate!r}; expected 'none' or 'tanh'")


def softmax(x, *, axis=-1):
    """x (..., V) -> (..., V) exp(x) / sum exp(x) along ``axis``.

    Subtracting the max first changes nothing mathematically (softmax is
    shift-invariant) and keeps exp from overflowing.
    """
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def dropout(x, *, p=0.5, rng=None, training=True):
    """x (...) -> (...) inverted dropout: survivors of a Bernoulli(1 - p) mask scaled by 1 / (1 - p).

    The mask is drawn exactly as ``fnn.ops.dropout_forward`` draws it (one
    ``rng.random(x.shape, dtype=x.dtype)`` call, kept where >= p), so a
    generator in the same state gives the same mask. The mask is a constant:
    the gradient flows only through the kept elements.
    """
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0
    keep = rng.random(x.shape, dtype=x.dtype) >= p
    return x * (keep.astype(x.dtype) * x.dtype.type(1 / (1 - p)))


# -- losses ----------------------------------------------------------------------

def mse(pred, target):
    """pred (...), target (...) -> () mean of (pred - target)^2 over all elements."""
    return np.mean((pred - target) ** 2)


def mae(pred, target):
    """pred (...), target (...) -> () mean of |pred - target| over all elements."""
    return np.mean(np.abs(pred - target))


def bce_with_logits(logits, target, *, pos_weight=None):
    """logits (N, ...), target (N, ...) in [0, 1] -> () mean binary cross-entropy of sigmoid(logits).

    With s = sigmoid(x): -log s = log(1 + e^-x) = logaddexp(0, -x) and
    -log(1 - s) = logaddexp(0, x). ``pos_weight`` (scalar or (C,), C the last
    axis) multiplies the positive term only.
    """
    positive = target * np.logaddexp(0, -logits)
    if pos_weight is not None:
        positive = positive * np.asarray(pos_weight, dtype=logits.dtype)
    negative = (1 - target) * np.logaddexp(0, logits)
    return np.mean(positive + negative)


def softmax_cross_entropy(logits, labels, *, ignore_index=-100):
    """logits (N, V) or (N, T, V), labels (N,) or (N, T) -> () mean of -log softmax(logits)[label].

    log softmax(z)[k] = z[k] - log sum_j exp(z[j]) (shifted by max z for
    range). Positions labelled ``ignore_index`` are left out of the sum and
    the count; with none left the loss is 0.
    """
    V = logits.shape[-1]
    z = logits.reshape(-1, V)                                        # (N*T, V)
    labels = labels.reshape(-1)
    rows = np.flatnonzero(labels != ignore_index)                    # positions that count
    cols = labels[rows]
    shifted = z - z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1))                   # (N*T,)
    log_p = shifted[rows, cols] - log_norm[rows]                     # gather the label logits
    return -log_p.sum() / max(rows.size, 1)


# -- shape -------------------------------------------------------------------------

def flatten(x, *, start_axis=1):
    """x (N, C, H, W) -> (N, C*H*W): axes from ``start_axis`` on merged into one."""
    start = start_axis % x.ndim
    return x.reshape(x.shape[:start] + (math.prod(x.shape[start:]),))
