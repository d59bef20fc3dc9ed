"""2-D max and average pooling over NCHW images.

Both ops slide a kh x kw window with stride (sh, sw) over zero-padded planes:
x (N, C, H, W) -> out (N, C, OH, OW) with OH = (H + 2*ph - kh) // sh + 1 and
OW = (W + 2*pw - kw) // sw + 1 (PyTorch's floor mode). ``kernel_size``,
``stride`` and ``padding`` are each an int or an (h, w) pair; ``stride``
defaults to the kernel size (non-overlapping windows).

Padding follows PyTorch's defaults: max pooling pads with -inf (a padded cell
never wins) and average pooling pads with zeros that count in the divisor, so
every window is divided by kh*kw (``count_include_pad=True``). Max pooling
breaks ties by taking the first maximum in row-major window order, and routes
each gradient to that one cell. The loops are Numba kernels in
``kernels.pool``; max pooling over 2x2 windows with stride 2 and no padding
takes a faster path. float32 runs the kernels' parallel build, float64 (the
gradient checks' dtype) their serial build: identical results, less compile
time.
"""
import numpy as np

from kernels import pool as _kernels

from .._validate import require_dout, require_float, require_ndim

__all__ = ["maxpool2d_forward", "maxpool2d_backward", "avgpool2d_forward", "avgpool2d_backward"]

_INT32_MAX = np.iinfo(np.int32).max
# Stand-in for the kernels' window argument (int8) in the modes that do not use it.
_NO_WINDOW = np.zeros((1, 1, 1), np.int8)


def _no_argmax(planes):
    """Stand-in for the kernels' argmax argument (int32) where it is unused: one cell per plane."""
    return np.zeros((planes, 1, 1), np.int32)


