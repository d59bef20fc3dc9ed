"""Datasets and the plumbing around them.

* :mod:`fnn.data.idx` - the IDX file format (MNIST's).
* :mod:`fnn.data.datasets` - find, download and load MNIST / Fashion-MNIST.
* :mod:`fnn.data.batching` - minibatches, splits, standardisation, one-hot.
* :mod:`fnn.data.synthetic` - generated datasets for offline demos, CSV I/O.
* :mod:`fnn.data.images` - grayscale image files, MNIST-style digit preprocessing, shifts, test pictures.
"""
from .batching import minibatches, one_hot, standardize, standardize_fit, train_val_split
from .datasets import CLASS_NAMES, DATASET_KINDS, MNIST_FILES, default_data_root, fetch_url, find_dataset, load_mnist
from .idx import read_idx, read_idx_header
from .images import (
    is_dark_on_light,
    make_bricks,
    make_shapes,
    random_shifts,
    read_image,
    resize_image,
    shift_images,
    to_mnist_input,
    write_image,
)
from .synthetic import (
    GATES,
    HOUSE_FEATURES,
    HOUSE_TRUE_COEFFICIENTS,
    make_gates,
    make_houses,
    make_spiral,
    read_csv,
    write_csv,
)

__all__ = [
    "read_idx", "read_idx_header",
    "load_mnist", "find_dataset", "default_data_root", "fetch_url", "DATASET_KINDS", "CLASS_NAMES", "MNIST_FILES",
    "minibatches", "train_val_split", "standardize_fit", "standardize", "one_hot",
    "make_spiral", "make_gates", "make_houses", "write_csv", "read_csv",
    "GATES", "HOUSE_FEATURES", "HOUSE_TRUE_COEFFICIENTS",
    "read_image", "write_image", "to_mnist_input", "is_dark_on_light", "resize_image",
    "shift_images", "random_shifts", "make_bricks", "make_shapes",
]
