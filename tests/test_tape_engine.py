"""grad/value_and_grad: nesting, argnums, graph shapes, dtypes, errors and memory."""
import math
import weakref

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fnn.tape
from fnn.check import numerical_grad, rel_error
from fnn.tape import TracedArray, grad, value_and_grad


def _numerical_leaves(f, tree):
    """Central-difference gradient of f over every float array in a dict/list/tuple nest."""
    leaves, paths = [], []

    def collect(t, path):
        if isinstance(t, dict):
            for k, v in t.items():
                collect(v, path + (k,))
        elif isinstance(t, (list, tuple)):
            for i, v in enumerate(t):
                collect(v, path + (i,))
        else:
            leaves.append(np.array(t, dtype=np.float64))
            paths.append(path)

    def rebuild(t, values, path=()):
        if isinstance(t, dict):
            return {k: rebuild(v, values, path + (k,)) for k, v in t.items()}
        if isinstance(t, (list, tuple)):
            return type(t)(rebuild(v, values, path + (i,)) for i, v in enumerate(t))
        return values[paths.index(path)]

    collect(tree, ())
    flat = {str(i): leaf for i, leaf in enumerate(leaves)}
    g = numerical_grad(lambda d: f(rebuild(tree, [d[str(i)] for i in range(len(leaves))])), flat)
    return {paths[int(k)]: v for k, v in g.items()}


def _get(tree, path):
    for p in path:
        tree = tree[p]
    return tree


# ---------------------------------------------------------------- structure, argnums, dtypes


def test_grad_through_nested_dict_list_tuple_keeps_structure_shapes_dtypes():
    rng = np.random.default_rng(0)
    params = {
        "dense1.w": rng.standard_normal((3, 4)),
        "blocks": [rng.standard_normal(4), (rng.standard_normal((2, 4)), 0.7)],
        "scale": np.float64(1.5),
    }

    def f(p):
        h = np.tanh(p["blocks"][1][0] @ p["dense1.w"].T)               # (2, 3)
        return (h * h).sum() * p["scale"] + (p["blocks"][0] ** 2).sum() * p["blocks"][1][1]

    g = grad(f)(params)
    assert set(g) == set(params)
    assert isinstance(g["blocks"], list) and isinstance(g["blocks"][1], tuple)
    assert isinstance(g["blocks"][1][1], float) and type(g["scale"]) is np.float64
    numeric = _numerical_leaves(f, params)
    for path, expected in numeric.items():
        got = _get(g, path)
        assert np.shape(got) == np.shape(_get(params, path))
        assert rel_error(got, expected) < 1e-6, path


def test_value_and_grad_returns_the_value_of_fun():
    x = np.array([0.5, -1.0, 2.0])
    value, g = value_and_grad(lambda x: np.sum(np.exp(x) * x))(x)
    assert value == np.sum(np.exp(x) * x)
    np.testing.assert_allclose(g, np.exp(x) * (x + 1), rtol=1e-14)


def test_argnums_tuple_and_untouched_arguments():
    a, b, c = np.array([1.0, 2.0]), np.array([3.0, -1.0]), np.array([0.5, 0.25])
    label = object()
    seen = []

    def f(a, tag, b, c):
        seen.append((tag, c))
        return np.sum(a * b * c)

    ga, gb = grad(f, argnums=(0, 2))(a, label, b, c)
    assert seen[0][0] is label and seen[0][1] is c  # non-differentiated arguments pass through untouched
    np.testing.assert_array_equal(ga, b * c)
    np.testing.assert_array_equal(gb, a * c)
    gc = grad(f, argnums=-1)(a, label, b, c)
    np.testing.assert_array_equal(gc, a * b)


