"""Process settings for programs built on fnn: call :func:`configure` before numpy is imported.

OpenBLAS worker threads spin for a while after each call and take the cores a
following Numba ``prange`` kernel wants. OpenBLAS reads its settings once, when
numpy loads it, so the program's entry point (not the library) has to set them
first. Measured here (README, benchmarks): one BLAS thread is best for the CNN,
whose convolution kernels use both cores; an MLP training step, all matrix
products, runs a few percent faster with two BLAS threads that sleep as soon
as they are idle (``blas_threads=2, blas_thread_timeout=4``), though the
MNIST MLP example showed no clear gain; two threads left to spin are slower
for both. One thread is the default.

This module imports neither numpy nor the rest of fnn (``import fnn.runtime``
loads nothing heavy), so it can run first.
"""
import os
import sys
import warnings

__all__ = ["configure"]


def configure(*, blas_threads=1, blas_thread_timeout=None):
    """Set ``OPENBLAS_NUM_THREADS`` (and ``OPENBLAS_THREAD_TIMEOUT``) unless the environment already does.

    An explicit environment setting wins. ``blas_thread_timeout`` is
    OpenBLAS's idle-spin length, 2**n cycles for n in 4..30 (OpenBLAS
    defaults to 28, about 0.1 s here); a small n puts idle BLAS workers to
    sleep at once, so a second BLAS thread can help a matrix product without
    spinning into whatever runs next. Returns the settings in effect, for
    logs and benchmark reports. Called after numpy is imported it cannot take
    effect, and a warning says so.
    """
    if "numpy" in sys.modules:
        warnings.warn("fnn.runtime.configure() ran after numpy was imported: OPENBLAS_NUM_THREADS "
                      "is read when numpy loads, so the BLAS thread setting has no effect", stacklevel=2)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(int(blas_threads)))
    if blas_thread_timeout is not None:
        timeout = int(blas_thread_timeout)
        if not 4 <= timeout <= 30:
            raise ValueError(f"blas_thread_timeout is {blas_thread_timeout!r}; expected an integer from 4 to 30 "
                             "(OpenBLAS idles 2**n cycles)")
        os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", str(timeout))
    return {key: os.environ.get(key, "(unset)") for key in ("OPENBLAS_NUM_THREADS", "OPENBLAS_THREAD_TIMEOUT")}
