"""Pure optimizers in the style of JAX's ``optimizers``: ``init(params) -> state``, ``update(...) -> (params, state)``.

``params`` and ``grads`` are flat dicts of float arrays with identical keys,
shapes and dtypes. ``state`` is a plain dict of ints and dicts of arrays, e.g.
``{"step": 3, "m": {...}, "v": {...}}``, so it can be written to ``.npz``
(a ``step`` read back as a 0-d integer array is accepted). Nothing is mutated:
every update returns fresh dicts of fresh arrays, with state buffers in each
parameter's dtype.

``lr`` is a float or a schedule ``step -> lr`` (see :mod:`fnn.schedules`,
re-exported here), called with the number of updates already taken (0 at the
first update).

Each update costs a few passes per parameter (NumPy with ``out=`` into arrays
it returns, or one fused ``p + a * g`` loop for SGD and momentum), plus at
most one scratch array; hyperparameters are converted to
Python floats so NEP 50 keeps float32 arithmetic in float32.
"""
import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping

import numpy as np

from kernels.elementwise import scaled_add_into

from ._validate import FLOAT_DTYPES, describe, require_dtype, require_float, require_shape
from .schedules import (  # noqa: F401  (re-exported)
    CosineDecay, ExponentialDecay, StepDecay, clip_by_global_norm, cosine_decay, exponential_decay,
    global_norm, scale_factor, step_decay,
)
from .schedules import _require_real

__all__ = [
    "sgd_init", "sgd_update", "momentum_init", "momentum_update", "nesterov_init", "nesterov_update",
    "adagrad_init", "adagrad_update", "rmsprop_init", "rmsprop_update",
    "adam_init", "adam_update", "adamw_init", "adamw_update",
    "Optimizer", "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw",
    "step_decay", "exponential_decay", "cosine_decay", "clip_by_global_norm", "global_norm",
]


# ---------------------------------------------------------------- argument checks

def _require_params(params):
    if not isinstance(params, dict):
        raise ValueError(f"params has {describe(params)}; expected a dict of float arrays")
    for key, p in params.items():
        if not (isinstance(p, np.ndarray) and p.dtype in FLOAT_DTYPES):
            require_float(f"params[{key!r}]", p)


def _require_same_tree(name, tree, params):
    """``tree`` (grads or a state buffer dict) matches ``params`` key for key, in shape and dtype."""
    if not isinstance(tree, dict):
        raise ValueError(f"{name} has {describe(tree)}; expected a dict with the keys of params")
    if tree.keys() != params.keys():
        missing = sorted(params.keys() - tree.keys(), key=str)
        extra = sorted(tree.keys() - params.keys(), key=str)
        raise ValueError(f"{name} keys do not match params: missing {missing}, unexpected {extra}")
    for key, p in params.items():
        a = tree[key]
        # The common case costs three attribute reads; messages are built only on failure.
        if not (isinstance(a, np.ndarray) and a.shape == p.shape and a.dtype == p.dtype):
            leaf = f"{name}[{key!r}]"
            require_float(leaf, a)
            require_shape(leaf, a, p.shape, f"params[{key!r}].shape")
            require_dtype(leaf, a, p.dtype, f"params[{key!r}]")


def _check_update(params, grads, state, buffers):
    """Validate one update's arguments; return the number of updates taken so far."""
    _require_params(params)
    _require_same_tree("grads", grads, params)
    if not isinstance(state, dict):
        raise ValueError(f"state has {describe(state)}; expected the dict returned by init")
    expected = {"step", *buffers}
    if state.keys() != expected:
        raise ValueError(f"state has keys {sorted(state)}; expected {sorted(expected)} (from the matching init)")
    step = state["step"]
    if isinstance(step, np.ndarray) and step.shape == () and step.dtype.kind in "iu":
        step = step.item()  # a step read back from .npz
    if not isinstance(step, (int, np.integer)) or isinstance(step, bool) or step < 0:
        raise ValueError(f"state['step'] is {state['step']!r}; expected an integer >= 0")
    for buf in buffers:
        _require_same_tree(f"state[{buf!r}]", state[buf], params)
    return int(step)


def _nonneg(name, value):
    return _require_real(name, value, low=0.0, high_open=True)


def _decay_rate(name, value):
    return _require_real(name, value, low=0.0, high=1.0, high_open=True)


