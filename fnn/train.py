"""The training loop: minibatch gradient descent with logging and early stopping.

:func:`fit` is deliberately thin. The model supplies ``loss_and_grad``, the
optimizer supplies ``init``/``update``; fit only shuffles, batches, measures
and decides when to stop. Everything it does per batch is one call to each of
those two functions plus a float conversion, so the Python overhead stays
negligible next to the array work.
"""
import math
import numbers
import time

import numpy as np

from ._validate import describe
from .data.batching import minibatches
from .metrics import accuracy

__all__ = ["fit", "HISTORY_KEYS"]

HISTORY_KEYS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "examples_per_sec", "seconds")


def _require_xy(name, pair):
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise ValueError(f"{name} has {describe(pair)}; expected an (x, y) tuple of arrays")
    x, y = pair
    for part, a in (("x", x), ("y", y)):
        if not isinstance(a, np.ndarray) or a.ndim == 0:
            raise ValueError(f"{name} {part} has {describe(a)}; expected a numpy array with a first axis N")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{name} y has shape {y.shape}; expected first axis N = {x.shape[0]} to match x {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} x has shape {x.shape}; expected at least one example")
    return x, y


def _require_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} is {value!r}; expected a positive integer")
    return int(value)


def _labels(y):
    """Class labels (N,) from labels or one-hot / probability targets (N, V)."""
    return y.argmax(axis=1) if y.ndim == 2 else y


def _require_classification_targets(name, y):
    if not ((y.ndim == 1 and y.dtype.kind in "iu") or (y.ndim == 2 and y.dtype.kind in "iuf")):
        raise ValueError(
            f"{name} y has {describe(y)}; accuracy (predict is set) needs integer labels (N,) or one-hot targets (N, V)"
        )


def _accuracy(predict, params, x, y, chunk):
    pred = np.concatenate([np.asarray(predict(params, x[i:i + chunk])) for i in range(0, len(x), chunk)])
    return accuracy(_labels(y), pred)


def _mean_loss(loss_fn, params, x, y, chunk):
    """Loss over (x, y) evaluated in chunks and weighted by chunk size (losses are per-example means)."""
    total = 0.0
    for i in range(0, len(x), chunk):
        xb, yb = x[i:i + chunk], y[i:i + chunk]
        total += float(loss_fn(params, xb, yb)) * len(xb)
    return total / len(x)


def _copy_params(params):
    return {k: np.array(v, copy=True) for k, v in params.items()}


def _format_epoch(history, epochs):
    i = -1
    parts = [f"epoch {history['epoch'][i]:>{len(str(epochs))}}/{epochs}", f"train loss {history['train_loss'][i]:.4f}"]
    if history["train_acc"][i] is not None:
        parts.append(f"train acc {history['train_acc'][i]:.4f}")
    if history["val_loss"][i] is not None:
        parts.append(f"val loss {history['val_loss'][i]:.4f}")
    if history["val_acc"][i] is not None:
        parts.append(f"val acc {history['val_acc'][i]:.4f}")
    parts.append(f"{history['examples_per_sec'][i]:,.0f} ex/s")
    parts.append(f"{history['seconds'][i]:.2f} s")
    return "  ".join(parts)


