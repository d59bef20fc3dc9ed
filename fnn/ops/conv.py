"""2-D convolution (cross-correlation, like PyTorch's conv2d) on NCHW images.

With stride (sh, sw), zero padding (ph, pw) and dilation (dh, dw):

    out[n, f, oh, ow] = b[f] + sum_{c, kh, kw} w[f, c, kh, kw] * xpad[n, c, oh*sh + kh*dh, ow*sw + kw*dw]

where xpad is x with ph zero rows above and below and pw zero columns left and
right, and OH = (H + 2*ph - dh*(KH - 1) - 1) // sh + 1 (likewise OW). The
backward follows from the sum: dx scatters dout[n, f, oh, ow] * w[f, c, kh, kw]
back to the input pixel each term read (dropping the padding), dw[f, c, kh, kw]
sums dout[n, f, oh, ow] * xpad[...] over n, oh, ow, and db sums dout over
n, oh, ow. The compiled kernels are in ``kernels.conv``; this module checks
arguments, prepares their workspaces and picks the path.
"""
import threading

import numba
import numpy as np

from kernels import conv as _k

from .._validate import require_dtype, require_float, require_ndim, require_shape

__all__ = ["conv2d_forward", "conv2d_backward", "conv2d_output_size"]

# Partial weight gradients are summed over this many fixed sample chunks (or
# fewer when N is smaller), so dw does not depend on the thread count.
WEIGHT_GRAD_CHUNKS = 8
# Weight-gradient accumulator runs are padded to whole 512-bit vectors, so the
# vector loops have no scalar remainder.
_VECTOR_BYTES = 64
# Small samples are stacked into one plane until it holds about this many
# pixels, so the correlation's vector loops run long; bigger planes would
# push the accumulator rows out of L1.
_PLANE_PIXELS = 1024
_MAX_WORKSPACES = 32
_workspaces = threading.local()


def _workspace(role, shape, dtype, geometry=None):
    """A zero-initialised scratch array for this thread, reused across calls; never handed to the caller.

    Allocating (and page-faulting) multi-megabyte buffers on every call costs
    a noticeable fraction of a small convolution, so buffers are kept per
    (role, shape, dtype, geometry). Layout buffers (padded planes, stacked
    rows) are zero where no data lands; that pattern is fixed by the
    geometry, which is part of the key, so the kernels only write data.
    """
    cache = getattr(_workspaces, "buffers", None)
    if cache is None:
        cache = _workspaces.buffers = {}
    key = (role, tuple(shape), np.dtype(dtype), geometry)
    buf = cache.pop(key, None)
    if buf is None:
        if len(cache) >= _MAX_WORKSPACES:
            cache.pop(next(iter(cache)))
        buf = np.zeros(shape, dtype)
    cache[key] = buf  # re-insert: the dict's order is least recently used first
    return buf


