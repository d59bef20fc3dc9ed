import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fnn.check import op_gradient_errors
from fnn.ops import dense_backward, dense_forward


@given(
    lead=st.lists(st.integers(1, 4), min_size=1, max_size=2),
    D=st.integers(1, 6),
    M=st.integers(1, 5),
    seed=st.integers(0, 2**31 - 1),
)
def test_dense_gradients_match_central_differences(lead, D, M, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((*lead, D))
    w = rng.standard_normal((D, M))
    b = rng.standard_normal(M)
    errors = op_gradient_errors(dense_forward, dense_backward, (x, w, b), rng=rng)
    assert set(errors) == {0, 1, 2}
    assert max(errors.values()) < 1e-6, errors


def test_dense_forward_is_affine_map():
    x = np.array([[1.0, 2.0]])
    w = np.array([[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]])
    b = np.array([0.0, 1.0, 2.0])
    out, _ = dense_forward(x, w, b)
    np.testing.assert_allclose(out, [[2.0, 5.0, 1.0]])


def test_dense_keeps_float32():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    w = rng.standard_normal((4, 2)).astype(np.float32)
    b = np.zeros(2, np.float32)
    out, cache = dense_forward(x, w, b)
    grads = dense_backward(np.ones_like(out), cache)
    assert out.dtype == np.float32
    assert [g.dtype for g in grads] == [np.float32] * 3


def test_dense_does_not_mutate_inputs():
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), rng.standard_normal(2)
    copies = [a.copy() for a in (x, w, b)]
    out, cache = dense_forward(x, w, b)
    dense_backward(np.ones_like(out), cache)
    for a, c in zip((x, w, b), copies):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize(
    "x_shape, w_shape, b_shape, dtypes, match",
    [
        ((3, 4), (5, 2), (2,), "fff", r"x has shape \(3, 4\); expected \(\.\.\., D\) with D = 5"),
        ((3, 4), (4,), (2,), "fff", r"w has shape \(4,\); expected 2 axes \(D, M\)"),
        ((3, 4), (4, 2), (3,), "fff", r"b has shape \(3,\); expected \(M,\) = \(2,\)"),
        ((3, 4), (4, 2), (2,), "fdf", r"w has dtype float64; expected float32 to match x"),
        ((3, 4), (4, 2), (2,), "iff", r"x has shape \(3, 4\) and dtype int64; expected a float32 or float64"),
    ],
)
def test_dense_rejects_bad_input(x_shape, w_shape, b_shape, dtypes, match):
    kinds = {"f": np.float32, "d": np.float64, "i": np.int64}
    x, w, b = (np.ones(s, dtype=kinds[k]) for s, k in zip((x_shape, w_shape, b_shape), dtypes))
    with pytest.raises(ValueError, match=match):
        dense_forward(x, w, b)


def test_dense_backward_rejects_wrong_dout_shape():
    x, w, b = np.ones((3, 4)), np.ones((4, 2)), np.ones(2)
    _, cache = dense_forward(x, w, b)
    with pytest.raises(ValueError, match=r"dout has shape \(3, 3\); expected \(\.\.\., M\)"):
        dense_backward(np.ones((3, 3)), cache)


def test_dense_input_grad_false_skips_dx_but_keeps_parameter_grads():
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((5, 3)), rng.standard_normal((3, 4)), rng.standard_normal(4)
    dout = rng.standard_normal((5, 4))
    _, cache_full = dense_forward(x, w, b)
    _, cache_data = dense_forward(x, w, b, input_grad=False)
    dx, dw, db = dense_backward(dout, cache_full)
    dx_none, dw2, db2 = dense_backward(dout, cache_data)
    assert dx is not None and dx_none is None
    np.testing.assert_array_equal(dw, dw2)
    np.testing.assert_array_equal(db, db2)