def fit(params, loss_and_grad, optimizer, train, *, epochs, batch_size, rng, validation=None, predict=None,
        loss_fn=None, patience=None, min_delta=0.0, log=print, eval_batch_size=1000, train_acc_examples=10_000):
    """Train ``params`` by minibatch descent -> (params, opt_state, history).

    params: flat dict of arrays; copied first, never mutated.
    loss_and_grad(params, x (B, ...), y (B, ...)) -> (loss, grads).
    optimizer: ``.init(params) -> state``, ``.update(params, grads, state) -> (params, state)``.
    train, validation: ``(x (N, ...), y (N, ...))`` tuples; batches are reshuffled every epoch from ``rng``.
    predict(params, x (B, ...)) -> labels (B,): enables accuracy. y may hold labels (N,) or one-hot (N, V).
    loss_fn(params, x, y) -> loss for validation (default: the loss from ``loss_and_grad``,
        which also pays for a backward pass and, for a model with dropout, measures
        the loss with dropout on; pass a forward-only, inference-mode loss then).

    Per epoch, ``log`` (``print``; ``None`` silences) gets one line and
    ``history`` one entry per key of ``HISTORY_KEYS`` (None where not computed):

    * ``train_loss``: mean of the batch losses weighted by batch size, taken
      while the params were changing during the epoch (as Keras reports it);
    * ``train_acc``: accuracy of the end-of-epoch params on a fixed random
      subset of ``train_acc_examples`` training examples (all when fewer),
      drawn once from ``rng``, so it costs one forward pass over that subset;
    * ``val_loss``/``val_acc``: the end-of-epoch params on all of
      ``validation``; evaluation runs in chunks of ``eval_batch_size``, and
      chunk losses are averaged weighted by size, so ``loss_fn`` must return
      a per-example mean;
    * ``examples_per_sec``: training examples / time in the batch loop;
      ``seconds``: the whole epoch including evaluation.

    history also holds ``best_epoch`` (1-based epoch of the lowest validation
    loss; None without validation) and ``stopped_early``.

    Early stopping (``patience``, needs ``validation``): an epoch improves
    when its validation loss is below the best so far minus ``min_delta``;
    after ``patience`` epochs in a row without improvement training stops.
    With ``patience`` set, the params and optimizer state of the best epoch
    are returned, whether or not training stopped early.

    A non-finite training loss raises ``FloatingPointError`` naming the epoch
    and batch, since every later step would only spread the nan.
    """
    if not isinstance(params, dict):
        raise ValueError(f"params has {describe(params)}; expected a dict of arrays")
    if not callable(loss_and_grad):
        raise ValueError(
            f"loss_and_grad has {describe(loss_and_grad)}; expected a function (params, x, y) -> (loss, grads)"
        )
    if not (callable(getattr(optimizer, "init", None)) and callable(getattr(optimizer, "update", None))):
        raise ValueError(
            f"optimizer has {describe(optimizer)}; expected an object with .init(params) "
            f"and .update(params, grads, state)"
        )
    x, y = _require_xy("train", train)
    epochs = _require_positive_int("epochs", epochs)
    batch_size = _require_positive_int("batch_size", batch_size)
    eval_batch_size = _require_positive_int("eval_batch_size", eval_batch_size)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng is {type(rng).__name__}; expected a numpy Generator, e.g. np.random.default_rng(0)")
    if validation is not None:
        x_val, y_val = _require_xy("validation", validation)
    if patience is not None:
        patience = _require_positive_int("patience", patience)
        if validation is None:
            raise ValueError("patience is set but validation is None; early stopping needs a validation (x, y) tuple")
    if isinstance(min_delta, bool) or not isinstance(min_delta, numbers.Real) or not min_delta >= 0:
        raise ValueError(f"min_delta is {min_delta!r}; expected a number >= 0")
    if loss_fn is None:
        def loss_fn(p, xb, yb):
            return loss_and_grad(p, xb, yb)[0]
    emit = log if log is not None else (lambda message: None)

    params = _copy_params(params)
    state = optimizer.init(params)
    n = x.shape[0]
    if predict is not None:
        _require_classification_targets("train", y)
        if validation is not None:
            _require_classification_targets("validation", y_val)
        train_acc_examples = _require_positive_int("train_acc_examples", train_acc_examples)
        if n > train_acc_examples:
            subset = np.sort(rng.choice(n, size=train_acc_examples, replace=False))
            x_acc, y_acc = x[subset], y[subset]
        else:
            x_acc, y_acc = x, y

    history = {key: [] for key in HISTORY_KEYS}
    history["best_epoch"] = None
    history["stopped_early"] = False
    best_loss = math.inf
    best_params, best_state = None, None
    epochs_without_improvement = 0

    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        loss_sum, seen = 0.0, 0
        for batch, (xb, yb) in enumerate(minibatches(rng, x, y, batch_size=batch_size)):
            loss, grads = loss_and_grad(params, xb, yb)
            loss = float(loss)
            if not math.isfinite(loss):
                raise FloatingPointError(
                    f"training loss is {loss} at epoch {epoch}, batch {batch}; "
                    f"try a smaller learning rate, or check the inputs for nan/inf"
                )
            params, state = optimizer.update(params, grads, state)
            loss_sum += loss * xb.shape[0]
            seen += xb.shape[0]
        train_seconds = time.perf_counter() - start

        history["epoch"].append(epoch)
        history["train_loss"].append(loss_sum / seen)
        history["train_acc"].append(_accuracy(predict, params, x_acc, y_acc, eval_batch_size) if predict else None)
        if validation is not None:
            val_loss = _mean_loss(loss_fn, params, x_val, y_val, eval_batch_size)
            val_acc = _accuracy(predict, params, x_val, y_val, eval_batch_size) if predict else None
        else:
            val_loss = val_acc = None
        history["val_loss"].append(val_loss)
        history["val_acc"].append(val_acc)
        history["examples_per_sec"].append(seen / train_seconds if train_seconds > 0 else math.inf)
        history["seconds"].append(time.perf_counter() - start)
        emit(_format_epoch(history, epochs))

        if val_loss is None:
            continue
        if val_loss < best_loss - min_delta:
            best_loss, epochs_without_improvement = val_loss, 0
            history["best_epoch"] = epoch
            if patience is not None:
                # Optimizers are pure, but a copy keeps the snapshot safe from one that is not.
                best_params, best_state = _copy_params(params), state
        else:
            epochs_without_improvement += 1
            if patience is not None and epochs_without_improvement >= patience:
                history["stopped_early"] = True
                emit(
                    f"early stopping: val loss has not improved by more than {min_delta:g} for {patience} "
                    f"epochs; restoring params from epoch {history['best_epoch']} (val loss {best_loss:.4f})"
                )
                break

    if patience is not None and best_params is not None and history["best_epoch"] != history["epoch"][-1]:
        if not history["stopped_early"]:
            emit(f"restoring params from epoch {history['best_epoch']} (best val loss {best_loss:.4f})")
        params, state = best_params, best_state
    return params, state, history
