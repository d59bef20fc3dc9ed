"""Linear regression two ways: the normal equation and gradient descent, which must agree.

    python examples/predict_house.py                   # generated houses (true coefficients known)
    python examples/predict_house.py --csv my.csv      # any numeric CSV with a header; last column is the target
    python examples/predict_house.py --l2 0.1          # ridge penalty on the standardised weights

Gradient descent runs on standardised features: with raw features (square
metres in the hundreds, bedrooms in single digits) the loss surface is a long
narrow valley and any learning rate small enough for the steep direction
crawls along the flat one. Its coefficients are then mapped back to the
original units, where they match the closed-form solution.
"""
import _common  # first: fixes BLAS threads before numpy loads

import argparse
import os
import sys

import numpy as np

from fnn import metrics
from fnn.data import (
    HOUSE_TRUE_COEFFICIENTS, make_houses, read_csv, standardize, standardize_fit, train_val_split, write_csv,
)
from fnn.models import linear_regression

AGREEMENT = 1e-6


def build_parser():
    parser = argparse.ArgumentParser(
        description="Fit y = x w + b on a CSV (header row, numeric columns, target last) with the normal equation "
                    "and with gradient descent on standardised features, print both sets of coefficients side by "
                    "side with held-out MSE and R^2, and plot predicted vs actual and the descent's loss curve. "
                    "Without --csv a house-price CSV is generated with fnn.data.make_houses.",
    )
    parser.add_argument("--csv", default=None, help="input CSV (default: generate houses.csv in the output folder)")
    parser.add_argument("--l2", type=_common.nonnegative_float, default=0.0,
                        help="ridge penalty l2 * sum(w^2) on the standardised weights (default: %(default)s)")
    parser.add_argument("--steps", type=_common.positive_int, default=1000,
                        help="gradient descent steps (default: %(default)s)")
    parser.add_argument("--lr", type=_common.positive_float, default=0.1,
                        help="gradient descent learning rate (default: %(default)s)")
    parser.add_argument("--houses", type=_common.positive_int, default=500,
                        help="houses to generate without --csv (default: %(default)s)")
    parser.add_argument("--noise", type=_common.nonnegative_float, default=20.0,
                        help="price noise std in thousands for generated houses (default: %(default)s)")
    parser.add_argument("--test-fraction", type=_common.probability, default=0.2,
                        help="share of rows held out for testing (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    parser.add_argument("--out", default=None, help="output folder (default: runs/predict_house)")
    return parser


def load_data(args, rng, out):
    """(x (N, D), y (N,), header, true coefficients or None)."""
    if args.csv is not None:
        x, y, header = read_csv(args.csv)
        print(f"read {len(x)} rows x {x.shape[1]} features from {args.csv} (target: {header[-1]})")
        return x, y, header, None
    x, y, names = make_houses(rng, n=args.houses, noise=args.noise)
    path = os.path.join(out, "houses.csv")
    write_csv(path, x, y, names + ["price_k"])
    print(f"no --csv given: generated {args.houses} houses with fnn.data.make_houses "
          f"(price in thousands, noise std {args.noise:g}) and wrote them to {path}")
    x, y, header = read_csv(path)  # read back, so generated data takes the same path as a user's file
    return x, y, header, dict(HOUSE_TRUE_COEFFICIENTS)


def to_original_scale(params, mean, std):
    """Coefficients fitted on (x - mean) / std -> coefficients on x: w = w_s / std, b = b_s - mean . w."""
    w = params["w"] / std[0]
    b = params["b"][0] - float(mean[0] @ w)
    return w, b


def solve_normal_equation(x_train, y_train, mean, std, l2):
    """Closed form on the raw features when unpenalised; with l2, on the standardised ones (the penalised problem)."""
    if l2 == 0:
        params = linear_regression.fit_normal_equation(x_train, y_train)
        return params["w"], float(params["b"][0])
    params = linear_regression.fit_normal_equation(standardize(x_train, mean, std), y_train, l2=l2)
    return to_original_scale(params, mean, std)


def rel_diff(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


def print_coefficients(names, w_ne, b_ne, w_gd, b_gd, true):
    rows = [("intercept", b_ne, b_gd)] + list(zip(names, w_ne, w_gd))
    print(f"{'coefficient':<16}{'true':>12}{'normal_eq':>22}{'grad_descent':>22}{'rel_diff':>12}")
    worst = 0.0
    for name, ne, gd in rows:
        t = f"{true[name]:g}" if true and name in true else "-"
        d = rel_diff(float(ne), float(gd))
        worst = max(worst, d)
        print(f"{name:<16}{t:>12}{float(ne):>22.12g}{float(gd):>22.12g}{d:>12.2e}")
    return worst


def plot_results(y_test, pred_test, y_train, pred_train, losses, path):
    plt = _common.pyplot()
    fig, (ax_fit, ax_loss) = plt.subplots(1, 2, figsize=(11, 4.5))
    ax_fit.scatter(y_train, pred_train, s=8, alpha=0.3, label="train")
    ax_fit.scatter(y_test, pred_test, s=14, label="held out")
    lo = min(y_train.min(), y_test.min(), pred_train.min(), pred_test.min())
    hi = max(y_train.max(), y_test.max(), pred_train.max(), pred_test.max())
    ax_fit.plot([lo, hi], [lo, hi], "k--", linewidth=1, label="y = x")
    ax_fit.set(xlabel="actual", ylabel="predicted (gradient descent)", title="predicted vs actual", aspect="equal")
    ax_fit.legend()
    ax_loss.plot(np.arange(1, len(losses) + 1), losses)
    ax_loss.set(xlabel="step", ylabel="training loss", title="gradient descent loss", xscale="log", yscale="log")
    ax_loss.grid(alpha=0.3, which="both")
    _common.save_figure(fig, path)


def main(argv=None):
    args = build_parser().parse_args(argv)
    out = _common.make_out_dir(args.out or _common.default_out("predict_house"))
    rng = np.random.default_rng(args.seed)
    try:
        x, y, header, true = load_data(args, rng, out)
    except (OSError, ValueError) as e:
        source = f"--csv {args.csv}" if args.csv else "the generated data"
        print(f"error: could not read {source}: {e}", file=sys.stderr)
        return 2
    names = header[:-1]
    (x_train, y_train), (x_test, y_test) = train_val_split(rng, x, y, val_fraction=args.test_fraction)
    print(f"{len(x_train)} training rows, {len(x_test)} held-out rows")

    mean, std = standardize_fit(x_train)
    w_ne, b_ne = solve_normal_equation(x_train, y_train, mean, std, args.l2)
    gd_params, losses = linear_regression.fit_gradient_descent(
        standardize(x_train, mean, std), y_train, lr=args.lr, steps=args.steps, l2=args.l2)
    w_gd, b_gd = to_original_scale(gd_params, mean, std)
    print(f"gradient descent: {len(losses)} steps, lr {args.lr:g}, on standardised features; "
          f"loss {losses[0]:.6g} -> {losses[-1]:.6g}; mapped back with w = w_std / std, b = b_std - mean . w")
    if args.l2:
        print(f"ridge l2 = {args.l2:g} on the standardised weights (both solvers minimise the same penalised loss)")
    print()

    worst = print_coefficients(names, w_ne, b_ne, w_gd, b_gd, true)
    verdict = "agree" if worst < AGREEMENT else "DISAGREE (try more --steps or a larger --lr)"
    print(f"largest relative difference {worst:.2e}: the two solutions {verdict} (threshold {AGREEMENT:g})")
    print()

    pred_ne_test = x_test @ w_ne + b_ne
    pred_gd_test = x_test @ w_gd + b_gd
    print(f"{'held-out metric':<20}{'normal_eq':>14}{'grad_descent':>14}")
    print(f"{'MSE':<20}{metrics.mean_squared_error(y_test, pred_ne_test):>14.6g}"
          f"{metrics.mean_squared_error(y_test, pred_gd_test):>14.6g}")
    r2_ne, r2_gd = metrics.r2_score(y_test, pred_ne_test), metrics.r2_score(y_test, pred_gd_test)
    print(f"{'R2':<20}{r2_ne:>14.6f}{r2_gd:>14.6f}")
    print()

    plot_results(y_test, pred_gd_test, y_train, x_train @ w_gd + b_gd, losses, os.path.join(out, "predict_house.png"))
    print(f"held-out R2: {r2_gd:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
