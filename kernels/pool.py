"""Max and average pooling over NCHW planes, forward and backward.

Every kernel sees the input as a stack of P = N*C independent planes:
x (P, H, W) -> out (P, OH, OW), with OH = (H + 2*ph - kh) // sh + 1 (and the
same for W). The wrappers in ``fnn.ops.pool`` reshape (N, C, H, W) to
(P, H, W) (free for contiguous arrays), check shapes and dtypes, and allocate
every output; the kernels only loop. ``prange`` runs over planes and each
iteration writes only its own plane, so threads never share an output cell.

Conventions, chosen to match PyTorch's defaults:

* Padding is virtual. Max pooling treats padded cells as -inf (they never
  win); average pooling treats them as zeros that still count in the divisor,
  so every window divides by kh*kw (PyTorch's ``count_include_pad=True``).
  The wrappers require padding <= kernel // 2, so every window holds at least
  one real cell.
* Max pooling records, for every output cell, the flat index h*W + w of the
  winning cell within its input plane (int32; the wrappers check H*W fits).
  Ties go to the first maximum in row-major window order (rows top to
  bottom, columns left to right, replacing the best only on a strict ``>``).
  A NaN in a window wins and stays, so NaNs propagate to the output as in
  PyTorch; the argmax is then the first NaN in that order.
* Backward routes (max) or spreads (average) each output gradient back and
  accumulates, so overlapping windows (stride < kernel) sum their
  contributions.

The 2x2 / stride 2 / no padding case, by far the most common, has its own
kernels: each output row reads two input rows as contiguous slices and
compares with branch-free selects (a branchy NaN-aware loop runs only for
row pairs that hold a NaN). Max pooling's backward stores instead of
accumulating whenever windows cannot overlap (stride >= kernel).

Floats stay in their dtype: constants come from ``dtype.type(...)`` of the
arrays involved, never from bare Python float literals, which Numba would
type as float64 and so promote float32 arithmetic.
"""
from ._jit import jit, pjit, prange

__all__ = [
    "maxpool2d_forward_2x2",
    "maxpool2d_backward_disjoint",
    "maxpool2d_forward_general",
    "maxpool2d_backward_general",
    "avgpool2d_forward_2x2",
    "avgpool2d_backward_2x2",
    "avgpool2d_forward_general",
    "avgpool2d_backward_general",
]


# --- max pooling -----------------------------------------------------------


@jit
def _take(v, best):
    """True when ``v`` replaces ``best`` in a row-major scan: strictly larger, or the first NaN."""
    return (v > best) | ((v != v) & (best == best))


@pjit
def maxpool2d_forward_2x2(x, out, argmax):
    """x (P, H, W) -> out (P, H//2, W//2) max over 2x2 windows, argmax (P, H//2, W//2) int32.

    argmax[p, i, j] = flat index into x[p] of the window's first maximum in
    row-major order; a trailing odd row or column is never read.
    """
    P, _, W = x.shape
    OH, OW = out.shape[1], out.shape[2]
    for p in prange(P):
        for i in range(OH):
            top = x[p, 2 * i]
            bottom = x[p, 2 * i + 1]
            out_row = out[p, i]
            arg_row = argmax[p, i]
            base = 2 * i * W
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
                    k = base + c
                    if _take(top[c + 1], best):
                        best = top[c + 1]
                        k = base + c + 1
                    if _take(bottom[c], best):
                        best = bottom[c]
                        k = base + W + c
                    if _take(bottom[c + 1], best):
                        best = bottom[c + 1]
                        k = base + W + c + 1
                    out_row[j] = best
                    arg_row[j] = k
            else:
                # Branch-free selects: random data would mispredict branches.
                for j in range(OW):
                    c = 2 * j
                    best = top[c]
                    k = base + c
                    v = top[c + 1]
                    take = v > best
                    best = v if take else best
                    k = base + c + 1 if take else k
                    v = bottom[c]
                    take = v > best
                    best = v if take else best
                    k = base + W + c if take else k
                    v = bottom[c + 1]
                    take = v > best
                    best = v if take else best
                    k = base + W + c + 1 if take else k
                    out_row[j] = best
                    arg_row[j] = k


@pjit
def maxpool2d_backward_disjoint(dout, argmax, dx):
    """dout (P, OH, OW), argmax (P, OH, OW) -> dx (P, H, W): dout stored at each argmax, zero elsewhere.

    Only for windows that never overlap (stride >= kernel, e.g. 2x2 with
    stride 2): every argmax in a plane is then a distinct cell and a plain
    store suffices, no accumulation.
    """
    P, H, W = dx.shape
    OH, OW = dout.shape[1], dout.shape[2]
    zero = dx.dtype.type(0)
    for p in prange(P):
        flat = dx[p].reshape(H * W)
        flat[:] = zero
        for i in range(OH):
            g_row = dout[p, i]
            arg_row = argmax[p, i]
            for j in range(OW):
                flat[arg_row[j]] = g_row[j]


