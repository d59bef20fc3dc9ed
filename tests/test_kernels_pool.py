"""kernels.pool against naive NumPy loops written here, plus the same checks with the JIT disabled.

The references sum and compare in the same order the kernels document
(row-major within a window, windows in row-major order), so float32 and
float64 results must match exactly, not just closely.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernels import pool as K
from no_jit import run_without_jit

DTYPES = (np.float32, np.float64)


# --- naive references ----------------------------------------------------------


def windows(H, W, kh, kw, sh, sw, ph, pw):
    """Yield (i, j, cells) with cells the real (h, w) of window (i, j) in row-major order."""
    OH = (H + 2 * ph - kh) // sh + 1
    OW = (W + 2 * pw - kw) // sw + 1
    for i in range(OH):
        for j in range(OW):
            cells = [
                (h, w)
                for h in range(i * sh - ph, i * sh - ph + kh)
                for w in range(j * sw - pw, j * sw - pw + kw)
                if 0 <= h < H and 0 <= w < W
            ]
            yield i, j, cells


def out_size(H, W, kh, kw, sh, sw, ph, pw):
    return (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1


def naive_maxpool_forward(x, geometry):
    """x (P, H, W) -> out, argmax via np.argmax (first maximum) over each window's real cells."""
    P, H, W = x.shape
    OH, OW = out_size(H, W, *geometry)
    out = np.empty((P, OH, OW), x.dtype)
    argmax = np.empty((P, OH, OW), np.int64)
    for p in range(P):
        for i, j, cells in windows(H, W, *geometry):
            values = np.array([x[p, h, w] for h, w in cells])
            # np.argmax returns the first maximum, and the first NaN if there is one.
            best = int(np.argmax(values))
            h, w = cells[best]
            out[p, i, j] = values[best]
            argmax[p, i, j] = h * W + w
    return out, argmax


def naive_maxpool_backward(dout, argmax, H, W):
    P = dout.shape[0]
    dx = np.zeros((P, H * W), dout.dtype)
    for p in range(P):
        for g, k in zip(dout[p].ravel(), argmax[p].ravel()):
            dx[p, k] += g
    return dx.reshape(P, H, W)


def naive_avgpool_forward(x, geometry):
    P, H, W = x.shape
    kh, kw = geometry[:2]
    count = x.dtype.type(kh * kw)
    OH, OW = out_size(H, W, *geometry)
    out = np.empty((P, OH, OW), x.dtype)
    for p in range(P):
        for i, j, cells in windows(H, W, *geometry):
            total = x.dtype.type(0)
            for h, w in cells:
                total = total + x[p, h, w]
            out[p, i, j] = total / count
    return out


def naive_avgpool_backward(dout, H, W, geometry):
    P = dout.shape[0]
    kh, kw = geometry[:2]
    count = dout.dtype.type(kh * kw)
    dx = np.zeros((P, H, W), dout.dtype)
    for p in range(P):
        for i, j, cells in windows(H, W, *geometry):
            g = dout[p, i, j] / count
            for h, w in cells:
                dx[p, h, w] += g
    return dx


# --- strategies ------------------------------------------------------------------


@st.composite
def pool_cases(draw, max_side=9):
    """(P, H, W, geometry) with padding <= kernel // 2 and at least one output cell."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    H = draw(st.integers(max(1, kh - 2 * ph), max_side))
    W = draw(st.integers(max(1, kw - 2 * pw), max_side))
    P = draw(st.integers(1, 4))
    return P, H, W, (kh, kw, sh, sw, ph, pw)


VALUES = ("normal", "ties", "nans")


def random_planes(rng, shape, dtype, values):
    if values == "ties":  # few distinct values, so most windows hold a tie
        return rng.integers(-1, 2, size=shape).astype(dtype)
    x = rng.standard_normal(shape).astype(dtype)
    if values == "nans":  # some windows hold one NaN or several
        x[rng.random(shape) < 0.2] = np.nan
    return x


# What the kernels take for the argmax (int32, a cell per plane) and window (int8) arguments a mode does not use.
NO_WINDOW = np.zeros((1, 1, 1), np.int8)


def no_argmax(P):
    return np.zeros((P, 1, 1), np.int32)


def run_maxpool(x, geometry, fast):
    P, H, W = x.shape
    OH, OW = out_size(H, W, *geometry)
    out = np.empty((P, OH, OW), x.dtype)
    argmax = np.empty((P, OH, OW), np.int32)
    if fast:
        window = np.full((P, OH, OW), -1, np.int8)
        K.pool2d_forward(x, out, no_argmax(P), window, *geometry, K.MAX_2X2)
        assert ((window >= 0) & (window <= 3)).all()
        # Position k in window (i, j) is cell (2i + k // 2, 2j + k % 2).
        i, j = np.meshgrid(np.arange(OH), np.arange(OW), indexing="ij")
        argmax[...] = (2 * i + window // 2) * W + 2 * j + window % 2
    else:
        K.pool2d_forward(x, out, argmax, NO_WINDOW, *geometry, K.MAX)
    return out, argmax


def window_positions(argmax, W):
    """Flat indices of 2x2 / stride 2 windows' cells -> their positions 0..3 within the window (int8)."""
    h, w = np.divmod(argmax, W)
    return ((h % 2) * 2 + w % 2).astype(np.int8)


