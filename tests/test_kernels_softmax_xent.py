import textwrap

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from kernels.softmax_xent import softmax_xent_rows
from no_jit import run_without_jit


def _naive(z, labels, ignore_index):
    """Row by row in float64 with NumPy: (loss_sum, count, grad)."""
    z = z.astype(np.float64)
    grad = np.zeros_like(z)
    loss_sum, count = 0.0, 0
    for r, label in enumerate(labels):
        if label == ignore_index:
            continue
        p = np.exp(z[r] - z[r].max())
        p /= p.sum()
        loss_sum -= np.log(p[label])
        grad[r] = p
        grad[r, label] -= 1.0
        count += 1
    return loss_sum, count, grad


@settings(max_examples=40, deadline=None)
@given(R=st.integers(1, 12), V=st.integers(1, 9), dtype=st.sampled_from([np.float32, np.float64]),
       ignore_index=st.sampled_from([-100, 0, 2]), seed=st.integers(0, 2**31 - 1))
def test_kernel_matches_a_naive_row_loop(R, V, dtype, ignore_index, seed):
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal((R, V)) * 5).astype(dtype)
    labels = rng.integers(0, V, R)
    labels[rng.random(R) < 0.3] = ignore_index
    labels[(labels >= V) & (labels != ignore_index)] = 0
    grad = np.full_like(z, np.nan)  # every entry must be written, ignored rows included
    loss_sum, count, bad_row = softmax_xent_rows(z, labels, ignore_index, grad)
    ref_loss, ref_count, ref_grad = _naive(z, labels, ignore_index)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert bad_row == -1 and count == ref_count
    np.testing.assert_allclose(loss_sum, ref_loss, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(grad, ref_grad, rtol=rtol, atol=rtol)
    assert grad.dtype == dtype


def test_kernel_stops_at_the_first_out_of_range_label():
    z = np.zeros((4, 3))
    grad = np.empty_like(z)
    _, count, bad_row = softmax_xent_rows(z, np.array([0, -100, 3, -1]), -100, grad)
    assert (count, bad_row) == (1, 2)


def test_kernel_is_finite_for_huge_logits_and_propagates_nan():
    z = np.array([[1e4, -1e4, 0.0], [np.nan, 0.0, 1.0]], dtype=np.float32)
    grad = np.empty_like(z)
    loss_sum, _, _ = softmax_xent_rows(z[:1], np.array([1]), -100, grad[:1])
    assert loss_sum == np.float32(2e4) and np.all(np.isfinite(grad[0]))
    loss_sum, _, _ = softmax_xent_rows(z[1:], np.array([2]), -100, grad[1:])
    assert np.isnan(loss_sum) and np.all(np.isnan(grad[1]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_logic_without_jit(dtype):
    """The same kernel as plain Python (NUMBA_DISABLE_JIT is read at import, hence a subprocess)."""
    script = textwrap.dedent(f"""
        import numba, numpy as np
        from kernels.softmax_xent import softmax_xent_rows
        assert not isinstance(softmax_xent_rows, numba.core.registry.CPUDispatcher), "JIT was not disabled"
        z = np.array([[1.0, 2.0, 3.0], [0.5, -0.5, 0.0]], dtype=np.{np.dtype(dtype).name})
        grad = np.empty_like(z)
        loss_sum, count, bad = softmax_xent_rows(z, np.array([2, -100]), -100, grad)
        p = np.exp(z[0] - 3.0) / np.exp(z[0] - 3.0).sum()
        assert (count, bad) == (1, -1)
        assert np.isclose(loss_sum, -np.log(p[2]), rtol=1e-6)
        assert np.allclose(grad[0], p - np.eye(3)[2], rtol=1e-6) and np.all(grad[1] == 0)
        assert grad.dtype == z.dtype
        print("ok")
    """)
    assert run_without_jit(script) == "ok"
