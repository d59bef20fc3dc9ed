"""Train a 784-128-64-10 MLP on MNIST (or Fashion-MNIST) and report its test accuracy.

    python examples/mnist_mlp.py                         # MNIST, ~98% test accuracy in well under 3 minutes
    python examples/mnist_mlp.py --kind fashion-mnist    # the harder drop-in replacement
    python examples/mnist_mlp.py --limit 5000 --epochs 1 # a quick smoke run

The data are found through --data DIR, else the FNN_DATA environment variable
(see fnn.data.load_mnist). Writes a checkpoint (fnn.checkpoint) and a plot of
the training curves into --out.
"""
import _common  # first: fixes BLAS threads before numpy loads

import argparse
import functools
import os
import sys
import time

import numpy as np

from fnn import checkpoint, metrics, optim
from fnn.data import CLASS_NAMES, train_val_split
from fnn.models import mlp
from fnn.ops import softmax_cross_entropy_forward
from fnn.train import fit

INPUT_SIZE = 28 * 28
NUM_CLASSES = 10
ACTIVATION = "relu"


def build_parser():
    parser = argparse.ArgumentParser(
        description="Train a 784-128-64-10 ReLU MLP on MNIST or Fashion-MNIST with fnn: 10% validation split, "
                    "early stopping, then test accuracy, confusion matrix, per-class precision/recall, a checkpoint "
                    "and a plot of the training curves.",
    )
    _common.add_dataset_arguments(parser)
    parser.add_argument("--epochs", type=_common.positive_int, default=30, help="maximum epochs (default: %(default)s)")
    parser.add_argument("--batch-size", type=_common.positive_int, default=128, help="default: %(default)s")
    parser.add_argument("--lr", type=_common.positive_float, default=None,
                        help="peak learning rate of the cosine schedule (default: 1e-3 for adam, 0.05 for momentum)")
    parser.add_argument("--optimizer", choices=("adam", "momentum"), default="adam",
                        help="adam, or SGD with momentum 0.9 (both with cosine decay; default: %(default)s)")
    parser.add_argument("--dropout", type=_common.probability, default=0.2,
                        help="drop probability after each hidden layer (default: %(default)s)")
    parser.add_argument("--hidden", default="128,64", help="hidden layer sizes, comma-separated (default: %(default)s)")
    parser.add_argument("--patience", type=_common.positive_int, default=6,
                        help="early stopping: epochs without a better validation loss (default: %(default)s)")
    _common.add_limit_argument(parser)
    parser.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    parser.add_argument("--out", default=None, help="output folder (default: runs/mnist_mlp/<kind>)")
    return parser


def parse_hidden(text):
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"--hidden is {text!r}; expected positive integers such as 128,64")
    return sizes


def load_flat(args, rng):
    """((x_train (N, 784) float32 in [0, 1], y_train (N,) int64), (x_test, y_test)); raises FileNotFoundError."""
    (x_train, y_train), (x_test, y_test) = _common.load_mnist_subset(args, rng)

    def flat(images):
        # Scaling by a float32 keeps the pixels float32 (a Python 255.0 would too under NEP 50).
        return images.reshape(len(images), INPUT_SIZE).astype(np.float32) / np.float32(255)

    return (flat(x_train), y_train), (flat(x_test), y_test)


DEFAULT_LR = {"adam": 1e-3, "momentum": 0.05}


def make_optimizer(name, peak_lr, total_steps):
    """Adam or momentum SGD whose learning rate follows a cosine from ``peak_lr`` to 0 over the whole run."""
    schedule = optim.cosine_decay(peak_lr, total_steps=total_steps)
    if name == "adam":
        return optim.adam(schedule)
    return optim.momentum(schedule, mu=0.9)


def eval_loss(params, x, y):
    """Mean cross-entropy without dropout: validation must judge the network that will be used."""
    logits, _ = mlp.forward(params, x, activation=ACTIVATION)
    return softmax_cross_entropy_forward(logits, y)[0]


def predict(params, x):
    return mlp.predict(params, x, activation=ACTIVATION)


def row_label(i, name):
    """'3' for a digit, '6 Shirt' where the class has a name of its own."""
    return str(i) if name == str(i) else f"{i} {name[:11]}"


def print_confusion(cm, names):
    print("confusion matrix (rows: true class, columns: predicted class)")
    width = max(5, len(str(cm.max())) + 1)
    print(" " * 14 + "".join(f"{j:>{width}}" for j in range(len(names))))
    for i, row in enumerate(cm):
        print(f"{row_label(i, names[i]):<14}" + "".join(f"{v:>{width}}" for v in row))


