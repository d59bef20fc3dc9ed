"""Every op's gradient three ways: hand-derived backward, fnn.tape on the fnn.reference forward, central differences.

Each op is reduced to the scalar L = sum(out * dout) for a random dout
(fnn.check_cases.projected_op), so backward(dout, cache) is exactly dL/d(arg).
All in float64 with hypothesis-drawn shapes and hyperparameters; inputs stay
away from kinks (relu, leaky, mae: |x| >= 0.1) and ties (maxpool: values at
least 0.1 apart). The second half places each op in the middle of a small
network, where the hand side chains the ops' backward functions.
"""
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.lib.stride_tricks import sliding_window_view

import fnn.ops as O
import fnn.reference as R
from fnn.check import compare
from fnn.check_cases import away_from_zero, projected_op, well_separated

SEEDS = st.integers(0, 2**31 - 1)


def assert_three_way(triple):
    """Manual vs tape < 1e-9 and both vs central differences < 1e-6, for every argument (and the loss)."""
    loss_and_grad, reference_loss, params = triple
    table = compare(loss_and_grad, reference_loss, params)
    assert table.passed, "\n" + str(table)
    assert [r.parameter for r in table] == ["(loss)", *params]
    assert all(r.checked == r.size for r in table.rows[1:])


def assert_same_forward(op_out, ref_out):
    """The reference computes the op's value: equal to float64 round-off."""
    assert ref_out.shape == op_out.shape and ref_out.dtype == op_out.dtype
    scale = max(float(np.max(np.abs(op_out), initial=0.0)), 1.0)
    np.testing.assert_allclose(ref_out, op_out, rtol=0, atol=1e-13 * scale)


def check_op(forward, backward, reference, args, rng, *, diff=None, **hyper):
    op_out = forward(*args.values(), **hyper)[0]
    assert_same_forward(np.asarray(op_out), np.asarray(reference(*args.values(), **hyper)))
    assert_three_way(projected_op(forward, backward, reference, args, rng, diff=diff, **hyper))


def shapes(min_dims=1, max_dims=3):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=4)


# ---------------------------------------------------------------- ops alone


@given(lead=st.lists(st.integers(1, 3), min_size=1, max_size=2), D=st.integers(1, 5), M=st.integers(1, 4),
       seed=SEEDS)
def test_dense(lead, D, M, seed):
    rng = np.random.default_rng(seed)
    args = {"x": rng.standard_normal((*lead, D)), "w": rng.standard_normal((D, M)), "b": rng.standard_normal(M)}
    check_op(O.dense_forward, O.dense_backward, R.dense, args, rng)


ELEMENTWISE = [
    ("sigmoid", {}), ("tanh", {}), ("relu", {}),
    ("leaky_relu", {}), ("leaky_relu", {"slope": 0.3}), ("leaky_relu", {"slope": -0.5}),
    ("gelu", {"approximate": "none"}), ("gelu", {"approximate": "tanh"}),
]


@pytest.mark.parametrize("name, hyper", ELEMENTWISE, ids=[f"{n}{h or ''}" for n, h in ELEMENTWISE])
@given(shape=shapes(), seed=SEEDS)
def test_elementwise_activation(name, hyper, shape, seed):
    rng = np.random.default_rng(seed)
    x = away_from_zero(rng, shape, 0.1, 3.0)  # off the kink of relu/leaky; harmless for the smooth ones
    check_op(getattr(O, f"{name}_forward"), getattr(O, f"{name}_backward"), getattr(R, name), {"x": x}, rng, **hyper)


@given(shape=shapes(), data=st.data(), seed=SEEDS)
def test_softmax_along_every_axis(shape, data, seed):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    rng = np.random.default_rng(seed)
    # Unit-scale inputs: a saturated softmax has gradients so small that central differences
    # lose them in round-off (the same holds for the losses below).
    check_op(O.softmax_forward, O.softmax_backward, R.softmax, {"x": rng.standard_normal(shape)}, rng, axis=axis)


