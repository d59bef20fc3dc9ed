"""Cost of the tape: value_and_grad of an MLP loss against hand-written NumPy, torch and HIPS autograd.

MLP 784-128-64-10 with ReLU and softmax cross-entropy, batch 64, float32.
Candidates, timed interleaved in one process:

* ``tape``: ``fnn.tape.value_and_grad`` of the plain-NumPy loss below,
* ``numpy by hand``: the same loss with its backward written out by hand
  (the reference; targets: tape <= 2x of it, and faster than HIPS autograd),
* ``torch autograd`` (CPU) and ``HIPS autograd``, when installed.

Usage: python benchmarks/bench_tape.py [--rounds N]
"""
import _harness  # noqa: F401  (first: fixes BLAS threads before numpy loads)

import argparse

import numpy as np

import fnn.tape

SIZES = (784, 128, 64, 10)
BATCH = 64


def make_problem(seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    params = {}
    for i, (d, m) in enumerate(zip(SIZES[:-1], SIZES[1:]), start=1):
        params[f"dense{i}.w"] = (rng.standard_normal((d, m)) * np.sqrt(2.0 / d)).astype(dtype)
        params[f"dense{i}.b"] = np.zeros(m, dtype)
    x = rng.standard_normal((BATCH, SIZES[0])).astype(dtype)
    y = rng.integers(0, SIZES[-1], BATCH)
    return params, x, y


def mlp_loss(params, x, y):
    """Plain NumPy: what the tape differentiates. x (N, D), y (N,) -> mean cross-entropy."""
    h = np.maximum(x @ params["dense1.w"] + params["dense1.b"], 0)
    h = np.maximum(h @ params["dense2.w"] + params["dense2.b"], 0)
    logits = h @ params["dense3.w"] + params["dense3.b"]                      # (N, V)
    shift = logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(logits - shift).sum(axis=1)) + shift[:, 0]      # (N,)
    return np.mean(log_norm - logits[np.arange(len(y)), y])


def mlp_loss_and_grad_by_hand(params, x, y):
    """The same loss with its backward written out: the reference the tape is measured against."""
    a1 = x @ params["dense1.w"] + params["dense1.b"]
    h1 = np.maximum(a1, 0)
    a2 = h1 @ params["dense2.w"] + params["dense2.b"]
    h2 = np.maximum(a2, 0)
    logits = h2 @ params["dense3.w"] + params["dense3.b"]
    n = len(y)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    total = e.sum(axis=1, keepdims=True)
    probs = e / total
    loss = -np.mean(np.log(probs[np.arange(n), y]))
    dlogits = probs                       # d loss / d logits = (softmax - onehot) / N
    dlogits[np.arange(n), y] -= 1
    dlogits /= n
    grads = {"dense3.w": h2.T @ dlogits, "dense3.b": dlogits.sum(axis=0)}
    da2 = dlogits @ params["dense3.w"].T
    da2 *= a2 > 0
    grads["dense2.w"] = h1.T @ da2
    grads["dense2.b"] = da2.sum(axis=0)
    da1 = da2 @ params["dense2.w"].T
    da1 *= a1 > 0
    grads["dense1.w"] = x.T @ da1
    grads["dense1.b"] = da1.sum(axis=0)
    return loss, grads


def torch_candidate(params, x, y):
    torch = _harness.try_import_torch()
    if torch is None:
        return None
    tp = {k: torch.from_numpy(v.copy()).requires_grad_() for k, v in params.items()}
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def run():
        h = torch.relu(tx @ tp["dense1.w"] + tp["dense1.b"])
        h = torch.relu(h @ tp["dense2.w"] + tp["dense2.b"])
        logits = h @ tp["dense3.w"] + tp["dense3.b"]
        loss = torch.nn.functional.cross_entropy(logits, ty)
        return loss.item(), torch.autograd.grad(loss, list(tp.values()))

    return run


def hips_candidate(params, x, y):
    try:
        import autograd
        import autograd.numpy as anp
    except ImportError:
        return None

    def loss(p, x, y):
        h = anp.maximum(anp.dot(x, p["dense1.w"]) + p["dense1.b"], 0)
        h = anp.maximum(anp.dot(h, p["dense2.w"]) + p["dense2.b"], 0)
        logits = anp.dot(h, p["dense3.w"]) + p["dense3.b"]
        shift = anp.max(logits, axis=1, keepdims=True)
        log_norm = anp.log(anp.sum(anp.exp(logits - shift), axis=1)) + shift[:, 0]
        return anp.mean(log_norm - logits[anp.arange(len(y)), y])

    vg = autograd.value_and_grad(loss)
    return lambda: vg(params, x, y)


def check_agreement(params, x, y):
    """The candidates must compute the same thing before their times mean anything."""
    loss_tape, g_tape = fnn.tape.value_and_grad(mlp_loss)(params, x, y)
    loss_hand, g_hand = mlp_loss_and_grad_by_hand(params, x, y)
    worst = max(float(np.max(np.abs(g_tape[k] - g_hand[k])) / (np.max(np.abs(g_hand[k])) + 1e-30))
                for k in params)
    assert abs(float(loss_tape) - float(loss_hand)) < 1e-4 * abs(float(loss_hand)), (loss_tape, loss_hand)
    assert worst < 1e-4, worst
    assert all(g_tape[k].dtype == np.float32 for k in params)
    print(f"tape vs hand-written: loss {float(loss_tape):.6f} vs {float(loss_hand):.6f}, "
          f"worst relative gradient difference {worst:.2e} (float32)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=400)
    args = parser.parse_args()

    torch = _harness.try_import_torch()
    if torch is not None:  # same thread budget as NumPy's BLAS, or torch oversubscribes the 2 cores
        torch.set_num_threads(int(_harness.BLAS_THREADS))
    _harness.print_machine_facts()
    params, x, y = make_problem()
    check_agreement(params, x, y)

    tape_vg = fnn.tape.value_and_grad(mlp_loss)
    candidates = {
        "numpy by hand": lambda: mlp_loss_and_grad_by_hand(params, x, y),
        "tape": lambda: tape_vg(params, x, y),
    }
    torch_run = torch_candidate(params, x, y)
    if torch_run is not None:
        candidates["torch autograd"] = torch_run
    else:
        print("torch not installed: skipping the torch column")
    hips_run = hips_candidate(params, x, y)
    if hips_run is not None:
        candidates["HIPS autograd"] = hips_run
    else:
        print("HIPS autograd not installed: skipping its column")

    times = _harness.interleaved(candidates, rounds=args.rounds, warmup=20)
    title = f"value and gradient of MLP {'-'.join(map(str, SIZES))} cross-entropy, batch {BATCH}, float32"
    _harness.report(title, times, reference="numpy by hand")
    if "torch autograd" in times:
        _harness.report("same, relative to torch CPU", times, reference="torch autograd")
    tape = np.median(times["tape"])
    print(f"\ntape / numpy by hand: {tape / np.median(times['numpy by hand']):.2f}  (target <= 2.0)")
    if "HIPS autograd" in times:
        print(f"tape / HIPS autograd:  {tape / np.median(times['HIPS autograd']):.2f}  (target < 1.0)")


if __name__ == "__main__":
    main()
