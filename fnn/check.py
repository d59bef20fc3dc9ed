"""Gradient checking: central differences and a scale-aware relative error.

Everything in fnn that has a hand-derived gradient is checked against
:func:`numerical_grad` in float64. For large tensors, :func:`sample_indices`
and :func:`numerical_grad_at` check a random subset of entries, which costs
two function evaluations per entry instead of two per parameter.
"""
import numpy as np


def rel_error(a, b, *, floor=1e-8):
    """max |a - b| / max(max |a|, max |b|, floor): the worst error relative to the gradient's scale.

    Dividing by the largest magnitude (not entry by entry) keeps tiny entries,
    where both derivations cancel to round-off, from dominating the measure;
    ``floor`` keeps a gradient that is exactly zero from dividing by zero.
    For dicts the scale is the largest magnitude over all keys: a bias whose
    gradient cancels to 0 by symmetry, against a finite-difference 1e-12, is
    agreement at the scale of the whole gradient, not a 100% error. Use
    :func:`rel_errors` for a per-key breakdown on the same scale.
    """
    if isinstance(a, dict):
        errors = rel_errors(a, b, floor=floor)
        return max(errors.values(), default=0.0)
    a, b = _same_shape_float64(a, b)
    if a.size == 0:
        return 0.0
    scale = max(np.max(np.abs(a)), np.max(np.abs(b)), floor)
    return float(np.max(np.abs(a - b)) / scale)


def rel_errors(a, b, *, floor=1e-8):
    """Per-key ``max |a[k] - b[k]|`` divided by the largest magnitude over all keys of a and b."""
    if set(a) != set(b):
        raise ValueError(f"rel_error: key sets differ: {sorted(set(a) ^ set(b))}")
    pairs = {k: _same_shape_float64(a[k], b[k]) for k in a}
    scale = max([floor] + [max(np.max(np.abs(x)), np.max(np.abs(y))) for x, y in pairs.values() if x.size])
    return {k: float(np.max(np.abs(x - y)) / scale) if x.size else 0.0 for k, (x, y) in pairs.items()}


def _same_shape_float64(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes differ: {a.shape} vs {b.shape}")
    return a, b


def _central_difference(f, arr, flat_index, eps):
    view = arr.reshape(-1)
    old = view[flat_index]
    view[flat_index] = old + eps
    f_plus = float(f())
    view[flat_index] = old - eps
    f_minus = float(f())
    view[flat_index] = old
    return (f_plus - f_minus) / (2.0 * eps)


def _leaves(x):
    """(key, array) pairs of an array or a dict of arrays, on private float copies."""
    if isinstance(x, dict):
        return {k: np.array(v, dtype=np.float64) for k, v in x.items()}
    return np.array(x, dtype=np.float64)


def numerical_grad(f, x, *, eps=1e-6):
    """Central-difference gradient of the scalar function ``f`` at ``x``.

    ``x`` is an array or a dict of arrays; the result has the same structure,
    in float64. ``f`` receives a perturbed float64 copy of ``x`` (never ``x``
    itself) and must return a scalar.
    """
    xs = _leaves(x)
    if isinstance(xs, dict):
        grads = {}
        for key, arr in xs.items():
            g = np.empty(arr.size)
            for i in range(arr.size):
                g[i] = _central_difference(lambda: f(xs), arr, i, eps)
            grads[key] = g.reshape(arr.shape)
        return grads
    g = np.empty(xs.size)
    for i in range(xs.size):
        g[i] = _central_difference(lambda: f(xs), xs, i, eps)
    return g.reshape(xs.shape)


def sample_indices(shape, count, rng):
    """Up to ``count`` distinct flat indices into an array of ``shape``, drawn with ``rng``."""
    size = int(np.prod(shape, dtype=np.int64))
    if count >= size:
        return np.arange(size)
    return np.sort(rng.choice(size, size=count, replace=False))


def numerical_grad_at(f, x, indices, *, eps=1e-6, key=None):
    """Central differences of ``f`` at the flat ``indices`` of ``x`` (or of ``x[key]`` for a dict).

    Returns a float64 vector aligned with ``indices``; compare it with
    ``analytic.reshape(-1)[indices]``.
    """
    xs = _leaves(x)
    arr = xs[key] if key is not None else xs
    return np.array([_central_difference(lambda: f(xs), arr, int(i), eps) for i in indices])


def op_gradient_errors(forward, backward, args, *, argnums=None, rng=None, eps=1e-6):
    """Hand-derived backward of an op against central differences, per argument.

    ``forward(*args) -> (out, cache)`` and ``backward(dout, cache)`` returns the
    gradients in argument order (a single array when there is one argument).
    The op is reduced to the scalar ``L = sum(out * dout)`` for a random
    ``dout``, so its exact gradient with respect to each argument is what
    ``backward(dout, cache)`` should return. Arguments must be float64.
    ``argnums`` picks the differentiable arguments (default: all arrays).

    Returns ``{argnum: rel_error}``.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    args = list(args)
    for i, a in enumerate(args):
        if isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.dtype != np.float64:
            raise ValueError(f"argument {i} has dtype {a.dtype}; gradient checks need float64")
    if argnums is None:
        argnums = [i for i, a in enumerate(args) if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    out, cache = forward(*args)
    dout = rng.standard_normal(np.shape(out))
    if np.ndim(out) == 0:
        dout = float(dout)
    grads = backward(dout, cache)
    if not isinstance(grads, tuple):
        grads = (grads,)
    errors = {}
    for i in argnums:
        def scalar(xi, i=i):
            trial = list(args)
            trial[i] = xi
            return np.sum(forward(*trial)[0] * dout)
        errors[i] = rel_error(grads[i], numerical_grad(scalar, args[i], eps=eps))
    return errors
