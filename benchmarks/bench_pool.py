"""Pooling and batch norm, forward + backward, against PyTorch CPU eager.

    python benchmarks/bench_pool.py [--rounds 40] [--skip-compile]

Shapes are a small CNN's first pooling layer: x (64, 32, 28, 28) float32.
The headline is max pooling 2x2 / stride 2, target <= 0.2 x PyTorch
(``F.max_pool2d`` + autograd backward). Average pooling, a 3x3 / stride 2 /
padding 1 max pooling (the general kernel) and batch norm in training mode
are printed for information. Last, the pooling kernels' start-up time in a
fresh process: cold compile (``FNN_NUMBA_CACHE=0``) and with the on-disk cache.

Both libraries run at their thread-pool defaults, timed with
``_harness.interleaved_settled`` (alternating blocks of calls with a pause
between libraries, so neither library's idle OpenMP workers, spinning before
they sleep, steal the other's cores; see ``bench_conv.py``).
"""
import _harness  # noqa: I001  (must come first: fixes BLAS threads before numpy loads)

import argparse
import os
import subprocess
import sys

import numpy as np

from fnn.ops import (
    avgpool2d_backward,
    avgpool2d_forward,
    batchnorm_backward,
    batchnorm_forward,
    maxpool2d_backward,
    maxpool2d_forward,
)

SHAPE = (64, 32, 28, 28)

_COLD_COMPILE = r"""
import time
t0 = time.perf_counter()
import numpy as np
from fnn.ops import maxpool2d_forward, maxpool2d_backward, avgpool2d_forward, avgpool2d_backward
t1 = time.perf_counter()
x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
for kw in ({}, {"kernel_size": 3, "stride": 2, "padding": 1}):
    for fwd, bwd in ((maxpool2d_forward, maxpool2d_backward), (avgpool2d_forward, avgpool2d_backward)):
        out, cache = fwd(x, **kw)
        bwd(np.ones_like(out), cache)
t2 = time.perf_counter()
print(f"{t1 - t0:.3f} {t2 - t1:.3f}")
"""


def report(title, times, *, target=None):
    """The harness report (medians), plus the ratio of the fastest rounds.

    On a shared machine other jobs inflate medians of the 2-thread kernels
    unevenly; the fastest round of each candidate approximates an unloaded
    run and is printed alongside, for information only.
    """
    ratios = _harness.report(title, times, reference="torch", target=target)
    if "torch" in times:
        best = {name: float(np.min(ts)) for name, ts in times.items()}
        print(f"  fastest-round ratio to torch: {best['fnn'] / best['torch']:.2f}")
    return ratios


def fnn_candidate(forward, backward, x, dout, **kw):
    def run():
        out, cache = forward(x, **kw)
        return backward(dout, cache)
    return run


def torch_candidate(torch, op, x, dout):
    tx, tdout = torch.from_numpy(x), torch.from_numpy(dout)

    def run():
        leaf = tx.detach().requires_grad_(True)
        op(leaf).backward(tdout)
        return leaf.grad
    return run


def bench_pooling(torch, rng, rounds):
    x = rng.standard_normal(SHAPE, dtype=np.float32)
    cases = [
        ("maxpool 2x2 stride 2", maxpool2d_forward, maxpool2d_backward, {}, "max_pool2d", 0.2),
        ("avgpool 2x2 stride 2", avgpool2d_forward, avgpool2d_backward, {}, "avg_pool2d", None),
        ("maxpool 3x3 stride 2 pad 1 (general kernel)", maxpool2d_forward, maxpool2d_backward,
         {"kernel_size": 3, "stride": 2, "padding": 1}, "max_pool2d", None),
    ]
    ratios = {}
    for title, forward, backward, kw, torch_name, target in cases:
        out, _ = forward(x, **kw)
        dout = rng.standard_normal(out.shape, dtype=np.float32)
        candidates = {"fnn": fnn_candidate(forward, backward, x, dout, **kw)}
        if torch is not None:
            fn = getattr(torch.nn.functional, torch_name)
            k, s, p = kw.get("kernel_size", 2), kw.get("stride", None), kw.get("padding", 0)
            candidates["torch"] = torch_candidate(torch, lambda t, fn=fn, k=k, s=s, p=p: fn(t, k, s, p), x, dout)
        times = _harness.interleaved_settled(candidates, rounds=rounds)
        ratios.update(report(f"{title}, fwd+bwd, {SHAPE} float32", times, target=target))
    return ratios


def bench_batchnorm(torch, rng, rounds):
    x = rng.standard_normal(SHAPE, dtype=np.float32)
    dout = rng.standard_normal(SHAPE, dtype=np.float32)
    C = SHAPE[1]
    gamma, beta = np.ones(C, np.float32), np.zeros(C, np.float32)
    running_mean, running_var = np.zeros(C, np.float32), np.ones(C, np.float32)

    def fnn_run():
        out, cache, _ = batchnorm_forward(x, gamma, beta, running_mean=running_mean, running_var=running_var)
        return batchnorm_backward(dout, cache)

    candidates = {"fnn": fnn_run}
    if torch is not None:
        tg, tb = torch.from_numpy(gamma), torch.from_numpy(beta)
        trm, trv = torch.from_numpy(running_mean.copy()), torch.from_numpy(running_var.copy())

        def op(t):
            g, b = tg.detach().requires_grad_(True), tb.detach().requires_grad_(True)
            return torch.nn.functional.batch_norm(t, trm, trv, g, b, training=True)

        candidates["torch"] = torch_candidate(torch, op, x, dout)
    times = _harness.interleaved_settled(candidates, rounds=rounds)
    return report(f"batchnorm (training), fwd+bwd, {SHAPE} float32", times)


def start_up_seconds(cache):
    """(import seconds, first-call seconds) of the pooling ops in a fresh process.

    With ``cache=False`` (``FNN_NUMBA_CACHE=0``) the first calls compile every
    kernel; with the cache on they load machine code from disk (the call
    before the timed one fills the cache if it was empty).
    """
    env = dict(os.environ, FNN_NUMBA_CACHE="1" if cache else "0")
    runs = 2 if cache else 1
    for _ in range(runs):
        result = subprocess.run(
            [sys.executable, "-c", _COLD_COMPILE], env=env, capture_output=True, text=True, check=True
        )
    return tuple(float(v) for v in result.stdout.split())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help=_harness.settled_rounds_help("calls"))
    parser.add_argument("--skip-compile", action="store_true", help="skip the start-up (compile) measurement")
    args = parser.parse_args()
    _harness.print_machine_facts()
    print(_harness.settled_timing_line("calls"))
    torch = _harness.try_import_torch()
    rng = np.random.default_rng(0)
    bench_pooling(torch, rng, args.rounds)
    bench_batchnorm(torch, rng, args.rounds)
    if not args.skip_compile:
        print("\nfirst calls of the 2 pooling kernels (float32, all modes) in a fresh process:")
        for cache, label in ((False, "cold compile, FNN_NUMBA_CACHE=0"), (True, "on-disk cache")):
            import_s, first_s = start_up_seconds(cache)
            print(f"  {label:32s} import {import_s:.2f} s, first calls {first_s:.2f} s")


if __name__ == "__main__":
    main()
