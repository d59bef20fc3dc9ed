import math

import numpy as np
import pytest

from fnn.check import numerical_grad, rel_error
from fnn.train import HISTORY_KEYS, fit


class SGD:
    """Stand-in for an fnn.optim optimizer: plain SGD with a step counter."""

    def __init__(self, lr):
        self.lr = lr

    def init(self, params):
        return {"step": 0}

    def update(self, params, grads, state):
        return {k: params[k] - self.lr * grads[k] for k in params}, {"step": state["step"] + 1}


class CountEpochs:
    """An optimizer that adds 1 to params['w'] per step, so w records how many steps ran."""

    def init(self, params):
        return {"step": 0}

    def update(self, params, grads, state):
        return {"w": params["w"] + 1.0}, {"step": state["step"] + 1}


def linear_loss_and_grad(params, x, y):
    """Mean squared error of x (N, D) @ w (D,) + b against y (N,), with its hand-derived gradient."""
    residual = x @ params["w"] + params["b"] - y
    loss = np.mean(residual**2)
    dres = (2.0 / len(y)) * residual
    return loss, {"w": x.T @ dres, "b": np.atleast_1d(dres.sum())}


def linear_problem(n=240, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype(dtype)
    w_true = np.array([1.5, -2.0, 0.5], dtype=dtype)
    y = (x @ w_true + dtype(0.3) + dtype(0.01) * rng.standard_normal(n).astype(dtype)).astype(dtype)
    params = {"w": np.zeros(3, dtype), "b": np.zeros(1, dtype)}
    return params, x, y, w_true


def test_linear_loss_gradient_is_correct():
    # The fixture's hand gradient must be right for the regression test to mean anything.
    params, x, y, _ = linear_problem(n=20)
    params = {"w": np.array([0.3, -0.1, 0.2]), "b": np.array([0.05])}
    _, grads = linear_loss_and_grad(params, x, y)
    assert rel_error(grads, numerical_grad(lambda p: linear_loss_and_grad(p, x, y)[0], params)) < 1e-6


def test_fit_drives_linear_regression_loss_down_and_leaves_inputs_alone():
    params, x, y, w_true = linear_problem()
    before = {k: v.copy() for k, v in params.items()}
    x_before = x.copy()
    new_params, state, history = fit(
        params, linear_loss_and_grad, SGD(0.05), (x[:200], y[:200]), epochs=15, batch_size=16,
        rng=np.random.default_rng(0), validation=(x[200:], y[200:]), log=None,
    )
    losses = history["train_loss"]
    assert losses[-1] < 0.01 * losses[0]
    assert all(later <= earlier * 1.05 for earlier, later in zip(losses, losses[1:]))
    assert history["val_loss"][-1] < 0.01 * history["val_loss"][0]
    np.testing.assert_allclose(new_params["w"], w_true, atol=0.02)
    assert state == {"step": 15 * math.ceil(200 / 16)}
    for key in params:
        np.testing.assert_array_equal(params[key], before[key])
        assert new_params[key] is not params[key]
    np.testing.assert_array_equal(x, x_before)


def test_fit_keeps_float32():
    params, x, y, _ = linear_problem(dtype=np.float32)
    new_params, _, history = fit(params, linear_loss_and_grad, SGD(0.05), (x, y), epochs=2, batch_size=32,
                                 rng=np.random.default_rng(0), log=None)
    assert {v.dtype for v in new_params.values()} == {np.dtype(np.float32)}
    assert history["train_loss"][1] < history["train_loss"][0]


def test_history_records_every_key_with_none_where_not_computed():
    params, x, y, _ = linear_problem(n=50)
    _, _, history = fit(params, linear_loss_and_grad, SGD(0.01), (x, y), epochs=3, batch_size=10,
                        rng=np.random.default_rng(0), log=None)
    assert set(history) == set(HISTORY_KEYS) | {"best_epoch", "stopped_early"}
    assert history["epoch"] == [1, 2, 3]
    for key in HISTORY_KEYS:
        assert len(history[key]) == 3
    assert history["train_acc"] == history["val_loss"] == history["val_acc"] == [None] * 3
    assert all(v > 0 for v in history["examples_per_sec"]) and all(s > 0 for s in history["seconds"])
    assert history["best_epoch"] is None and history["stopped_early"] is False


def test_train_loss_is_the_batch_size_weighted_mean():
    # With lr = 0 the params never move, so the epoch's train loss must equal the full-data loss
    # exactly when batches are weighted by size (7 examples: batches of 3, 3 and 1).
    params, x, y, _ = linear_problem(n=7)
    _, _, history = fit(params, linear_loss_and_grad, SGD(0.0), (x, y), epochs=1, batch_size=3,
                        rng=np.random.default_rng(0), validation=(x, y), log=None)
    full = linear_loss_and_grad(params, x, y)[0]
    assert history["train_loss"][0] == pytest.approx(full, rel=1e-12)
    assert history["val_loss"][0] == pytest.approx(full, rel=1e-12)  # default loss_fn: loss of loss_and_grad


def scripted_val_loss(losses):
    """A validation loss that reads the epoch from params['w'] (set by CountEpochs) and looks it up."""
    return lambda params, x, y: losses[int(params["w"][0]) - 1]


def run_counting(losses, *, epochs, patience, min_delta=0.0, log=None):
    x, y = np.zeros((4, 1)), np.zeros(4)
    return fit({"w": np.zeros(1)}, lambda p, xb, yb: (0.0, {"w": np.zeros(1)}), CountEpochs(), (x, y),
               epochs=epochs, batch_size=4, rng=np.random.default_rng(0), validation=(x, y),
               loss_fn=scripted_val_loss(losses), patience=patience, min_delta=min_delta, log=log)


def test_early_stopping_triggers_at_the_predicted_epoch_and_restores_best_params():
    lines = []
    # best at epoch 2; epochs 3 and 4 fail to improve -> with patience 2, stop after epoch 4.
    params, state, history = run_counting([1.0, 0.8, 0.9, 0.85, 0.1, 0.1], epochs=6, patience=2, log=lines.append)
    assert history["epoch"] == [1, 2, 3, 4]
    assert history["val_loss"] == [1.0, 0.8, 0.9, 0.85]
    assert history["stopped_early"] is True and history["best_epoch"] == 2
    assert params["w"].tolist() == [2.0] and state == {"step": 2}
    assert len(lines) == 5 and "early stopping" in lines[-1] and "epoch 2" in lines[-1]


def test_min_delta_demands_a_real_improvement():
    # 0.95 and 0.93 are within min_delta = 0.1 of 1.0, so they do not count as improvements.
    params, _, history = run_counting([1.0, 0.95, 0.93, 0.5], epochs=4, patience=2, min_delta=0.1)
    assert history["epoch"] == [1, 2, 3] and history["best_epoch"] == 1
    assert params["w"].tolist() == [1.0]


def test_patience_returns_best_params_even_without_stopping():
    params, state, history = run_counting([1.0, 0.5, 0.6], epochs=3, patience=5)
    assert history["stopped_early"] is False and history["epoch"] == [1, 2, 3]
    assert history["best_epoch"] == 2 and params["w"].tolist() == [2.0] and state == {"step": 2}


def test_without_patience_the_last_params_are_returned():
    params, _, history = run_counting([1.0, 0.5, 0.6], epochs=3, patience=None)
    assert params["w"].tolist() == [3.0] and history["best_epoch"] == 2


def threshold_predict(params, x):
    return (x[:, 0] > 0).astype(np.int64)


def test_accuracy_uses_predict_on_labels_and_one_hot_targets():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 2))
    y = (x[:, 0] > 0).astype(np.int64)
    y[:10] = 1 - y[:10]  # the first 10 are mislabelled: accuracy is exactly 0.75
    zero_loss = lambda p, xb, yb: (0.0, {"w": np.zeros(1)})  # noqa: E731
    _, _, history = fit({"w": np.zeros(1)}, zero_loss, SGD(0.1), (x, y), epochs=2, batch_size=8, rng=rng,
                        validation=(x[:20], y[:20]), predict=threshold_predict, log=None, eval_batch_size=7)
    assert history["train_acc"] == [0.75, 0.75] and history["val_acc"] == [0.5, 0.5]
    one_hot = np.eye(2)[y]
    _, _, history = fit({"w": np.zeros(1)}, zero_loss, SGD(0.1), (x, one_hot), epochs=1, batch_size=8, rng=rng,
                        predict=threshold_predict, log=None)
    assert history["train_acc"] == [0.75]


