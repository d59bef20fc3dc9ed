"""Shared timing harness for fnn's benchmarks.

Import this module before numpy (``import _harness`` is the first import of
every benchmark). OpenBLAS worker threads spin for a while after each call and
steal the cores a following Numba ``prange`` kernel wants, so the BLAS thread
count must be fixed before numpy loads. ``FNN_BENCH_BLAS_THREADS`` chooses it
(default below); every report prints the setting it ran with.

Timing rules: candidates run interleaved in one process (round-robin, so a
noisy neighbour slows every candidate alike), each round times one call per
candidate, and reports give medians and the ratio of each candidate to the
reference. The machine is shared and small: compare ratios, not absolutes.
"""
import os

from fnn import runtime  # noqa: E402  (imports neither numpy nor the rest of fnn)

DEFAULT_BLAS_THREADS = "1"
BLAS_THREADS = os.environ.setdefault("FNN_BENCH_BLAS_THREADS", DEFAULT_BLAS_THREADS)
# Only OpenBLAS (NumPy's BLAS) is pinned: OMP_NUM_THREADS would also throttle
# PyTorch, the reference, which runs with its own defaults (one thread per core).
RUNTIME = runtime.configure(blas_threads=int(BLAS_THREADS))

import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402


def try_import_torch():
    """PyTorch if installed (CPU build), else None; benchmarks then skip the reference cleanly."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def host_speed_gflops(seconds=0.2):
    """GFLOP/s of a float32 512x512 matrix product on this process's BLAS threads, median of ``seconds`` of runs.

    The VM the README's numbers come from drifts: its single-thread
    multiply-add rate ranged 24-47 GFLOP/s within an hour, and the same cold
    compile took 26-30 s in one session and 37-44 s in the next. Ratios cancel
    that; absolute times (cold compile, warm start) do not, so they are
    printed beside the probes.
    """
    a = np.random.default_rng(0).random((512, 512), dtype=np.float32)
    out = np.empty_like(a)
    times = interleaved({"matmul": lambda: np.matmul(a, a, out=out)}, rounds=5, warmup=1, min_seconds=seconds)
    return 2 * 512**3 / float(np.median(times["matmul"])) / 1e9


def python_loop_ns(iterations=300_000):
    """Nanoseconds per iteration of a plain Python loop, best of five: the pace of branchy scalar code."""
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        total = 0
        for i in range(iterations):
            total += i & 7
        best = min(best, time.perf_counter() - t0)
    return best / iterations * 1e9


def host_speed_line():
    """Both probes in one line: vector throughput, and the pace of branchy scalar code such as a compiler's."""
    return (f"{host_speed_gflops():.0f} GFLOP/s float32 512x512 matmul on {os.environ.get('OPENBLAS_NUM_THREADS')} "
            f"BLAS thread(s), {python_loop_ns():.1f} ns per Python loop iteration")


def machine_facts():
    """A dict of what the numbers depend on: CPU, cores, versions, thread settings, the host's speed now."""
    import numba

    facts = {
        "cpu": _cpu_model(),
        "logical cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba threads": numba.config.NUMBA_NUM_THREADS,
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        "OPENBLAS_THREAD_TIMEOUT": os.environ.get("OPENBLAS_THREAD_TIMEOUT", "(unset)"),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "(unset)"),
        "host speed probe": host_speed_line(),
    }
    torch = try_import_torch()
    if torch is not None:
        facts["torch"] = f"{torch.__version__} ({torch.get_num_threads()} threads)"
    else:
        facts["torch"] = "not installed (reference columns skipped)"
    return facts


def print_machine_facts():
    print("machine:")
    for key, value in machine_facts().items():
        print(f"  {key:24s} {value}")


def interleaved(candidates, *, rounds=200, warmup=10, min_seconds=0.0):
    """Time each callable in ``candidates`` (name -> fn) round-robin; return name -> array of seconds.

    Runs at least ``rounds`` rounds and keeps going until ``min_seconds`` have
    passed, so very fast candidates still get a stable median.
    """
    names = list(candidates)
    for _ in range(warmup):
        for name in names:
            candidates[name]()
    times = {name: [] for name in names}
    start = time.perf_counter()
    done = 0
    while done < rounds or time.perf_counter() - start < min_seconds:
        for name in names:
            t0 = time.perf_counter()
            candidates[name]()
            times[name].append(time.perf_counter() - t0)
        done += 1
    return {name: np.asarray(ts) for name, ts in times.items()}


def _fmt(seconds):
    if seconds >= 1.0:
        return f"{seconds:8.3f} s "
    if seconds >= 1e-3:
        return f"{seconds * 1e3:8.3f} ms"
    return f"{seconds * 1e6:8.1f} us"