def _positive(name, value):
    return _require_real(name, value, low=0.0, low_open=True, high_open=True)


def _require_lr(lr):
    if not callable(lr):
        _nonneg("lr", lr)


def _lr_at(lr, step):
    """The learning rate for the update after ``step`` updates, as a Python float."""
    if not callable(lr):
        return _nonneg("lr", lr)
    value = lr(step)
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if not 0.0 <= v < math.inf:
        raise ValueError(f"lr({step}) is {value!r}; expected the schedule to return a finite float >= 0")
    return v


def _zeros_like(params):
    return {key: np.zeros_like(p) for key, p in params.items()}


# Below this many elements a kernel call costs more than NumPy's second pass.
_FUSED_MIN_SIZE = 4096


def _plus_scaled(y, alpha, x):
    """A fresh C-ordered array y + alpha * x; one pass (kernels.elementwise) for large arrays."""
    if y.size < _FUSED_MIN_SIZE:
        out = np.multiply(x, alpha, order="C")
        out += y
        return out
    out = np.empty(y.shape, dtype=y.dtype)
    scaled_add_into(y.dtype.type(alpha), np.ascontiguousarray(x).reshape(-1), np.ascontiguousarray(y).reshape(-1),
                    out.reshape(-1))
    return out


def _l2(p, g, weight_decay):
    """g + weight_decay * p as a fresh array, or g itself (read only) when there is no decay."""
    if weight_decay == 0.0:
        return g
    g_total = np.multiply(p, weight_decay)
    g_total += g
    return g_total


# ---------------------------------------------------------------- SGD

def sgd_init(params):
    """params {key: (...)} -> state {"step": 0}."""
    _require_params(params)
    return {"step": 0}


def sgd_update(params, grads, state, *, lr, weight_decay=0.0):
    """Plain gradient descent with optional L2 weight decay.

        g <- g + weight_decay * p
        p <- p - lr * g
    """
    step = _check_update(params, grads, state, ())
    wd = _nonneg("weight_decay", weight_decay)
    lr_t = _lr_at(lr, step)
    new_params = {}
    for key, p in params.items():
        g = _l2(p, grads[key], wd)
        new_params[key] = _plus_scaled(p, -lr_t, g)
    return new_params, {"step": step + 1}


# ---------------------------------------------------------------- momentum and Nesterov

def momentum_init(params):
    """params {key: (...)} -> state {"step": 0, "v": zero velocity per key}."""
    _require_params(params)
    return {"step": 0, "v": _zeros_like(params)}


def momentum_update(params, grads, state, *, lr, mu=0.9, weight_decay=0.0):
    """Heavy-ball momentum, PyTorch convention (velocity accumulates raw gradients).

        g <- g + weight_decay * p
        v <- mu * v + g
        p <- p - lr * v
    """
    step = _check_update(params, grads, state, ("v",))
    mu = _decay_rate("mu", mu)
    wd = _nonneg("weight_decay", weight_decay)
    lr_t = _lr_at(lr, step)
    new_params, new_v = {}, {}
    for key, p in params.items():
        g = _l2(p, grads[key], wd)
        v = _plus_scaled(g, mu, state["v"][key])
        new_params[key], new_v[key] = _plus_scaled(p, -lr_t, v), v
    return new_params, {"step": step + 1, "v": new_v}


def nesterov_init(params):
    """params {key: (...)} -> state {"step": 0, "v": zero velocity per key}."""
    _require_params(params)
    return {"step": 0, "v": _zeros_like(params)}


def nesterov_update(params, grads, state, *, lr, mu=0.9, weight_decay=0.0):
    """Nesterov momentum, PyTorch convention (look-ahead folded into the step).

        g <- g + weight_decay * p
        v <- mu * v + g
        p <- p - lr * (g + mu * v)
    """
    step = _check_update(params, grads, state, ("v",))
    mu = _decay_rate("mu", mu)
    wd = _nonneg("weight_decay", weight_decay)
    lr_t = _lr_at(lr, step)
    new_params, new_v = {}, {}
    for key, p in params.items():
        g = _l2(p, grads[key], wd)
        v = _plus_scaled(g, mu, state["v"][key])
        p_new = np.multiply(v, mu)
        p_new += g
        p_new *= -lr_t
        p_new += p
        new_params[key], new_v[key] = p_new, v
    return new_params, {"step": step + 1, "v": new_v}


