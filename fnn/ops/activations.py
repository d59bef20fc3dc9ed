"""Elementwise activations and softmax, each a forward/backward pair.

Every forward takes ``x`` of any shape (...) and returns ``out`` of the same
shape and dtype; every backward takes ``dout`` shaped like ``out`` and returns
``dx`` shaped like ``x``. Caches hold only what the backward reads: sigmoid
and tanh their output, relu a mask, gelu its input and Phi(x) (or the tanh).

``ACTIVATIONS`` maps a name to its ``(forward, backward)`` pair so a model can
take ``activation="tanh"``; :func:`get_activation` looks one up with a clear
error.
"""
import math
import numbers

import numpy as np

from kernels.relu import relu_backward_into, relu_forward_into
from kernels.special import erf_into

from .._validate import require_dout, require_float, require_min_ndim

__all__ = [
    "step_forward", "step_backward",
    "sigmoid_forward", "sigmoid_backward",
    "tanh_forward", "tanh_backward",
    "relu_forward", "relu_backward",
    "leaky_relu_forward", "leaky_relu_backward",
    "gelu_forward", "gelu_backward",
    "softmax_forward", "softmax_backward",
    "ACTIVATIONS", "get_activation",
]


def _check_dout(dout, shape, dtype):
    require_dout(dout, shape, dtype, "x.shape")


def _erf(x):
    """x (...) float32/float64 -> erf(x) (...) in x's dtype, via the Numba kernel."""
    require_float("x", x)
    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty_like(flat)
    erf_into(flat, out)
    return out.reshape(x.shape)


def _sigmoid(x):
    """1 / (1 + exp(-x)) without overflow: exp only ever sees -|x| <= 0.

    For x >= 0 it is 1 / (1 + e) and for x < 0 it is e / (1 + e), with
    e = exp(-|x|) in (0, 1]; e may underflow to 0, which is the right limit.
    """
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


# -- step (Heaviside) -------------------------------------------------------

def step_forward(x):
    """x (...) -> out (...) = 1 where x >= 0 else 0, in x's dtype.

    The perceptron's activation. Its derivative is zero almost everywhere, so
    :func:`step_backward` refuses rather than return a gradient that cannot train.
    """
    require_float("x", x)
    return (x >= 0).astype(x.dtype), None


def step_backward(dout, cache):
    """Always raises: the step function has no useful gradient."""
    raise ValueError(
        "step has derivative 0 almost everywhere (undefined at 0), so backprop through it "
        "cannot train anything; train a step unit with the perceptron rule in "
        "fnn.models.perceptron, or use 'sigmoid' as a differentiable stand-in"
    )


# -- sigmoid, tanh -----------------------------------------------------------

def sigmoid_forward(x):
    """x (...) -> out (...) = 1 / (1 + exp(-x)); overflow-free for any finite x."""
    require_float("x", x)
    out = _sigmoid(x)
    return out, out


def sigmoid_backward(dout, cache):
    """dout (...) -> dx (...) = dout * s * (1 - s), with s the cached output."""
    s = cache
    _check_dout(dout, s.shape, s.dtype)
    return dout * s * (1 - s)


def tanh_forward(x):
    """x (...) -> out (...) = tanh(x)."""
    require_float("x", x)
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, cache):
    """dout (...) -> dx (...) = dout * (1 - y^2), with y the cached output."""
    y = cache
    _check_dout(dout, y.shape, y.dtype)
    return dout * (1 - y * y)


# -- relu, leaky relu ----------------------------------------------------------

def relu_forward(x):
    """x (...) -> out (...) = max(x, 0) (a NaN stays NaN). The cache is the boolean mask x > 0."""
    require_float("x", x)
    # One pass in a kernel: NumPy's maximum and comparison are two, and maximum's is a scalar loop.
    out = np.empty(x.shape, dtype=x.dtype)
    mask = np.empty(x.shape, dtype=bool)
    relu_forward_into(np.ascontiguousarray(x).reshape(-1), out.reshape(-1), mask.reshape(-1))
    return out, (mask, x.dtype)


def relu_backward(dout, cache):
    """dout (...) -> dx (...) = dout where x > 0 else 0 (subgradient 0 at x = 0)."""
    mask, dtype = cache
    _check_dout(dout, mask.shape, dtype)
    dx = np.empty(mask.shape, dtype=dtype)
    relu_backward_into(np.ascontiguousarray(dout).reshape(-1), mask.reshape(-1), dx.reshape(-1))
    return dx


def _require_slope(slope):
    if isinstance(slope, bool) or not isinstance(slope, numbers.Real) or not math.isfinite(slope):
        raise ValueError(f"slope is {slope!r}; expected a finite real number (the gradient for x < 0)")


