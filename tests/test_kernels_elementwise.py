import textwrap

import numpy as np
import pytest

from kernels.elementwise import scaled_add_into
from no_jit import run_without_jit


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scaled_add_equals_numpy_bit_for_bit_and_keeps_dtype(dtype):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((2, 1000)).astype(dtype)
    alpha = dtype(-0.37)
    out = np.empty_like(y)
    scaled_add_into(alpha, x, y, out)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, y + alpha * x)


def test_scaled_add_propagates_nan_and_inf():
    x = np.array([np.nan, 1.0, np.inf, 0.0])
    y = np.array([0.0, np.nan, 1.0, -np.inf])
    out = np.empty_like(y)
    scaled_add_into(2.0, x, y, out)
    np.testing.assert_array_equal(out, y + 2.0 * x)


def test_scaled_add_logic_without_jit():
    """The kernel as plain Python (NUMBA_DISABLE_JIT is read at import, hence a subprocess)."""
    script = textwrap.dedent("""
        import numba, numpy as np
        from kernels.elementwise import scaled_add_into
        assert not isinstance(scaled_add_into, numba.core.registry.CPUDispatcher), "JIT was not disabled"
        x, y = np.arange(5, dtype=np.float32), np.ones(5, dtype=np.float32)
        out = np.empty_like(y)
        scaled_add_into(np.float32(0.5), x, y, out)
        assert out.dtype == np.float32 and np.array_equal(out, y + np.float32(0.5) * x)
        print("ok")
    """)
    assert run_without_jit(script) == "ok"