def test_train_accuracy_uses_a_bounded_subset():
    seen_rows = []
    def predict(params, x):
        seen_rows.append(len(x))
        return np.zeros(len(x), np.int64)
    x, y = np.zeros((50, 1)), np.zeros(50, np.int64)
    fit({"w": np.zeros(1)}, lambda p, xb, yb: (0.0, {"w": np.zeros(1)}), SGD(0.1), (x, y), epochs=2,
        batch_size=10, rng=np.random.default_rng(0), predict=predict, log=None, train_acc_examples=12)
    assert sum(seen_rows) == 2 * 12


def test_log_prints_one_line_per_epoch(capsys):
    params, x, y, _ = linear_problem(n=30)
    y = (y > 0).astype(np.int64)  # labels, so accuracy is defined
    fit(params, linear_loss_and_grad, SGD(0.01), (x, y), epochs=2, batch_size=10, rng=np.random.default_rng(0),
        validation=(x, y), predict=lambda p, xb: np.zeros(len(xb), np.int64))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("epoch 1/2") and lines[1].startswith("epoch 2/2")
    for word in ("train loss", "train acc", "val loss", "val acc", "ex/s", " s"):
        assert word in lines[0]
    fit(params, linear_loss_and_grad, SGD(0.01), (x, y), epochs=2, batch_size=10, rng=np.random.default_rng(0), log=None)
    assert capsys.readouterr().out == ""


