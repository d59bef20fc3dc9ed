"""NumPy functions on traced arrays: argument normalisation and compositions.

Each handler receives the arguments exactly as the user passed them to the
NumPy function and either applies one primitive from the table (after putting
its hyperparameters in canonical form) or composes several. No derivative is
written here: ``np.var`` is a mean of squares, ``np.stack`` is expand_dims
plus concatenate, ``np.dot`` is a tensordot, and so on.
"""
import string

import numpy as np
from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple

from .array import FUNCTION_HANDLERS, TracedArray, apply, unsupported
from .primitives import PRIMITIVES, erf_values

__all__ = ["erf"]

P = PRIMITIVES


def handles(*funcs):
    def register(handler):
        for f in funcs:
            FUNCTION_HANDLERS[f] = handler
        return handler
    return register


def _plain(a):
    if type(a) is TracedArray:
        raise TypeError("this argument must be a plain (untraced) array: it is not differentiable")
    return a


def _value(a):
    return a.value if type(a) is TracedArray else a


def _ndim(a):
    return np.ndim(a.value) if type(a) is TracedArray else np.ndim(a)


def _shape(a):
    return a.value.shape if type(a) is TracedArray else np.shape(a)


def erf(x):
    """Exact error function, elementwise: values for a plain array, a traced result for a traced one.

    d erf(x) / dx = 2 / sqrt(pi) * exp(-x^2).
    """
    if type(x) is TracedArray:
        return apply(P["erf"], (x,))
    return erf_values(x)


# ---------------------------------------------------------------- reductions


def _no_dtype(dtype):
    if dtype is not None:
        raise unsupported("a reduction", f" with dtype={dtype!r} (cast with .astype first)")


@handles(np.sum)
def _sum(a, axis=None, dtype=None, keepdims=False):
    _no_dtype(dtype)
    return apply(P["sum"], (a,), {"axis": axis, "keepdims": keepdims})


@handles(np.mean)
def _mean(a, axis=None, dtype=None, keepdims=False):
    _no_dtype(dtype)
    return apply(P["mean"], (a,), {"axis": axis, "keepdims": keepdims})


@handles(np.max, np.amax)
def _max(a, axis=None, keepdims=False):
    return apply(P["max"], (a,), {"axis": axis, "keepdims": keepdims})


@handles(np.min, np.amin)
def _min(a, axis=None, keepdims=False):
    return apply(P["min"], (a,), {"axis": axis, "keepdims": keepdims})


@handles(np.var)
def _var(a, axis=None, dtype=None, ddof=0, keepdims=False):
    _no_dtype(dtype)
    mean = _mean(a, axis=axis, keepdims=True)
    count = np.size(_value(a)) // np.size(_value(mean))
    centered = a - mean
    return _sum(centered * centered, axis=axis, keepdims=keepdims) / (count - ddof)


@handles(np.std)
def _std(a, axis=None, dtype=None, ddof=0, keepdims=False):
    return np.sqrt(_var(a, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims))


@handles(np.cumsum)
def _cumsum(a, axis=None, dtype=None):
    _no_dtype(dtype)
    return apply(P["cumsum"], (a,), {"axis": axis})


# ---------------------------------------------------------------- shape and layout


@handles(np.reshape)
def _reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    if order != "C":
        raise unsupported("numpy.reshape", f" with order={order!r}")
    shape = newshape if shape is None else shape
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return apply(P["reshape"], (a,), {"shape": shape})


@handles(np.ravel)
def _ravel(a, order="C"):
    return _reshape(a, (-1,), order)


@handles(np.transpose)
def _transpose(a, axes=None):
    return apply(P["transpose"], (a,), {"axes": None if axes is None else tuple(axes)})


def _permute(a, order):
    return apply(P["transpose"], (a,), {"axes": tuple(order)})


@handles(np.swapaxes)
def _swapaxes(a, axis1, axis2):
    order = list(range(_ndim(a)))
    i, j = normalize_axis_tuple(axis1, len(order))[0], normalize_axis_tuple(axis2, len(order))[0]
    order[i], order[j] = order[j], order[i]
    return _permute(a, order)


