import textwrap

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from kernels.relu import relu_backward_into, relu_forward_into
from no_jit import run_without_jit

SPECIAL = [np.nan, -np.inf, np.inf, 0.0, -0.0, 1e-45, -1e-45, 3.0, -3.0]


def _run(x, dout):
    out, mask, dx = np.empty_like(x), np.empty(x.shape, bool), np.empty_like(x)
    relu_forward_into(x, out, mask)
    relu_backward_into(dout, mask, dx)
    return out, mask, dx


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_kernels_match_numpy_on_special_values(dtype):
    x = np.array(SPECIAL, dtype=dtype)
    dout = np.arange(1, len(SPECIAL) + 1, dtype=dtype)
    out, mask, dx = _run(x, dout)
    assert out.dtype == dtype and dx.dtype == dtype
    np.testing.assert_array_equal(out, np.maximum(x, 0))  # NaN stays NaN, -inf becomes 0
    np.testing.assert_array_equal(mask, x > 0)
    np.testing.assert_array_equal(dx, np.where(x > 0, dout, 0))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(0, 300), dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**31 - 1))
def test_relu_kernels_match_numpy_on_random_lengths(n, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n).astype(dtype)
    dout = rng.standard_normal(n).astype(dtype)
    out, mask, dx = _run(x, dout)
    np.testing.assert_array_equal(out, np.maximum(x, 0))
    np.testing.assert_array_equal(dx, dout * (x > 0))


def test_relu_kernel_logic_without_jit():
    """The kernels as plain Python (NUMBA_DISABLE_JIT is read at import, hence a subprocess)."""
    script = textwrap.dedent("""
        import numba, numpy as np
        from kernels.relu import relu_backward_into, relu_forward_into
        assert not isinstance(relu_forward_into, numba.core.registry.CPUDispatcher), "JIT was not disabled"
        x = np.array([np.nan, -np.inf, -1.0, 0.0, 2.0], dtype=np.float32)
        out, mask, dx = np.empty_like(x), np.empty(5, bool), np.empty_like(x)
        relu_forward_into(x, out, mask)
        relu_backward_into(np.full(5, 7.0, np.float32), mask, dx)
        assert np.array_equal(out, np.maximum(x, 0), equal_nan=True) and out.dtype == np.float32
        assert mask.tolist() == [False, False, False, False, True]
        assert dx.tolist() == [0, 0, 0, 0, 7.0] and dx.dtype == np.float32
        print("ok")
    """)
    assert run_without_jit(script) == "ok"
