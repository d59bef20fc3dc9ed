"""Start-up costs: cold compile of every kernel, and a warm start of `import fnn` plus the first LeNet step.

* cold: a fresh process with an empty Numba cache directory runs every kernel
  path (convolution forward/dx/dw for the specialised and general shapes,
  pooling fast and general paths, erf, ReLU, softmax cross-entropy, the
  optimizers' scaled add) in float32 and float64; the time is
  what a first-ever user pays. Target <= 30 s.
* warm: a fresh process with that cache present times ``import fnn`` and the
  first LeNet-5 training step (init, forward, backward, SGD). Target <= 1 s.

Each measurement is a separate interpreter (that is the point), repeated
``--repeats`` times; medians are reported. Run:

    python benchmarks/bench_startup.py [--repeats 3]
"""
import _harness  # noqa: F401  (must come before numpy: fixes BLAS threads)

import argparse  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

import numpy as np  # noqa: E402

EXERCISE_ALL_KERNELS = r"""
import time
t0 = time.perf_counter()
import numpy as np
from fnn import ops, optim
for dtype in (np.float32, np.float64):
    rng = np.random.default_rng(0)
    for shape, wshape, kw in [((2, 1, 12, 12), (3, 1, 5, 5), dict(padding=2)),
                              ((2, 3, 10, 10), (4, 3, 3, 3), dict(padding=1)),
                              ((2, 3, 11, 11), (4, 3, 3, 2), dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2)))]:
        x = rng.random(shape).astype(dtype); w = rng.random(wshape).astype(dtype)
        out, cache = ops.conv2d_forward(x, w, np.zeros(wshape[0], dtype), **kw)
        ops.conv2d_backward(np.ones_like(out), cache)
    x = rng.random((2, 3, 8, 8)).astype(dtype)
    for pool in (ops.maxpool2d_forward, ops.avgpool2d_forward):
        for kw in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1)):
            out, cache = pool(x, **kw)
            (ops.maxpool2d_backward if pool is ops.maxpool2d_forward else ops.avgpool2d_backward)(np.ones_like(out), cache)
    ops.gelu_forward(x, approximate="none")
    logits = rng.random((4, 10)).astype(dtype)
    loss, cache = ops.softmax_cross_entropy_forward(logits, np.arange(4))
    ops.softmax_cross_entropy_backward(1.0, cache)
    out, cache = ops.relu_forward(x)
    ops.relu_backward(np.ones_like(out), cache)
    params = {"w": rng.random((80, 64)).astype(dtype)}  # large enough for the fused update kernel
    optim.sgd_update(params, params, optim.sgd_init(params), lr=0.1)
print(f"ELAPSED {time.perf_counter() - t0:.3f}")
"""

WARM_FIRST_STEP = r"""
import time
t0 = time.perf_counter()
import numpy as np
import fnn
from fnn import optim
from fnn.models import cnn
t_import = time.perf_counter() - t0
rng = np.random.default_rng(0)
params = cnn.init(rng)
x = rng.random((64, 1, 28, 28), dtype=np.float32)
y = rng.integers(0, 10, 64)
loss, grads = cnn.loss_and_grad(params, x, y)
params, state = optim.sgd_update(params, grads, optim.sgd_init(params), lr=0.01)
print(f"IMPORT {t_import:.3f}")
print(f"ELAPSED {time.perf_counter() - t0:.3f}")
"""


def run(code, cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, FNN_NUMBA_CACHE="1")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"subprocess failed:\n{proc.stderr}")
    values = dict(line.split() for line in proc.stdout.splitlines() if line.split()[0].isupper())
    return {k: float(v) for k, v in values.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    _harness.print_machine_facts()
    cold, warm, warm_import = [], [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="fnn-numba-cache-") as cache_dir:
            cold.append(run(EXERCISE_ALL_KERNELS, cache_dir)["ELAPSED"])
            result = run(WARM_FIRST_STEP, cache_dir)
            warm.append(result["ELAPSED"])
            warm_import.append(result["IMPORT"])
    print(f"\ncold compile of every kernel (float32 + float64), empty cache: median {np.median(cold):6.2f} s "
          f"(runs {', '.join(f'{t:.2f}' for t in cold)})  [target <= 30 s: {'met' if np.median(cold) <= 30 else 'NOT met'}]")
    print(f"warm start: import fnn + first LeNet step, cache present:  median {np.median(warm):6.2f} s "
          f"(import alone {np.median(warm_import):.2f} s)  [target <= 1 s: {'met' if np.median(warm) <= 1 else 'NOT met'}]")
    # Both targets are absolute times, so they move with the host's speed: the probe ran before, and now after.
    print(f"host speed probe after the runs: {_harness.host_speed_line()}")


if __name__ == "__main__":
    main()