def _pair(name, value, minimum):
    """An int or a pair of ints, each >= minimum, as a 2-tuple of Python ints."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    ok = len(items) == 2 and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) and v >= minimum for v in items
    )
    if not ok:
        raise ValueError(f"{name} is {value!r}; expected an int >= {minimum} or a pair of them (per axis H, W)")
    return int(items[0]), int(items[1])


def conv2d_output_size(H, W, KH, KW, *, stride=1, padding=0, dilation=1):
    """(OH, OW) of a convolution; either may be <= 0 when the kernel does not fit."""
    sh, sw = _pair("stride", stride, 1)
    ph, pw = _pair("padding", padding, 0)
    dh, dw = _pair("dilation", dilation, 1)
    return (H + 2 * ph - dh * (KH - 1) - 1) // sh + 1, (W + 2 * pw - dw * (KW - 1) - 1) // sw + 1


def _chunks(N, parallel):
    return max(1, min(N, numba.get_num_threads())) if parallel else 1


def _grouping(N, slot_pixels, parallel):
    """(samples per stacked plane G, chunks T) for the flat correlation."""
    G = max(1, min(-(-N // _chunks(N, parallel)), _PLANE_PIXELS // slot_pixels))
    return G, _chunks(-(-N // G), parallel)


def conv2d_forward(x, w, b, *, stride=1, padding=0, dilation=1, parallel=True, input_grad=True):
    """x (N, C, H, W), w (F, C, KH, KW), b (F,) -> out (N, F, OH, OW).

    ``stride``, ``padding`` and ``dilation`` are ints or (H, W) pairs.
    ``parallel=False`` runs the kernels on one thread (same results for out
    and dx; dw equal to rounding). ``input_grad=False`` marks x as data
    (PyTorch's ``requires_grad=False``): the backward returns ``dx = None``
    and skips a whole correlation. Returns ``(out, cache)``.
    """
    require_float("x", x)
    require_ndim("x", x, 4, "(N, C, H, W)")
    require_float("w", w)
    require_ndim("w", w, 4, "(F, C, KH, KW)")
    require_dtype("w", w, x.dtype, "x")
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    if w.shape[1] != C:
        raise ValueError(
            f"w has shape {w.shape}; expected (F, C, KH, KW) with C = {C}, the channel axis of x {x.shape}"
        )
    require_float("b", b)
    require_shape("b", b, (F,), "(F,)")
    require_dtype("b", b, x.dtype, "x")
    sh, sw = _pair("stride", stride, 1)
    ph, pw = _pair("padding", padding, 0)
    dh, dw = _pair("dilation", dilation, 1)
    OH, OW = conv2d_output_size(H, W, KH, KW, stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw))
    if OH < 1 or OW < 1 or KH < 1 or KW < 1:
        raise ValueError(
            f"x has shape {x.shape} and w has shape {w.shape}; with stride {(sh, sw)}, padding {(ph, pw)} and "
            f"dilation {(dh, dw)} the output size (OH, OW) would be {(OH, OW)}; expected both >= 1"
        )
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w)
    b = np.ascontiguousarray(b)
    geometry = (sh, sw, ph, pw, dh, dw)
    out = np.empty((N, F, OH, OW), x.dtype)
    _forward_into(out, x, w, b, geometry, parallel)
    return out, (x, w, geometry, parallel, input_grad)


def _round4(n):
    return -(-n // 4) * 4


def _pad_filters(w, b):
    """w (F, C, KH, KW), b (F,) zero-extended to F4 = F rounded up to 4 filters (the kernels' block)."""
    F = w.shape[0]
    F4 = _round4(F)
    if F4 == F:
        return w, b
    w4 = np.zeros((F4,) + w.shape[1:], w.dtype)
    w4[:F] = w
    b4 = np.zeros(F4, b.dtype)
    b4[:F] = b
    return w4, b4


def _forward_into(out, x, w, b, geometry, parallel):
    sh, sw, ph, pw, dh, dw = geometry
    N, C, H, W = x.shape
    OH = out.shape[2]
    Hp, Wp = H + 2 * ph, W + 2 * pw
    w4, b4 = _pad_filters(w, b)
    G, chunks = _grouping(N, Hp * Wp, parallel)
    # G slots of Hp rows, and a spare zero row that the garbage columns of the last row read.
    xpad = _workspace("conv.xpad", (chunks, C, (G * Hp + 1) * Wp), x.dtype, (H, W, ph, pw))
    acc = _workspace("conv.acc", (chunks, 4, ((G - 1) * Hp + (OH - 1) * sh + 1) * Wp), x.dtype)
    _k.conv2d_forward_flat(x, w4, b4, out, xpad, acc, Wp, Hp, ph, pw, 1, 1, dh, dw, sh, sw)


def conv2d_backward(dout, cache):
    """dout (N, F, OH, OW) -> (dx (N, C, H, W) or None, dw (F, C, KH, KW), db (F,))."""
    x, w, geometry, parallel, input_grad = cache
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    sh, sw, ph, pw, dh, dw = geometry
    OH = (H + 2 * ph - dh * (KH - 1) - 1) // sh + 1
    OW = (W + 2 * pw - dw * (KW - 1) - 1) // sw + 1
    require_float("dout", dout)
    require_shape("dout", dout, (N, F, OH, OW), "(N, F, OH, OW)")
    require_dtype("dout", dout, x.dtype, "x")
    dout = np.ascontiguousarray(dout)
    grad_x = _input_grad(dout, x, w, geometry, parallel) if input_grad else None
    grad_w, grad_b = _weight_grad(dout, x, w, geometry, max(1, min(N, WEIGHT_GRAD_CHUNKS)) if parallel else 1)
    return grad_x, grad_w, grad_b


def _input_grad(dout, x, w, geometry, parallel):
    """dx (N, C, H, W) as one stride-1 correlation, whatever the stride.

    dx[n, c, i, j] sums dout[n, f, oh, ow] * w[f, c, kh, kw] over the taps with
    i = oh*sh + kh*dh - ph. Placing dout[n, f, oh, ow] at row q + oh*sh of a
    zero plane, q = dh*(KH - 1) - ph, turns this into a stride-1 correlation of
    that plane with the kernel flipped (kh -> KH-1-kh, likewise kw) and its F
    and C axes swapped. Rows that land outside the plane are ones no tap reads.
    """
    sh, sw, ph, pw, dh, dw = geometry
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    dx = np.empty(x.shape, x.dtype)
    qh, qw = dh * (KH - 1) - ph, dw * (KW - 1) - pw
    Hq, Wq = H + dh * (KH - 1), W + dw * (KW - 1)
    w_flipped, zeros = _pad_filters(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3), np.zeros(C, x.dtype))
    w_flipped = np.ascontiguousarray(w_flipped)
    G, chunks = _grouping(N, Hq * Wq, parallel)
    dpad = _workspace("conv.dpad", (chunks, F, (G * Hq + 1) * Wq), x.dtype, dout.shape[2:] + (qh, qw, sh, sw))
    acc = _workspace("conv.acc", (chunks, 4, ((G - 1) * Hq + H) * Wq), x.dtype)
    _k.conv2d_forward_flat(dout, w_flipped, zeros, dx, dpad, acc, Wq, Hq, qh, qw, sh, sw, dh, dw, 1, 1)
    return dx


def _weight_grad(dout, x, w, geometry, chunks):
    """(dw (F, C, KH, KW), db (F,)) from per-chunk partial sums added in chunk order."""
    sh, sw, ph, pw, dh, dw = geometry
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH, OW = dout.shape[2], dout.shape[3]
    F4 = _round4(F)
    Cs = KH * C
    # One run of KW*Cs values per output pixel when dw == 1, else KW runs of Cs.
    S, run = (1, KW * Cs) if dw == 1 else (KW, Cs)
    lanes = _VECTOR_BYTES // x.dtype.itemsize
    L = -(-run // lanes) * lanes
    # Runs of L read up to L - run values past the last pixel's data: zeros.
    xs = _workspace("conv.xs", (chunks, OH, (W + 2 * pw) * Cs + L - run), x.dtype, (C, H, W, KH, geometry))
    dT = _workspace("conv.dT", (chunks, OH, OW * F4), x.dtype, F)
    partial = _workspace("conv.dw", (chunks, S, F4, L), x.dtype)
    db_partial = _workspace("conv.db", (chunks, F, OW), x.dtype)
    _k.conv2d_weight_grad(x, dout, partial, db_partial, xs, dT, Cs, KH, sh, sw, ph, pw, dh, dw)
    total = partial.sum(axis=0) if chunks > 1 else partial[0]
    # (S, F4, L) -> (F4, KW, Cs) with Cs = (kh, c) -> (F, C, KH, KW)
    rows = total[0, :, :run].reshape(F4, KW, Cs) if dw == 1 else total[:, :, :Cs].transpose(1, 0, 2)
    grad_w = np.ascontiguousarray(rows[:F].reshape(F, KW, KH, C).transpose(0, 3, 2, 1))
    grad_b = db_partial.sum(axis=(0, 2))
    return grad_w, grad_b
