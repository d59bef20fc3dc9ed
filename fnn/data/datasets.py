"""Finding, downloading and loading MNIST and Fashion-MNIST.

Where the files are looked for, in order:

1. the ``directory`` argument, else the ``FNN_DATA`` environment variable,
   else ``$XDG_CACHE_HOME/fnn`` (``~/.cache/fnn``): the *data root*;
2. inside the root, ``<root>/<kind>/`` (the layout of a shared data folder:
   ``<root>/mnist/train-images-idx3-ubyte.gz``), then ``<root>/`` itself, so
   pointing ``directory`` straight at a ``mnist/`` folder works too.

``download=True`` fetches missing files from a public mirror, checks each
against its published SHA-256, and writes it atomically (temporary file in
the same folder, then ``os.replace``) so an interrupted download never leaves
a half-written file that a later run would trust.
"""
import hashlib
import http.client
import os
import urllib.error
import urllib.request

from .._atomic import write_atomically
from .idx import read_idx, read_idx_header

__all__ = ["load_mnist", "find_dataset", "default_data_root", "fetch_url", "DATASET_KINDS", "CLASS_NAMES",
           "MNIST_FILES"]

DATASET_KINDS = ("mnist", "fashion-mnist")
CLASS_NAMES = {
    "mnist": tuple(str(digit) for digit in range(10)),
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
}
"""Label i of each dataset kind names CLASS_NAMES[kind][i]."""

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
MNIST_FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

IMAGE_MAGIC = 2051  # 0x00000803: ubyte, 3 dims
LABEL_MAGIC = 2049  # 0x00000801: ubyte, 1 dim
IMAGE_SIZE = (28, 28)
NUM_CLASSES = 10

MIRRORS = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}

# The published gzip files, byte for byte (shared/data/README.md lists the same sums).
SHA256 = {
    "mnist": {
        TRAIN_IMAGES: "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        TRAIN_LABELS: "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        TEST_IMAGES: "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        TEST_LABELS: "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "fashion-mnist": {
        TRAIN_IMAGES: "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        TRAIN_LABELS: "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        TEST_IMAGES: "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        TEST_LABELS: "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
}

DOWNLOAD_TIMEOUT_SECONDS = 60


def default_data_root():
    """(root, where it came from): ``FNN_DATA`` if set, else the per-user cache folder."""
    env = os.environ.get("FNN_DATA")
    if env:
        return env, "the FNN_DATA environment variable"
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "fnn"), "the default cache folder (FNN_DATA is not set)"


def _check_kind(kind):
    if kind not in DATASET_KINDS:
        raise ValueError(f"kind is {kind!r}; expected one of {DATASET_KINDS}")


def _candidate_dirs(root, kind):
    return [os.path.join(root, kind), root]


def find_dataset(root, kind="mnist"):
    """The folder under ``root`` holding all four files of ``kind``, or None."""
    _check_kind(kind)
    for folder in _candidate_dirs(root, kind):
        if all(os.path.isfile(os.path.join(folder, name)) for name in MNIST_FILES):
            return folder
    return None


def _download_target(root, kind):
    """Where downloads go: ``root`` itself when it is already the dataset folder, else ``root/kind``."""
    if os.path.basename(os.path.normpath(root)) == kind:
        return root
    return os.path.join(root, kind)


def _missing_message(root, source, kind):
    looked = []
    for folder in _candidate_dirs(root, kind):
        missing = [n for n in MNIST_FILES if not os.path.isfile(os.path.join(folder, n))]
        looked.append(f"  {folder}  (missing: {', '.join(missing)})")
    files = "\n".join(f"    {name}" for name in MNIST_FILES)
    return (
        f"{kind} files not found under {root} (from {source}). Looked in:\n"
        + "\n".join(looked)
        + f"\nTo get the data, either\n"
        f"  * set FNN_DATA to a folder holding {kind}/ with these four files (or pass directory=...):\n"
        f"{files}\n"
        f"  * or pass download=True to fetch them from {MIRRORS[kind]} into {_download_target(root, kind)}"
    )


def fetch_url(url, *, timeout=DOWNLOAD_TIMEOUT_SECONDS):
    """The body of ``url`` as bytes (the one network call; tests replace it)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def _download(kind, name, folder):
    url = MIRRORS[kind] + name
    dest = os.path.join(folder, name)
    try:
        data = fetch_url(url)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
        raise ConnectionError(
            f"could not download {url}: {e}. Check the network connection (and any proxy), "
            f"or fetch the file by hand and put it at {dest}"
        ) from e
    expected = SHA256[kind][name]
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ValueError(
            f"download of {url} ({len(data)} bytes) has sha256 {actual}; expected {expected}. "
            f"The transfer was corrupted or the mirror changed; nothing was written to {dest}"
        )
    write_atomically(dest, lambda f: f.write(data))


def _check_pair(images_path, labels_path):
    """Validate headers before reading 47 MB of pixels: magic numbers, 28x28, matching counts."""
    image_magic, image_dims = read_idx_header(images_path)
    label_magic, label_dims = read_idx_header(labels_path)
    if image_magic != IMAGE_MAGIC:
        raise ValueError(f"{images_path}: magic number {image_magic}; expected {IMAGE_MAGIC} (ubyte images, 3 dims)")
    if label_magic != LABEL_MAGIC:
        raise ValueError(f"{labels_path}: magic number {label_magic}; expected {LABEL_MAGIC} (ubyte labels, 1 dim)")
    if tuple(image_dims[1:]) != IMAGE_SIZE:
        raise ValueError(f"{images_path}: images have shape {tuple(image_dims)}; expected (N, 28, 28)")
    if image_dims[0] != label_dims[0]:
        raise ValueError(
            f"{images_path} holds {image_dims[0]} images but {labels_path} holds {label_dims[0]} labels; "
            f"expected the same count"
        )


def _load_split(folder, images_name, labels_name):
    images_path = os.path.join(folder, images_name)
    labels_path = os.path.join(folder, labels_name)
    _check_pair(images_path, labels_path)
    x = read_idx(images_path)
    y = read_idx(labels_path)
    if y.size and y.max() >= NUM_CLASSES:
        raise ValueError(f"{labels_path}: label {int(y.max())} found; expected labels 0..{NUM_CLASSES - 1}")
    return x, y


def load_mnist(directory=None, *, kind="mnist", download=False):
    """((x_train (N, 28, 28), y_train (N,)), (x_test, y_test)), all uint8, as in Keras.

    ``kind`` is ``"mnist"`` or ``"fashion-mnist"``. Pixels are 0..255 with 0
    the background; labels are 0..9. Convert with
    ``x.astype(np.float32) / 255`` before training.

    Missing files raise ``FileNotFoundError`` saying where it looked and how
    to get the data, unless ``download=True``.
    """
    _check_kind(kind)
    if directory is not None:
        root, source = os.fspath(directory), "the directory argument"
    else:
        root, source = default_data_root()
    folder = find_dataset(root, kind)
    if folder is None:
        if not download:
            raise FileNotFoundError(_missing_message(root, source, kind))
        folder = _download_target(root, kind)
        os.makedirs(folder, exist_ok=True)
        for name in MNIST_FILES:
            if not os.path.isfile(os.path.join(folder, name)):
                _download(kind, name, folder)
    train = _load_split(folder, TRAIN_IMAGES, TRAIN_LABELS)
    test = _load_split(folder, TEST_IMAGES, TEST_LABELS)
    return train, test
