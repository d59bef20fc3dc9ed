"""Max and average pooling over NCHW planes, forward and backward.

Both kernels see the input as a stack of P = N*C independent planes:
x (P, H, W) -> out (P, OH, OW), with OH = (H + 2*ph - kh) // sh + 1 (and the
same for W). The wrappers in ``fnn.ops.pool`` reshape (N, C, H, W) to
(P, H, W) (free for contiguous arrays), check shapes and dtypes, and allocate
every output; the kernels only loop. ``prange`` runs over planes, each
handled by a serial per-plane helper that writes only its own plane, so
threads never share an output cell.

Conventions, chosen to match PyTorch's defaults:

* Padding is virtual. Max pooling treats padded cells as -inf (they never
  win); average pooling treats them as zeros that still count in the divisor,
  so every window divides by kh*kw (PyTorch's ``count_include_pad=True``).
  The wrappers require padding <= kernel // 2, so every window holds at least
  one real cell.
* Max pooling records, for every output cell, the flat index h*W + w of the
  winning cell within its input plane (int32; the wrappers check H*W fits);
  the 2x2 kernels record the position 0..3 within the window instead (int8).
  Ties go to the first maximum in row-major window order (rows top to
  bottom, columns left to right, replacing the best only on a strict ``>``).
  A NaN in a window wins and stays, so NaNs propagate to the output as in
  PyTorch; the argmax is then the first NaN in that order.
* Backward routes (max) or spreads (average) each output gradient back and
  accumulates, so overlapping windows (stride < kernel) sum their
  contributions.

Max pooling 2x2 / stride 2 / no padding, by far the most common case, has
its own helpers: each output row reads two input rows as contiguous slices
and compares with branch-free selects (a branchy NaN-aware loop runs only
for row pairs that hold a NaN), and the winner's position is one byte.
Everything else (average pooling of any shape included) runs the general
helpers. One ``prange`` kernel per direction picks the helper: every
``prange`` kernel costs about a second of compile time per dtype. Each is
built twice from one source: ``pool2d_*`` runs planes on threads,
``pool2d_*_serial`` one after another (same results, less compile time);
``fnn.ops.pool`` sends float64 to the serial build.

Floats stay in their dtype: constants come from ``dtype.type(...)`` of the
arrays involved, never from bare Python float literals, which Numba would
type as float64 and so promote float32 arithmetic.
"""
from ._jit import jit, pjit, prange

__all__ = ["MAX_2X2", "MAX", "AVERAGE", "pool2d_forward", "pool2d_backward", "pool2d_forward_serial",
           "pool2d_backward_serial"]


@jit
def _take(v, best):
    """True when ``v`` replaces ``best`` in a row-major scan: strictly larger, or the first NaN."""
    return (v > best) | ((v != v) & (best == best))


@jit
def _max2x2_forward_plane(x, out, window):
    """x (H, W) -> out (H//2, W//2) max over 2x2 windows, window (H//2, W//2) int8.

    window[i, j] = position of the window's first maximum in row-major
    order: 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right (flat index
    (2i + k//2)*W + 2j + k%2). One byte instead of an int32 index quarters
    the argmax traffic. A trailing odd row or column is never read.
    """
    OH, OW = out.shape
    for i in range(OH):
        top = x[2 * i]
        bottom = x[2 * i + 1]
        out_row = out[i]
        k_row = window[i]
        # NaN-aware comparisons cost twice the plain ones in the hot loop, so
        # scan the row pair once (contiguous, vectorised) and take the
        # NaN-aware loop only for row pairs that hold a NaN.
        has_nan = False
        for w in range(2 * OW):
            has_nan |= (top[w] != top[w]) | (bottom[w] != bottom[w])
        if has_nan:
            for j in range(OW):
                c = 2 * j
                best = top[c]
                k = 0
                if _take(top[c + 1], best):
                    best = top[c + 1]
                    k = 1
                if _take(bottom[c], best):
                    best = bottom[c]
                    k = 2
                if _take(bottom[c + 1], best):
                    best = bottom[c + 1]
                    k = 3
                out_row[j] = best
                k_row[j] = k
        else:
            # Branch-free selects: random data would mispredict branches.
            for j in range(OW):
                c = 2 * j
                best = top[c]
                k = 0
                v = top[c + 1]
                take = v > best
                best = v if take else best
                k = 1 if take else k
                v = bottom[c]
                take = v > best
                best = v if take else best
                k = 2 if take else k
                v = bottom[c + 1]
                take = v > best
                best = v if take else best
                k = 3 if take else k
                out_row[j] = best
                k_row[j] = k


@jit
def _max2x2_backward_plane(dout, window, dx):
    """dout (OH, OW), window (OH, OW) int8 from the forward -> dx (H, W).

    Windows are disjoint and tile the plane, so each input cell is written
    once: the gradient where the window's recorded position points, zero in
    the window's other three cells. One pass of selects over each row
    (vectorised), instead of zero-filling the plane and scattering into it
    (measured 0.41 against 0.57 ms at (64, 32, 28, 28)). A trailing odd row
    or column, in no window, is zeroed.
    """
    H, W = dx.shape
    OH, OW = dout.shape
    zero = dx.dtype.type(0)
    for i in range(OH):
        g_row = dout[i]
        k_row = window[i]
        top = dx[2 * i]
        for j in range(OW):
            k = k_row[j]
            g = g_row[j]
            top[2 * j] = g if k == 0 else zero
            top[2 * j + 1] = g if k == 1 else zero
        bottom = dx[2 * i + 1]
        for j in range(OW):
            k = k_row[j]
            g = g_row[j]
            bottom[2 * j] = g if k == 2 else zero
            bottom[2 * j + 1] = g if k == 3 else zero
        for w in range(2 * OW, W):
            top[w] = zero
            bottom[w] = zero
    for h in range(2 * OH, H):
        row = dx[h]
        for w in range(W):
            row[w] = zero


