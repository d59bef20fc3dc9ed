"""The one place that decides how fnn's kernels are compiled.

Every kernel is decorated with :func:`jit` (serial) or :func:`pjit`
(``prange`` over the batch). Both compile with

* ``cache=True`` so a fresh process reuses machine code instead of paying the
  compile again. ``FNN_NUMBA_CACHE=0`` turns the on-disk cache off, which is
  what a cold-compile benchmark or a read-only install wants.
* ``error_model="numpy"``: division by zero gives inf/nan like NumPy instead
  of raising, which also lets LLVM vectorise divisions.
* ``fastmath=False``: kernels sit next to NaN checks and losses, and fast math
  lets LLVM assume NaN never happens.

``NUMBA_DISABLE_JIT=1`` (Numba's own switch) runs the same functions as plain
Python; the tests use it on tiny shapes to check the kernels' logic.
"""
import os

import numba

CACHE = os.environ.get("FNN_NUMBA_CACHE", "1").strip().lower() not in ("0", "false", "no", "off")

_OPTIONS = dict(cache=CACHE, error_model="numpy", fastmath=False, nogil=True)


def jit(fn=None, **overrides):
    """Compile ``fn`` as a serial kernel with the project's options."""
    options = {**_OPTIONS, **overrides}
    if fn is None:
        return lambda f: numba.njit(**options)(f)
    return numba.njit(**options)(fn)


def pjit(fn=None, **overrides):
    """Compile ``fn`` as a parallel kernel (``numba.prange`` loops run on threads)."""
    return jit(fn, parallel=True, **overrides)


prange = numba.prange
