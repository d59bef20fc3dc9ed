"""2-D convolution (cross-correlation, NCHW) kernels: forward, input gradient, weight gradient.

Shapes: x (N, C, H, W), w (F, C, KH, KW), out (N, F, OH, OW) with
OH = (H + 2*ph - dh*(KH - 1) - 1) // sh + 1 for stride sh, zero padding ph and
dilation dh (likewise W). Kernels write into arrays their caller allocated;
``fnn.ops.conv`` validates arguments and builds the tap tables and workspaces.

Flat planes. A sample zero-padded to (Hp, Wp) = (H + 2*ph, W + 2*pw) is
stored with each channel's plane flattened; G small samples sit side by side
in one plane of rows Wd = G*Wp wide, sample g from column g*Wp. Output pixel
(oh, ow) of sample g sits at q = oh*sh*Wd + g*Wp + ow*sw, and tap (kh, kw) of
channel c reads ``plane[c, q + kh*dh*Wd + kw*dw]``. So every tap is one long
contiguous multiply-add over q: computing q over whole rows (columns past a
sample's output are garbage, never copied out) turns the convolution into
loops LLVM vectorises. A tap is a pair (channel, offset); the wrapper lists
them in tables, four per group, padded with zero-weight taps. Stride s is
computed at stride 1 along W and subsampled (general path, not fast).

* Forward: acc[f, q] = b[f] + sum over taps of w[f, tap] * xpad[c_tap, q + off_tap],
  four filters by four taps per pass (:func:`_mac44`), then every output
  pixel is copied out of acc.
* Input gradient, as a scatter: dx_pad[c, q + off] += w[f, c, kh, kw] * d[f, q]
  where d holds dout placed at the output pixels' q and zeros elsewhere: four
  (tap, channel) pairs by four filters per pass, the same :func:`_mac44`.
  Unlike a correlation over a spread, padded dout it visits only the output
  rows, and blocking pairs rather than channels wastes nothing when C is not
  a multiple of 4 (as long as C >= 4).
* Weight gradient, a reduction: dw[f, tap] = sum_q d[f, q] * xpad[c_tap, q + off_tap].
  LLVM vectorises a reduction only under reassociation (fastmath), so each
  (filter, tap) pair keeps LANES partial sums, lane l taking
  q = l (mod LANES) (:func:`_dot44`, FOLD blocks of q per update), and the
  lanes are added at the end in a fixed order. One extra tap reads a plane
  of ones, which makes its "weight gradient" the bias gradient db. The
  input and weight gradients share one kernel, which lays dout out once.

Multiply-adds compile with ``fastmath={"contract"}`` (``kernels._jit.jit_fma``):
fused where the CPU has FMA, in the order the source writes them.

Parallelism: ``prange`` over T chunks, each with its own slice of every
workspace. Forward: chunk t takes groups t, t + T, ... of G samples;
backward: chunk t takes samples [t*N//T, (t+1)*N//T), G at a time. Every
output and input-gradient value is the same sum in the same order whatever
T and G, so serial and parallel results are bitwise equal. The weight
gradient's chunks write their own partial sums, which the caller adds in
chunk order, so results never depend on thread scheduling. T = 1 is the
serial path.

Compile time: every ``prange`` kernel costs seconds per dtype, growing with
the code inside it, so there are two, sharing a few small helpers; fills
and copies are loops in serial helpers, never slice assignments in a
``prange`` body (Numba would make nested parallel loops of them).
"""
from ._jit import jit, jit_fma, pjit_fma, prange

__all__ = ["FOLD", "LANES", "conv2d_forward_flat", "conv2d_backward_flat"]

LANES = 16
"""Partial sums per (filter, tap) in the weight gradient; it reads q in steps of FOLD*LANES."""
FOLD = 2


# --------------------------------------------------------------------------
# Inner loops. Each operand gets its own contiguous slice view indexed by the
# loop counter alone (``x0 = x[off:]`` then ``x0[p]``): an index with a
# runtime offset adds a wraparound check per element that defeats the
# vectoriser. They live in this file because Numba's on-disk cache notices
# edits only to the file of the function it compiled.
# --------------------------------------------------------------------------