def report(title, times, *, reference=None, target=None):
    """Print medians (and quartiles) of ``times``; ratios against ``reference`` when present.

    Returns {name: ratio to reference} (empty without a reference).
    """
    print(f"\n{title}")
    ref = np.median(times[reference]) if reference in times else None
    ratios = {}
    for name, ts in times.items():
        med = np.median(ts)
        q1, q3 = np.percentile(ts, [25, 75])
        line = f"  {name:28s} median {_fmt(med)}  (IQR {_fmt(q1)} .. {_fmt(q3)}, n={len(ts)})"
        if ref is not None and name != reference:
            ratios[name] = med / ref
            line += f"   ratio to {reference}: {med / ref:5.2f}"
            if target is not None:
                line += "  [target <= %.2f: %s]" % (target, "met" if med / ref <= target else "NOT met")
        print(line)
    return ratios


def fnn_sgd_step(loss_and_grad, params, x, y, *, lr):
    """One fnn training step as a no-argument callable: ``loss_and_grad``, then an SGD update.

    The new params and optimizer state carry over to the next call, as in a
    training loop (the update is pure, so each call allocates fresh arrays).
    """
    from fnn import optim

    state = {"params": params, "opt": optim.sgd_init(params)}

    def step():
        _, grads = loss_and_grad(state["params"], x, y)
        state["params"], state["opt"] = optim.sgd_update(state["params"], grads, state["opt"], lr=lr)

    return step


def torch_sgd_step(torch, model, x, y, *, lr):
    """The same step in PyTorch eager: cross-entropy of ``model`` on (x, y), backward, ``torch.optim.SGD``."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(tx), ty)
        loss.backward()
        opt.step()

    return step


def report_step_ratio(title, times, *, target):
    """Report a training step: fnn relative to torch (the denominator) when torch ran, plus a summary line."""
    if "torch" not in times:
        report(title, times)
        return
    ratios = report(title, {"torch": times["torch"], "fnn": times["fnn"]}, reference="torch", target=target)
    print(f"\nfnn/torch = {ratios['fnn']:.2f} (target <= {target})")


def python_tag():
    return f"{sys.implementation.name}-{platform.python_version()}"


SETTLED_BLOCK = 5
"""Calls per block in :func:`interleaved_settled` (the first, which wakes the thread pool, is not recorded)."""
SETTLED_PAUSE_SECONDS = 0.01
"""Pause before each block in :func:`interleaved_settled`, in which the other library's workers go to sleep."""


def settled_timing_line(unit="calls"):
    """The machine-facts line saying how :func:`interleaved_settled` times at its defaults."""
    return (f"  {'timing':24s} interleaved_settled: blocks of {SETTLED_BLOCK} {unit} (first not recorded), "
            f"{SETTLED_PAUSE_SECONDS * 1e3:g} ms pause between")


def settled_rounds_help(unit="calls"):
    """The --rounds help text of a benchmark timed with :func:`interleaved_settled`."""
    return f"blocks per candidate ({SETTLED_BLOCK - 1} timed {unit} each)"


def interleaved_settled(candidates, *, rounds=40, warmup=3, block=SETTLED_BLOCK, settle_seconds=SETTLED_PAUSE_SECONDS):
    """Time each callable in ``candidates`` (name -> fn) in alternating blocks; return name -> array of seconds.

    For candidates that run their own OpenMP thread pools (fnn's Numba
    kernels on the "omp" layer and PyTorch each load a separate libgomp).
    After a parallel region an idle OpenMP worker spins, by default for
    milliseconds, before it sleeps; calls interleaved one by one then
    measure one pool's spinning workers stealing the cores the other needs.
    Setting ``OMP_WAIT_POLICY=PASSIVE`` avoids that but changes what is
    measured (PyTorch's step gets much slower, every region paying a
    wake-up). Here each candidate instead runs ``block`` consecutive calls,
    after a pause of ``settle_seconds`` (outside the timing) in which the
    other's workers go to sleep (measured here: a worker spins 3-5 ms of CPU
    after a LeNet step; much longer pauses let the VM idle down and slow
    both); the first call of each block, which wakes the pool, is not
    recorded. Each library thus runs at its own defaults, as it would alone,
    and blocks still alternate, so a noisy neighbour slows every candidate
    alike. ``rounds`` blocks per candidate,
    ``block - 1`` times recorded from each.
    """
    names = list(candidates)
    for _ in range(warmup):
        for name in names:
            candidates[name]()
    times = {name: [] for name in names}
    for _ in range(rounds):
        for name in names:
            time.sleep(settle_seconds)
            candidates[name]()
            for _ in range(block - 1):
                t0 = time.perf_counter()
                candidates[name]()
                times[name].append(time.perf_counter() - t0)
    return {name: np.asarray(ts) for name, ts in times.items()}
