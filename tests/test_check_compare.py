"""fnn.check.compare and the ``python -m fnn.check`` runner: they must catch what they claim to catch."""
import subprocess
import sys

import numpy as np
import pytest

import fnn.check_cases as cases
import fnn.ops as O
import fnn.reference as R
from fnn.check import DEFAULT_TOLERANCES, LOSS_ROW, CompareTable, compare, main
from fnn.check_cases import Case, model_case, projected_op
from fnn.models import mlp


@pytest.fixture
def mlp_problem():
    rng = np.random.default_rng(3)
    params = mlp.init(rng, [3, 5, 4], dtype=np.float64)
    params = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in params.items()}
    x, y = rng.standard_normal((6, 3)), rng.integers(0, 4, 6)
    return model_case(mlp, R.mlp_loss, params, x, y, activation="tanh")


def _perturbed(loss_and_grad, key, scale):
    def wrong(p):
        loss, grads = loss_and_grad(p)
        grads[key] = grads[key] * scale
        return loss, grads
    return wrong


def test_compare_passes_a_correct_model_with_one_row_per_parameter(mlp_problem):
    table = compare(*mlp_problem)
    assert table.passed
    assert [r.parameter for r in table] == [LOSS_ROW, "dense1.w", "dense1.b", "dense2.w", "dense2.b"]
    assert all(r.manual_vs_tape < DEFAULT_TOLERANCES["manual_vs_tape"] for r in table)


def test_compare_flags_a_wrong_gradient_in_its_row_and_columns(mlp_problem):
    loss_and_grad, reference_loss, params = mlp_problem
    table = compare(_perturbed(loss_and_grad, "dense2.w", 1.001), reference_loss, params)
    assert not table.passed
    bad = table.row("dense2.w")
    assert bad.failed_columns() == ["manual_vs_tape", "manual_vs_numerical"]  # the tape still agrees with numerics
    assert bad.manual_vs_tape > 1e-4
    assert [r.parameter for r in table.failures()] == ["dense2.w"]
    assert "FAIL (manual_vs_tape, manual_vs_numerical)" in str(table)


def test_compare_flags_a_reference_that_computes_a_different_loss(mlp_problem):
    loss_and_grad, reference_loss, params = mlp_problem
    table = compare(loss_and_grad, lambda p: 1.01 * reference_loss(p), params)
    assert not table.row(LOSS_ROW).passed
    assert "manual loss" in table.row(LOSS_ROW).note
    for r in table.rows[1:]:
        assert r.failed_columns() == ["manual_vs_tape", "manual_vs_numerical"]


def test_sampled_central_differences_check_only_max_entries_and_still_catch_errors(mlp_problem):
    loss_and_grad, reference_loss, params = mlp_problem
    table = compare(loss_and_grad, reference_loss, params, max_entries=3, rng=np.random.default_rng(0))
    assert table.passed
    assert [(r.checked, r.size) for r in table.rows[1:]] == [(3, 15), (3, 5), (3, 20), (3, 4)]
    bad = compare(_perturbed(loss_and_grad, "dense1.w", 1.01), reference_loss, params, max_entries=3)
    assert bad.row("dense1.w").failed_columns() == ["manual_vs_tape", "manual_vs_numerical"]


def test_compare_runs_in_float64_and_leaves_the_callers_params_alone():
    rng = np.random.default_rng(0)
    params = {"x": rng.standard_normal((3, 4)).astype(np.float32)}
    before = params["x"].copy()
    seen = []

    def loss_and_grad(p):
        seen.append(p["x"].dtype)
        out, cache = O.tanh_forward(p["x"])
        p["x"][...] = 0  # a careless loss_and_grad must not reach the caller's array
        return np.sum(out), {"x": O.tanh_backward(np.ones_like(out), cache)}

    table = compare(loss_and_grad, lambda p: np.sum(R.tanh(p["x"])), params)
    assert table.passed and seen == [np.float64]
    np.testing.assert_array_equal(params["x"], before)


def test_tolerances_can_be_tightened_and_unknown_keys_are_rejected(mlp_problem):
    table = compare(*mlp_problem, tolerances={"manual_vs_numerical": 1e-14, "tape_vs_numerical": 1e-14})
    assert not table.passed
    assert all(r.failed_columns() == ["manual_vs_numerical", "tape_vs_numerical"] for r in table.rows[1:])
    with pytest.raises(ValueError, match=r"tolerances has keys \['manual'\]"):
        compare(*mlp_problem, tolerances={"manual": 1.0})


