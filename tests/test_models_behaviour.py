"""What each model must learn (or, for the perceptron on XOR, must fail to learn)."""
import numpy as np
import pytest

from fnn.models import linear_regression, logistic_regression, mlp, perceptron

GATES = {
    "AND": [0, 0, 0, 1],
    "OR": [0, 1, 1, 1],
    "XOR": [0, 1, 1, 0],
}
X_GATE = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)


def _train_online(rule, y, epochs, lr):
    params = perceptron.init(None, 2, dtype=np.float64)
    for _ in range(epochs):
        for x_i, y_i in zip(X_GATE, y):
            params, _ = perceptron.update(params, x_i, y_i, lr=lr, rule=rule)
    return params


@pytest.mark.parametrize("gate", ["AND", "OR"])
def test_perceptron_rule_learns_linearly_separable_gates(gate):
    params = _train_online("perceptron", GATES[gate], epochs=20, lr=1.0)
    np.testing.assert_array_equal(perceptron.predict(params, X_GATE), GATES[gate])


def test_perceptron_rule_cannot_learn_xor():
    y = GATES["XOR"]
    for epochs in (10, 50, 200):
        params = _train_online("perceptron", y, epochs=epochs, lr=1.0)
        assert np.sum(perceptron.predict(params, X_GATE) != y) >= 1


def test_perceptron_online_update_is_the_rule_and_pure():
    params = {"w": np.array([0.5, -1.0]), "b": np.array([0.0])}
    x_i = np.array([1.0, 1.0])  # z = -0.5 -> output 0
    new, error = perceptron.update(params, x_i, 1, lr=0.1)
    assert error == 1.0
    np.testing.assert_allclose(new["w"], [0.6, -0.9])
    np.testing.assert_allclose(new["b"], [0.1])
    np.testing.assert_array_equal(params["w"], [0.5, -1.0])


def test_perceptron_batch_gradient_step_equals_batch_rule():
    rng = np.random.default_rng(5)
    params = perceptron.init(rng, 3, scale=1.0, dtype=np.float64)
    x, y = rng.standard_normal((10, 3)), rng.integers(0, 2, 10)
    _, grads = perceptron.loss_and_grad(params, x, y)
    out = perceptron.predict(params, x)
    expected_w = -np.mean((y - out)[:, None] * x, axis=0)
    np.testing.assert_allclose(grads["w"], expected_w, atol=1e-12)


def test_delta_rule_learns_and_gate_scores():
    params = _train_online("delta", GATES["AND"], epochs=300, lr=0.05)
    z = perceptron.forward(params, X_GATE)[0]
    # Least-squares fit of AND with bipolar targets: z = x1 + x2 - 1.5, so step(z) is AND.
    np.testing.assert_allclose(z, [-1.5, -0.5, -0.5, 0.5], atol=0.1)
    np.testing.assert_array_equal(perceptron.predict(params, X_GATE), GATES["AND"])


def _regression_data(rng, n=200, d=4, noise=0.1):
    x = rng.standard_normal((n, d))
    w_true = np.array([2.0, -1.0, 0.0, 0.5])[:d]
    y = x @ w_true + 3.0 + noise * rng.standard_normal(n)
    return x, y, w_true


def test_normal_equation_recovers_coefficients_and_matches_lstsq():
    rng = np.random.default_rng(0)
    x, y, w_true = _regression_data(rng)
    params = linear_regression.fit_normal_equation(x, y)
    design = np.hstack([x, np.ones((len(x), 1))])
    sol, *_ = np.linalg.lstsq(design, y, rcond=None)
    np.testing.assert_allclose(params["w"], sol[:-1], rtol=1e-10)
    np.testing.assert_allclose(params["b"], [sol[-1]], rtol=1e-10)
    np.testing.assert_allclose(params["w"], w_true, atol=0.05)


