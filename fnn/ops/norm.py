"""Batch normalisation and layer normalisation, with hand-derived backward passes.

Both ops standardise a group of M values with its own mean and variance,
then scale and shift per feature:

    mu = mean(x),  var = mean((x - mu)^2)  (biased),  rstd = 1 / sqrt(var + eps)
    xhat = (x - mu) * rstd,                 y = gamma * xhat + beta

Batch norm's groups are channels (statistics over the batch and spatial
axes); layer norm's groups are rows (statistics over the last axis).

Backward, for one group. Write g = dL/dxhat = dy * gamma. Each x_i reaches
the loss along three paths: directly through its own xhat_i, through mu
(every x_i shifts mu by 1/M) and through var (dvar/dx_i = 2 (x_i - mu) / M).
Summing the three and simplifying with xhat:

    dx_i = rstd * (g_i  -  mean(g)  -  xhat_i * mean(g * xhat))
                   direct  via mu      via var

(the mu and var paths vanish when the statistics are constants, as in batch
norm's inference mode: dx = rstd * g), and dgamma = sum(dy * xhat),
dbeta = sum(dy) over everything but the feature axis. The caches hold rstd,
gamma and xhat (batch norm keeps x - mu and folds rstd into per-channel
factors), which is all these need.
"""
import numpy as np

from .._validate import require_dout, require_dtype, require_float, require_min_ndim, require_probability, require_shape

__all__ = ["batchnorm_forward", "batchnorm_backward", "layernorm_forward", "layernorm_backward"]


def _require_eps(eps):
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating, np.integer)) or not eps > 0:
        raise ValueError(f"eps is {eps!r}; expected a positive number")


def _require_feature_vector(name, a, size, x, letters):
    require_float(name, a)
    require_shape(name, a, (size,), letters)
    require_dtype(name, a, x.dtype, "x")


# --- batch normalisation ----------------------------------------------------


def _channel_shape(x):
    """Shape that broadcasts a (C,) vector against x: (C,) for (N, C), (C, 1, 1) for (N, C, H, W)."""
    return (x.shape[1],) if x.ndim == 2 else (x.shape[1], 1, 1)


def _values_per_channel(x):
    """M: how many values each channel's statistics are taken over (N, or N*H*W)."""
    return x.shape[0] * int(np.prod(x.shape[2:], dtype=np.int64))


def _planes(a):
    """(N, C, H, W) -> (N, C, H*W)."""
    N, C, H, W = a.shape
    return a.reshape(N, C, H * W)


# Images reduce each contiguous H*W plane first (fast, and short float32
# sums), then the N partial sums.
def _channel_sum(a):
    """a (N, C) or (N, C, H, W) -> (C,), summed over every axis but the channel axis."""
    if a.ndim == 2:
        return a.sum(axis=0)
    return np.einsum("nck->nc", _planes(a)).sum(axis=0)


def _channel_dot(a, b):
    """sum(a * b) per channel, (C,), without materialising a * b."""
    if a.ndim == 2:
        return np.einsum("nc,nc->c", a, b)
    return np.einsum("nck,nck->nc", _planes(a), _planes(b)).sum(axis=0)


