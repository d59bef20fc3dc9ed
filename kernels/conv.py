"""2-D convolution (cross-correlation, NCHW) kernels: the correlation and the weight gradient.

Shapes: x (N, C, H, W), w (F, C, KH, KW), out (N, F, OH, OW) with
OH = (H + 2*ph - dh*(KH - 1) - 1) // sh + 1 for stride sh, zero padding ph and
dilation dh (likewise W). Kernels write into arrays their caller allocated;
``fnn.ops.conv`` validates arguments and prepares operands and workspaces.

``conv2d_forward_flat`` computes the forward pass and, on rearranged
operands, the input gradient:

* Flat-plane trick. With a sample zero-padded to (Hp, Wp) and each plane
  flattened, output pixel (oh, ow) of tap (kh, kw) reads flat index
  ``p + kh*dh*Wp + kw*dw`` with p = oh*Wp + ow. Computing the output over the
  full padded width (rows of Wp) makes every tap one long contiguous
  multiply-add over p, which vectorises; the extra columns of each row are
  garbage and never copied out. Small samples are stacked, G to a plane, so
  the loops stay long. Four filters share each loaded input vector, and the
  taps of a kernel row are unrolled three (or two) at a time.
* Stride s in the forward pass: the stride-1 rows are computed up to the last
  one needed and every s-th pixel is copied out (s_h*s_w times the work of a
  dedicated strided loop, but the same fast loop and no extra compile).
* Input gradient: dx is the stride-1 correlation of dout, spread onto a grid
  with s - 1 zeros between entries and padded by dh*(KH - 1) - ph, with the
  kernel flipped in space and its F and C axes swapped.

``conv2d_weight_grad``: dw[f, c, kh, kw] sums dout[n, f, oh, ow] times
xpad[n, c, oh*sh + kh*dh, ow*sw + kw*dw] over n, oh, ow, a reduction LLVM
vectorises only under fastmath. So it is turned around: the KH input rows that
output row oh reads are stacked channels-last as xs[oh, iw, kh*C + c], and
for dw = 1 the run xs[oh, ow*sw : ow*sw + KW, :] is contiguous and lines up
with w[f] reordered to (kw, kh, c). Each output pixel adds dout[n, f, oh, ow]
times its run to an accumulator row: an elementwise multiply-add along
(kw, kh, c) that vectorises, with four pixels folded into each accumulator
update and four filters sharing each input load.

Parallelism: ``prange`` over T chunks of the batch, each chunk with its own
slice of every workspace. Forward chunk t handles groups of G consecutive
samples, groups t, t + T, ...; the weight gradient's chunk t handles samples
[t*N//T, (t+1)*N//T) and writes its own partial sums, which the caller adds in
chunk order, so results never depend on thread scheduling. T = 1 is the
serial path.
"""
from ._jit import jit, pjit, prange
from .conv_intrinsics import fma, keep_scalar, wide_vectors

__all__ = ["conv2d_forward_flat", "conv2d_weight_grad"]


# --------------------------------------------------------------------------
# Innermost loops
#
# Each is one vectorisable loop over a contiguous axis that updates four
# accumulator rows (four filters) at once, so every loaded input vector feeds
# four multiply-adds. What makes LLVM vectorise them: every array is
# C-contiguous (a slice of an 'A'-layout array has unknown strides and stays
# scalar), and each operand gets its own slice view indexed by the loop
# counter alone (``x1 = x[dil:]`` then ``x1[p]``): an index with a runtime
# offset, ``x[p + dil]``, adds a wraparound check per element that defeats
# the vectoriser. The multiply-adds are ``fma`` (``kernels.conv_intrinsics``)
# in a fixed order per element, so results do not depend on how LLVM vectorises.
# ``wide_vectors()`` lets them use 512-bit vectors on AVX-512 CPUs. They live
# in this file because Numba's on-disk cache only notices edits to the file of
# the function it compiled, not to the files of its callees.
# --------------------------------------------------------------------------

