import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fnn.data import minibatches, one_hot, standardize, standardize_fit, train_val_split


def indexed_arrays(n):
    """x rows and y entries that both encode their original index, to check alignment."""
    x = np.repeat(np.arange(n, dtype=np.float64)[:, None], 3, axis=1)
    y = np.arange(n) * 10
    return x, y


@given(
    n=st.integers(1, 60),
    batch_size=st.integers(1, 70),
    shuffle=st.booleans(),
    drop_last=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_minibatches_cover_each_index_once_and_stay_aligned(n, batch_size, shuffle, drop_last, seed):
    x, y = indexed_arrays(n)
    batches = list(minibatches(np.random.default_rng(seed), x, y, batch_size=batch_size,
                               shuffle=shuffle, drop_last=drop_last))
    seen = np.concatenate([xb[:, 0] for xb, _ in batches]).astype(int) if batches else np.array([], int)
    for xb, yb in batches:
        np.testing.assert_array_equal(yb, xb[:, 0] * 10)  # y travels with its x row
        assert np.all(xb == xb[:, :1])
    sizes = [len(yb) for _, yb in batches]
    if drop_last:
        assert sizes == [batch_size] * (n // batch_size)
        assert len(np.unique(seen)) == len(seen)  # a random subset, but no repeats
    else:
        assert sorted(seen.tolist()) == list(range(n))
        assert sizes[:-1] == [batch_size] * (len(sizes) - 1) and 1 <= sizes[-1] <= batch_size
    if not shuffle:
        assert seen.tolist() == list(range(len(seen)))


def test_minibatches_are_deterministic_per_seed_and_reshuffled_per_call():
    x, y = indexed_arrays(50)
    def order(rng):
        return np.concatenate([yb for _, yb in minibatches(rng, x, y, batch_size=7)])
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    first_a, first_b = order(a), order(b)
    np.testing.assert_array_equal(first_a, first_b)
    second_a = order(a)
    assert not np.array_equal(first_a, second_a)  # fresh permutation each epoch
    np.testing.assert_array_equal(np.sort(second_a), np.sort(first_a))


def test_minibatches_accept_no_rng_without_shuffle():
    x, y = indexed_arrays(5)
    batches = list(minibatches(None, x, y, batch_size=2, shuffle=False))
    assert [b[1].tolist() for b in batches] == [[0, 10], [20, 30], [40]]


@pytest.mark.parametrize(
    "arrays, kwargs, match",
    [
        ((np.zeros((5, 2)), np.zeros(4)), {"batch_size": 2}, r"arrays\[1\] has shape \(4,\); expected first axis N = 5 to match arrays\[0\] \(5, 2\)"),
        ((np.zeros(5),), {"batch_size": 0}, r"batch_size is 0; expected a positive integer"),
        ((np.zeros(5),), {"batch_size": 2.0}, r"batch_size is 2\.0; expected a positive integer"),
        ((), {"batch_size": 2}, r"arrays is empty"),
        ((np.float64(1.0),), {"batch_size": 2}, r"arrays\[0\] has type float64; expected a numpy array"),
    ],
)
def test_minibatches_reject_bad_arguments_before_iterating(arrays, kwargs, match):
    with pytest.raises(ValueError, match=match):
        minibatches(np.random.default_rng(0), *arrays, **kwargs)  # no next(): errors are eager


def test_minibatches_need_a_generator_to_shuffle():
    with pytest.raises(ValueError, match=r"rng is int; expected a numpy Generator"):
        minibatches(0, np.zeros(3), batch_size=2)


@given(n=st.integers(2, 80), fraction=st.floats(0.05, 0.95), seed=st.integers(0, 2**31 - 1))
def test_train_val_split_partitions_aligned_examples(n, fraction, seed):
    x, y = indexed_arrays(n)
    n_val = int(round(n * fraction))
    if not 1 <= n_val <= n - 1:
        with pytest.raises(ValueError, match=r"expected both parts non-empty"):
            train_val_split(np.random.default_rng(seed), x, y, val_fraction=fraction)
        return
    (x_tr, y_tr), (x_val, y_val) = train_val_split(np.random.default_rng(seed), x, y, val_fraction=fraction)
    assert len(y_val) == n_val and len(y_tr) == n - n_val
    np.testing.assert_array_equal(y_tr, x_tr[:, 0] * 10)
    np.testing.assert_array_equal(y_val, x_val[:, 0] * 10)
    assert sorted(np.concatenate([y_tr, y_val]).tolist()) == y.tolist()


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.1, True])
def test_train_val_split_rejects_bad_fraction(fraction):
    with pytest.raises(ValueError, match=r"val_fraction is .*; expected a number in \(0, 1\)"):
        train_val_split(np.random.default_rng(0), np.zeros(10), val_fraction=fraction)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_standardize_gives_zero_mean_unit_std_and_keeps_dtype(dtype):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((500, 4)) * [1.0, 10.0, 0.1, 3.0] + [5.0, -2.0, 0.0, 100.0]).astype(dtype)
    x_before = x.copy()
    mean, std = standardize_fit(x)
    z = standardize(x, mean, std)
    assert mean.shape == std.shape == (1, 4)
    assert mean.dtype == std.dtype == z.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(z.mean(axis=0, dtype=np.float64), 0.0, atol=tol)
    np.testing.assert_allclose(z.std(axis=0, dtype=np.float64), 1.0, atol=tol)
    np.testing.assert_array_equal(x, x_before)