@given(shape=shapes(), p=st.sampled_from([0.0, 0.3, 0.7, 1.0]), training=st.booleans(), seed=SEEDS)
def test_dropout_with_a_fixed_seed(shape, p, training, seed):
    rng = np.random.default_rng(seed)
    mask_seed = int(rng.integers(2**31))

    def forward(x):
        return O.dropout_forward(x, p=p, rng=np.random.default_rng(mask_seed), training=training)

    def reference(x):
        return R.dropout(x, p=p, rng=np.random.default_rng(mask_seed), training=training)

    check_op(forward, O.dropout_backward, reference, {"x": rng.standard_normal(shape)}, rng)


@pytest.mark.parametrize("name", ["mse", "mae"])
@given(shape=shapes(), seed=SEEDS)
def test_regression_losses(name, shape, seed):
    rng = np.random.default_rng(seed)
    pred = rng.standard_normal(shape)
    target = pred - away_from_zero(rng, shape)  # mae: |pred - target| >= 0.1, off its kink
    check_op(getattr(O, f"{name}_forward"), getattr(O, f"{name}_backward"), getattr(R, name),
             {"pred": pred, "target": target}, rng, diff=("pred",))


@given(shape=shapes(), weight=st.sampled_from(["none", "scalar", "vector"]), seed=SEEDS)
def test_bce_with_logits(shape, weight, seed):
    rng = np.random.default_rng(seed)
    logits = 2 * rng.standard_normal(shape)
    target = np.where(rng.random(shape) < 0.3, rng.integers(0, 2, shape), rng.uniform(0, 1, shape))
    pos_weight = {"none": None, "scalar": float(rng.uniform(0.2, 4.0)),
                  "vector": rng.uniform(0.2, 4.0, shape[-1])}[weight]
    check_op(O.bce_with_logits_forward, O.bce_with_logits_backward, R.bce_with_logits,
             {"logits": logits, "target": target}, rng, diff=("logits",), pos_weight=pos_weight)


@given(lead=st.lists(st.integers(1, 4), min_size=1, max_size=2), V=st.integers(1, 5),
       ignored=st.sampled_from([0.0, 0.4, 1.0]), ignore_index=st.sampled_from([-100, 0, 7]), seed=SEEDS)
def test_softmax_cross_entropy_2d_and_3d_with_ignored_labels(lead, V, ignored, ignore_index, seed):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((*lead, V))
    labels = rng.integers(0, V, lead)
    labels[rng.random(lead) < ignored] = ignore_index
    check_op(O.softmax_cross_entropy_forward, O.softmax_cross_entropy_backward, R.softmax_cross_entropy,
             {"logits": logits, "labels": labels}, rng, ignore_index=ignore_index)


@given(shape=shapes(1, 4), data=st.data(), seed=SEEDS)
def test_flatten(shape, data, seed):
    start_axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="start_axis")
    rng = np.random.default_rng(seed)
    check_op(O.flatten_forward, O.flatten_backward, R.flatten, {"x": rng.standard_normal(shape)}, rng,
             start_axis=start_axis)


def pair_or_int(lo, hi):
    """An int or an (h, w) pair, as a user passes them."""
    return st.one_of(st.integers(lo, hi), st.tuples(st.integers(lo, hi), st.integers(lo, hi)))


def _pair(v):
    return (v, v) if isinstance(v, int) else v


@given(N=st.integers(1, 2), C=st.integers(1, 3), F=st.integers(1, 3), H=st.integers(1, 7), W=st.integers(1, 7),
       KH=st.integers(1, 3), KW=st.integers(1, 3), stride=pair_or_int(1, 3), padding=pair_or_int(0, 2),
       dilation=pair_or_int(1, 2), seed=SEEDS)