def test_normal_equation_is_stable_on_nearly_collinear_features():
    rng = np.random.default_rng(1)
    base = rng.standard_normal(500)
    x = np.stack([base, base + 1e-9 * rng.standard_normal(500)], axis=1)
    y = 2 * base + 1
    params = linear_regression.fit_normal_equation(x, y)
    pred = linear_regression.predict(params, x)
    assert np.max(np.abs(pred - y)) < 1e-6


def test_gradient_descent_reaches_the_normal_equation_solution():
    rng = np.random.default_rng(2)
    x, y, _ = _regression_data(rng)
    exact = linear_regression.fit_normal_equation(x, y, l2=0.05)
    params, losses = linear_regression.fit_gradient_descent(x, y, lr=0.1, steps=3000, l2=0.05)
    np.testing.assert_allclose(params["w"], exact["w"], atol=1e-8)
    np.testing.assert_allclose(params["b"], exact["b"], atol=1e-8)
    assert losses[-1] < losses[0]


def test_ridge_shrinks_weights_and_its_gradient_vanishes_at_the_closed_form():
    rng = np.random.default_rng(3)
    x, y, _ = _regression_data(rng)
    plain = linear_regression.fit_normal_equation(x, y)
    ridge = linear_regression.fit_normal_equation(x, y, l2=1.0)
    assert np.linalg.norm(ridge["w"]) < np.linalg.norm(plain["w"])
    _, grads = linear_regression.loss_and_grad(ridge, x, y, l2=1.0)
    assert max(np.max(np.abs(g)) for g in grads.values()) < 1e-10


def test_lasso_sets_the_irrelevant_weight_exactly_to_zero():
    rng = np.random.default_rng(4)
    x, y, _ = _regression_data(rng)  # the third true weight is 0
    params, _ = linear_regression.fit_gradient_descent(x, y, lr=0.1, steps=2000, l1=0.05)
    assert params["w"][2] == 0.0
    assert np.all(params["w"][[0, 1, 3]] != 0.0)


def test_logistic_regression_separates_two_blobs_and_three_blobs():
    rng = np.random.default_rng(5)
    centres = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 3.0]])
    y = rng.integers(0, 3, 300)
    x = (centres[y] + 0.5 * rng.standard_normal((300, 2))).astype(np.float32)
    for classes in (2, 3):
        mask = y < classes
        xs, ys = x[mask], y[mask]
        params = logistic_regression.init(rng, 2, classes)
        for _ in range(300):
            _, grads = logistic_regression.loss_and_grad(params, xs, ys)
            params = {k: params[k] - 0.5 * grads[k] for k in params}
        assert np.mean(logistic_regression.predict(params, xs) == ys) > 0.98
        proba = logistic_regression.predict_proba(params, xs)
        assert proba.dtype == np.float32 and np.all((proba >= 0) & (proba <= 1))


def test_mlp_learns_a_spiral_that_a_linear_model_cannot():
    rng = np.random.default_rng(6)
    n, classes = 100, 3
    t = np.linspace(0.0, 1.0, n)
    xs, ys = [], []
    for c in range(classes):
        angle = 4 * t + 2 * np.pi * c / classes + 0.2 * rng.standard_normal(n)
        xs.append(np.stack([t * np.sin(angle), t * np.cos(angle)], axis=1))
        ys.append(np.full(n, c))
    x, y = np.concatenate(xs).astype(np.float32), np.concatenate(ys)
    params = mlp.init(rng, [2, 64, 3])
    for _ in range(2000):
        _, grads = mlp.loss_and_grad(params, x, y)
        params = {k: params[k] - 0.5 * grads[k] for k in params}
    mlp_acc = np.mean(mlp.predict(params, x) == y)
    linear = logistic_regression.init(rng, 2, 3)
    for _ in range(2000):
        _, grads = logistic_regression.loss_and_grad(linear, x, y)
        linear = {k: linear[k] - 0.5 * grads[k] for k in linear}
    linear_acc = np.mean(logistic_regression.predict(linear, x) == y)
    assert mlp_acc > 0.95
    assert linear_acc < 0.7
