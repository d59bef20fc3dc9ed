"""conv2d forward + backward (dx, dw, db): fnn's Numba kernels against PyTorch CPU eager.

    python benchmarks/bench_conv.py              # all four workloads
    python benchmarks/bench_conv.py --quick      # fewer rounds
    python benchmarks/bench_conv.py --only 3     # one workload (1-based)

float32, the dtype a CPU training run uses. Each round times one full step per
candidate: forward, then backward for dx, dw and db with a fixed upstream
gradient. PyTorch runs ``conv2d`` with x, w and b requiring grad and
``out.backward(dout)``. Per-phase medians for fnn (forward, backward, and the
backward without dx, as for a network's first layer) follow so bottlenecks
are visible.

Both libraries run their parallel loops on OpenMP thread pools (Numba's
"omp" threading layer, PyTorch's intra-op pool), two separate libgomp copies.
An idle OpenMP worker spins for a while before it sleeps, so timing the two
call by call measures one pool's spinning workers stealing the other's cores
(fnn and torch each slowed several-fold). ``OMP_WAIT_POLICY=PASSIVE``, the
earlier fix, slows torch's own step materially (measured here: conv2 fwd+bwd
1.77 -> 2.1-3.4 ms, LeNet step 7.0 -> 8.4-11.5 ms), so it is no longer set:
both run at their defaults and are timed with ``_harness.interleaved_settled``
(alternating blocks of calls with a pause between libraries). The settings
are printed with the machine facts.

``--contract-off`` compiles fnn's kernels without FMA contraction
(``FNN_FMA=0``, in a private Numba cache directory) to measure what
``fastmath={"contract"}`` buys.
"""
import _harness  # noqa: F401  (first: fixes BLAS threads before numpy loads)

import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

if "--contract-off" in sys.argv:
    # Read when kernels.conv is imported; the on-disk cache does not key on it, hence a fresh cache.
    os.environ["FNN_FMA"] = "0"
    os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="fnn-no-fma-")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from fnn.ops.conv import conv2d_backward, conv2d_forward  # noqa: E402

# (label, N, C, H, W, F, K, padding, target ratio fnn / torch)
WORKLOADS = [
    ("LeNet conv1: N64 C1 28x28 F6 5x5 pad 2", 64, 1, 28, 28, 6, 5, 2, 0.3),
    ("LeNet conv2: N64 C6 14x14 F16 5x5", 64, 6, 14, 14, 16, 5, 0, 1.0),
    ("N64 C32 28x28 F64 3x3 pad 1", 64, 32, 28, 28, 64, 3, 1, 1.3),
    ("N32 C64 32x32 F64 3x3 pad 1", 32, 64, 32, 32, 64, 3, 1, 1.3),
]


def numba_threading_layer():
    """The threading layer Numba picked; it is only known once a parallel kernel has run."""
    import numba

    x = np.ones((1, 1, 3, 3), np.float32)
    conv2d_forward(x, np.ones((1, 1, 1, 1), np.float32), np.zeros(1, np.float32))
    return numba.threading_layer()


def fnn_step(x, w, b, dout, padding):
    out, cache = conv2d_forward(x, w, b, padding=padding)
    return conv2d_backward(dout, cache)


def torch_step_fn(torch, x, w, b, dout, padding):
    xt = torch.from_numpy(x).requires_grad_(True)
    wt = torch.from_numpy(w).requires_grad_(True)
    bt = torch.from_numpy(b).requires_grad_(True)
    dt = torch.from_numpy(dout)

    def step():
        xt.grad = wt.grad = bt.grad = None
        out = torch.nn.functional.conv2d(xt, wt, bt, padding=padding)
        out.backward(dt)

    return step


def phase_times(x, w, b, dout, padding, rounds):
    """Medians of fnn's forward, backward (dx, dw, db) and backward without dx, timed interleaved."""
    _, cache = conv2d_forward(x, w, b, padding=padding)
    _, cache_data = conv2d_forward(x, w, b, padding=padding, input_grad=False)
    candidates = {
        "fnn forward": lambda: conv2d_forward(x, w, b, padding=padding),
        "fnn backward (dx, dw, db)": lambda: conv2d_backward(dout, cache),
        "fnn backward (dw, db only)": lambda: conv2d_backward(dout, cache_data),
    }
    return _harness.interleaved_settled(candidates, rounds=rounds, warmup=3, settle_seconds=0.0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--only", type=int, default=0, help="run only workload number K (1-based)")
    parser.add_argument("--contract-off", action="store_true", help="compile fnn's kernels without FMA contraction")
    args = parser.parse_args()
    rounds = 8 if args.quick else 25

    _harness.print_machine_facts()
    print(f"  {'BLAS threads (harness)':24s} {_harness.BLAS_THREADS} (fnn's conv kernels do not call BLAS)")
    print(_harness.settled_timing_line("calls"))
    print(f"  {'FMA contraction':24s} {'off (FNN_FMA=0)' if args.contract_off else 'on (fastmath={contract})'}")
    print(f"  {'numba threading layer':24s} {numba_threading_layer()}")
    torch = _harness.try_import_torch()
    rng = np.random.default_rng(0)
    summary = []
    for index, (label, N, C, H, W, F, K, pad, target) in enumerate(WORKLOADS, start=1):
        if args.only and index != args.only:
            continue
        x = rng.standard_normal((N, C, H, W), dtype=np.float32)
        w = (rng.standard_normal((F, C, K, K), dtype=np.float32) / np.float32(np.sqrt(C * K * K)))
        b = rng.standard_normal(F, dtype=np.float32)
        out, _ = conv2d_forward(x, w, b, padding=pad)  # compiles (or loads the cache) outside the timing
        dout = rng.standard_normal(out.shape, dtype=np.float32)
        fnn_step(x, w, b, dout, pad)
        candidates = {"fnn fwd+bwd": lambda: fnn_step(x, w, b, dout, pad)}
        if torch is not None:
            candidates["torch fwd+bwd"] = torch_step_fn(torch, x, w, b, dout, pad)
        t0 = time.perf_counter()
        times = _harness.interleaved_settled(candidates, rounds=rounds, warmup=3)
        reference = "torch fwd+bwd" if torch is not None else None
        ratios = _harness.report(f"[{index}] {label} (float32)", times, reference=reference, target=target)
        _harness.report(f"[{index}] fnn per phase", phase_times(x, w, b, dout, pad, rounds))
        print(f"  ({time.perf_counter() - t0:.1f} s)")
        summary.append((label, ratios.get("fnn fwd+bwd"), target))
    if torch is not None:
        print("\nsummary (fnn / torch, fwd+bwd):")
        for label, ratio, target in summary:
            status = "met" if ratio <= target else "NOT met"
            print(f"  {label:42s} {ratio:5.2f}  target <= {target:.2f}  {status}")


if __name__ == "__main__":
    main()
