"""The example programs, run as a person runs them (subprocesses), judged by what they print and write."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from fnn import checkpoint
from fnn.data import GATES, HOUSE_FEATURES, HOUSE_TRUE_COEFFICIENTS, find_dataset, load_mnist, write_csv
from fnn.models import mlp

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TIMEOUT = 120


def run_example(name, *args, cwd, env_extra=None):
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, os.path.join(EXAMPLES, name), *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT,
    )


def require_ok(result):
    assert result.returncode == 0, f"exit code {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


def assert_png(path):
    assert os.path.isfile(path), f"{path} was not written"
    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    assert os.path.getsize(path) > 5_000  # an empty canvas is far smaller than a plot with data


def final_number(stdout, label):
    """The float after ``label:`` on the last line that has it."""
    values = re.findall(rf"^{re.escape(label)}: ([0-9.]+)", stdout, flags=re.MULTILINE)
    assert values, f"no '{label}:' line in\n{stdout}"
    return float(values[-1])


@pytest.mark.parametrize("name, flag", [
    ("demo.py", "--hidden"), ("manual_neuron.py", "--gate"), ("predict_house.py", "--csv"), ("mnist_mlp.py", "--kind"),
])
def test_help_lists_the_flags(tmp_path, name, flag):
    out = require_ok(run_example(name, "--help", cwd=tmp_path))
    assert out.startswith("usage:")
    for common in ("--seed", flag):
        assert common in out


# ---------------------------------------------------------------- demo

def test_demo_learns_the_spiral_and_saves_its_plot(tmp_path):
    out_dir = tmp_path / "demo_out"
    out = require_ok(run_example("demo.py", "--epochs", 15, "--seed", 3, "--out", out_dir, cwd=tmp_path))
    epoch_lines = re.findall(r"^epoch +\d+/15 ", out, flags=re.MULTILINE)
    assert len(epoch_lines) == 15
    assert final_number(out, "validation accuracy") > 0.9
    assert final_number(out, "test accuracy") > 0.9
    assert out.strip().splitlines()[-1].startswith("test accuracy:")
    assert_png(out_dir / "demo.png")
    assert str(out_dir / "demo.png") in out


def test_demo_is_deterministic_for_a_seed(tmp_path):
    def accuracy_lines(seed):
        out = require_ok(run_example("demo.py", "--epochs", 3, "--seed", seed, "--out", tmp_path / "d", cwd=tmp_path))
        return [line.split("  ")[:5] for line in out.splitlines() if line.startswith("epoch")]  # drop timings

    first = accuracy_lines(1)
    assert first == accuracy_lines(1)
    assert first != accuracy_lines(2)


# ---------------------------------------------------------------- manual_neuron

TRUTH_ROW = re.compile(r"^\s*([01])\s+([01])\s+([01])\s+\S+\s+([01])\s+(ok|WRONG)$", flags=re.MULTILINE)


def truth_table(stdout):
    """[(x1, x2, target, prediction)] parsed from the final truth table."""
    table = stdout.split("final truth table", 1)[1]
    return [tuple(int(v) for v in row[:4]) for row in TRUTH_ROW.findall(table)]


@pytest.mark.parametrize("gate, rule", [("AND", "perceptron"), ("OR", "perceptron"), ("NAND", "perceptron"),
                                        ("AND", "delta"), ("OR", "delta")])
def test_manual_neuron_learns_separable_gates(tmp_path, gate, rule):
    out = require_ok(run_example("manual_neuron.py", "--gate", gate, "--rule", rule, cwd=tmp_path))
    rows = truth_table(out)
    assert [(x1, x2) for x1, x2, _, _ in rows] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert [t for _, _, t, _ in rows] == list(GATES[gate])
    assert [p for _, _, _, p in rows] == list(GATES[gate])
    assert re.search(rf"^result: {gate} learned: 4/4 rows correct, converged in epoch \d+$", out, flags=re.MULTILINE)


def test_manual_neuron_prints_each_update_of_the_trace(tmp_path):
    out = require_ok(run_example("manual_neuron.py", "--gate", "AND", cwd=tmp_path))
    # epoch, x1, x2, target, z, output, error, w1, w2, b: the perceptron rule from zero weights on AND
    updates = re.findall(r"^\s*(\d+)\s+([01])\s+([01])\s+([01])" + r"\s+([+-]\S+)" * 6 + "$", out, flags=re.MULTILINE)
    assert len(updates) % 4 == 0 and len(updates) >= 8
    w = np.zeros(2)
    b = 0.0
    for _, x1, x2, target, z, output, error, w1, w2, b_new in updates:
        x = np.array([float(x1), float(x2)])
        assert float(z) == pytest.approx(x @ w + b)
        assert float(output) == (1.0 if float(z) >= 0 else 0.0)
        assert float(error) == int(target) - float(output)
        w, b = w + float(error) * x, b + float(error)  # lr 1
        assert (float(w1), float(w2), float(b_new)) == pytest.approx((w[0], w[1], b))


@pytest.mark.parametrize("rule", ["perceptron", "delta"])
def test_manual_neuron_reports_that_xor_cannot_be_learned(tmp_path, rule):
    result = run_example("manual_neuron.py", "--gate", "XOR", "--rule", rule, "--epochs", 50, cwd=tmp_path)
    out = require_ok(result)
    rows = truth_table(out)
    assert [t for _, _, t, _ in rows] == list(GATES["XOR"])
    assert sum(p != t for _, _, t, p in rows) >= 1
    assert re.search(r"^result: XOR NOT learned", out, flags=re.MULTILINE)
    assert "no straight line" in out and "w1 + w2 + b < 0" in out
    assert "hidden layer" in out
    assert re.search(r"2-4-2 MLP.*: all 4 correct", out)


# ---------------------------------------------------------------- predict_house

def coefficient_table(stdout):
    """{name: (true or None, normal_eq, grad_descent)} parsed from the side-by-side table."""
    lines = stdout.split("coefficient", 1)[1].splitlines()[1:]
    table = {}
    for line in lines:
        if line.startswith("largest relative difference"):
            break
        name, true, ne, gd, _ = line.split()
        table[name] = (None if true == "-" else float(true), float(ne), float(gd))
    return table


def test_predict_house_solvers_agree_on_generated_houses(tmp_path):
    out_dir = tmp_path / "house"
    out = require_ok(run_example("predict_house.py", "--out", out_dir, cwd=tmp_path))
    table = coefficient_table(out)
    assert list(table) == ["intercept", *HOUSE_FEATURES]
    for name, (true, ne, gd) in table.items():
        assert true == HOUSE_TRUE_COEFFICIENTS[name]
        assert gd == pytest.approx(ne, rel=1e-6)
    assert final_number(out, "held-out R2") > 0.9
    assert os.path.isfile(out_dir / "houses.csv") and str(out_dir / "houses.csv") in out
    assert_png(out_dir / "predict_house.png")


def test_predict_house_recovers_exact_coefficients_from_a_csv(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(-50, 50, (60, 2)) * np.array([1.0, 0.01])  # very different scales, as in real data
    y = 7.0 + x @ np.array([-2.0, 300.0])
    path = tmp_path / "exact.csv"
    write_csv(path, x, y, ["a", "b", "target"])
    out = require_ok(run_example("predict_house.py", "--csv", path, "--steps", 2000, "--out", tmp_path / "o",
                                 cwd=tmp_path))
    table = coefficient_table(out)
    assert [v[0] for v in table.values()] == [None, None, None]
    for name, expected in (("intercept", 7.0), ("a", -2.0), ("b", 300.0)):
        _, ne, gd = table[name]
        assert ne == pytest.approx(expected, rel=1e-9)
        assert gd == pytest.approx(expected, rel=1e-6)
    assert final_number(out, "held-out R2") == pytest.approx(1.0, abs=1e-9)


def test_predict_house_ridge_solvers_agree_and_shrink(tmp_path):
    plain = coefficient_table(require_ok(run_example("predict_house.py", "--out", tmp_path / "a", cwd=tmp_path)))
    ridge = coefficient_table(require_ok(run_example("predict_house.py", "--l2", 0.5, "--out", tmp_path / "b",
                                                     cwd=tmp_path)))
    for name in HOUSE_FEATURES:
        _, ne, gd = ridge[name]
        assert gd == pytest.approx(ne, rel=1e-6)
        assert abs(ne) < abs(plain[name][1])  # the penalty pulls every weight towards zero


def test_predict_house_flags_a_descent_stopped_too_early(tmp_path):
    out = require_ok(run_example("predict_house.py", "--steps", 3, "--out", tmp_path / "o", cwd=tmp_path))
    table = coefficient_table(out)
    assert any(gd != pytest.approx(ne, rel=1e-6) for _, ne, gd in table.values())
    assert "DISAGREE" in out


def test_predict_house_missing_csv_fails_cleanly(tmp_path):
    result = run_example("predict_house.py", "--csv", tmp_path / "nope.csv", "--out", tmp_path / "o", cwd=tmp_path)
    assert result.returncode != 0
    assert "nope.csv" in result.stderr and "Traceback" not in result.stderr


# ---------------------------------------------------------------- mnist_mlp

def mnist_root():
    root = os.environ.get("FNN_DATA")
    return root if root and find_dataset(root, "mnist") else None


@pytest.mark.slow
@pytest.mark.skipif(mnist_root() is None, reason="FNN_DATA is not set or holds no MNIST")
def test_mnist_short_run_learns_and_checkpoint_reloads(tmp_path):
    out_dir = tmp_path / "mnist"
    out = require_ok(run_example(
        "mnist_mlp.py", "--limit", 5000, "--epochs", 3, "--batch-size", 64, "--lr", 3e-3,
        "--out", out_dir, cwd=tmp_path,
    ))
    printed = final_number(out, "test accuracy")
    assert printed > 0.85
    assert re.search(r"^epoch 1/3 .* ex/s", out, flags=re.MULTILINE)
    assert "confusion matrix" in out and "precision" in out
    assert_png(out_dir / "curves.png")

    params, opt_state, metadata = checkpoint.load(out_dir / "checkpoint.npz")
    expected = {"dense1.w": (784, 128), "dense1.b": (128,), "dense2.w": (128, 64), "dense2.b": (64,),
                "dense3.w": (64, 10), "dense3.b": (10,)}
    assert {k: v.shape for k, v in params.items()} == expected
    assert all(v.dtype == np.float32 for v in params.values())
    assert opt_state["step"] > 0
    assert metadata["sizes"] == [784, 128, 64, 10]
    assert metadata["activation"] == "relu" and metadata["dataset"] == "mnist"
    # The saved params are the ones that were scored: re-scoring them gives the printed accuracy.
    _, (x_test, y_test) = load_mnist(mnist_root())
    x = x_test.reshape(len(x_test), -1).astype(np.float32) / np.float32(255)
    accuracy = float(np.mean(mlp.predict(params, x) == y_test))
    assert accuracy == pytest.approx(metadata["test_accuracy"], abs=1e-12)
    assert accuracy == pytest.approx(printed, abs=5e-5)


@pytest.mark.parametrize("name, args", [("mnist_mlp.py", ()), ("demo.py", ("--mnist",))])
def test_missing_mnist_says_how_to_get_it(tmp_path, name, args):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_example(name, *args, "--data", empty, "--out", tmp_path / "o", cwd=tmp_path)
    assert result.returncode != 0
    assert "To get the data" in result.stderr and "FNN_DATA" in result.stderr
    assert str(empty) in result.stderr
    assert "Traceback" not in result.stderr
