"""2-D convolution (cross-correlation, like PyTorch's conv2d) on NCHW images.

With stride (sh, sw), zero padding (ph, pw) and dilation (dh, dw):

    out[n, f, oh, ow] = b[f] + sum_{c, kh, kw} w[f, c, kh, kw] * xpad[n, c, oh*sh + kh*dh, ow*sw + kw*dw]

where xpad is x with ph zero rows above and below and pw zero columns left and
right, and OH = (H + 2*ph - dh*(KH - 1) - 1) // sh + 1 (likewise OW). The
backward follows from the sum: dx scatters dout[n, f, oh, ow] * w[f, c, kh, kw]
back to the input pixel each term read (dropping the padding), dw[f, c, kh, kw]
sums dout[n, f, oh, ow] * xpad[...] over n, oh, ow, and db sums dout over
n, oh, ow. The compiled kernels are in ``kernels.conv`` (its docstring has
the layouts); this module checks arguments, builds the kernels' tap tables,
keeps their workspaces and adds up the weight gradient's partial sums.

float32 runs the kernels' parallel build; float64, the dtype of the
gradient checks, runs their serial build (chunks one after another: out and
dx bitwise the same, dw and db to rounding). Each parallel build costs seconds of compile time per dtype, and
float64 is not where speed matters.

Memory: besides the outputs, per-thread workspaces hold a few padded
samples, one sample group's gradients and the weight gradient's partial
sums; nothing grows with output size times kernel size (no im2col).
"""
import functools
import threading

import numba
import numpy as np

from kernels import conv as _k

from .._validate import require_dout, require_dtype, require_float, require_ndim, require_shape

__all__ = ["conv2d_forward", "conv2d_backward", "conv2d_output_size"]

