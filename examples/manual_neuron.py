"""One artificial neuron learns a logic gate, one example at a time, with every step printed.

    python examples/manual_neuron.py --gate AND                 # perceptron rule: converges in a few epochs
    python examples/manual_neuron.py --gate OR --rule delta     # Widrow-Hoff / ADALINE
    python examples/manual_neuron.py --gate XOR                 # never converges, and the reason why

The neuron computes a score z = w1 x1 + w2 x2 + b. The perceptron rule
(Rosenblatt, 1958) outputs step(z) and nudges the weights by
lr * (target - output) * x after each mistake; the delta rule (Widrow and
Hoff, 1960) nudges them by lr * (s - z) * x after every example, with the
bipolar target s = 2*target - 1 in {-1, +1}: gradient descent on the squared
error of the score, whose fit puts the decision boundary at z = 0.
"""
import _common  # first: fixes BLAS threads before numpy loads

import argparse
import sys

import numpy as np

from fnn import optim
from fnn.data import GATES, make_gates
from fnn.models import mlp, perceptron

DEFAULTS = {"perceptron": {"epochs": 20, "lr": 1.0}, "delta": {"epochs": 200, "lr": 0.1}}
# The delta rule never stops moving entirely; an epoch that changes no parameter by more than this has converged.
DELTA_TOL = 1e-4

XOR_EXPLANATION = """\
Why XOR cannot be learned by one neuron:
  The neuron answers 1 exactly when w1*x1 + w2*x2 + b >= 0, i.e. on one side of a
  straight line in the (x1, x2) plane. XOR asks for
      (0,0) -> 0:  b < 0
      (0,1) -> 1:  w2 + b >= 0
      (1,0) -> 1:  w1 + b >= 0
      (1,1) -> 0:  w1 + w2 + b < 0
  Adding the middle two gives w1 + w2 + 2b >= 0, so w1 + w2 + b >= -b > 0, which
  contradicts the last line. No weights satisfy all four: no straight line separates
  {(0,1), (1,0)} from {(0,0), (1,1)}, and the rule keeps cycling between mistakes.
  (This is Minsky and Papert's 1969 objection.) A hidden layer fixes it: the hidden
  units draw two lines and the output combines them, which is what an MLP does."""


def build_parser():
    parser = argparse.ArgumentParser(
        description="Train a single neuron (fnn.models.perceptron) online on a logic gate's truth table with the "
                    "perceptron rule or the delta rule, printing every update and the final truth table. XOR shows "
                    "why one neuron is not enough.",
    )
    parser.add_argument("--gate", type=str.upper, choices=sorted(GATES), default="AND",
                        help="the gate to learn (default: %(default)s)")
    parser.add_argument("--rule", choices=perceptron.RULES, default="perceptron",
                        help="learning rule (default: %(default)s)")
    parser.add_argument("--epochs", type=_common.positive_int, default=None,
                        help="passes over the 4 rows (default: 20 for perceptron, 200 for delta)")
    parser.add_argument("--lr", type=_common.positive_float, default=None,
                        help="learning rate (default: 1.0 for perceptron, 0.1 for delta)")
    parser.add_argument("--init-scale", type=_common.nonnegative_float, default=0.0,
                        help="start from N(0, scale^2) weights instead of zeros (default: %(default)s)")
    parser.add_argument("--trace-epochs", type=_common.positive_int, default=10,
                        help="print every update of the first this-many epochs and of the last one "
                             "(default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seeds --init-scale and the MLP shown for XOR")
    return parser


def fmt(v):
    return f"{v:+.4f}" if abs(v - round(v)) > 1e-12 else f"{v:+.0f}"