def batchnorm_forward(x, gamma, beta, *, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    """x (N, D) or (N, C, H, W), gamma/beta/running stats (D,) or (C,) -> (out, cache, (new_mean, new_var)).

    Statistics are per feature D (over N) or per channel C (over N, H, W).
    Training uses the batch's mean and biased variance to normalise and
    returns fresh running statistics, updated as PyTorch does:
    new = (1 - momentum) * old + momentum * batch, where the batch variance
    fed to running_var is the unbiased one (times M / (M - 1), M the number
    of values per channel). Inference normalises with the running statistics
    and returns copies of them unchanged. The inputs are never mutated: the
    running statistics are state the caller passes in and takes back.

    The cache holds xc = x - mu rather than xhat = xc * rstd: the backward
    only needs xhat inside per-channel sums and one affine term, where the
    rstd factor folds into (C,) coefficients, and the forward saves a pass.
    """
    require_float("x", x)
    if x.ndim not in (2, 4):
        raise ValueError(f"x has shape {x.shape}; expected 2 axes (N, D) or 4 axes (N, C, H, W)")
    C = x.shape[1]
    letters = "(D,)" if x.ndim == 2 else "(C,)"
    for name, a in (("gamma", gamma), ("beta", beta), ("running_mean", running_mean), ("running_var", running_var)):
        _require_feature_vector(name, a, C, x, letters)
    if not isinstance(training, (bool, np.bool_)):
        raise ValueError(f"training is {training!r}; expected True or False")
    require_probability("momentum", momentum, allow_one=True)
    _require_eps(eps)
    M = _values_per_channel(x)
    dtype = x.dtype.type
    shape = _channel_shape(x)

    if training:
        if M < 2:
            raise ValueError(
                f"x has shape {x.shape}; training-mode batch norm needs at least 2 values per "
                f"channel to estimate a variance, got {M}"
            )
        mean = _channel_sum(x) / dtype(M)
        xc = x - mean.reshape(shape)
        var = _channel_dot(xc, xc) / dtype(M)  # two-pass variance: no cancellation
        rstd = dtype(1) / np.sqrt(var + dtype(eps))
        keep, take = dtype(1 - momentum), dtype(momentum)
        new_mean = keep * running_mean + take * mean
        new_var = keep * running_var + take * (var * dtype(M / (M - 1)))
    else:
        xc = x - running_mean.reshape(shape)
        rstd = dtype(1) / np.sqrt(running_var + dtype(eps))
        new_mean, new_var = running_mean.copy(), running_var.copy()

    out = xc * (gamma * rstd).reshape(shape)  # = gamma * xhat
    out += beta.reshape(shape)
    return out, (xc, rstd, gamma, bool(training)), (new_mean, new_var)


def batchnorm_backward(dout, cache):
    """dout like x -> (dx like x, dgamma (C,), dbeta (C,)).

    dbeta = sum(dout), dgamma = sum(dout * xhat) = rstd * sum(dout * xc).
    Training mode: with g = dout * gamma, mean(g) = gamma * dbeta / M and
    mean(g * xhat) = gamma * dgamma / M, so the module formula becomes
    dx = gamma * rstd * (dout - dbeta / M - xhat * dgamma / M).
    Inference mode: mu and rstd are constants, so dx = dout * gamma * rstd.
    """
    xc, rstd, gamma, training = cache
    require_dout(dout, xc.shape, xc.dtype, "x's shape")
    shape = _channel_shape(xc)
    dbeta = _channel_sum(dout)
    dgamma = _channel_dot(dout, xc) * rstd
    scale = gamma * rstd
    if not training:
        return dout * scale.reshape(shape), dgamma, dbeta
    inv_m = xc.dtype.type(1 / _values_per_channel(xc))
    # dx = scale * (dout - dbeta/M - xc * rstd * dgamma/M), built in place in dx: no other temporaries.
    dx = xc * (rstd * dgamma * inv_m).reshape(shape)
    dx += (dbeta * inv_m).reshape(shape)
    np.subtract(dout, dx, out=dx)
    dx *= scale.reshape(shape)
    return dx, dgamma, dbeta


# --- layer normalisation ----------------------------------------------------


def layernorm_forward(x, gamma, beta, *, eps=1e-5):
    """x (..., D), gamma (D,), beta (D,) -> out (..., D), each row standardised over its D values.

    Typical shapes are (N, D) and (N, T, D). The cache holds xhat (..., D),
    rstd (..., 1) and gamma.
    """
    require_float("x", x)
    require_min_ndim("x", x, 1, "(..., D)")
    D = x.shape[-1]
    _require_feature_vector("gamma", gamma, D, x, "(D,)")
    _require_feature_vector("beta", beta, D, x, "(D,)")
    _require_eps(eps)
    if D == 0:
        raise ValueError(f"x has shape {x.shape}; expected at least one feature on the last axis")
    dtype = x.dtype.type
    mean = x.sum(axis=-1, keepdims=True) / dtype(D)
    xhat = x - mean
    var = np.einsum("...d,...d->...", xhat, xhat)[..., None] / dtype(D)
    rstd = dtype(1) / np.sqrt(var + dtype(eps))
    xhat *= rstd
    out = xhat * gamma
    out += beta
    return out, (xhat, rstd, gamma)


def layernorm_backward(dout, cache):
    """dout (..., D) -> (dx (..., D), dgamma (D,), dbeta (D,)).

    gamma varies along the normalised axis, so it stays inside the row means:
    g = dout * gamma, dx = rstd * (g - mean(g) - xhat * mean(g * xhat)).
    """
    xhat, rstd, gamma = cache
    require_dout(dout, xhat.shape, xhat.dtype, "(..., D)")
    D = xhat.shape[-1]
    flat_dout = dout.reshape(-1, D)
    flat_xhat = xhat.reshape(-1, D)
    dbeta = flat_dout.sum(axis=0)
    dgamma = np.einsum("nd,nd->d", flat_dout, flat_xhat)
    inv_d = xhat.dtype.type(1 / D)
    g = dout * gamma
    mean_g = g.sum(axis=-1, keepdims=True) * inv_d
    mean_gx = np.einsum("...d,...d->...", g, xhat)[..., None] * inv_d
    dx = xhat * mean_gx
    dx += mean_g
    np.subtract(g, dx, out=dx)
    dx *= rstd
    return dx, dgamma, dbeta