def test_float32_is_preserved_end_to_end():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    w = rng.standard_normal((3, 2)).astype(np.float32)
    c64 = rng.standard_normal(2)  # a float64 constant promotes the forward; the gradient must not follow

    def f(w, x):
        h = np.tanh(x @ w) * 0.5 + 1
        return np.mean(np.log(h) * c64) + np.sum(w ** 2) / 2

    value, g = value_and_grad(f)(w, x)
    assert g.dtype == np.float32 and g.shape == w.shape
    g64 = grad(f)(w.astype(np.float64), x.astype(np.float64))
    assert rel_error(g, g64) < 1e-5

    def f32(w):
        return np.sum(np.maximum(x @ w, 0) * 2.0) / 3 - np.max(w) + np.sqrt((w * w).sum())

    value32, g32 = value_and_grad(f32)(w)
    assert value32.dtype == np.float32 and g32.dtype == np.float32


def test_python_float_argument_gets_a_float_gradient():
    value, g = value_and_grad(lambda s, x: np.sum(np.sin(s * x)))(0.3, np.arange(3.0))
    assert type(g) is float
    assert g == pytest.approx(sum(i * math.cos(0.3 * i) for i in range(3)), rel=1e-12)


# ---------------------------------------------------------------- graph shapes


def test_diamond_graph():
    a = np.array([1.5, -2.0])
    g = grad(lambda a: np.sum((a + a) * (a + a)))(a)
    np.testing.assert_array_equal(g, 8 * a)


def test_value_used_many_times_accumulates():
    x = np.array(0.7)
    g = grad(lambda x: x * x * x + np.exp(x) * x - x)(x)
    assert g == pytest.approx(3 * 0.49 + np.exp(0.7) * 1.7 - 1, rel=1e-14)


def test_1000_step_recurrence_matches_central_differences():
    rng = np.random.default_rng(2)
    D, T = 3, 1000
    w = rng.standard_normal((D, D)) * 0.6
    xs = rng.standard_normal((T, D)) * 0.5

    def loss(w):
        h = np.zeros(D)
        for t in range(T):
            h = np.tanh(w @ h + xs[t])
        return np.sum(h * np.arange(1, D + 1))

    assert rel_error(grad(loss)(w), numerical_grad(loss, w)) < 1e-6


def test_chain_of_100k_nodes():
    x = np.array([0.3, -0.2])

    def f(x):
        y = x
        for _ in range(50_000):
            y = np.sin(y) * 0.5 + x  # 2 nodes per step, x used 50,000 times
        return np.sum(y)

    assert rel_error(grad(f)(x), numerical_grad(f, x)) < 1e-6


def test_repeated_fancy_indices_accumulate():
    x = np.arange(5.0)
    np.testing.assert_array_equal(grad(lambda x: np.sum(x[[0, 0, 3, 0]]))(x), [3, 0, 0, 1, 0])
    np.testing.assert_array_equal(grad(lambda x: np.sum(np.take(x, [4, 4, 1])))(x), [0, 1, 0, 0, 2])
    m = np.arange(6.0).reshape(2, 3)
    g = grad(lambda m: np.sum(np.take_along_axis(m, np.array([[2, 2], [0, 2]]), axis=1)))(m)
    np.testing.assert_array_equal(g, [[0, 0, 2], [1, 0, 1]])
    g = grad(lambda m: np.sum(m[np.array([1, 1]), np.array([0, 0])]))(m)
    np.testing.assert_array_equal(g, [[0, 0, 0], [2, 0, 0]])


def test_ties_share_the_gradient_equally():
    x = np.array([1.0, 3.0, 3.0, 2.0])
    np.testing.assert_array_equal(grad(lambda x: np.max(x))(x), [0, 0.5, 0.5, 0])
    np.testing.assert_array_equal(grad(lambda x: np.sum(np.maximum(x, 3.0)))(x), [0, 0.5, 0.5, 0])
    np.testing.assert_array_equal(grad(lambda x: np.sum(np.minimum(x, x)))(x), [1, 1, 1, 1])


def test_power_with_traced_exponent_of_negative_base_is_nan():
    with np.errstate(invalid="ignore"):
        g = grad(lambda y: np.sum(np.array([-2.0, 2.0, 0.0]) ** y))(np.array([2.0, 2.0, 2.0]))
    assert math.isnan(g[0]) and g[1] == pytest.approx(4 * math.log(2)) and g[2] == 0.0


