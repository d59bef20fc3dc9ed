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

:func:`jit_fma` / :func:`pjit_fma` are the first exception, for multiply-add
loops (the convolutions): ``fastmath={"contract"}`` sets LLVM's ``contract``
flag and no other, so ``a * b + c`` may compile to one fused multiply-add
(one rounding instead of two) on CPUs that have FMA. Why that single flag is
safe here:

* It licenses nothing else: no ``nnan``/``ninf`` (NaN and inf propagate and
  NaN checks keep working), no ``nsz``, no ``reassoc`` (sums keep the order
  the source writes), no ``arcp``/``afn``.
* Results are deterministic for a given machine and build: contraction
  changes only the rounding of each ``a * b + c``, never which terms are
  added or in what order.
* Serial and parallel paths call the same compiled inner functions (the
  ``prange`` kernels only split the batch), so they agree bitwise where the
  work is split by sample, and to rounding where partial sums are added.
* Without it the inner loops issue a multiply and an add per term, about
  twice the floating-point instructions; ``benchmarks/bench_conv.py
  --contract-off`` measures the difference.

:func:`jit_reduce`, the second, adds ``reassoc`` to ``contract`` for one kind
of loop only: a dot-product reduction (the convolution's weight gradient). LLVM
vectorises ``s += a[i] * b[i]`` only when it may reorder the additions; it
then keeps vector partial sums in registers and adds them at the end. Still
no ``nnan``/``ninf``, so NaN and inf propagate as before. What changes is the
order of the additions: chosen by LLVM for the machine's vector width, so it
is the same on every run of a build on one machine, and equal only to
rounding across machines. ``benchmarks/bench_conv.py`` measures the kernels
built this way.

``NUMBA_DISABLE_JIT=1`` (Numba's own switch) runs the same functions as plain
Python; the tests use it on tiny shapes to check the kernels' logic.
"""
import os

import numba

CACHE = os.environ.get("FNN_NUMBA_CACHE", "1").strip().lower() not in ("0", "false", "no", "off")

# FNN_FMA=0 compiles jit_fma kernels without contraction (for the benchmark that measures it).
_FMA = os.environ.get("FNN_FMA", "1").strip().lower() not in ("0", "false", "no", "off")
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


def jit_fma(fn=None, **overrides):
    """:func:`jit` plus ``fastmath={"contract"}``: multiply-adds may fuse (see the module docstring)."""
    return jit(fn, fastmath={"contract"} if _FMA else False, **overrides)


def pjit_fma(fn=None, **overrides):
    """:func:`pjit` plus ``fastmath={"contract"}``: multiply-adds may fuse (see the module docstring)."""
    return jit(fn, parallel=True, fastmath={"contract"} if _FMA else False, **overrides)


def jit_reduce(fn=None, **overrides):
    """:func:`jit` plus ``fastmath={"contract", "reassoc"}``: reductions may vectorise (see the module docstring)."""
    return jit(fn, fastmath={"contract", "reassoc"} if _FMA else {"reassoc"}, **overrides)


prange = numba.prange
