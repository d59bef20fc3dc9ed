import math
import textwrap

import numpy as np
import pytest

from fnn.ops.activations import _erf
from kernels.special import erf_into
from no_jit import run_without_jit

GRID = np.concatenate([np.linspace(-6.0, 6.0, 241), [-40.0, -1e-300, 0.0, 1e-300, 40.0, 1e4]])


def _reference(x):
    """math.erf entry by entry, in float64, on the values x actually holds."""
    return np.array([math.erf(float(v)) for v in x.reshape(-1)]).reshape(x.shape)


def test_erf_kernel_matches_math_erf_float64():
    out = np.empty_like(GRID)
    erf_into(GRID, out)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, _reference(GRID), rtol=1e-15, atol=1e-300)


def test_erf_kernel_keeps_float32_and_rounds_once():
    x = GRID.astype(np.float32)
    out = np.empty_like(x)
    erf_into(x, out)
    assert out.dtype == np.float32
    # Correctly rounded float32 is within half an ulp (2^-24 relative); allow one ulp.
    np.testing.assert_allclose(out, _reference(x), rtol=2.0**-23, atol=1e-38)


def test_erf_is_odd_and_saturates():
    out = np.empty_like(GRID)
    erf_into(GRID, out)
    np.testing.assert_array_equal(out, -_reference(-GRID))
    assert out[GRID == 40.0][0] == 1.0 and out[GRID == -40.0][0] == -1.0


def test_erf_wrapper_accepts_any_shape_and_strides():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 6))[:, ::2]  # non-contiguous view
    original = x.copy()
    y = _erf(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    np.testing.assert_allclose(y, _reference(x), rtol=1e-15)
    np.testing.assert_array_equal(x, original)


@pytest.mark.parametrize("bad, match", [
    (np.arange(3), r"x has shape \(3,\) and dtype int64; expected a float32 or float64"),
    ([0.5, 1.0], r"x has type list; expected a float32 or float64"),
])
def test_erf_wrapper_rejects_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        _erf(bad)


def test_erf_kernel_logic_without_jit():
    """The same kernel run as plain Python (NUMBA_DISABLE_JIT is read at import, hence a subprocess)."""
    script = textwrap.dedent("""
        import math, numba, numpy as np
        from kernels.special import erf_into
        assert not isinstance(erf_into, numba.core.registry.CPUDispatcher), "JIT was not disabled"
        for dtype, rtol in ((np.float64, 1e-15), (np.float32, 2.0**-23)):
            x = np.linspace(-4, 4, 17).astype(dtype)
            out = np.empty_like(x)
            erf_into(x, out)
            assert out.dtype == dtype
            ref = np.array([math.erf(float(v)) for v in x])
            np.testing.assert_allclose(out, ref, rtol=rtol, atol=1e-38)
        print("ok")
    """)
    assert run_without_jit(script) == "ok"
