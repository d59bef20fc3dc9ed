import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fnn.check import numerical_grad, op_gradient_errors, rel_error
from fnn.ops import (
    batchnorm_backward,
    batchnorm_forward,
    dense_backward,
    dense_forward,
    layernorm_backward,
    layernorm_forward,
)

SEEDS = st.integers(0, 2**31 - 1)


def check_eps(group_size):
    """The normalisation eps to use in a gradient check over groups of this size.

    With two values per group, xhat = +-|d| / sqrt(d^2 + 4 eps) (d their
    difference) is flat in x up to eps, so dx is O(eps) and the ~1e-10
    round-off of central differences would swamp it. A large eps makes dx
    O(1) and the comparison meaningful; larger groups use the default.
    """
    return 1.0 if group_size == 2 else 1e-5


# Central-difference step. dx of a normalisation is orthogonal to the group's
# ones vector and to xhat, so for small groups a random dout can leave it
# small by chance (1e-4 of its usual scale); a 1e-5 step keeps the
# differences' round-off (~1e-16 / step) well below that, while the
# truncation error (~step^2) stays negligible for these smooth functions.
STEP = 1e-5


def stat_axes(x):
    return (0,) if x.ndim == 2 else (0, 2, 3)


def per_channel(v, x):
    return v if x.ndim == 2 else v[:, None, None]


@st.composite
def batchnorm_shapes(draw):
    """(N, D) with N >= 2, or (N, C, H, W) with at least 2 values per channel."""
    if draw(st.booleans()):
        return (draw(st.integers(2, 6)), draw(st.integers(1, 4)))
    N, C, H, W = (draw(st.integers(1, 3)) for _ in range(4))
    if N * H * W < 2:
        N = 2
    return (N, C, H, W)


def batchnorm_args(rng, shape, dtype=np.float64):
    C = shape[1]
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(dtype)
    gamma = rng.standard_normal(C).astype(dtype)
    beta = rng.standard_normal(C).astype(dtype)
    running_mean = rng.standard_normal(C).astype(dtype)
    running_var = (rng.random(C) + 0.5).astype(dtype)
    return x, gamma, beta, running_mean, running_var


# --- batch norm -------------------------------------------------------------------


@given(shape=batchnorm_shapes(), training=st.booleans(), seed=SEEDS)
def test_batchnorm_gradients_match_central_differences(shape, training, seed):
    rng = np.random.default_rng(seed)
    x, gamma, beta, rm, rv = batchnorm_args(rng, shape)
    eps = check_eps(x.size // shape[1])

    def forward(x, gamma, beta):
        out, cache, _ = batchnorm_forward(
            x, gamma, beta, running_mean=rm, running_var=rv, training=training, eps=eps
        )
        return out, cache

    errors = op_gradient_errors(forward, batchnorm_backward, (x, gamma, beta), rng=rng, eps=STEP)
    assert set(errors) == {0, 1, 2}
    assert max(errors.values()) < 1e-6, errors


@given(shape=batchnorm_shapes(), momentum=st.floats(0.0, 1.0), seed=SEEDS)
def test_batchnorm_training_forward_and_running_stats_follow_their_formulas(shape, momentum, seed):
    rng = np.random.default_rng(seed)
    x, gamma, beta, rm, rv = batchnorm_args(rng, shape)
    eps = 1e-5
    out, _, (new_mean, new_var) = batchnorm_forward(
        x, gamma, beta, running_mean=rm, running_var=rv, training=True, momentum=momentum, eps=eps
    )
    axes = stat_axes(x)
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    want = per_channel(gamma, x) * (x - per_channel(mean, x)) / np.sqrt(per_channel(var, x) + eps) + per_channel(beta, x)
    np.testing.assert_allclose(out, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(new_mean, (1 - momentum) * rm + momentum * mean, rtol=1e-12, atol=1e-14)
    unbiased = x.var(axis=axes, ddof=1)
    np.testing.assert_allclose(new_var, (1 - momentum) * rv + momentum * unbiased, rtol=1e-12, atol=1e-14)


@given(shape=batchnorm_shapes(), seed=SEEDS)
def test_batchnorm_inference_uses_running_stats_and_returns_them_unchanged(shape, seed):
    rng = np.random.default_rng(seed)
    x, gamma, beta, rm, rv = batchnorm_args(rng, shape)
    out, _, (new_mean, new_var) = batchnorm_forward(
        x, gamma, beta, running_mean=rm, running_var=rv, training=False, eps=1e-3
    )
    want = per_channel(gamma, x) * (x - per_channel(rm, x)) / np.sqrt(per_channel(rv, x) + 1e-3) + per_channel(beta, x)
    np.testing.assert_allclose(out, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(new_mean, rm)
    np.testing.assert_array_equal(new_var, rv)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 4, 5)])