@handles(np.moveaxis)
def _moveaxis(a, source, destination):
    ndim = _ndim(a)
    source = normalize_axis_tuple(source, ndim, "source")
    destination = normalize_axis_tuple(destination, ndim, "destination")
    if len(source) != len(destination):
        raise ValueError("source and destination must have the same number of elements")
    order = [n for n in range(ndim) if n not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return _permute(a, order)


@handles(np.expand_dims)
def _expand_dims(a, axis):
    shape = _shape(a)
    axis = (axis,) if isinstance(axis, (int, np.integer)) else axis
    axes = normalize_axis_tuple(axis, len(shape) + len(axis))
    rest = iter(shape)
    return _reshape(a, tuple(1 if d in axes else next(rest) for d in range(len(shape) + len(axes))))


@handles(np.squeeze)
def _squeeze(a, axis=None):
    shape = _shape(a)
    if axis is None:
        axes = tuple(d for d, n in enumerate(shape) if n == 1)
    else:
        axes = normalize_axis_tuple(axis, len(shape))
        for d in axes:
            if shape[d] != 1:
                raise ValueError(f"cannot squeeze axis {d} of shape {shape}: its size is not 1")
    return _reshape(a, tuple(n for d, n in enumerate(shape) if d not in axes))


@handles(np.broadcast_to)
def _broadcast_to(array, shape, subok=False):
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return apply(P["broadcast_to"], (array,), {"shape": shape})


@handles(np.concatenate)
def _concatenate(arrays, axis=0):
    return apply(P["concatenate"], tuple(arrays), {"axis": axis})


@handles(np.stack)
def _stack(arrays, axis=0):
    arrays = list(arrays)
    ndim = _ndim(arrays[0]) + 1
    axis = normalize_axis_tuple(axis, ndim)[0]
    return _concatenate([_expand_dims(a, axis) for a in arrays], axis=axis)


@handles(np.pad)
def _pad(array, pad_width, mode="constant", constant_values=0):
    if mode != "constant":
        raise unsupported("numpy.pad", f" with mode={mode!r} (only mode='constant')")
    if type(constant_values) is TracedArray or np.ndim(constant_values) != 0:
        raise unsupported("numpy.pad", " with non-scalar or traced constant_values")
    ndim = _ndim(array)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (ndim, 2))
    widths = tuple((int(b), int(e)) for b, e in widths)
    return apply(P["pad"], (array,), {"pad_width": widths, "constant_values": constant_values})


@handles(np.flip)
def _flip(m, axis=None):
    ndim = _ndim(m)
    axes = range(ndim) if axis is None else normalize_axis_tuple(axis, ndim)
    return m[tuple(slice(None, None, -1) if d in axes else slice(None) for d in range(ndim))]


@handles(np.copy)
def _copy(a, order="K", subok=False):
    return apply(P["positive"], (a,))


# ---------------------------------------------------------------- selection


@handles(np.where)
def _where(condition, x=None, y=None):
    condition = condition.value if type(condition) is TracedArray else condition
    if x is None and y is None:
        return np.where(condition)
    return apply(P["where"], (condition, x, y))


@handles(np.clip)
def _clip(a, a_min=None, a_max=None, *, min=None, max=None):
    lo = min if a_min is None else a_min
    hi = max if a_max is None else a_max
    if type(lo) is TracedArray or type(hi) is TracedArray:
        # Traced bounds: compose from maximum/minimum so the bounds get gradients too.
        out = a if lo is None else np.maximum(a, lo)
        return out if hi is None else np.minimum(out, hi)
    return apply(P["clip"], (a,), {"lo": lo, "hi": hi})


@handles(np.take)
def _take(a, indices, axis=None, mode=None):
    if mode is not None:
        raise unsupported("numpy.take", f" with mode={mode!r}")
    return apply(P["take"], (a, np.asarray(_plain(indices))), {"axis": axis})


@handles(np.take_along_axis)
def _take_along_axis(arr, indices, axis=-1):
    return apply(P["take_along_axis"], (arr, _plain(indices)), {"axis": axis})