@jit_fma
def _mac44(a0, a1, a2, a3, x0, x1, x2, x3, w, i0, j0, n):
    """a_i[p] += sum_j w[i0 + i, j0 + j] * x_j[p] for 4 rows i, 4 inputs j, p < n.

    Each loaded input feeds four multiply-adds and each accumulator row is
    loaded and stored once per four of them.
    """
    w00, w01, w02, w03 = w[i0, j0], w[i0, j0 + 1], w[i0, j0 + 2], w[i0, j0 + 3]
    w10, w11, w12, w13 = w[i0 + 1, j0], w[i0 + 1, j0 + 1], w[i0 + 1, j0 + 2], w[i0 + 1, j0 + 3]
    w20, w21, w22, w23 = w[i0 + 2, j0], w[i0 + 2, j0 + 1], w[i0 + 2, j0 + 2], w[i0 + 2, j0 + 3]
    w30, w31, w32, w33 = w[i0 + 3, j0], w[i0 + 3, j0 + 1], w[i0 + 3, j0 + 2], w[i0 + 3, j0 + 3]
    for p in range(n):
        v0, v1, v2, v3 = x0[p], x1[p], x2[p], x3[p]
        a0[p] = a0[p] + w00 * v0 + w01 * v1 + w02 * v2 + w03 * v3
        a1[p] = a1[p] + w10 * v0 + w11 * v1 + w12 * v2 + w13 * v3
        a2[p] = a2[p] + w20 * v0 + w21 * v1 + w22 * v2 + w23 * v3
        a3[p] = a3[p] + w30 * v0 + w31 * v1 + w32 * v2 + w33 * v3


@jit_fma
def _dot44(lanes, d, f0, x, c, off, j0, n):
    """lanes[(4*i + j)*LANES + l] += sum of d[f0 + i, q] * x[c[j0 + j], off[j0 + j] + q]
    over q = l (mod LANES), q < n; n a multiple of FOLD*LANES.

    Lane rows sit a constant LANES apart in one flat array, so LLVM can prove
    the sixteen rows distinct and vectorise along l; FOLD = 2 blocks of q are
    folded into each update, halving the accumulator traffic.
    """
    L = LANES
    ca, cb, cc, cd = c[j0], c[j0 + 1], c[j0 + 2], c[j0 + 3]
    oa, ob, oc, od = off[j0], off[j0 + 1], off[j0 + 2], off[j0 + 3]
    for q0 in range(0, n, FOLD * L):
        e0, e1, e2, e3 = d[f0, q0:], d[f0 + 1, q0:], d[f0 + 2, q0:], d[f0 + 3, q0:]
        y0, y1, y2, y3 = x[ca, oa + q0:], x[cb, ob + q0:], x[cc, oc + q0:], x[cd, od + q0:]
        for l in range(L):
            u00, u10, u20, u30 = e0[l], e1[l], e2[l], e3[l]
            v00, v10, v20, v30 = y0[l], y1[l], y2[l], y3[l]
            u01, u11, u21, u31 = e0[l + L], e1[l + L], e2[l + L], e3[l + L]
            v01, v11, v21, v31 = y0[l + L], y1[l + L], y2[l + L], y3[l + L]
            lanes[l] = lanes[l] + u00 * v00 + u01 * v01
            lanes[L + l] = lanes[L + l] + u00 * v10 + u01 * v11
            lanes[2 * L + l] = lanes[2 * L + l] + u00 * v20 + u01 * v21
            lanes[3 * L + l] = lanes[3 * L + l] + u00 * v30 + u01 * v31
            lanes[4 * L + l] = lanes[4 * L + l] + u10 * v00 + u11 * v01
            lanes[5 * L + l] = lanes[5 * L + l] + u10 * v10 + u11 * v11
            lanes[6 * L + l] = lanes[6 * L + l] + u10 * v20 + u11 * v21
            lanes[7 * L + l] = lanes[7 * L + l] + u10 * v30 + u11 * v31
            lanes[8 * L + l] = lanes[8 * L + l] + u20 * v00 + u21 * v01
            lanes[9 * L + l] = lanes[9 * L + l] + u20 * v10 + u21 * v11
            lanes[10 * L + l] = lanes[10 * L + l] + u20 * v20 + u21 * v21
            lanes[11 * L + l] = lanes[11 * L + l] + u20 * v30 + u21 * v31
            lanes[12 * L + l] = lanes[12 * L + l] + u30 * v00 + u31 * v01
            lanes[13 * L + l] = lanes[13 * L + l] + u30 * v10 + u31 * v11
            lanes[14 * L + l] = lanes[14 * L + l] + u30 * v20 + u31 * v21
            lanes[15 * L + l] = lanes[15 * L + l] + u30 * v30 + u31 * v31


