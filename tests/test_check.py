import numpy as np
import pytest

from fnn.check import numerical_grad, numerical_grad_at, op_gradient_errors, rel_error, rel_errors, sample_indices


def test_numerical_grad_of_known_functions():
    x = np.array([0.3, -1.2, 2.0])
    np.testing.assert_allclose(numerical_grad(lambda v: np.sum(v ** 3), x), 3 * x ** 2, rtol=1e-8)
    params = {"a": np.array([[1.0, 2.0]]), "b": np.array([0.5])}
    g = numerical_grad(lambda p: np.sum(p["a"] ** 2) * p["b"][0], params)
    np.testing.assert_allclose(g["a"], 2 * params["a"] * 0.5, rtol=1e-8)
    np.testing.assert_allclose(g["b"], [5.0], rtol=1e-8)


def test_numerical_grad_never_touches_the_callers_array():
    x = np.array([1.0, 2.0], dtype=np.float32)
    seen = []
    numerical_grad(lambda v: seen.append(v is x) or np.sum(v), x)
    assert not any(seen)
    np.testing.assert_array_equal(x, [1.0, 2.0])


def test_sampled_central_differences_match_the_full_gradient():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 7))
    f = lambda v: np.sum(np.sin(v) * v)  # noqa: E731
    full = numerical_grad(f, x)
    idx = sample_indices(x.shape, 10, rng)
    assert len(set(idx.tolist())) == 10
    np.testing.assert_allclose(numerical_grad_at(f, x, idx), full.reshape(-1)[idx], rtol=1e-12)
    assert len(sample_indices((3,), 10, rng)) == 3


def test_rel_error_scales_by_the_largest_magnitude():
    assert rel_error(np.array([1.0, 1e-9]), np.array([1.0, 2e-9])) == pytest.approx(1e-9)
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert rel_error(np.array([2.0]), np.array([1.0])) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="shapes differ"):
        rel_error(np.ones(2), np.ones(3))


def test_rel_errors_use_the_whole_gradients_scale_per_key():
    a = {"w": np.array([10.0, -4.0]), "b": np.array([0.0])}
    b = {"w": np.array([10.0, -4.0 + 1e-6]), "b": np.array([1e-11])}
    errors = rel_errors(a, b)
    assert errors["w"] == pytest.approx(1e-7)
    assert errors["b"] == pytest.approx(1e-12)
    assert rel_error(a, b) == pytest.approx(1e-7)
    with pytest.raises(ValueError, match="key sets differ"):
        rel_error(a, {"w": a["w"]})


def test_op_gradient_errors_catches_a_wrong_backward():
    def forward(x, w):
        return x * w, (x, w)

    def right(dout, cache):
        x, w = cache
        return dout * w, dout * x

    def wrong(dout, cache):
        x, w = cache
        return dout * w, dout * x * 1.01

    rng = np.random.default_rng(1)
    args = (rng.standard_normal(4), rng.standard_normal(4))
    good = op_gradient_errors(forward, right, args)
    bad = op_gradient_errors(forward, wrong, args)
    assert max(good.values()) < 1e-8
    assert bad[0] < 1e-8 and bad[1] > 1e-3


def test_op_gradient_errors_requires_float64():
    with pytest.raises(ValueError, match="float64"):
        op_gradient_errors(lambda x: (x, None), lambda d, c: d, (np.ones(2, np.float32),))