# ---------------------------------------------------------------- products


def _canonical_tensordot_axes(axes, ndim_a, ndim_b):
    if isinstance(axes, (int, np.integer)):
        sum_a = tuple(range(ndim_a - axes, ndim_a))
        sum_b = tuple(range(axes))
    else:
        sum_a, sum_b = axes
        sum_a = (sum_a,) if isinstance(sum_a, (int, np.integer)) else tuple(sum_a)
        sum_b = (sum_b,) if isinstance(sum_b, (int, np.integer)) else tuple(sum_b)
    return (tuple(normalize_axis_index(int(i), ndim_a) for i in sum_a),
            tuple(normalize_axis_index(int(i), ndim_b) for i in sum_b))


@handles(np.tensordot)
def _tensordot(a, b, axes=2):
    axes = _canonical_tensordot_axes(axes, _ndim(a), _ndim(b))
    return apply(P["tensordot"], (a, b), {"axes": axes})


@handles(np.dot)
def _dot(a, b, out=None):
    if out is not None:
        raise TypeError("numpy.dot(..., out=...): in-place writes to traced arrays are not supported")
    nd_a, nd_b = _ndim(a), _ndim(b)
    if nd_a == 0 or nd_b == 0:
        return a * b
    if nd_a <= 2 and nd_b <= 2:
        return a @ b
    # dot sums the last axis of a against the second-to-last of b (the only one if 1-D).
    return _tensordot(a, b, axes=((nd_a - 1,), (max(nd_b - 2, 0),)))


@handles(np.outer)
def _outer(a, b, out=None):
    return _reshape(a, (-1, 1)) * _reshape(b, (1, -1))


def _einsum_explicit(subscripts, shapes):
    """Canonical einsum subscripts: ellipses spelled out as letters, output explicit."""
    subscripts = subscripts.replace(" ", "")
    inputs, arrow, output = subscripts.partition("->")
    inputs = inputs.split(",")
    if len(inputs) != len(shapes):
        raise ValueError(f"einsum subscripts {subscripts!r} name {len(inputs)} operands; got {len(shapes)}")
    spare = [c for c in string.ascii_letters if c not in subscripts]
    n_ellipsis = max((len(s) - len(sub) + 3 for sub, s in zip(inputs, shapes) if "..." in sub), default=0)
    ell = "".join(spare[:n_ellipsis])
    spelled = []
    for sub, shape in zip(inputs, shapes):
        if "..." in sub:
            k = len(shape) - (len(sub) - 3)
            sub = sub.replace("...", ell[n_ellipsis - k:])
        spelled.append(sub)
    if arrow:
        output = output.replace("...", ell)
    else:
        labels = "".join(spelled)
        output = ell + "".join(sorted(c for c in set(labels) if labels.count(c) == 1 and c not in ell))
    for sub in spelled:
        if len(set(sub)) != len(sub):
            raise unsupported("numpy.einsum", f" with a repeated label in one operand ({subscripts!r})")
    return ",".join(spelled) + "->" + output


@handles(np.einsum)
def _einsum(subscripts, *operands, optimize=False):
    if not isinstance(subscripts, str):
        raise unsupported("numpy.einsum", " in the interleaved (operand, sublist) form")
    canonical = _einsum_explicit(subscripts, [_shape(op) for op in operands])
    return apply(P["einsum"], operands, {"subscripts": canonical, "optimize": optimize})


# ---------------------------------------------------------------- functions of the values only


def _on_values(func):
    def run(*args, **kwargs):
        return func(*(a.value if type(a) is TracedArray else a for a in args),
                    **{k: (v.value if type(v) is TracedArray else v) for k, v in kwargs.items()})
    return run


for _f in (np.shape, np.ndim, np.size, np.zeros_like, np.ones_like, np.full_like, np.empty_like,
           np.argmax, np.argmin, np.argsort, np.isclose, np.allclose, np.array_equal, np.round,
           np.around, np.all, np.any, np.count_nonzero, np.nonzero):
    if _f not in FUNCTION_HANDLERS:
        FUNCTION_HANDLERS[_f] = _on_values(_f)