# ---------------------------------------------------------------- operators and NumPy functions

COMPOSED = {
    "reflected ops": lambda x: np.sum(2.0 * x - 1 / (x * x + 1) + 3 ** (x / 4) - (1 - x) / 2),
    "ndarray @ t and t @ ndarray": lambda x: np.sum(np.ones((2, 3)) @ x @ np.arange(4.0)),
    "numpy scalar * t": lambda x: np.sum(np.float64(2) * x + x * np.float64(3)),
    "comparison masks": lambda x: np.sum(np.where(x > 0, x, 0.1 * x) * (x < 1)),
    "var std": lambda x: np.sum(np.var(x, axis=0)) + x.std() + np.var(x, ddof=1),
    "stack concatenate": lambda x: np.sum(np.stack([x, x * x], axis=1) ** 2) + np.concatenate([x, x.T], None).sum(),
    "pad flip": lambda x: np.sum(np.pad(x, ((1, 0), (2, 1))) * np.arange(28.0).reshape(4, 7)) + np.flip(x)[0, 0],
    "einsum": lambda x: np.einsum("ij,kj->ik", x, x).sum() + np.einsum("...j,j->...", x, np.arange(4.0)).sum(),
    "tensordot dot outer": lambda x: np.tensordot(x, x, axes=([0], [0])).sum() + np.dot(x[0], x[1])
    + np.dot(x, np.ones(4)).sum() + np.outer(x[0], x[2]).sum(),
    "axes shuffles": lambda x: np.sum(np.moveaxis(x[None], 0, -1)[..., 0] * np.swapaxes(x.T, 0, 1))
    + np.squeeze(np.expand_dims(x, (0, 2)))[1].sum() + x.transpose(1, 0).reshape(2, 6)[1, 2],
    "cumsum broadcast_to": lambda x: np.sum(np.cumsum(x, axis=1) ** 2) + np.broadcast_to(x[0], (5, 4)).sum(),
    "clip abs logaddexp": lambda x: np.sum(np.clip(x, -0.9, 0.9)) + abs(x).sum() + np.logaddexp(x, 0.3).sum(),
    "iteration and len": lambda x: sum(row.max() * i for i, row in enumerate(x)) + len(x),
    "boolean mask": lambda x: x[x > 0].sum() + x[np.array([True, False, True])][:, 1:3].sum(),
    "erf": lambda x: fnn.tape.erf(x).sum(),
    "astype copy": lambda x: (x.astype(np.float64).copy() ** 2).sum(),
}


@pytest.mark.parametrize("name", sorted(COMPOSED))
def test_composed_functions_match_central_differences(name):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4))
    x = np.where(np.abs(np.abs(x) - 0.9) < 0.01, x + 0.05, x)
    x = np.where(np.abs(x) < 0.01, 0.05, x)
    f = COMPOSED[name]
    assert rel_error(grad(f)(x), numerical_grad(f, x)) < 1e-6


def test_erf_on_plain_arrays_matches_math_erf():
    x = np.linspace(-3, 3, 13).astype(np.float32)
    y = fnn.tape.erf(x)
    assert type(y) is np.ndarray and y.dtype == np.float32
    np.testing.assert_array_equal(y, np.array([math.erf(v) for v in x], dtype=np.float32))
    assert grad(lambda x: fnn.tape.erf(x).sum())(x).dtype == np.float32


def test_comparisons_return_plain_arrays():
    seen = []

    def f(x):
        seen.extend([x > 0, np.less(x, 1), x == x, np.isfinite(x), np.argmax(x)])
        return x.sum()

    grad(f)(np.array([1.0, -1.0]))
    assert all(type(s) in (np.ndarray, np.intp, np.int64) for s in seen)
    assert seen[0].dtype == bool


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("call, name", [
    (lambda x: np.fft.fft(x), "numpy.fft.fft"),
    (lambda x: np.sort(x), "numpy.sort"),
    (lambda x: np.linalg.inv(x), "numpy.linalg.inv"),
    (lambda x: np.add.reduce(x), "numpy.add.reduce"),
    (lambda x: np.multiply.outer(x, x), "numpy.multiply.outer"),
    (lambda x: np.arctan2(x, 1.0), "numpy.arctan2"),
    (lambda x: np.sum(x, dtype=np.float32), "a reduction"),
])
def test_unsupported_function_error_names_it(call, name):
    with pytest.raises(NotImplementedError, match=f"fnn.tape does not support {name}"):
        grad(lambda x: np.sum(call(x)))(np.eye(2))


