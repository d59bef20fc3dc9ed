"""Every primitive's VJP against a central-difference JVP, by projection.

For random directions u (input) and v (output cotangent), a correct VJP
satisfies <u, VJP(v)> = <v, J u>, and J u is a central difference of the
forward along u. SAMPLES holds one input generator per table entry; a
primitive added to the table without one fails test_every_primitive_has_a_sample.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fnn.tape import PRIMITIVES

SAMPLES = {}


def sample(*names):
    """Register ``gen(draw, rng) -> (args, kwargs, argnums)`` for the named primitives."""
    def register(gen):
        for name in names:
            SAMPLES[name] = gen
        return gen
    return register


def shapes(min_dims=0, max_dims=3):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=4)


def broadcast_pair(draw, num_shapes=2, min_dims=0):
    return draw(hnp.mutually_broadcastable_shapes(num_shapes=num_shapes, min_dims=min_dims, max_dims=3,
                                                  max_side=4)).input_shapes


def away_from_zero(rng, shape, lo=0.2, hi=2.0):
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(lo, hi, shape)


def distinct(rng, shape):
    """Values at least 0.08 apart, so a max/min is never within eps of a tie."""
    size = int(np.prod(shape, dtype=np.int64))
    return (rng.permutation(size) * 0.1 + rng.uniform(-0.01, 0.01, size)).reshape(shape)


# ---------------------------------------------------------------- elementwise


@sample("negative", "positive", "exp", "expm1", "tanh", "square", "sin", "cos", "erf")
def _unary_any(draw, rng):
    return (rng.standard_normal(draw(shapes())),), {}, (0,)


@sample("log", "sqrt")
def _unary_positive(draw, rng):
    return (rng.uniform(0.2, 3.0, draw(shapes())),), {}, (0,)


@sample("log1p")
def _unary_log1p(draw, rng):
    return (rng.uniform(-0.5, 3.0, draw(shapes())),), {}, (0,)


@sample("reciprocal", "absolute", "sign")
def _unary_nonzero(draw, rng):
    return (away_from_zero(rng, draw(shapes())),), {}, (0,)


@sample("add", "subtract", "multiply", "logaddexp")
def _binary_any(draw, rng):
    sx, sy = broadcast_pair(draw)
    return (rng.standard_normal(sx), rng.standard_normal(sy)), {}, (0, 1)


@sample("true_divide")
def _binary_divide(draw, rng):
    sx, sy = broadcast_pair(draw)
    return (rng.standard_normal(sx), away_from_zero(rng, sy, 0.5)), {}, (0, 1)


@sample("power")
def _binary_power(draw, rng):
    sx, sy = broadcast_pair(draw)
    if draw(st.booleans()):  # positive base: both arguments differentiable
        return (rng.uniform(0.5, 2.0, sx), rng.uniform(-2.0, 2.0, sy)), {}, (0, 1)
    # any base with integer exponents: only the base
    return (rng.standard_normal(sx), rng.integers(0, 4, sy).astype(np.float64)), {}, (0,)


@sample("maximum", "minimum")
def _binary_chooser(draw, rng):
    sx, sy = broadcast_pair(draw)
    # x on odd and y on even multiples of 0.1: never within 0.08 of each other.
    x = rng.integers(-10, 10, sx) * 0.2 + 0.1 + rng.uniform(-0.01, 0.01, sx)
    y = rng.integers(-10, 10, sy) * 0.2 + rng.uniform(-0.01, 0.01, sy)
    return (x, y), {}, (0, 1)


# ---------------------------------------------------------------- products


@sample("matmul")
def _matmul(draw, rng):
    n, k, m = (draw(st.integers(1, 4)) for _ in range(3))
    bx, by = broadcast_pair(draw)
    bx, by = bx[-2:], by[-2:]  # trailing axes: still mutually broadcastable
    x_shape = (k,) if draw(st.booleans()) else (*bx, n, k)
    y_shape = (k,) if draw(st.booleans()) else (*by, k, m)
    return (rng.standard_normal(x_shape), rng.standard_normal(y_shape)), {}, (0, 1)


@sample("tensordot")
def _tensordot(draw, rng):
    summed = draw(st.lists(st.integers(1, 3), max_size=2))
    free_a = draw(st.lists(st.integers(1, 3), max_size=2))
    free_b = draw(st.lists(st.integers(1, 3), max_size=2))
    nd_a, nd_b = len(summed) + len(free_a), len(summed) + len(free_b)
    # Place the summed axes at random positions of a and b, paired in a random order.
    pos_a = list(rng.permutation(nd_a)[:len(summed)])
    pos_b = list(rng.permutation(nd_b)[:len(summed)])
    shape_a, shape_b = [0] * nd_a, [0] * nd_b
    for size, i, j in zip(summed, pos_a, pos_b):
        shape_a[i], shape_b[j] = size, size
    rest_a, rest_b = iter(free_a), iter(free_b)
    shape_a = [s or next(rest_a) for s in shape_a]
    shape_b = [s or next(rest_b) for s in shape_b]
    axes = (tuple(int(i) for i in pos_a), tuple(int(j) for j in pos_b))
    return (rng.standard_normal(shape_a), rng.standard_normal(shape_b)), {"axes": axes}, (0, 1)


EINSUM_CASES = ["ij,jk->ik", "bij,bjk->bik", "nchw,fchw->nf", "i,i->", "ij,j->i", "ij->j", "ij,k->k",
                "ijk,ik->j", "ij,ij->ij", "ab,bc,cd->ad"]


@sample("einsum")
def _einsum(draw, rng):
    subscripts = draw(st.sampled_from(EINSUM_CASES))
    labels = sorted(set(subscripts) - set(",->"))
    size = {c: draw(st.integers(1, 3)) for c in labels}
    inputs = subscripts.split("->")[0].split(",")
    operands = tuple(rng.standard_normal([size[c] for c in sub]) for sub in inputs)
    return operands, {"subscripts": subscripts}, tuple(range(len(operands)))


# ---------------------------------------------------------------- reductions


def _axis_for(draw, ndim):
    if ndim == 0:
        return None
    return draw(st.one_of(st.none(), st.integers(-ndim, ndim - 1),
                          st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim).map(tuple)))


@sample("sum", "mean")
def _reduce_any(draw, rng):
    shape = draw(shapes())
    kwargs = {"axis": _axis_for(draw, len(shape)), "keepdims": draw(st.booleans())}
    return (rng.standard_normal(shape),), kwargs, (0,)


@sample("max", "min")
def _reduce_chooser(draw, rng):
    shape = draw(shapes())
    kwargs = {"axis": _axis_for(draw, len(shape)), "keepdims": draw(st.booleans())}
    return (distinct(rng, shape),), kwargs, (0,)


@sample("cumsum")
def _cumsum(draw, rng):
    shape = draw(shapes(min_dims=1))
    axis = draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    return (rng.standard_normal(shape),), {"axis": axis}, (0,)


# ---------------------------------------------------------------- shape and layout


@sample("reshape")
def _reshape(draw, rng):
    shape = draw(shapes())
    size = int(np.prod(shape))
    target = draw(st.sampled_from([(size,), (-1,), tuple(reversed(shape)), (1, size, 1), (size, -1)]))
    return (rng.standard_normal(shape),), {"shape": target}, (0,)


@sample("transpose")
def _transpose(draw, rng):
    shape = draw(shapes())
    axes = draw(st.one_of(st.none(), st.permutations(range(len(shape))).map(tuple)))
    return (rng.standard_normal(shape),), {"axes": axes}, (0,)


@sample("broadcast_to")
def _broadcast_to(draw, rng):
    shape = draw(shapes())
    lead = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    target = lead + tuple(draw(st.integers(1, 3)) if n == 1 else n for n in shape)
    return (rng.standard_normal(shape),), {"shape": target}, (0,)


@sample("concatenate")
def _concatenate(draw, rng):
    count = draw(st.integers(1, 3))
    if draw(st.booleans()):
        arrays = tuple(rng.standard_normal(draw(shapes())) for _ in range(count))
        return arrays, {"axis": None}, tuple(range(count))
    shape = list(draw(shapes(min_dims=1)))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    arrays = []
    for _ in range(count):
        shape[axis] = draw(st.integers(1, 3))
        arrays.append(rng.standard_normal(shape))
    return tuple(arrays), {"axis": axis}, tuple(range(count))


@sample("pad")
def _pad(draw, rng):
    shape = draw(shapes())
    widths = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in shape)
    return (rng.standard_normal(shape),), {"pad_width": widths, "constant_values": 0.5}, (0,)


@sample("astype")
def _astype(draw, rng):
    dtype = draw(st.sampled_from([np.float64, np.longdouble]))  # casts that lose nothing
    return (rng.standard_normal(draw(shapes())),), {"dtype": np.dtype(dtype)}, (0,)


# ---------------------------------------------------------------- selection


@sample("getitem")
def _getitem(draw, rng):
    shape = draw(shapes(min_dims=1))
    n0 = shape[0]
    kind = draw(st.sampled_from(["slices", "int", "newaxis", "mask", "row mask", "ints", "pair", "mixed"]))
    if kind == "slices":
        index = tuple(slice(draw(st.integers(-n, n)), draw(st.integers(-n, n)),
                            draw(st.sampled_from([1, 2, -1]))) for n in shape)
    elif kind == "int":
        index = draw(st.integers(-n0, n0 - 1))
    elif kind == "newaxis":
        index = (Ellipsis, None, slice(None, None, -1))
    elif kind == "mask":
        index = rng.random(shape) < 0.5
    elif kind == "row mask":
        index = rng.random(n0) < 0.5
    elif kind == "ints":  # repeats included: their gradients must add up
        index = rng.integers(-n0, n0, size=draw(st.integers(1, 6)))
    elif kind == "pair" and len(shape) >= 2:
        index = (rng.integers(0, n0, size=(3, 1)), rng.integers(0, shape[1], size=(1, 4)))
    else:
        index = (slice(None), rng.integers(0, shape[1], size=5)) if len(shape) >= 2 else rng.integers(0, n0, 5)
    return (rng.standard_normal(shape),), {"index": index}, (0,)


@sample("take")
def _take(draw, rng):
    shape = draw(shapes(min_dims=1))
    axis = draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    n = int(np.prod(shape)) if axis is None else shape[axis]
    indices = rng.integers(-n, n, size=draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=4)))
    return (rng.standard_normal(shape), indices), {"axis": axis}, (0,)


@sample("take_along_axis")
def _take_along_axis(draw, rng):
    shape = draw(shapes(min_dims=1))
    if draw(st.booleans()):
        n = int(np.prod(shape))
        return (rng.standard_normal(shape), rng.integers(0, n, size=5)), {"axis": None}, (0,)
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    idx_shape = [1 if draw(st.booleans()) else n for n in shape]
    idx_shape[axis] = draw(st.integers(1, 4))
    indices = rng.integers(-shape[axis], shape[axis], size=idx_shape)
    return (rng.standard_normal(shape), indices), {"axis": axis}, (0,)


@sample("where")
def _where(draw, rng):
    sc, sx, sy = broadcast_pair(draw, num_shapes=3)
    return (rng.random(sc) < 0.5, rng.standard_normal(sx), rng.standard_normal(sy)), {}, (1, 2)


@sample("clip")
def _clip(draw, rng):
    lo = draw(st.sampled_from([None, -0.5]))
    hi = draw(st.sampled_from([None, 0.5])) if lo is not None else 0.5
    x = rng.standard_normal(draw(shapes()))
    x = np.where(np.abs(np.abs(x) - 0.5) < 0.05, x * 1.3, x)  # keep eps away from the bounds
    return (x,), {"lo": lo, "hi": hi}, (0,)


# ---------------------------------------------------------------- the checks


def test_every_primitive_has_a_sample():
    assert set(SAMPLES) == set(PRIMITIVES), (
        f"without a sample: {sorted(set(PRIMITIVES) - set(SAMPLES))}; "
        f"stale samples: {sorted(set(SAMPLES) - set(PRIMITIVES))}")


def _draw_sample(name, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    return SAMPLES[name](data.draw, rng), rng


def _with_arg(args, i, value):
    trial = list(args)
    trial[i] = value
    return trial


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
@given(data=st.data())
def test_vjp_matches_central_difference_jvp(name, data):
    (args, kwargs, argnums), rng = _draw_sample(name, data)
    prim = PRIMITIVES[name]
    copies = [np.copy(a) for a in args]
    ans = prim.forward(*args, **kwargs)
    v = np.asarray(rng.standard_normal(np.shape(ans)), dtype=np.result_type(ans))
    eps = 1e-6
    for i in argnums:
        x = args[i]
        u = rng.standard_normal(np.shape(x))
        vjp = prim.vjp(i, v, ans, args, kwargs)
        assert np.shape(vjp) == np.shape(x)
        assert vjp.dtype == x.dtype
        jvp = (np.asarray(prim.forward(*_with_arg(args, i, x + eps * u), **kwargs), dtype=np.float64)
               - np.asarray(prim.forward(*_with_arg(args, i, x - eps * u), **kwargs), dtype=np.float64)) / (2 * eps)
        lhs_terms = u * np.asarray(vjp, dtype=np.float64)
        rhs_terms = np.asarray(v, dtype=np.float64) * jvp
        lhs, rhs = float(lhs_terms.sum()), float(rhs_terms.sum())
        # Relative to the size of the terms, so cancellation in the sums cannot hide an error.
        scale = max(float(np.abs(lhs_terms).sum()), float(np.abs(rhs_terms).sum()))
        assert abs(lhs - rhs) <= 1e-6 * scale, (name, i, lhs, rhs, scale)
    for a, c in zip(args, copies):
        np.testing.assert_array_equal(a, c)  # neither forward nor VJP may write into inputs


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
@given(data=st.data())
def test_vjp_keeps_float32(name, data):
    (args, kwargs, argnums), rng = _draw_sample(name, data)
    args = tuple(np.asarray(a, np.float32) if np.result_type(a) == np.float64 else a for a in args)
    prim = PRIMITIVES[name]
    ans = prim.forward(*args, **kwargs)
    if name != "astype":
        assert np.result_type(ans) == np.float32
    g = np.asarray(rng.standard_normal(np.shape(ans)), dtype=np.result_type(ans))
    for i in argnums:
        vjp = prim.vjp(i, g, ans, args, kwargs)
        assert vjp.dtype == np.float32, (name, i, vjp.dtype)
        assert np.shape(vjp) == np.shape(args[i])
