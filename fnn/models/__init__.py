"""Models as modules of pure functions over a flat parameter dict.

Each module has ``init(rng, ...) -> params``, ``forward(params, x) -> (out,
cache)``, ``backward(params, cache, dout) -> grads`` (same keys, shapes and
dtypes as params; a fresh dict every call) and ``loss_and_grad(params, x, y)
-> (loss, grads)``.
"""
from . import cnn, linear_regression, logistic_regression, mlp, perceptron  # noqa: F401

__all__ = ["cnn", "linear_regression", "logistic_regression", "mlp", "perceptron"]
