"""Gradient checking: central differences and a scale-aware relative error.

Everything in fnn that has a hand-derived gradient is checked against
:func:`numerical_grad` in float64. For large tensors, :func:`sample_indices`
and :func:`numerical_grad_at` check a random subset of entries, which costs
two function evaluations per entry instead of two per parameter.

:func:`compare` puts three derivations of a loss's gradient side by side:
the hand-derived ``loss_and_grad``, :mod:`fnn.tape` applied to a plain-NumPy
reference of the same loss, and central differences. ``python -m fnn.check``
runs it over every op and model (the cases live in :mod:`fnn.check_cases`).
"""
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ._validate import describe
from .tape import value_and_grad


def rel_error(a, b, *, floor=1e-8):
    """max |a - b| / max(max |a|, max |b|, floor): the worst error relative to the gradient's scale.

    Dividing by the largest magnitude (not entry by entry) keeps tiny entries,
    where both derivations cancel to round-off, from dominating the measure;
    ``floor`` keeps a gradient that is exactly zero from dividing by zero.
    For dicts the scale is the largest magnitude over all keys: a bias whose
    gradient cancels to 0 by symmetry, against a finite-difference 1e-12, is
    agreement at the scale of the whole gradient, not a 100% error. Use
    :func:`rel_errors` for a per-key breakdown on the same scale.
    """
    if isinstance(a, dict):
        errors = rel_errors(a, b, floor=floor)
        return max(errors.values(), default=0.0)
    a, b = _same_shape_float64(a, b)
    if a.size == 0:
        return 0.0
    scale = max(np.max(np.abs(a)), np.max(np.abs(b)), floor)
    return float(np.max(np.abs(a - b)) / scale)


def rel_errors(a, b, *, floor=1e-8):
    """Per-key ``max |a[k] - b[k]|`` divided by the largest magnitude over all keys of a and b."""
    if set(a) != set(b):
        raise ValueError(f"rel_error: key sets differ: {sorted(set(a) ^ set(b))}")
    pairs = {k: _same_shape_float64(a[k], b[k]) for k in a}
    scale = max([floor] + [max(np.max(np.abs(x)), np.max(np.abs(y))) for x, y in pairs.values() if x.size])
    return {k: float(np.max(np.abs(x - y)) / scale) if x.size else 0.0 for k, (x, y) in pairs.items()}


