"""The cases ``python -m fnn.check`` runs: every op and every model, three ways.

A :class:`Case` builds, from a seeded generator, the triple
``(loss_and_grad, reference_loss, params)`` that :func:`fnn.check.compare`
takes. Ops are reduced to scalars by a fixed random projection
(:func:`projected_op`: L = sum(out * dout)), so the hand-derived
``backward(dout, cache)`` is exactly the gradient of L; models use their own
``loss_and_grad`` against the plain-NumPy losses of :mod:`fnn.reference`.

Every op in ``fnn.ops.__all__`` with a backward needs at least one case here
(named ``<op>`` or ``<op>[variant]``); :func:`uncovered_ops` lists those that
have none, and both the runner and the tests fail on them.
"""
import argparse
import time
import zlib
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from . import ops as O
from . import reference as R
from .check import CompareTable, compare, error_row
from .models import cnn, linear_regression, logistic_regression, mlp, perceptron

__all__ = ["Case", "CASES", "OP_CASES", "MODEL_CASES", "NO_GRADIENT", "projected_op", "model_case",
           "ops_with_backward", "uncovered_ops", "run"]

NO_GRADIENT = {"step": "derivative 0 almost everywhere; step_backward refuses by design"}
"""Ops in fnn.ops with a backward that deliberately has no gradient to check, and why."""


@dataclass(frozen=True)
class Case:
    """``build(rng) -> (loss_and_grad, reference_loss, params)``; ``max_entries`` as in compare."""

    name: str
    build: Callable
    max_entries: Optional[int] = None

    @property
    def op(self):
        """The op or model name: ``conv2d`` for ``conv2d[stride=2]``."""
        return self.name.split("[", 1)[0]


def projected_op(forward, backward, reference, args, rng, *, diff=None, **hyper):
    """An op as a scalar loss L = sum(forward(*args) * dout), dout a fixed random projection.

    ``args`` maps the forward's positional argument names to arrays (in
    order); ``diff`` names the differentiated ones (default: every float
    array); ``hyper`` goes to both ``forward`` and ``reference`` as keywords.
    Returns ``(loss_and_grad, reference_loss, params)`` with ``params`` the
    differentiated arguments; a loss op's scalar output is projected onto a
    random scalar ``dloss`` the same way.
    """
    names = list(args)
    if diff is None:
        diff = [n for n in names if isinstance(args[n], np.ndarray) and args[n].dtype.kind == "f"]
    out, _ = forward(*args.values(), **hyper)
    dout = rng.standard_normal(np.shape(out))
    if np.ndim(out) == 0:
        dout = float(dout)

    def call(fn, p):
        return fn(*(p.get(n, args[n]) for n in names), **hyper)

    def loss_and_grad(p):
        out, cache = call(forward, p)
        grads = backward(dout, cache)
        by_name = dict(zip(names, grads if isinstance(grads, tuple) else (grads,)))
        return np.sum(out * dout), {n: by_name[n] for n in diff}

    def reference_loss(p):
        return np.sum(call(reference, p) * dout)

    return loss_and_grad, reference_loss, {n: args[n] for n in diff}


def model_case(module, reference_loss, params, x, y, *, seed=None, **hyper):
    """``module.loss_and_grad`` and ``reference_loss`` on fixed data; ``seed`` gives both a fresh rng per call."""
    def kw():
        return hyper if seed is None else {**hyper, "rng": np.random.default_rng(seed)}

    return (lambda p: module.loss_and_grad(p, x, y, **kw()),
            lambda p: reference_loss(p, x, y, **kw()),
            params)


# ---------------------------------------------------------------- inputs


