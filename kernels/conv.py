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
  a multiple of 4. A block's four rows must write distinct planes (else
  LLVM's alias checks refuse to vectorise); with C < 4 each channel has
  four copies of its plane, one per slot, added up when dx is cropped out.
* Weight gradient, a reduction: dw[f, tap] = sum_q d[f, q] * xpad[c_tap, q + off_tap],
  four filters by four taps per pass (:func:`_dot44`): sixteen running sums
  over q, each load feeding four multiply-adds. It compiles with
  ``fastmath={"contract", "reassoc"}`` (``kernels._jit.jit_reduce``): LLVM
  vectorises a reduction only when it may reassociate the sum, and then
  keeps sixteen vector accumulators in registers. That ran 2.2x faster
  than the machine-independent alternative it replaced (fixed lane
  partial sums stored to memory: 35-37 against 77-78 GFLOP/s on one
  thread). The price is that the order of additions is LLVM's choice for
  the machine's vector width: the same on every run of one build on one
  machine, equal only to rounding across machines. One extra tap reads a
  plane of ones, which makes its "weight gradient" the bias gradient db.
  The input and weight gradients share one kernel, which lays dout out once.

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
``prange`` body (Numba would make nested parallel loops of them). Each
kernel is built twice from one source (:func:`_build_forward`,
:func:`_build_backward`): ``conv2d_*_flat`` runs its chunks on threads,
``conv2d_*_flat_serial`` one after another, at about half the compile time
(no parallel lowering): out and dx bitwise equal, dw and db equal to
rounding. ``fnn.ops.conv`` sends float64 to the serial build.
"""

from ._jit import jit, jit_fma, jit_reduce, pjit_fma, prange

__all__ = ["Q_STEP", "conv2d_forward_flat", "conv2d_backward_flat", "conv2d_forward_flat_serial",
           "conv2d_backward_flat_serial"]

Q_STEP = 16
"""The weight gradient's flat dout rows are zero-padded to a multiple of Q_STEP (whole vectors)."""


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


@jit_reduce
def _dot44(sums, d, f0, x, c, off, j0, n):
    """sums[4*i + j] += sum over q < n of d[f0 + i, q] * x[c[j0 + j], off[j0 + j] + q], for 4 rows i, 4 taps j.

    Sixteen running sums in one loop over q: LLVM vectorises it (the
    reduction may be reassociated, see the module docstring) with sixteen
    vector accumulators that stay in registers, and each of the eight loads
    per step feeds four multiply-adds.
    """
    e0, e1, e2, e3 = d[f0], d[f0 + 1], d[f0 + 2], d[f0 + 3]
    y0, y1 = x[c[j0], off[j0]:], x[c[j0 + 1], off[j0 + 1]:]
    y2, y3 = x[c[j0 + 2], off[j0 + 2]:], x[c[j0 + 3], off[j0 + 3]:]
    s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = sums.dtype.type(0)
    s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = sums.dtype.type(0)
    for q in range(n):
        u0, u1, u2, u3 = e0[q], e1[q], e2[q], e3[q]
        v0, v1, v2, v3 = y0[q], y1[q], y2[q], y3[q]
        s00 += u0 * v0
        s01 += u0 * v1
        s02 += u0 * v2
        s03 += u0 * v3
        s10 += u1 * v0
        s11 += u1 * v1
        s12 += u1 * v2
        s13 += u1 * v3
        s20 += u2 * v0
        s21 += u2 * v1
        s22 += u2 * v2
        s23 += u2 * v3
        s30 += u3 * v0
        s31 += u3 * v1
        s32 += u3 * v2
        s33 += u3 * v3
    sums[0] += s00
    sums[1] += s01
    sums[2] += s02
    sums[3] += s03
    sums[4] += s10
    sums[5] += s11
    sums[6] += s12
    sums[7] += s13
    sums[8] += s20
    sums[9] += s21
    sums[10] += s22
    sums[11] += s23
    sums[12] += s30
    sums[13] += s31
    sums[14] += s32
    sums[15] += s33


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
def _crop(src, dst, Wd, row0, left, sh, sw, copies):
    """dst[c, i, j] = sum over k < copies of src[k*C + c, (row0 + i*sh)*Wd + left + j*sw]
    for dst (C, H, W), src (>= copies*C, L); the copies are added in order k = 0, 1, ..."""
    C, H, W = dst.shape
    for c in range(C):
        for i in range(H):
            drow = dst[c, i]
            for k in range(copies):
                srow = src[k * C + c, (row0 + i * sh) * Wd + left:]
                if k == 0 and sw == 1:
                    for j in range(W):
                        drow[j] = srow[j]
                elif k == 0:
                    for j in range(W):
                        drow[j] = srow[j * sw]
                else:  # only the input gradient has copies, always at stride 1
                    for j in range(W):
                        drow[j] = drow[j] + srow[j]


# --------------------------------------------------------------------------
# Kernels
# --------------------------------------------------------------------------

