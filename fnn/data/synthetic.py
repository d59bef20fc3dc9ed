"""Small generated datasets for offline demos, plus a numpy-only CSV round trip.

* :func:`make_spiral` - interleaved 2-D spirals (cs231n's classic), a
  classification problem no linear model solves.
* :func:`make_gates` - truth tables of logic gates; XOR is the smallest
  problem that needs a hidden layer.
* :func:`make_houses` - house prices from a known linear model plus noise, so
  a regression demo can compare learned weights with the true ones.
"""
import numbers
import os

import numpy as np

from .._validate import describe

__all__ = [
    "make_spiral", "make_gates", "make_houses", "write_csv", "read_csv",
    "GATES", "HOUSE_FEATURES", "HOUSE_TRUE_COEFFICIENTS",
]


def _require_generator(rng):
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng is {type(rng).__name__}; expected a numpy Generator, e.g. np.random.default_rng(0)")


def _require_count(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} is {value!r}; expected an integer >= {minimum}")
    return int(value)


def _require_noise(noise):
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or not noise >= 0:
        raise ValueError(f"noise is {noise!r}; expected a number >= 0")
    return float(noise)


def make_spiral(rng, *, n_per_class=100, classes=3, noise=0.2, dtype=np.float32):
    """x (N, 2), y (N,) int64 with N = n_per_class * classes.

    Class k is an arm of radius r = 0..1 whose angle sweeps 4 radians starting
    at 4k; Gaussian noise of std ``noise`` is added to the angle only, so
    every point keeps |x| = r exactly. Examples come grouped by class
    (shuffle when batching).
    """
    _require_generator(rng)
    n_per_class = _require_count("n_per_class", n_per_class, 1)
    classes = _require_count("classes", classes, 1)
    noise = _require_noise(noise)
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ValueError(f"dtype is {np.dtype(dtype)}; expected float32 or float64")
    radius = np.tile(np.linspace(0.0, 1.0, n_per_class), classes)
    start = 4.0 * np.repeat(np.arange(classes), n_per_class)
    sweep = np.tile(np.linspace(0.0, 4.0, n_per_class), classes)
    angle = start + sweep + noise * rng.standard_normal(n_per_class * classes)
    x = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1).astype(dtype)
    y = np.repeat(np.arange(classes, dtype=np.int64), n_per_class)
    return x, y


GATES = {
    "AND": (0, 0, 0, 1),
    "OR": (0, 1, 1, 1),
    "XOR": (0, 1, 1, 0),
    "NAND": (1, 1, 1, 0),
}


def make_gates(name, *, dtype=np.float32):
    """x (4, 2) all input pairs (0,0), (0,1), (1,0), (1,1) in ``dtype``; y (4,) int64 gate outputs."""
    key = name.upper() if isinstance(name, str) else name
    if key not in GATES:
        raise ValueError(f"name is {name!r}; expected one of {sorted(GATES)}")
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=dtype)
    y = np.array(GATES[key], dtype=np.int64)
    return x, y


HOUSE_FEATURES = ("size_m2", "bedrooms", "age_years")

# price (thousands) = intercept + sum(coefficient * feature) + noise
HOUSE_TRUE_COEFFICIENTS = {
    "intercept": 50.0,
    "size_m2": 3.0,     # thousands per square metre
    "bedrooms": 10.0,   # thousands per bedroom, on top of the size
    "age_years": -1.0,  # thousands lost per year of age
}


def make_houses(rng, *, n=200, noise=20.0, dtype=np.float64):
    """x (N, 3) columns ``HOUSE_FEATURES``, y (N,) price in thousands, feature names.

    Features: size_m2 uniform in [40, 200), bedrooms an integer 1..5,
    age_years uniform in [0, 60). The price is exactly
    ``intercept + 3.0 * size_m2 + 10.0 * bedrooms - 1.0 * age_years`` (see
    ``HOUSE_TRUE_COEFFICIENTS``) plus Gaussian noise of std ``noise``
    thousands, so least squares recovers the coefficients up to the noise.
    The features have very different scales: standardise before gradient
    descent.
    """
    _require_generator(rng)
    n = _require_count("n", n, 1)
    noise = _require_noise(noise)
    size = rng.uniform(40.0, 200.0, n)
    bedrooms = rng.integers(1, 6, n).astype(np.float64)
    age = rng.uniform(0.0, 60.0, n)
    x = np.stack([size, bedrooms, age], axis=1)
    c = HOUSE_TRUE_COEFFICIENTS
    weights = np.array([c[name] for name in HOUSE_FEATURES])
    y = c["intercept"] + x @ weights + noise * rng.standard_normal(n)
    return x.astype(dtype), y.astype(dtype), list(HOUSE_FEATURES)


def write_csv(path, x, y, header):
    """Write x (N, D) and target y (N,) as CSV with ``header`` (D + 1 names, target last).

    Numbers are written with 17 significant digits, so float64 values read
    back bit for bit.
    """
    if not isinstance(x, np.ndarray) or x.ndim != 2 or x.dtype.kind not in "iuf":
        raise ValueError(f"x has {describe(x)}; expected a numeric (N, D) numpy array")
    n, d = x.shape
    if not isinstance(y, np.ndarray) or y.shape != (n,) or y.dtype.kind not in "iuf":
        raise ValueError(f"y has {describe(y)}; expected a numeric (N,) = ({n},) numpy array")
    header = list(header)
    if len(header) != d + 1:
        raise ValueError(f"header has {len(header)} names; expected D + 1 = {d + 1} (features, then the target)")
    for name in header:
        if not isinstance(name, str) or not name or any(ch in name for ch in ',\n\r"'):
            raise ValueError(
                f"header name {name!r} is not a plain CSV field; expected a non-empty string without , \" or newlines"
            )
    data = np.column_stack([x.astype(np.float64), y.astype(np.float64)])
    with open(os.fspath(path), "w", newline="\n") as f:
        f.write(",".join(header) + "\n")
        np.savetxt(f, data, delimiter=",", fmt="%.17g")


def read_csv(path):
    """CSV with a header row -> (x (N, D) float64, y (N,) float64, header list); last column is the target."""
    path = os.fspath(path)
    with open(path) as f:
        first = f.readline().rstrip("\r\n")
        if not first:
            raise ValueError(f"{path}: empty file; expected a header row then numeric rows")
        header = first.split(",")
        if len(header) < 2:
            raise ValueError(f"{path}: header {header} has {len(header)} column; expected features then a target")
        try:
            data = np.loadtxt(f, delimiter=",", dtype=np.float64, ndmin=2)
        except ValueError as e:
            raise ValueError(f"{path}: could not parse numeric rows ({e})") from e
    if data.size == 0:
        data = np.empty((0, len(header)))
    if data.shape[1] != len(header):
        raise ValueError(f"{path}: rows have {data.shape[1]} columns; expected {len(header)} to match the header")
    return data[:, :-1].copy(), data[:, -1].copy(), header
