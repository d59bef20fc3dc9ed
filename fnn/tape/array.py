"""The traced array: an ndarray value plus the graph node that made it.

Inside ``fnn.tape.grad(fun)``, the differentiated arguments are replaced by
:class:`TracedArray` leaves. Ordinary NumPy code in ``fun`` then builds the
graph as it runs: operators call :func:`apply` directly, ufuncs arrive through
``__array_ufunc__`` and other NumPy functions through ``__array_function__``
(handlers in :mod:`fnn.tape.functions`). Every result that depends on a traced
input is itself traced; everything else stays a plain ndarray, so constants
cost nothing on the backward pass.

A traced array is immutable: ``t[0] = 1``, ``t += 1``, ``out=`` arguments and
conversions that would silently drop the gradient (``np.asarray(t)``,
``float(t)``) raise. ``t += 1`` raises rather than rebinding ``t`` to
``t + 1`` because rebinding would break NumPy's aliasing semantics (an alias
``a = t`` would keep the old value) and change the function's meaning silently.
"""
import numpy as np

from .primitives import PRIMITIVES

__all__ = ["TracedArray", "apply", "FUNCTION_HANDLERS", "unsupported"]

_NO_KWARGS = {}
FLOAT_KINDS = "f"


def unsupported(name, detail=""):
    """The error for a NumPy function or ufunc the tape has no VJP for."""
    return NotImplementedError(
        f"fnn.tape does not support {name}{detail}; supported functions are listed in fnn.tape.SUPPORTED"
    )


def _in_place_error(what):
    return TypeError(
        f"{what}: in-place writes to traced arrays are not supported "
        "(a traced array is immutable; compute a new array instead, e.g. with np.where or np.concatenate)"
    )


def apply(prim, args, kwargs=_NO_KWARGS):
    """Run primitive ``prim`` on ``args``, recording a node if any argument is traced.

    Non-float results (integer casts, ...) are returned as plain constants:
    nothing differentiable flows through them.
    """
    values = []
    parents = []
    for i, a in enumerate(args):
        if type(a) is TracedArray:
            parents.append((i, a))
            values.append(a.value)
        else:
            values.append(a)
    ans = prim.forward(*values, **kwargs)
    if not parents or ans.dtype.kind not in FLOAT_KINDS:
        return ans
    return TracedArray(ans, prim, tuple(values), kwargs, tuple(parents))


def _binary(prim, x, y):
    """``apply`` for the two-operand operators, the hottest path of the tape."""
    if type(x) is TracedArray:
        xv = x.value
        if type(y) is TracedArray:
            yv = y.value
            parents = ((0, x), (1, y))
        else:
            yv = y
            parents = ((0, x),)
    else:
        xv, yv = x, y.value
        parents = ((1, y),)
    ans = prim.forward(xv, yv)
    if ans.dtype.kind not in FLOAT_KINDS:
        return ans
    return TracedArray(ans, prim, (xv, yv), _NO_KWARGS, parents)


def _unwrap(a):
    return a.value if type(a) is TracedArray else a


_ADD, _SUB, _MUL, _DIV = (PRIMITIVES[n] for n in ("add", "subtract", "multiply", "true_divide"))
_POW, _MATMUL, _NEG, _ABS = (PRIMITIVES[n] for n in ("power", "matmul", "negative", "absolute"))
_SUM, _MEAN, _MAX, _MIN = (PRIMITIVES[n] for n in ("sum", "mean", "max", "min"))
_RESHAPE, _TRANSPOSE, _GETITEM, _ASTYPE = (PRIMITIVES[n] for n in ("reshape", "transpose", "getitem", "astype"))
_POSITIVE = PRIMITIVES["positive"]


# NumPy ufunc -> primitive. np.divide is np.true_divide and np.abs is np.absolute.
UFUNC_PRIMITIVES = {
    getattr(np, name): PRIMITIVES[name]
    for name in (
        "add", "subtract", "multiply", "true_divide", "power", "maximum", "minimum", "logaddexp",
        "matmul", "negative", "positive", "exp", "log", "log1p", "expm1", "tanh", "sqrt", "square",
        "reciprocal", "absolute", "sin", "cos", "sign",
    )
}

