"""Learning-rate schedules and gradient clipping (re-exported by :mod:`fnn.optim`).

A schedule is a callable ``schedule(step) -> lr`` with ``step`` counted from 0
at the first update; pass one wherever an optimizer takes ``lr``. Schedules
are frozen dataclasses, so they print their settings and pickle cleanly.
"""
import math
from dataclasses import dataclass

import numpy as np

from ._validate import describe, require_float

__all__ = [
    "StepDecay", "ExponentialDecay", "CosineDecay",
    "step_decay", "exponential_decay", "cosine_decay",
    "clip_by_global_norm", "global_norm",
]


def _require_real(name, value, *, low, low_open=False, high=math.inf, high_open=False):
    """``value`` must be a real number in the interval [low, high] (ends open when asked)."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if ok:
        v = float(value)
        ok = (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not ok:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ValueError(f"{name} is {value!r}; expected a real number in {lo}{low}, {high}{hi}")
    return float(value)


def _require_count(name, value, *, low):
    """``value`` must be an integer >= ``low`` (bools are rejected: True is not a step count)."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} is {value!r}; expected an integer >= {low}")
    return int(value)


@dataclass(frozen=True)
class StepDecay:
    """lr_t = lr * gamma ** floor(t / step_size): multiply by ``gamma`` every ``step_size`` steps."""

    lr: float
    step_size: int
    gamma: float = 0.1

    def __post_init__(self):
        _require_real("lr", self.lr, low=0.0, high_open=True)
        _require_count("step_size", self.step_size, low=1)
        _require_real("gamma", self.gamma, low=0.0, low_open=True, high=1.0)

    def __call__(self, step):
        step = _require_count("step", step, low=0)
        return float(self.lr) * float(self.gamma) ** (step // int(self.step_size))


@dataclass(frozen=True)
class ExponentialDecay:
    """lr_t = lr * gamma ** t."""

    lr: float
    gamma: float

    def __post_init__(self):
        _require_real("lr", self.lr, low=0.0, high_open=True)
        _require_real("gamma", self.gamma, low=0.0, low_open=True, high=1.0)

    def __call__(self, step):
        step = _require_count("step", step, low=0)
        return float(self.lr) * float(self.gamma) ** step


@dataclass(frozen=True)
class CosineDecay:
    """Linear warm-up, then half a cosine from ``lr`` down to ``min_lr``, then constant.

    With W = warmup_steps and S = total_steps::

        t < W:       lr_t = lr * (t + 1) / W
        W <= t <= S: lr_t = min_lr + (lr - min_lr) * (1 + cos(pi * (t - W) / (S - W))) / 2
        t > S:       lr_t = min_lr

    Warm-up counts from ``t + 1`` so the first update already moves (lr / W)
    and the last warm-up step reaches ``lr`` exactly.
    """

    lr: float
    total_steps: int
    warmup_steps: int = 0
    min_lr: float = 0.0

    def __post_init__(self):
        lr = _require_real("lr", self.lr, low=0.0, high_open=True)
        _require_count("warmup_steps", self.warmup_steps, low=0)
        _require_count("total_steps", self.total_steps, low=int(self.warmup_steps) + 1)
        _require_real("min_lr", self.min_lr, low=0.0, high=lr)

    def __call__(self, step):
        step = _require_count("step", step, low=0)
        lr, min_lr = float(self.lr), float(self.min_lr)
        warmup, total = int(self.warmup_steps), int(self.total_steps)
        if step < warmup:
            return lr * (step + 1) / warmup
        if step >= total:
            return min_lr
        progress = (step - warmup) / (total - warmup)
        return min_lr + (lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def step_decay(lr, *, step_size, gamma=0.1):
    """Schedule step -> lr * gamma ** (step // step_size)."""
    return StepDecay(lr, step_size, gamma)


def exponential_decay(lr, *, gamma):
    """Schedule step -> lr * gamma ** step, with 0 < gamma <= 1."""
    return ExponentialDecay(lr, gamma)


def cosine_decay(lr, *, total_steps, warmup_steps=0, min_lr=0.0):
    """Schedule: linear warm-up over ``warmup_steps``, cosine to ``min_lr`` at ``total_steps``, then flat."""
    return CosineDecay(lr, total_steps, warmup_steps, min_lr)


def _require_grad_dict(grads):
    if not isinstance(grads, dict):
        raise ValueError(f"grads has {describe(grads)}; expected a dict of float arrays")
    for key, g in grads.items():
        require_float(f"grads[{key!r}]", g)


def _sum_of_squares(grads):
    # Accumulated as Python floats across keys; each dot runs in the array's
    # own dtype, so float32 gradients never make a float64 copy.
    total = 0.0
    for g in grads.values():
        flat = g.reshape(-1)
        total += float(np.dot(flat, flat))
    return total


def global_norm(grads):
    """sqrt(sum over keys of sum(g ** 2)): the 2-norm of all gradients as one vector."""
    _require_grad_dict(grads)
    return math.sqrt(_sum_of_squares(grads))


def scale_factor(grads, max_norm):
    """(scale, global_norm) with scale = max_norm / norm when norm > max_norm, else 1.0.

    A non-finite norm gives scale 1.0: clipping cannot repair inf/nan
    gradients, so they pass through and the returned norm tells the caller.
    """
    _require_grad_dict(grads)
    max_norm = _require_real("max_norm", max_norm, low=0.0, low_open=True, high_open=True)
    norm = math.sqrt(_sum_of_squares(grads))
    if norm > max_norm and math.isfinite(norm):
        return max_norm / norm, norm
    return 1.0, norm


def clip_by_global_norm(grads, max_norm):
    """grads {key: (...)} -> (clipped {key: (...)}, global_norm).

    If the global norm ||g|| = sqrt(sum_k sum(g_k ** 2)) exceeds ``max_norm``
    every gradient is scaled by max_norm / ||g||, so the direction is kept and
    the new norm is ``max_norm``; otherwise values are unchanged. The result is
    a fresh dict of fresh arrays in each gradient's dtype; ``global_norm`` is
    the norm before clipping, as a Python float (all-zero gradients give 0.0,
    never NaN). Non-finite gradients pass through unscaled with an inf/nan norm.
    """
    scale, norm = scale_factor(grads, max_norm)
    if scale == 1.0:
        return {key: g.copy() for key, g in grads.items()}, norm
    # scale is a Python float, so NEP 50 keeps float32 gradients float32.
    return {key: np.multiply(g, scale) for key, g in grads.items()}, norm
