"""fnn: a functional neural-network library on NumPy and Numba.

Ops are forward/backward function pairs (``fnn.ops``), models are pure
functions over parameter dicts (``fnn.models``), optimizers are pure
``init``/``update`` pairs (``fnn.optim``), and every hand-derived gradient is
checked against an independent autodiff tape (``fnn.tape``) and central
differences (``fnn.check``).

Submodules load on first attribute access, so ``import fnn`` stays cheap and
pulls in Numba only when a compiled op is first used.
"""
import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "check", "checkpoint", "data", "init", "metrics", "models", "ops",
    "optim", "reference", "runtime", "tape", "train",
)

__all__ = list(_SUBMODULES) + ["__version__"]


def __getattr__(name):
    if name in _SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'fnn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES))
