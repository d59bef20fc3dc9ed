"""Every op as a forward/backward pair.

``<op>_forward(inputs..., *, hyperparameters) -> (out, cache)`` and
``<op>_backward(dout, cache) -> gradients`` in the order of the forward's array
arguments (a single array when there is one). Losses return a scalar loss:
``<loss>_forward(pred, target, ...) -> (loss, cache)`` and
``<loss>_backward(dloss, cache) -> dpred``.

Shape letters: N batch, T time, C channels, H/W spatial, D in, M out, V vocab.
"""
from .activations import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .dense import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .norm import *  # noqa: F401,F403
from .pool import *  # noqa: F401,F403
from .shape import *  # noqa: F401,F403