def print_precision_recall(y_true, y_pred, names):
    precision, recall, f1 = metrics.precision_recall_f1(y_true, y_pred, num_classes=len(names), average=None)
    support = np.bincount(y_true, minlength=len(names))
    print(f"{'class':<15}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}")
    for i, name in enumerate(names):
        print(f"{row_label(i, name):<15}{precision[i]:>10.4f}{recall[i]:>10.4f}{f1[i]:>10.4f}{support[i]:>10}")
    print(f"{'macro avg':<15}{precision.mean():>10.4f}{recall.mean():>10.4f}{f1.mean():>10.4f}{support.sum():>10}")


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        hidden = parse_hidden(args.hidden)
    except argparse.ArgumentTypeError as e:
        parser.error(str(e))
    _common.check_limit(parser, args)
    out = _common.make_out_dir(args.out or os.path.join(_common.default_out("mnist_mlp"), args.kind))
    rng = np.random.default_rng(args.seed)
    dropout_rng = np.random.default_rng([args.seed, 1])  # a separate stream, so dropout never shifts the batches

    start = time.perf_counter()
    data = _common.load_or_explain(load_flat, args, rng)
    if data is None:
        return 2
    (x_all, y_all), (x_test, y_test) = data
    (x_train, y_train), (x_val, y_val) = train_val_split(rng, x_all, y_all, val_fraction=0.1)
    print(f"{args.kind}: {len(x_train)} train, {len(x_val)} validation, {len(x_test)} test images "
          f"(loaded in {time.perf_counter() - start:.1f} s)")

    sizes = [INPUT_SIZE, *hidden, NUM_CLASSES]
    params = mlp.init(rng, sizes)
    steps_per_epoch = -(-len(x_train) // args.batch_size)
    lr = DEFAULT_LR[args.optimizer] if args.lr is None else args.lr
    optimizer = make_optimizer(args.optimizer, lr, args.epochs * steps_per_epoch)
    print(f"model {'-'.join(map(str, sizes))} {ACTIVATION} MLP, dropout {args.dropout}, "
          f"{sum(p.size for p in params.values()):,} parameters; {args.optimizer} lr {lr:g} with cosine decay, "
          f"batch {args.batch_size}, up to {args.epochs} epochs, patience {args.patience}")
    loss_and_grad = functools.partial(mlp.loss_and_grad, activation=ACTIVATION, dropout=args.dropout,
                                      rng=dropout_rng)

    train_start = time.perf_counter()
    params, opt_state, history = fit(
        params, loss_and_grad, optimizer, (x_train, y_train), epochs=args.epochs, batch_size=args.batch_size,
        rng=rng, validation=(x_val, y_val), predict=predict, loss_fn=eval_loss, patience=args.patience,
    )
    train_seconds = time.perf_counter() - train_start
    epochs_run = len(history["epoch"])
    mean_throughput = float(np.mean(history["examples_per_sec"]))
    print(f"trained {epochs_run} epochs in {train_seconds:.1f} s ({mean_throughput:,.0f} train examples/s on "
          f"average); using the params of epoch {history['best_epoch']}")

    y_pred = np.concatenate([predict(params, x_test[i:i + 2000]) for i in range(0, len(x_test), 2000)])
    test_acc = metrics.accuracy(y_test, y_pred)
    names = CLASS_NAMES[args.kind]
    print()
    print_confusion(metrics.confusion_matrix(y_test, y_pred, NUM_CLASSES), names)
    print()
    print_precision_recall(y_test, y_pred, names)
    print()

    ckpt_path = os.path.join(out, "checkpoint.npz")
    checkpoint.save(ckpt_path, params, opt_state, metadata={
        "model": "fnn.models.mlp", "sizes": sizes, "activation": ACTIVATION, "dropout": args.dropout,
        "dataset": args.kind, "input": "pixels / 255 as float32, flattened to 784",
        "test_accuracy": test_acc, "best_epoch": history["best_epoch"], "epochs_run": epochs_run,
        "optimizer": args.optimizer, "lr": lr, "batch_size": args.batch_size, "seed": args.seed,
        "train_examples": int(len(x_train)),
    })
    print(f"saved {ckpt_path}")
    _common.plot_training_curves(history, os.path.join(out, "curves.png"),
                                 f"{args.kind} {'-'.join(map(str, sizes))} MLP: test accuracy {test_acc:.4f}",
                                 train_loss_label="train (running, with dropout)")
    print(f"total wall time {time.perf_counter() - start:.1f} s")
    print(f"test accuracy: {test_acc:.4f} ({int(np.sum(y_pred == y_test))}/{len(y_test)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
