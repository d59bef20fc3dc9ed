"""Numba kernels for fnn's hot loops.

Arrays in, arrays out: every kernel takes contiguous arrays and scalars and
writes into output arrays its caller allocated. This package imports only
numpy and numba; shape and dtype checks live in the ``fnn.ops`` wrappers.
"""
