"""Inverted dropout.

In training each element is kept with probability 1 - p and scaled by
1 / (1 - p), so E[out] = x and evaluation needs no rescaling: it is the
identity. Randomness comes only from the ``numpy.random.Generator`` passed in,
so a seeded generator gives the same mask every time.
"""
import numbers

import numpy as np

from .._validate import require_dout, require_float, require_probability

__all__ = ["dropout_forward", "dropout_backward"]


def _require_p(p):
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise ValueError(f"p is {p!r}; expected a probability in [0, 1]")
    require_probability("p", p, allow_one=True)


def dropout_forward(x, *, p=0.5, rng=None, training=True):
    """x (...) -> out (...): each element zeroed with probability p, survivors scaled by 1 / (1 - p).

    ``rng`` (a ``numpy.random.Generator``) is required when 0 < p < 1 in
    training; ``p == 1`` drops everything and needs no randomness. With
    ``training=False`` or ``p == 0`` the op is the identity (``out`` is a copy
    of ``x``) and its backward passes ``dout`` through. The cache holds the
    scaled mask (0 or 1 / (1 - p), in x's dtype), or None for the identity.
    """
    require_float("x", x)
    _require_p(p)
    if not training or p == 0:
        return x.copy(), (None, x.shape, x.dtype)
    if p == 1:
        # Every element is dropped; 1 / (1 - p) would divide by zero, and the
        # limit of the scaled mask is simply zero.
        mask = np.zeros_like(x)
        return mask.copy(), (mask, x.shape, x.dtype)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"rng is {type(rng).__name__}; dropout with p={p!r} in training needs a "
            "numpy.random.Generator, e.g. rng=np.random.default_rng(seed)"
        )
    keep = rng.random(x.shape, dtype=x.dtype) >= p
    mask = keep.astype(x.dtype) * x.dtype.type(1 / (1 - p))
    return x * mask, (mask, x.shape, x.dtype)


def dropout_backward(dout, cache):
    """dout (...) -> dx (...) = dout * mask (dout itself, copied, when the forward was the identity)."""
    mask, shape, dtype = cache
    require_dout(dout, shape, dtype, "x.shape")
    if mask is None:
        return dout.copy()
    return dout * mask
