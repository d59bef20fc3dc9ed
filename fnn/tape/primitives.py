"""THE table: every primitive the tape knows, its forward beside its VJP.

A primitive is a NumPy computation ``ans = forward(*args, **kwargs)`` whose
vector-Jacobian products are written out by hand. For each argument ``x`` the
VJP maps the cotangent ``g`` of the output (same shape as ``ans``) to the
cotangent of ``x`` (same shape and dtype as ``x``)::

    vjp(g, ans, *args, **kwargs) = g . d ans / d x

Everything else the tape does (operators, ``np.var``, ``np.stack``, ...) is
composed from these entries, so this file is the only place a derivative is
derived. None of it calls fnn's hand-written backward passes: the tape is the
independent second derivation they are checked against.

Conventions:

* ``unbroadcast`` undoes NumPy broadcasting: a binary op whose input was
  broadcast from shape (3, 1) to (3, 4) sums its gradient back to (3, 1).
* Constants are Python numbers (weakly typed under NEP 50) so float32 stays
  float32; the engine casts any other dtype back to the primal's.
* Ties in ``maximum``/``minimum``/``max``/``min`` split the gradient equally
  among the tied inputs (the symmetric subgradient, as in JAX and torch.amax),
  rather than routing it to the first.
"""
import math

import numpy as np
from numpy.lib.array_utils import normalize_axis_tuple

__all__ = ["Primitive", "PRIMITIVES", "unbroadcast", "erf_values"]


class Primitive:
    """A differentiable NumPy computation.

    ``vjps`` holds one VJP per argument (``None`` for an argument that is
    never differentiated, such as a ``where`` condition). Primitives taking a
    variable number of arrays (``concatenate``, ``einsum``) give instead
    ``vjp_argnum(argnum, g, ans, *args, **kwargs)``.
    """

    __slots__ = ("name", "forward", "vjps", "vjp_argnum")

    def __init__(self, name, forward, vjps=None, vjp_argnum=None):
        self.name = name
        self.forward = forward
        self.vjps = vjps
        self.vjp_argnum = vjp_argnum

    def vjp(self, argnum, g, ans, args, kwargs):
        """Cotangent of argument ``argnum`` given the output cotangent ``g``."""
        if self.vjps is not None:
            return self.vjps[argnum](g, ans, *args, **kwargs)
        return self.vjp_argnum(argnum, g, ans, *args, **kwargs)

    def __repr__(self):
        return f"Primitive({self.name!r})"


PRIMITIVES = {}


def defprim(name, forward, *vjps):
    """Register a fixed-arity primitive: one VJP per positional argument."""
    PRIMITIVES[name] = Primitive(name, forward, vjps=vjps)


def defprim_variadic(name, forward, vjp_argnum):
    PRIMITIVES[name] = Primitive(name, forward, vjp_argnum=vjp_argnum)


# ---------------------------------------------------------------- helpers


