"""Process settings for programs built on fnn: call :func:`configure` before numpy is imported.

OpenBLAS worker threads spin for a while after each call and take the cores a
following Numba ``prange`` kernel wants, and the small matrix products of the
networks fnn trains gain little from a second BLAS thread. OpenBLAS reads
``OPENBLAS_NUM_THREADS`` once, when numpy loads it, so the program's entry
point (not the library) has to set it first. One thread is the measured
default; the README's benchmark section has the numbers.

This module imports neither numpy nor the rest of fnn (``import fnn.runtime``
loads nothing heavy), so it can run first.
"""
import os
import sys
import warnings

__all__ = ["configure"]


def configure(*, blas_threads=1):
    """Set ``OPENBLAS_NUM_THREADS`` unless the environment already does (an explicit setting wins).

    Returns the settings in effect, for logs and benchmark reports. Called
    after numpy is imported it cannot take effect, and a warning says so.
    """
    if "numpy" in sys.modules:
        warnings.warn("fnn.runtime.configure() ran after numpy was imported: OPENBLAS_NUM_THREADS "
                      "is read when numpy loads, so the BLAS thread setting has no effect", stacklevel=2)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(int(blas_threads)))
    return {"OPENBLAS_NUM_THREADS": os.environ["OPENBLAS_NUM_THREADS"]}