@pjit
def maxpool2d_forward_general(x, out, argmax, kh, kw, sh, sw, ph, pw):
    """x (P, H, W) -> out (P, OH, OW), argmax (P, OH, OW) int32 for any kernel, stride and padding.

    Window (i, j) covers rows i*sh - ph .. +kh and columns j*sw - pw .. +kw,
    clipped to the real plane (padded cells are -inf and never win).
    """
    P, H, W = x.shape
    OH, OW = out.shape[1], out.shape[2]
    for p in prange(P):
        plane = x[p]
        for i in range(OH):
            h0 = i * sh - ph
            h_lo, h_hi = max(h0, 0), min(h0 + kh, H)
            for j in range(OW):
                w0 = j * sw - pw
                w_lo, w_hi = max(w0, 0), min(w0 + kw, W)
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
                out[p, i, j] = best
                argmax[p, i, j] = k


@pjit
def maxpool2d_backward_general(dout, argmax, dx):
    """dout (P, OH, OW), argmax (P, OH, OW) -> dx (P, H, W): each gradient added at its argmax.

    Overlapping windows can share an argmax, hence ``+=`` on a zeroed plane.
    """
    P, H, W = dx.shape
    OH, OW = dout.shape[1], dout.shape[2]
    zero = dx.dtype.type(0)
    for p in prange(P):
        flat = dx[p].reshape(H * W)
        flat[:] = zero
        for i in range(OH):
            for j in range(OW):
                flat[argmax[p, i, j]] += dout[p, i, j]


# --- average pooling ---------------------------------------------------------


@pjit
def avgpool2d_forward_2x2(x, out):
    """x (P, H, W) -> out (P, H//2, W//2), the mean of each 2x2 window."""
    P = x.shape[0]
    OH, OW = out.shape[1], out.shape[2]
    quarter = out.dtype.type(0.25)
    for p in prange(P):
        for i in range(OH):
            top = x[p, 2 * i]
            bottom = x[p, 2 * i + 1]
            out_row = out[p, i]
            for j in range(OW):
                c = 2 * j
                # Summed in the same row-major order as the general kernel, then
                # scaled by 1/4, which is exact in binary, like dividing by 4.
                out_row[j] = (((top[c] + top[c + 1]) + bottom[c]) + bottom[c + 1]) * quarter


@pjit
def avgpool2d_backward_2x2(dout, dx):
    """dout (P, OH, OW) -> dx (P, H, W): each window's four cells get dout / 4; the rest zero."""
    P, H, W = dx.shape
    OH, OW = dout.shape[1], dout.shape[2]
    zero = dx.dtype.type(0)
    quarter = dx.dtype.type(0.25)
    for p in prange(P):
        for i in range(OH):
            top = dx[p, 2 * i]
            bottom = dx[p, 2 * i + 1]
            g_row = dout[p, i]
            # Both rows of a window row are identical: build one, copy it.
            for w in range(2 * OW):
                top[w] = g_row[w >> 1] * quarter
            for w in range(2 * OW):
                bottom[w] = top[w]
            if W > 2 * OW:
                top[W - 1] = zero
                bottom[W - 1] = zero
        for h in range(2 * OH, H):
            dx[p, h, :] = zero


@pjit
def avgpool2d_forward_general(x, out, kh, kw, sh, sw, ph, pw):
    """x (P, H, W) -> out (P, OH, OW): window sums over real cells divided by kh*kw.

    Padded cells add zero but count in the divisor (``count_include_pad=True``).
    Cells are summed in row-major window order.
    """
    P, H, W = x.shape
    OH, OW = out.shape[1], out.shape[2]
    zero = out.dtype.type(0)
    count = out.dtype.type(kh * kw)
    for p in prange(P):
        plane = x[p]
        for i in range(OH):
            h0 = i * sh - ph
            h_lo, h_hi = max(h0, 0), min(h0 + kh, H)
            for j in range(OW):
                w0 = j * sw - pw
                w_lo, w_hi = max(w0, 0), min(w0 + kw, W)
                total = zero
                for h in range(h_lo, h_hi):
                    row = plane[h]
                    for w in range(w_lo, w_hi):
                        total += row[w]
                out[p, i, j] = total / count


@pjit
def avgpool2d_backward_general(dout, dx, kh, kw, sh, sw, ph, pw):
    """dout (P, OH, OW) -> dx (P, H, W): dout / (kh*kw) added to every real cell of each window."""
    P, H, W = dx.shape
    OH, OW = dout.shape[1], dout.shape[2]
    zero = dx.dtype.type(0)
    count = dx.dtype.type(kh * kw)
    for p in prange(P):
        plane = dx[p]
        plane[:, :] = zero
        for i in range(OH):
            h0 = i * sh - ph
            h_lo, h_hi = max(h0, 0), min(h0 + kh, H)
            for j in range(OW):
                w0 = j * sw - pw
                w_lo, w_hi = max(w0, 0), min(w0 + kw, W)
                g = dout[p, i, j] / count
                for h in range(h_lo, h_hi):
                    row = plane[h]
                    for w in range(w_lo, w_hi):
                        row[w] += g
