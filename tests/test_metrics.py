import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fnn.metrics import accuracy, confusion_matrix, mean_squared_error, precision_recall_f1, r2_score

# A 3-class case worked by hand:
#   true  0 0 1 1 2 2
#   pred  0 1 1 1 2 0
Y_TRUE = np.array([0, 0, 1, 1, 2, 2])
Y_PRED = np.array([0, 1, 1, 1, 2, 0])
# per class     0     1     2
PRECISION = [1 / 2, 2 / 3, 1 / 1]  # TP / column sum
RECALL = [1 / 2, 2 / 2, 1 / 2]     # TP / row sum
F1 = [1 / 2, 4 / 5, 2 / 3]         # 2pr / (p + r)


def test_accuracy_hand_case():
    assert accuracy(Y_TRUE, Y_PRED) == pytest.approx(4 / 6)
    assert accuracy(np.array([3], np.uint8), np.array([3])) == 1.0


def test_confusion_matrix_rows_true_columns_predicted():
    cm = confusion_matrix(Y_TRUE, Y_PRED)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 2, 0], [1, 0, 1]])
    assert cm.dtype == np.int64
    padded = confusion_matrix(Y_TRUE, Y_PRED, num_classes=4)
    assert padded.shape == (4, 4) and padded[3].sum() == padded[:, 3].sum() == 0


def test_precision_recall_f1_per_class_macro_and_micro():
    p, r, f = precision_recall_f1(Y_TRUE, Y_PRED, average=None)
    np.testing.assert_allclose(p, PRECISION)
    np.testing.assert_allclose(r, RECALL)
    np.testing.assert_allclose(f, F1)
    macro = precision_recall_f1(Y_TRUE, Y_PRED)
    np.testing.assert_allclose(macro, [13 / 18, 2 / 3, 59 / 90])
    assert all(isinstance(v, float) for v in macro)
    np.testing.assert_allclose(precision_recall_f1(Y_TRUE, Y_PRED, average="micro"), [4 / 6] * 3)


def test_zero_division_gives_zero_without_warning():
    y_true, y_pred = np.array([0, 0, 1]), np.array([0, 0, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p, r, f = precision_recall_f1(y_true, y_pred, num_classes=3, average=None)
    # class 0: p = 2/3, r = 1; class 1 never predicted; class 2 never occurs at all
    np.testing.assert_allclose(p, [2 / 3, 0, 0])
    np.testing.assert_allclose(r, [1, 0, 0])
    np.testing.assert_allclose(f, [0.8, 0, 0])


@given(
    n=st.integers(1, 40), v=st.integers(1, 5), seed=st.integers(0, 2**31 - 1),
)
def test_classification_metrics_agree_with_each_other(n, v, seed):
    rng = np.random.default_rng(seed)
    y_true, y_pred = rng.integers(0, v, n), rng.integers(0, v, n)
    cm = confusion_matrix(y_true, y_pred, num_classes=v)
    assert cm.sum() == n
    np.testing.assert_array_equal(cm.sum(axis=1), np.bincount(y_true, minlength=v))
    acc = accuracy(y_true, y_pred)
    assert np.trace(cm) / n == pytest.approx(acc)
    np.testing.assert_allclose(precision_recall_f1(y_true, y_pred, num_classes=v, average="micro"), [acc] * 3)
    p, r, f = precision_recall_f1(y_true, y_pred, num_classes=v, average=None)
    assert np.all((0 <= f) & (f <= np.maximum(p, r) + 1e-15))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: accuracy(np.array([0, 1]), np.array([0])), r"y_pred has shape \(1,\); expected \(N,\) = \(2,\) to match y_true"),
        (lambda: accuracy(np.array([0.0, 1.0]), np.array([0, 1])), r"y_true has shape \(2,\) and dtype float64; expected a 1-D integer"),
        (lambda: accuracy(np.zeros(0, int), np.zeros(0, int)), r"y_true has shape \(0,\); expected at least one example"),
        (lambda: confusion_matrix(np.array([0, 3]), np.array([0, 1]), num_classes=3), r"y_true holds 3; expected labels in \[0, 3\)"),
        (lambda: confusion_matrix(np.array([0, 1]), np.array([-1, 1])), r"y_pred holds -1; expected class labels >= 0"),
        (lambda: precision_recall_f1(Y_TRUE, Y_PRED, average="weighted"), r"average is 'weighted'; expected 'macro', 'micro' or None"),
        (lambda: r2_score(np.zeros(3), np.zeros(4)), r"y_pred has shape \(4,\); expected \(3,\) to match y_true"),
        (lambda: mean_squared_error(np.zeros((2, 2, 2)), np.zeros((2, 2, 2))), r"y_true has shape \(2, 2, 2\) and dtype float64; expected a numeric numpy array \(N,\) or \(N, M\)"),
    ],
)
def test_metrics_reject_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_mean_squared_error_hand_case():
    assert mean_squared_error(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0])) == pytest.approx(4 / 3)
    assert mean_squared_error(np.array([1.0], np.float32), np.array([1.5], np.float32)) == 0.25


def test_r2_hand_cases():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    # SS_res = 1, SS_tot = 2.25 + 0.25 + 0.25 + 2.25 = 5
    assert r2_score(y, np.array([1.0, 2.0, 3.0, 5.0])) == pytest.approx(0.8)
    assert r2_score(y, y) == 1.0
    assert r2_score(y, np.full(4, y.mean())) == pytest.approx(0.0)
    # Two outputs: the mean of 0.8 and 1.0.
    assert r2_score(np.stack([y, y], 1), np.stack([[1.0, 2.0, 3.0, 5.0], y], 1)) == pytest.approx(0.9)


def test_r2_of_constant_target_is_finite():
    y = np.full(3, 2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert r2_score(y, y.copy()) == 1.0
        assert r2_score(y, np.array([2.0, 2.0, 3.0])) == 0.0