@jit
def _taps3_f4(acc, plane, off, w, f0, c, kh, k, P, dil):
    """acc[i, p] += sum_j w[f0 + i, c, kh, k + j] * plane[off + p + j*dil] for 4 filters i, 3 taps j, p < P."""
    wide_vectors()
    a0 = acc[0]
    a1 = acc[1]
    a2 = acc[2]
    a3 = acc[3]
    x0, x1, x2 = plane[off:], plane[off + dil:], plane[off + 2 * dil:]
    w00, w01, w02 = w[f0, c, kh, k], w[f0, c, kh, k + 1], w[f0, c, kh, k + 2]
    w10, w11, w12 = w[f0 + 1, c, kh, k], w[f0 + 1, c, kh, k + 1], w[f0 + 1, c, kh, k + 2]
    w20, w21, w22 = w[f0 + 2, c, kh, k], w[f0 + 2, c, kh, k + 1], w[f0 + 2, c, kh, k + 2]
    w30, w31, w32 = w[f0 + 3, c, kh, k], w[f0 + 3, c, kh, k + 1], w[f0 + 3, c, kh, k + 2]
    for p in range(P):
        v0, v1, v2 = x0[p], x1[p], x2[p]
        a0[p] = fma(w02, v2, fma(w01, v1, fma(w00, v0, a0[p])))
        a1[p] = fma(w12, v2, fma(w11, v1, fma(w10, v0, a1[p])))
        a2[p] = fma(w22, v2, fma(w21, v1, fma(w20, v0, a2[p])))
        a3[p] = fma(w32, v2, fma(w31, v1, fma(w30, v0, a3[p])))


@jit
def _taps2_f4(acc, plane, off, w, f0, c, kh, k, P, dil):
    """acc[i, p] += sum_j w[f0 + i, c, kh, k + j] * plane[off + p + j*dil] for 4 filters i, 2 taps j, p < P."""
    wide_vectors()
    a0 = acc[0]
    a1 = acc[1]
    a2 = acc[2]
    a3 = acc[3]
    x0, x1 = plane[off:], plane[off + dil:]
    w00, w01 = w[f0, c, kh, k], w[f0, c, kh, k + 1]
    w10, w11 = w[f0 + 1, c, kh, k], w[f0 + 1, c, kh, k + 1]
    w20, w21 = w[f0 + 2, c, kh, k], w[f0 + 2, c, kh, k + 1]
    w30, w31 = w[f0 + 3, c, kh, k], w[f0 + 3, c, kh, k + 1]
    for p in range(P):
        v0, v1 = x0[p], x1[p]
        a0[p] = fma(w01, v1, fma(w00, v0, a0[p]))
        a1[p] = fma(w11, v1, fma(w10, v0, a1[p]))
        a2[p] = fma(w21, v1, fma(w20, v0, a2[p]))
        a3[p] = fma(w31, v1, fma(w30, v0, a3[p]))


@jit
def _tap_f4(acc, plane, off, w, f0, c, kh, k, P):
    """acc[i, p] += w[f0 + i, c, kh, k] * plane[off + p] for 4 filters i, one tap, p < P."""
    wide_vectors()
    a0 = acc[0]
    a1 = acc[1]
    a2 = acc[2]
    a3 = acc[3]
    x = plane[off:]
    w0, w1, w2, w3 = w[f0, c, kh, k], w[f0 + 1, c, kh, k], w[f0 + 2, c, kh, k], w[f0 + 3, c, kh, k]
    for p in range(P):
        v = x[p]
        a0[p] = fma(w0, v, a0[p])
        a1[p] = fma(w1, v, a1[p])
        a2[p] = fma(w2, v, a2[p])
        a3[p] = fma(w3, v, a3[p])


