import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fnn.check import numerical_grad, op_gradient_errors, rel_error
from fnn.ops import conv2d_backward, conv2d_forward, conv2d_output_size


def reference_conv2d(x, w, b, stride, padding, dilation):
    """Plain NumPy: zero-pad, take every (dilated, strided) window, contract with w."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    F, C, KH, KW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    OH = (xp.shape[2] - dh * (KH - 1) - 1) // sh + 1
    OW = (xp.shape[3] - dw * (KW - 1) - 1) // sw + 1
    out = np.empty((x.shape[0], F, OH, OW), x.dtype)
    for oh in range(OH):
        for ow in range(OW):
            window = xp[:, :, oh * sh: oh * sh + dh * (KH - 1) + 1: dh, ow * sw: ow * sw + dw * (KW - 1) + 1: dw]
            out[:, :, oh, ow] = np.einsum("nchw,fchw->nf", window, w) + b
    return out


@st.composite
def layers(draw):
    N = draw(st.integers(1, 2))
    C = draw(st.integers(1, 5))
    F = draw(st.integers(1, 5))
    KH, KW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    H = max(1, dilation[0] * (KH - 1) + 1 - 2 * padding[0]) + draw(st.integers(0, 3))
    W = max(1, dilation[1] * (KW - 1) + 1 - 2 * padding[1]) + draw(st.integers(0, 3))
    seed = draw(st.integers(0, 2**31 - 1))
    return (N, C, H, W, F, KH, KW), dict(stride=stride, padding=padding, dilation=dilation), seed


def operands(shape, seed, dtype=np.float64):
    N, C, H, W, F, KH, KW = shape
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((N, C, H, W)).astype(dtype), rng.standard_normal((F, C, KH, KW)).astype(dtype),
            rng.standard_normal(F).astype(dtype))


@given(layer=layers())
def test_conv2d_gradients_match_central_differences(layer):
    shape, hyper, seed = layer
    x, w, b = operands(shape, seed)

    def forward(x, w, b):
        return conv2d_forward(x, w, b, **hyper)

    errors = op_gradient_errors(forward, conv2d_backward, (x, w, b), rng=np.random.default_rng(seed))
    assert set(errors) == {0, 1, 2}
    assert max(errors.values()) < 1e-6, errors


@given(layer=layers(), parallel=st.booleans())
def test_conv2d_forward_matches_numpy_reference(layer, parallel):
    shape, hyper, seed = layer
    x, w, b = operands(shape, seed)
    out, _ = conv2d_forward(x, w, b, parallel=parallel, **hyper)
    expected = reference_conv2d(x, w, b, hyper["stride"], hyper["padding"], hyper["dilation"])
    assert out.shape == expected.shape
    assert rel_error(out, expected) < 1e-12


def test_conv2d_output_size_formula():
    assert conv2d_output_size(28, 28, 5, 5, padding=2) == (28, 28)
    assert conv2d_output_size(14, 14, 5, 5) == (10, 10)
    assert conv2d_output_size(9, 8, 3, 3, stride=(2, 3), padding=(1, 0), dilation=(2, 1)) == (4, 2)
    assert conv2d_output_size(2, 2, 3, 3) == (0, 0)


@given(seed=st.integers(0, 2**31 - 1), stride=st.integers(1, 2))
def test_conv_inside_a_network_chains_to_central_differences(seed, stride):
    """dense -> reshape to an image -> conv -> tanh -> sum of squares, backward chained by hand."""
    rng = np.random.default_rng(seed)
    N, D, C, H, W, F = 2, 3, 2, 5, 4, 3
    params = {
        "x": rng.standard_normal((N, D)),
        "dense.w": rng.standard_normal((D, C * H * W)) / np.sqrt(D),
        "dense.b": rng.standard_normal(C * H * W) * 0.1,
        "conv.w": rng.standard_normal((F, C, 3, 3)) / 3.0,
        "conv.b": rng.standard_normal(F) * 0.1,
    }
    hyper = dict(stride=stride, padding=1, dilation=1)

    def loss(p):
        h = (p["x"] @ p["dense.w"] + p["dense.b"]).reshape(N, C, H, W)
        z, _ = conv2d_forward(h, p["conv.w"], p["conv.b"], **hyper)
        return np.sum(np.tanh(z) ** 2)

    h = (params["x"] @ params["dense.w"] + params["dense.b"]).reshape(N, C, H, W)
    z, cache = conv2d_forward(h, params["conv.w"], params["conv.b"], **hyper)
    t = np.tanh(z)
    dz = 2.0 * t * (1.0 - t**2)
    dh, dcw, dcb = conv2d_backward(dz, cache)
    dh = dh.reshape(N, C * H * W)
    grads = {
        "x": dh @ params["dense.w"].T,
        "dense.w": params["x"].T @ dh,
        "dense.b": dh.sum(axis=0),
        "conv.w": dcw,
        "conv.b": dcb,
    }
    numeric = numerical_grad(loss, params)
    for key in params:
        assert rel_error(grads[key], numeric[key]) < 1e-6, key


def test_conv2d_keeps_float32():
    x, w, b = operands((2, 3, 6, 5, 4, 3, 3), 0, np.float32)
    out, cache = conv2d_forward(x, w, b, padding=1)
    dx, dw, db = conv2d_backward(np.ones_like(out), cache)
    assert [a.dtype for a in (out, dx, dw, db)] == [np.float32] * 4
    assert rel_error(out, reference_conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                                           (1, 1), (1, 1), (1, 1))) < 1e-5


def test_conv2d_does_not_mutate_inputs_and_returns_fresh_arrays():
    x, w, b = operands((2, 2, 6, 6, 5, 3, 3), 1)
    copies = [a.copy() for a in (x, w, b)]
    out, cache = conv2d_forward(x, w, b, stride=2, padding=1)
    dout = np.ones_like(out)
    dout_copy = dout.copy()
    grads = conv2d_backward(dout, cache)
    for a, c in zip((x, w, b, dout), copies + [dout_copy]):
        np.testing.assert_array_equal(a, c)
    # A second call must not overwrite what the first returned (workspaces are reused).
    out2, cache2 = conv2d_forward(2 * x, w, b, stride=2, padding=1)
    grads2 = conv2d_backward(2 * dout, cache2)
    assert not np.shares_memory(out, out2)
    for g, g2 in zip(grads, grads2):
        assert not np.shares_memory(g, g2)
    np.testing.assert_allclose(out2 - b[:, None, None], 2 * (out - b[:, None, None]), rtol=1e-12, atol=1e-12)


def test_conv2d_accepts_non_contiguous_inputs():
    rng = np.random.default_rng(2)
    x_big = rng.standard_normal((2, 6, 7, 12))
    w_big = rng.standard_normal((3, 6, 3, 5))
    b_big = rng.standard_normal(6)
    x, w, b = x_big[:, ::2, :, ::2], w_big[:, ::2, :, ::2], b_big[::2]
    assert not (x.flags.c_contiguous or w.flags.c_contiguous or b.flags.c_contiguous)
    out, cache = conv2d_forward(x, w, b, padding=(1, 0))
    ref_out, ref_cache = conv2d_forward(*(np.ascontiguousarray(a) for a in (x, w, b)), padding=(1, 0))
    np.testing.assert_array_equal(out, ref_out)
    dout = rng.standard_normal(out.shape)[:, :, ::-1]
    for g, r in zip(conv2d_backward(dout, cache), conv2d_backward(np.ascontiguousarray(dout), ref_cache)):
        np.testing.assert_array_equal(g, r)


def test_conv2d_serial_and_parallel_agree():
    x, w, b = operands((5, 3, 9, 8, 6, 3, 3), 3)
    out_p, cache_p = conv2d_forward(x, w, b, padding=1)
    out_s, cache_s = conv2d_forward(x, w, b, padding=1, parallel=False)
    np.testing.assert_array_equal(out_p, out_s)
    dout = np.random.default_rng(4).standard_normal(out_p.shape)
    dx_p, dw_p, db_p = conv2d_backward(dout, cache_p)
    dx_s, dw_s, db_s = conv2d_backward(dout, cache_s)
    np.testing.assert_array_equal(dx_p, dx_s)
    assert rel_error(dw_p, dw_s) < 1e-12 and rel_error(db_p, db_s) < 1e-12


def _arrays(x_shape=(2, 3, 6, 6), w_shape=(4, 3, 3, 3), b_shape=(4,), dtypes="ddd"):
    kinds = {"f": np.float32, "d": np.float64, "i": np.int64}
    return [np.ones(s, kinds[k]) for s, k in zip((x_shape, w_shape, b_shape), dtypes)]


@pytest.mark.parametrize(
    "args, hyper, match",
    [
        (_arrays(x_shape=(3, 6, 6)), {}, r"x has shape \(3, 6, 6\); expected 4 axes \(N, C, H, W\)"),
        (_arrays(w_shape=(4, 3, 3)), {}, r"w has shape \(4, 3, 3\); expected 4 axes \(F, C, KH, KW\)"),
        (_arrays(w_shape=(4, 2, 3, 3)), {},
         r"w has shape \(4, 2, 3, 3\); expected \(F, C, KH, KW\) with C = 3, the channel axis of x \(2, 3, 6, 6\)"),
        (_arrays(b_shape=(5,)), {}, r"b has shape \(5,\); expected \(F,\) = \(4,\)"),
        (_arrays(dtypes="dfd"), {}, r"w has dtype float32; expected float64 to match x"),
        (_arrays(dtypes="ddf"), {}, r"b has dtype float32; expected float64 to match x"),
        (_arrays(dtypes="idd"), {}, r"x has shape \(2, 3, 6, 6\) and dtype int64; expected a float32 or float64"),
        (_arrays(x_shape=(2, 3, 2, 6)), {},
         r"x has shape \(2, 3, 2, 6\) and w has shape \(4, 3, 3, 3\);.*output size \(OH, OW\) would be \(0, 4\); "
         r"expected both >= 1"),
        (_arrays(), dict(dilation=3), r"output size \(OH, OW\) would be \(0, 0\)"),
        (_arrays(), dict(stride=0), r"stride is 0; expected an int >= 1 or a pair of them"),
        (_arrays(), dict(stride=(1, 1.5)), r"stride is \(1, 1\.5\); expected an int >= 1"),
        (_arrays(), dict(padding=-1), r"padding is -1; expected an int >= 0 or a pair of them"),
        (_arrays(), dict(padding=(1, 2, 3)), r"padding is \(1, 2, 3\); expected an int >= 0"),
        (_arrays(), dict(dilation=(1, 0)), r"dilation is \(1, 0\); expected an int >= 1"),
        (_arrays(), dict(stride=True), r"stride is True; expected an int >= 1"),
    ],
)
def test_conv2d_rejects_bad_input(args, hyper, match):
    with pytest.raises(ValueError, match=match):
        conv2d_forward(*args, **hyper)


def test_conv2d_backward_rejects_wrong_dout():
    out, cache = conv2d_forward(*_arrays(), padding=1)
    with pytest.raises(ValueError, match=r"dout has shape \(2, 4, 6, 5\); expected \(N, F, OH, OW\) = \(2, 4, 6, 6\)"):
        conv2d_backward(np.ones((2, 4, 6, 5)), cache)
    with pytest.raises(ValueError, match=r"dout has dtype float32; expected float64 to match x"):
        conv2d_backward(out.astype(np.float32), cache)


def test_conv2d_input_grad_false_skips_dx_only():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3, 7, 7))
    w = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    out, cache = conv2d_forward(x, w, b, padding=1)
    out_data, cache_data = conv2d_forward(x, w, b, padding=1, input_grad=False)
    np.testing.assert_array_equal(out, out_data)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv2d_backward(dout, cache)
    dx_none, dw2, db2 = conv2d_backward(dout, cache_data)
    assert dx is not None and dx_none is None
    np.testing.assert_array_equal(dw, dw2)
    np.testing.assert_array_equal(db, db2)


def test_conv2d_backward_stays_correct_when_workspaces_are_reused_across_batch_sizes():
    # Small planes: N = 8 puts two samples side by side per plane, N = 4 one, yet both
    # round to the same workspace size; stale data of the first call must not leak into the second.
    rng = np.random.default_rng(7)
    w = rng.standard_normal((2, 1, 1, 3))
    b = rng.standard_normal(2)
    for N in (8, 4, 8):
        x = rng.standard_normal((N, 1, 1, 3))
        out, cache = conv2d_forward(x, w, b)
        dout = rng.standard_normal(out.shape)
        dx, dw, db = conv2d_backward(dout, cache)
        expected_dw = np.einsum("nf,nck->fck", dout[:, :, 0, 0], x[:, :, 0, :])[:, :, None, :]
        np.testing.assert_allclose(dw, expected_dw, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(db, dout.sum(axis=(0, 2, 3)), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dx, np.einsum("nfij,fcjk->ncik", dout, w), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("hyper", [{}, dict(stride=2, padding=1), dict(padding=(0, 1), dilation=(2, 1))])
def test_conv2d_weight_gradient_keeps_inf_and_nan_in_the_entries_that_read_them(dtype, hyper):
    # dw must be the sum over real windows: an inf or NaN in x reaches exactly the dw entries whose
    # windows cover it, and every other entry stays finite (as in the NumPy reference).
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 7)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    x[1, 0, 2, 3] = np.nan
    x[0, 2, 5, 1] = np.inf
    out, cache = conv2d_forward(x, w, np.zeros(4, dtype), **hyper)
    dout = rng.random(out.shape).astype(dtype) + 0.5  # positive: inf * dout stays +inf
    dx, dw, db = conv2d_backward(dout, cache)
    stride, padding, dilation = (_pair(hyper.get(k, d)) for k, d in (("stride", 1), ("padding", 0), ("dilation", 1)))
    want = reference_weight_grad(dout.astype(np.float64), x.astype(np.float64), w.shape, stride, padding, dilation)
    assert dw.dtype == dtype
    np.testing.assert_array_equal(np.isnan(dw), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(dw), np.isinf(want))
    assert np.isfinite(want).any() and not np.isfinite(want).all()  # the case tests both kinds of entry
    finite = np.isfinite(want)
    np.testing.assert_allclose(dw[finite], want[finite], rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-4)
    np.testing.assert_allclose(db, dout.sum(axis=(0, 2, 3)), rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("hyper", [{}, dict(stride=2, padding=1), dict(padding=(0, 1), dilation=(2, 1))])
@pytest.mark.parametrize("where", ["w", "dout"])
def test_conv2d_input_gradient_keeps_inf_and_nan_in_the_entries_that_read_them(dtype, hyper, where):
    # dx must be the sum over real windows: an inf or NaN in w or dout reaches exactly the dx entries
    # it multiplies into, and every other entry stays finite (as in the NumPy reference).
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 7, 7)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    if where == "w":
        w[1, 0, 0, 0] = np.nan
        w[2, 2, 2, 1] = np.inf
    out, cache = conv2d_forward(x, w, np.zeros(4, dtype), **hyper)
    dout = rng.random(out.shape).astype(dtype) + 0.5
    if where == "dout":
        dout[0, 1, 0, 0] = np.nan
        dout[1, 3, -1, -1] = np.inf
    dx, dw, db = conv2d_backward(dout, cache)
    stride, padding, dilation = (_pair(hyper.get(k, d)) for k, d in (("stride", 1), ("padding", 0), ("dilation", 1)))
    with np.errstate(invalid="ignore"):
        want = reference_input_grad(dout.astype(np.float64), w.astype(np.float64), x.shape, stride, padding, dilation)
    assert dx.dtype == dtype
    np.testing.assert_array_equal(np.isnan(dx), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(dx), np.isinf(want))
    assert np.isfinite(want).any() and not np.isfinite(want).all()
    finite = np.isfinite(want)
    np.testing.assert_allclose(dx[finite], want[finite], rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-4)


def reference_input_grad(dout, w, x_shape, stride, padding, dilation):
    """dx by brute force over every (output pixel, tap): the definition, independent of fnn's code."""
    (ph, pw) = padding
    N, C, H, W = x_shape
    dxp = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    for kh, kw, oh, ow, i, j in window_taps(dout.shape, w.shape, stride, dilation):
        dxp[:, :, i, j] += dout[:, :, oh, ow] @ w[:, :, kh, kw]
    return dxp[:, :, ph:ph + H, pw:pw + W]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_forward_keeps_inf_where_the_definition_does(dtype):
    # C*KH*KW = 2*3*3 = 18 taps, padded to 20 with zero-weight taps: those must not read real pixels,
    # or a pixel holding inf would add 0 * inf = NaN to outputs whose true value is +-inf.
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 2, 5, 5)).astype(dtype)
    w = rng.standard_normal((3, 2, 3, 3)).astype(dtype)
    x[0, 0, 0, 0] = np.inf  # channel 0's first tap of output (0, 0)
    out, _ = conv2d_forward(x, w, np.zeros(3, dtype))
    with np.errstate(invalid="ignore"):
        want = reference_conv2d(x.astype(np.float64), w.astype(np.float64), np.zeros(3), (1, 1), (0, 0), (1, 1))
    np.testing.assert_array_equal(np.isinf(out), np.isinf(want))
    np.testing.assert_array_equal(np.isnan(out), np.isnan(want))
    assert np.isinf(want).any()


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def window_taps(dout_shape, w_shape, stride, dilation):
    """(kh, kw, oh, ow, i, j): output pixel (oh, ow) reads padded pixel (i, j) through tap (kh, kw)."""
    (sh, sw), (dh, dw) = stride, dilation
    _, _, OH, OW = dout_shape
    _, _, KH, KW = w_shape
    for kh in range(KH):
        for kw in range(KW):
            for oh in range(OH):
                for ow in range(OW):
                    yield kh, kw, oh, ow, oh * sh + kh * dh, ow * sw + kw * dw


def reference_weight_grad(dout, x, w_shape, stride, padding, dilation):
    """dw by brute force over every (output pixel, tap): the definition, independent of fnn's code."""
    (ph, pw) = padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    want = np.zeros(w_shape)
    with np.errstate(invalid="ignore"):  # NaN inputs are the point of the caller
        for kh, kw, oh, ow, i, j in window_taps(dout.shape, w_shape, stride, dilation):
            want[:, :, kh, kw] += dout[:, :, oh, ow].T @ xp[:, :, i, j]
    return want