def test_compare_rejects_gradients_with_the_wrong_keys_or_shapes(mlp_problem):
    loss_and_grad, reference_loss, params = mlp_problem

    def missing(p):
        loss, grads = loss_and_grad(p)
        del grads["dense1.b"]
        return loss, grads

    def reshaped(p):
        loss, grads = loss_and_grad(p)
        grads["dense1.w"] = grads["dense1.w"].T
        return loss, grads

    with pytest.raises(ValueError, match=r"expected the keys of params"):
        compare(missing, reference_loss, params)
    with pytest.raises(ValueError, match=r"gradient 'dense1.w' has shape \(5, 3\); expected \(3, 5\)"):
        compare(reshaped, reference_loss, params)
    with pytest.raises(ValueError, match="expected a non-empty dict"):
        compare(loss_and_grad, reference_loss, np.ones(3))


def test_table_prints_aligned_columns_with_pass_and_fail(mlp_problem):
    loss_and_grad, reference_loss, params = mlp_problem
    good = compare(loss_and_grad, reference_loss, params, name="mlp")
    bad = compare(_perturbed(loss_and_grad, "dense1.b", -1.0), reference_loss, params, name="broken")
    text = str(good + bad)
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["op/model", "parameter"]
    assert len(lines) == 1 + len(good) + len(bad)
    column = lines[0].index("manual~tape")
    assert all(line[column - 2:column] == "  " for line in lines)  # every row starts its errors in one column
    assert sum("FAIL" in line for line in lines) == 1 and "broken" in next(l for l in lines if "FAIL" in l)
    assert isinstance(good + bad, CompareTable) and "FAILED" in repr(good + bad)


# ---------------------------------------------------------------- the runner


def _broken_relu_case():
    def build(rng):
        x = cases.away_from_zero(rng, (3, 4))
        wrong = lambda dout, cache: 1.5 * O.relu_backward(dout, cache)  # noqa: E731
        return projected_op(O.relu_forward, wrong, R.relu, {"x": x}, rng)
    return Case("relu[deliberately broken]", build)


@pytest.fixture(scope="module")
def full_run():
    """One in-process run of the whole registry: (exit status, printed output)."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main([])
    return status, out.getvalue()


def test_runner_passes_on_the_real_library(full_run):
    status, output = full_run
    assert status == 0, output
    assert "PASS: every gradient agrees three ways" in output


def test_runner_output_covers_every_op_with_a_backward(full_run):
    _, output = full_run
    names_in_table = {line.split()[0].split("[")[0] for line in output.splitlines()[1:] if line.strip()}
    ops = cases.ops_with_backward()
    assert len(ops) >= 18
    assert set(ops) <= names_in_table, sorted(set(ops) - names_in_table)
    assert cases.uncovered_ops() == []


def test_an_op_without_a_case_is_reported():
    without_conv = [c for c in cases.CASES if c.op != "conv2d"]
    assert cases.uncovered_ops(without_conv) == ["conv2d"]


def test_runner_fails_when_a_case_is_broken(monkeypatch, capsys):
    monkeypatch.setattr(cases, "CASES", cases.CASES + [_broken_relu_case()])
    assert main(["--only", "relu"]) == 1
    output = capsys.readouterr().out
    failing = [line for line in output.splitlines() if "FAIL" in line and "[deliberately broken]" in line]
    assert len(failing) == 1 and " x " in failing[0]
    assert "manual_vs_tape" in failing[0]


def test_runner_reports_a_case_that_raises_as_a_failing_row(capsys):
    def build(rng):
        raise RuntimeError("cannot build")

    assert cases.run([], cases=[Case("exploding", build)]) == 1
    output = capsys.readouterr().out
    assert "exploding" in output and "RuntimeError: cannot build" in output and "FAIL" in output


def test_runner_only_filter_and_unknown_names(capsys):
    assert main(["--only", "layernorm", "--seed", "4"]) == 0
    output = capsys.readouterr().out
    assert "layernorm[(N, D)]" in output and "conv2d" not in output
    assert main(["--only", "no-such-op"]) == 2


def test_python_dash_m_fnn_check_runs_as_a_command():
    result = subprocess.run([sys.executable, "-m", "fnn.check", "--only", "softmax["],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "softmax[axis=0]" in result.stdout and "PASS" in result.stdout
    helped = subprocess.run([sys.executable, "-m", "fnn.check", "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "--only" in helped.stdout and "--seed" in helped.stdout


def test_autograd_demo_prints_the_scalar_graph_and_a_passing_table():
    import os

    demo = os.path.join(os.path.dirname(__file__), "..", "examples", "autograd_demo.py")
    result = subprocess.run([sys.executable, demo, "--spiral", "--batch", "9", "--entries", "4"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "f [+]: value 4, grad 1" in out and "x: value 2, grad -3" in out and "y: value -3, grad 2" in out
    assert "MLP 2-64-64-3 on the generated spiral" in out
    assert "mlp       dense1.w   4/128" in out and "all rows PASS" in out
    helped = subprocess.run([sys.executable, demo, "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "--data" in helped.stdout
