"""LeNet-5 training step (batch 64): fnn vs PyTorch CPU eager.

One step = forward, softmax cross-entropy, backward, SGD update, on MNIST-shaped
float32 input. Run:

    python benchmarks/bench_lenet.py [--rounds 60] [--batch 64]

Both libraries run at their thread-pool defaults; ``_harness.interleaved_settled``
times them in alternating blocks of calls with a pause between libraries, so
one library's idle OpenMP workers (which spin before sleeping) do not steal
the other's cores (see its docstring and ``bench_conv.py``).
"""
import _harness  # noqa: F401  (must come before numpy: fixes BLAS threads)

import argparse  # noqa: E402

import numpy as np  # noqa: E402

from fnn.models import cnn  # noqa: E402

LR = 0.01


def torch_lenet(torch, params):
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    linears = [m for m in model if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for i, m in enumerate(convs, start=1):
            m.weight.copy_(torch.from_numpy(params[f"conv{i}.w"]))
            m.bias.copy_(torch.from_numpy(params[f"conv{i}.b"]))
        for i, m in enumerate(linears, start=1):
            m.weight.copy_(torch.from_numpy(params[f"dense{i}.w"].T.copy()))
            m.bias.copy_(torch.from_numpy(params[f"dense{i}.b"]))
    return model


def check_same_loss(torch, params, x, y):
    """Sanity check before timing: both frameworks compute the same loss on the same weights."""
    ours, _ = cnn.loss_and_grad(params, x, y)
    model = torch_lenet(torch, params)
    theirs = torch.nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y.astype(np.int64)))
    if abs(float(ours) - float(theirs.detach())) > 1e-4 * max(1.0, abs(float(theirs))):
        raise SystemExit(f"loss mismatch before timing: fnn {float(ours)} vs torch {float(theirs.detach())}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=60, help=_harness.settled_rounds_help("steps"))
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    _harness.print_machine_facts()
    print(_harness.settled_timing_line("steps"))
    rng = np.random.default_rng(0)
    params = cnn.init(rng)
    x = rng.random((args.batch, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, args.batch)
    candidates = {"fnn": _harness.fnn_sgd_step(cnn.loss_and_grad, params, x, y, lr=LR)}
    torch = _harness.try_import_torch()
    if torch is not None:
        check_same_loss(torch, params, x, y)
        candidates["torch"] = _harness.torch_sgd_step(torch, torch_lenet(torch, params), x, y, lr=LR)
    times = _harness.interleaved_settled(candidates, rounds=args.rounds, warmup=10)
    title = f"LeNet-5 training step, batch {args.batch}, float32"
    _harness.report_step_ratio(title, times, target=0.6)


if __name__ == "__main__":
    main()
