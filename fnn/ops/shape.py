"""Shape-only ops: no arithmetic, so their backward is the inverse reshape."""
import numpy as np

from .._validate import require_dout, require_float

__all__ = ["flatten_forward", "flatten_backward"]


def flatten_forward(x, *, start_axis=1):
    """x (N, C, H, W) -> out (N, C*H*W); in general x (A0, ..., Ak, ...) -> (A0, ..., prod(rest)).

    Axes before ``start_axis`` are kept and the rest are merged into one
    (``start_axis=0`` gives a 1-D array; negative values count from the end).
    ``out`` is a view of ``x`` when x's memory allows it, like ``np.reshape``,
    so writing into ``out`` writes into ``x``. The cache holds only x's shape
    and dtype, never the data, so nothing a caller writes later can change
    what the backward returns.
    """
    require_float("x", x)
    if x.ndim == 0:
        raise ValueError(f"x has shape {x.shape}; expected at least 1 axis to flatten")
    if isinstance(start_axis, bool) or not isinstance(start_axis, (int, np.integer)):
        raise ValueError(f"start_axis is {start_axis!r}; expected an int")
    if not -x.ndim <= start_axis < x.ndim:
        raise ValueError(
            f"start_axis is {start_axis} for x of shape {x.shape}; expected {-x.ndim} <= start_axis < {x.ndim}"
        )
    keep = x.shape[: start_axis % x.ndim]
    merged = int(np.prod(x.shape[start_axis % x.ndim:], dtype=np.int64))
    return x.reshape(keep + (merged,)), (x.shape, x.dtype, keep + (merged,))


def flatten_backward(dout, cache):
    """dout (N, C*H*W) -> dx (N, C, H, W): dout reshaped back to x's shape (a view when possible)."""
    x_shape, dtype, out_shape = cache
    require_dout(dout, out_shape, dtype, "the flattened output's shape")
    return dout.reshape(x_shape)