def run_maxpool_backward(dout, argmax, H, W, geometry, kind):
    dx = np.full((dout.shape[0], H, W), np.nan, dout.dtype)  # every cell must be written
    if kind == "2x2":
        K.pool2d_backward(dout, no_argmax(len(dout)), window_positions(argmax, W), dx, *geometry, K.MAX_2X2)
    else:
        K.pool2d_backward(dout, argmax, NO_WINDOW, dx, *geometry, K.MAX)
    return dx


def run_avgpool(x, geometry):
    P, H, W = x.shape
    out = np.empty((P, *out_size(H, W, *geometry)), x.dtype)
    K.pool2d_forward(x, out, no_argmax(P), NO_WINDOW, *geometry, K.AVERAGE)
    return out


def run_avgpool_backward(dout, H, W, geometry):
    dx = np.full((dout.shape[0], H, W), np.nan, dout.dtype)  # every cell must be written
    K.pool2d_backward(dout, no_argmax(len(dout)), NO_WINDOW, dx, *geometry, K.AVERAGE)
    return dx


# --- checks shared by the jitted tests and the JIT-disabled subprocess -------------


def check_maxpool(P, H, W, geometry, dtype, values, seed):
    rng = np.random.default_rng(seed)
    x = random_planes(rng, (P, H, W), dtype, values)
    x_before = x.copy()
    want_out, want_arg = naive_maxpool_forward(x, geometry)
    kh, kw, sh, sw, ph, pw = geometry
    fast_options = [False, True] if geometry == (2, 2, 2, 2, 0, 0) else [False]
    for fast in fast_options:
        out, argmax = run_maxpool(x, geometry, fast)
        assert out.dtype == dtype
        np.testing.assert_array_equal(out, want_out)
        np.testing.assert_array_equal(argmax, want_arg)
    np.testing.assert_array_equal(x, x_before)
    dout = rng.standard_normal(want_out.shape).astype(dtype)
    want_dx = naive_maxpool_backward(dout, want_arg, H, W)
    kinds = ["general"] + (["2x2"] if geometry == (2, 2, 2, 2, 0, 0) else [])
    for kind in kinds:
        dx = run_maxpool_backward(dout, argmax, H, W, geometry, kind)
        assert dx.dtype == dtype
        np.testing.assert_array_equal(dx, want_dx)


def check_avgpool(P, H, W, geometry, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((P, H, W)).astype(dtype)
    want_out = naive_avgpool_forward(x, geometry)
    dout = rng.standard_normal(want_out.shape).astype(dtype)
    want_dx = naive_avgpool_backward(dout, H, W, geometry)
    out = run_avgpool(x, geometry)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, want_out)
    dx = run_avgpool_backward(dout, H, W, geometry)
    assert dx.dtype == dtype
    np.testing.assert_array_equal(dx, want_dx)


def check_all_tiny():
    """Every kernel on a few tiny cases; run by the JIT-disabled subprocess test."""
    cases = [
        (2, 4, 4, (2, 2, 2, 2, 0, 0)),
        (1, 5, 3, (2, 2, 2, 2, 0, 0)),  # odd H and W: trailing row/column in no window
        (2, 5, 4, (3, 3, 2, 2, 1, 1)),  # overlapping, padded
        (1, 4, 5, (3, 2, 1, 3, 1, 0)),
    ]
    for dtype in DTYPES:
        for seed, (P, H, W, geometry) in enumerate(cases):
            for values in VALUES:
                check_maxpool(P, H, W, geometry, dtype, values, seed=seed)
            check_avgpool(P, H, W, geometry, dtype, seed=seed)


# --- tests -------------------------------------------------------------------------


@given(case=pool_cases(), dtype=st.sampled_from(DTYPES), values=st.sampled_from(VALUES),
       seed=st.integers(0, 2**31 - 1))
def test_maxpool_kernels_match_naive_loops(case, dtype, values, seed):
    P, H, W, geometry = case
    check_maxpool(P, H, W, geometry, dtype, values, seed)


@given(
    P=st.integers(1, 4), H=st.integers(2, 9), W=st.integers(2, 9),
    dtype=st.sampled_from(DTYPES), values=st.sampled_from(VALUES), seed=st.integers(0, 2**31 - 1),
)
def test_maxpool_2x2_fast_path_matches_naive_loops(P, H, W, dtype, values, seed):
    check_maxpool(P, H, W, (2, 2, 2, 2, 0, 0), dtype, values, seed)


