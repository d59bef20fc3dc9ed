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


def test_configure_sets_the_blas_thread_timeout_only_when_asked():
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENBLAS_")}
    code = ("import os, fnn.runtime as r; s = r.configure(blas_threads=2{}); "
            "print(s['OPENBLAS_NUM_THREADS'], s['OPENBLAS_THREAD_TIMEOUT'], os.environ.get('OPENBLAS_THREAD_TIMEOUT'))")
    assert _run(code.format(""), env=env)[0] == "2 (unset) None"
    assert _run(code.format(", blas_thread_timeout=4"), env=env)[0] == "2 4 4"
    assert _run(code.format(", blas_thread_timeout=4"), env=dict(env, OPENBLAS_THREAD_TIMEOUT="20"))[0] == "2 20 20"


def test_configure_rejects_a_timeout_openblas_would_ignore():
    proc = subprocess.run([sys.executable, "-c", "import fnn.runtime as r; r.configure(blas_thread_timeout=2)"],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "blas_thread_timeout is 2; expected an integer from 4 to 30" in proc.stderr
