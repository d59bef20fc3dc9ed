"""Elementwise loops that NumPy would run as several passes over memory.

A pure optimizer writes every parameter afresh each step; for an MLP's
(784, 128) weight that is a pass over cold memory, and NumPy's
``np.multiply(g, a)`` followed by ``+= p`` makes two.
"""
from ._jit import jit

__all__ = ["scaled_add_into"]


@jit
def scaled_add_into(alpha, x, y, out):
    """out[i] = y[i] + alpha * x[i] for 1-D contiguous x, y, out of one dtype; alpha a scalar of that dtype.

    Written as a multiply then an add (no fused multiply-add), so each value
    equals NumPy's ``y + alpha * x`` bit for bit.
    """
    for i in range(out.shape[0]):
        out[i] = y[i] + alpha * x[i]