@jit
def _general_forward_plane(plane, out, argmax, kh, kw, sh, sw, ph, pw, average):
    """plane (H, W) -> out (OH, OW) for any kernel, stride and padding; max, or mean when ``average``.

    Window (i, j) covers rows i*sh - ph .. +kh and columns j*sw - pw .. +kw,
    clipped to the real plane. Max: padded cells are -inf and never win;
    argmax (OH, OW) int32 gets the flat index h*W + w of the first
    maximum in row-major order. Mean: the real cells summed in row-major
    order, divided by kh*kw (padded cells count as zeros); argmax is not used.
    """
    H, W = plane.shape
    OH, OW = out.shape
    zero = out.dtype.type(0)
    count = out.dtype.type(kh * kw)
    for i in range(OH):
        h0 = i * sh - ph
        h_lo, h_hi = max(h0, 0), min(h0 + kh, H)
        for j in range(OW):
            w0 = j * sw - pw
            w_lo, w_hi = max(w0, 0), min(w0 + kw, W)
            if average:
                total = zero
                for h in range(h_lo, h_hi):
                    row = plane[h]
                    for w in range(w_lo, w_hi):
                        total += row[w]
                out[i, j] = total / count
            else:
                best = plane[h_lo, w_lo]
                k = h_lo * W + w_lo
                for h in range(h_lo, h_hi):
                    row = plane[h]
                    for w in range(w_lo, w_hi):
                        v = row[w]
                        # Selects, not branches: which cell wins is data-dependent.
                        take = _take(v, best)
                        best = v if take else best
                        k = h * W + w if take else k
                out[i, j] = best
                argmax[i, j] = k


@jit
def _general_backward_plane(dout, argmax, plane, kh, kw, sh, sw, ph, pw, average):
    """dout (OH, OW) -> dx plane (H, W), the backward of :func:`_general_forward_plane`.

    Max: each gradient added at its argmax. Mean: dout / (kh*kw) added to
    every real cell of its window (the share on padding is dropped).
    Overlapping windows sum their contributions, hence ``+=`` on a zeroed plane.
    """
    H, W = plane.shape
    OH, OW = dout.shape
    zero = plane.dtype.type(0)
    count = plane.dtype.type(kh * kw)
    flat = plane.reshape(H * W)
    for k in range(H * W):
        flat[k] = zero
    for i in range(OH):
        h0 = i * sh - ph
        h_lo, h_hi = max(h0, 0), min(h0 + kh, H)
        for j in range(OW):
            if average:
                w0 = j * sw - pw
                w_lo, w_hi = max(w0, 0), min(w0 + kw, W)
                g = dout[i, j] / count
                for h in range(h_lo, h_hi):
                    row = plane[h]
                    for w in range(w_lo, w_hi):
                        row[w] += g
            else:
                flat[argmax[i, j]] += dout[i, j]


MAX_2X2, MAX, AVERAGE = 0, 1, 2
"""Modes of the two kernels: max over 2x2 windows with stride 2 and no padding, max, mean."""


def _build_forward(parallel):
    """pool2d_forward with its planes on threads (``parallel``) or one after another."""
    planes = prange if parallel else range

    @(pjit if parallel else jit)
    def pool2d_forward(x, out, argmax, window, kh, kw, sh, sw, ph, pw, mode):
        """x (P, H, W) -> out (P, OH, OW), each plane by the ``mode`` helper.

        MAX_2X2 records window (P, OH, OW) int8 positions (argmax unused), MAX
        records argmax (P, OH, OW) int32 flat indices (window unused), AVERAGE
        records nothing. Stand-ins for unused arguments: window (1, 1, 1);
        argmax (P, 1, 1), since the general helper takes its plane. One kernel
        for all three keeps the compile count down.
        """
        for p in planes(x.shape[0]):
            if mode == MAX_2X2:
                _max2x2_forward_plane(x[p], out[p], window[p])
            else:
                _general_forward_plane(x[p], out[p], argmax[p], kh, kw, sh, sw, ph, pw, mode == AVERAGE)

    return pool2d_forward


pool2d_forward = _build_forward(parallel=True)
pool2d_forward_serial = _build_forward(parallel=False)


def _build_backward(parallel):
    """pool2d_backward with its planes on threads (``parallel``) or one after another."""
    planes = prange if parallel else range

    @(pjit if parallel else jit)
    def pool2d_backward(dout, argmax, window, dx, kh, kw, sh, sw, ph, pw, mode):
        """dout (P, OH, OW) -> dx (P, H, W), the backward of :func:`pool2d_forward` in the same mode."""
        for p in planes(dx.shape[0]):
            if mode == MAX_2X2:
                _max2x2_backward_plane(dout[p], window[p], dx[p])
            else:
                _general_backward_plane(dout[p], argmax[p], dx[p], kh, kw, sh, sw, ph, pw, mode == AVERAGE)

    return pool2d_backward


pool2d_backward = _build_backward(parallel=True)
pool2d_backward_serial = _build_backward(parallel=False)
