import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fnn import init


@pytest.mark.parametrize(
    "shape, expected",
    [
        ((7,), (7, 7)),
        (7, (7, 7)),
        ((784, 128), (784, 128)),
        ((16, 3, 5, 5), (3 * 25, 16 * 25)),
        ((8, 4, 3), (4 * 3, 8 * 3)),
    ],
)
def test_fans_for_bias_dense_and_conv_shapes(shape, expected):
    assert init.fans(shape) == expected


@given(F=st.integers(1, 9), C=st.integers(1, 9), KH=st.integers(1, 5), KW=st.integers(1, 5))
def test_conv_fans_count_connections_per_output_and_input(F, C, KH, KW):
    fan_in, fan_out = init.fans((F, C, KH, KW))
    # Each output unit sees C*KH*KW inputs; each input feeds F*KH*KW outputs.
    assert fan_in * F == fan_out * C == F * C * KH * KW
    assert fan_in == init.fans((C * KH * KW, F))[0]  # a 1x1-image conv is a dense layer


@pytest.mark.parametrize("shape", [(), (0, 3), (3, -1), "ab", (2.0, 3), (True, 2)])
def test_fans_reject_bad_shapes(shape):
    with pytest.raises(ValueError, match=r"shape is .*; expected"):
        init.fans(shape)


# name -> (distribution, scale from (fan_in, fan_out)): the std for normals, the bound for uniforms.
FORMULAS = {
    "he_normal": ("normal", lambda fi, fo: math.sqrt(2.0 / fi)),
    "he_uniform": ("uniform", lambda fi, fo: math.sqrt(6.0 / fi)),
    "xavier_normal": ("normal", lambda fi, fo: math.sqrt(2.0 / (fi + fo))),
    "xavier_uniform": ("uniform", lambda fi, fo: math.sqrt(6.0 / (fi + fo))),
    "lecun_normal": ("normal", lambda fi, fo: math.sqrt(1.0 / fi)),
}


@pytest.mark.parametrize("shape", [(400, 300), (64, 32, 3, 3)])
@pytest.mark.parametrize("name", list(FORMULAS))
def test_draws_match_the_distribution_formula(name, shape):
    kind, scale_of = FORMULAS[name]
    fan_in, fan_out = init.fans(shape)
    scale = scale_of(fan_in, fan_out)
    w = getattr(init, name)(np.random.default_rng(0), shape, dtype=np.float64)
    n = w.size
    std = scale if kind == "normal" else scale / math.sqrt(3.0)
    # Sampling error of the std is about std / sqrt(2n) (0.2% here); allow 5 of those.
    assert w.std() == pytest.approx(std, rel=5.0 / math.sqrt(2 * n))
    assert abs(w.mean()) < 5.0 * std / math.sqrt(n)
    inside_one_std = np.mean(np.abs(w) < std)
    if kind == "normal":
        assert inside_one_std == pytest.approx(math.erf(1 / math.sqrt(2)), abs=0.01)  # 0.683
    else:
        assert np.max(np.abs(w)) <= scale and np.max(np.abs(w)) > 0.999 * scale
        assert inside_one_std == pytest.approx(1 / math.sqrt(3.0), abs=0.01)  # 0.577


@pytest.mark.parametrize("name", list(FORMULAS))
def test_dtype_is_exact_and_seeded_draws_agree_across_dtypes(name):
    fn = getattr(init, name)
    w32 = fn(np.random.default_rng(3), (5, 4))
    w64 = fn(np.random.default_rng(3), (5, 4), dtype=np.float64)
    assert w32.dtype == np.float32 and w64.dtype == np.float64
    assert w32.shape == w64.shape == (5, 4)
    np.testing.assert_array_equal(w32, w64.astype(np.float32))
    np.testing.assert_array_equal(fn(np.random.default_rng(3), (5, 4)), w32)
    assert not np.array_equal(fn(np.random.default_rng(4), (5, 4)), w32)


def test_zeros():
    z = init.zeros((3, 2))
    assert z.dtype == np.float32 and z.shape == (3, 2) and not z.any()
    assert init.zeros(4, dtype=np.float64).dtype == np.float64
    assert init.zeros((0, 3)).shape == (0, 3)


@pytest.mark.parametrize("name", list(FORMULAS) + ["zeros", "glorot_uniform", "glorot_normal"])
def test_get_initializer_returns_common_signature(name):
    fn = init.get_initializer(name)
    w = fn(np.random.default_rng(1), (6, 3), dtype=np.float64)
    assert w.shape == (6, 3) and w.dtype == np.float64
    if name in FORMULAS:
        np.testing.assert_array_equal(w, getattr(init, name)(np.random.default_rng(1), (6, 3), dtype=np.float64))
    if name == "zeros":
        assert not w.any()


def test_glorot_names_are_xavier():
    assert init.get_initializer("glorot_uniform") is init.xavier_uniform
    assert init.get_initializer("glorot_normal") is init.xavier_normal


def test_get_initializer_rejects_unknown_name_listing_valid_ones():
    with pytest.raises(ValueError, match=r"initializer 'kaiming' is unknown; expected one of \[.*'he_normal'.*'zeros'\]"):
        init.get_initializer("kaiming")


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: init.he_normal(0, (3, 2)), r"rng has type int; expected a numpy\.random\.Generator"),
        (lambda: init.he_normal(np.random.RandomState(0), (3, 2)), r"rng has type RandomState; expected"),
        (lambda: init.xavier_uniform(np.random.default_rng(0), (3, 2), dtype=np.float16), r"dtype is .*; expected float32 or float64"),
        (lambda: init.zeros((3,), dtype=np.int64), r"dtype is .*; expected float32 or float64"),
        (lambda: init.lecun_normal(np.random.default_rng(0), (3, 0)), r"shape is \(3, 0\); expected a tuple of integers >= 1"),
        (lambda: init.zeros((3, -1)), r"shape is \(3, -1\); expected a tuple of integers >= 0"),
    ],
)
def test_initializers_reject_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
