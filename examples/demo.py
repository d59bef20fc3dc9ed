"""fnn's main demo: a 2-64-64-3 MLP learns three interleaved spirals, offline, in a few seconds.

    python examples/demo.py                  # spiral, prints progress, saves runs/demo/demo.png
    python examples/demo.py --epochs 100 --hidden 128
    python examples/demo.py --mnist          # the same library on MNIST (needs the data; see mnist_mlp.py)

No straight line separates the spiral arms, so a linear classifier tops out
near chance; the two ReLU hidden layers bend the decision boundaries around
them. Everything runs on generated data: no download, no network.
"""
import _common  # first: fixes BLAS threads before numpy loads

import argparse
import os
import sys
import time

import numpy as np

from fnn import metrics, optim
from fnn.data import make_spiral, train_val_split
from fnn.models import mlp
from fnn.train import fit

CLASSES = 3
DEFAULT_EPOCHS = 50
DEFAULT_HIDDEN = 64
DEFAULT_LR = 5e-3


def build_parser():
    parser = argparse.ArgumentParser(
        description="fnn demo: train a 2-H-H-3 ReLU MLP with Adam on a generated 3-class spiral (offline), print "
                    "per-epoch progress and the test accuracy, and save a plot of the decision regions and the "
                    "loss curves. With --mnist, run examples/mnist_mlp.py instead.",
    )
    parser.add_argument("--epochs", type=_common.positive_int, default=None,
                        help=f"training epochs (default: {DEFAULT_EPOCHS}; with --mnist, mnist_mlp's default)")
    parser.add_argument("--hidden", type=_common.positive_int, default=None,
                        help=f"width of each of the two hidden layers (default: {DEFAULT_HIDDEN}; "
                             f"with --mnist, mnist_mlp's 128,64)")
    parser.add_argument("--lr", type=_common.positive_float, default=None,
                        help=f"Adam learning rate (default: {DEFAULT_LR:g}; with --mnist, mnist_mlp's default)")
    parser.add_argument("--batch-size", type=_common.positive_int, default=32, help="default: %(default)s")
    parser.add_argument("--points", type=_common.positive_int, default=300,
                        help="points per spiral arm (default: %(default)s)")
    parser.add_argument("--noise", type=_common.nonnegative_float, default=0.2,
                        help="std of the angular noise of the spiral, in radians (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    parser.add_argument("--out", default=None, help="output folder (default: runs/demo)")
    parser.add_argument("--mnist", action="store_true", help="train the MLP on MNIST instead (needs the data)")
    parser.add_argument("--data", default=None, help="with --mnist: folder holding mnist/ (default: $FNN_DATA)")
    return parser


def run_mnist(args):
    """Hand over to examples/mnist_mlp.py, passing on only the flags that were given."""
    import mnist_mlp

    argv = ["--seed", str(args.seed)]
    for flag, value in (("--epochs", args.epochs), ("--lr", args.lr), ("--data", args.data), ("--out", args.out)):
        if value is not None:
            argv += [flag, str(value)]
    if args.hidden is not None:
        argv += ["--hidden", f"{args.hidden},{args.hidden}"]
    return mnist_mlp.main(argv)


def plot_demo(params, history, x_train, y_train, x_test, y_test, test_acc, path):
    """Left: decision regions over the plane with the points; right: the loss curves."""
    plt = _common.pyplot()
    fig, (ax_regions, ax_loss) = plt.subplots(1, 2, figsize=(11, 4.8))

    grid = np.linspace(-1.15, 1.15, 300, dtype=np.float32)
    gx, gy = np.meshgrid(grid, grid)
    plane = np.stack([gx.ravel(), gy.ravel()], axis=1)
    regions = mlp.predict(params, plane).reshape(gx.shape)
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c"]
    from matplotlib.colors import ListedColormap

    ax_regions.contourf(gx, gy, regions, levels=np.arange(CLASSES + 1) - 0.5, cmap=ListedColormap(colours),
                        alpha=0.25)
    for k in range(CLASSES):
        train_k, test_k = y_train == k, y_test == k
        ax_regions.scatter(x_train[train_k, 0], x_train[train_k, 1], s=10, color=colours[k], label=f"class {k}")
        ax_regions.scatter(x_test[test_k, 0], x_test[test_k, 1], s=28, color=colours[k], marker="^",
                           edgecolors="black", linewidths=0.6)
    ax_regions.scatter([], [], s=28, marker="^", color="white", edgecolors="black", label="test points")
    ax_regions.set(title=f"decision regions (test accuracy {test_acc:.3f})", xlabel="x1", ylabel="x2",
                   aspect="equal")
    ax_regions.legend(loc="upper right", fontsize=8)

    ax_loss.plot(history["epoch"], history["train_loss"], label="train")
    ax_loss.plot(history["epoch"], history["val_loss"], label="validation")
    ax_loss.set(title="softmax cross-entropy", xlabel="epoch", ylabel="loss", yscale="log")
    ax_loss.grid(alpha=0.3)
    ax_loss.legend()
    _common.save_figure(fig, path)


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.mnist:
        return run_mnist(args)
    epochs = DEFAULT_EPOCHS if args.epochs is None else args.epochs
    hidden = DEFAULT_HIDDEN if args.hidden is None else args.hidden
    lr = DEFAULT_LR if args.lr is None else args.lr
    out = _common.make_out_dir(args.out or _common.default_out("demo"))
    start = time.perf_counter()

    rng = np.random.default_rng(args.seed)
    x, y = make_spiral(rng, n_per_class=args.points, classes=CLASSES, noise=args.noise)
    # Test points are set aside first and touched once, at the end; validation steers nothing but the log here.
    (x_rest, y_rest), (x_test, y_test) = train_val_split(rng, x, y, val_fraction=0.2)
    (x_train, y_train), (x_val, y_val) = train_val_split(rng, x_rest, y_rest, val_fraction=0.15)
    sizes = [2, hidden, hidden, CLASSES]
    params = mlp.init(rng, sizes)
    print(f"spiral: {CLASSES} arms, {len(x_train)} train / {len(x_val)} validation / {len(x_test)} test points; "
          f"model {'-'.join(map(str, sizes))} ReLU MLP ({sum(p.size for p in params.values()):,} parameters), "
          f"Adam lr {lr:g}, batch {args.batch_size}, {epochs} epochs")

    params, _, history = fit(params, mlp.loss_and_grad, optim.adam(lr), (x_train, y_train), epochs=epochs,
                             batch_size=args.batch_size, rng=rng, validation=(x_val, y_val), predict=mlp.predict)

    test_acc = metrics.accuracy(y_test, mlp.predict(params, x_test))
    plot_demo(params, history, x_train, y_train, x_test, y_test, test_acc, os.path.join(out, "demo.png"))
    print(f"done in {time.perf_counter() - start:.1f} s")
    print(f"validation accuracy: {history['val_acc'][-1]:.4f}")
    print(f"test accuracy: {test_acc:.4f} ({int(round(test_acc * len(y_test)))}/{len(y_test)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