def leaky_relu_forward(x, *, slope=0.01):
    """x (...) -> out (...) = x where x > 0 else slope * x."""
    require_float("x", x)
    _require_slope(slope)
    # A NumPy float64 slope would promote a float32 x under NEP 50; pin its dtype.
    slope = x.dtype.type(slope)
    mask = x > 0
    return np.where(mask, x, x * slope), (mask, slope)


def leaky_relu_backward(dout, cache):
    """dout (...) -> dx (...) = dout where x > 0 else slope * dout."""
    mask, slope = cache
    _check_dout(dout, mask.shape, slope.dtype)
    return np.where(mask, dout, dout * slope)


# -- gelu ---------------------------------------------------------------------

_GELU_MODES = ("none", "tanh")
_TANH_CUBIC = 0.044715


def gelu_forward(x, *, approximate="none"):
    """x (...) -> out (...) = x * Phi(x), Phi the standard normal CDF.

    ``approximate="none"``: Phi(x) = (1 + erf(x / sqrt 2)) / 2, exact.
    ``approximate="tanh"``: Phi(x) ~ (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2,
    the approximation of Hendrycks & Gimpel (GPT-2's GELU). Matches PyTorch's
    ``F.gelu(x, approximate=...)``.
    """
    require_float("x", x)
    if approximate not in _GELU_MODES:
        raise ValueError(f"approximate is {approximate!r}; expected one of {_GELU_MODES}")
    t = x.dtype.type
    if approximate == "none":
        cdf = t(0.5) * (1 + _erf(x * t(1 / math.sqrt(2))))
        return x * cdf, ("none", x, cdf)
    u = t(math.sqrt(2 / math.pi)) * (x + t(_TANH_CUBIC) * x * x * x)
    th = np.tanh(u)
    return t(0.5) * x * (1 + th), ("tanh", x, th)


def gelu_backward(dout, cache):
    """dout (...) -> dx (...).

    Exact: d/dx [x Phi(x)] = Phi(x) + x phi(x), phi(x) = exp(-x^2/2) / sqrt(2 pi).
    Tanh: with g = tanh(u), u = c (x + a x^3):
    d/dx [x (1 + g) / 2] = (1 + g) / 2 + x (1 - g^2) c (1 + 3 a x^2) / 2.
    """
    mode, x, aux = cache
    _check_dout(dout, x.shape, x.dtype)
    t = x.dtype.type
    if mode == "none":
        pdf = t(1 / math.sqrt(2 * math.pi)) * np.exp(t(-0.5) * x * x)
        return dout * (aux + x * pdf)
    th = aux
    du = t(math.sqrt(2 / math.pi)) * (1 + t(3 * _TANH_CUBIC) * x * x)
    return dout * (t(0.5) * (1 + th) + t(0.5) * x * (1 - th * th) * du)


# -- softmax ------------------------------------------------------------------

def _normalize_axis(axis, ndim):
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral) or not -ndim <= axis < ndim:
        raise ValueError(f"axis is {axis!r}; expected an integer in [-{ndim}, {ndim}) for x with {ndim} axes")
    return int(axis) % ndim


def softmax_forward(x, *, axis=-1):
    """x (..., V) -> out (..., V) = exp(x) / sum exp(x) along ``axis`` (default the last).

    The max along ``axis`` is subtracted first so exp never overflows; the
    result is unchanged because softmax is shift-invariant.
    """
    require_float("x", x)
    require_min_ndim("x", x, 1, "(..., V)")
    axis = _normalize_axis(axis, x.ndim)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    out = e / e.sum(axis=axis, keepdims=True)
    return out, (out, axis)


def softmax_backward(dout, cache):
    """dout (..., V) -> dx (..., V) = y * (dout - sum(dout * y)) along the softmax axis.

    That is the Jacobian-vector product with J = diag(y) - y y^T, without
    forming the V x V Jacobian.
    """
    y, axis = cache
    _check_dout(dout, y.shape, y.dtype)
    return y * (dout - (dout * y).sum(axis=axis, keepdims=True))


ACTIVATIONS = {
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "tanh": (tanh_forward, tanh_backward),
    "relu": (relu_forward, relu_backward),
    "leaky_relu": (leaky_relu_forward, leaky_relu_backward),
    "gelu": (gelu_forward, gelu_backward),
}


def get_activation(name):
    """The ``(forward, backward)`` pair for ``name``, a key of ``ACTIVATIONS``."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"activation is {name!r}; expected one of {sorted(ACTIVATIONS)}") from None