def test_conv2d(N, C, F, H, W, KH, KW, stride, padding, dilation, seed):
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    assume(H + 2 * ph - dh * (KH - 1) >= 1 and W + 2 * pw - dw * (KW - 1) >= 1)
    rng = np.random.default_rng(seed)
    args = {"x": rng.standard_normal((N, C, H, W)), "w": rng.standard_normal((F, C, KH, KW)),
            "b": rng.standard_normal(F)}
    check_op(O.conv2d_forward, O.conv2d_backward, R.conv2d, args, rng,
             stride=stride, padding=padding, dilation=dilation)


@st.composite
def pool_geometries(draw):
    """(x shape, kernel_size, stride, padding): overlapping (stride < kernel) windows included."""
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    stride = draw(st.one_of(st.none(), pair_or_int(1, 3)))
    H, W = draw(st.integers(max(1, kh - 2 * ph), 6)), draw(st.integers(max(1, kw - 2 * pw), 6))
    kernel = kh if kh == kw and draw(st.booleans()) else (kh, kw)
    padding = ph if ph == pw and draw(st.booleans()) else (ph, pw)
    return (draw(st.integers(1, 2)), draw(st.integers(1, 2)), H, W), kernel, stride, padding


@pytest.mark.parametrize("name", ["maxpool2d", "avgpool2d"])
@given(geometry=pool_geometries(), seed=SEEDS)
def test_pooling(name, geometry, seed):
    shape, kernel_size, stride, padding = geometry
    rng = np.random.default_rng(seed)
    x = well_separated(rng, shape)  # maxpool: every window's max wins by >= 0.1
    check_op(getattr(O, f"{name}_forward"), getattr(O, f"{name}_backward"), getattr(R, name), {"x": x}, rng,
             kernel_size=kernel_size, stride=stride, padding=padding)


def _batchnorm_forward(x, gamma, beta, **kw):
    out, cache, _ = O.batchnorm_forward(x, gamma, beta, **kw)
    return out, cache


@given(image=st.booleans(), N=st.integers(2, 4), C=st.integers(1, 3),
       HW=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       training=st.booleans(), seed=SEEDS)
def test_batchnorm_2d_and_4d_train_and_inference(image, N, C, HW, training, seed):
    rng = np.random.default_rng(seed)
    shape = (N, C, *HW) if image else (N, C)
    args = {"x": 2 * rng.standard_normal(shape) + 1, "gamma": rng.standard_normal(C), "beta": rng.standard_normal(C)}
    stats = {"running_mean": rng.standard_normal(C), "running_var": rng.uniform(0.5, 2.0, C)}
    check_op(_batchnorm_forward, O.batchnorm_backward, R.batchnorm, args, rng, training=training, **stats)