@given(case=pool_cases(), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**31 - 1))
def test_avgpool_kernels_match_naive_loops(case, dtype, seed):
    P, H, W, geometry = case
    check_avgpool(P, H, W, geometry, dtype, seed)


@given(P=st.integers(1, 4), H=st.integers(2, 9), W=st.integers(2, 9), dtype=st.sampled_from(DTYPES),
       seed=st.integers(0, 2**31 - 1))
def test_avgpool_2x2_matches_naive_loops(P, H, W, dtype, seed):
    check_avgpool(P, H, W, (2, 2, 2, 2, 0, 0), dtype, seed)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", [K.MAX_2X2, K.MAX, K.AVERAGE])
def test_serial_build_equals_parallel_build_bitwise(dtype, mode):
    """float64 goes through the serial build in fnn.ops.pool: it must compute exactly what the parallel one does."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((6, 9, 8)).astype(dtype)
    x[0, 1, 1] = np.nan
    geometry = (2, 2, 2, 2, 0, 0) if mode == K.MAX_2X2 else (3, 3, 2, 2, 1, 1)
    OH, OW = out_size(9, 8, *geometry)
    dout = rng.standard_normal((6, OH, OW)).astype(dtype)
    results = []
    for forward, backward in [(K.pool2d_forward, K.pool2d_backward),
                              (K.pool2d_forward_serial, K.pool2d_backward_serial)]:
        out = np.full((6, OH, OW), np.nan, dtype)
        argmax = np.full((6, OH, OW), -1, np.int32) if mode == K.MAX else no_argmax(6)
        window = np.full((6, OH, OW), -1, np.int8) if mode == K.MAX_2X2 else NO_WINDOW
        forward(x, out, argmax, window, *geometry, mode)
        dx = np.full((6, 9, 8), np.nan, dtype)
        backward(dout, argmax, window, dx, *geometry, mode)
        results.append((out, argmax, window, dx))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    assert not np.isnan(results[0][3]).all()  # the backward wrote its planes


@pytest.mark.parametrize("fast", [True, False])
def test_maxpool_ties_go_to_first_maximum_in_row_major_order(fast):
    # One 2x2 window holding 1, 5 / 5, 0: the top-right 5 (flat index 1) comes first.
    x = np.array([[[1.0, 5.0], [5.0, 0.0]]])
    _, argmax = run_maxpool(x, (2, 2, 2, 2, 0, 0), fast)
    assert argmax.tolist() == [[[1]]]
    # All equal: the top-left cell wins.
    _, argmax = run_maxpool(np.full((1, 2, 2), 3.0), (2, 2, 2, 2, 0, 0), fast)
    assert argmax.tolist() == [[[0]]]


@pytest.mark.parametrize("geometry", [(2, 2, 2, 2, 0, 0), (3, 3, 1, 1, 1, 1)])
def test_maxpool_propagates_nan_to_first_nan(geometry):
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    # Two NaNs in the first window; in row-major order (1, 0) comes before (1, 1).
    x[0, 1, 1] = np.nan
    x[0, 1, 0] = np.nan
    want_out, want_arg = naive_maxpool_forward(x, geometry)
    for fast in ([True, False] if geometry[0] == 2 else [False]):
        out, argmax = run_maxpool(x, geometry, fast)
        np.testing.assert_array_equal(out, want_out)
        np.testing.assert_array_equal(argmax, want_arg)
        assert np.isnan(out[0, 0, 0])
        assert argmax[0, 0, 0] == 1 * 4 + 0  # the first NaN in row-major order


def test_maxpool_backward_accumulates_overlapping_windows():
    # 3x3 windows, stride 1, over a plane whose maximum is in the centre:
    # every one of the 9 padded windows that contains the centre picks it.
    x = np.zeros((1, 3, 3))
    x[0, 1, 1] = 1.0
    out, argmax = run_maxpool(x, (3, 3, 1, 1, 1, 1), fast=False)
    assert (argmax == 4).all()
    dx = run_maxpool_backward(np.ones_like(out), argmax, 3, 3, (3, 3, 1, 1, 1, 1), kind="general")
    assert dx[0, 1, 1] == 9.0 and dx.sum() == 9.0


def test_kernels_run_correctly_with_jit_disabled():
    """The same kernels as plain Python (NUMBA_DISABLE_JIT is read at import, hence a subprocess)."""
    script = (
        "import importlib.util, os, sys\n"
        f"sys.path.insert(0, os.path.dirname({__file__!r}))  # the module imports its neighbours\n"
        f"spec = importlib.util.spec_from_file_location('pool_kernel_tests', {__file__!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "import numba\n"
        "assert numba.config.DISABLE_JIT\n"
        "assert not hasattr(module.K.pool2d_forward, 'signatures'), 'kernel is still jitted'\n"
        "module.check_all_tiny()\n"
        "print('ok')\n"
    )
    assert run_without_jit(script) == "ok"
