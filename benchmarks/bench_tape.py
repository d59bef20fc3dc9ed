"""Cost of the tape: the library's hand-written MLP gradient against fnn.tape, torch and HIPS autograd.

MLP 784-128-64-10 with ReLU and softmax cross-entropy, batch 64, float32.
Candidates, timed interleaved in one process:

* ``fnn by hand``: ``fnn.models.mlp.loss_and_grad``, the library's real
  training path (hand-derived backward; the reference of the ratios),
* ``tape``: ``fnn.tape.value_and_grad(fnn.reference.mlp_loss)``, the same
  loss in plain NumPy differentiated by the tape (targets: <= 2x the hand-
  written path, and faster than HIPS autograd),
* ``torch autograd`` (CPU, its default thread count) and ``HIPS autograd``,
  when installed.

Usage: python benchmarks/bench_tape.py [--rounds N]
"""
import _harness  # noqa: F401  (first: fixes BLAS threads before numpy loads)

import argparse

import numpy as np

import fnn.reference
import fnn.tape
from fnn.check import rel_errors
from fnn.models import mlp

SIZES = (784, 128, 64, 10)
BATCH = 64


def make_problem(seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    params = mlp.init(rng, SIZES, dtype=dtype)
    params = {k: v + dtype(0.01) * rng.standard_normal(v.shape).astype(dtype) if k.endswith(".b") else v
              for k, v in params.items()}
    x = rng.standard_normal((BATCH, SIZES[0])).astype(dtype)
    y = rng.integers(0, SIZES[-1], BATCH)
    return params, x, y


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
    """The candidates must compute the same thing before their times mean anything (float32 round-off)."""
    loss_tape, g_tape = fnn.tape.value_and_grad(fnn.reference.mlp_loss)(params, x, y)
    loss_hand, g_hand = mlp.loss_and_grad(params, x, y)
    worst = max(rel_errors(g_hand, g_tape).values())
    assert abs(float(loss_tape) - float(loss_hand)) < 1e-5 * abs(float(loss_hand)), (loss_tape, loss_hand)
    assert worst < 1e-5, worst
    assert all(g_tape[k].dtype == g_hand[k].dtype == np.float32 for k in params)
    print(f"tape vs fnn by hand: loss {float(loss_tape):.6f} vs {float(loss_hand):.6f}, "
          f"worst relative gradient difference {worst:.2e} (float32)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=400)
    args = parser.parse_args()

    _harness.print_machine_facts()
    params, x, y = make_problem()
    check_agreement(params, x, y)

    tape_vg = fnn.tape.value_and_grad(fnn.reference.mlp_loss)
    candidates = {
        "fnn by hand": lambda: mlp.loss_and_grad(params, x, y),
        "tape": lambda: tape_vg(params, x, y),
    }
    torch_run = torch_candidate(params, x, y)
    if torch_run is not None:
        torch = _harness.try_import_torch()
        print(f"torch autograd runs with its default {torch.get_num_threads()} threads")
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
    _harness.report(title, times, reference="fnn by hand")
    if "torch autograd" in times:
        _harness.report("same, relative to torch CPU", times, reference="torch autograd")
    tape = np.median(times["tape"])
    hand_ratio = tape / np.median(times["fnn by hand"])
    print(f"\ntape / fnn by hand:   {hand_ratio:.2f}  (target <= 2.0: {'met' if hand_ratio <= 2.0 else 'NOT met'})")
    if "HIPS autograd" in times:
        hips_ratio = tape / np.median(times["HIPS autograd"])
        print(f"tape / HIPS autograd: {hips_ratio:.2f}  (target < 1.0: {'met' if hips_ratio < 1.0 else 'NOT met'})")


if __name__ == "__main__":
    main()