# --------------------------------------------------------------------------
# Layouts (plain copies, shared by the two kernels). Fills and copies are
# loops in serial helpers, never slice assignments in a prange kernel: Numba
# would turn those into nested parallel loops, which cost compile time.
# --------------------------------------------------------------------------

@jit
def _fill(a, value, n):
    """a[:n] = value for a 1-D array."""
    for i in range(n):
        a[i] = value


@jit
def _fill_rows(a, values, n):
    """a[i, :n] = values[i] for every row i of a."""
    for i in range(a.shape[0]):
        row = a[i]
        v = values[i]
        for p in range(n):
            row[p] = v


@jit
def _place(src, dst, Wd, row0, left, sh, sw):
    """dst[c, (row0 + i*sh)*Wd + left + j*sw] = src[c, i, j] for src (C, H, W), dst (>= C, L).

    Only those positions are written: the rest of dst keeps what it holds
    (zeros, which the caller sets once per geometry).
    """
    C, H, W = src.shape
    for c in range(C):
        for i in range(H):
            srow = src[c, i]
            drow = dst[c, (row0 + i * sh) * Wd + left:]
            if sw == 1:
                for j in range(W):
                    drow[j] = srow[j]
            else:
                for j in range(W):
                    drow[j * sw] = srow[j]


@jit
def _crop(src, dst, Wd, row0, left, sh, sw):
    """dst[c, i, j] = src[c, (row0 + i*sh)*Wd + left + j*sw] for dst (C, H, W), src (>= C, L)."""
    C, H, W = dst.shape
    for c in range(C):
        for i in range(H):
            srow = src[c, (row0 + i * sh) * Wd + left:]
            drow = dst[c, i]
            if sw == 1:
                for j in range(W):
                    drow[j] = srow[j]
            else:
                for j in range(W):
                    drow[j] = srow[j * sw]


# --------------------------------------------------------------------------
# Kernels
# --------------------------------------------------------------------------

@pjit_fma
def conv2d_forward_flat(x, wg, b, tap_c, tap_off, out, xpad, acc, G, Wp, Hp, ph, pw, sh, sw):
    """out[n, f, oh, ow] = b[f] + sum_j wg[f, j] * plane[tap_c[j], oh*sh*Wd + g*Wp + ow*sw + tap_off[j]].

    Samples n0 + g, g < G, sit side by side in a plane of rows Wd = G*Wp
    wide, x[n0 + g] at row ph, column g*Wp + pw. wg (F4, J) and b (F4,) are
    zero-extended to F4 = F rounded up to 4 (extra filters are computed and
    dropped); taps j < J, J a multiple of 4, extra taps with zero weight.
    Chunk t handles groups t, t + T, ... of G consecutive samples.

    Workspaces, one slice per chunk: xpad (T, C, >= (Hp + 1)*Wd), zero
    wherever no sample lands (the caller zeroes it once per geometry); acc
    (T, 4, >= ((OH - 1)*sh + 1)*Wd).
    """
    N = x.shape[0]
    F, OH = out.shape[1], out.shape[2]
    T = xpad.shape[0]
    F4, J = wg.shape
    Wd = G * Wp
    P = ((OH - 1) * sh + 1) * Wd
    for t in prange(T):
        plane = xpad[t]
        a = acc[t]
        a0, a1, a2, a3 = a[0], a[1], a[2], a[3]
        for n0 in range(t * G, N, T * G):
            count = min(G, N - n0)
            for g in range(count):
                _place(x[n0 + g], plane, Wd, ph, g * Wp + pw, 1, 1)
            for f0 in range(0, F4, 4):
                _fill_rows(a, b[f0:f0 + 4], P)
                for j0 in range(0, J, 4):
                    _mac44(a0, a1, a2, a3,
                           plane[tap_c[j0], tap_off[j0]:], plane[tap_c[j0 + 1], tap_off[j0 + 1]:],
                           plane[tap_c[j0 + 2], tap_off[j0 + 2]:], plane[tap_c[j0 + 3], tap_off[j0 + 3]:],
                           wg, f0, j0, P)
                for g in range(count):
                    _crop(a, out[n0 + g, f0:min(F, f0 + 4)], Wd, 0, g * Wp, sh, sw)