def test_batchnorm_does_not_mutate_inputs(shape, training):
    rng = np.random.default_rng(0)
    args = batchnorm_args(rng, shape)
    copies = [a.copy() for a in args]
    x, gamma, beta, rm, rv = args
    out, cache, (new_mean, new_var) = batchnorm_forward(
        x, gamma, beta, running_mean=rm, running_var=rv, training=training
    )
    dout = rng.standard_normal(shape)
    dout_before = dout.copy()
    batchnorm_backward(dout, cache)
    for a, c in zip(args, copies):
        np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(dout, dout_before)
    # The returned state is the caller's to keep: writing into it leaves the inputs alone.
    new_mean += 1.0
    new_var += 1.0
    np.testing.assert_array_equal(rm, copies[3])
    np.testing.assert_array_equal(rv, copies[4])


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 4, 5)])
def test_batchnorm_keeps_float32(shape, training):
    rng = np.random.default_rng(0)
    x, gamma, beta, rm, rv = batchnorm_args(rng, shape, np.float32)
    # A NumPy float64 momentum would promote float32 arrays under NEP 50 if used as is.
    out, cache, stats = batchnorm_forward(
        x, gamma, beta, running_mean=rm, running_var=rv, training=training, momentum=np.float64(0.2)
    )
    grads = batchnorm_backward(np.ones_like(out), cache)
    assert out.dtype == np.float32
    assert [a.dtype for a in (*grads, *stats)] == [np.float32] * 5


def test_batchnorm_float32_matches_float64_closely():
    rng = np.random.default_rng(3)
    args64 = batchnorm_args(rng, (8, 4, 6, 6))
    args32 = [a.astype(np.float32) for a in args64]
    dout = rng.standard_normal((8, 4, 6, 6))
    results = []
    for x, gamma, beta, rm, rv in (args64, args32):
        out, cache, stats = batchnorm_forward(x, gamma, beta, running_mean=rm, running_var=rv)
        results.append((out, *batchnorm_backward(dout.astype(x.dtype), cache), *stats))
    for a64, a32 in zip(*results):
        assert rel_error(a32, a64) < 1e-5


@pytest.mark.parametrize("seed", range(3))
def test_batchnorm_mid_network_composite_gradient(seed):
    """dense -> batchnorm (training) -> tanh, backpropagated by hand through all three."""
    rng = np.random.default_rng(seed)
    params = {
        "x": rng.standard_normal((5, 3)),
        "w": rng.standard_normal((3, 4)),
        "b": rng.standard_normal(4),
        "gamma": rng.standard_normal(4),
        "beta": rng.standard_normal(4),
    }
    rm, rv = np.zeros(4), np.ones(4)
    dout = rng.standard_normal((5, 4))

    def forward(p):
        h, d_cache = dense_forward(p["x"], p["w"], p["b"])
        n, n_cache, _ = batchnorm_forward(h, p["gamma"], p["beta"], running_mean=rm, running_var=rv)
        return np.tanh(n), (d_cache, n_cache)

    y, (d_cache, n_cache) = forward(params)
    dn = dout * (1 - y * y)
    dh, dgamma, dbeta = batchnorm_backward(dn, n_cache)
    dx, dw, db = dense_backward(dh, d_cache)
    analytic = {"x": dx, "w": dw, "b": db, "gamma": dgamma, "beta": dbeta}
    numeric = numerical_grad(lambda p: np.sum(forward(p)[0] * dout), params)
    assert rel_error(analytic, numeric) < 1e-6