# Partial weight gradients are summed over this many fixed sample chunks (or
# fewer when N is smaller), so dw does not depend on the thread count.
WEIGHT_GRAD_CHUNKS = 4
# Small samples sit side by side in one plane until it holds about this many
# pixels, so the vector loops run long and per-group costs are amortised.
# Measured (2-core AVX-512 VM): 2048 is fastest or within noise of it for
# both passes on the LeNet layers and N64 C32 28x28 3x3 (wider planes fall
# out of L1/L2; the backward at 8192 took 1.08 against 1.00 ms on conv2 and
# 43 against 38 ms on the 3x3 layer).
_PLANE_PIXELS = 2048
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
    """(samples per plane G, chunks T) for the forward pass: T = threads, G fills the plane."""
    G = max(1, min(-(-N // _chunks(N, parallel)), _PLANE_PIXELS // slot_pixels))
    return G, _chunks(-(-N // G), parallel)


def _round4(n):
    return -(-n // 4) * 4


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


@functools.lru_cache(maxsize=64)
def _taps(C, KH, KW, Wp, dh, dw, count):
    """Tap tables (channel (count,), offset (count,)) int64 for taps (c, kh, kw) in that order, then padding.

    Tap (c, kh, kw) reads channel c at offset kh*dh*Wp + kw*dw of a flat plane
    of rows Wp wide; the extra entries (up to ``count``) read plane C at
    offset 0. The forward keeps that plane zero and gives those taps zero
    weights (a zero weight on a real pixel holding inf would add NaN); the
    backward fills it with ones, so the first extra tap's weight gradient is
    db (the rest are dropped). Cached per geometry: callers must not write
    into the tables.
    """
    c, kh, kw = np.meshgrid(np.arange(C), np.arange(KH), np.arange(KW), indexing="ij")
    tap_c = np.full(count, C, np.int64)
    tap_off = np.zeros(count, np.int64)
    tap_c[: C * KH * KW] = c.ravel()
    tap_off[: C * KH * KW] = (kh * dh * Wp + kw * dw).ravel()
    return tap_c, tap_off


def _input_grad_tables(w, Wd, dh, dw):
    """Rows (tap, channel) of the input-gradient scatter, in blocks of four rows on distinct planes.

    Returns (plane (R,), offset (R,), weights (R, F4), copies K): row r adds
    weights[r, f] * d[f, q] to plane[r] at q + offset[r]; the weights of pair
    (kh, kw, c) are w[:, c, kh, kw]. With C >= 4 (K = 1) the channels are
    split into groups of 4 to 7; each group's pairs run tap by tap, channels
    inside, and the groups follow one another, so any four consecutive pairs
    are on distinct planes (no padding but at the very end) while the planes
    being updated stay few (they stay in L1). With C < 4 the pairs run tap by
    tap, four to a block, and slot i of a block writes copy i of its
    channel's plane (plane i*C + c, K = 4 copies the kernel adds up when it
    crops), so no block wastes slots on padding. Padding rows have zero
    weights and point at scratch planes K*C, K*C + 1, ... (one per slot, so
    no two rows of a block overlap and LLVM's alias checks let it vectorise).
    """
    F, C, KH, KW = w.shape
    plane, offset, rows, c, kh, kw, copies = _pair_layout(C, KH, KW, Wd, dh, dw)
    weights = np.zeros((plane.shape[0], _round4(F)), w.dtype)
    weights[rows, :F] = w[:, c, kh, kw].T
    return plane, offset, weights, copies


@functools.lru_cache(maxsize=64)
def _pair_layout(C, KH, KW, Wd, dh, dw):
    """The weight-independent part of :func:`_input_grad_tables`, cached per geometry (read only):
    (plane, offset, rows, c, kh, kw, copies), row rows[i] taking the weights of pair (kh[i], kw[i], c[i])."""
    taps = [(kh, kw) for kh in range(KH) for kw in range(KW)]
    if C >= 4:
        copies = 1
        n_groups = C // 4
        sizes = [4 + (C % 4 + g) // n_groups for g in range(n_groups)]  # C % 4 spread over the groups
        starts = np.cumsum([0] + sizes[:-1])
        pairs = [t + (c,) for c0, size in zip(starts, sizes) for t in taps for c in range(c0, c0 + size)]
    else:
        copies = 4
        pairs = [t + (c,) for t in taps for c in range(C)]
    blocks = [pairs[i:i + 4] for i in range(0, len(pairs), 4)]
    scratch = copies * C
    plane = np.array([(i if copies > 1 else 0) * C + blk[i][2] if i < len(blk) else scratch + i
                      for blk in blocks for i in range(4)], np.int64)
    offset = np.array([blk[i][0] * dh * Wd + blk[i][1] * dw if i < len(blk) else 0
                       for blk in blocks for i in range(4)], np.int64)
    real = [(4 * b + i,) + blk[i] for b, blk in enumerate(blocks) for i in range(len(blk))]
    rows, kh, kw, c = (np.array(v, np.int64) for v in zip(*real))
    return plane, offset, rows, c, kh, kw, copies


def _zero_extend(a, shape):
    """a (2-D) in the top-left corner of a zero array of ``shape`` (a itself when the shapes agree)."""
    if a.shape == shape:
        return a
    out = np.zeros(shape, a.dtype)
    out[: a.shape[0], : a.shape[1]] = a
    return out


def _forward_into(out, x, w, b, geometry, parallel):
    sh, sw, ph, pw, dh, dw = geometry
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH = out.shape[2]
    Hp, Wp = H + 2 * ph, W + 2 * pw
    F4, J = _round4(F), _round4(C * KH * KW)
    G, chunks = _grouping(N, Hp * Wp, parallel)
    Wd = G * Wp
    tap_c, tap_off = _taps(C, KH, KW, Wd, dh, dw, J)
    wg = _zero_extend(w.reshape(F, C * KH * KW), (F4, J))
    b4 = _zero_extend(b.reshape(1, F), (1, F4))[0]
    # Hp rows of G samples side by side, and a spare row that the garbage columns of the last row read;
    # plane C stays zero for the padding taps.
    xpad = _workspace("conv.xpad", (chunks, C + 1, (Hp + 1) * Wd), x.dtype, (H, W, ph, pw, G))
    acc = _workspace("conv.acc", (chunks, 4, ((OH - 1) * sh + 1) * Wd), x.dtype)
    kernel = _k.conv2d_forward_flat if x.dtype == np.float32 else _k.conv2d_forward_flat_serial
    kernel(x, wg, b4, tap_c, tap_off, out, xpad, acc, G, Wp, Hp, ph, pw, sh, sw)


def conv2d_backward(dout, cache):
    """dout (N, F, OH, OW) -> (dx (N, C, H, W) or None, dw (F, C, KH, KW), db (F,))."""
    x, w, geometry, parallel, input_grad = cache
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    sh, sw, ph, pw, dh, dw = geometry
    OH = (H + 2 * ph - dh * (KH - 1) - 1) // sh + 1
    OW = (W + 2 * pw - dw * (KW - 1) - 1) // sw + 1
    require_dout(dout, (N, F, OH, OW), x.dtype, "(N, F, OH, OW)")
    dout = np.ascontiguousarray(dout)
    chunks = max(1, min(N, WEIGHT_GRAD_CHUNKS)) if parallel else 1
    return _backward(dout, x, w, geometry, chunks, input_grad)


def _backward_group(per_chunk, slot_pixels, slot_q):
    """Samples per plane G for the backward: least padded weight-gradient work, then the largest G.

    A group of G samples sweeps q over G*slot_q values rounded up to Q_STEP,
    so the chunk's work is ceil(per_chunk / G) such sweeps; each group also
    pays a fixed cost (sweep set-up, planes zeroed), hence ties go to the
    larger G. G is capped so a plane holds at most about _PLANE_PIXELS
    pixels (or one sample).
    """
    G_max = max(1, min(per_chunk, _PLANE_PIXELS // slot_pixels))
    step = _k.Q_STEP
    cost = [-(-per_chunk // G) * -(-G * slot_q // step) for G in range(1, G_max + 1)]
    return G_max - cost[::-1].index(min(cost))


def _backward(dout, x, w, geometry, chunks, input_grad):
    """(dx or None, dw, db) in one pass over the batch; dw and db from per-chunk partial sums added in chunk order.

    dx scatters each dout[n, f, oh, ow] * w[f, c, kh, kw] back onto the padded
    input plane. dw[f, c, kh, kw] sums dout[n, f, oh, ow] * xpad[n, c, ...]
    as one partial sum per entry and chunk; one extra tap reads a plane of
    ones, so its sums are db.
    """
    sh, sw, ph, pw, dh, dw = geometry
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH, OW = dout.shape[2], dout.shape[3]
    Hp, Wp = H + 2 * ph, W + 2 * pw
    F4, CKK = _round4(F), C * KH * KW
    J = _round4(CKK + 1)
    # Fixed by the geometry and N alone (never the thread count): the order of summation depends on it.
    G = _backward_group(-(-N // chunks), Hp * Wp, ((OH - 1) * sh + 1) * Wp)
    Wd = G * Wp
    # Tap CKK, the first padding tap, reads plane C, which holds ones here: its sums are db.
    tap_c, tap_off = _taps(C, KH, KW, Wd, dh, dw, J)
    step = _k.Q_STEP
    Q = -(-((OH - 1) * sh + 1) * Wd // step) * step
    # Where data lands (and so which entries stay zero) is fixed by the geometry and G: both are in the keys.
    xpad = _workspace("conv.xpad_bwd", (chunks, C + 1, (Hp + 1) * Wd + step), x.dtype, (H, W, ph, pw, G))
    xpad[:, C] = 1
    dflat = _workspace("conv.dflat", (chunks, F4, Q), x.dtype, (OH, OW, Wp, sh, sw, G))
    sums = _workspace("conv.dw_sums", (chunks, F4 // 4, J // 4, 16), x.dtype)
    if input_grad:
        dx_c, dx_off, wt, copies = _input_grad_tables(w, Wd, dh, dw)
        dx = np.empty(x.shape, x.dtype)
        dxpad = _workspace("conv.dxpad", (chunks, copies * C + 4, (Hp + 1) * Wd), x.dtype)
    else:
        dx_c, dx_off, wt = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4), w.dtype)
        dx = np.empty((0,) + x.shape[1:], x.dtype)
        dxpad = np.empty((chunks, 4, 0), x.dtype)
    kernel = _k.conv2d_backward_flat if x.dtype == np.float32 else _k.conv2d_backward_flat_serial
    kernel(x, dout, sums, tap_c, tap_off, xpad, dflat, wt, dx_c, dx_off, dx, dxpad, G, Wp, Hp, ph, pw, sh, sw)
    total = sums[0].copy()
    for t in range(1, chunks):
        total += sums[t]
    # (F4/4, J/4, 4, 4) -> (F4, J)
    total = total.reshape(F4 // 4, J // 4, 4, 4).transpose(0, 2, 1, 3).reshape(F4, J)
    grad_w = np.ascontiguousarray(total[:F, :CKK]).reshape(F, C, KH, KW)
    grad_b = total[:F, CKK].copy()
    # The kernel's sweeps also multiply the zeros between output pixels by values no window pairs
    # them with, and 0 * inf is NaN. So when x (which then leaves a non-finite dw) or w holds inf or
    # NaN, the affected gradient is recomputed over real windows. (Non-finite dout needs nothing:
    # it only ever meets the pixels and weights its windows pair it with.)
    if not np.isfinite(grad_w).all():
        grad_w = _weight_grad_over_windows(dout, x, w.shape, geometry)
    if input_grad and not np.isfinite(w).all():
        dx = _input_grad_over_windows(dout, w, x.shape, geometry)
    return (dx if input_grad else None), grad_w, grad_b


def _tap_view(a, kh, kw, OH, OW, geometry):
    """The (N, C, OH, OW) view of padded a that tap (kh, kw) reads for every output pixel."""
    sh, sw, _, _, dh, dw = geometry
    return a[:, :, kh * dh: kh * dh + (OH - 1) * sh + 1: sh, kw * dw: kw * dw + (OW - 1) * sw + 1: sw]


def _weight_grad_over_windows(dout, x, w_shape, geometry):
    """dw[f, c, kh, kw] = sum over n, oh, ow of dout[n, f, oh, ow] * xpad[n, c, oh*sh + kh*dh, ow*sw + kw*dw].

    Plain NumPy, one contraction per tap, reading only the pixels some window
    covers; for inputs holding inf or NaN, where the kernel's result can differ.
    """
    _, _, ph, pw, _, _ = geometry
    F, C, KH, KW = w_shape
    OH, OW = dout.shape[2], dout.shape[3]
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    grad_w = np.empty(w_shape, x.dtype)
    with np.errstate(invalid="ignore", over="ignore"):  # propagate silently, as the kernels do
        for kh in range(KH):
            for kw in range(KW):
                window = _tap_view(xpad, kh, kw, OH, OW, geometry)
                grad_w[:, :, kh, kw] = np.tensordot(dout, window, axes=([0, 2, 3], [0, 2, 3]))
    return grad_w


def _input_grad_over_windows(dout, w, x_shape, geometry):
    """dx[n, c, i, j] = sum of dout[n, f, oh, ow] * w[f, c, kh, kw] over the windows that cover (i, j).

    Plain NumPy, one scatter-add per tap onto the padded plane; for w holding
    inf or NaN, where the kernel's result can differ.
    """
    _, _, ph, pw, _, _ = geometry
    N, C, H, W = x_shape
    F, _, KH, KW = w.shape
    OH, OW = dout.shape[2], dout.shape[3]
    dxpad = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dout.dtype)
    with np.errstate(invalid="ignore", over="ignore"):  # propagate silently, as the kernels do
        for kh in range(KH):
            for kw in range(KW):
                # A tap's output pixels read distinct input pixels, so one += per tap is a plain add.
                _tap_view(dxpad, kh, kw, OH, OW, geometry)[...] += np.einsum("nfhw,fc->nchw", dout, w[:, :, kh, kw])
    return np.ascontiguousarray(dxpad[:, :, ph:ph + H, pw:pw + W])
