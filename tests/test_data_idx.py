import gzip
import hashlib
import os
import struct
import tempfile
import urllib.error

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fnn.data import datasets, load_mnist, read_idx
from fnn.data.datasets import MNIST_FILES, SHA256

REAL_DATA = os.environ.get("FNN_DATA")
needs_real_data = pytest.mark.skipif(
    not REAL_DATA, reason="FNN_DATA is not set; point it at a folder holding mnist/ (e.g. /work/shared/data)"
)


def idx_bytes(array, *, type_code=0x08, prefix=b"\x00\x00"):
    """The IDX encoding of a uint8 array: written independently of the reader under test."""
    header = prefix + bytes([type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write(path, data, *, compress=False):
    with open(path, "wb") as f:
        f.write(gzip.compress(data) if compress else data)
    return path


@given(
    shape=st.lists(st.integers(0, 5), min_size=1, max_size=4),
    compress=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_read_idx_round_trips_any_shape(shape, compress, seed):
    array = np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)
    with tempfile.TemporaryDirectory() as folder:
        out = read_idx(write(os.path.join(folder, "a.idx"), idx_bytes(array), compress=compress))
    assert out.dtype == np.uint8
    assert out.shape == tuple(shape)
    np.testing.assert_array_equal(out, array)


def test_gzip_is_detected_by_content_not_name(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    raw_named_gz = write(tmp_path / "raw.gz", idx_bytes(array))
    gz_named_raw = write(tmp_path / "compressed.idx", idx_bytes(array), compress=True)
    np.testing.assert_array_equal(read_idx(raw_named_gz), array)
    np.testing.assert_array_equal(read_idx(gz_named_raw), array)


def test_read_idx_returns_a_writable_array(tmp_path):
    out = read_idx(write(tmp_path / "a", idx_bytes(np.zeros((2, 3), np.uint8)), compress=True))
    out += 1  # normalising in place must work (np.frombuffer over bytes would be read-only)
    assert out.flags.writeable and out.sum() == 6


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda b: b"\x01" + b[1:], r"bad IDX magic number 0x01000803"),
        (lambda b: b[:2] + b"\x0d" + b[3:], r"type code 0x0d \(float \(float32\)\) is not supported; expected 0x08"),
        (lambda b: b[:2] + b"\x42" + b[3:], r"type code 0x42 \(unknown\)"),
        (lambda b: b[:-4], r"payload truncated: header \(2, 3, 4\) needs 24 bytes, found 20"),
        (lambda b: b + b"abc", r"trailing bytes: header \(2, 3, 4\) needs 24 bytes, found 27"),
        (lambda b: b[:10], r"header truncated: 3 dimension sizes need 12 bytes, found 6"),
        (lambda b: b[:3], r"header truncated: file holds 3 bytes; expected at least 4"),
    ],
)
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_rejects_malformed_files(tmp_path, mutate, match, compress):
    good = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    path = write(tmp_path / "bad.idx", mutate(good), compress=compress)
    with pytest.raises(ValueError, match=match) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_rejects_truncated_and_corrupt_gzip(tmp_path):
    compressed = gzip.compress(idx_bytes(np.arange(200, dtype=np.uint8).reshape(10, 20)))
    truncated = write(tmp_path / "truncated.gz", compressed[: len(compressed) // 2])
    with pytest.raises(ValueError, match=r"truncated\.gz: corrupt gzip stream"):
        read_idx(truncated)
    flipped = bytearray(compressed)
    flipped[-6] ^= 0xFF  # inside the CRC32 trailer
    corrupt = write(tmp_path / "corrupt.gz", bytes(flipped))
    with pytest.raises(ValueError, match=r"corrupt\.gz: corrupt gzip stream"):
        read_idx(corrupt)


# --- load_mnist on small fake datasets -------------------------------------------------------------

def fake_split(rng, n):
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), rng.integers(0, 10, size=n, dtype=np.uint8)


def fake_dataset_bytes(seed=0, n_train=5, n_test=3):
    rng = np.random.default_rng(seed)
    (xtr, ytr), (xte, yte) = fake_split(rng, n_train), fake_split(rng, n_test)
    arrays = dict(zip(MNIST_FILES, (xtr, ytr, xte, yte)))
    blobs = {name: gzip.compress(idx_bytes(a)) for name, a in arrays.items()}
    return blobs, ((xtr, ytr), (xte, yte))


def write_dataset(folder, blobs):
    os.makedirs(folder, exist_ok=True)
    for name, data in blobs.items():
        write(os.path.join(folder, name), data)


def assert_same_dataset(got, expected):
    for got_split, expected_split in zip(got, expected):
        for g, e in zip(got_split, expected_split):
            assert g.dtype == np.uint8
            np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("kind", ["mnist", "fashion-mnist"])
def test_load_mnist_finds_root_layout_dataset_folder_and_env(tmp_path, monkeypatch, kind):
    blobs, expected = fake_dataset_bytes()
    write_dataset(tmp_path / kind, blobs)
    assert_same_dataset(load_mnist(tmp_path, kind=kind), expected)
    assert_same_dataset(load_mnist(tmp_path / kind, kind=kind), expected)
    monkeypatch.setenv("FNN_DATA", str(tmp_path))
    assert_same_dataset(load_mnist(kind=kind), expected)


def test_load_mnist_rejects_unknown_kind(tmp_path):
    with pytest.raises(ValueError, match=r"kind is 'emnist'; expected one of \('mnist', 'fashion-mnist'\)"):
        load_mnist(tmp_path, kind="emnist")


def test_load_mnist_rejects_count_mismatch(tmp_path):
    blobs, _ = fake_dataset_bytes()
    blobs["train-labels-idx1-ubyte.gz"] = gzip.compress(idx_bytes(np.zeros(4, np.uint8)))
    write_dataset(tmp_path / "mnist", blobs)
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz holds 5 images but .*train-labels-idx1-ubyte\.gz holds 4 labels"):
        load_mnist(tmp_path)


def test_load_mnist_rejects_wrong_image_size(tmp_path):
    blobs, _ = fake_dataset_bytes()
    blobs["t10k-images-idx3-ubyte.gz"] = gzip.compress(idx_bytes(np.zeros((3, 27, 28), np.uint8)))
    write_dataset(tmp_path / "mnist", blobs)
    with pytest.raises(ValueError, match=r"images have shape \(3, 27, 28\); expected \(N, 28, 28\)"):
        load_mnist(tmp_path)


def test_load_mnist_rejects_swapped_files_by_magic(tmp_path):
    blobs, _ = fake_dataset_bytes()
    blobs["train-labels-idx1-ubyte.gz"] = blobs["train-images-idx3-ubyte.gz"]
    write_dataset(tmp_path / "mnist", blobs)
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte\.gz: magic number 2051; expected 2049"):
        load_mnist(tmp_path)


def test_missing_data_error_says_where_it_looked_and_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.delenv("FNN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError) as info:
        load_mnist()
    message = str(info.value)
    assert str(tmp_path / "cache" / "fnn" / "mnist") in message
    assert "FNN_DATA" in message and "download=True" in message
    for name in MNIST_FILES:
        assert name in message
    assert datasets.MIRRORS["mnist"] in message


# --- download path, with the network call replaced ------------------------------------------------

def serve(blobs, requested):
    def fake_fetch(url, **kwargs):
        requested.append(url)
        return blobs[url.rsplit("/", 1)[1]]
    return fake_fetch


def test_download_fetches_verifies_and_writes_atomically(tmp_path, monkeypatch):
    blobs, expected = fake_dataset_bytes(seed=3)
    for name, data in blobs.items():
        monkeypatch.setitem(SHA256["fashion-mnist"], name, hashlib.sha256(data).hexdigest())
    requested = []
    monkeypatch.setattr(datasets, "fetch_url", serve(blobs, requested))
    assert_same_dataset(load_mnist(tmp_path, kind="fashion-mnist", download=True), expected)
    assert requested == [datasets.MIRRORS["fashion-mnist"] + name for name in MNIST_FILES]
    assert sorted(os.listdir(tmp_path / "fashion-mnist")) == sorted(MNIST_FILES)  # no temporaries left
    requested.clear()
    load_mnist(tmp_path, kind="fashion-mnist", download=True)
    assert requested == []  # present files are not fetched again


def test_download_rejects_checksum_mismatch_and_writes_nothing(tmp_path, monkeypatch):
    blobs, _ = fake_dataset_bytes()  # real checksums, fake bytes: every file mismatches
    monkeypatch.setattr(datasets, "fetch_url", serve(blobs, []))
    expected_sum = SHA256["mnist"]["train-images-idx3-ubyte.gz"]
    with pytest.raises(ValueError, match=rf"train-images-idx3-ubyte\.gz .* has sha256 [0-9a-f]{{64}}; expected {expected_sum}"):
        load_mnist(tmp_path, download=True)
    assert os.listdir(tmp_path / "mnist") == []


def test_download_reports_network_failure(tmp_path, monkeypatch):
    def offline(url, **kwargs):
        raise urllib.error.URLError("no route to host")
    monkeypatch.setattr(datasets, "fetch_url", offline)
    url = "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz"
    with pytest.raises(ConnectionError, match=rf"could not download {url}: .*no route to host.*network connection"):
        load_mnist(tmp_path, download=True)


# --- the real datasets (only when FNN_DATA points at them) ---------------------------------------

@needs_real_data
@pytest.mark.parametrize("kind", ["mnist", "fashion-mnist"])
def test_hard_coded_checksums_match_the_real_files(kind):
    folder = datasets.find_dataset(REAL_DATA, kind)
    assert folder is not None, f"{kind} not found under FNN_DATA={REAL_DATA}"
    for name in MNIST_FILES:
        with open(os.path.join(folder, name), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == SHA256[kind][name], name


@needs_real_data
def test_download_of_real_bytes_passes_the_hard_coded_checksums(tmp_path, monkeypatch):
    source = datasets.find_dataset(REAL_DATA, "mnist")
    def from_local_mirror(url, **kwargs):
        with open(os.path.join(source, url.rsplit("/", 1)[1]), "rb") as f:
            return f.read()
    monkeypatch.setattr(datasets, "fetch_url", from_local_mirror)
    (x_train, _), (x_test, _) = load_mnist(tmp_path / "cache", download=True)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)


MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@needs_real_data
@pytest.mark.slow
@pytest.mark.parametrize(
    "kind, train_counts, test_counts, train_mean",
    [
        ("mnist", MNIST_TRAIN_COUNTS, MNIST_TEST_COUNTS, 33.318),
        ("fashion-mnist", [6000] * 10, [1000] * 10, 72.940),
    ],
)
def test_real_dataset_matches_its_documented_facts(kind, train_counts, test_counts, train_mean):
    (x_train, y_train), (x_test, y_test) = load_mnist(kind=kind)
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert np.bincount(y_train, minlength=10).tolist() == train_counts
    assert np.bincount(y_test, minlength=10).tolist() == test_counts
    assert abs(x_train.mean(dtype=np.float64) - train_mean) < 5e-4