def test_standardize_maps_constant_features_to_zero():
    x = np.array([[0.0, 1.0], [0.0, 3.0]], dtype=np.float32)
    mean, std = standardize_fit(x)
    z = standardize(x, mean, std)
    np.testing.assert_array_equal(z, [[0.0, -1.0], [0.0, 1.0]])


def test_standardize_fit_per_channel_statistics_broadcast_over_nchw():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 3, 4, 5)) * np.array([1.0, 2.0, 3.0])[None, :, None, None]
    mean, std = standardize_fit(x, axis=(0, 2, 3))
    assert mean.shape == (1, 3, 1, 1)
    z = standardize(x, mean, std)
    np.testing.assert_allclose(z.std(axis=(0, 2, 3)), 1.0, atol=1e-12)


def test_standardize_rejects_mismatched_statistics():
    x = np.zeros((4, 3), np.float32)
    mean, std = standardize_fit(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"mean has dtype float64; expected float32 to match x"):
        standardize(x, mean, std)
    with pytest.raises(ValueError, match=r"mean \(1, 2\) and std \(1, 2\) do not broadcast against x \(4, 3\)"):
        standardize(x, np.zeros((1, 2), np.float32), np.ones((1, 2), np.float32))
    with pytest.raises(ValueError, match=r"x has shape \(4, 3\) and dtype uint8; expected a float32 or float64"):
        standardize_fit(np.zeros((4, 3), np.uint8))


def test_one_hot_hand_case_and_dtype():
    out = one_hot(np.array([2, 0, 1]), 4, dtype=np.float64)
    np.testing.assert_array_equal(out, [[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0]])
    assert out.dtype == np.float64
    assert one_hot(np.array([1], np.uint8), 2).dtype == np.float32


@given(shape=st.lists(st.integers(0, 4), max_size=3), num_classes=st.integers(1, 6), seed=st.integers(0, 2**31 - 1))
def test_one_hot_inverts_argmax(shape, num_classes, seed):
    labels = np.random.default_rng(seed).integers(0, num_classes, size=shape)
    out = one_hot(labels, num_classes)
    assert out.shape == tuple(shape) + (num_classes,)
    assert np.all(out.sum(axis=-1) == 1)
    if labels.size:
        np.testing.assert_array_equal(out.argmax(axis=-1), labels)


@pytest.mark.parametrize(
    "labels, num_classes, match",
    [
        (np.array([0, 3]), 3, r"labels holds 3; expected every label in \[0, 3\)"),
        (np.array([-1, 0]), 3, r"labels holds -1; expected every label in \[0, 3\)"),
        (np.array([0.0, 1.0]), 3, r"labels has shape \(2,\) and dtype float64; expected an integer"),
        (np.array([0, 1]), 0, r"num_classes is 0; expected a positive integer"),
    ],
)
def test_one_hot_rejects_bad_labels(labels, num_classes, match):
    with pytest.raises(ValueError, match=match):
        one_hot(labels, num_classes)