# Ufuncs whose result carries no gradient (comparisons, tests, rounding): they
# run on the plain values and return plain arrays.
NONDIFFERENTIABLE_UFUNCS = frozenset(
    getattr(np, name)
    for name in (
        "greater", "greater_equal", "less", "less_equal", "equal", "not_equal",
        "logical_and", "logical_or", "logical_xor", "logical_not",
        "isfinite", "isinf", "isnan", "signbit", "floor", "ceil", "rint", "trunc",
    )
)


def _normalize_index(index):
    """Freeze list indices into arrays; reject traced indices (indices are not differentiable)."""
    parts = index if isinstance(index, tuple) else (index,)
    fixed = []
    for p in parts:
        if type(p) is TracedArray:
            raise TypeError("a traced array cannot be used as an index: indices are not differentiable "
                            "(compute them from plain arrays)")
        fixed.append(np.asarray(p) if isinstance(p, list) else p)
    return tuple(fixed) if isinstance(index, tuple) else fixed[0]


def _shape_arg(shape):
    """``reshape(2, 3)`` and ``reshape((2, 3))`` both mean shape (2, 3)."""
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        return tuple(shape[0])
    return tuple(shape)


class TracedArray:
    """An ndarray ``value`` being differentiated, plus the node that produced it.

    ``prim``/``args``/``kwargs`` record how the value was computed (``prim`` is
    None for a leaf: a differentiated input), ``parents`` the traced arguments
    as ``(argnum, TracedArray)`` pairs. ``g`` and ``refs`` are the backward
    pass's scratch space: the gradient accumulated so far and the number of
    consumers that have not yet sent theirs. The backward pass drops each
    node's saved values as soon as its VJPs have run.
    """

    __slots__ = ("value", "prim", "args", "kwargs", "parents", "g", "refs", "__weakref__")

    def __init__(self, value, prim=None, args=None, kwargs=None, parents=()):
        self.value = value
        self.prim = prim
        self.args = args
        self.kwargs = kwargs
        self.parents = parents
        self.g = None
        self.refs = 0

    # ------------------------------------------------------------ NumPy protocol

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        name = f"numpy.{ufunc.__name__}"
        if "out" in kwargs:
            raise _in_place_error(f"{name}(..., out=...) writes into an existing array")
        if method != "__call__":
            raise unsupported(f"{name}.{method}")
        if kwargs:
            raise unsupported(name, f" with keyword arguments {sorted(kwargs)}")
        prim = UFUNC_PRIMITIVES.get(ufunc)
        if prim is not None:
            if len(inputs) == 2:
                return _binary(prim, *inputs)
            return apply(prim, inputs)
        if ufunc in NONDIFFERENTIABLE_UFUNCS:
            return ufunc(*(_unwrap(a) for a in inputs))
        raise unsupported(name)

    def __array_function__(self, func, types, args, kwargs):
        handler = FUNCTION_HANDLERS.get(func)
        if handler is None:
            raise unsupported(f"{func.__module__}.{func.__name__}")
        try:
            return handler(*args, **kwargs)
        except TypeError as e:
            if "unexpected keyword argument" in str(e) or "positional argument" in str(e):
                raise unsupported(f"{func.__module__}.{func.__name__}", f" with these arguments ({e})") from None
            raise

    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            "converting a traced array to a plain ndarray (np.asarray, np.array, float, ...) would drop its "
            "gradient; keep it in NumPy operations the tape supports"
        )

    # ------------------------------------------------------------ attributes

    shape = property(lambda self: self.value.shape)
    ndim = property(lambda self: self.value.ndim)
    size = property(lambda self: self.value.size)
    dtype = property(lambda self: self.value.dtype)

    @property
    def T(self):
        return apply(_TRANSPOSE, (self,), {"axes": None})

    def __len__(self):
        return len(self.value)

    def __iter__(self):
        return (self[i] for i in range(len(self.value)))

    def __bool__(self):
        return bool(self.value)

    def __float__(self):
        return self.__array__()

    __int__ = __float__

    def __repr__(self):
        if self.value is None:
            return "TracedArray(<released by the backward pass>)"
        op = "leaf" if self.prim is None else self.prim.name
        return f"TracedArray({self.value!r}, op={op!r})"

    __hash__ = object.__hash__

    # ------------------------------------------------------------ arithmetic

    def __add__(self, other):
        return _binary(_ADD, self, other)

    def __radd__(self, other):
        return _binary(_ADD, other, self)

    def __sub__(self, other):
        return _binary(_SUB, self, other)

    def __rsub__(self, other):
        return _binary(_SUB, other, self)

    def __mul__(self, other):
        return _binary(_MUL, self, other)

    def __rmul__(self, other):
        return _binary(_MUL, other, self)

    def __truediv__(self, other):
        return _binary(_DIV, self, other)

    def __rtruediv__(self, other):
        return _binary(_DIV, other, self)

    def __pow__(self, other):
        return _binary(_POW, self, other)

    def __rpow__(self, other):
        return _binary(_POW, other, self)

    def __matmul__(self, other):
        return _binary(_MATMUL, self, other)

    def __rmatmul__(self, other):
        return _binary(_MATMUL, other, self)

    def __neg__(self):
        return apply(_NEG, (self,))

    def __pos__(self):
        return self

    def __abs__(self):
        return apply(_ABS, (self,))

    # Comparisons are not differentiable: plain boolean arrays, no graph.
    def __lt__(self, other):
        return self.value < _unwrap(other)

    def __le__(self, other):
        return self.value <= _unwrap(other)

    def __gt__(self, other):
        return self.value > _unwrap(other)

    def __ge__(self, other):
        return self.value >= _unwrap(other)

    def __eq__(self, other):
        return self.value == _unwrap(other)

    def __ne__(self, other):
        return self.value != _unwrap(other)

    # ------------------------------------------------------------ in-place writes

    def __setitem__(self, index, value):
        raise _in_place_error("t[...] = value")

    def _in_place(self, other):
        raise _in_place_error("an augmented assignment such as t += x")

    __iadd__ = __isub__ = __imul__ = __itruediv__ = __ipow__ = __imatmul__ = _in_place

    # ------------------------------------------------------------ methods

    def __getitem__(self, index):
        return apply(_GETITEM, (self,), {"index": _normalize_index(index)})

    def reshape(self, *shape, order="C"):
        if order != "C":
            raise unsupported("reshape", f" with order={order!r}")
        return apply(_RESHAPE, (self,), {"shape": _shape_arg(shape)})

    def transpose(self, *axes):
        axes = _shape_arg(axes) if axes and axes != (None,) else None
        return apply(_TRANSPOSE, (self,), {"axes": axes})

    def sum(self, axis=None, keepdims=False):
        return apply(_SUM, (self,), {"axis": axis, "keepdims": keepdims})

    def mean(self, axis=None, keepdims=False):
        return apply(_MEAN, (self,), {"axis": axis, "keepdims": keepdims})

    def max(self, axis=None, keepdims=False):
        return apply(_MAX, (self,), {"axis": axis, "keepdims": keepdims})

    def min(self, axis=None, keepdims=False):
        return apply(_MIN, (self,), {"axis": axis, "keepdims": keepdims})

    def astype(self, dtype):
        return apply(_ASTYPE, (self,), {"dtype": np.dtype(dtype)})

    def copy(self):
        return apply(_POSITIVE, (self,))

    def ravel(self):
        return self.reshape(-1)

    flatten = ravel

    def swapaxes(self, axis1, axis2):
        return np.swapaxes(self, axis1, axis2)

    def squeeze(self, axis=None):
        return np.squeeze(self, axis)

    def clip(self, min=None, max=None):
        return np.clip(self, min, max)

    def dot(self, other):
        return np.dot(self, other)

    def var(self, axis=None, ddof=0, keepdims=False):
        return np.var(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def std(self, axis=None, ddof=0, keepdims=False):
        return np.std(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def cumsum(self, axis=None):
        return np.cumsum(self, axis=axis)

    def argmax(self, axis=None):
        return self.value.argmax(axis=axis)

    def argmin(self, axis=None):
        return self.value.argmin(axis=axis)


# func -> handler(*args, **kwargs); filled by fnn.tape.functions.
FUNCTION_HANDLERS = {}