@pytest.mark.parametrize("write", [
    lambda t: t.__setitem__(0, 1.0),
    lambda t: t.__iadd__(1.0),
    lambda t: np.add(t, 1.0, out=np.zeros(2)),
    lambda t: np.exp(t, out=np.zeros(2)),
])
def test_in_place_writes_are_rejected(write):
    with pytest.raises(TypeError, match="in-place writes to traced arrays are not supported"):
        grad(lambda t: np.sum(write(t)))(np.ones(2))


def test_augmented_assignment_on_traced_and_on_ndarray_with_traced_operand():
    def f(t):
        t *= 2
        return t.sum()

    def g(t):
        acc = np.zeros(2)
        acc += t
        return acc.sum()

    for fun in (f, g):
        with pytest.raises(TypeError, match="in-place writes to traced arrays are not supported"):
            grad(fun)(np.ones(2))


def test_dropping_the_gradient_through_asarray_or_float_is_an_error():
    for fun in (lambda t: np.asarray(t).sum(), lambda t: float(t[0])):
        with pytest.raises(TypeError, match="would drop its gradient"):
            grad(fun)(np.ones(2))


def test_non_scalar_output_is_an_error():
    with pytest.raises(ValueError, match=r"fun returned shape \(3,\) and dtype float64; grad needs a scalar"):
        grad(lambda x: x * 2)(np.ones(3))
    assert grad(lambda x: (x * 2)[None])(np.ones(1))[0] == 2.0  # size 1 is fine


@pytest.mark.parametrize("arg, match", [
    (np.arange(3), r"argument 0 has shape \(3,\) and dtype int64; expected a float numpy array"),
    ({"w": np.ones(2), "n": 3}, r"argument 0\['n'\] has type int; expected a float"),
    ([np.ones(2), "a"], r"argument 0\[1\] has type str"),
])
def test_non_float_differentiated_argument_is_an_error(arg, match):
    with pytest.raises(ValueError, match=match):
        grad(lambda a: 0.0)(arg)


def test_bad_argnums():
    with pytest.raises(ValueError, match="argnums is 'a'; expected an int or a non-empty tuple of ints"):
        grad(np.sum, argnums="a")
    with pytest.raises(ValueError, match="argnums 2 names argument 2, but fun was called with 1"):
        grad(np.sum, argnums=2)(np.ones(2))


def test_nested_grad_is_rejected():
    inner = grad(lambda x: np.sum(x * x))
    with pytest.raises(NotImplementedError, match="nested differentiation"):
        grad(lambda x: np.sum(inner(x)))(np.ones(2))


# ---------------------------------------------------------------- constants, aliasing, memory


def test_constants_and_unused_arguments_get_zero_gradients():
    x = np.ones((2, 2), dtype=np.float32)
    value, g = value_and_grad(lambda x, y: np.sum(y * 3.0), argnums=(0, 1))(x, np.ones(2))
    assert value == 6.0
    assert g[0].dtype == np.float32 and not g[0].any()
    np.testing.assert_array_equal(g[1], [3.0, 3.0])
    value, g = value_and_grad(lambda x: 1.5)(x)
    assert value == 1.5 and not g.any() and g.shape == (2, 2)


def test_inputs_are_not_mutated_and_gradients_are_fresh_arrays():
    a, b = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    a0, b0 = a.copy(), b.copy()
    ga, gb = grad(lambda a, b: np.sum(a + b), argnums=(0, 1))(a, b)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)
    assert ga is not gb and not np.shares_memory(ga, gb)
    assert ga.flags.writeable and gb.flags.writeable
    ga += 1  # the caller owns its gradients
    np.testing.assert_array_equal(gb, [1.0, 1.0])