@given(shape=shapes(2, 4), seed=SEEDS)
def test_batchnorm_running_statistics_reference(shape, seed):
    assume(len(shape) != 3 and np.prod(shape) // shape[1] >= 2)
    rng = np.random.default_rng(seed)
    C = shape[1]
    x, mean, var = rng.standard_normal(shape), rng.standard_normal(C), rng.uniform(0.5, 2, C)
    _, _, stats = O.batchnorm_forward(x, np.ones(C), np.zeros(C), running_mean=mean, running_var=var, momentum=0.3)
    for op_stat, ref_stat in zip(stats, R.batchnorm_running_stats(x, mean, var, momentum=0.3)):
        assert_same_forward(op_stat, ref_stat)


@given(lead=st.lists(st.integers(1, 3), min_size=1, max_size=2), D=st.integers(2, 6), seed=SEEDS)
def test_layernorm_2d_and_3d(lead, D, seed):
    rng = np.random.default_rng(seed)
    args = {"x": 2 * rng.standard_normal((*lead, D)) + 1, "gamma": rng.standard_normal(D),
            "beta": rng.standard_normal(D)}
    check_op(O.layernorm_forward, O.layernorm_backward, R.layernorm, args, rng)


@given(shape=shapes(), seed=SEEDS)
def test_step_reference_forward(shape, seed):
    x = away_from_zero(np.random.default_rng(seed), shape)
    x.reshape(-1)[0] = 0.0  # step(0) = 1
    assert_same_forward(O.step_forward(x)[0], R.step(x))


# ---------------------------------------------------------------- ops in the middle of a network
#
# Dense stack:   x -> dense -> OP -> tanh -> dense -> softmax CE      (x (N, D) or (N, T, D))
# Image stack:   x -> conv (padding 1) -> OP -> flatten -> dense -> softmax CE
# The hand side chains <op>_forward / <op>_backward; the tape differentiates
# the same composite written with fnn.reference; every parameter and x is compared.


class Block:
    """An op as a network layer: forward(h, *params, **hyper) -> (out, cache), its backward and reference."""

    def __init__(self, name, forward=None, backward=None, reference=None, params=lambda rng, h: {}, **hyper):
        self.forward = forward or getattr(O, f"{name}_forward")
        self.backward = backward or getattr(O, f"{name}_backward")
        self.reference = reference or getattr(R, name)
        self.make_params, self.hyper = params, hyper

    def hand(self, h, p):
        out, cache = self.forward(h, *p.values(), **self.hyper)

        def back(d):
            grads = self.backward(d, cache)
            grads = grads if isinstance(grads, tuple) else (grads,)
            return grads[0], dict(zip(p, grads[1:]))
        return out, back

    def ref(self, h, p):
        return self.reference(h, *p.values(), **self.hyper)


def _prefixed(prefix, params):
    return {f"{prefix}.{k}": v for k, v in params.items()}


def _unprefixed(prefix, params):
    return {k[len(prefix) + 1:]: v for k, v in params.items() if k.startswith(prefix + ".")}


def mid_network(block, x, labels, rng, *, image):
    """(loss_and_grad, reference_loss, params) of the stack around ``block`` (see the comment above)."""
    if image:
        # Weights scaled by 1/sqrt(fan-in) keep the logits O(1): a saturated softmax would leave
        # gradients so small that central differences lose them in the loss's round-off.
        first = {"w": rng.standard_normal((3, x.shape[1], 3, 3)) / np.sqrt(9 * x.shape[1]),
                 "b": rng.standard_normal(3)}
        first_hand = lambda h, w, b: O.conv2d_forward(h, w, b, padding=1)  # noqa: E731
        first_ref = lambda h, w, b: R.conv2d(h, w, b, padding=1)  # noqa: E731
        first_back = O.conv2d_backward
    else:
        first = {"w": rng.standard_normal((x.shape[-1], 4)), "b": rng.standard_normal(4)}
        first_hand, first_ref, first_back = O.dense_forward, R.dense, O.dense_backward
    a = first_ref(x, **first)
    op_params = block.make_params(rng, a)
    shape_after_op = np.shape(block.ref(a, op_params))
    width = int(np.prod(shape_after_op[1:])) if image else shape_after_op[-1]
    V = 3
    last = {"w": rng.standard_normal((width, V)) / np.sqrt(width), "b": rng.standard_normal(V)}
    params = {"x": x, **_prefixed("first", first), **_prefixed("op", op_params), **_prefixed("last", last)}

    def loss_and_grad(p):
        grads = {}
        a, first_cache = first_hand(p["x"], p["first.w"], p["first.b"])
        h, op_back = block.hand(a, _unprefixed("op", p))
        if image:
            t, mid_cache = O.flatten_forward(h)
        else:
            t, mid_cache = O.tanh_forward(h)
        z, last_cache = O.dense_forward(t, p["last.w"], p["last.b"])
        loss, ce_cache = O.softmax_cross_entropy_forward(z, labels)
        dt, grads["last.w"], grads["last.b"] = O.dense_backward(O.softmax_cross_entropy_backward(1.0, ce_cache),
                                                                last_cache)
        dh = O.flatten_backward(dt, mid_cache) if image else O.tanh_backward(dt, mid_cache)
        da, op_grads = op_back(dh)
        grads.update(_prefixed("op", op_grads))
        grads["x"], grads["first.w"], grads["first.b"] = first_back(da, first_cache)
        return loss, grads

    def reference_loss(p):
        a = first_ref(p["x"], p["first.w"], p["first.b"])
        h = block.ref(a, _unprefixed("op", p))
        t = R.flatten(h) if image else R.tanh(h)
        return R.softmax_cross_entropy(R.dense(t, p["last.w"], p["last.b"]), labels)

    return loss_and_grad, reference_loss, params


def _dense_params(rng, h):
    return {"w": rng.standard_normal((h.shape[-1], 5)) / 2, "b": rng.standard_normal(5)}


def _norm_params(rng, h):
    C = h.shape[1]  # batch norm's feature/channel axis
    return {"gamma": rng.standard_normal(C), "beta": rng.standard_normal(C)}


def _layernorm_params(rng, h):
    return {"gamma": rng.standard_normal(h.shape[-1]), "beta": rng.standard_normal(h.shape[-1])}


def _batchnorm_block(training, C):
    stats = {"running_mean": np.linspace(-0.5, 0.5, C), "running_var": np.linspace(0.5, 2.0, C)}
    return Block("batchnorm", forward=_batchnorm_forward, params=_norm_params, training=training, **stats)


def _dropout_block(p, seed=3):
    return Block("dropout", forward=lambda h: O.dropout_forward(h, p=p, rng=np.random.default_rng(seed)),
                 reference=lambda h: R.dropout(h, p=p, rng=np.random.default_rng(seed)))


DENSE_STACK_BLOCKS = {
    "dense": lambda: Block("dense", params=_dense_params),
    "sigmoid": lambda: Block("sigmoid"),
    "tanh": lambda: Block("tanh"),
    "relu": lambda: Block("relu"),
    "leaky_relu": lambda: Block("leaky_relu", slope=0.2),
    "gelu": lambda: Block("gelu", approximate="none"),
    "gelu[tanh]": lambda: Block("gelu", approximate="tanh"),
    "softmax": lambda: Block("softmax", axis=-1),
    "dropout": lambda: _dropout_block(0.4),
    "layernorm": lambda: Block("layernorm", params=_layernorm_params),
    "batchnorm[train]": lambda: _batchnorm_block(True, 4),
    "batchnorm[eval]": lambda: _batchnorm_block(False, 4),
}


@pytest.mark.parametrize("name", list(DENSE_STACK_BLOCKS))
@given(N=st.integers(2, 4), T=st.sampled_from([None, 3]), D=st.integers(1, 4), seed=SEEDS)
def test_op_in_the_middle_of_a_dense_stack(name, N, T, D, seed):
    assume(T is None or not name.startswith("batchnorm"))  # batch norm takes (N, D) or images
    rng = np.random.default_rng(seed)
    lead = (N,) if T is None else (N, T)
    x = rng.standard_normal((*lead, D))
    triple = mid_network(DENSE_STACK_BLOCKS[name](), x, rng.integers(0, 3, lead), rng, image=False)
    if name in ("relu", "leaky_relu"):  # keep the kink out of a finite-difference step
        assume(np.min(np.abs(R.dense(x, triple[2]["first.w"], triple[2]["first.b"]))) > 1e-3)
    assert_three_way(triple)


def _max_gap(a, kernel_size, stride, padding):
    """Smallest margin by which a window's max beats its runner-up (inf for one-cell windows)."""
    (kh, kw), (ph, pw) = _pair(kernel_size), _pair(padding)
    (sh, sw) = (kh, kw) if stride is None else _pair(stride)
    padded = np.pad(a, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    OH, OW = (padded.shape[2] - kh) // sh + 1, (padded.shape[3] - kw) // sw + 1
    windows = sliding_window_view(padded, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw][:, :, :OH, :OW]
    top = np.sort(windows.reshape(*windows.shape[:4], -1), axis=-1)
    if top.shape[-1] < 2:
        return np.inf
    return float(np.min(top[..., -1] - top[..., -2]))


def _conv_params(rng, h):
    return {"w": rng.standard_normal((2, h.shape[1], 2, 2)) / np.sqrt(4 * h.shape[1]), "b": rng.standard_normal(2)}


IMAGE_STACK_BLOCKS = {
    "conv2d": lambda: Block("conv2d", params=_conv_params, stride=(2, 1), dilation=(1, 2)),
    "maxpool2d": lambda: Block("maxpool2d", kernel_size=3, stride=2, padding=1),
    "avgpool2d": lambda: Block("avgpool2d", kernel_size=(2, 3), stride=1, padding=(1, 1)),
    "flatten": lambda: Block("flatten"),
    "batchnorm[train]": lambda: _batchnorm_block(True, 3),
    "batchnorm[eval]": lambda: _batchnorm_block(False, 3),
    "relu": lambda: Block("relu"),
}


@pytest.mark.parametrize("name", list(IMAGE_STACK_BLOCKS))
@given(N=st.integers(1, 3), C=st.integers(1, 2), H=st.integers(3, 6), W=st.integers(4, 6), seed=SEEDS)
def test_op_in_the_middle_of_a_conv_stack(name, N, C, H, W, seed):
    assume(N >= 2 or name != "batchnorm[train]")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W))
    triple = mid_network(IMAGE_STACK_BLOCKS[name](), x, rng.integers(0, 3, N), rng, image=True)
    conv_out = R.conv2d(x, triple[2]["first.w"], triple[2]["first.b"], padding=1)
    if name == "maxpool2d":
        assume(_max_gap(conv_out, 3, 2, 1) > 1e-3)
    if name == "relu":
        assume(np.min(np.abs(conv_out)) > 1e-3)
    assert_three_way(triple)


