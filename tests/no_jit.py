"""Run kernel code as plain Python: Numba reads NUMBA_DISABLE_JIT once, at import, hence a fresh interpreter."""
import os
import subprocess
import sys


def run_without_jit(script, *, timeout=300):
    """Run ``script`` (Python source) with NUMBA_DISABLE_JIT=1; fail the test on an error, else return its stdout."""
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()
