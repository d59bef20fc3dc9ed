"""Special functions NumPy lacks (scipy is not a dependency).

Only ``erf`` so far: the exact GELU is x * Phi(x) with
Phi(x) = (1 + erf(x / sqrt(2))) / 2.
"""
import math

from ._jit import jit

__all__ = ["erf_into"]


@jit
def erf_into(x, out):
    """x (D,) contiguous float32 or float64 -> out (D,) of the same dtype, out[i] = erf(x[i]).

    The caller allocates ``out`` in x's dtype; writing into it (rather than
    returning a fresh array) is what keeps float32 in float32: Numba's
    ``math.erf`` may return float64 for a float32 argument, and the store
    into a float32 slot rounds it back once.
    """
    for i in range(x.shape[0]):
        out[i] = math.erf(x[i])