def test_batchnorm_mean_of_dx_is_zero_in_training():
    # Shifting every x in a channel by the same amount leaves the output
    # unchanged, so dx must sum to zero per channel.
    rng = np.random.default_rng(4)
    x, gamma, beta, rm, rv = batchnorm_args(rng, (3, 2, 4, 4))
    out, cache, _ = batchnorm_forward(x, gamma, beta, running_mean=rm, running_var=rv)
    dx, _, _ = batchnorm_backward(rng.standard_normal(out.shape), cache)
    np.testing.assert_allclose(dx.sum(axis=(0, 2, 3)), 0.0, atol=1e-12)


@pytest.mark.parametrize(
    "x_shape, vec_shapes, dtypes, kwargs, match",
    [
        ((2, 3, 4), [(3,)] * 4, "ffff", {}, r"x has shape \(2, 3, 4\); expected 2 axes \(N, D\) or 4 axes \(N, C, H, W\)"),
        ((4, 3), [(2,), (3,), (3,), (3,)], "ffff", {}, r"gamma has shape \(2,\); expected \(D,\) = \(3,\)"),
        ((2, 3, 2, 2), [(3,), (3,), (3,), (2,)], "ffff", {}, r"running_var has shape \(2,\); expected \(C,\) = \(3,\)"),
        ((4, 3), [(3,)] * 4, "fdff", {}, r"beta has dtype float64; expected float32 to match x"),
        ((4, 3), [(3,)] * 4, "ffdf", {}, r"running_mean has dtype float64; expected float32 to match x"),
        ((4, 3), [(3,)] * 4, "ffff", {"momentum": 1.5}, r"momentum is 1\.5; expected a probability in \[0, 1\]"),
        ((4, 3), [(3,)] * 4, "ffff", {"eps": 0.0}, r"eps is 0\.0; expected a positive number"),
        ((4, 3), [(3,)] * 4, "ffff", {"training": "yes"}, r"training is 'yes'; expected True or False"),
        ((1, 3), [(3,)] * 4, "ffff", {}, r"x has shape \(1, 3\); training-mode batch norm needs at least 2 values"),
        ((1, 3, 1, 1), [(3,)] * 4, "ffff", {}, r"x has shape \(1, 3, 1, 1\); training-mode batch norm needs"),
    ],
)
def test_batchnorm_rejects_bad_input(x_shape, vec_shapes, dtypes, kwargs, match):
    kinds = {"f": np.float32, "d": np.float64}
    x = np.ones(x_shape, np.float32)
    gamma, beta, rm, rv = (np.ones(s, kinds[k]) for s, k in zip(vec_shapes, dtypes))
    with pytest.raises(ValueError, match=match):
        batchnorm_forward(x, gamma, beta, running_mean=rm, running_var=rv, **kwargs)


def test_batchnorm_inference_accepts_a_single_sample():
    x = np.ones((1, 3))
    out, _, _ = batchnorm_forward(x, np.ones(3), np.zeros(3), running_mean=np.zeros(3),
                                  running_var=np.ones(3), training=False, eps=1e-8)
    np.testing.assert_allclose(out, x)


def test_batchnorm_backward_rejects_bad_dout():
    x = np.ones((4, 3))
    _, cache, _ = batchnorm_forward(x, np.ones(3), np.zeros(3), running_mean=np.zeros(3), running_var=np.ones(3))
    with pytest.raises(ValueError, match=r"dout has shape \(4, 2\); expected x's shape = \(4, 3\)"):
        batchnorm_backward(np.ones((4, 2)), cache)
    with pytest.raises(ValueError, match=r"dout has dtype float32; expected float64 to match x"):
        batchnorm_backward(np.ones((4, 3), np.float32), cache)


# --- layer norm -------------------------------------------------------------------


