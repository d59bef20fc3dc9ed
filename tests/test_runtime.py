import os
import subprocess
import sys


def _run(code, *args, env=None):
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env or dict(os.environ), check=True)
    return proc.stdout.strip(), proc.stderr


def test_importing_runtime_loads_neither_numpy_nor_fnn_submodules():
    out, _ = _run("import sys, fnn.runtime; print(sorted(m for m in sys.modules if m == 'numpy' or m.startswith('fnn.')))")
    assert out == "['fnn.runtime']"


def test_configure_sets_blas_threads_unless_the_user_did():
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    out, _ = _run("import os, fnn.runtime as r; r.configure(blas_threads=1); print(os.environ['OPENBLAS_NUM_THREADS'])", env=env)
    assert out == "1"
    out, _ = _run("import os, fnn.runtime as r; r.configure(blas_threads=1); print(os.environ['OPENBLAS_NUM_THREADS'])",
                  env=dict(env, OPENBLAS_NUM_THREADS="2"))
    assert out == "2"


def test_configure_after_numpy_warns_that_blas_setting_is_too_late():
    _, err = _run("import numpy, fnn.runtime as r; r.configure()")
    assert "after numpy was imported" in err
