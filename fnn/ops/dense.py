"""Fully connected (affine) layer."""
import numpy as np

from .._validate import (
    FLOAT_DTYPES, require_dout, require_dtype, require_float, require_min_ndim, require_ndim, require_shape,
)

__all__ = ["dense_forward", "dense_backward"]


def dense_forward(x, w, b, *, input_grad=True):
    """x (..., D), w (D, M), b (M,) -> out (..., M) = x @ w + b.

    Leading axes of ``x`` are batch axes: (N, D) and (N, T, D) both work.
    Returns ``(out, cache)``; the cache holds the inputs the backward needs.
    ``input_grad=False`` marks ``x`` as data (PyTorch's ``requires_grad=False``):
    the backward then returns ``dx = None`` and skips a matrix product, which
    is a third of a first layer's backward cost.
    """
    # One expression for the common, valid call; the checks below it only
    # run to name what is wrong (they cost several microseconds per call).
    if not (isinstance(x, np.ndarray) and isinstance(w, np.ndarray) and isinstance(b, np.ndarray)
            and x.dtype in FLOAT_DTYPES and w.dtype == x.dtype and b.dtype == x.dtype
            and w.ndim == 2 and x.ndim >= 1 and x.shape[-1] == w.shape[0] and b.shape == (w.shape[1],)):
        _check_arguments(x, w, b)
    out = x @ w
    out += b
    return out, (x, w, input_grad)


def _check_arguments(x, w, b):
    """The checks one by one, each with its own message."""
    require_float("x", x)
    require_min_ndim("x", x, 1, "(..., D)")
    require_float("w", w)
    require_ndim("w", w, 2, "(D, M)")
    require_dtype("w", w, x.dtype, "x")
    D, M = w.shape
    if x.shape[-1] != D:
        raise ValueError(f"x has shape {x.shape}; expected (..., D) with D = {D}, the first axis of w {w.shape}")
    require_float("b", b)
    require_shape("b", b, (M,), "(M,)")
    require_dtype("b", b, x.dtype, "x")


def dense_backward(dout, cache):
    """dout (..., M) -> (dx (..., D) or None, dw (D, M), db (M,)).

    With out = x w + b:  dx = dout w^T,  dw = x^T dout,  db = sum of dout over batch axes.
    """
    x, w, input_grad = cache
    D, M = w.shape
    require_dout(dout, x.shape[:-1] + (M,), x.dtype, "(..., M)")
    x2 = x.reshape(-1, D)
    d2 = dout.reshape(-1, M)
    dx = (d2 @ w.T).reshape(x.shape) if input_grad else None
    dw = x2.T @ d2
    db = d2.sum(axis=0)
    return dx, dw, db
