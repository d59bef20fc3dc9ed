"""Numba convolution kernels against plain loops over every output pixel.

The kernels are called directly with operands laid out as their docstrings
specify (padded planes holding samples side by side, tap tables, gradients
placed at the output pixels, per-chunk weight-gradient sums), so these tests
pin down both the arithmetic and the layout contracts.
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernels import conv as kc
from no_jit import run_without_jit

# --------------------------------------------------------------------------
# Plain references: one output (or input, or weight) element at a time
# --------------------------------------------------------------------------


def out_size(H, W, KH, KW, stride, padding, dilation):
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    return (H + 2 * ph - dh * (KH - 1) - 1) // sh + 1, (W + 2 * pw - dw * (KW - 1) - 1) // sw + 1


def contributions(x_shape, w_shape, stride, padding, dilation):
    """Every (n, f, oh, ow, c, kh, kw, i, j) where output pixel (oh, ow) reads x[n, c, i, j] through tap (kh, kw).

    The one definition of convolution the three references below share:
    out[n, f, oh, ow] sums w[f, c, kh, kw] * x[n, c, i, j] over these, and
    each gradient runs the same correspondence the other way.
    """
    N, C, H, W = x_shape
    F, _, KH, KW = w_shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    OH, OW = out_size(H, W, KH, KW, stride, padding, dilation)
    for n in range(N):
        for f in range(F):
            for oh in range(OH):
                for ow in range(OW):
                    for c in range(C):
                        for kh in range(KH):
                            for kw in range(KW):
                                i = oh * sh + kh * dh - ph
                                j = ow * sw + kw * dw - pw
                                if 0 <= i < H and 0 <= j < W:
                                    yield n, f, oh, ow, c, kh, kw, i, j


def naive_forward(x, w, b, stride, padding, dilation):
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH, OW = out_size(H, W, KH, KW, stride, padding, dilation)
    out = np.zeros((N, F, OH, OW))
    out += b.astype(np.float64)[None, :, None, None]
    for n, f, oh, ow, c, kh, kw, i, j in contributions(x.shape, w.shape, stride, padding, dilation):
        out[n, f, oh, ow] += float(w[f, c, kh, kw]) * float(x[n, c, i, j])
    return out


def naive_input_grad(dout, w, x_shape, stride, padding, dilation):
    dx = np.zeros(x_shape)
    for n, f, oh, ow, c, kh, kw, i, j in contributions(x_shape, w.shape, stride, padding, dilation):
        dx[n, c, i, j] += float(dout[n, f, oh, ow]) * float(w[f, c, kh, kw])
    return dx


def naive_weight_grad(dout, x, w_shape, stride, padding, dilation):
    dw_ = np.zeros(w_shape)
    for n, f, oh, ow, c, kh, kw, i, j in contributions(x.shape, w_shape, stride, padding, dilation):
        dw_[f, c, kh, kw] += float(dout[n, f, oh, ow]) * float(x[n, c, i, j])
    return dw_


# --------------------------------------------------------------------------
# Calling the kernels as their docstrings specify
# --------------------------------------------------------------------------


def round4(n):
    return -(-n // 4) * 4


def zero_extend(a, shape):
    out = np.zeros(shape, a.dtype)
    out[tuple(slice(0, n) for n in a.shape)] = a
    return out


def tap_tables(C, KH, KW, Wd, dh, dw, count):
    """(channel, offset) of taps (c, kh, kw) in that order on planes with rows Wd wide, then padding
    taps reading plane C (kept zero by the forward) at offset 0."""
    tap_c = np.full(count, C, np.int64)
    tap_off = np.zeros(count, np.int64)
    j = 0
    for c in range(C):
        for kh in range(KH):
            for kw in range(KW):
                tap_c[j], tap_off[j] = c, kh * dh * Wd + kw * dw
                j += 1
    return tap_c, tap_off


def kernel_forward(x, w, b, stride, padding, dilation, chunks, group=1, serial=False):
    """The forward pass: each sample zero-padded, G samples side by side per plane (``serial``: that build)."""
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    OH, OW = out_size(H, W, KH, KW, stride, padding, dilation)
    Hp, Wp = H + 2 * ph, W + 2 * pw
    Wd = group * Wp
    F4, J = round4(F), round4(C * KH * KW)
    tap_c, tap_off = tap_tables(C, KH, KW, Wd, dh, dw, J)
    out = np.empty((N, F, OH, OW), x.dtype)
    xpad = np.zeros((chunks, C + 1, (Hp + 1) * Wd), x.dtype)
    acc = np.full((chunks, 4, ((OH - 1) * sh + 1) * Wd), np.nan, x.dtype)  # NaN: must be overwritten
    kernel = kc.conv2d_forward_flat_serial if serial else kc.conv2d_forward_flat
    kernel(x, zero_extend(w.reshape(F, -1), (F4, J)), zero_extend(b, (F4,)), tap_c, tap_off,
           out, xpad, acc, group, Wp, Hp, ph, pw, sh, sw)
    return out


def kernel_backward(dout, x, w, stride, padding, dilation, chunks, group=1, input_grad=True, serial=False):
    """(dx or None, dw, db) from the backward kernel: dx scattered onto padded planes, dw and db from
    the per-chunk partial sums (one tap reads a plane of ones: db), added in a fixed order."""
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    OH, OW = dout.shape[2:]
    Hp, Wp = H + 2 * ph, W + 2 * pw
    Wd = group * Wp
    F4, CKK = round4(F), C * KH * KW
    J = round4(CKK + 1)
    tap_c, tap_off = tap_tables(C, KH, KW, Wd, dh, dw, J)  # tap CKK reads plane C, the ones: db
    Q = -(-((OH - 1) * sh + 1) * Wd // kc.Q_STEP) * kc.Q_STEP
    xpad = np.zeros((chunks, C + 1, (Hp + 1) * Wd + kc.Q_STEP), x.dtype)
    xpad[:, C] = 1
    dflat = np.zeros((chunks, F4, Q), x.dtype)
    sums = np.full((chunks, F4 // 4, J // 4, 16), np.nan, x.dtype)  # NaN: must be overwritten
    if input_grad:
        # One (tap, channel) pair per row, four consecutive pairs per block: with C >= 4 they are on distinct
        # channels; with C < 4 slot i writes copy i of its channel's plane (plane i*C + c), which the kernel
        # adds up. Padding rows go to scratch planes.
        copies = 1 if C >= 4 else 4
        pairs = [(kh, kw, c) for kh in range(KH) for kw in range(KW) for c in range(C)]
        blocks = [pairs[i:i + 4] for i in range(0, len(pairs), 4)]
        dx_c = np.array([(i if copies > 1 else 0) * C + blk[i][2] if i < len(blk) else copies * C + i
                         for blk in blocks for i in range(4)], np.int64)
        dx_off = np.array([blk[i][0] * dh * Wd + blk[i][1] * dw if i < len(blk) else 0
                           for blk in blocks for i in range(4)], np.int64)
        wt = np.zeros((4 * len(blocks), F4), x.dtype)
        for b, blk in enumerate(blocks):
            for i, (kh, kw, c) in enumerate(blk):
                wt[4 * b + i, :F] = w[:, c, kh, kw]
        dx = np.empty(x.shape, x.dtype)
        dxpad = np.full((chunks, copies * C + 4, (Hp + 1) * Wd), np.nan, x.dtype)  # NaN: must be overwritten
    else:
        dx_c, dx_off, wt = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4), x.dtype)
        dx = np.empty((0, C, H, W), x.dtype)
        dxpad = np.empty((chunks, 4, 0), x.dtype)
    kernel = kc.conv2d_backward_flat_serial if serial else kc.conv2d_backward_flat
    kernel(x, dout, sums, tap_c, tap_off, xpad, dflat, wt, dx_c, dx_off, dx, dxpad, group, Wp, Hp, ph, pw, sh, sw)
    total = sums[0].copy()
    for t in range(1, chunks):
        total += sums[t]
    total = total.reshape(F4 // 4, J // 4, 4, 4).transpose(0, 2, 1, 3).reshape(F4, J)
    return (dx if input_grad else None), total[:F, :CKK].reshape(F, C, KH, KW), total[:F, CKK]


def kernel_input_grad(dout, w, x_shape, stride, padding, dilation, chunks, group=1):
    x = np.zeros(x_shape, dout.dtype)
    return kernel_backward(dout, x, w, stride, padding, dilation, chunks, group)[0]


def kernel_weight_grad(dout, x, w_shape, stride, padding, dilation, chunks, group=1):
    w = np.zeros(w_shape, x.dtype)
    return kernel_backward(dout, x, w, stride, padding, dilation, chunks, group, input_grad=False)[1:]


# --------------------------------------------------------------------------
# Hypothesis cases: shapes, strides, paddings and dilations per axis
# --------------------------------------------------------------------------


@st.composite
def conv_cases(draw, max_n=2):
    N = draw(st.integers(1, max_n))
    C = draw(st.integers(1, 6))  # C >= 4 takes the blocked input-gradient path
    F = draw(st.integers(1, 6))
    KH, KW = draw(st.sampled_from([(1, 1), (3, 3), (5, 5), (2, 3), (3, 1), (4, 5)]))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    # Smallest input with a positive output size, plus a little room.
    H = max(1, dilation[0] * (KH - 1) + 1 - 2 * padding[0]) + draw(st.integers(0, 5))
    W = max(1, dilation[1] * (KW - 1) + 1 - 2 * padding[1]) + draw(st.integers(0, 5))
    seed = draw(st.integers(0, 2**31 - 1))
    return (N, C, H, W, F, KH, KW), stride, padding, dilation, seed


def make_operands(shape, stride, padding, dilation, seed, dtype=np.float64):
    N, C, H, W, F, KH, KW = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((F, C, KH, KW)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    OH, OW = out_size(H, W, KH, KW, stride, padding, dilation)
    dout = rng.standard_normal((N, F, OH, OW)).astype(dtype)
    return x, w, b, dout


def rel(a, b):
    scale = max(np.max(np.abs(b)), 1e-300)
    return np.max(np.abs(np.asarray(a, np.float64) - b)) / scale


@given(case=conv_cases(max_n=3), chunks=st.integers(1, 3), group=st.integers(1, 3))
def test_forward_matches_naive_loop(case, chunks, group):
    shape, stride, padding, dilation, seed = case
    x, w, b, _ = make_operands(shape, stride, padding, dilation, seed)
    out = kernel_forward(x, w, b, stride, padding, dilation, chunks, group)
    assert rel(out, naive_forward(x, w, b, stride, padding, dilation)) < 1e-10


@given(case=conv_cases(max_n=3), chunks=st.integers(1, 3), group=st.integers(1, 3))
def test_input_grad_matches_naive_loop(case, chunks, group):
    shape, stride, padding, dilation, seed = case
    x, w, _, dout = make_operands(shape, stride, padding, dilation, seed)
    dx = kernel_input_grad(dout, w, x.shape, stride, padding, dilation, chunks, group)
    assert rel(dx, naive_input_grad(dout, w, x.shape, stride, padding, dilation)) < 1e-10


@given(case=conv_cases(max_n=3), chunks=st.integers(1, 3), group=st.integers(1, 3))
def test_weight_grad_matches_naive_loop(case, chunks, group):
    shape, stride, padding, dilation, seed = case
    x, w, _, dout = make_operands(shape, stride, padding, dilation, seed)
    chunks = min(chunks, x.shape[0])
    grad_w, grad_b = kernel_weight_grad(dout, x, w.shape, stride, padding, dilation, chunks, group)
    assert rel(grad_w, naive_weight_grad(dout, x, w.shape, stride, padding, dilation)) < 1e-10
    np.testing.assert_allclose(grad_b, dout.sum(axis=(0, 2, 3)), rtol=1e-12, atol=1e-12)


@given(case=conv_cases())
def test_float32_in_float32_out_and_accurate(case):
    shape, stride, padding, dilation, seed = case
    x, w, b, dout = make_operands(shape, stride, padding, dilation, seed, np.float32)
    out = kernel_forward(x, w, b, stride, padding, dilation, 2)
    dx = kernel_input_grad(dout, w, x.shape, stride, padding, dilation, 2)
    grad_w, grad_b = kernel_weight_grad(dout, x, w.shape, stride, padding, dilation, 1)
    assert [a.dtype for a in (out, dx, grad_w, grad_b)] == [np.float32] * 4
    assert rel(out, naive_forward(x, w, b, stride, padding, dilation)) < 1e-5
    assert rel(dx, naive_input_grad(dout, w, x.shape, stride, padding, dilation)) < 1e-5
    assert rel(grad_w, naive_weight_grad(dout, x, w.shape, stride, padding, dilation)) < 1e-5


@given(case=conv_cases(max_n=3), chunks=st.integers(1, 3), group=st.integers(1, 3))
def test_backward_with_and_without_input_grad_gives_the_same_weight_grad(case, chunks, group):
    shape, stride, padding, dilation, seed = case
    x, w, _, dout = make_operands(shape, stride, padding, dilation, seed)
    chunks = min(chunks, x.shape[0])
    dx, grad_w, grad_b = kernel_backward(dout, x, w, stride, padding, dilation, chunks, group)
    _, grad_w_only, grad_b_only = kernel_backward(dout, x, w, stride, padding, dilation, chunks, group,
                                                  input_grad=False)
    np.testing.assert_array_equal(grad_w, grad_w_only)
    np.testing.assert_array_equal(grad_b, grad_b_only)
    assert rel(dx, naive_input_grad(dout, w, x.shape, stride, padding, dilation)) < 1e-10


# A layer big enough that each chunk runs many vectorised iterations.
PARALLEL_CASE = ((6, 5, 13, 11, 7, 3, 3), (1, 1), (1, 1), (1, 1), 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parallel_and_stacked_forward_and_input_grad_equal_serial_bitwise(dtype):
    shape, stride, padding, dilation, seed = PARALLEL_CASE
    x, w, b, dout = make_operands(shape, stride, padding, dilation, seed, dtype)
    serial = kernel_forward(x, w, b, stride, padding, dilation, 1)
    for chunks, group in [(4, 1), (2, 2), (3, 2)]:
        np.testing.assert_array_equal(kernel_forward(x, w, b, stride, padding, dilation, chunks, group), serial)
    serial_dx = kernel_input_grad(dout, w, x.shape, stride, padding, dilation, 1)
    for chunks, group in [(4, 1), (2, 2), (3, 2)]:
        np.testing.assert_array_equal(kernel_input_grad(dout, w, x.shape, stride, padding, dilation, chunks, group),
                                      serial_dx)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parallel_weight_grad_is_deterministic_and_equals_serial_to_rounding(dtype):
    shape, stride, padding, dilation, seed = PARALLEL_CASE
    x, w, _, dout = make_operands(shape, stride, padding, dilation, seed, dtype)
    first = kernel_weight_grad(dout, x, w.shape, stride, padding, dilation, 4, 2)
    second = kernel_weight_grad(dout, x, w.shape, stride, padding, dilation, 4, 2)
    serial = kernel_weight_grad(dout, x, w.shape, stride, padding, dilation, 1)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for a, b in zip(first, serial):
        assert rel(a, b) < tol


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_serial_build_matches_parallel_build(dtype):
    """fnn.ops.conv sends float64 to the serial build: out and dx bitwise equal to the parallel build's, dw and
    db (summed by the compact helper, in another order) equal to rounding."""
    shape, stride, padding, dilation, seed = PARALLEL_CASE
    x, w, b, dout = make_operands(shape, stride, padding, dilation, seed, dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for chunks, group in [(1, 1), (3, 2)]:
        np.testing.assert_array_equal(kernel_forward(x, w, b, stride, padding, dilation, chunks, group, serial=True),
                                      kernel_forward(x, w, b, stride, padding, dilation, chunks, group))
        dx_s, dw_s, db_s = kernel_backward(dout, x, w, stride, padding, dilation, chunks, group, serial=True)
        dx_p, dw_p, db_p = kernel_backward(dout, x, w, stride, padding, dilation, chunks, group)
        np.testing.assert_array_equal(dx_s, dx_p)
        assert rel(dw_s, dw_p) < tol and rel(db_s, db_p) < tol
        assert rel(dw_s, naive_weight_grad(dout, x, w.shape, stride, padding, dilation)) < tol


# --------------------------------------------------------------------------
# The same kernels as plain Python (NUMBA_DISABLE_JIT=1), in a subprocess
# because Numba reads the flag at import
# --------------------------------------------------------------------------

_NO_JIT_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import numba
assert numba.config.DISABLE_JIT
import numpy as np
import test_kernels_conv as t
cases = [
    ((1, 2, 5, 6, 3, 3, 3), (1, 1), (1, 1), (1, 1)),
    ((2, 1, 6, 5, 5, 2, 3), (2, 1), (0, 2), (1, 2)),
    ((1, 2, 7, 7, 2, 5, 5), (1, 1), (2, 2), (1, 1)),
]
for shape, stride, padding, dilation in cases:
    x, w, b, dout = t.make_operands(shape, stride, padding, dilation, 0)
    assert t.rel(t.kernel_forward(x, w, b, stride, padding, dilation, 1, 2),
                 t.naive_forward(x, w, b, stride, padding, dilation)) < 1e-10
    assert t.rel(t.kernel_input_grad(dout, w, x.shape, stride, padding, dilation, 2, 1),
                 t.naive_input_grad(dout, w, x.shape, stride, padding, dilation)) < 1e-10
    grad_w, grad_b = t.kernel_weight_grad(dout, x, w.shape, stride, padding, dilation, 1, 2)
    assert t.rel(grad_w, t.naive_weight_grad(dout, x, w.shape, stride, padding, dilation)) < 1e-10
    _, grad_w, _ = t.kernel_backward(dout, x, w, stride, padding, dilation, 2, 1, serial=True)
    assert t.rel(grad_w, t.naive_weight_grad(dout, x, w.shape, stride, padding, dilation)) < 1e-10
print("ok")
"""