@pytest.mark.parametrize("loss", ["mse", "mae", "bce_with_logits", "bce_with_logits[pos_weight]",
                                  "softmax_cross_entropy"])
@given(N=st.integers(1, 4), T=st.sampled_from([None, 2]), D=st.integers(1, 4), seed=SEEDS)
def test_loss_at_the_end_of_a_network(loss, N, T, D, seed):
    """x -> dense -> tanh -> dense -> LOSS: the loss's backward seeds the chain."""
    rng = np.random.default_rng(seed)
    lead = (N,) if T is None else (N, T)
    x = rng.standard_normal((*lead, D))
    V = 3
    params = {"x": x, "w1": rng.standard_normal((D, 4)), "b1": rng.standard_normal(4),
              "w2": rng.standard_normal((4, V)), "b2": rng.standard_normal(V)}
    name, _, variant = loss.partition("[")
    hyper = {"pos_weight": rng.uniform(0.5, 3.0, V)} if variant else {}
    if name == "softmax_cross_entropy":
        target = rng.integers(0, V, lead)
        target.reshape(-1)[::2] = -100
    elif name == "bce_with_logits":
        target = rng.uniform(0, 1, (*lead, V))
    else:
        target = rng.standard_normal((*lead, V))
    forward, backward, reference = getattr(O, f"{name}_forward"), getattr(O, f"{name}_backward"), getattr(R, name)

    def loss_and_grad(p):
        a, c1 = O.dense_forward(p["x"], p["w1"], p["b1"])
        h, c2 = O.tanh_forward(a)
        z, c3 = O.dense_forward(h, p["w2"], p["b2"])
        value, c4 = forward(z, target, **hyper)
        g = {}
        dh, g["w2"], g["b2"] = O.dense_backward(backward(1.0, c4), c3)
        g["x"], g["w1"], g["b1"] = O.dense_backward(O.tanh_backward(dh, c2), c1)
        return value, g

    def network(p):
        return R.dense(R.tanh(R.dense(p["x"], p["w1"], p["b1"])), p["w2"], p["b2"])

    if name == "mae":  # keep |pred - target| off the kink
        assume(np.min(np.abs(network(params) - target)) > 1e-3)
    assert_three_way((loss_and_grad, lambda p: reference(network(p), target, **hyper), params))


