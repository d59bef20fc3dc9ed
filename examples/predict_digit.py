"""Classify a digit you drew with the LeNet-5 checkpoint written by mnist_cnn.py.

    python examples/mnist_cnn.py                           # once: trains and writes runs/mnist_cnn/checkpoint.npz
    python examples/predict_digit.py --image my_digit.png  # prints the digit, its probability and the top 3
    python examples/predict_digit.py --image my_digit.png --save-input seen.png

The drawing can be any size, dark ink on light paper or light on dark, PNG
(or JPEG when Pillow is installed). It is turned into the 28x28 input the
network was trained on exactly as MNIST was made (fnn.data.to_mnist_input:
crop to the ink, longer side 20 px, centre of mass at the centre), then
normalised with the mean and std stored in the checkpoint.
"""
import _common  # first: fixes BLAS threads before numpy loads

import argparse
import os
import sys

import numpy as np

from fnn import checkpoint
from fnn.data import read_image, to_mnist_input, write_image
from fnn.models import cnn
from fnn.ops import softmax_forward

DEFAULT_CHECKPOINT = os.path.join(_common.default_out("mnist_cnn"), "checkpoint.npz")
TOP_K = 3


def build_parser():
    parser = argparse.ArgumentParser(
        description="Predict the digit in an image file with a LeNet-5 checkpoint from examples/mnist_cnn.py.",
    )
    parser.add_argument("--image", required=True, help="PNG (or JPEG) of one handwritten digit, any size")
    parser.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT,
                        help="checkpoint written by examples/mnist_cnn.py (default: %(default)s)")
    parser.add_argument("--save-input", default=None, metavar="PNG",
                        help="also save the preprocessed 28x28 image the network sees")
    return parser


def load_model(path):
    """(params, Config, mean, std, class names) from an mnist_cnn.py checkpoint; raises FileNotFoundError/ValueError."""
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"no checkpoint at {path}. Train one first with\n    python examples/mnist_cnn.py\n"
            f"(it writes {DEFAULT_CHECKPOINT}), or pass --checkpoint PATH"
        )
    params, _, meta = checkpoint.load(path)
    if not isinstance(meta, dict) or meta.get("model") != "fnn.models.cnn" or "config" not in meta:
        raise ValueError(f"{path} is not a CNN checkpoint written by examples/mnist_cnn.py "
                         f"(metadata model is {(meta or {}).get('model')!r}; expected 'fnn.models.cnn')")
    # JSON turned the config's tuples into lists; Config wants them back as tuples.
    config = cnn.Config(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["config"].items()})
    norm = meta.get("normalization", {"mean": 0.0, "std": 1.0})
    names = meta.get("class_names", [str(i) for i in range(config.num_classes)])
    return params, config, float(norm["mean"]), float(norm["std"]), names


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        params, config, mean, std, names = load_model(args.checkpoint)
        image = read_image(args.image)
        pixels = to_mnist_input(image)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{args.image}: {image.shape[1]}x{image.shape[0]} px -> centred 28x28 input")
    if args.save_input:
        write_image(args.save_input, pixels[0, 0], vmin=0.0, vmax=1.0)
        print(f"saved the network's input to {args.save_input}")

    dtype = params["conv1.w"].dtype
    x = ((pixels - np.float32(mean)) / np.float32(std)).astype(dtype)
    logits, _ = cnn.forward(params, x, config=config)
    probs, _ = softmax_forward(logits)
    probs = probs[0]
    order = np.argsort(probs)[::-1][:TOP_K]
    best = int(order[0])
    print(f"top {TOP_K}:")
    for rank, k in enumerate(order, start=1):
        print(f"  {rank}. {names[k]:<12} {probs[k]:.4f}")
    print(f"predicted digit: {names[best]} (confidence {probs[best]:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