def test_kernels_run_as_plain_python_with_jit_disabled():
    tests_dir = str(Path(__file__).parent)
    assert run_without_jit(_NO_JIT_SCRIPT.format(tests=tests_dir), timeout=600).endswith("ok")


# --------------------------------------------------------------------------
# The serial and parallel builds are closures; Numba's on-disk cache keys a
# closure on its captured values, so those must pickle the same in every
# process (a captured dispatcher does not, and the cache would never hit)
# --------------------------------------------------------------------------

_CLOSURE_KEY_SCRIPT = """
import hashlib
from numba.core.serialize import dumps
from kernels import conv, pool
for kernel in (conv.conv2d_forward_flat, conv.conv2d_forward_flat_serial, conv.conv2d_backward_flat,
               conv.conv2d_backward_flat_serial, pool.pool2d_forward, pool.pool2d_forward_serial,
               pool.pool2d_backward, pool.pool2d_backward_serial):
    cells = kernel.py_func.__closure__ or ()
    print(hashlib.sha256(dumps(tuple(c.cell_contents for c in cells))).hexdigest())
"""


def test_kernel_builds_have_the_same_cache_key_in_every_process():
    keys = [subprocess.run([sys.executable, "-c", _CLOSURE_KEY_SCRIPT], capture_output=True, text=True,
                           timeout=300, check=True).stdout.split() for _ in range(2)]
    assert len(keys[0]) == 8
    assert keys[0] == keys[1]
    # The two builds of one kernel share its cache index, so their keys must differ.
    parallel, serial = keys[0][0::2], keys[0][1::2]
    assert all(p != s for p, s in zip(parallel, serial))