def away_from_zero(rng, shape, lo=0.1, hi=2.0):
    """Values with |v| in [lo, hi]: no kink of relu/leaky/abs within a finite-difference step."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(lo, hi, shape)


def well_separated(rng, shape, gap=0.1):
    """Distinct values at least ``gap`` apart (shuffled), so a max never has a near-tie."""
    size = int(np.prod(shape))
    return ((rng.permutation(size) - size / 2) * gap + rng.uniform(-gap / 10, gap / 10, size)).reshape(shape)


# ---------------------------------------------------------------- op cases


def _elementwise(name, shape=(3, 4), inputs=None, **hyper):
    forward, backward = getattr(O, f"{name}_forward"), getattr(O, f"{name}_backward")
    reference = getattr(R, name)

    def build(rng):
        x = inputs(rng, shape) if inputs else 2 * rng.standard_normal(shape)
        return projected_op(forward, backward, reference, {"x": x}, rng, **hyper)
    return build


def _dense(lead):
    def build(rng):
        args = {"x": rng.standard_normal((*lead, 4)), "w": rng.standard_normal((4, 5)), "b": rng.standard_normal(5)}
        return projected_op(O.dense_forward, O.dense_backward, R.dense, args, rng)
    return build


def _dropout(p, training, seed=7):
    def forward(x):
        return O.dropout_forward(x, p=p, rng=np.random.default_rng(seed), training=training)

    def reference(x):
        return R.dropout(x, p=p, rng=np.random.default_rng(seed), training=training)

    def build(rng):
        return projected_op(forward, O.dropout_backward, reference, {"x": rng.standard_normal((4, 5))}, rng)
    return build


def _regression_loss(name):
    def build(rng):
        pred = rng.standard_normal((4, 3))
        target = pred - away_from_zero(rng, pred.shape)  # mae: no tie within eps
        return projected_op(getattr(O, f"{name}_forward"), getattr(O, f"{name}_backward"), getattr(R, name),
                            {"pred": pred, "target": target}, rng, diff=("pred",))
    return build


def _bce(pos_weight):
    def build(rng):
        logits = 3 * rng.standard_normal((5, 3))
        target = rng.uniform(0, 1, logits.shape)
        weight = pos_weight(rng) if callable(pos_weight) else pos_weight
        return projected_op(O.bce_with_logits_forward, O.bce_with_logits_backward, R.bce_with_logits,
                            {"logits": logits, "target": target}, rng, diff=("logits",), pos_weight=weight)
    return build


def _cross_entropy(lead, ignore):
    def build(rng):
        logits = 2 * rng.standard_normal((*lead, 5))
        labels = rng.integers(0, 5, lead)
        if ignore:
            labels.reshape(-1)[::3] = -100
        return projected_op(O.softmax_cross_entropy_forward, O.softmax_cross_entropy_backward,
                            R.softmax_cross_entropy, {"logits": logits, "labels": labels}, rng)
    return build


def _conv(**hyper):
    def build(rng):
        args = {"x": rng.standard_normal((2, 2, 7, 6)), "w": rng.standard_normal((3, 2, 3, 2)),
                "b": rng.standard_normal(3)}
        return projected_op(O.conv2d_forward, O.conv2d_backward, R.conv2d, args, rng, **hyper)
    return build


def _pool(name, **hyper):
    def build(rng):
        x = well_separated(rng, (2, 2, 6, 5))
        return projected_op(getattr(O, f"{name}_forward"), getattr(O, f"{name}_backward"), getattr(R, name),
                            {"x": x}, rng, **hyper)
    return build


def _batchnorm(shape, training):
    def forward(x, gamma, beta, **kw):
        out, cache, _ = O.batchnorm_forward(x, gamma, beta, **kw)
        return out, cache

    def build(rng):
        C = shape[1]
        args = {"x": 2 * rng.standard_normal(shape) + 1, "gamma": rng.standard_normal(C),
                "beta": rng.standard_normal(C)}
        stats = {"running_mean": rng.standard_normal(C), "running_var": rng.uniform(0.5, 2.0, C)}
        return projected_op(forward, O.batchnorm_backward, R.batchnorm, args, rng, training=training, **stats)
    return build


def _layernorm(shape):
    def build(rng):
        D = shape[-1]
        args = {"x": 2 * rng.standard_normal(shape) + 1, "gamma": rng.standard_normal(D),
                "beta": rng.standard_normal(D)}
        return projected_op(O.layernorm_forward, O.layernorm_backward, R.layernorm, args, rng)
    return build


def _flatten(start_axis):
    def build(rng):
        return projected_op(O.flatten_forward, O.flatten_backward, R.flatten,
                            {"x": rng.standard_normal((2, 3, 2, 4))}, rng, start_axis=start_axis)
    return build


OP_CASES = [
    Case("dense", _dense((3,))),
    Case("dense[x (N, T, D)]", _dense((2, 3))),
    Case("sigmoid", _elementwise("sigmoid")),
    Case("tanh", _elementwise("tanh")),
    Case("relu", _elementwise("relu", inputs=away_from_zero)),
    Case("leaky_relu", _elementwise("leaky_relu", inputs=away_from_zero)),
    Case("leaky_relu[slope=0.3]", _elementwise("leaky_relu", inputs=away_from_zero, slope=0.3)),
    Case("gelu[approximate=none]", _elementwise("gelu", approximate="none")),
    Case("gelu[approximate=tanh]", _elementwise("gelu", approximate="tanh")),
    Case("softmax[axis=-1]", _elementwise("softmax", shape=(2, 3, 4))),
    Case("softmax[axis=0]", _elementwise("softmax", shape=(2, 3, 4), axis=0)),
    Case("softmax[axis=1]", _elementwise("softmax", shape=(2, 3, 4), axis=1)),
    Case("dropout[p=0.3]", _dropout(0.3, True)),
    Case("dropout[p=0.3, eval]", _dropout(0.3, False)),
    Case("mse", _regression_loss("mse")),
    Case("mae", _regression_loss("mae")),
    Case("bce_with_logits", _bce(None)),
    Case("bce_with_logits[pos_weight=2.5]", _bce(2.5)),
    Case("bce_with_logits[pos_weight (C,)]", _bce(lambda rng: rng.uniform(0.5, 3.0, 3))),
    Case("softmax_cross_entropy[(N, V)]", _cross_entropy((6,), False)),
    Case("softmax_cross_entropy[(N, T, V), ignored]", _cross_entropy((2, 4), True)),
    Case("flatten", _flatten(1)),
    Case("flatten[start_axis=2]", _flatten(2)),
    Case("conv2d", _conv()),
    Case("conv2d[stride=2, padding=1]", _conv(stride=2, padding=1)),
    Case("conv2d[stride=(2,1), padding=(1,0), dilation=(1,2)]", _conv(stride=(2, 1), padding=(1, 0), dilation=(1, 2))),
    Case("conv2d[dilation=2, padding=2]", _conv(dilation=2, padding=2)),
    Case("maxpool2d", _pool("maxpool2d")),
    Case("maxpool2d[k=3, s=1, p=1]", _pool("maxpool2d", kernel_size=3, stride=1, padding=1)),
    Case("maxpool2d[k=(3,2), s=(2,1), p=(1,0)]", _pool("maxpool2d", kernel_size=(3, 2), stride=(2, 1), padding=(1, 0))),
    Case("avgpool2d", _pool("avgpool2d")),
    Case("avgpool2d[k=3, s=1, p=1]", _pool("avgpool2d", kernel_size=3, stride=1, padding=1)),
    Case("avgpool2d[k=(3,2), s=(2,1), p=(1,0)]", _pool("avgpool2d", kernel_size=(3, 2), stride=(2, 1), padding=(1, 0))),
    Case("batchnorm[(N, D), train]", _batchnorm((5, 3), True)),
    Case("batchnorm[(N, D), eval]", _batchnorm((5, 3), False)),
    Case("batchnorm[(N, C, H, W), train]", _batchnorm((3, 2, 3, 4), True)),
    Case("batchnorm[(N, C, H, W), eval]", _batchnorm((3, 2, 3, 4), False)),
    Case("layernorm[(N, D)]", _layernorm((4, 5))),
    Case("layernorm[(N, T, D)]", _layernorm((2, 3, 5))),
]

# ---------------------------------------------------------------- model cases


def _mlp(activation, dropout=0.0):
    def build(rng):
        sizes = [4, 6, 5, 3]
        params = mlp.init(rng, sizes, dtype=np.float64)
        # Random biases keep ReLU inputs off the kink at 0 (zero-initialised ones sit near it for x ~ 0).
        params = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in params.items()}
        x, y = rng.standard_normal((5, sizes[0])), rng.integers(0, sizes[-1], 5)
        return model_case(mlp, R.mlp_loss, params, x, y, activation=activation, dropout=dropout,
                          seed=11 if dropout else None)
    return build


def _linear_regression(l2, l1):
    def build(rng):
        params = linear_regression.init(rng, 4, scale=1.0)
        x, y = rng.standard_normal((6, 4)), rng.standard_normal(6)
        return model_case(linear_regression, R.linear_regression_loss, params, x, y, l2=l2, l1=l1)
    return build


def _logistic_regression(classes, l2=0.0, pos_weight=None):
    def build(rng):
        params = logistic_regression.init(rng, 4, classes, scale=1.0, dtype=np.float64)
        params["b"] = params["b"] + rng.standard_normal(params["b"].shape)
        x, y = rng.standard_normal((6, 4)), rng.integers(0, classes, 6)
        kw = {"pos_weight": pos_weight} if classes == 2 else {}
        return model_case(logistic_regression, R.logistic_regression_loss, params, x, y, l2=l2, **kw)
    return build


def _perceptron(rule):
    def build(rng):
        params = perceptron.init(rng, 3, scale=1.0, dtype=np.float64)
        x, y = rng.standard_normal((8, 3)), rng.integers(0, 2, 8)
        return model_case(perceptron, R.perceptron_loss, params, x, y, rule=rule)
    return build


SMALL_CNN = cnn.Config(in_channels=2, image_size=8, conv_channels=(3, 4), kernel_size=3, conv_padding=(1, 0),
                       hidden=(5,), num_classes=3)


def _cnn():
    def build(rng):
        params = cnn.init(rng, SMALL_CNN, dtype=np.float64)
        # Random biases keep ReLU inputs off 0 and max-pool windows free of ties.
        params = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in params.items()}
        x, y = rng.standard_normal((2, 2, 8, 8)), rng.integers(0, 3, 2)
        return model_case(cnn, R.cnn_loss, params, x, y, config=SMALL_CNN)
    return build


MODEL_CASES = [
    Case("perceptron[rule=perceptron]", _perceptron("perceptron")),
    Case("perceptron[rule=delta]", _perceptron("delta")),
    Case("linear_regression", _linear_regression(0.0, 0.0)),
    Case("linear_regression[l2=0.3, l1=0.2]", _linear_regression(0.3, 0.2)),
    Case("logistic_regression[binary]", _logistic_regression(2)),
    Case("logistic_regression[binary, l2=0.1, pos_weight=3]", _logistic_regression(2, 0.1, 3.0)),
    Case("logistic_regression[multiclass, l2=0.1]", _logistic_regression(4, 0.1)),
    *(Case(f"mlp[{act}]", _mlp(act)) for act in ("relu", "tanh", "sigmoid", "leaky_relu", "gelu")),
    Case("mlp[relu, dropout=0.3]", _mlp("relu", 0.3)),
    Case("cnn[small LeNet]", _cnn()),
]

CASES = OP_CASES + MODEL_CASES


# ---------------------------------------------------------------- coverage and runner


def ops_with_backward():
    """Names ``x`` with ``x_backward`` exported by ``fnn.ops``, except the deliberately gradient-free ones.

    ``fnn.ops`` re-exports its submodules with ``import *``; its ``__all__``
    is used when it defines one, else its public names.
    """
    exported = getattr(O, "__all__", None) or [n for n in dir(O) if not n.startswith("_")]
    names = (n[: -len("_backward")] for n in exported if n.endswith("_backward") and callable(getattr(O, n)))
    return sorted(n for n in names if n not in NO_GRADIENT)


def uncovered_ops(cases=None):
    covered = {c.op for c in (CASES if cases is None else cases)}
    return [name for name in ops_with_backward() if name not in covered]


def _case_rng(seed, name):
    # Keyed by name, so --only reproduces the same inputs as a full run.
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def run_cases(cases, *, seed=0):
    """Compare every case; a case that raises becomes one failing row. Returns a CompareTable."""
    table = CompareTable([])
    for case in cases:
        rng = _case_rng(seed, case.name)
        try:
            loss_and_grad, reference_loss, params = case.build(rng)
            table = table + compare(loss_and_grad, reference_loss, params, max_entries=case.max_entries,
                                    rng=rng, name=case.name)
        except Exception as exc:  # a broken case must show up as FAIL, not stop the report
            table = table + [error_row(case.name, exc)]
    return table


def run(argv=None, *, cases=None):
    """The ``python -m fnn.check`` command line; returns the exit status (0: every row passed)."""
    parser = argparse.ArgumentParser(
        prog="python -m fnn.check",
        description="Check every op's and model's hand-derived gradient against fnn.tape on its "
                    "fnn.reference forward and against central differences, all in float64.")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only cases whose name contains NAME (repeatable)")
    parser.add_argument("--seed", type=int, default=0, help="seed for inputs and projections (default: %(default)s)")
    args = parser.parse_args(argv)

    registry = CASES if cases is None else list(cases)
    selected = [c for c in registry if not args.only or any(s in c.name for s in args.only)]
    if not selected:
        print(f"no case matches --only {args.only}; cases are: {', '.join(c.name for c in registry)}")
        return 2
    start = time.perf_counter()
    table = run_cases(selected, seed=args.seed)
    print(table)
    print(f"\n{len(selected)} cases, {len(table)} rows, seed {args.seed}, {time.perf_counter() - start:.1f} s")
    for column, (error, row) in table.worst().items():
        print(f"  worst {column:20s} {error:.2e}  ({row.case}: {row.parameter})")
    status = 0 if table.passed else 1
    if not table.passed:
        print(f"FAIL: {len(table.failures())} rows exceed their tolerance")
    missing = uncovered_ops(registry) if cases is None and not args.only else []
    if missing:
        print(f"FAIL: ops without a gradient case in fnn.check_cases: {', '.join(missing)}")
        status = 1
    if status == 0:
        print("PASS: every gradient agrees three ways")
    return status