def _same_shape_float64(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes differ: {a.shape} vs {b.shape}")
    return a, b


def _central_difference(f, arr, flat_index, eps):
    view = arr.reshape(-1)
    old = view[flat_index]
    view[flat_index] = old + eps
    f_plus = float(f())
    view[flat_index] = old - eps
    f_minus = float(f())
    view[flat_index] = old
    return (f_plus - f_minus) / (2.0 * eps)


def _leaves(x):
    """(key, array) pairs of an array or a dict of arrays, on private float copies."""
    if isinstance(x, dict):
        return {k: np.array(v, dtype=np.float64) for k, v in x.items()}
    return np.array(x, dtype=np.float64)


def numerical_grad(f, x, *, eps=1e-6):
    """Central-difference gradient of the scalar function ``f`` at ``x``.

    ``x`` is an array or a dict of arrays; the result has the same structure,
    in float64. ``f`` receives a perturbed float64 copy of ``x`` (never ``x``
    itself) and must return a scalar.
    """
    xs = _leaves(x)
    if isinstance(xs, dict):
        grads = {}
        for key, arr in xs.items():
            g = np.empty(arr.size)
            for i in range(arr.size):
                g[i] = _central_difference(lambda: f(xs), arr, i, eps)
            grads[key] = g.reshape(arr.shape)
        return grads
    g = np.empty(xs.size)
    for i in range(xs.size):
        g[i] = _central_difference(lambda: f(xs), xs, i, eps)
    return g.reshape(xs.shape)


def sample_indices(shape, count, rng):
    """Up to ``count`` distinct flat indices into an array of ``shape``, drawn with ``rng``."""
    size = int(np.prod(shape, dtype=np.int64))
    if count >= size:
        return np.arange(size)
    return np.sort(rng.choice(size, size=count, replace=False))


def numerical_grad_at(f, x, indices, *, eps=1e-6, key=None):
    """Central differences of ``f`` at the flat ``indices`` of ``x`` (or of ``x[key]`` for a dict).

    Returns a float64 vector aligned with ``indices``; compare it with
    ``analytic.reshape(-1)[indices]``.
    """
    xs = _leaves(x)
    arr = xs[key] if key is not None else xs
    return np.array([_central_difference(lambda: f(xs), arr, int(i), eps) for i in indices])


def op_gradient_errors(forward, backward, args, *, argnums=None, rng=None, eps=1e-6):
    """Hand-derived backward of an op against central differences, per argument.

    ``forward(*args) -> (out, cache)`` and ``backward(dout, cache)`` returns the
    gradients in argument order (a single array when there is one argument).
    The op is reduced to the scalar ``L = sum(out * dout)`` for a random
    ``dout``, so its exact gradient with respect to each argument is what
    ``backward(dout, cache)`` should return. Arguments must be float64.
    ``argnums`` picks the differentiable arguments (default: all arrays).

    Returns ``{argnum: rel_error}``.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    args = list(args)
    for i, a in enumerate(args):
        if isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.dtype != np.float64:
            raise ValueError(f"argument {i} has dtype {a.dtype}; gradient checks need float64")
    if argnums is None:
        argnums = [i for i, a in enumerate(args) if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    out, cache = forward(*args)
    dout = rng.standard_normal(np.shape(out))
    if np.ndim(out) == 0:
        dout = float(dout)
    grads = backward(dout, cache)
    if not isinstance(grads, tuple):
        grads = (grads,)
    errors = {}
    for i in argnums:
        def scalar(xi, i=i):
            trial = list(args)
            trial[i] = xi
            return np.sum(forward(*trial)[0] * dout)
        errors[i] = rel_error(grads[i], numerical_grad(scalar, args[i], eps=eps))
    return errors


# ---------------------------------------------------------------- three-way comparison

DEFAULT_TOLERANCES = {"manual_vs_tape": 1e-9, "manual_vs_numerical": 1e-6, "tape_vs_numerical": 1e-6}
"""Two derivations of the same float64 gradient agree to round-off; a central
difference with eps = 1e-6 is only good to about 1e-8 relative, hence 1e-6."""

_COLUMNS = ("manual_vs_tape", "manual_vs_numerical", "tape_vs_numerical")
LOSS_ROW = "(loss)"
ERROR_ROW = "(error)"


@dataclass(frozen=True)
class GradientRow:
    """One parameter's gradient compared three ways (max relative errors, see :func:`rel_errors`).

    ``manual_vs_numerical`` and ``tape_vs_numerical`` are None where they do
    not apply (the loss row). ``checked`` of ``size`` entries were compared
    with central differences. A NaN error never passes.
    """

    case: str
    parameter: str
    manual_vs_tape: float
    manual_vs_numerical: Optional[float]
    tape_vs_numerical: Optional[float]
    tolerances: tuple
    checked: int = 0
    size: int = 0
    note: str = ""

    @property
    def errors(self):
        return dict(zip(_COLUMNS, (self.manual_vs_tape, self.manual_vs_numerical, self.tape_vs_numerical)))

    def failed_columns(self):
        """Names of the columns whose error exceeds its tolerance (or is NaN)."""
        return [c for (c, e), tol in zip(self.errors.items(), self.tolerances) if e is not None and not e <= tol]

    @property
    def passed(self):
        return not self.failed_columns() and self.parameter != ERROR_ROW


def _fmt_error(e):
    return "-" if e is None else f"{e:.2e}"


class CompareTable:
    """The rows of one or more :func:`compare` runs; ``print(table)`` shows them aligned with PASS/FAIL."""

    HEADER = ("op/model", "parameter", "entries", "manual~tape", "manual~numerical", "tape~numerical",
              "tolerance", "result")

    def __init__(self, rows):
        self.rows = tuple(rows)

    def __iter__(self):
        return iter(self.rows)

    def __len__(self):
        return len(self.rows)

    def __add__(self, other):
        return CompareTable(self.rows + tuple(other))

    @property
    def passed(self):
        return all(row.passed for row in self.rows)

    def failures(self):
        return [row for row in self.rows if not row.passed]

    def row(self, parameter, case=None):
        """The row for ``parameter`` (and ``case``, when the table holds several)."""
        for row in self.rows:
            if row.parameter == parameter and (case is None or row.case == case):
                return row
        raise KeyError(f"no row for parameter {parameter!r}" + (f" in case {case!r}" if case else ""))

    def worst(self):
        """Column name -> (largest error, its row), over the rows where the column applies."""
        worst = {}
        for row in self.rows:
            for column, e in row.errors.items():
                if e is not None and (column not in worst or not e <= worst[column][0]):
                    worst[column] = (e, row)
        return worst

    def format(self):
        lines = [self.HEADER]
        for r in self.rows:
            entries = f"{r.checked}/{r.size}" if r.size else "-"
            tol = "/".join(f"{t:.0e}" for t in r.tolerances)
            result = "PASS" if r.passed else "FAIL"
            if r.failed_columns():
                result += " (" + ", ".join(r.failed_columns()) + ")"
            if r.note:
                result += f"  {r.note}"
            lines.append((r.case, r.parameter, entries, _fmt_error(r.manual_vs_tape),
                          _fmt_error(r.manual_vs_numerical), _fmt_error(r.tape_vs_numerical), tol, result))
        widths = [max(len(line[i]) for line in lines) for i in range(len(self.HEADER) - 1)]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)) + "  " + line[-1]
                         for line in lines)

    __str__ = format

    def __repr__(self):
        return f"CompareTable({len(self.rows)} rows, {'passed' if self.passed else 'FAILED'})"


def _merged_tolerances(tolerances):
    merged = dict(DEFAULT_TOLERANCES)
    if tolerances:
        unknown = set(tolerances) - set(DEFAULT_TOLERANCES)
        if unknown:
            raise ValueError(f"tolerances has keys {sorted(unknown)}; expected some of {sorted(DEFAULT_TOLERANCES)}")
        merged.update(tolerances)
    return tuple(merged[c] for c in _COLUMNS)


def compare(loss_and_grad, reference_loss, params, *, max_entries=None, rng=None, tolerances=None, name=""):
    """Hand-derived gradients against the tape and central differences: a :class:`CompareTable`.

    ``loss_and_grad(params) -> (loss, grads)`` is the manual path;
    ``reference_loss(params) -> loss`` the same loss in plain NumPy, which
    ``fnn.tape.value_and_grad`` differentiates and whose central differences
    are the third opinion. ``params`` is a dict of float arrays; everything
    runs on float64 copies. ``max_entries`` limits the central differences to
    that many random entries per parameter (drawn with ``rng``); the numerical
    columns then compare those entries only. ``tolerances`` overrides some of
    :data:`DEFAULT_TOLERANCES`. The first row compares the two losses (with
    the manual-vs-tape tolerance); then one row per parameter.
    """
    if not isinstance(params, dict) or not params:
        raise ValueError(f"params has {describe(params)}; expected a non-empty dict of float arrays")
    tols = _merged_tolerances(tolerances)
    rng = np.random.default_rng(0) if rng is None else rng
    p64 = _leaves(params)
    manual_loss, manual = loss_and_grad(_leaves(p64))
    tape_loss, tape = value_and_grad(reference_loss)(_leaves(p64))
    if not isinstance(manual, dict) or set(manual) != set(p64):
        got = sorted(manual) if isinstance(manual, dict) else describe(manual)
        raise ValueError(f"loss_and_grad returned gradients for {got}; expected the keys of params {sorted(p64)}")
    manual = {k: np.asarray(manual[k], dtype=np.float64) for k in p64}
    for k, g in manual.items():
        if g.shape != p64[k].shape:
            raise ValueError(f"loss_and_grad's gradient {k!r} has shape {g.shape}; expected {p64[k].shape}")
    picked, numeric = {}, {}
    for k, arr in p64.items():
        picked[k] = np.arange(arr.size) if max_entries is None else sample_indices(arr.shape, max_entries, rng)
        numeric[k] = numerical_grad_at(reference_loss, p64, picked[k], key=k)
    sampled_manual = {k: manual[k].reshape(-1)[i] for k, i in picked.items()}
    sampled_tape = {k: np.asarray(tape[k], dtype=np.float64).reshape(-1)[i] for k, i in picked.items()}
    e_mt = rel_errors(manual, tape)
    e_mn = rel_errors(sampled_manual, numeric)
    e_tn = rel_errors(sampled_tape, numeric)
    loss_error = rel_error(float(manual_loss), float(tape_loss))
    note = "" if loss_error <= tols[0] else f"manual loss {float(manual_loss):.9g}, reference {float(tape_loss):.9g}"
    rows = [GradientRow(name, LOSS_ROW, loss_error, None, None, tols, note=note)]
    rows += [GradientRow(name, k, e_mt[k], e_mn[k], e_tn[k], tols, len(picked[k]), p64[k].size) for k in p64]
    return CompareTable(rows)


def error_row(name, exc):
    """A failing row recording that case ``name`` raised ``exc`` instead of producing gradients."""
    nan = float("nan")
    return GradientRow(name, ERROR_ROW, nan, nan, nan, _merged_tolerances(None),
                       note=f"{type(exc).__name__}: {exc}")


def main(argv=None):
    """``python -m fnn.check``: compare every op and model three ways; exit status 1 if any row fails."""
    from .check_cases import run

    return run(argv)


if __name__ == "__main__":
    raise SystemExit(main())
