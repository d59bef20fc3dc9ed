"""fnn.tape: reverse-mode autodiff from elementary primitives.

The independent second derivation of every gradient in fnn. It never calls
fnn's ops, models or hand-written backward passes; it differentiates plain
NumPy code from a table of primitives whose VJPs are written out once
(:mod:`fnn.tape.primitives`).

* :class:`Value`: a scalar engine that records its graph (the teaching view).
* :func:`grad`, :func:`value_and_grad`: differentiate a NumPy function of
  arrays, floats, or dict/list/tuple nests of them, like ``jax.grad``.
* :func:`erf`: the exact error function, on plain or traced arrays.

Inside a differentiated function, arrays are :class:`TracedArray` objects
that support NumPy's operators, ufuncs and the functions in :data:`SUPPORTED`;
anything else raises ``NotImplementedError`` naming the function.
"""
from . import functions as _functions  # registers the NumPy function handlers
from .array import NONDIFFERENTIABLE_UFUNCS, UFUNC_PRIMITIVES, FUNCTION_HANDLERS, TracedArray
from .core import backward, grad, value_and_grad
from .functions import erf
from .primitives import PRIMITIVES, Primitive, unbroadcast
from .scalar import Value

__all__ = ["Value", "grad", "value_and_grad", "erf", "TracedArray", "PRIMITIVES", "Primitive",
           "unbroadcast", "backward", "SUPPORTED"]


def _supported_names():
    ufuncs = [f"numpy.{u.__name__}" for u in (*UFUNC_PRIMITIVES, *NONDIFFERENTIABLE_UFUNCS)]
    funcs = [f"{f.__module__}.{f.__name__}" for f in FUNCTION_HANDLERS]
    return tuple(sorted(set(ufuncs + funcs)))


SUPPORTED = _supported_names()
"""Names of the NumPy functions and ufuncs that accept traced arrays."""

del _functions