@given(lead=st.lists(st.integers(1, 3), min_size=1, max_size=2), D=st.integers(1, 6), seed=SEEDS)
def test_layernorm_gradients_match_central_differences(lead, D, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((*lead, D)) * 2 + 0.5
    gamma, beta = rng.standard_normal(D), rng.standard_normal(D)
    eps = check_eps(D)
    errors = op_gradient_errors(
        lambda x, gamma, beta: layernorm_forward(x, gamma, beta, eps=eps),
        layernorm_backward,
        (x, gamma, beta),
        rng=rng,
        eps=STEP,
    )
    assert set(errors) == {0, 1, 2}
    assert max(errors.values()) < 1e-6, errors


@given(lead=st.lists(st.integers(1, 3), min_size=1, max_size=2), D=st.integers(1, 6), seed=SEEDS)
def test_layernorm_forward_standardises_each_row(lead, D, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((*lead, D)) * 3 - 1
    gamma, beta = rng.standard_normal(D), rng.standard_normal(D)
    out, _ = layernorm_forward(x, gamma, beta, eps=1e-4)
    mean = x.mean(axis=-1, keepdims=True)
    want = gamma * (x - mean) / np.sqrt(x.var(axis=-1, keepdims=True) + 1e-4) + beta
    np.testing.assert_allclose(out, want, rtol=1e-10, atol=1e-12)


def test_layernorm_keeps_float32_and_does_not_mutate_inputs():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5)).astype(np.float32)
    gamma, beta = rng.standard_normal(5).astype(np.float32), rng.standard_normal(5).astype(np.float32)
    dout = rng.standard_normal((2, 3, 5)).astype(np.float32)
    copies = [a.copy() for a in (x, gamma, beta, dout)]
    out, cache = layernorm_forward(x, gamma, beta, eps=np.float64(1e-5))
    grads = layernorm_backward(dout, cache)
    assert [a.dtype for a in (out, *grads)] == [np.float32] * 4
    for a, c in zip((x, gamma, beta, dout), copies):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("seed", range(3))
def test_layernorm_mid_network_composite_gradient(seed):
    """dense -> layernorm -> tanh on (N, T, D) sequences, backpropagated by hand."""
    rng = np.random.default_rng(seed)
    params = {
        "x": rng.standard_normal((2, 3, 4)),
        "w": rng.standard_normal((4, 5)),
        "b": rng.standard_normal(5),
        "gamma": rng.standard_normal(5),
        "beta": rng.standard_normal(5),
    }
    dout = rng.standard_normal((2, 3, 5))

    def forward(p):
        h, d_cache = dense_forward(p["x"], p["w"], p["b"])
        n, n_cache = layernorm_forward(h, p["gamma"], p["beta"])
        return np.tanh(n), (d_cache, n_cache)

    y, (d_cache, n_cache) = forward(params)
    dh, dgamma, dbeta = layernorm_backward(dout * (1 - y * y), n_cache)
    dx, dw, db = dense_backward(dh, d_cache)
    analytic = {"x": dx, "w": dw, "b": db, "gamma": dgamma, "beta": dbeta}
    numeric = numerical_grad(lambda p: np.sum(forward(p)[0] * dout), params)
    assert rel_error(analytic, numeric) < 1e-6


@pytest.mark.parametrize(
    "x, gamma, beta, kwargs, match",
    [
        (np.ones((2, 3), np.int64), np.ones(3), np.ones(3), {}, r"x has shape \(2, 3\) and dtype int64"),
        (np.array(1.0), np.ones(1), np.ones(1), {}, r"x has shape \(\); expected at least 1 axes \(\.\.\., D\)"),
        (np.ones((2, 3)), np.ones(4), np.ones(3), {}, r"gamma has shape \(4,\); expected \(D,\) = \(3,\)"),
        (np.ones((2, 3)), np.ones(3), np.ones((1, 3)), {}, r"beta has shape \(1, 3\); expected \(D,\) = \(3,\)"),
        (np.ones((2, 3)), np.ones(3, np.float32), np.ones(3), {}, r"gamma has dtype float32; expected float64 to match x"),
        (np.ones((2, 3)), np.ones(3), np.ones(3), {"eps": -1e-5}, r"eps is -1e-05; expected a positive number"),
        (np.ones((2, 0)), np.ones(0), np.ones(0), {}, r"x has shape \(2, 0\); expected at least one feature"),
    ],
)
def test_layernorm_rejects_bad_input(x, gamma, beta, kwargs, match):
    with pytest.raises(ValueError, match=match):
        layernorm_forward(x, gamma, beta, **kwargs)


def test_layernorm_backward_rejects_bad_dout():
    _, cache = layernorm_forward(np.ones((2, 3)), np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"dout has shape \(3, 2\); expected \(\.\.\., D\) = \(2, 3\)"):
        layernorm_backward(np.ones((3, 2)), cache)
