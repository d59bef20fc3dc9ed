"""Argument checks shared by every op, model and kernel wrapper.

Each check raises ``ValueError`` naming the argument, what it was and what was
expected, so a user sees ``w has shape (3, 5); expected (D, M) = (4, M)``
rather than an opaque broadcasting error ten frames down. The checks are plain
attribute reads so they cost next to nothing on the training hot path.
"""
import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def describe(a):
    """``shape (2, 3) and dtype float32`` for arrays, the type name otherwise."""
    if isinstance(a, np.ndarray):
        return f"shape {a.shape} and dtype {a.dtype}"
    return f"type {type(a).__name__}"


def require_float(name, a):
    """``a`` must be a float32 or float64 ndarray."""
    if not isinstance(a, np.ndarray) or a.dtype not in FLOAT_DTYPES:
        raise ValueError(f"{name} has {describe(a)}; expected a float32 or float64 numpy array")


def require_ndim(name, a, ndim, letters):
    """``a`` must have ``ndim`` axes; ``letters`` spells the expected shape, e.g. ``(N, D)``."""
    if a.ndim != ndim:
        raise ValueError(f"{name} has shape {a.shape}; expected {ndim} axes {letters}")


def require_min_ndim(name, a, ndim, letters):
    if a.ndim < ndim:
        raise ValueError(f"{name} has shape {a.shape}; expected at least {ndim} axes {letters}")


def require_dtype(name, a, dtype, ref_name):
    """``a`` must share ``dtype`` with the argument ``ref_name`` (no silent promotion)."""
    if a.dtype != dtype:
        raise ValueError(
            f"{name} has dtype {a.dtype}; expected {dtype} to match {ref_name} "
            f"(fnn never promotes silently: cast with .astype({str(dtype)!r}))"
        )


def require_shape(name, a, shape, letters):
    """``a.shape`` must equal ``shape``; ``letters`` names the axes, e.g. ``(N, M)``."""
    if a.shape != tuple(shape):
        raise ValueError(f"{name} has shape {a.shape}; expected {letters} = {tuple(shape)}")


def require_dout(dout, shape, dtype, letters):
    """An upstream gradient ``dout`` for a backward: a float array of ``shape`` in x's ``dtype``.

    The valid case costs one expression (backward passes run every step);
    the separate checks run only to say what is wrong.
    """
    if isinstance(dout, np.ndarray) and dout.dtype == dtype and dout.shape == tuple(shape):
        return
    require_float("dout", dout)
    require_shape("dout", dout, shape, letters)
    require_dtype("dout", dout, dtype, "x")


def require_labels(name, labels, shape, letters):
    """Integer class labels with the given shape."""
    if not isinstance(labels, np.ndarray) or labels.dtype.kind not in "iu":
        raise ValueError(f"{name} has {describe(labels)}; expected an integer numpy array of class labels")
    require_shape(name, labels, shape, letters)


def require_probability(name, p, *, allow_one=False):
    hi_ok = p <= 1.0 if allow_one else p < 1.0
    if not (0.0 <= p and hi_ok):
        upper = "1]" if allow_one else "1)"
        raise ValueError(f"{name} is {p!r}; expected a probability in [0, {upper}")