@jit
def _runs_f4_u4(acc, xrow, start, step, groups, d, F4, L):
    """acc[i, j] += sum_u d[u*F4 + i] * xrow[start + u*step + j] for 4 filters i, j < L and
    output pixels u < 4*groups, four at a time.

    Folding four pixels into each update quarters the accumulator loads and
    stores per multiply-add; running all groups of a row in one call keeps
    the per-call set-up off short runs.
    """
    wide_vectors()
    a0 = acc[0]
    a1 = acc[1]
    a2 = acc[2]
    a3 = acc[3]
    for g in range(groups):
        s0 = start + 4 * g * step
        x0 = xrow[s0:]
        x1 = xrow[s0 + step:]
        x2 = xrow[s0 + 2 * step:]
        x3 = xrow[s0 + 3 * step:]
        dg = d[4 * g * F4:]
        # d_iu: filter i, pixel u
        d00, d01, d02, d03 = dg[0], dg[F4], dg[2 * F4], dg[3 * F4]
        d10, d11, d12, d13 = dg[1], dg[F4 + 1], dg[2 * F4 + 1], dg[3 * F4 + 1]
        d20, d21, d22, d23 = dg[2], dg[F4 + 2], dg[2 * F4 + 2], dg[3 * F4 + 2]
        d30, d31, d32, d33 = dg[3], dg[F4 + 3], dg[2 * F4 + 3], dg[3 * F4 + 3]
        for j in range(L):
            v0, v1, v2, v3 = x0[j], x1[j], x2[j], x3[j]
            a0[j] = fma(d03, v3, fma(d02, v2, fma(d01, v1, fma(d00, v0, a0[j]))))
            a1[j] = fma(d13, v3, fma(d12, v2, fma(d11, v1, fma(d10, v0, a1[j]))))
            a2[j] = fma(d23, v3, fma(d22, v2, fma(d21, v1, fma(d20, v0, a2[j]))))
            a3[j] = fma(d33, v3, fma(d32, v2, fma(d31, v1, fma(d30, v0, a3[j]))))


@jit
def _runs_f4_u1(acc, xs, d, L):
    """acc[i, j] += d[i] * xs[j] for 4 filters i, j < L (output pixels left over after groups of 4)."""
    wide_vectors()
    a0 = acc[0]
    a1 = acc[1]
    a2 = acc[2]
    a3 = acc[3]
    d0, d1, d2, d3 = d[0], d[1], d[2], d[3]
    for j in range(L):
        v = xs[j]
        a0[j] = fma(d0, v, a0[j])
        a1[j] = fma(d1, v, a1[j])
        a2[j] = fma(d2, v, a2[j])
        a3[j] = fma(d3, v, a3[j])


# --------------------------------------------------------------------------
# Per-sample layouts (serial; the parallel kernels call them once per sample)
# --------------------------------------------------------------------------