def _build_forward(parallel):
    """conv2d_forward_flat with its chunks on threads (``parallel``) or one after another."""
    chunks = prange if parallel else range

    @(pjit_fma if parallel else jit_fma)
    def conv2d_forward_flat(x, wg, b, tap_c, tap_off, out, xpad, acc, G, Wp, Hp, ph, pw, sh, sw):
        """out[n, f, oh, ow] = b[f] + sum_j wg[f, j] * plane[tap_c[j], oh*sh*Wd + g*Wp + ow*sw + tap_off[j]].

        Samples n0 + g, g < G, sit side by side in a plane of rows Wd = G*Wp
        wide, x[n0 + g] at row ph, column g*Wp + pw. wg (F4, J) and b (F4,) are
        zero-extended to F4 = F rounded up to 4 (extra filters are computed and
        dropped); taps j < J, J a multiple of 4, extra taps with zero weight
        reading a plane that holds only zeros (0 * inf would be NaN).
        Chunk t handles groups t, t + T, ... of G consecutive samples.

        Workspaces, one slice per chunk: xpad (T, C + 1, >= (Hp + 1)*Wd), zero
        wherever no sample lands (the caller zeroes it once per geometry;
        plane C, which the padding taps read, stays zero); acc
        (T, 4, >= ((OH - 1)*sh + 1)*Wd).
        """
        N = x.shape[0]
        F, OH = out.shape[1], out.shape[2]
        T = xpad.shape[0]
        F4, J = wg.shape
        Wd = G * Wp
        P = ((OH - 1) * sh + 1) * Wd
        for t in chunks(T):
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
                        _crop(a, out[n0 + g, f0:min(F, f0 + 4)], Wd, 0, g * Wp, sh, sw, 1)

    return conv2d_forward_flat


conv2d_forward_flat = _build_forward(parallel=True)
conv2d_forward_flat_serial = _build_forward(parallel=False)


def _build_backward(parallel):
    """conv2d_backward_flat with its chunks on threads (``parallel``) or one after another."""
    chunks = prange if parallel else range
    @(pjit_fma if parallel else jit_fma)
    def conv2d_backward_flat(x, dout, sums, tap_c, tap_off, xpad, dflat, wt, dx_c, dx_off, dx, dxpad, G, Wp, Hp,
                             ph, pw, sh, sw):
        """Weight gradient as per-chunk partial sums, and (when dx has samples) the input gradient.

        G samples at a time sit side by side in planes of rows Wd = G*Wp wide:
        x[n0 + g] at row ph, column g*Wp + pw of xpad (as in the forward pass),
        dout[n0 + g, :, oh, ow] at q = oh*sh*Wd + g*Wp + ow*sw of d, zeros
        elsewhere. Chunk t takes samples [t*N//T, (t+1)*N//T), T = sums.shape[0].

        * Weight gradient: sums[t, f//4, j//4, 4*(f%4) + j%4] = sum over chunk
          t's samples and q of d[f, q] * xpad[tap_c[j], q + tap_off[j]], taps
          j < J (J a multiple of 4), F4 = F rounded up to 4. The caller points
          one tap at a plane of ones (its sums are db) and adds the chunks in
          a fixed order.
        * Input gradient, skipped when dx.shape[0] == 0: dx[n0 + g] is the crop
          at (ph, g*Wp + pw) of dx_pad, where for each row r of the tables
          dx_pad[dx_c[r], q + dx_off[r]] += sum_f wt[r, f] * d[f, q]. Rows come in
          blocks of four with distinct planes (a row is a pair (tap, channel):
          offset kh*dh*Wd + kw*dw, weights w[:, c, kh, kw]); padding rows have
          zero weights and point at scratch planes >= K*C. With K =
          (dxpad.shape[1] - 4) // C copies, channel c has planes k*C + c,
          k < K, which the crop adds in order (so C < 4 channels still fill
          blocks of four distinct planes). Each value is the same sum in the
          same order whatever T and G.

        Workspaces, one slice per chunk: xpad (T, >= C, >= max(tap_off) + Q),
        zero wherever no sample lands (plus any constant planes the taps read);
        dflat (T, F4, >= Q), zero wherever no dout lands, where
        Q = ((OH - 1)*sh + 1)*Wd rounded up to Q_STEP; dxpad (T, K*C + 4,
        >= (Hp + 1)*Wd). sums and dxpad are overwritten.
        """
        N, OH = dout.shape[0], dout.shape[2]
        T, F4, J = sums.shape[0], 4 * sums.shape[1], 4 * sums.shape[2]
        B = dx_c.shape[0] // 4
        copies = (dxpad.shape[1] - 4) // x.shape[1]
        Wd = G * Wp
        Q_exact = ((OH - 1) * sh + 1) * Wd
        Q = -(-Q_exact // Q_STEP) * Q_STEP
        zero = x.dtype.type(0)
        for t in chunks(T):
            plane = xpad[t]
            d = dflat[t]
            acc = sums[t]
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
                    _crop(dxp, dx[n0 + g], Wd, ph, g * Wp + pw, 1, 1, copies)

    return conv2d_backward_flat


conv2d_backward_flat = _build_backward(parallel=True)
conv2d_backward_flat_serial = _build_backward(parallel=False)