def unbroadcast(g, shape):
    """Sum ``g`` down to ``shape``: the adjoint of broadcasting ``shape`` up to ``g.shape``."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    if lead:
        g = g.sum(axis=tuple(range(lead)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if stretched:
        g = g.sum(axis=stretched, keepdims=True)
    return g


def _keep_reduced_axes(g, ndim, axis, keepdims):
    """Reinsert the axes a reduction removed, so ``g`` broadcasts against its input."""
    if keepdims:
        return g
    if axis is None:
        return np.reshape(g, (1,) * ndim)
    return np.expand_dims(g, normalize_axis_tuple(axis, ndim))


def _share_of_ties(g, wins, ties):
    """``g`` where this input won outright, half of it where the two inputs tie."""
    out = g * wins
    if ties.any():
        out = out + (g * ties) * 0.5
    return out


_ERF = np.frompyfunc(math.erf, 1, 1)


def erf_values(x):
    """Exact error function of a float array, element by element with ``math.erf``."""
    x = np.asarray(x)
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    return np.asarray(_ERF(x), dtype=dtype)


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)

# ---------------------------------------------------------------- elementwise, one input

defprim("negative",   np.negative,   lambda g, ans, x: -g)
defprim("positive",   np.positive,   lambda g, ans, x: g)
defprim("exp",        np.exp,        lambda g, ans, x: g * ans)
defprim("log",        np.log,        lambda g, ans, x: g / x)
defprim("log1p",      np.log1p,      lambda g, ans, x: g / (1 + x))
defprim("expm1",      np.expm1,      lambda g, ans, x: g * (ans + 1))
defprim("tanh",       np.tanh,       lambda g, ans, x: g * (1 - ans * ans))
defprim("sqrt",       np.sqrt,       lambda g, ans, x: g / (2 * ans))
defprim("square",     np.square,     lambda g, ans, x: g * (2 * x))
defprim("reciprocal", np.reciprocal, lambda g, ans, x: -g * (ans * ans))
defprim("absolute",   np.absolute,   lambda g, ans, x: g * np.sign(x))
defprim("sin",        np.sin,        lambda g, ans, x: g * np.cos(x))
defprim("cos",        np.cos,        lambda g, ans, x: -g * np.sin(x))
defprim("sign",       np.sign,       lambda g, ans, x: np.zeros(x.shape, x.dtype))
defprim("erf",        erf_values,    lambda g, ans, x: g * (_TWO_OVER_SQRT_PI * np.exp(-(x * x))))

# ---------------------------------------------------------------- elementwise, two inputs (broadcasting)

defprim("add", np.add,
        lambda g, ans, x, y: unbroadcast(g, x.shape),
        lambda g, ans, x, y: unbroadcast(g, y.shape))
defprim("subtract", np.subtract,
        lambda g, ans, x, y: unbroadcast(g, x.shape),
        lambda g, ans, x, y: unbroadcast(-g, y.shape))
defprim("multiply", np.multiply,
        lambda g, ans, x, y: unbroadcast(g * y, x.shape),
        lambda g, ans, x, y: unbroadcast(g * x, y.shape))
defprim("true_divide", np.true_divide,
        lambda g, ans, x, y: unbroadcast(g / y, x.shape),
        lambda g, ans, x, y: unbroadcast(-g * ans / y, y.shape))
# d(x**y)/dy = x**y log x: taken as 0 at x == 0 (the limit for y > 0), NaN for x < 0.
defprim("power", np.power,
        lambda g, ans, x, y: unbroadcast(g * (y * x ** (y - 1)), x.shape),
        lambda g, ans, x, y: unbroadcast(g * (ans * np.log(np.where(x == 0, 1, x))), y.shape))
defprim("maximum", np.maximum,
        lambda g, ans, x, y: unbroadcast(_share_of_ties(g, x > y, x == y), x.shape),
        lambda g, ans, x, y: unbroadcast(_share_of_ties(g, y > x, x == y), y.shape))
defprim("minimum", np.minimum,
        lambda g, ans, x, y: unbroadcast(_share_of_ties(g, x < y, x == y), x.shape),
        lambda g, ans, x, y: unbroadcast(_share_of_ties(g, y < x, x == y), y.shape))
defprim("logaddexp", np.logaddexp,
        lambda g, ans, x, y: unbroadcast(g * np.exp(x - ans), x.shape),
        lambda g, ans, x, y: unbroadcast(g * np.exp(y - ans), y.shape))


# ---------------------------------------------------------------- products


def _matmul_as_2d(g, x, y):
    """Give 1-D operands (and the output axis they dropped) a unit axis, as matmul does."""
    if y.ndim == 1:
        g = g[..., None]
        y = y[:, None]
    if x.ndim == 1:
        g = np.expand_dims(g, -2)
        x = x[None, :]
    return g, x, y


def _matmul_vjp_x(g, ans, x, y):
    if x.ndim == 2 and y.ndim == 2:
        return g @ y.T                                   # (N, M) (M, K) -> (N, K)
    g2, x2, y2 = _matmul_as_2d(g, x, y)
    return unbroadcast(g2 @ np.swapaxes(y2, -1, -2), x2.shape).reshape(x.shape)


def _matmul_vjp_y(g, ans, x, y):
    if x.ndim == 2 and y.ndim == 2:
        return x.T @ g                                   # (K, N) (N, M) -> (K, M)
    g2, x2, y2 = _matmul_as_2d(g, x, y)
    return unbroadcast(np.swapaxes(x2, -1, -2) @ g2, y2.shape).reshape(y.shape)


defprim("matmul", np.matmul, _matmul_vjp_x, _matmul_vjp_y)


def _tensordot(a, b, *, axes):
    return np.tensordot(a, b, axes=axes)


def _tensordot_vjp_a(g, ans, a, b, *, axes):
    # g has axes free(a) + free(b); contracting its free(b) part with b leaves
    # free(a) followed by b's contracted axes (in b's order), i.e. a's summed
    # axes in the order they pair with them. Transpose back to a's order.
    sum_a, sum_b = axes
    free_a = [i for i in range(a.ndim) if i not in sum_a]
    free_b = [i for i in range(b.ndim) if i not in sum_b]
    r = np.tensordot(g, b, axes=(list(range(len(free_a), g.ndim)), free_b))
    order = free_a + [sum_a[sum_b.index(j)] for j in sorted(sum_b)]
    return np.transpose(r, np.argsort(order))


def _tensordot_vjp_b(g, ans, a, b, *, axes):
    sum_a, sum_b = axes
    free_a = [i for i in range(a.ndim) if i not in sum_a]
    free_b = [i for i in range(b.ndim) if i not in sum_b]
    r = np.tensordot(a, g, axes=(free_a, list(range(len(free_a)))))
    order = [sum_b[sum_a.index(i)] for i in sorted(sum_a)] + free_b
    return np.transpose(r, np.argsort(order))


defprim("tensordot", _tensordot, _tensordot_vjp_a, _tensordot_vjp_b)


def _einsum(*operands, subscripts, optimize=False):
    return np.einsum(subscripts, *operands, optimize=optimize)


def _einsum_vjp(argnum, g, ans, *operands, subscripts, optimize=False):
    # "ij,jk->ik": the cotangent of operand 0 is einsum("ik,jk->ij", g, operand 1).
    # Labels of operand argnum that appear nowhere else were summed away by
    # the forward; the gradient is constant along them (broadcast back).
    inputs, output = subscripts.split("->")
    inputs = inputs.split(",")
    target = inputs[argnum]
    x = operands[argnum]
    others = [s for i, s in enumerate(inputs) if i != argnum]
    other_ops = [op for i, op in enumerate(operands) if i != argnum]
    seen = set(output).union(*others)
    kept = "".join(c for c in target if c in seen)
    r = np.einsum(",".join([output] + others) + "->" + kept, g, *other_ops, optimize=optimize)
    sizes = iter(r.shape)
    r = r.reshape(tuple(next(sizes) if c in seen else 1 for c in target))
    # einsum also broadcasts size-1 labels; sum those back like any binary op.
    r = unbroadcast(r, tuple(n if c in seen else 1 for c, n in zip(target, x.shape)))
    return np.broadcast_to(r, x.shape)


defprim_variadic("einsum", _einsum, _einsum_vjp)

# ---------------------------------------------------------------- reductions


def _sum(x, *, axis=None, keepdims=False):
    return np.add.reduce(x, axis=axis, keepdims=keepdims)


def _mean(x, *, axis=None, keepdims=False):
    # np.mean's own Python wrapper costs more than the reduction at these sizes.
    total = np.add.reduce(x, axis=axis, keepdims=keepdims)
    return total / (x.size // max(total.size, 1))


def _max(x, *, axis=None, keepdims=False):
    return np.maximum.reduce(x, axis=axis, keepdims=keepdims)


def _min(x, *, axis=None, keepdims=False):
    return np.minimum.reduce(x, axis=axis, keepdims=keepdims)


def _cumsum(x, *, axis=None):
    return np.cumsum(x, axis=axis)


def _sum_vjp(g, ans, x, *, axis=None, keepdims=False):
    return np.broadcast_to(_keep_reduced_axes(g, x.ndim, axis, keepdims), x.shape)


def _mean_vjp(g, ans, x, *, axis=None, keepdims=False):
    count = x.size // max(np.size(ans), 1)
    return np.broadcast_to(_keep_reduced_axes(g, x.ndim, axis, keepdims) / count, x.shape)


def _extremum_vjp(g, ans, x, *, axis=None, keepdims=False):
    # Split equally among the entries equal to the extremum (ties share).
    g = _keep_reduced_axes(g, x.ndim, axis, keepdims)
    hit = x == _keep_reduced_axes(ans, x.ndim, axis, keepdims)
    count = hit.sum(axis=axis, keepdims=True, dtype=x.dtype)
    return hit * (g / count)


def _cumsum_vjp(g, ans, x, *, axis=None):
    # out[i] = sum_{j <= i} x[j], so dx[j] = sum_{i >= j} g[i]: a reversed cumsum.
    if axis is None:
        return np.cumsum(g[::-1])[::-1].reshape(x.shape)
    return np.flip(np.cumsum(np.flip(g, axis), axis=axis), axis)


defprim("sum", _sum, _sum_vjp)
defprim("mean", _mean, _mean_vjp)
defprim("max", _max, _extremum_vjp)
defprim("min", _min, _extremum_vjp)
defprim("cumsum", _cumsum, _cumsum_vjp)

# ---------------------------------------------------------------- shape and layout


def _reshape(x, *, shape):
    return np.reshape(x, shape)


def _transpose(x, *, axes=None):
    return np.transpose(x, axes)


def _transpose_vjp(g, ans, x, *, axes=None):
    return np.transpose(g, None if axes is None else np.argsort(axes))


def _broadcast_to(x, *, shape):
    return np.broadcast_to(x, shape)


def _concatenate(*xs, axis=0):
    return np.concatenate(xs, axis=axis)


def _concatenate_vjp(argnum, g, ans, *xs, axis=0):
    if axis is None:
        sizes = [np.size(x) for x in xs]
        start = sum(sizes[:argnum])
        return g[start:start + sizes[argnum]].reshape(np.shape(xs[argnum]))
    axis = normalize_axis_tuple(axis, g.ndim)[0]
    start = sum(np.shape(x)[axis] for x in xs[:argnum])
    index = [slice(None)] * g.ndim
    index[axis] = slice(start, start + xs[argnum].shape[axis])
    return g[tuple(index)]


def _pad(x, *, pad_width, constant_values=0):
    # A 0-d array has no axes to pad (np.pad rejects an empty pad_width).
    return np.pad(x, pad_width or 0, mode="constant", constant_values=constant_values)


def _pad_vjp(g, ans, x, *, pad_width, constant_values=0):
    return g[tuple(slice(before, n - after) for (before, after), n in zip(pad_width, g.shape))]


def _astype(x, *, dtype):
    return x.astype(dtype)


defprim("reshape", _reshape, lambda g, ans, x, *, shape: np.reshape(g, x.shape))
defprim("transpose", _transpose, _transpose_vjp)
defprim("broadcast_to", _broadcast_to, lambda g, ans, x, *, shape: unbroadcast(g, x.shape))
defprim_variadic("concatenate", _concatenate, _concatenate_vjp)
defprim("pad", _pad, _pad_vjp)
defprim("astype", _astype, lambda g, ans, x, *, dtype: g.astype(x.dtype))

# ---------------------------------------------------------------- selection (gathers scatter-add back)


def _is_basic_index(index):
    """True when ``x[index]`` can hit each element at most once (no integer arrays)."""
    parts = index if isinstance(index, tuple) else (index,)
    for p in parts:
        if isinstance(p, np.ndarray) and p.dtype != bool:
            return False
    return True


def _getitem(x, *, index):
    return x[index]


def _getitem_vjp(g, ans, x, *, index):
    dx = np.zeros(x.shape, dtype=x.dtype)
    if _is_basic_index(index):
        dx[index] = g
    else:
        np.add.at(dx, index, g)  # repeated indices must accumulate, not overwrite
    return dx


def _take(x, indices, *, axis=None):
    return np.take(x, indices, axis=axis)


def _take_vjp(g, ans, x, indices, *, axis=None):
    dx = np.zeros(x.shape, dtype=x.dtype)
    if axis is None:
        np.add.at(dx.reshape(-1), indices, g)
    else:
        axis = normalize_axis_tuple(axis, x.ndim)[0]
        np.add.at(dx, (slice(None),) * axis + (indices,), g)
    return dx


def _take_along_axis(x, indices, *, axis):
    return np.take_along_axis(x, indices, axis=axis)


def _take_along_axis_vjp(g, ans, x, indices, *, axis):
    dx = np.zeros(x.shape, dtype=x.dtype)
    flat = dx.reshape(-1) if axis is None else dx
    axis = 0 if axis is None else normalize_axis_tuple(axis, x.ndim)[0]
    # The fancy index take_along_axis reads with: aranges on every other axis.
    index = []
    for d in range(flat.ndim):
        if d == axis:
            index.append(indices)
        else:
            shape = [1] * flat.ndim
            shape[d] = flat.shape[d]
            index.append(np.arange(flat.shape[d]).reshape(shape))
    np.add.at(flat, tuple(index), g)
    return dx


def _where(condition, x, y):
    return np.where(condition, x, y)


def _clip(x, *, lo=None, hi=None):
    return np.clip(x, lo, hi)


def _clip_vjp(g, ans, x, *, lo=None, hi=None):
    inside = np.ones(x.shape, dtype=bool)
    if lo is not None:
        inside &= x >= lo
    if hi is not None:
        inside &= x <= hi
    return np.where(inside, g, 0)


defprim("getitem", _getitem, _getitem_vjp)
defprim("take", _take, _take_vjp, None)
defprim("take_along_axis", _take_along_axis, _take_along_axis_vjp, None)
defprim("where", _where, None,
        lambda g, ans, c, x, y: unbroadcast(np.where(c, g, 0), x.shape),
        lambda g, ans, c, x, y: unbroadcast(np.where(c, 0, g), y.shape))
defprim("clip", _clip, _clip_vjp)
