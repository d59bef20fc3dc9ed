import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fnn.data import (
    HOUSE_FEATURES,
    HOUSE_TRUE_COEFFICIENTS,
    make_gates,
    make_houses,
    make_spiral,
    read_csv,
    write_csv,
)


@given(
    n_per_class=st.integers(1, 40),
    classes=st.integers(1, 5),
    noise=st.floats(0.0, 1.0),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**31 - 1),
)
def test_spiral_shapes_labels_and_radius(n_per_class, classes, noise, dtype, seed):
    x, y = make_spiral(np.random.default_rng(seed), n_per_class=n_per_class, classes=classes, noise=noise, dtype=dtype)
    assert x.shape == (n_per_class * classes, 2) and x.dtype == dtype
    assert y.shape == (n_per_class * classes,) and y.dtype == np.int64
    assert np.bincount(y, minlength=classes).tolist() == [n_per_class] * classes
    # Noise moves points along the angle only, so each arm's radii stay 0..1 evenly spaced.
    radius = np.hypot(x[:, 0].astype(np.float64), x[:, 1].astype(np.float64))
    expected = np.tile(np.linspace(0.0, 1.0, n_per_class), classes)
    np.testing.assert_allclose(radius, expected, atol=1e-6 if dtype == np.float32 else 1e-12)


def test_spiral_is_seeded_and_noise_free_arms_are_rotations():
    a = make_spiral(np.random.default_rng(1), noise=0.3)[0]
    b = make_spiral(np.random.default_rng(1), noise=0.3)[0]
    c = make_spiral(np.random.default_rng(2), noise=0.3)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    x, _ = make_spiral(np.random.default_rng(0), n_per_class=10, classes=2, noise=0.0, dtype=np.float64)
    # Without noise, arm 1 is arm 0 rotated by 4 radians (angle measured from the y axis).
    angle0 = np.arctan2(x[:10, 0], x[:10, 1])
    angle1 = np.arctan2(x[10:, 0], x[10:, 1])
    np.testing.assert_allclose(np.angle(np.exp(1j * (angle1 - angle0)))[1:], np.angle(np.exp(4j)), atol=1e-12)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_per_class": 0}, r"n_per_class is 0; expected an integer >= 1"),
        ({"classes": 2.5}, r"classes is 2\.5; expected an integer >= 1"),
        ({"noise": -1.0}, r"noise is -1\.0; expected a number >= 0"),
        ({"dtype": np.int32}, r"dtype is int32; expected float32 or float64"),
    ],
)
def test_spiral_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_spiral(np.random.default_rng(0), **kwargs)


@pytest.mark.parametrize(
    "name, rule",
    [
        ("AND", lambda a, b: a & b),
        ("OR", lambda a, b: a | b),
        ("XOR", lambda a, b: a ^ b),
        ("NAND", lambda a, b: 1 - (a & b)),
        ("xor", lambda a, b: a ^ b),
    ],
)
def test_gates_follow_their_truth_tables(name, rule):
    x, y = make_gates(name)
    assert x.shape == (4, 2) and x.dtype == np.float32 and y.dtype == np.int64
    bits = x.astype(int)
    assert sorted(map(tuple, bits.tolist())) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    np.testing.assert_array_equal(y, rule(bits[:, 0], bits[:, 1]))


def test_gates_reject_unknown_name():
    with pytest.raises(ValueError, match=r"name is 'NOR'; expected one of \['AND', 'NAND', 'OR', 'XOR'\]"):
        make_gates("NOR")


def true_coefficient_vector():
    c = HOUSE_TRUE_COEFFICIENTS
    return np.array([c["intercept"]] + [c[name] for name in HOUSE_FEATURES])


def least_squares(x, y):
    design = np.column_stack([np.ones(len(x)), x])
    return np.linalg.lstsq(design, y, rcond=None)[0]


def test_houses_without_noise_are_exactly_the_documented_linear_model():
    x, y, names = make_houses(np.random.default_rng(0), n=50, noise=0.0)
    assert names == list(HOUSE_FEATURES) == ["size_m2", "bedrooms", "age_years"]
    assert x.shape == (50, 3) and y.shape == (50,) and x.dtype == y.dtype == np.float64
    np.testing.assert_allclose(least_squares(x, y), true_coefficient_vector(), rtol=1e-9, atol=1e-8)


def test_houses_least_squares_recovers_coefficients_within_noise():
    noise, n = 20.0, 4000
    x, y, _ = make_houses(np.random.default_rng(1), n=n, noise=noise)
    size, bedrooms, age = x.T
    assert 40 <= size.min() and size.max() < 200 and 0 <= age.min() and age.max() < 60
    assert set(np.unique(bedrooms).tolist()) == {1.0, 2.0, 3.0, 4.0, 5.0}
    fitted = least_squares(x, y)
    # Standard error of each slope is about noise / (std(feature) * sqrt(n)); allow 6 of them.
    slope_tolerance = 6 * noise / (x.std(axis=0) * np.sqrt(n))
    np.testing.assert_array_less(np.abs(fitted[1:] - true_coefficient_vector()[1:]), slope_tolerance)
    residual = y - np.column_stack([np.ones(n), x]) @ true_coefficient_vector()
    assert abs(residual.std() - noise) < 0.05 * noise


def test_houses_float32_option():
    x, y, _ = make_houses(np.random.default_rng(0), n=5, dtype=np.float32)
    assert x.dtype == y.dtype == np.float32


def test_csv_round_trips_float64_exactly(tmp_path):
    x, y, names = make_houses(np.random.default_rng(2), n=30)
    path = tmp_path / "houses.csv"
    write_csv(path, x, y, names + ["price_k"])
    x2, y2, header = read_csv(path)
    assert header == ["size_m2", "bedrooms", "age_years", "price_k"]
    assert x2.dtype == y2.dtype == np.float64
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(y2, y)
    assert path.read_text().splitlines()[0] == "size_m2,bedrooms,age_years,price_k"


def test_csv_reads_a_single_row(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("a,b,target\n1,2,3\n")
    x, y, header = read_csv(path)
    assert x.shape == (1, 2) and y.tolist() == [3.0] and header == ["a", "b", "target"]


def test_write_csv_rejects_bad_header_and_shapes(tmp_path):
    x, y = np.zeros((3, 2)), np.zeros(3)
    with pytest.raises(ValueError, match=r"header has 2 names; expected D \+ 1 = 3"):
        write_csv(tmp_path / "a.csv", x, y, ["a", "b"])
    with pytest.raises(ValueError, match=r"header name 'a,b' is not a plain CSV field"):
        write_csv(tmp_path / "a.csv", x, y, ["a,b", "c", "t"])
    with pytest.raises(ValueError, match=r"y has shape \(2,\) and dtype float64; expected a numeric \(N,\) = \(3,\)"):
        write_csv(tmp_path / "a.csv", x, np.zeros(2), ["a", "b", "t"])


def test_read_csv_rejects_ragged_columns(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b,target\n1,2\n3,4\n")
    with pytest.raises(ValueError, match=r"rows have 2 columns; expected 3 to match the header"):
        read_csv(path)
