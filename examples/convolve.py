"""Apply one convolution kernel to a picture and look at the feature map: what a CNN's first layer computes.

    python examples/convolve.py                                   # sobel_x on a generated brick wall
    python examples/convolve.py --kernel sobel_y --picture shapes # horizontal edges of generated shapes
    python examples/convolve.py --image photo.png --kernel blur --stride 2
    python examples/convolve.py --image photo.png --kernel "[[0,-1,0],[-1,4,-1],[0,-1,0]]" --padding 1

The picture is read as grayscale (N, C, H, W) = (1, 1, H, W) and passed to
fnn.ops.conv2d_forward with the kernel as w (1, 1, KH, KW) and a zero bias.
Like every CNN library it computes a cross-correlation: the kernel is slid
over the image as written, not flipped. The feature map is saved as a PNG
next to the input, stretched from its own min..max to black..white for
display (the raw values are printed, and saved with --save-raw).
"""
import _common  # first: fixes BLAS threads before numpy loads

import argparse
import json
import math
import os
import sys

import numpy as np

from fnn.data import make_bricks, make_shapes, read_image, write_image
from fnn.ops import conv2d_forward, conv2d_output_size

# name -> (description, integer weights, divisor): integers keep the printout exact.
KERNELS = {
    "edge_detect": ("Laplacian-style edge detector: 0 on flat regions, large at any edge",
                    [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], 1),
    "sobel_x": ("Sobel x: positive where brightness rises left to right (vertical edges)",
                [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], 1),
    "sobel_y": ("Sobel y: positive where brightness rises top to bottom (horizontal edges)",
                [[-1, -2, -1], [0, 0, 0], [1, 2, 1]], 1),
    "blur": ("3x3 Gaussian blur: a weighted average of the neighbourhood",
             [[1, 2, 1], [2, 4, 2], [1, 2, 1]], 16),
    "sharpen": ("sharpen: the pixel plus its difference from its 4 neighbours",
                [[0, -1, 0], [-1, 5, -1], [0, -1, 0]], 1),
    "emboss": ("emboss: a diagonal derivative that looks like relief lit from the top left",
               [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], 1),
}
PICTURES = {"bricks": make_bricks, "shapes": make_shapes}


def parse_kernel(text):
    """'sobel_x' or a JSON list of rows '[[1, 0], [0, -1]]' -> (name, description, float64 (KH, KW), divisor).

    Raises ValueError saying what is wrong with a malformed kernel.
    """
    if text in KERNELS:
        description, rows, divisor = KERNELS[text]
        return text, description, np.array(rows, np.float64) / divisor, divisor
    expected = (f"expected one of {', '.join(KERNELS)} or a rectangular list of lists of numbers "
                f"such as \"[[0,-1,0],[-1,5,-1],[0,-1,0]]\"")
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"--kernel {text!r} is neither a kernel name nor valid list syntax ({e.msg} at "
                         f"character {e.pos}); {expected}") from None
    if not isinstance(rows, list) or not rows or not all(isinstance(r, list) and r for r in rows):
        raise ValueError(f"--kernel {text!r} is not a non-empty list of non-empty rows; {expected}")
    lengths = sorted({len(r) for r in rows})
    if len(lengths) > 1:
        raise ValueError(f"--kernel {text!r} has rows of lengths {lengths}; expected every row to have the same "
                         f"length (a rectangular kernel)")
    for r in rows:
        for v in r:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"--kernel {text!r} holds {v!r}; expected finite numbers only")
    return "custom", "custom kernel", np.array(rows, np.float64), 1


def format_kernel(weights, divisor):
    """The kernel as aligned rows; integer weights over a common divisor print as '(1/16) x [...]'."""
    shown = weights * divisor
    if np.all(shown == np.round(shown)):
        cells = [[str(int(v)) for v in row] for row in shown]
        prefix = f"(1/{divisor}) x " if divisor != 1 else ""
    else:
        cells = [[f"{v:.6g}" for v in row] for row in weights]
        prefix = ""
    width = max(len(c) for row in cells for c in row)
    pad = " " * len(prefix)
    lines = [(prefix if i == 0 else pad) + "[ " + "  ".join(c.rjust(width) for c in row) + " ]"
             for i, row in enumerate(cells)]
    return "\n".join(lines)