# ---------------------------------------------------------------- AdaGrad and RMSprop

def _scaled_step(p, g, s, lr_t, eps):
    """p - lr * g / (sqrt(s) + eps), as one fresh array."""
    p_new = np.sqrt(s)
    p_new += eps
    np.divide(g, p_new, out=p_new)
    p_new *= -lr_t
    p_new += p
    return p_new


def adagrad_init(params):
    """params {key: (...)} -> state {"step": 0, "s": zero sum of squared gradients per key}."""
    _require_params(params)
    return {"step": 0, "s": _zeros_like(params)}


def adagrad_update(params, grads, state, *, lr, eps=1e-10):
    """AdaGrad: per-coordinate steps shrink with the accumulated squared gradient.

        s <- s + g^2
        p <- p - lr * g / (sqrt(s) + eps)
    """
    step = _check_update(params, grads, state, ("s",))
    eps = _positive("eps", eps)
    lr_t = _lr_at(lr, step)
    new_params, new_s = {}, {}
    for key, p in params.items():
        g = grads[key]
        s = np.multiply(g, g)
        s += state["s"][key]
        new_params[key], new_s[key] = _scaled_step(p, g, s, lr_t, eps), s
    return new_params, {"step": step + 1, "s": new_s}


def rmsprop_init(params):
    """params {key: (...)} -> state {"step": 0, "s": zero mean squared gradient per key}."""
    _require_params(params)
    return {"step": 0, "s": _zeros_like(params)}


def rmsprop_update(params, grads, state, *, lr, rho=0.9, eps=1e-8):
    """RMSprop (Hinton): divide by a running root-mean-square of the gradient.

        s <- rho * s + (1 - rho) * g^2
        p <- p - lr * g / (sqrt(s) + eps)
    """
    step = _check_update(params, grads, state, ("s",))
    rho = _decay_rate("rho", rho)
    eps = _positive("eps", eps)
    lr_t = _lr_at(lr, step)
    new_params, new_s = {}, {}
    for key, p in params.items():
        g = grads[key]
        s = np.multiply(state["s"][key], rho)
        g2 = np.multiply(g, 1.0 - rho)
        g2 *= g
        s += g2
        new_params[key], new_s[key] = _scaled_step(p, g, s, lr_t, eps), s
    return new_params, {"step": step + 1, "s": new_s}


# ---------------------------------------------------------------- Adam and AdamW

def _adam(params, grads, state, lr, beta1, beta2, eps, weight_decay):
    step = _check_update(params, grads, state, ("m", "v"))
    beta1 = _decay_rate("beta1", beta1)
    beta2 = _decay_rate("beta2", beta2)
    eps = _positive("eps", eps)
    wd = _nonneg("weight_decay", weight_decay)
    lr_t = _lr_at(lr, step)
    t = step + 1
    # m_hat / (sqrt(v_hat) + eps) = sqrt(bc2) / bc1 * m / (sqrt(v) + eps * sqrt(bc2)): folding
    # the bias corrections into two scalars saves a pass over every parameter.
    sqrt_bc2 = math.sqrt(1.0 - beta2 ** t)
    step_size = lr_t * sqrt_bc2 / (1.0 - beta1 ** t)
    eps_scaled = eps * sqrt_bc2
    shrink = 1.0 - lr_t * wd
    new_params, new_m, new_v = {}, {}, {}
    for key, p in params.items():
        g = grads[key]
        m = np.multiply(state["m"][key], beta1)
        scratch = np.multiply(g, 1.0 - beta1)
        m += scratch
        v = np.multiply(state["v"][key], beta2)
        np.multiply(g, 1.0 - beta2, out=scratch)
        scratch *= g
        v += scratch
        np.sqrt(v, out=scratch)  # scratch becomes the step
        scratch += eps_scaled
        np.divide(m, scratch, out=scratch)
        scratch *= -step_size
        if wd == 0.0:
            scratch += p
            p_new = scratch
        else:
            p_new = np.multiply(p, shrink)
            p_new += scratch
        new_params[key], new_m[key], new_v[key] = p_new, m, v
    return new_params, {"step": t, "m": new_m, "v": new_v}


def adam_init(params):
    """params {key: (...)} -> state {"step": 0, "m": zero first moments, "v": zero second moments}."""
    _require_params(params)
    return {"step": 0, "m": _zeros_like(params), "v": _zeros_like(params)}


