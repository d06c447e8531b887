import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, recall_score

from merkit import metrics

LABELS = [1, 2, 3, 4, 5]


def _random_case(rng, n, drop_class=None):
    y_true = rng.integers(1, 6, size=n)
    y_pred = np.where(rng.random(n) < 0.5, y_true, rng.integers(1, 6, size=n))
    if drop_class is not None:  # a class missing from a fold still counts in C
        y_true = np.where(y_true == drop_class, 1, y_true)
    return y_true, y_pred


@pytest.mark.parametrize("seed", range(12))
def test_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    y_true, y_pred = _random_case(rng, int(rng.integers(5, 60)), drop_class=5 if seed % 3 == 0 else None)
    kw = {"labels": LABELS, "zero_division": 0}
    assert metrics.war(y_true, y_pred, LABELS) == pytest.approx(accuracy_score(y_true, y_pred))
    assert metrics.uar(y_true, y_pred, LABELS) == pytest.approx(recall_score(y_true, y_pred, average="macro", **kw))
    assert metrics.f1(y_true, y_pred, LABELS) == pytest.approx(f1_score(y_true, y_pred, average="macro", **kw))
    assert metrics.wf1(y_true, y_pred, LABELS) == pytest.approx(f1_score(y_true, y_pred, average="weighted", **kw))


def test_hand_computed_example():
    # truth: 1,1,1,2,2,3 ; pred: 1,1,2,2,3,3 ; class 4 and 5 absent (C = 5 still)
    y_true = [1, 1, 1, 2, 2, 3]
    y_pred = [1, 1, 2, 2, 3, 3]
    assert metrics.war(y_true, y_pred, LABELS) == pytest.approx(4 / 6)
    assert metrics.uar(y_true, y_pred, LABELS) == pytest.approx((2 / 3 + 1 / 2 + 1) / 5)
    f1s = [2 * 2 / (4 + 0 + 1), 2 * 1 / (2 + 1 + 1), 2 * 1 / (2 + 1 + 0), 0, 0]
    assert metrics.f1(y_true, y_pred, LABELS) == pytest.approx(sum(f1s) / 5)
    assert metrics.wf1(y_true, y_pred, LABELS) == pytest.approx((3 * f1s[0] + 2 * f1s[1] + f1s[2]) / 6)


def test_unknown_label_is_an_error():
    with pytest.raises(ValueError, match="not in labels"):
        metrics.war([1, 6], [1, 1], LABELS)
    with pytest.raises(ValueError, match="samples"):
        metrics.war([1, 2], [1], LABELS)


def test_au_f1_matches_sklearn_per_column():
    rng = np.random.default_rng(3)
    t = rng.integers(0, 2, size=(40, 7))
    p = rng.integers(0, 2, size=(40, 7))
    t[:, 3] = 0
    p[:, 3] = 0  # AU never present nor predicted -> 0 (as Table VII's 0.00 rows)
    ours = metrics.au_f1(t, p)
    ref = [f1_score(t[:, k], p[:, k], zero_division=0) for k in range(7)]
    assert np.allclose(ours, ref)
    assert ours[3] == 0


def test_confusion_orientation():
    m = metrics.confusion([1, 1, 2], [2, 1, 2], [1, 2])
    assert m.tolist() == [[1, 1], [0, 1]]  # rows truth, columns prediction
