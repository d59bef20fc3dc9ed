"""MLP 784-128-64-10 training step (batch 64): fnn vs PyTorch CPU eager.

One step = forward, softmax cross-entropy, backward, SGD update. Run:

    python benchmarks/bench_mlp.py [--rounds 300] [--dtype float32]
"""
import os

# The MLP step is all matrix products and no Numba parallel kernel: two BLAS
# threads that sleep as soon as they are idle measured a few percent faster
# than one (and, unlike spinning ones, leave PyTorch's turn alone). Override
# with FNN_BENCH_BLAS_THREADS=1 / OPENBLAS_THREAD_TIMEOUT=28 to compare.
os.environ.setdefault("FNN_BENCH_BLAS_THREADS", "2")
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import _harness  # noqa: E402,F401  (must come before numpy: fixes BLAS threads)

import argparse  # noqa: E402

import numpy as np  # noqa: E402

from fnn.models import mlp  # noqa: E402

SIZES = [784, 128, 64, 10]
BATCH = 64
LR = 0.01


def torch_mlp(torch, params):
    """The same MLP in PyTorch, holding copies of ``params``."""
    layers = []
    for i in range(1, len(SIZES)):
        lin = torch.nn.Linear(SIZES[i - 1], SIZES[i])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(params[f"dense{i}.w"].T.copy()))
            lin.bias.copy_(torch.from_numpy(params[f"dense{i}.b"]))
        layers += [lin, torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args()
    _harness.print_machine_facts()
    rng = np.random.default_rng(0)
    params = mlp.init(rng, SIZES, dtype=np.dtype(args.dtype))
    x = rng.standard_normal((BATCH, SIZES[0])).astype(args.dtype)
    y = rng.integers(0, SIZES[-1], BATCH)
    candidates = {"fnn": _harness.fnn_sgd_step(mlp.loss_and_grad, params, x, y, lr=LR)}
    torch = _harness.try_import_torch()
    if torch is not None:
        torch.set_default_dtype(getattr(torch, args.dtype))
        candidates["torch"] = _harness.torch_sgd_step(torch, torch_mlp(torch, params), x, y, lr=LR)
    times = _harness.interleaved(candidates, rounds=args.rounds, warmup=20)
    title = f"MLP {'-'.join(map(str, SIZES))} training step, batch {BATCH}, {args.dtype}"
    _harness.report_step_ratio(title, times, target=0.6)


if __name__ == "__main__":
    main()
