"""Autodiff two ways: the scalar engine on f = x*y + z, then an MLP's gradients by hand vs by tape.

    python examples/autograd_demo.py                  # MNIST batch if FNN_DATA (or --data) finds it
    python examples/autograd_demo.py --data /work/shared/data
    python examples/autograd_demo.py --spiral         # skip MNIST: the generated spiral, 2-64-64-3

Part 1 builds f = x*y + z from fnn.tape.Value scalars, runs backward and
prints the graph with every node's value and gradient. Part 2 computes the
gradient of an MLP's cross-entropy three ways: fnn.models.mlp.loss_and_grad
(derived by hand), fnn.tape.value_and_grad of fnn.reference.mlp_loss (the
same loss in plain NumPy, differentiated by the tape) and central differences
on a sample of entries; it prints a few entries side by side, then
fnn.check.compare's error table.
"""
import _common  # first: fixes BLAS threads before numpy loads

import argparse
import os

import numpy as np

import fnn.reference
import fnn.tape
from fnn.check import compare
from fnn.data import load_mnist, make_spiral
from fnn.models import mlp
from fnn.tape import Value


def build_parser():
    parser = argparse.ArgumentParser(
        description="The scalar autodiff engine on f = x*y + z, then an MLP's hand-derived gradients beside "
                    "fnn.tape's and central differences (MNIST 784-128-64-10 when the data are found, else the "
                    "spiral with 2-64-64-3).")
    parser.add_argument("--data", default=None,
                        help="folder holding mnist/ with the four IDX .gz files "
                             "(default: $FNN_DATA, else ~/.cache/fnn)")
    parser.add_argument("--spiral", action="store_true", help="use the generated spiral even if MNIST is available")
    parser.add_argument("--batch", type=_common.positive_int, default=32,
                        help="examples in the batch (default: %(default)s)")
    parser.add_argument("--entries", type=_common.positive_int, default=12,
                        help="central differences per parameter, at random entries (default: %(default)s)")
    parser.add_argument("--activation", choices=sorted(fnn.reference.REFERENCE_ACTIVATIONS), default="relu",
                        help="hidden activation (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    return parser


# ---------------------------------------------------------------- part 1: scalars


def graph_lines(node, names, prefix=""):
    """The graph below ``node`` as tree lines: each node with its value, the op that made it and its gradient."""
    label = names.get(id(node), node.op or "const")
    op = f" [{node.op}]" if node.op and id(node) in names else ""
    lines = [f"{label}{op}: value {node.data:g}, grad {node.grad:g}"]
    parents = node._parents  # the engine's record of this node's inputs
    for i, parent in enumerate(parents):
        last = i == len(parents) - 1
        child = graph_lines(parent, names)
        lines.append(prefix + ("└── " if last else "├── ") + child[0])
        lines += [prefix + ("    " if last else "│   ") + line for line in child[1:]]
    return lines


def scalar_demo():
    print("Part 1: the scalar engine (fnn.tape.Value)\n")
    x, y, z = Value(2.0), Value(-3.0), Value(10.0)
    xy = x * y
    f = xy + z
    f.backward()
    print("f = x*y + z with x = 2, y = -3, z = 10")
    print(f"  f = {f.data:g}")
    print(f"  df/dx = y = {x.grad:g},  df/dy = x = {y.grad:g},  df/dz = 1 -> {z.grad:g}")
    print("\nthe graph (each node: [the op that made it], its value and grad = d f / d node):")
    names = {id(f): "f", id(xy): "x*y", id(x): "x", id(y): "y", id(z): "z"}
    for line in graph_lines(f, names):
        print("  " + line)
    print("\nbackward visits f, then x*y and z, then x and y: each node adds (local derivative x its own grad)"
          "\nto its inputs' grads, which is the chain rule one edge at a time.")


# ---------------------------------------------------------------- part 2: an MLP three ways


def load_problem(args, rng):
    """(x (N, D) float64, y (N,), sizes, description): an MNIST batch when found, else the spiral."""
    if not args.spiral:
        try:
            (x_train, y_train), _ = load_mnist(args.data)
        except FileNotFoundError as e:
            print(f"MNIST not found ({str(e).splitlines()[0].rstrip(': ')}); using the generated spiral instead.")
        else:
            pick = rng.choice(len(x_train), args.batch, replace=False)
            x = x_train[pick].reshape(args.batch, -1).astype(np.float64) / 255
            where = args.data or os.environ.get("FNN_DATA", "the default cache")
            description = f"MNIST ({args.batch} training images from {where})"
            return x, y_train[pick].astype(np.int64), [784, 128, 64, 10], description
    x, y = make_spiral(rng, n_per_class=max(1, args.batch // 3), dtype=np.float64)
    return x, y, [2, 64, 64, 3], f"the generated spiral ({len(y)} points, 3 classes)"


def mlp_demo(args):
    rng = np.random.default_rng(args.seed)
    x, y, sizes, description = load_problem(args, rng)
    print(f"\nPart 2: MLP {'-'.join(map(str, sizes))} on {description}, {args.activation}, float64\n")
    params = mlp.init(rng, sizes, dtype=np.float64)
    # Small random biases: zero biases would put many ReLU inputs exactly on the kink for black pixels.
    params = {k: v + 0.01 * rng.standard_normal(v.shape) if k.endswith(".b") else v for k, v in params.items()}

    def by_hand(p):
        return mlp.loss_and_grad(p, x, y, activation=args.activation)

    def reference_loss(p):
        return fnn.reference.mlp_loss(p, x, y, activation=args.activation)

    loss_hand, grads_hand = by_hand(params)
    loss_tape, grads_tape = fnn.tape.value_and_grad(reference_loss)(params)
    print(f"loss: by hand {float(loss_hand):.12f}, tape {float(loss_tape):.12f}")
    last = f"dense{len(sizes) - 1}.b"
    print(f"\n{last} gradient side by side:")
    print(f"  {'entry':>5}  {'by hand':>20}  {'tape':>20}")
    for i, (a, b) in enumerate(zip(grads_hand[last], grads_tape[last])):
        print(f"  {i:5d}  {a:20.15f}  {b:20.15f}")

    table = compare(by_hand, reference_loss, params, max_entries=args.entries, rng=rng, name="mlp")
    print(f"\nfnn.check.compare (max relative errors; central differences at {args.entries} random entries "
          "per parameter):\n")
    print(table)
    print("\nall rows PASS" if table.passed else f"\n{len(table.failures())} rows FAIL")
    return table.passed


def main():
    args = build_parser().parse_args()
    scalar_demo()
    return 0 if mlp_demo(args) else 1


if __name__ == "__main__":
    raise SystemExit(main())