@jit
def _pad_sample(src, dst, Wd, row0, Hs, top, left, sh, sw):
    """Write src (C, H, W) into the slot of Hs rows starting at row row0 of dst (C, rows*Wd),
    planes of rows of Wd flattened: src[c, i, j] goes to slot row top + i*sh, column left + j*sw.

    Entries landing outside the slot are dropped (top/left may be negative).
    Only those positions are written: the rest of dst must hold zeros (the
    caller zeroes a workspace once per geometry).
    """
    C, H, W = src.shape
    # Columns j with 0 <= left + j*sw < Wd.
    j0 = 0 if left >= 0 else (sw - 1 - left) // sw
    j1 = min(W, (Wd - left + sw - 1) // sw)
    for c in range(C):
        plane = dst[c]
        for i in range(H):
            r = top + i * sh
            if r < 0 or r >= Hs:
                continue
            srow = src[c, i, j0:]
            drow = plane[(row0 + r) * Wd + left + j0 * sw:]
            if sw == 1:
                for j in range(j1 - j0):
                    drow[j] = srow[j]
            else:
                for j in range(j1 - j0):
                    drow[j * sw] = srow[j]
                    keep_scalar()


@jit
def _stack_rows(src, dst, Cs, KH, sh, ph, pw, dh):
    """Write src (C, H, W) into dst (OH, Wd*Cs), rows of Wd pixels by Cs channels flattened:
    dst[oh, (pw + j)*Cs + kh*C + c] = src[c, oh*sh + kh*dh - ph, j].

    The KH input rows that output row oh reads, side by side channels-last.
    Rows in the padding, the padding columns and channels >= KH*C are not
    written and must hold zeros.
    """
    C, H, W = src.shape
    OH = dst.shape[0]
    for oh in range(OH):
        for kh in range(KH):
            i = oh * sh + kh * dh - ph
            if i < 0 or i >= H:
                continue
            for c in range(C):
                srow = src[c, i]
                drow = dst[oh, pw * Cs + kh * C + c:]
                for j in range(W):
                    drow[j * Cs] = srow[j]
                    keep_scalar()


@jit
def _transpose_dout(dout, dT, F4, db_lanes):
    """Write dout (F, OH, OW) into dT (OH, OW*F4) as dT[oh, ow*F4 + f] = dout[f, oh, ow]; add to db_lanes.

    Entries f >= F of dT are not written and must hold zeros. db_lanes (F, OW)
    gets dout summed over oh added, one vector lane per ow.
    """
    F, OH, OW = dout.shape
    for f in range(F):
        lanes = db_lanes[f]
        for oh in range(OH):
            drow = dout[f, oh]
            for ow in range(OW):
                lanes[ow] += drow[ow]
            trow = dT[oh, f:]
            for ow in range(OW):
                trow[ow * F4] = drow[ow]
                keep_scalar()


# --------------------------------------------------------------------------
# Correlation on flat planes (forward; input gradient on rearranged operands)
# --------------------------------------------------------------------------

@jit
def _correlate_group(xflat, w, b, out, n0, G, acc, Wp, Hs, dh, dw, step_h, step_w):
    """G samples stacked in xflat (C, L), slots of Hs rows of Wp -> out[n0:n0 + G] (F, OH, OW) each.

    out[n0 + g, f, oh, ow] = b[f] + sum w[f, c, kh, kw] * plane_c[g*Hs + oh*step_h + kh*dh, ow*step_w + kw*dw],
    w (F4, C, KH, KW), b (F4,), F <= F4 (filters F..F4-1 are computed and
    dropped). Stacking small samples makes the vector loops long; rows that
    straddle two slots are garbage and never copied out. acc (4, >= P) workspace.
    """
    C = xflat.shape[0]
    F4, KH, KW = w.shape[0], w.shape[2], w.shape[3]
    F, OH, OW = out.shape[1], out.shape[2], out.shape[3]
    # Every stride-1 row up to the last one copied out, each Wp wide.
    P = ((G - 1) * Hs + (OH - 1) * step_h + 1) * Wp
    for f0 in range(0, F4, 4):
        for i in range(4):
            ai = acc[i]
            bi = b[f0 + i]
            for p in range(P):
                ai[p] = bi
        for c in range(C):
            plane = xflat[c]
            for kh in range(KH):
                # A kernel row as runs of 3 taps, then 2 or 1: every pass
                # updates the four accumulator rows once for several taps.
                k = 0
                while KW - k >= 3:
                    _taps3_f4(acc, plane, kh * dh * Wp + k * dw, w, f0, c, kh, k, P, dw)
                    k += 3
                if KW - k == 2:
                    _taps2_f4(acc, plane, kh * dh * Wp + k * dw, w, f0, c, kh, k, P, dw)
                elif KW - k == 1:
                    _tap_f4(acc, plane, kh * dh * Wp + k * dw, w, f0, c, kh, k, P)
        for g in range(G):
            for i in range(min(4, F - f0)):
                for oh in range(OH):
                    orow = out[n0 + g, f0 + i, oh]
                    arow = acc[i, (g * Hs + oh * step_h) * Wp:]
                    if step_w == 1:
                        for ow in range(OW):
                            orow[ow] = arow[ow]
                    else:
                        for ow in range(OW):
                            orow[ow] = arow[ow * step_w]
                            keep_scalar()


@pjit
def conv2d_forward_flat(x, w, b, out, xpad, acc, Wp, Hs, top, left, spread_h, spread_w, dh, dw, step_h, step_w):
    """Correlation of each sample of x, placed on a zero grid, with w: out (N, F, OH, OW).

    x (N, C, H, W); w (F4, C, KH, KW) and b (F4,) with F4 = F rounded up to a
    multiple of 4 (extra filters are computed and dropped). Each sample gets a
    slot of Hs rows of Wp zeros and is placed as
    slot[c, top + i*spread_h, left + j*spread_w] = x[n, c, i, j] (entries
    outside the slot are dropped), then
    out[n, f, oh, ow] = b[f] + sum w[f, c, kh, kw] * slot[c, oh*step_h + kh*dh, ow*step_w + kw*dw],
    which needs Hs >= (OH - 1)*step_h + 1 + dh*(KH - 1). The forward pass uses
    spread 1 and step = stride; the input gradient uses spread = stride and
    step 1. Chunk t handles groups of G consecutive samples, groups t, t + T, ...

    Workspaces, one slice per chunk: xpad (T, C, (G*Hs + 1)*Wp), planes of G
    slots and a spare row (read by the garbage columns of the last row), zero
    wherever no sample entry lands (the caller zeroes it once per geometry);
    acc (T, 4, >= ((G - 1)*Hs + (OH - 1)*step_h + 1)*Wp).
    """
    N = x.shape[0]
    T = xpad.shape[0]
    G = (xpad.shape[2] // Wp - 1) // Hs
    for t in prange(T):
        for n0 in range(t * G, N, T * G):
            count = min(G, N - n0)
            for g in range(count):
                _pad_sample(x[n0 + g], xpad[t], Wp, g * Hs, Hs, top, left, spread_h, spread_w)
            _correlate_group(xpad[t], w, b, out, n0, count, acc[t], Wp, Hs, dh, dw, step_h, step_w)


# --------------------------------------------------------------------------
# Weight gradient
# --------------------------------------------------------------------------

@jit
def _weight_grad_sample(xs, dT, acc, Cs, sw, dw):
    """acc (S, F4, L) += one sample's products; xs (OH, Wd*Cs) stacked rows, dT (OH, OW*F4).

    With dw == 1 each output pixel has S = 1 run of L = KW*Cs values;
    otherwise S = KW runs of L = Cs, one per tap, starting dw*Cs apart.
    """
    S, F4, L = acc.shape
    OH = dT.shape[0]
    OW = dT.shape[1] // F4
    OW4 = OW - OW % 4
    for oh in range(OH):
        xrow = xs[oh]
        drow = dT[oh]
        for s in range(S):
            for f0 in range(0, F4, 4):
                a = acc[s, f0:f0 + 4]
                _runs_f4_u4(a, xrow, s * dw * Cs, sw * Cs, OW4 // 4, drow[f0:], F4, L)
                for ow in range(OW4, OW):
                    _runs_f4_u1(a, xrow[(ow * sw + s * dw) * Cs:], drow[ow * F4 + f0:], L)


@pjit
def conv2d_weight_grad(x, dout, partial, db_partial, xs, dT, Cs, KH, sh, sw, ph, pw, dh, dw):
    """Per-chunk partial sums of the weight and bias gradients.

    x (N, C, H, W), dout (N, F, OH, OW). Chunk t sums over its samples
    n in [t*N//T, (t+1)*N//T):

    * partial (T, S, F4, L), F4 = F rounded up to a multiple of 4, of
      dout[n, f, oh, ow] * xpad[n, c, oh*sh + kh*dh, ow*sw + kw*dw] (xpad is x
      zero-padded by (ph, pw)): for dw == 1, S = 1, L >= KW*Cs and dw[f, c, kh, kw]
      sits at [t, 0, f, kw*Cs + kh*C + c]; otherwise S = KW, L >= Cs and it sits
      at [t, kw, f, kh*C + c]. Cs >= KH*C; other entries are scratch (L may
      exceed the run so that the vector loops have no remainder).
    * db_partial (T, F, OW): dout[n, f, oh, ow] summed over its samples and oh.

    Workspaces, zero except where samples are written (the caller zeroes
    them once per geometry): xs (T, OH, R) with R >= (W + 2*pw)*Cs, holding
    the stacked rows plus at least L - KW*Cs (dw == 1) or L - Cs zeros after
    them for the last run to read; dT (T, OH, OW*F4).
    """
    N = x.shape[0]
    T, F4 = partial.shape[0], partial.shape[2]
    for t in prange(T):
        partial[t] = 0
        db_partial[t] = 0
        for n in range(t * N // T, (t + 1) * N // T):
            _stack_rows(x[n], xs[t], Cs, KH, sh, ph, pw, dh)
            _transpose_dout(dout[n], dT[t], F4, db_partial[t])
            _weight_grad_sample(xs[t], dT[t], partial[t], Cs, sw, dw)