def test_every_op_with_a_backward_is_checked_alone_and_mid_network():
    from fnn.check_cases import ops_with_backward

    alone = {"dense", "sigmoid", "tanh", "relu", "leaky_relu", "gelu", "softmax", "dropout", "mse", "mae",
             "bce_with_logits", "softmax_cross_entropy", "flatten", "conv2d", "maxpool2d", "avgpool2d",
             "batchnorm", "layernorm"}  # the test functions above
    in_network = {n.split("[")[0] for n in (*DENSE_STACK_BLOCKS, *IMAGE_STACK_BLOCKS)}
    in_network |= {"mse", "mae", "bce_with_logits", "softmax_cross_entropy"}
    assert set(ops_with_backward()) <= alone, sorted(set(ops_with_backward()) - alone)
    assert set(ops_with_backward()) <= in_network, sorted(set(ops_with_backward()) - in_network)


# ---------------------------------------------------------------- dtype and import isolation


def _float32_cases(rng):
    f = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    labels = np.array([0, 2, -100, 1])
    stats = {"running_mean": f(3), "running_var": np.full(3, 1.5, np.float32)}
    return [
        ("dense", (f(4, 3), f(3, 2), f(2)), {}),
        ("sigmoid", (f(4, 3),), {}), ("tanh", (f(4, 3),), {}), ("relu", (f(4, 3),), {}),
        ("leaky_relu", (f(4, 3),), {"slope": 0.1}), ("gelu", (f(4, 3),), {}),
        ("gelu", (f(4, 3),), {"approximate": "tanh"}), ("softmax", (f(4, 3),), {"axis": 0}),
        ("dropout", (f(4, 3),), {"p": 0.5, "rng": "seeded"}), ("step", (f(4, 3),), {}),
        ("mse", (f(4, 3), f(4, 3)), {}), ("mae", (f(4, 3), f(4, 3)), {}),
        ("bce_with_logits", (f(4, 3), np.full((4, 3), 0.25, np.float32)), {"pos_weight": 2.0}),
        ("softmax_cross_entropy", (f(4, 3), labels), {}),
        ("flatten", (f(2, 3, 2, 2),), {}),
        ("conv2d", (f(2, 3, 5, 5), f(2, 3, 3, 3), f(2)), {"stride": 2, "padding": 1}),
        ("maxpool2d", (f(2, 3, 5, 5),), {"kernel_size": 3, "stride": 2, "padding": 1}),
        ("avgpool2d", (f(2, 3, 5, 5),), {"kernel_size": 3, "stride": 2, "padding": 1}),
        ("batchnorm", (f(4, 3, 2, 2), f(3), f(3)), {"training": True, **stats}),
        ("layernorm", (f(2, 4, 3), f(3), f(3)), {}),
    ]


@pytest.mark.parametrize("index", range(len(_float32_cases(np.random.default_rng(0)))))
def test_references_keep_float32_and_match_the_ops(index):
    name, args, hyper = _float32_cases(np.random.default_rng(index))[index]
    seeded = lambda: {k: (np.random.default_rng(5) if isinstance(v, str) and v == "seeded" else v)  # noqa: E731
                      for k, v in hyper.items()}
    ref = getattr(R, name)(*args, **seeded())
    op_out = getattr(O, f"{name}_forward")(*args, **seeded())[0]
    assert np.asarray(ref).dtype == np.float32, (name, np.asarray(ref).dtype)
    np.testing.assert_allclose(ref, op_out, rtol=2e-5, atol=2e-5 * max(1.0, float(np.max(np.abs(op_out)))))


def test_tape_and_reference_never_import_ops_models_or_kernels():
    code = ("import sys, fnn.tape, fnn.reference; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'kernels' or "
            "m.startswith(('fnn.ops', 'fnn.models'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout
