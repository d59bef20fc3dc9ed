"""fnn.reference: every op and model loss as a plain-NumPy forward, the readable specification.

Each function here computes the same value as the matching ``fnn.ops``
forward (or model loss) using only elementary NumPy operations that
:mod:`fnn.tape` can differentiate: no hand-written backward, no Numba kernel,
no import of ``fnn.ops``, ``fnn.models`` or ``kernels``. Differentiating them
with ``fnn.tape.grad`` gives the second, independent derivation every
hand-written gradient in fnn is checked against (the third is central
differences, :mod:`fnn.check`).

They are written for clarity, not speed: a convolution is a gather of
windows followed by one contraction, a pooling a gather followed by a max.
Hyperparameters have the ops' names and defaults.

* :mod:`fnn.reference.ops`: dense, activations, dropout, losses, flatten.
* :mod:`fnn.reference.spatial`: conv2d, max/avg pooling, batch and layer norm.
* :mod:`fnn.reference.models`: the loss of every model in ``fnn.models``.
"""
from .models import (
    REFERENCE_ACTIVATIONS,
    cnn_loss,
    linear_regression_loss,
    logistic_regression_loss,
    mlp_loss,
    perceptron_loss,
)
from .ops import (
    bce_with_logits,
    dense,
    dropout,
    flatten,
    gelu,
    leaky_relu,
    mae,
    mse,
    relu,
    sigmoid,
    softmax,
    softmax_cross_entropy,
    step,
    tanh,
)
from .spatial import avgpool2d, batchnorm, batchnorm_running_stats, conv2d, layernorm, maxpool2d

__all__ = [
    "dense", "step", "sigmoid", "tanh", "relu", "leaky_relu", "gelu", "softmax", "dropout",
    "mse", "mae", "bce_with_logits", "softmax_cross_entropy", "flatten",
    "conv2d", "maxpool2d", "avgpool2d", "batchnorm", "batchnorm_running_stats", "layernorm",
    "perceptron_loss", "linear_regression_loss", "logistic_regression_loss", "mlp_loss", "cnn_loss",
    "REFERENCE_ACTIVATIONS",
]
