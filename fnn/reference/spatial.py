"""Reference forwards of convolution, pooling and normalisation on NCHW images.

Convolution and pooling share one idea: pad the image, then gather every
window into its own axes with one fancy index,

    windows[n, c, i, k, j, l] = xpad[n, c, i*sh + k*dh, j*sw + l*dw]      (N, C, OH, KH, OW, KW)

after which a convolution is a single contraction with the weights and a
pooling a max or mean over the two window axes (k, l). No loop runs over
output pixels. The tape differentiates the gather as a scatter-add, which is
exactly how a pixel shared by overlapping windows collects its gradient.
"""
import numpy as np

__all__ = ["conv2d", "maxpool2d", "avgpool2d", "batchnorm", "batchnorm_running_stats", "layernorm"]


def _pair(value):
    """An int or an (h, w) pair -> (h, w)."""
    return (value, value) if np.ndim(value) == 0 else (value[0], value[1])


def _pad_hw(x, ph, pw, value=0.0):
    """x (N, C, H, W) -> (N, C, H + 2 ph, W + 2 pw), the border filled with ``value``."""
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def _windows(xpad, out_hw, kernel_hw, stride_hw, dilation_hw):
    """xpad (N, C, Hp, Wp) -> windows (N, C, OH, KH, OW, KW), one gather.

    rows[i, k] = i*sh + k*dh is the padded row that output row i reads at
    kernel row k (likewise cols); broadcasting rows (OH, KH, 1, 1) against
    cols (1, 1, OW, KW) indexes every (i, k, j, l) at once.
    """
    (OH, OW), (KH, KW), (sh, sw), (dh, dw) = out_hw, kernel_hw, stride_hw, dilation_hw
    rows = np.arange(OH)[:, None] * sh + np.arange(KH)[None, :] * dh          # (OH, KH)
    cols = np.arange(OW)[:, None] * sw + np.arange(KW)[None, :] * dw          # (OW, KW)
    return xpad[:, :, rows[:, :, None, None], cols[None, None, :, :]]


def conv2d(x, w, b, *, stride=1, padding=0, dilation=1):
    """x (N, C, H, W), w (F, C, KH, KW), b (F,) -> (N, F, OH, OW), a cross-correlation.

    out[n, f, i, j] = b[f] + sum_{c, k, l} w[f, c, k, l] * xpad[n, c, i*sh + k*dh, j*sw + l*dw]
    with OH = (H + 2 ph - dh (KH - 1) - 1) // sh + 1 (likewise OW).
    """
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH = (H + 2 * ph - dh * (KH - 1) - 1) // sh + 1
    OW = (W + 2 * pw - dw * (KW - 1) - 1) // sw + 1
    windows = _windows(_pad_hw(x, ph, pw), (OH, OW), (KH, KW), (sh, sw), (dh, dw))
    return np.einsum("ncikjl,fckl->nfij", windows, w) + b.reshape(F, 1, 1)


def _pool_windows(x, kernel_size, stride, padding, pad_value):
    (kh, kw), (ph, pw) = _pair(kernel_size), _pair(padding)
    sh, sw = (kh, kw) if stride is None else _pair(stride)
    N, C, H, W = x.shape
    OH = (H + 2 * ph - kh) // sh + 1
    OW = (W + 2 * pw - kw) // sw + 1
    return _windows(_pad_hw(x, ph, pw, pad_value), (OH, OW), (kh, kw), (sh, sw), (1, 1))


def maxpool2d(x, *, kernel_size=2, stride=None, padding=0):
    """x (N, C, H, W) -> (N, C, OH, OW), the max of each window; padding is -inf (never wins).

    OH = (H + 2 ph - kh) // sh + 1; ``stride`` defaults to the kernel size.
    """
    return _pool_windows(x, kernel_size, stride, padding, -np.inf).max(axis=(3, 5))


def avgpool2d(x, *, kernel_size=2, stride=None, padding=0):
    """x (N, C, H, W) -> (N, C, OH, OW), the mean of each window; padding is zeros that count."""
    return _pool_windows(x, kernel_size, stride, padding, 0.0).mean(axis=(3, 5))


def _feature_axes(x):
    """Axes batch norm averages over, and the shape a (C,) vector takes to broadcast against x."""
    if x.ndim == 2:
        return (0,), (x.shape[1],)                    # (N, D): per feature
    return (0, 2, 3), (x.shape[1], 1, 1)              # (N, C, H, W): per channel


def batchnorm(x, gamma, beta, *, running_mean, running_var, training=True, eps=1e-5):
    """x (N, D) or (N, C, H, W), gamma/beta/running stats (D,) or (C,) -> out like x.

    Training: standardise with the batch mean and biased variance of each
    feature (over N, H, W). Inference: with the running statistics, which are
    constants. Then out = gamma * xhat + beta.
    """
    axes, shape = _feature_axes(x)
    if training:
        mean = x.mean(axis=axes, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    else:
        mean, var = running_mean.reshape(shape), running_var.reshape(shape)
    xhat = (x - mean) / np.sqrt(var + eps)
    return gamma.reshape(shape) * xhat + beta.reshape(shape)


def batchnorm_running_stats(x, running_mean, running_var, *, momentum=0.1):
    """The running statistics after one training step: (new_mean (C,), new_var (C,)).

    new = (1 - momentum) old + momentum batch, with the unbiased batch
    variance (M / (M - 1) times the biased one, M values per feature).
    """
    axes, _ = _feature_axes(x)
    mean = x.mean(axis=axes)
    var = x.var(axis=axes, ddof=1)
    return (1 - momentum) * running_mean + momentum * mean, (1 - momentum) * running_var + momentum * var


def layernorm(x, gamma, beta, *, eps=1e-5):
    """x (..., D), gamma (D,), beta (D,) -> (..., D), each row standardised over its D values."""
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return gamma * ((x - mean) / np.sqrt(var + eps)) + beta