@pjit_fma
def conv2d_backward_flat(x, dout, lanes, tap_c, tap_off, xpad, dflat, wt, dx_c, dx_off, dx, dxpad, G, Wp, Hp,
                         ph, pw, sh, sw):
    """Weight gradient as per-chunk lane sums, and (when dx has samples) the input gradient.

    G samples at a time sit side by side in planes of rows Wd = G*Wp wide:
    x[n0 + g] at row ph, column g*Wp + pw of xpad (as in the forward pass),
    dout[n0 + g, :, oh, ow] at q = oh*sh*Wd + g*Wp + ow*sw of d, zeros
    elsewhere. Chunk t takes samples [t*N//T, (t+1)*N//T), T = lanes.shape[0].

    * Weight gradient: lanes[t, f//4, j//4, (4*(f%4) + j%4)*LANES + l] = sum
      over chunk t's samples and q = l (mod LANES) of
      d[f, q] * xpad[tap_c[j], q + tap_off[j]], taps j < J (J a multiple of
      4), F4 = F rounded up to 4. The caller points one tap at a plane of
      ones (its sums are db) and adds chunks, then lanes, in a fixed order.
    * Input gradient, skipped when dx.shape[0] == 0: dx[n0 + g] is the crop
      at (ph, g*Wp + pw) of dx_pad, where for each row r of the tables
      dx_pad[dx_c[r], q + dx_off[r]] += sum_f wt[r, f] * d[f, q]. Rows come in
      blocks of four with distinct planes (a row is a pair (tap, channel):
      offset kh*dh*Wd + kw*dw, weights w[:, c, kh, kw]); padding rows have
      zero weights and point at scratch planes >= C. Each value is the same
      sum in the same order whatever T and G.

    Workspaces, one slice per chunk: xpad (T, >= C, >= max(tap_off) + Q),
    zero wherever no sample lands (plus any constant planes the taps read);
    dflat (T, F4, >= Q), zero wherever no dout lands, where
    Q = ((OH - 1)*sh + 1)*Wd rounded up to FOLD*LANES; dxpad (T, >= C + 4,
    >= (Hp + 1)*Wd). lanes and dxpad are overwritten.
    """
    N, OH = dout.shape[0], dout.shape[2]
    T, F4, J = lanes.shape[0], 4 * lanes.shape[1], 4 * lanes.shape[2]
    B = dx_c.shape[0] // 4
    L = LANES
    Wd = G * Wp
    Q_exact = ((OH - 1) * sh + 1) * Wd
    Q = -(-Q_exact // (FOLD * L)) * (FOLD * L)
    zero = x.dtype.type(0)
    for t in prange(T):
        plane = xpad[t]
        d = dflat[t]
        acc = lanes[t]
        _fill(acc.reshape(acc.size), zero, acc.size)
        n_end = (t + 1) * N // T
        for n0 in range(t * N // T, n_end, G):
            count = min(G, n_end - n0)
            if count < G:
                _fill(d.reshape(d.size), zero, d.size)  # slots this group leaves empty must add nothing
            for g in range(count):
                _place(x[n0 + g], plane, Wd, ph, g * Wp + pw, 1, 1)
                _place(dout[n0 + g], d, Wd, 0, g * Wp, sh, sw)
            for f0 in range(0, F4, 4):
                for j0 in range(0, J, 4):
                    _dot44(acc[f0 // 4, j0 // 4], d, f0, plane, tap_c, tap_off, j0, Q)
            if dx.shape[0] == 0:
                continue
            dxp = dxpad[t]
            _fill(dxp.reshape(dxp.size), zero, dxp.size)
            for r in range(0, 4 * B, 4):
                a0, a1 = dxp[dx_c[r], dx_off[r]:], dxp[dx_c[r + 1], dx_off[r + 1]:]
                a2, a3 = dxp[dx_c[r + 2], dx_off[r + 2]:], dxp[dx_c[r + 3], dx_off[r + 3]:]
                for f0 in range(0, F4, 4):
                    _mac44(a0, a1, a2, a3, d[f0], d[f0 + 1], d[f0 + 2], d[f0 + 3], wt, r, f0, Q_exact)
            for g in range(count):
                _crop(dxp, dx[n0 + g], Wd, ph, g * Wp + pw, 1, 1)