def adam_update(params, grads, state, *, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """Adam (Kingma & Ba) with bias correction; t counts updates from 1.

        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g^2
        p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    (eps is added to the bias-corrected sqrt(v_hat), as in PyTorch.)
    """
    return _adam(params, grads, state, lr, beta1, beta2, eps, 0.0)


def adamw_init(params):
    """params {key: (...)} -> state {"step": 0, "m": zero first moments, "v": zero second moments}."""
    return adam_init(params)


def adamw_update(params, grads, state, *, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
    """AdamW (Loshchilov & Hutter): Adam plus weight decay applied to p, not folded into g.

        m, v as in Adam (from the raw gradient g)
        p <- p - lr * weight_decay * p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    As in PyTorch the decay is scaled by the (scheduled) lr.
    """
    return _adam(params, grads, state, lr, beta1, beta2, eps, weight_decay)


# ---------------------------------------------------------------- convenience layer for training loops

@dataclass(frozen=True)
class Optimizer:
    """An optimizer with its hyperparameters bound: ``state = opt.init(params)``,
    ``params, state = opt.update(params, grads, state)``.

    ``hyperparams`` is a read-only record of the bound settings (for logs and checkpoints).
    """

    name: str
    init: Callable[[dict], dict] = field(repr=False)
    update: Callable[[dict, dict, dict], tuple] = field(repr=False)
    hyperparams: Mapping[str, Any] = field(default_factory=dict, hash=False)


def _bind(name, init_fn, update_fn, hyper, clip_norm):
    _require_lr(hyper["lr"])
    if clip_norm is not None:
        _positive("clip_norm", clip_norm)
    # Fail at construction, not at the first step: a dry run of the scalar
    # checks on empty params (lr replaced so a schedule is never called early).
    update_fn({}, {}, init_fn({}), **{**hyper, "lr": 0.0})

    if clip_norm is None:
        def update(params, grads, state):
            return update_fn(params, grads, state, **hyper)
    else:
        def update(params, grads, state):
            # update_fn only reads grads, so unclipped ones need no copy.
            scale, _ = scale_factor(grads, clip_norm)
            if scale != 1.0:
                grads = {key: np.multiply(g, scale) for key, g in grads.items()}
            return update_fn(params, grads, state, **hyper)

    record = MappingProxyType({**hyper, "clip_norm": clip_norm})
    return Optimizer(name=name, init=init_fn, update=update, hyperparams=record)


def sgd(lr, *, weight_decay=0.0, clip_norm=None):
    """Bound :func:`sgd_update`; ``clip_norm`` applies :func:`clip_by_global_norm` first."""
    return _bind("sgd", sgd_init, sgd_update, dict(lr=lr, weight_decay=weight_decay), clip_norm)


def momentum(lr, *, mu=0.9, weight_decay=0.0, clip_norm=None):
    """Bound :func:`momentum_update`."""
    return _bind("momentum", momentum_init, momentum_update, dict(lr=lr, mu=mu, weight_decay=weight_decay), clip_norm)


def nesterov(lr, *, mu=0.9, weight_decay=0.0, clip_norm=None):
    """Bound :func:`nesterov_update`."""
    return _bind("nesterov", nesterov_init, nesterov_update, dict(lr=lr, mu=mu, weight_decay=weight_decay), clip_norm)


def adagrad(lr, *, eps=1e-10, clip_norm=None):
    """Bound :func:`adagrad_update`."""
    return _bind("adagrad", adagrad_init, adagrad_update, dict(lr=lr, eps=eps), clip_norm)


def rmsprop(lr, *, rho=0.9, eps=1e-8, clip_norm=None):
    """Bound :func:`rmsprop_update`."""
    return _bind("rmsprop", rmsprop_init, rmsprop_update, dict(lr=lr, rho=rho, eps=eps), clip_norm)


def adam(lr=1e-3, *, beta1=0.9, beta2=0.999, eps=1e-8, clip_norm=None):
    """Bound :func:`adam_update`."""
    return _bind("adam", adam_init, adam_update, dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps), clip_norm)


def adamw(lr=1e-3, *, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, clip_norm=None):
    """Bound :func:`adamw_update`."""
    hyper = dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay)
    return _bind("adamw", adamw_init, adamw_update, hyper, clip_norm)
