"""Evaluation metrics for classification and regression.

Classification metrics take integer label arrays y_true (N,) and y_pred (N,)
with classes 0..V-1 (V = num_classes; default: the largest label + 1).
Regression metrics take float arrays of equal shape (N,) or (N, M).
Every metric returns a Python float (or a float64 array for per-class
results) and never warns: an undefined ratio such as the precision of a class
that is never predicted is 0.
"""
import numbers

import numpy as np

from ._validate import describe

__all__ = ["accuracy", "confusion_matrix", "precision_recall_f1", "r2_score", "mean_squared_error"]


def _require_label_pair(y_true, y_pred):
    for name, a in (("y_true", y_true), ("y_pred", y_pred)):
        if not isinstance(a, np.ndarray) or a.dtype.kind not in "iu" or a.ndim != 1:
            raise ValueError(f"{name} has {describe(a)}; expected a 1-D integer numpy array of class labels (N,)")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_pred has shape {y_pred.shape}; expected (N,) = {y_true.shape} to match y_true")
    if y_true.size == 0:
        raise ValueError("y_true has shape (0,); expected at least one example")


def _resolve_num_classes(y_true, y_pred, num_classes):
    lo = min(int(y_true.min()), int(y_pred.min()))
    hi = max(int(y_true.max()), int(y_pred.max()))
    if lo < 0:
        name = "y_true" if int(y_true.min()) < 0 else "y_pred"
        raise ValueError(f"{name} holds {lo}; expected class labels >= 0")
    if num_classes is None:
        return hi + 1
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 1:
        raise ValueError(f"num_classes is {num_classes!r}; expected a positive integer")
    if hi >= num_classes:
        name = "y_true" if int(y_true.max()) == hi else "y_pred"
        raise ValueError(f"{name} holds {hi}; expected labels in [0, {num_classes}) for num_classes = {num_classes}")
    return int(num_classes)


def accuracy(y_true, y_pred):
    """Fraction of positions where y_pred (N,) equals y_true (N,)."""
    _require_label_pair(y_true, y_pred)
    return float(np.count_nonzero(y_true == y_pred)) / y_true.size


def confusion_matrix(y_true, y_pred, num_classes=None):
    """(V, V) int64 counts: entry [i, j] is how many examples of true class i were predicted as j."""
    _require_label_pair(y_true, y_pred)
    v = _resolve_num_classes(y_true, y_pred, num_classes)
    flat = y_true.astype(np.int64) * v + y_pred.astype(np.int64)
    return np.bincount(flat, minlength=v * v).reshape(v, v)


def _safe_ratio(num, den):
    """num / den elementwise, 0 where den == 0 (no warning)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast_shapes(num.shape, den.shape)), where=den != 0)


def precision_recall_f1(y_true, y_pred, *, num_classes=None, average="macro"):
    """(precision, recall, f1) of labels y_pred (N,) against y_true (N,).

    Per class c: precision = TP / predicted-as-c, recall = TP / truly-c,
    f1 = 2 p r / (p + r), each 0 when its denominator is 0.

    ``average``:
      * ``"macro"``: unweighted mean of the per-class values over all
        V classes (V = num_classes, default largest label + 1). A class in
        range that never occurs anywhere counts as 0: pass the labels you
        care about through ``num_classes`` deliberately.
      * ``"micro"``: pool TP/FP/FN over classes. For single-label data all
        three equal the accuracy.
      * ``None``: per-class float64 arrays of shape (V,).
    """
    if average not in ("macro", "micro", None):
        raise ValueError(f"average is {average!r}; expected 'macro', 'micro' or None")
    cm = confusion_matrix(y_true, y_pred, num_classes)
    tp = np.diag(cm)
    predicted = cm.sum(axis=0)
    actual = cm.sum(axis=1)
    if average == "micro":
        # Every false positive for one class is a false negative for another,
        # so pooled precision and recall share one value.
        p = r = float(_safe_ratio(tp.sum(), predicted.sum()))
        f = float(_safe_ratio(2 * p * r, p + r))
        return p, r, f
    precision = _safe_ratio(tp, predicted)
    recall = _safe_ratio(tp, actual)
    f1 = _safe_ratio(2 * precision * recall, precision + recall)
    if average is None:
        return precision, recall, f1
    return float(precision.mean()), float(recall.mean()), float(f1.mean())


def _require_regression_pair(y_true, y_pred):
    for name, a in (("y_true", y_true), ("y_pred", y_pred)):
        if not isinstance(a, np.ndarray) or a.dtype.kind not in "iuf" or a.ndim not in (1, 2):
            raise ValueError(f"{name} has {describe(a)}; expected a numeric numpy array (N,) or (N, M)")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_pred has shape {y_pred.shape}; expected {y_true.shape} to match y_true")
    if y_true.shape[0] == 0:
        raise ValueError(f"y_true has shape {y_true.shape}; expected at least one example")


def mean_squared_error(y_true, y_pred):
    """mean((y_true - y_pred)^2) over all entries of (N,) or (N, M) arrays, accumulated in float64."""
    _require_regression_pair(y_true, y_pred)
    diff = y_true.astype(np.float64) - y_pred.astype(np.float64)
    return float(np.mean(np.square(diff)))


def r2_score(y_true, y_pred):
    """Coefficient of determination 1 - SS_res / SS_tot; for (N, M) the mean over the M outputs.

    A constant target (SS_tot = 0) scores 1.0 when predicted exactly and 0.0
    otherwise, rather than -inf or nan.
    """
    _require_regression_pair(y_true, y_pred)
    t = y_true.astype(np.float64).reshape(y_true.shape[0], -1)
    p = y_pred.astype(np.float64).reshape(t.shape)
    ss_res = np.sum(np.square(t - p), axis=0)
    ss_tot = np.sum(np.square(t - t.mean(axis=0)), axis=0)
    constant = ss_tot == 0
    scores = np.where(constant, np.where(ss_res == 0, 1.0, 0.0), 1.0 - _safe_ratio(ss_res, ss_tot))
    return float(scores.mean())