def test_non_finite_loss_stops_training_with_its_location():
    params, x, y, _ = linear_problem(n=30)
    def exploding(p, xb, yb):
        loss, grads = linear_loss_and_grad(p, xb, yb)
        return (math.nan if exploding.calls == 2 else loss), grads
    exploding.calls = 0
    def counted(p, xb, yb):
        exploding.calls += 1
        return exploding(p, xb, yb)
    with pytest.raises(FloatingPointError, match=r"training loss is nan at epoch 1, batch 1"):
        fit(params, counted, SGD(0.01), (x, y), epochs=1, batch_size=10, rng=np.random.default_rng(0), log=None)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"train": (np.zeros((5, 2)), np.zeros(4))}, r"train y has shape \(4,\); expected first axis N = 5 to match x \(5, 2\)"),
        ({"train": np.zeros((5, 2))}, r"train has shape \(5, 2\) and dtype float64; expected an \(x, y\) tuple"),
        ({"epochs": 0}, r"epochs is 0; expected a positive integer"),
        ({"batch_size": -1}, r"batch_size is -1; expected a positive integer"),
        ({"patience": 2}, r"patience is set but validation is None"),
        ({"rng": 0}, r"rng is int; expected a numpy Generator"),
        ({"optimizer": object()}, r"optimizer has type object; expected an object with \.init"),
        ({"validation": (np.zeros((2, 3)), np.zeros(3))}, r"validation y has shape \(3,\); expected first axis N = 2"),
        ({"predict": threshold_predict}, r"train y has shape \(5,\) and dtype float64; accuracy \(predict is set\) needs integer labels"),
    ],
)
def test_fit_rejects_bad_arguments(kwargs, match):
    params, x, y, _ = linear_problem(n=5)
    args = {"train": (x, y), "epochs": 1, "batch_size": 2, "rng": np.random.default_rng(0), "optimizer": SGD(0.1)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        fit(params, linear_loss_and_grad, args.pop("optimizer"), args.pop("train"), log=None, **args)