def _pair(name, value, *, minimum):
    """An int or a pair of ints, each >= minimum, as an (h, w) tuple."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        pair = (int(value), int(value))
    elif (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(f"{name} is {value!r}; expected an int or a pair of ints (h, w)")
    if min(pair) < minimum:
        raise ValueError(f"{name} is {value!r}; expected every entry to be at least {minimum}")
    return pair


def _geometry(x, kernel_size, stride, padding):
    """Check x (N, C, H, W) and the window; return (kh, kw, sh, sw, ph, pw, OH, OW)."""
    require_float("x", x)
    require_ndim("x", x, 4, "(N, C, H, W)")
    kh, kw = _pair("kernel_size", kernel_size, minimum=1)
    sh, sw = (kh, kw) if stride is None else _pair("stride", stride, minimum=1)
    ph, pw = _pair("padding", padding, minimum=0)
    # PyTorch's rule; it also guarantees every window covers at least one real cell.
    if ph > kh // 2 or pw > kw // 2:
        raise ValueError(
            f"padding is {(ph, pw)} with kernel_size {(kh, kw)}; "
            f"expected padding <= kernel_size // 2 = {(kh // 2, kw // 2)}"
        )
    N, C, H, W = x.shape
    OH = (H + 2 * ph - kh) // sh + 1
    OW = (W + 2 * pw - kw) // sw + 1
    if OH < 1 or OW < 1:
        raise ValueError(
            f"x has shape {x.shape}; a {kh}x{kw} window with padding {(ph, pw)} does not fit "
            f"in its {H}x{W} planes (expected H + 2*{ph} >= {kh} and W + 2*{pw} >= {kw})"
        )
    return kh, kw, sh, sw, ph, pw, OH, OW


def _forward_kernel(dtype):
    """The parallel build for float32; float64 (gradient checks) takes the serial one, which compiles faster."""
    return _kernels.pool2d_forward if dtype == np.float32 else _kernels.pool2d_forward_serial


def _backward_kernel(dtype):
    return _kernels.pool2d_backward if dtype == np.float32 else _kernels.pool2d_backward_serial


def _is_2x2_stride_2(kh, kw, sh, sw, ph, pw):
    return kh == kw == sh == sw == 2 and ph == pw == 0


def _check_dout(dout, out_shape, dtype):
    require_dout(dout, out_shape, dtype, "(N, C, OH, OW)")
    return np.ascontiguousarray(dout)


def maxpool2d_forward(x, *, kernel_size=2, stride=None, padding=0):
    """x (N, C, H, W) -> out (N, C, OH, OW), the maximum of each window.

    Padded cells count as -inf. The cache holds, per output cell, where the
    window's first maximum in row-major order is (the flat index h*W + w as
    int32, or for 2x2 windows with stride 2 its position 0..3 in the window
    as int8), plus x's shape and dtype; x itself is not kept. A NaN in a window makes
    the output NaN (the first NaN is the argmax).
    """
    kh, kw, sh, sw, ph, pw, OH, OW = _geometry(x, kernel_size, stride, padding)
    N, C, H, W = x.shape
    if H * W > _INT32_MAX:
        raise ValueError(f"x has shape {x.shape}; expected H*W < 2**31 so argmax fits in int32")
    planes = np.ascontiguousarray(x).reshape(N * C, H, W)
    out = np.empty((N * C, OH, OW), dtype=x.dtype)
    geometry = (kh, kw, sh, sw, ph, pw)
    if _is_2x2_stride_2(*geometry):
        # Position 0..3 within the window: a quarter of the memory of flat indices.
        argmax = np.empty((N * C, OH, OW), dtype=np.int8)
        _forward_kernel(x.dtype)(planes, out, _no_argmax(N * C), argmax, *geometry, _kernels.MAX_2X2)
    else:
        argmax = np.empty((N * C, OH, OW), dtype=np.int32)
        _forward_kernel(x.dtype)(planes, out, argmax, _NO_WINDOW, *geometry, _kernels.MAX)
    return out.reshape(N, C, OH, OW), (argmax, x.shape, x.dtype, geometry)


def maxpool2d_backward(dout, cache):
    """dout (N, C, OH, OW) -> dx (N, C, H, W).

    Each output gradient goes to its window's argmax; where windows overlap
    (stride < kernel_size) a cell that wins several windows sums their
    gradients. Every other cell gets zero.
    """
    argmax, x_shape, dtype, geometry = cache
    N, C, H, W = x_shape
    dout = _check_dout(dout, (N, C) + argmax.shape[1:], dtype)
    dx = np.empty((N * C, H, W), dtype=dtype)
    g = dout.reshape(argmax.shape)
    if argmax.dtype == np.int8:  # window positions of the 2x2 / stride 2 path
        _backward_kernel(dtype)(g, _no_argmax(N * C), argmax, dx, *geometry, _kernels.MAX_2X2)
    else:
        _backward_kernel(dtype)(g, argmax, _NO_WINDOW, dx, *geometry, _kernels.MAX)
    return dx.reshape(x_shape)


def avgpool2d_forward(x, *, kernel_size=2, stride=None, padding=0):
    """x (N, C, H, W) -> out (N, C, OH, OW), the mean of each window.

    Padded cells are zeros that count in the divisor: every window is divided
    by kh*kw, as with PyTorch's default ``count_include_pad=True``. The cache
    holds only x's shape, dtype and the window geometry.
    """
    kh, kw, sh, sw, ph, pw, OH, OW = _geometry(x, kernel_size, stride, padding)
    N, C, H, W = x.shape
    planes = np.ascontiguousarray(x).reshape(N * C, H, W)
    out = np.empty((N * C, OH, OW), dtype=x.dtype)
    geometry = (kh, kw, sh, sw, ph, pw)
    _forward_kernel(x.dtype)(planes, out, _no_argmax(N * C), _NO_WINDOW, *geometry, _kernels.AVERAGE)
    return out.reshape(N, C, OH, OW), (x.shape, x.dtype, geometry, (OH, OW))


def avgpool2d_backward(dout, cache):
    """dout (N, C, OH, OW) -> dx (N, C, H, W).

    Each output gradient, divided by kh*kw, is added to every real cell of
    its window (the share that fell on padding is dropped); overlapping
    windows sum their contributions.
    """
    x_shape, dtype, geometry, (OH, OW) = cache
    N, C, H, W = x_shape
    dout = _check_dout(dout, (N, C, OH, OW), dtype)
    dx = np.empty((N * C, H, W), dtype=dtype)
    g = dout.reshape(N * C, OH, OW)
    _backward_kernel(dtype)(g, _no_argmax(N * C), _NO_WINDOW, dx, *geometry, _kernels.AVERAGE)
    return dx.reshape(x_shape)
