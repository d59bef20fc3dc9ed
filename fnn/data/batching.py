"""Minibatches, train/validation splits, standardisation and one-hot labels.

Randomness always comes from an explicit ``np.random.Generator`` argument,
so a seeded run is reproducible and no function touches global state.
"""
import numbers

import numpy as np

from .._validate import describe, require_dtype, require_float

__all__ = ["minibatches", "train_val_split", "standardize_fit", "standardize", "one_hot"]


def _require_aligned(arrays):
    """Every array is an ndarray with at least one axis, all sharing the first axis length N."""
    if not arrays:
        raise ValueError("arrays is empty; expected at least one array, e.g. minibatches(rng, x, y, batch_size=32)")
    for i, a in enumerate(arrays):
        if not isinstance(a, np.ndarray) or a.ndim == 0:
            raise ValueError(f"arrays[{i}] has {describe(a)}; expected a numpy array with a first (batch) axis N")
    n = arrays[0].shape[0]
    for i, a in enumerate(arrays[1:], start=1):
        if a.shape[0] != n:
            raise ValueError(
                f"arrays[{i}] has shape {a.shape}; expected first axis N = {n} to match arrays[0] {arrays[0].shape}"
            )
    return n


def _require_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} is {value!r}; expected a positive integer")
    return int(value)


def _require_generator(rng):
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng is {type(rng).__name__}; expected a numpy Generator, e.g. np.random.default_rng(0)")


def minibatches(rng, *arrays, batch_size, shuffle=True, drop_last=False):
    """Yield aligned batches ``(a[idx], b[idx], ...)`` covering every index once per call.

    arrays: each (N, ...). With ``shuffle`` a fresh permutation is drawn from
    ``rng`` on every call (``rng`` may be None without shuffle). The last
    batch holds the remaining ``N % batch_size`` examples unless
    ``drop_last``. Unshuffled batches are views; shuffled ones are copies.

    Arguments are checked here, before the first batch is requested.
    """
    n = _require_aligned(arrays)
    batch_size = _require_positive_int("batch_size", batch_size)
    if shuffle:
        _require_generator(rng)
    stop = n - n % batch_size if drop_last else n
    order = rng.permutation(n) if shuffle else None
    return _batches(arrays, order, batch_size, stop)


def _batches(arrays, order, batch_size, stop):
    for start in range(0, stop, batch_size):
        end = min(start + batch_size, stop)
        if order is None:
            yield tuple(a[start:end] for a in arrays)
        else:
            idx = order[start:end]
            yield tuple(a[idx] for a in arrays)


def train_val_split(rng, *arrays, val_fraction=0.1):
    """((train arrays...), (val arrays...)): a random split along the first axis N.

    The validation part holds ``round(N * val_fraction)`` examples; both parts
    must end up non-empty.
    """
    n = _require_aligned(arrays)
    _require_generator(rng)
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, numbers.Real) or not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction is {val_fraction!r}; expected a number in (0, 1)")
    n_val = int(round(n * val_fraction))
    if not 1 <= n_val <= n - 1:
        raise ValueError(
            f"val_fraction {val_fraction} of N = {n} examples gives {n_val} validation and {n - n_val} training "
            f"examples; expected both parts non-empty"
        )
    order = rng.permutation(n)
    val_idx, train_idx = order[:n_val], order[n_val:]
    return tuple(a[train_idx] for a in arrays), tuple(a[val_idx] for a in arrays)


def standardize_fit(x, *, axis=0, eps=1e-8):
    """x (N, ...) -> (mean, std), reduced over ``axis`` with kept dims, in x's dtype.

    ``axis=0`` gives per-feature statistics of shape (1, ...); pass
    ``axis=(0, 2, 3)`` for per-channel statistics of NCHW images, or
    ``axis=None`` for one scalar of each. Sums accumulate in float64 for
    accuracy on large float32 data. ``std`` is floored at ``eps`` so a
    constant feature (an always-black MNIST border pixel) maps to 0, not nan.
    Fit on the training set only and apply the same statistics to the test set.
    """
    require_float("x", x)
    if x.size == 0:
        raise ValueError(f"x has shape {x.shape}; expected a non-empty array to compute statistics from")
    mean = np.mean(x, axis=axis, dtype=np.float64, keepdims=True).astype(x.dtype)
    centred = x - mean
    var = np.mean(np.square(centred), axis=axis, dtype=np.float64, keepdims=True)
    std = np.maximum(np.sqrt(var), eps).astype(x.dtype)
    return mean, std


def standardize(x, mean, std):
    """x (N, ...) -> (x - mean) / std in x's dtype; mean and std from :func:`standardize_fit`."""
    require_float("x", x)
    require_float("mean", mean)
    require_dtype("mean", mean, x.dtype, "x")
    require_float("std", std)
    require_dtype("std", std, x.dtype, "x")
    try:
        np.broadcast_shapes(x.shape, mean.shape, std.shape)
    except ValueError:
        raise ValueError(
            f"mean {mean.shape} and std {std.shape} do not broadcast against x {x.shape}; "
            f"expected the statistics standardize_fit returns for data shaped like x"
        ) from None
    out = x - mean
    out /= std
    return out


def one_hot(labels, num_classes, *, dtype=np.float32):
    """labels (...) integers in [0, V) -> (..., V) with a 1 at each label, V = num_classes."""
    if not isinstance(labels, np.ndarray) or labels.dtype.kind not in "iu":
        raise ValueError(f"labels has {describe(labels)}; expected an integer numpy array of class labels")
    num_classes = _require_positive_int("num_classes", num_classes)
    if labels.size:
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= num_classes:
            bad = lo if lo < 0 else hi
            raise ValueError(
                f"labels holds {bad}; expected every label in [0, {num_classes}) for num_classes = {num_classes}"
            )
    out = np.zeros(labels.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(out, labels[..., None].astype(np.intp), 1, axis=-1)
    return out
