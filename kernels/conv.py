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
* Weight gradient, a reduction: dw[f, tap] = sum_q d[f, q] * xpad[c_tap, q + off_tap].
  LLVM vectorises a reduction only under reassociation (fastmath), so each
  (filter, tap) pair keeps LANES partial sums, lane l taking
  q = l (mod LANES), and the lanes are added at the end in a fixed order.
  Within one sample group :func:`_dot44` sums into WIDE = 4*LANES lanes
  per pair, FOLD blocks of q per update (long vector loops, four
  multiply-adds per accumulator store), then folds them onto the LANES.
  One extra tap reads a plane of ones, which makes its "weight gradient"
  the bias gradient db. The input and weight gradients share one kernel,
  which lays dout out once.

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
(no parallel lowering, and a compact weight-gradient loop,
:func:`_dot44_compact`): out and dx bitwise equal, dw and db equal to
rounding. ``fnn.ops.conv`` sends float64 to the serial build.
"""
import numpy as np

from ._jit import jit, jit_fma, pjit_fma, prange

__all__ = ["FOLD", "LANES", "Q_STEP", "WIDE", "conv2d_forward_flat", "conv2d_backward_flat",
           "conv2d_forward_flat_serial", "conv2d_backward_flat_serial"]

LANES = 16
"""Partial sums per (filter, tap) that the weight gradient keeps across sample groups."""
WIDE = 4 * LANES
"""Partial sums per (filter, tap) inside one pass over a sample group (folded onto the LANES sums after it)."""
FOLD = 4
"""Blocks of WIDE consecutive q added into each of those partial sums per update."""
Q_STEP = FOLD * WIDE
"""The weight gradient reads q in steps of Q_STEP: the flat dout rows are zero-padded to a multiple of it."""


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
def _dot44(lanes, wide, d, f0, x, c, off, j0, n):
    """lanes[(4*i + j)*LANES + l] += sum of d[f0 + i, q] * x[c[j0 + j], off[j0 + j] + q]
    over q = l (mod LANES), q < n; n a multiple of Q_STEP.

    The sums run in ``wide`` (16*WIDE scratch values, overwritten): WIDE
    partial sums per pair, FOLD blocks of WIDE consecutive q folded into
    each update, so every accumulator load and store carries FOLD
    multiply-adds and the vector loop over l is long enough to pay for
    LLVM's alias checks. Rows sit a constant WIDE apart in one flat array,
    so LLVM can prove the sixteen rows distinct. At the end each row's WIDE
    sums are folded onto its LANES sums in lanes, in a fixed order.
    """
    L = WIDE
    _fill(wide, wide.dtype.type(0), 16 * L)
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
            u02, u12, u22, u32 = e0[l + 2 * L], e1[l + 2 * L], e2[l + 2 * L], e3[l + 2 * L]
            v02, v12, v22, v32 = y0[l + 2 * L], y1[l + 2 * L], y2[l + 2 * L], y3[l + 2 * L]
            u03, u13, u23, u33 = e0[l + 3 * L], e1[l + 3 * L], e2[l + 3 * L], e3[l + 3 * L]
            v03, v13, v23, v33 = y0[l + 3 * L], y1[l + 3 * L], y2[l + 3 * L], y3[l + 3 * L]
            wide[l] = wide[l] + u00 * v00 + u01 * v01 + u02 * v02 + u03 * v03
            wide[L + l] = wide[L + l] + u00 * v10 + u01 * v11 + u02 * v12 + u03 * v13
            wide[2 * L + l] = wide[2 * L + l] + u00 * v20 + u01 * v21 + u02 * v22 + u03 * v23
            wide[3 * L + l] = wide[3 * L + l] + u00 * v30 + u01 * v31 + u02 * v32 + u03 * v33
            wide[4 * L + l] = wide[4 * L + l] + u10 * v00 + u11 * v01 + u12 * v02 + u13 * v03
            wide[5 * L + l] = wide[5 * L + l] + u10 * v10 + u11 * v11 + u12 * v12 + u13 * v13
            wide[6 * L + l] = wide[6 * L + l] + u10 * v20 + u11 * v21 + u12 * v22 + u13 * v23
            wide[7 * L + l] = wide[7 * L + l] + u10 * v30 + u11 * v31 + u12 * v32 + u13 * v33
            wide[8 * L + l] = wide[8 * L + l] + u20 * v00 + u21 * v01 + u22 * v02 + u23 * v03
            wide[9 * L + l] = wide[9 * L + l] + u20 * v10 + u21 * v11 + u22 * v12 + u23 * v13
            wide[10 * L + l] = wide[10 * L + l] + u20 * v20 + u21 * v21 + u22 * v22 + u23 * v23
            wide[11 * L + l] = wide[11 * L + l] + u20 * v30 + u21 * v31 + u22 * v32 + u23 * v33
            wide[12 * L + l] = wide[12 * L + l] + u30 * v00 + u31 * v01 + u32 * v02 + u33 * v03
            wide[13 * L + l] = wide[13 * L + l] + u30 * v10 + u31 * v11 + u32 * v12 + u33 * v13
            wide[14 * L + l] = wide[14 * L + l] + u30 * v20 + u31 * v21 + u32 * v22 + u33 * v23
            wide[15 * L + l] = wide[15 * L + l] + u30 * v30 + u31 * v31 + u32 * v32 + u33 * v33
    M = LANES
    for r in range(16):
        src = wide[r * L:]
        dst = lanes[r * M:]
        for l in range(M):
            dst[l] = dst[l] + src[l] + src[l + M] + src[l + 2 * M] + src[l + 3 * M]


@jit_fma
def _dot44_compact(lanes, wide, d, f0, x, c, off, j0, n):
    """The sums of :func:`_dot44` straight into lanes, one (filter, tap) pair at a time.

    A short loop nest instead of sixteen unrolled rows: it compiles in a
    fraction of the time and runs slower; the serial build (float64) uses
    it. Lane l takes q = l (mod LANES) as in _dot44, only added in another
    order (equal to rounding). ``wide`` is unused.
    """
    for i in range(4):
        e = d[f0 + i]
        for j in range(4):
            y = x[c[j0 + j], off[j0 + j]:]
            row = lanes[(4 * i + j) * LANES:]
            for q0 in range(0, n, LANES):
                eq, yq = e[q0:], y[q0:]
                for l in range(LANES):
                    row[l] = row[l] + eq[l] * yq[l]


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
    """conv2d_backward_flat with its chunks on threads (``parallel``) or one after another.

    The serial build sums the weight gradient with :func:`_dot44_compact`
    (the same lanes, to rounding), which compiles much faster.
    """
    chunks = prange if parallel else range
    # A constant (Numba prunes the branch it rules out); the helpers themselves must not be closure
    # variables: the on-disk cache keys on closure contents, and a dispatcher pickles differently in
    # every process, so each run would miss the cache.
    compact = not parallel

    @(pjit_fma if parallel else jit_fma)
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
          zero weights and point at scratch planes >= K*C. With K =
          (dxpad.shape[1] - 4) // C copies, channel c has planes k*C + c,
          k < K, which the crop adds in order (so C < 4 channels still fill
          blocks of four distinct planes). Each value is the same sum in the
          same order whatever T and G.

        Workspaces, one slice per chunk: xpad (T, >= C, >= max(tap_off) + Q),
        zero wherever no sample lands (plus any constant planes the taps read);
        dflat (T, F4, >= Q), zero wherever no dout lands, where
        Q = ((OH - 1)*sh + 1)*Wd rounded up to Q_STEP; dxpad (T, K*C + 4,
        >= (Hp + 1)*Wd). lanes and dxpad are overwritten.
        """
        N, OH = dout.shape[0], dout.shape[2]
        T, F4, J = lanes.shape[0], 4 * lanes.shape[1], 4 * lanes.shape[2]
        B = dx_c.shape[0] // 4
        copies = (dxpad.shape[1] - 4) // x.shape[1]
        Wd = G * Wp
        Q_exact = ((OH - 1) * sh + 1) * Wd
        Q = -(-Q_exact // Q_STEP) * Q_STEP
        zero = x.dtype.type(0)
        for t in chunks(T):
            plane = xpad[t]
            d = dflat[t]
            acc = lanes[t]
            wide = np.empty(16 * WIDE, x.dtype)
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
                        if compact:
                            _dot44_compact(acc[f0 // 4, j0 // 4], wide, d, f0, plane, tap_c, tap_off, j0, Q)
                        else:
                            _dot44(acc[f0 // 4, j0 // 4], wide, d, f0, plane, tap_c, tap_off, j0, Q)
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
