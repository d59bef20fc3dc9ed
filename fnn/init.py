"""Weight initialisers: ``fn(rng, shape, *, dtype=np.float32) -> array`` with a fan-based scale.

Layouts fix which axis is "in": dense weights are (D, M) (in, out) and conv
weights are (F, C, KH, KW) (out, in, kernel...), see :func:`fans`.

Values are drawn in float64 and then cast to ``dtype``, so one seed gives the
same weights (up to rounding) whatever the dtype, and the result's dtype is
exactly ``dtype``.
"""
import math

import numpy as np

from ._validate import FLOAT_DTYPES, describe

__all__ = [
    "fans", "he_normal", "he_uniform", "xavier_normal", "xavier_uniform", "lecun_normal", "zeros",
    "get_initializer", "INITIALIZERS",
]


def _require_shape(shape, *, min_dim):
    """A tuple of ints >= ``min_dim``; a bare int means a 1-D shape."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    ok = isinstance(shape, (tuple, list)) and all(
        isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= min_dim for n in shape
    )
    if not ok:
        raise ValueError(f"shape is {shape!r}; expected a tuple of integers >= {min_dim}")
    return tuple(int(n) for n in shape)


def _require_dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in FLOAT_DTYPES:
        raise ValueError(f"dtype is {dtype!r}; expected float32 or float64")
    return dt


def _require_rng(rng):
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng has {describe(rng)}; expected a numpy.random.Generator (np.random.default_rng(seed))")


def fans(shape):
    """(fan_in, fan_out) of a weight of ``shape``.

        (n,)              -> (n, n)
        (D, M)            -> (D, M)                      dense, x @ w
        (F, C, K...)      -> (C * prod(K), F * prod(K))  conv, any number of kernel axes
    """
    shape = _require_shape(shape, min_dim=1)
    if len(shape) == 0:
        raise ValueError("shape is (); expected at least 1 axis (a scalar has no fans)")
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _normal(rng, shape, std, dtype):
    _require_rng(rng)
    dt = _require_dtype(dtype)
    return (rng.standard_normal(_require_shape(shape, min_dim=1)) * std).astype(dt, copy=False)


def _uniform(rng, shape, bound, dtype):
    _require_rng(rng)
    dt = _require_dtype(dtype)
    return rng.uniform(-bound, bound, size=_require_shape(shape, min_dim=1)).astype(dt, copy=False)


def he_normal(rng, shape, *, dtype=np.float32):
    """N(0, std^2) with std = sqrt(2 / fan_in): keeps activation variance through ReLU layers (He et al. 2015)."""
    fan_in, _ = fans(shape)
    return _normal(rng, shape, math.sqrt(2.0 / fan_in), dtype)


def he_uniform(rng, shape, *, dtype=np.float32):
    """U(-b, b) with b = sqrt(6 / fan_in) (the same variance as :func:`he_normal`)."""
    fan_in, _ = fans(shape)
    return _uniform(rng, shape, math.sqrt(6.0 / fan_in), dtype)


def xavier_normal(rng, shape, *, dtype=np.float32):
    """N(0, std^2) with std = sqrt(2 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    fan_in, fan_out = fans(shape)
    return _normal(rng, shape, math.sqrt(2.0 / (fan_in + fan_out)), dtype)


def xavier_uniform(rng, shape, *, dtype=np.float32):
    """U(-b, b) with b = sqrt(6 / (fan_in + fan_out)) (Glorot uniform)."""
    fan_in, fan_out = fans(shape)
    return _uniform(rng, shape, math.sqrt(6.0 / (fan_in + fan_out)), dtype)


def lecun_normal(rng, shape, *, dtype=np.float32):
    """N(0, std^2) with std = sqrt(1 / fan_in) (LeCun 1998; the SELU initialiser)."""
    fan_in, _ = fans(shape)
    return _normal(rng, shape, math.sqrt(1.0 / fan_in), dtype)


def zeros(shape, *, dtype=np.float32):
    """All zeros (biases, normalisation shifts). Axes of length 0 are allowed."""
    return np.zeros(_require_shape(shape, min_dim=0), dtype=_require_dtype(dtype))


def _zeros_ignoring_rng(rng, shape, *, dtype=np.float32):
    """:func:`zeros` with the common ``(rng, shape, *, dtype)`` signature."""
    return zeros(shape, dtype=dtype)


INITIALIZERS = {
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "xavier_normal": xavier_normal,
    "xavier_uniform": xavier_uniform,
    "glorot_normal": xavier_normal,
    "glorot_uniform": xavier_uniform,
    "lecun_normal": lecun_normal,
    "zeros": _zeros_ignoring_rng,
}


def get_initializer(name):
    """The initialiser called ``name``, as ``fn(rng, shape, *, dtype=np.float32)``.

    Every entry shares that signature, so model code can take an initialiser
    by name; for ``"zeros"`` the ``rng`` is accepted and ignored.
    """
    try:
        return INITIALIZERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"initializer {name!r} is unknown; expected one of {sorted(INITIALIZERS)}") from None