def test_has_aux():
    (value, aux), g = value_and_grad(lambda x: (np.sum(x * x), {"h": x * 2}), has_aux=True)(np.ones(2))
    assert value == 2.0 and type(aux["h"]) is np.ndarray
    np.testing.assert_array_equal(aux["h"], [2.0, 2.0])
    np.testing.assert_array_equal(g, [2.0, 2.0])


def test_intermediates_are_released_by_the_backward_pass():
    kept, refs = [], []

    def f(x):
        big = np.exp(x) * 2.0  # a large intermediate
        refs.append(weakref.ref(big.value))
        h = np.tanh(big)
        kept.extend([big, h])  # even while the nodes themselves are kept alive...
        return np.sum(h * h)

    value, g = value_and_grad(f)(np.ones(200_000) * 0.1)
    assert refs[0]() is None  # ...their values are gone
    for node in kept:
        assert node.value is None and node.args is None and node.g is None and node.parents == ()
    assert "released" in repr(kept[0])


def test_graph_is_freed_after_the_call():
    refs = []

    def f(x):
        h = np.tanh(x @ x.T)
        refs.append(weakref.ref(h))
        return np.sum(h)

    grad(f)(np.ones((3, 3)))
    assert refs[0]() is None  # no reference cycle or global tape keeps nodes alive


# ---------------------------------------------------------------- an MLP in plain NumPy


def mlp_loss(params, x, y):
    h = np.maximum(x @ params["dense1.w"] + params["dense1.b"], 0)
    logits = h @ params["dense2.w"] + params["dense2.b"]
    shift = logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.sum(np.exp(logits - shift), axis=1)) + shift[:, 0]
    return np.mean(log_norm - logits[np.arange(len(y)), y])


@given(N=st.integers(1, 5), D=st.integers(1, 5), H=st.integers(1, 5), V=st.integers(2, 4),
       seed=st.integers(0, 2**31 - 1))
def test_mlp_loss_matches_central_differences(N, D, H, V, seed):
    rng = np.random.default_rng(seed)
    params = {"dense1.w": rng.standard_normal((D, H)), "dense1.b": rng.standard_normal(H),
              "dense2.w": rng.standard_normal((H, V)), "dense2.b": rng.standard_normal(V)}
    x = rng.standard_normal((N, D))
    y = rng.integers(0, V, N)
    (g_params, g_x) = grad(mlp_loss, argnums=(0, 1))(params, x, y)
    # The loss is log-sum-exp minus the true logit, a difference of terms as large as the logits
    # (up to ~10 here), so central differences carry round-off of about 1e-16 * 10 / 1e-6 = 1e-9 per
    # entry. When the draw saturates the softmax (one example, a large margin) the whole gradient can
    # be ~1e-5, and that round-off alone is a relative 1e-4 (seen: N=1, D=3, H=3, V=4, seed=4082:
    # 2.8e-6). The floor puts the scale at least 1e-2: still 1e-6 relative for ordinary gradients,
    # 1e-8 absolute for tiny ones (a 1% error in that draw's gradient measures 4e-5).
    assert rel_error(g_params, numerical_grad(lambda p: mlp_loss(p, x, y), params), floor=1e-2) < 1e-6
    assert rel_error(g_x, numerical_grad(lambda x_: mlp_loss(params, x_, y), x), floor=1e-2) < 1e-6


def test_traced_array_attributes():
    seen = {}

    def f(x):
        seen.update(shape=x.shape, ndim=x.ndim, size=x.size, dtype=x.dtype, len=len(x), type=type(x),
                    T=x.T.shape)
        return x.sum()

    grad(f)(np.ones((2, 3), np.float32))
    assert seen == dict(shape=(2, 3), ndim=2, size=6, dtype=np.float32, len=2, type=TracedArray, T=(3, 2))