def build_parser():
    parser = argparse.ArgumentParser(
        description="Convolve a grayscale picture with one kernel using fnn.ops.conv2d_forward and save the "
                    "feature map as a PNG.",
    )
    parser.add_argument("--image", default=None,
                        help="PNG (or JPEG, when Pillow is installed); default: a generated picture (--picture)")
    parser.add_argument("--kernel", default="sobel_x",
                        help=f"{' | '.join(KERNELS)} | a JSON list of rows such as \"[[1,0],[0,-1]]\" "
                             f"(default: %(default)s)")
    parser.add_argument("--stride", type=_common.positive_int, default=1, help="default: %(default)s")
    parser.add_argument("--padding", type=int, default=0, help="zero rows/columns added on each side "
                                                               "(default: %(default)s)")
    parser.add_argument("--picture", choices=tuple(PICTURES), default="bricks",
                        help="generated picture used without --image (default: %(default)s)")
    parser.add_argument("--out", default=None,
                        help="feature-map PNG (default: <input folder>/<input name>_<kernel>.png; the generated "
                             "picture and its feature map go to runs/convolve/)")
    parser.add_argument("--save-raw", action="store_true",
                        help="also save the unscaled feature map (OH, OW) as float32 .npy beside the PNG")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        name, description, weights, divisor = parse_kernel(args.kernel)
    except ValueError as e:
        parser.error(str(e))
    if args.padding < 0:
        parser.error(f"--padding is {args.padding}; expected an integer >= 0")

    if args.image is not None:
        try:
            image = read_image(args.image)
        except (FileNotFoundError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        input_path = args.image
        print(f"input {input_path}: {image.shape[0]}x{image.shape[1]} (H x W) grayscale in [0, 1]")
    else:
        image = PICTURES[args.picture]()
        folder = (os.path.dirname(args.out) or ".") if args.out else _common.default_out("convolve")
        _common.make_out_dir(folder)
        input_path = os.path.join(folder, f"{args.picture}.png")
        write_image(input_path, image)
        print(f"input: generated {args.picture} picture {image.shape[0]}x{image.shape[1]} (H x W), saved {input_path}")

    KH, KW = weights.shape
    H, W = image.shape
    OH, OW = conv2d_output_size(H, W, KH, KW, stride=args.stride, padding=args.padding)
    if OH < 1 or OW < 1:
        print(f"error: a {KH}x{KW} kernel with stride {args.stride} and padding {args.padding} does not fit a "
              f"{H}x{W} image (output would be {OH}x{OW}); use a larger image, more padding or a smaller kernel",
              file=sys.stderr)
        return 2

    print(f"kernel {name} ({KH}x{KW}): {description}")
    print(format_kernel(weights, divisor))
    print(f"stride {args.stride}, padding {args.padding}: output (H + 2P - K) // S + 1 = "
          f"({H} + {2 * args.padding} - {KH}) // {args.stride} + 1 = {OH} rows, "
          f"({W} + {2 * args.padding} - {KW}) // {args.stride} + 1 = {OW} columns")

    x = image[None, None, :, :]
    w = weights.astype(image.dtype)[None, None, :, :]
    feature_map, _ = conv2d_forward(x, w, np.zeros(1, image.dtype), stride=args.stride, padding=args.padding)
    feature_map = feature_map[0, 0]

    stem = os.path.splitext(input_path)[0]
    out_path = args.out or f"{stem}_{name}.png"
    lo, hi = write_image(out_path, feature_map, vmin=float(feature_map.min()), vmax=float(feature_map.max()))
    print(f"feature map {OH}x{OW}: raw values from {lo:.4g} to {hi:.4g}, mean {feature_map.mean():.4g}")
    print(f"saved {out_path} (normalised for display: {lo:.4g} -> black, {hi:.4g} -> white)")
    if args.save_raw:
        raw_path = os.path.splitext(out_path)[0] + ".npy"
        np.save(raw_path, feature_map)
        print(f"saved {raw_path} (raw float32 values)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