def train(params, x, y, *, rule, lr, epochs, trace_epochs):
    """Online training with the printed trace -> (params, epochs run, converged epoch or None)."""
    header = f"{'epoch':>5}  {'x1':>2} {'x2':>2}  {'target':>6}  {'z':>8}  {'output':>8}  {'error':>8}   " \
             f"{'w1':>8} {'w2':>8} {'b':>8}"
    print(header)
    print("-" * len(header))
    skipped = None
    for epoch in range(1, epochs + 1):
        before = {k: v.copy() for k, v in params.items()}
        lines, mistakes = [], 0
        for x_i, y_i in zip(x, y):
            z = float(x_i @ params["w"] + params["b"][0])
            params, error = perceptron.update(params, x_i, y_i, lr=lr, rule=rule)
            output = (1.0 if z >= 0 else 0.0) if rule == "perceptron" else z
            mistakes += (z >= 0) != bool(y_i)
            w1, w2 = params["w"]
            lines.append(f"{epoch:>5}  {x_i[0]:>2.0f} {x_i[1]:>2.0f}  {y_i:>6}  {fmt(z):>8}  {fmt(output):>8}  "
                         f"{fmt(error):>8}   {fmt(w1):>8} {fmt(w2):>8} {fmt(params['b'][0]):>8}")
        change = max(float(np.max(np.abs(params[k] - before[k]))) for k in params)
        if rule == "perceptron":
            # A whole epoch without a mistake leaves the rule nothing to fix. (Zero net change is not enough:
            # on XOR the weights can return to where the epoch started after four mistakes.)
            converged = mistakes == 0
        else:
            converged = change < DELTA_TOL
        if epoch <= trace_epochs or epoch == epochs or converged:
            if skipped is not None:
                print(f"  ... epochs {skipped}-{epoch - 1} not shown (--trace-epochs {trace_epochs})")
                skipped = None
            print("\n".join(lines))
            print(f"{'':>5}  epoch {epoch}: {mistakes} of {len(y)} rows misclassified before their update, "
                  f"net parameter change over the epoch {change:.3g}")
        elif skipped is None:
            skipped = epoch
        if converged:
            return params, epoch, epoch
    return params, epochs, None


def print_truth_table(params, x, y):
    z, _ = perceptron.forward(params, x)
    prediction = perceptron.predict(params, x).astype(np.int64)
    print(f"{'x1':>3} {'x2':>3}  {'target':>6}  {'z':>8}  {'prediction':>10}")
    for x_i, y_i, z_i, p_i in zip(x, y, z, prediction):
        mark = "ok" if p_i == y_i else "WRONG"
        print(f"{x_i[0]:>3.0f} {x_i[1]:>3.0f}  {y_i:>6}  {fmt(z_i):>8}  {p_i:>10}  {mark}")
    return int(np.sum(prediction != y))


def show_mlp_solves_xor(x, y, seed):
    """A 2-4-2 tanh MLP trained on the same four rows: one hidden layer is enough."""
    rng = np.random.default_rng(seed)
    params = mlp.init(rng, [2, 4, 2], weight_init="xavier_normal", dtype=x.dtype)
    opt = optim.adam(0.05)
    state = opt.init(params)
    for _ in range(500):
        _, grads = mlp.loss_and_grad(params, x, y, activation="tanh")
        params, state = opt.update(params, grads, state)
    prediction = mlp.predict(params, x, activation="tanh")
    rows = ", ".join(f"({a:.0f},{b:.0f})->{p}" for (a, b), p in zip(x, prediction))
    verdict = "all 4 correct" if np.array_equal(prediction, y) else f"{int(np.sum(prediction != y))} wrong"
    print(f"For comparison, a 2-4-2 MLP (tanh hidden layer, Adam, 500 steps) on XOR: {rows}: {verdict}.")


def main(argv=None):
    args = build_parser().parse_args(argv)
    epochs = args.epochs or DEFAULTS[args.rule]["epochs"]
    lr = args.lr or DEFAULTS[args.rule]["lr"]
    x, y = make_gates(args.gate, dtype=np.float64)
    rng = np.random.default_rng(args.seed)
    params = perceptron.init(rng, 2, scale=args.init_scale, dtype=np.float64)

    if args.rule == "perceptron":
        rule_text = "output = step(z) = 1 if z >= 0 else 0; error = target - output"
    else:
        rule_text = "output = z itself (a linear unit); error = (2*target - 1) - z, the bipolar target +-1 minus z"
    print(f"gate {args.gate}, {args.rule} rule, lr {lr:g}, up to {epochs} epochs; {rule_text}; "
          f"weights shown after each update")
    params, epochs_run, converged_at = train(params, x, y, rule=args.rule, lr=lr, epochs=epochs,
                                             trace_epochs=args.trace_epochs)

    print()
    print("final truth table (prediction = step(z) = 1 if z >= 0):")
    wrong = print_truth_table(params, x, y)
    print()
    if converged_at is not None and wrong == 0:
        print(f"result: {args.gate} learned: 4/4 rows correct, converged in epoch {converged_at}")
    elif converged_at is not None:
        print(f"result: {args.gate} NOT learned: the weights converged in epoch {converged_at} but "
              f"{wrong} of 4 rows are wrong")
    else:
        still = f"{wrong} of 4 rows wrong" if wrong else "all rows right at the end, but the weights still moving"
        print(f"result: {args.gate} NOT learned: no convergence after {epochs_run} epochs, {still}")
    if args.gate == "XOR":
        print()
        print(XOR_EXPLANATION)
        show_mlp_solves_xor(x, y, args.seed)
    elif wrong or converged_at is None:
        print(f"{args.gate} is linearly separable, so more --epochs (or another --lr) should get there.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
