"""Helpers shared by the example scripts: BLAS threads, output folders, argument types, plots.

Import this module before numpy (``import _common`` is the first project
import of every example; the examples run as scripts, so ``examples/`` is on
``sys.path``).
"""
import os

from fnn import runtime

# BLAS threads must be fixed before numpy loads (see fnn/runtime.py).
RUNTIME = runtime.configure()

import argparse  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402


def add_dataset_arguments(parser):
    """--kind, --data and --download, the flags every MNIST example shares."""
    from fnn.data import DATASET_KINDS

    parser.add_argument("--kind", choices=DATASET_KINDS, default="mnist", help="dataset (default: %(default)s)")
    parser.add_argument("--data", default=None,
                        help="folder holding <kind>/ with the four IDX .gz files (default: $FNN_DATA, "
                             "else ~/.cache/fnn)")
    parser.add_argument("--download", action="store_true",
                        help="fetch missing dataset files from the public mirror into the data folder")


def load_or_explain(load, args, rng):
    """``load(args, rng)``, or None after telling the user on stderr how to get the data."""
    try:
        return load(args, rng)
    except (FileNotFoundError, ConnectionError) as e:
        print(f"error: {e}", file=sys.stderr)
        if not args.download:
            print("(or rerun this example with --data DIR, or with --download)", file=sys.stderr)
        return None


# The smallest --limit whose 10% validation split is not empty.
MIN_LIMIT = 20


def add_limit_argument(parser):
    parser.add_argument("--limit", type=positive_int, default=None,
                        help=f"train on a random subset of this many training images (quick runs; at least {MIN_LIMIT})")


def check_limit(parser, args):
    """Reject a --limit too small for the validation split (argparse exits with the message)."""
    if args.limit is not None and args.limit < MIN_LIMIT:
        parser.error(f"--limit is {args.limit}; expected >= {MIN_LIMIT} so the 10% validation split is not empty")


def load_mnist_subset(args, rng):
    """((x_train (N, 28, 28) uint8, y_train (N,) int64), (x_test, y_test)) per --data/--kind/--download,
    training images cut to a random --limit of them; raises FileNotFoundError."""
    from fnn.data import load_mnist

    (x_train, y_train), (x_test, y_test) = load_mnist(args.data, kind=args.kind, download=args.download)
    if args.limit is not None and args.limit < len(x_train):
        keep = np.sort(rng.choice(len(x_train), size=args.limit, replace=False))
        x_train, y_train = x_train[keep], y_train[keep]
    return (x_train, y_train.astype(np.int64)), (x_test, y_test.astype(np.int64))


def plot_training_curves(history, path, title, *, train_loss_label, log_loss=False):
    """Loss and accuracy per epoch from ``fnn.train.fit``'s history, the restored best epoch marked."""
    plt = pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = history["epoch"]
    ax_loss.plot(epochs, history["train_loss"], "o-", label=train_loss_label)
    ax_loss.plot(epochs, history["val_loss"], "o-", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss", yscale="log" if log_loss else "linear")
    ax_acc.plot(epochs, history["train_acc"], "o-", label="train (subset)")
    ax_acc.plot(epochs, history["val_acc"], "o-", label="validation")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
        if history["best_epoch"] is not None:
            ax.axvline(history["best_epoch"], color="grey", linestyle="--", linewidth=1)
    fig.suptitle(title)
    save_figure(fig, path)


def default_out(example):
    """The default output folder of an example: ``runs/<example>`` under the current folder (git-ignored)."""
    return os.path.join("runs", example)


def make_out_dir(path):
    """Create ``path`` (and parents) if needed and return it."""
    os.makedirs(path, exist_ok=True)
    return path


def positive_int(text):
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not >= 1")
    return value


def nonnegative_float(text):
    """argparse type: a finite float >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a finite number >= 0")
    return value


def positive_float(text):
    """argparse type: a finite float > 0."""
    value = nonnegative_float(text)
    if value == 0.0:
        raise argparse.ArgumentTypeError("0 is not > 0")
    return value


def probability(text):
    """argparse type: a float in [0, 1)."""
    value = nonnegative_float(text)
    if value >= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not in [0, 1)")
    return value


def pyplot():
    """matplotlib.pyplot on the Agg backend: examples write PNG files and never open a window."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path):
    """Write ``fig`` as a PNG at ``path``, close it, and say where it went."""
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    pyplot().close(fig)
    print(f"saved {path}")
